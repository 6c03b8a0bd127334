package conformance

import (
	"strings"
	"testing"
	"time"
)

// TestRetryRule: the n-th window is m·(k/1000)^(n-1) to m·(k/1000)^n,
// capped by the maximum, ordered for a multiplier under 1000; checkRetry
// words its evidence alike for every binding and honours retrySlack and
// the extra lateness it is given.
func TestRetryRule(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		r      retryRule
		n      int
		lo, hi time.Duration
	}{
		{"MQTT first", retryRule{min: 5 * s, mult: 2000, names: mqttRetryNames}, 1, 5 * s, 10 * s},
		{"MQTT third", retryRule{min: 5 * s, mult: 2000, names: mqttRetryNames}, 3, 20 * s, 40 * s},
		{"MQTT capped", retryRule{min: 5 * s, mult: 2000, max: 30 * s, names: mqttRetryNames}, 3, 20 * s, 30 * s},
		{"STOMP 1.5", retryRule{min: 2 * s, mult: 1500, names: stompRetryNames}, 2, 3 * s, 4500 * time.Millisecond},
		{"WebSocket under 1000", retryRule{min: 4 * s, mult: 500, names: wsRetryNames}, 1, 2 * s, 4 * s},
	} {
		lo, hi := tc.r.window(tc.n)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("%s: window(%d) = %v to %v, want %v to %v", tc.name, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	r := retryRule{min: s, mult: 2000, names: wsRetryNames}
	if got := r.longest(2); got != 6*s {
		t.Errorf("longest(2) = %v, want 6s", got)
	}
	lo, hi := r.window(2)
	for _, tc := range []struct {
		d, late time.Duration
		ok      bool
	}{
		{2 * s, 0, true},
		{2*s - retrySlack, 0, true},
		{2*s - retrySlack - time.Millisecond, 0, false},
		{4*s + retrySlack, 0, true},
		{4*s + retrySlack + time.Millisecond, 0, false},
		{5 * s, s, true},
	} {
		ok, ev := checkRetry(2, tc.d, "the first", lo, hi, tc.late, r)
		if ok != tc.ok {
			t.Errorf("retry after %v (late %v): %v, want %v (%s)", tc.d, tc.late, ok, tc.ok, ev)
		}
		want := "after the first, want 2s to 4s (SessionRetryMinimumWaitInterval 1s, SessionRetryIntervalMultiplier 2000)"
		if !strings.HasPrefix(ev, "retry 2 came ") || !strings.HasSuffix(ev, want) {
			t.Errorf("evidence %q", ev)
		}
	}
}
