// Package backoff computes the waits between reconnection attempts of the
// broker bindings (mtp/mqtt, mtp/stomp): exponential with jitter, and a
// count that only starts over after a connection that lasted.
//
// # Why the count carries over
//
// A broker that accepts the connection and then drops it at once (it
// refuses the subscription, another client takes over our client ID) would
// otherwise be reconnected to in a tight loop: the count of attempts starts
// over only after a connection that lasted [StableAfter].
package backoff

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// StableAfter is how long a connection must last for the count of attempts
// to start over when it ends.
const StableAfter = 10 * time.Second

// Next numbers the reconnection after a connection that was up for
// lasted: 1 after a stable connection, one that lasted stableAfter or more
// (a short wait that still spreads out the clients of a restarted broker),
// one more than prev otherwise.
func Next(prev int, lasted, stableAfter time.Duration) int {
	if lasted >= stableAfter {
		return 1
	}
	return prev + 1
}

// Delay is the wait before attempt (0: none): a random duration between
// minDelay and a ceiling that doubles per attempt up to maxDelay.
func Delay(attempt int, minDelay, maxDelay time.Duration) time.Duration {
	if attempt <= 0 {
		return 0
	}
	ceil := minDelay
	for i := 0; i < attempt && ceil < maxDelay; i++ {
		ceil *= 2
	}
	if ceil > maxDelay {
		ceil = maxDelay
	}
	return minDelay + jitter(ceil-minDelay)
}

// jitter returns a random duration in [0, d].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	n := binary.LittleEndian.Uint64(b[:]) >> 1 // non-negative as int64
	return time.Duration(n % (uint64(d) + 1))
}
