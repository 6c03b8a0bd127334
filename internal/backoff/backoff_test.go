package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	minD, maxD := 50*time.Millisecond, time.Second
	for _, tc := range []struct {
		attempt  int
		low, top time.Duration
	}{
		{0, 0, 0},
		{-1, 0, 0},
		{1, minD, 2 * minD},
		{2, minD, 4 * minD},
		{3, minD, 8 * minD},
		{10, minD, maxD},
		{1000, minD, maxD},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := Delay(tc.attempt, minD, maxD)
			if d < tc.low || d > tc.top {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", tc.attempt, d, tc.low, tc.top)
			}
			seen[d] = true
		}
		if tc.top > tc.low && len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct delays: no jitter?", tc.attempt, len(seen))
		}
	}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		prev   int
		lasted time.Duration
		want   int
	}{
		{0, 0, 1},
		{1, time.Second, 2},
		{5, StableAfter - 1, 6},
		{5, StableAfter, 1},
		{7, time.Hour, 1},
	} {
		if got := Next(tc.prev, tc.lasted, StableAfter); got != tc.want {
			t.Errorf("Next(%d, %v) = %d, want %d", tc.prev, tc.lasted, got, tc.want)
		}
	}
	// A reset time of 0 starts over after any connection.
	if got := Next(9, 0, 0); got != 1 {
		t.Errorf("Next(9, 0, 0) = %d, want 1", got)
	}
	if got := Next(9, time.Second, time.Minute); got != 10 {
		t.Errorf("Next(9, 1s, 1m) = %d, want 10", got)
	}
}
