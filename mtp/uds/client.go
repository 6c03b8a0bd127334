package uds

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Client is the UDS client role: it dials a server's socket, sends its
// handshake first, and redials after a random wait whenever the session
// ends. It implements [mtp.Transport]; its one peer is the server, whose
// endpoint ID it learns from the server's handshake.
type Client struct {
	endpoint
	path string
	link *peerconn.Client[*session]
}

var (
	_ mtp.Transport  = (*Client)(nil)
	_ mtp.Identified = (*Client)(nil)
)

// NewClient returns a client that will dial the socket at path and name
// itself localEndpointID in its handshake.
func NewClient(path, localEndpointID string, opts ...Option) (*Client, error) {
	if path == "" {
		return nil, errors.New("uds: empty socket path")
	}
	cfg, err := newConfig(peerconn.ClientRole, opts)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(cfg, localEndpointID, peerconn.ClientRole, "path", path)
	if err != nil {
		return nil, err
	}
	c := &Client{endpoint: ep, path: path}
	c.link = peerconn.NewClient(c.core, path, c.connect, c.retryWait)
	return c, nil
}

// Kind returns [mtp.UDS].
func (c *Client) Kind() mtp.Kind { return mtp.UDS }

// Start dials the server and returns once the handshake exchange is done,
// retrying until ctx ends. If ctx ends first, Start closes the client and
// returns ctx's error with the last attempt's.
func (c *Client) Start(ctx context.Context, h mtp.Handler) error {
	return c.link.Start(ctx, h)
}

// State reports the connection state.
func (c *Client) State() mtp.State { return c.core.State() }

// retryWait returns the random wait before a reconnection attempt
// (R-UDS.5); it does not grow with the number of retries.
func (c *Client) retryWait(int) time.Duration {
	return c.cfg.retryMin + rand.N(c.cfg.retryMax-c.cfg.retryMin+1)
}

// connect dials and runs the handshake exchange.
func (c *Client) connect(ctx context.Context) (*session, error) {
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(hctx, "unix", c.path)
	if err != nil {
		return nil, err
	}
	sess := newSession(&c.endpoint, nc)
	// Close must be able to end a handshake in progress.
	stop := context.AfterFunc(ctx, sess.close)
	defer stop()
	if err := sess.sendHandshake(hctx); err != nil {
		sess.close()
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := sess.awaitHandshake(); err != nil {
		sess.close()
		return nil, err
	}
	if ctx.Err() != nil {
		sess.close()
		return nil, mtp.ErrClosed
	}
	return sess, nil
}

func (c *Client) current(to mtp.Address) (*session, error) {
	sess, err := c.link.Current(to)
	if err != nil {
		return nil, err
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
	if sess := c.link.Session(); sess != nil {
		return sess.peerID
	}
	return ""
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
	sess.cause.Set(fmt.Errorf("%w: %s", ErrRejected, reason))
	sess.fail(reason)
	return nil
}

// Close ends the session, stops reconnecting and waits for the client's
// goroutines, at most until ctx ends. It must not be called from the
// handler.
func (c *Client) Close(ctx context.Context) error { return c.core.Close(ctx) }
