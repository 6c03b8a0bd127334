package websocket

import (
	"testing"
	"time"
)

// TestRetryPolicy: the client's waits follow R-WS.19's table for the
// minimum wait and multiplier it is given.
func TestRetryPolicy(t *testing.T) {
	for _, tc := range []struct {
		m      time.Duration
		k, n   int
		lo, hi time.Duration
	}{
		{5 * time.Second, 2000, 1, 5 * time.Second, 10 * time.Second},
		{5 * time.Second, 2000, 2, 10 * time.Second, 20 * time.Second},
		{5 * time.Second, 2000, 10, 2560 * time.Second, 5120 * time.Second},
		{5 * time.Second, 2000, 14, 2560 * time.Second, 5120 * time.Second}, // #10 and later
		{time.Second, 1000, 3, time.Second, time.Second},
		{2 * time.Second, 1500, 2, 3 * time.Second, 4500 * time.Millisecond},
	} {
		if lo, hi := retryRange(tc.m, tc.k, tc.n); lo != tc.lo || hi != tc.hi {
			t.Errorf("retry %d with m=%v k=%d: %v-%v, want %v-%v", tc.n, tc.m, tc.k, lo, hi, tc.lo, tc.hi)
		}
	}
	c, err := NewClient("ws://127.0.0.1:1/usp", "proto::retry", WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.backoff(3); d != time.Millisecond {
		t.Errorf("WithBackoff's wait %v", d)
	}
	for _, bad := range [][2]int{{0, 2000}, {1, 999}} {
		if err := c.SetRetryPolicy(time.Duration(bad[0])*time.Second, bad[1]); err == nil {
			t.Errorf("SetRetryPolicy(%ds, %d) accepted", bad[0], bad[1])
		}
	}
	if err := c.SetRetryPolicy(time.Second, 2000); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if d := c.backoff(2); d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("second retry waits %v, want 2s-4s", d)
		}
	}
}
