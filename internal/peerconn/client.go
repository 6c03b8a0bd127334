package peerconn

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gousp/gousp/mtp"
)

// Client keeps the one session of a client transport: it dials, serves
// the session until it ends, waits, and dials again, until Close. Each
// session is reported as [mtp.Up] and [mtp.PeerUp] when it opens and as
// [mtp.PeerDown] and [mtp.Down] when it ends.
type Client[S Session] struct {
	core    *Core
	where   string // what the client dials, for errors
	dial    func(ctx context.Context) (S, error)
	backoff func(retry int) time.Duration

	sess    S     // the open session, zero while there is none; guarded by core.mu
	lastErr error // why the last attempt or session failed; guarded by core.mu

	firstUp     chan struct{} // closed when the first session opens
	firstUpOnce sync.Once
	refused     chan struct{} // closed when a first attempt was refused for good
	refusal     error         // why; set before refused is closed
}

// Permanent is implemented by dial errors that retrying cannot fix (an
// HTTP 403, a certificate the peer refuses or that fails verification):
// errors.As finds it in a chain. Before the first session opens, such an
// error ends Start at once instead of being retried until its context
// ends. Once a session has opened, the client retries as after any loss:
// a refusal then may pass (a renewed certificate, an old session the
// server has not dropped yet).
type Permanent interface {
	error
	Permanent() bool
}

func isPermanent(err error) bool {
	var p Permanent
	return errors.As(err, &p) && p.Permanent()
}

// NewClient returns the redialling loop of a client whose core is core.
// where names what it dials (a socket path, a URL) in errors. dial opens
// one session, giving up when its ctx, which ends at Close, ends. backoff
// returns how long to wait before the retry-th consecutive attempt
// (1, 2, ...); the count starts again once a session has opened.
func NewClient[S Session](core *Core, where string, dial func(ctx context.Context) (S, error), backoff func(retry int) time.Duration) *Client[S] {
	return &Client[S]{core: core, where: where, dial: dial, backoff: backoff, firstUp: make(chan struct{}), refused: make(chan struct{})}
}

// Start begins dialling and returns once the first session is open. If
// ctx ends first, Start closes the transport and returns ctx's error with
// the last attempt's.
func (c *Client[S]) Start(ctx context.Context, h mtp.Handler) error {
	if err := c.core.Begin(ctx, h); err != nil {
		return err
	}
	if !c.core.Go(c.run) {
		return mtp.ErrClosed
	}
	select {
	case <-c.firstUp:
		return nil
	case <-c.refused:
		_ = c.core.Close(context.Background())
		return c.core.errorf("start: %w", c.refusal)
	case <-c.core.Context().Done():
		return mtp.ErrClosed
	case <-ctx.Done():
	}
	c.core.mu.Lock()
	last := c.lastErr
	c.core.mu.Unlock()
	_ = c.core.Close(context.Background())
	if last != nil {
		return c.core.errorf("start: %w (last attempt: %v)", ctx.Err(), last)
	}
	return c.core.errorf("start: %w", ctx.Err())
}

// Session returns the open session, or the zero S if there is none.
func (c *Client[S]) Session() S {
	c.core.mu.Lock()
	defer c.core.mu.Unlock()
	return c.sess
}

// Current returns the open session for a send to to, or why there is none:
// the reasons of [Core.CheckSend], or an error matching
// [mtp.ErrNotConnected]. Whether to names the session's peer is for the
// binding to check.
func (c *Client[S]) Current(to mtp.Address) (S, error) {
	var none S
	if err := c.core.CheckSend(to); err != nil {
		return none, err
	}
	sess := c.Session()
	if sess == none {
		return none, c.core.errorf("%s: %w", c.where, mtp.ErrNotConnected)
	}
	return sess, nil
}

func (c *Client[S]) run() {
	ctx := c.core.Context()
	log := c.core.log
	for retry := 0; ; retry++ {
		if retry > 0 {
			t := time.NewTimer(c.backoff(retry))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		c.core.setState(mtp.Connecting)
		sess, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Info("connect failed", "err", err)
			c.ended(err)
			if isPermanent(err) && !c.wasUp() {
				c.refusal = err
				close(c.refused)
				return
			}
			continue
		}
		if !c.open(sess) {
			sess.Drop() // closed while dialling; nothing was reported
			return
		}
		retry = 0

		log.Info("connected", "peer", sess.PeerID())
		c.core.Emit(mtp.Event{Kind: mtp.Up})
		c.core.Emit(upEvent(sess))
		c.firstUpOnce.Do(func() { close(c.firstUp) })

		stop := context.AfterFunc(ctx, sess.Stop)
		err = sess.Serve()
		stop()
		log.Info("disconnected", "peer", sess.PeerID(), "err", err)
		c.ended(err)
		c.core.Emit(mtp.Event{Kind: mtp.PeerDown, Peer: sess.Peer(), PeerID: sess.PeerID(), Err: err})
		c.core.Emit(mtp.Event{Kind: mtp.Down, Err: err})
	}
}

// wasUp reports whether a session has ever opened.
func (c *Client[S]) wasUp() bool {
	select {
	case <-c.firstUp:
		return true
	default:
		return false
	}
}

// open makes sess the open session, unless the transport is closed.
func (c *Client[S]) open(sess S) bool {
	c.core.mu.Lock()
	defer c.core.mu.Unlock()
	if c.core.closed {
		return false
	}
	c.sess = sess
	c.core.state = mtp.Connected
	return true
}

// ended records that the session or the attempt to open one failed with
// err.
func (c *Client[S]) ended(err error) {
	c.core.mu.Lock()
	defer c.core.mu.Unlock()
	var none S
	c.sess = none
	c.lastErr = err
	if !c.core.closed {
		c.core.state = mtp.Disconnected
	}
}
