package stomp

import (
	"testing"
	"time"
)

// TestRetryDelay: the n-th retry waits between w/k and w, w = Initial ×
// k^(n-1) capped at Max (R-STOMP.7 with TR-181's parameters).
func TestRetryDelay(t *testing.T) {
	r := Retry{Initial: time.Second, Multiplier: 2000, Max: 5 * time.Second}
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{0, 0, 0},
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{4, 2500 * time.Millisecond, 5 * time.Second},
		{40, 2500 * time.Millisecond, 5 * time.Second},
	} {
		for range 200 {
			if d := r.delay(tc.n); d < tc.lo || d > tc.hi {
				t.Fatalf("delay(%d) = %v, want %v..%v", tc.n, d, tc.lo, tc.hi)
			}
		}
	}
	for _, bad := range []Retry{{}, {Initial: time.Second, Multiplier: 999, Max: time.Minute}, {Initial: time.Second, Multiplier: 2000, Max: time.Millisecond}} {
		if bad.check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
