package mqtt

import (
	"testing"
	"time"
)

// TestConnectRetryBounds checks TR-369's ranges: the n-th retry waits
// between Time·k^(n-1) and Time·k^n, capped at MaxInterval.
func TestConnectRetryBounds(t *testing.T) {
	r := ConnectRetry{Time: time.Second, Multiplier: 1500, MaxInterval: 3 * time.Second}
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{0, 0, 0},
		{1, time.Second, 1500 * time.Millisecond},
		{2, 1500 * time.Millisecond, 2250 * time.Millisecond},
		{3, 2250 * time.Millisecond, 3 * time.Second},
		{4, 3 * time.Second, 3 * time.Second},
		{100, 3 * time.Second, 3 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := r.delay(tc.n)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("retry %d: %v outside [%v, %v]", tc.n, d, tc.lo, tc.hi)
			}
			seen[d] = true
		}
		if tc.hi > tc.lo && len(seen) < 10 {
			t.Errorf("retry %d: only %d distinct waits", tc.n, len(seen))
		}
	}
	for _, bad := range []ConnectRetry{{}, {Time: time.Second, Multiplier: 999, MaxInterval: time.Minute}, {Time: time.Minute, Multiplier: 2000, MaxInterval: time.Second}} {
		if bad.check() == nil {
			t.Errorf("%+v accepted", bad)
		}
		if _, err := New("mqtt://127.0.0.1:1", "proto::x", WithConnectRetry(bad)); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
}
