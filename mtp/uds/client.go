package uds

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/gousp/gousp/mtp"
)

// Client is the UDS client role: it dials a server's socket, sends its
// handshake first, and redials after a random wait whenever the session
// ends. It implements [mtp.Transport]; its one peer is the server, whose
// endpoint ID it learns from the server's handshake.
type Client struct {
	base
	path string

	sess    *session // current session, nil while disconnected; guarded by mu
	lastErr error    // why the last attempt failed; guarded by mu

	firstUp     chan struct{}
	firstUpOnce sync.Once
}

var _ mtp.Transport = (*Client)(nil)

// NewClient returns a client that will dial the socket at path and name
// itself localEndpointID in its handshake.
func NewClient(path, localEndpointID string, opts ...Option) (*Client, error) {
	if path == "" {
		return nil, errors.New("uds: empty socket path")
	}
	cfg, err := newConfig(roleClient, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{path: path, firstUp: make(chan struct{})}
	if err := c.init(cfg, localEndpointID, "client"); err != nil {
		return nil, err
	}
	return c, nil
}

// Kind returns [mtp.UDS].
func (c *Client) Kind() mtp.Kind { return mtp.UDS }

// Start dials the server and returns once the handshake exchange is done,
// retrying until ctx ends. If ctx ends first, Start closes the client and
// returns ctx's error with the last attempt's.
func (c *Client) Start(ctx context.Context, h mtp.Handler) error {
	if err := c.begin(ctx, h); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.run()
	select {
	case <-c.firstUp:
		return nil
	case <-c.ctx.Done():
		return mtp.ErrClosed
	case <-ctx.Done():
	}
	c.mu.Lock()
	last := c.lastErr
	c.mu.Unlock()
	_ = c.Close(context.Background())
	if last != nil {
		return fmt.Errorf("uds: start: %w (last attempt: %v)", ctx.Err(), last)
	}
	return fmt.Errorf("uds: start: %w", ctx.Err())
}

func (c *Client) run() {
	defer c.wg.Done()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait := c.cfg.retryMin + rand.N(c.cfg.retryMax-c.cfg.retryMin+1)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		c.setState(mtp.Connecting)
		sess, err := c.connect()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.log.Info("connect failed", "path", c.path, "err", err)
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			c.setState(mtp.Disconnected)
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			sess.close()
			return
		}
		c.sess = sess
		c.state = mtp.Connected
		c.mu.Unlock()

		peer := mtp.Address{MTP: mtp.UDS, To: sess.peerID}
		c.log.Info("connected", "path", c.path, "peer", sess.peerID)
		c.emit(mtp.Event{Kind: mtp.Up})
		c.emit(mtp.Event{Kind: mtp.PeerUp, Peer: peer, PeerID: sess.peerID})
		c.firstUpOnce.Do(func() { close(c.firstUp) })

		err = sess.reason(sess.serve())
		sess.close()
		c.log.Info("disconnected", "peer", sess.peerID, "err", err)
		c.mu.Lock()
		c.sess = nil
		c.lastErr = err
		c.mu.Unlock()
		c.setState(mtp.Disconnected)
		c.emit(mtp.Event{Kind: mtp.PeerDown, Peer: peer, PeerID: sess.peerID, Err: err})
		c.emit(mtp.Event{Kind: mtp.Down, Err: err})
	}
}

// connect dials and runs the handshake exchange.
func (c *Client) connect() (*session, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.handshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, err
	}
	sess := newSession(&c.base, nc)
	// Close must be able to end a handshake in progress.
	stop := context.AfterFunc(c.ctx, sess.close)
	defer stop()
	if err := sess.sendHandshake(ctx); err != nil {
		sess.close()
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := sess.awaitHandshake(); err != nil {
		sess.close()
		return nil, err
	}
	if c.ctx.Err() != nil {
		sess.close()
		return nil, mtp.ErrClosed
	}
	return sess, nil
}

func (c *Client) current(to mtp.Address) (*session, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	if err := checkAddress(to); err != nil {
		return nil, err
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return nil, fmt.Errorf("uds: %s: %w", c.path, mtp.ErrNotConnected)
	}
	if to.To != "" && to.To != sess.peerID {
		return nil, fmt.Errorf("uds: send to %q, connected to %q: %w", to.To, sess.peerID, mtp.ErrUnknownPeer)
	}
	return sess, nil
}

// Send sends record to the server. to.To may be empty or the server's
// endpoint ID; another ID fails with [mtp.ErrUnknownPeer].
func (c *Client) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sess, err := c.current(to)
	if err != nil {
		return err
	}
	return sess.sendRecord(ctx, record)
}

// PeerID returns the server's endpoint ID, or "" while disconnected.
func (c *Client) PeerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return ""
	}
	return c.sess.peerID
}

// Reject ends the session, sending reason in an error TLV: the layer above
// calls it for a record it cannot extract (R-UDS.23). peerID may be empty
// or the server's endpoint ID. The client reconnects as after any loss. It
// has the signature of [Server.Reject], so that callers need not know the
// role.
func (c *Client) Reject(peerID, reason string) error {
	sess, err := c.current(mtp.Address{MTP: mtp.UDS, To: peerID})
	if err != nil {
		return err
	}
	sess.why.CompareAndSwap(nil, ptr(fmt.Errorf("%w: %s", ErrRejected, reason)))
	sess.fail(reason)
	return nil
}

// Close ends the session, stops reconnecting and waits for the client's
// goroutines, at most until ctx ends. It must not be called from the
// handler.
func (c *Client) Close(ctx context.Context) error {
	if !c.markClosed() {
		return nil
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess != nil {
		sess.closeWith(mtp.ErrClosed)
	}
	return c.wait(ctx)
}
