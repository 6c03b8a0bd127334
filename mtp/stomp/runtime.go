package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"

	"github.com/gousp/gousp/internal/backoff"
	"github.com/gousp/gousp/mtp"
)

// Retry is the reconnection policy of TR-181's
// Device.STOMP.Connection.{i}. (R-STOMP.7): the n-th retry after a failed
// attempt waits a random time between w/k and w, where w is Initial ×
// k^(n-1) capped at Max and k is Multiplier/1000. The first retry thus
// comes within Initial, the second within Initial × k. After a
// connection that lasted (see [WithBackoffReset]) the next attempt is
// immediate.
type Retry struct {
	// Initial is ServerRetryInitialInterval.
	Initial time.Duration
	// Multiplier is ServerRetryIntervalMultiplier, in thousandths (2000
	// doubles the wait with each retry).
	Multiplier int
	// Max is ServerRetryMaxInterval.
	Max time.Duration
}

func (r Retry) check() error {
	if r.Initial < time.Millisecond || r.Multiplier < 1000 || r.Multiplier > 65535 || r.Max < r.Initial {
		return fmt.Errorf("retry policy %v×%d/1000 up to %v: need initial >= 1ms, multiplier in 1000..65535, max >= initial",
			r.Initial, r.Multiplier, r.Max)
	}
	return nil
}

// delay is the wait before attempt n (n failed attempts so far).
func (r Retry) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	k := float64(r.Multiplier) / 1000
	w := float64(r.Initial)
	for i := 1; i < n && w < float64(r.Max); i++ {
		w *= k
	}
	w = min(w, float64(r.Max))
	lo := w / k
	return time.Duration(lo + rand.Float64()*(w-lo))
}

// WithRetry sets TR-181's reconnection policy (see [Retry]) in place of
// [WithReconnectBackoff]'s.
func WithRetry(r Retry) Option {
	return func(c *config) error {
		if err := r.check(); err != nil {
			return err
		}
		c.retry = &r
		return nil
	}
}

// retryDelay is the wait before the next attempt.
func (t *Transport) retryDelay(attempt int) time.Duration {
	t.mu.Lock()
	r, minD, maxD := t.cfg.retry, t.cfg.minBackoff, t.cfg.maxBackoff
	t.mu.Unlock()
	if r != nil {
		return r.delay(attempt)
	}
	return backoff.Delay(attempt, minD, maxD)
}

// nextAttempt counts the attempt that follows a session of length lasted.
func (t *Transport) nextAttempt(prev int, lasted time.Duration) int {
	t.mu.Lock()
	r, reset := t.cfg.retry, t.cfg.backoffReset
	t.mu.Unlock()
	n := backoff.Next(prev, lasted, reset)
	if r != nil && lasted >= reset {
		return 0 // TR-181's waits count failed attempts only
	}
	return n
}

// Settings is what a transport uses, as an agent's
// Device.STOMP.Connection.{i}. and Device.LocalAgent.MTP.{i}.STOMP.
// report it. The Set methods change it for the next connection, but
// [Transport.SetDestination], which also applies to the current one.
type Settings struct {
	// Addr is the server's host:port; TLS whether the transport uses TLS.
	Addr string
	TLS  bool
	// Login is the login of [WithCredentials] ("" without).
	Login string
	// Host is the virtual host of the host header.
	Host string
	// HeartBeatSend and HeartBeatReceive are the heart-beat header's
	// (0: none).
	HeartBeatSend, HeartBeatReceive time.Duration
	// Destination is the configured destination ("" for none).
	Destination string
	// FromServer is the subscribe-dest of the latest CONNECTED ("" when
	// it had none).
	FromServer string
	// Retry is the reconnection policy: [WithRetry]'s, or the one that
	// comes closest to [WithReconnectBackoff]'s.
	Retry Retry
}

// Settings returns the settings of the next connection.
func (t *Transport) Settings() Settings {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.cfg
	r := Retry{Initial: 2 * c.minBackoff, Multiplier: 2000, Max: c.maxBackoff}
	if c.retry != nil {
		r = *c.retry
	}
	return Settings{Addr: t.addr, TLS: t.tls != nil, Login: c.user, Host: c.host, HeartBeatSend: c.hbSend,
		HeartBeatReceive: c.hbRecv, Destination: c.destination, FromServer: t.fromServer, Retry: r}
}

// SetServer changes the server of the next connection: addr as [New]
// takes it, over TLS with tlsCfg unless it is nil (a stomps:// address
// with a nil tlsCfg uses the system's roots).
func (t *Transport) SetServer(addr string, tlsCfg *tls.Config) error {
	hostPort, mode, err := parseAddr(addr)
	if err != nil {
		return fmt.Errorf("stomp: %w", err)
	}
	if mode != nil && *mode && tlsCfg == nil {
		tlsCfg = &tls.Config{}
	}
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
		tlsCfg.MinVersion = max(tlsCfg.MinVersion, tls.VersionTLS12) // R-STOMP.36
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addr, t.tls = hostPort, tlsCfg
	return nil
}

// SetCredentials changes the login and passcode of the next connection;
// an empty login sends none.
func (t *Transport) SetCredentials(login, passcode string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.user, t.cfg.pass, t.cfg.hasCreds = login, passcode, login != ""
}

// SetHost changes the virtual host of the next connection.
func (t *Transport) SetHost(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.host = host
}

// SetHeartBeat changes the heart-beat header of the next connection, as
// [WithHeartBeat] sets it.
func (t *Transport) SetHeartBeat(send, receive time.Duration) error {
	var c config
	if err := WithHeartBeat(send, receive)(&c); err != nil {
		return fmt.Errorf("stomp: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.hbSend, t.cfg.hbRecv = send, receive
	return nil
}

// SetRetry changes the reconnection policy, from the next wait on.
func (t *Transport) SetRetry(r Retry) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("stomp: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.retry = &r
	return nil
}

// resubscription is a SetDestination handed to the serving loop.
type resubscription struct {
	dest string
	done chan error
}

// SetDestination changes the configured destination, as an agent does
// when its Device.LocalAgent.MTP.{i}.STOMP.Destination is set. A
// connection that subscribed to the configured destination unsubscribes
// from it and subscribes to dest at once (TP-469 6.10), and the
// transport reports [mtp.Up] again with the new local address; one that
// got its destination from subscribe-dest keeps it (R-STOMP.6). An empty
// dest ends such a connection (R-STOMP.16): the next ones fail until the
// server names a destination or one is configured.
func (t *Transport) SetDestination(ctx context.Context, dest string) error {
	if dest != "" {
		if err := checkDestination(dest); err != nil {
			return fmt.Errorf("stomp: %w", err)
		}
	}
	t.mu.Lock()
	t.cfg.destination = dest
	up := t.conn != nil
	t.mu.Unlock()
	if !up {
		return nil
	}
	req := resubscription{dest: dest, done: make(chan error, 1)}
	select {
	case t.resub <- req:
	case <-ctx.Done():
		return fmt.Errorf("stomp: set destination: %w", ctx.Err())
	case <-t.ctx.Done():
		return fmt.Errorf("stomp: set destination: %w", mtp.ErrClosed)
	}
	select {
	case err := <-req.done:
		if errors.Is(err, ErrNoDestination) {
			return nil // the session ends, as asked
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("stomp: set destination: %w", ctx.Err())
	}
}

// resubscribe moves the session to dest (on the serving loop). An error
// ends the session.
func (t *Transport) resubscribe(s *session, dest string) error {
	if s.fromServer || dest == s.dest {
		return nil
	}
	if dest == "" {
		return ErrNoDestination
	}
	old := s.sub
	// go-stomp waits for the RECEIPT of the UNSUBSCRIBE on its reader,
	// which must not block on a full channel meanwhile.
	go func() {
		for m := range old.C {
			if m.Err == nil {
				t.deliver(m)
			}
		}
	}()
	if err := old.Unsubscribe(); err != nil && !errors.Is(err, gostomp.ErrCompletedSubscription) {
		return fmt.Errorf("stomp: unsubscribe %s: %w", s.dest, err)
	}
	t.hmu.Lock()
	sub, err := s.conn.Subscribe(dest, gostomp.AckAuto)
	if err != nil {
		t.hmu.Unlock()
		return fmt.Errorf("stomp: subscribe %s: %w", dest, err)
	}
	s.sub, s.dest = sub, dest
	local := dest
	t.mu.Lock()
	if s.replyDest {
		local = t.dest
	} else {
		t.dest = dest
	}
	t.mu.Unlock()
	t.log.Debug("destination changed", "destination", dest)
	if !t.closing.Load() {
		t.h.HandleEvent(mtp.Event{Kind: mtp.Up, Local: mtp.Address{MTP: Kind, To: local}})
	}
	t.hmu.Unlock()
	return nil
}
