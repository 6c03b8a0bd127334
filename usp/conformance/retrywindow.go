package conformance

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// retryRule is TR-181's rule for reconnecting and resending, the same for
// MQTT (ConnectRetry*), STOMP (ServerRetry*), WebSocket (SessionRetry*)
// and bulk data over HTTP (HTTP.Retry*): the n-th retry waits between
// m·(k/1000)^(n-1) and m·(k/1000)^n, where m is the minimum wait and k the
// multiplier in thousandths, never longer than the maximum where the
// binding has one. Every case that times retries checks them against it
// with [checkRetry].
type retryRule struct {
	min  time.Duration // m
	mult float64       // k, in thousandths
	max  time.Duration // the longest wait; 0 for none
	// names are the parameters of m, k and the maximum, for the
	// evidence ("" where the binding has none).
	names [3]string
}

// Parameter names of each binding's rule.
var (
	mqttRetryNames  = [3]string{"ConnectRetryTime", "ConnectRetryIntervalMultiplier", "ConnectRetryMaxInterval"}
	stompRetryNames = [3]string{"ServerRetryInitialInterval", "ServerRetryIntervalMultiplier", "ServerRetryMaxInterval"}
	wsRetryNames    = [3]string{"SessionRetryMinimumWaitInterval", "SessionRetryIntervalMultiplier", ""}
	bulkRetryNames  = [3]string{"RetryMinimumWaitInterval", "RetryIntervalMultiplier", ""}
)

// window returns the range of the n-th retry's wait (n >= 1), low end
// first even for a multiplier under 1000.
func (r retryRule) window(n int) (lo, hi time.Duration) {
	f := r.mult / 1000
	lo = time.Duration(float64(r.min) * math.Pow(f, float64(n-1)))
	hi = time.Duration(float64(r.min) * math.Pow(f, float64(n)))
	if r.max > 0 {
		lo, hi = min(lo, r.max), min(hi, r.max)
	}
	return min(lo, hi), max(lo, hi)
}

// longest is the longest the first n retries may take together.
func (r retryRule) longest(n int) time.Duration {
	var total time.Duration
	for i := 1; i <= n; i++ {
		_, hi := r.window(i)
		total += hi
	}
	return total
}

func (r retryRule) String() string {
	parts := []string{fmt.Sprintf("%s %v", r.names[0], r.min), fmt.Sprintf("%s %g", r.names[1], r.mult)}
	if r.names[2] != "" && r.max > 0 {
		parts = append(parts, fmt.Sprintf("%s %v", r.names[2], r.max))
	}
	return strings.Join(parts, ", ")
}

// checkRetry checks that retry n came d after since, between lo and hi
// (one of r's windows, or a bound the plan derives from it), give or take
// retrySlack and, above hi, late more; it returns the verdict and the
// evidence, worded alike for every binding.
func checkRetry(n int, d time.Duration, since string, lo, hi, late time.Duration, r retryRule) (bool, string) {
	return within(d, lo, hi+late, retrySlack), fmt.Sprintf("retry %d came %v after %s, want %v to %v (%s)",
		n, d.Round(time.Millisecond), since, lo, hi, r)
}
