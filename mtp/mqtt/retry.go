package mqtt

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// ConnectRetry is the reconnection rule of TR-181's
// Device.MQTT.Client.{i}.ConnectRetryTime, ConnectRetryIntervalMultiplier
// and ConnectRetryMaxInterval, which TR-369 agents follow: the n-th retry
// after a lost or failed connection waits a random time between
// Time·(Multiplier/1000)^(n-1) and Time·(Multiplier/1000)^n, neither above
// MaxInterval; a connection that got its CONNACK and its subscriptions
// counts the retries from 1 again.
type ConnectRetry struct {
	// Time is the first retry's shortest wait (ConnectRetryTime).
	Time time.Duration
	// Multiplier is the growth of the range per retry, in thousandths
	// (ConnectRetryIntervalMultiplier: 2000 doubles it).
	Multiplier uint32
	// MaxInterval caps every wait (ConnectRetryMaxInterval).
	MaxInterval time.Duration
}

// check reports a rule TR-181's ranges do not allow (Time >= 1 s is not
// required here, so tests may use shorter waits).
func (r ConnectRetry) check() error {
	if r.Time < minimumBackoffAllowed || r.Multiplier < 1000 || r.MaxInterval < r.Time {
		return fmt.Errorf("mqtt: connect retry %v x%d/1000 up to %v: need time >= %v, multiplier >= 1000, max >= time",
			r.Time, r.Multiplier, r.MaxInterval, minimumBackoffAllowed)
	}
	return nil
}

// bounds returns the range of the n-th retry's wait (n >= 1).
func (r ConnectRetry) bounds(n int) (lo, hi time.Duration) {
	k := float64(r.Multiplier) / 1000
	capped := func(f float64) time.Duration {
		if f >= float64(r.MaxInterval) || math.IsInf(f, 0) {
			return r.MaxInterval
		}
		return time.Duration(f)
	}
	lo = capped(float64(r.Time) * math.Pow(k, float64(n-1)))
	hi = capped(float64(r.Time) * math.Pow(k, float64(n)))
	return lo, hi
}

// delay draws the n-th retry's wait; n <= 0 is the first connection,
// made at once.
func (r ConnectRetry) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	lo, hi := r.bounds(n)
	if hi <= lo {
		return lo
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return lo + time.Duration(binary.LittleEndian.Uint64(b[:])%uint64(hi-lo+1))
}

// WithConnectRetry makes the transport reconnect by TR-369's rule (see
// [ConnectRetry]) instead of the default backoff of
// [WithReconnectBackoff]: what an agent whose Device.MQTT.Client.{i}
// reports ConnectRetryTime and its siblings does.
func WithConnectRetry(r ConnectRetry) Option {
	return func(c *config) error {
		if err := r.check(); err != nil {
			return err
		}
		c.retry = &r
		return nil
	}
}

// SetConnectRetry changes the reconnection rule from the next wait on,
// as an agent does when its Device.MQTT.Client.{i}.ConnectRetryTime,
// ConnectRetryIntervalMultiplier or ConnectRetryMaxInterval is set.
func (t *Transport) SetConnectRetry(r ConnectRetry) error {
	if err := r.check(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.retry = &r
	return nil
}

// connectRetry returns the TR-369 rule in force, nil for the default
// backoff.
func (t *Transport) connectRetry() *ConnectRetry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg.retry
}
