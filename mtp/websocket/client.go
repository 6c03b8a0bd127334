package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Client is the WebSocket client role: it dials one server, naming itself
// with ?eid=, and redials with backoff and jitter whenever the session
// ends. A controller uses it to reach an agent's WebSocket server; an agent
// uses it to reach its controller. It implements [mtp.Transport]; its one
// peer is the server.
type Client struct {
	endpoint
	url    string // with the eid query
	local  string // our endpoint ID
	dialer websocket.Dialer
	link   *peerconn.Client[*session]

	mu     sync.Mutex
	learnt string // server endpoint ID from its extension echo; guarded by mu
	// retryMin and retryMult: the R-WS.19 schedule set by
	// [Client.SetRetryPolicy]; retryMult 0 keeps WithBackoff's doubling.
	retryMin  time.Duration // guarded by mu
	retryMult int           // guarded by mu
}

var (
	_ mtp.Transport  = (*Client)(nil)
	_ mtp.Identified = (*Client)(nil)
)

// LocalEndpointID returns the endpoint ID given to [NewClient].
func (c *Client) LocalEndpointID() string { return c.local }

// NewClient returns a client that will dial rawURL (ws:// or wss://) as
// the endpoint localEndpointID, which it adds to the URL's query as eid.
func NewClient(rawURL, localEndpointID string, opts ...Option) (*Client, error) {
	cfg, err := newConfig(peerconn.ClientRole, opts)
	if err != nil {
		return nil, err
	}
	if err := checkEndpointID(localEndpointID); err != nil {
		return nil, fmt.Errorf("websocket: local %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("websocket: URL scheme %q, want ws or wss", u.Scheme)
	}
	if _, found, _ := queryEID(u.RawQuery); found {
		return nil, errors.New("websocket: URL already has an eid; the client adds its own")
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += EncodeEID(localEndpointID)

	c := &Client{url: u.String(), local: localEndpointID}
	c.endpoint = newEndpoint(cfg, peerconn.ClientRole, "url", c.url)
	c.link = peerconn.NewClient(c.core, c.url, c.dial, c.backoff)
	if cfg.dialer != nil {
		c.dialer = *cfg.dialer
	}
	c.dialer.Subprotocols = []string{Subprotocol}
	c.dialer.HandshakeTimeout = cfg.HandshakeTimeout
	c.dialer.EnableCompression = false
	if cfg.tls != nil {
		c.dialer.TLSClientConfig = cfg.tls
	}
	if cfg.serverRoots != nil {
		if u.Scheme != "wss" {
			return nil, errors.New("websocket: WithServerCertificate needs a wss:// URL")
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.dialer.TLSClientConfig != nil {
			tc = c.dialer.TLSClientConfig.Clone()
		}
		// The chain and the endpoint ID are checked by verifyServer, in
		// place of Go's host name check, which TR-369 certificates that
		// carry only a urn:bbf:usp:id: URI cannot pass.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = c.verifyServer
		c.dialer.TLSClientConfig = tc
	}
	if c.dialer.WriteBufferSize == 0 {
		// gorilla splits a client message into frames of this size;
		// records up to it travel unfragmented (R-WS.14a).
		c.dialer.WriteBufferSize = 64 << 10
	}
	return c, nil
}

// Kind returns [mtp.WebSocket].
func (c *Client) Kind() mtp.Kind { return mtp.WebSocket }

// URL returns the URL the client dials, eid included.
func (c *Client) URL() string { return c.url }

// Start dials the server and returns once a session is open, retrying
// with backoff until ctx ends. If ctx ends first, Start closes the client
// and returns ctx's error with the last attempt's.
func (c *Client) Start(ctx context.Context, h mtp.Handler) error {
	return c.link.Start(ctx, h)
}

// State reports the connection state.
func (c *Client) State() mtp.State { return c.core.State() }

// backoff returns the wait before the n-th consecutive retry; the count
// starts again once a session opens (R-WS.20).
func (c *Client) backoff(n int) time.Duration {
	c.mu.Lock()
	m, k := c.retryMin, c.retryMult
	c.mu.Unlock()
	if k > 0 {
		lo, hi := retryRange(m, k, n)
		return lo + rand.N(hi-lo+1)
	}
	hi := c.cfg.backoffMin
	for i := 0; i < n && hi < c.cfg.backoffMax; i++ {
		hi *= 2
	}
	hi = min(hi, c.cfg.backoffMax)
	lo := max(hi/2, c.cfg.backoffMin)
	return lo + rand.N(hi-lo+1)
}

// retryRange is the wait range of the n-th consecutive retry (n from 1)
// under R-WS.19: from m·(k/1000)^(n-1) to m·(k/1000)^n, the range of the
// tenth retry applying to every later one.
func retryRange(m time.Duration, k, n int) (lo, hi time.Duration) {
	f := float64(k) / 1000
	e := float64(min(max(n, 1), 10))
	lo = time.Duration(float64(m) * math.Pow(f, e-1))
	hi = time.Duration(float64(m) * math.Pow(f, e))
	if hi < lo {
		lo, hi = hi, lo // a multiplier below 1000 shrinks the waits
	}
	return lo, hi
}

// SetRetryPolicy makes the client wait between connection attempts as
// TR-369 R-WS.19 prescribes for agents, from the next wait on: the n-th
// consecutive retry waits a random time between m·(k/1000)^(n-1) and
// m·(k/1000)^n, where m is the minimum wait interval and k the interval
// multiplier of Device.LocalAgent.Controller.{i}.MTP.{i}.WebSocket.
// An agent built on the client calls it whenever those parameters change;
// it replaces the schedule of [WithBackoff]. k must be at least 1000.
func (c *Client) SetRetryPolicy(m time.Duration, k int) error {
	if m <= 0 || k < 1000 {
		return fmt.Errorf("websocket: retry policy %v, %d: want a positive minimum wait and a multiplier of at least 1000", m, k)
	}
	c.mu.Lock()
	c.retryMin, c.retryMult = m, k
	c.mu.Unlock()
	return nil
}

// dial runs one opening handshake.
func (c *Client) dial(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	ws, resp, err := c.dialer.DialContext(ctx, c.url, c.cfg.header)
	if err != nil {
		return nil, classifyDial(resp, err)
	}
	if ws.Subprotocol() != Subprotocol {
		// R-WS.12: no session unless the server accepts v1.usp.
		_ = ws.Close()
		return nil, fmt.Errorf("%w: server did not accept subprotocol %s", ErrHandshake, Subprotocol)
	}
	// Some agents send the extension unasked; it only tells us their ID.
	echoed, _ := extensionEID(resp.Header.Values("Sec-WebSocket-Extensions"))
	var cs *tls.ConnectionState
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		st := tc.ConnectionState()
		cs = &st
	}
	certID, cert := c.serverCert(cs)
	peerID := c.cfg.peerID
	switch {
	case peerID == "" && certID != "":
		peerID = certID // named by its verified certificate
	case peerID == "":
		peerID = echoed
	}
	if echoed != "" && echoed != peerID {
		c.log.Warn("server names another endpoint ID", "peer", peerID, "echoed", echoed)
	}
	c.mu.Lock()
	c.learnt = peerID
	c.mu.Unlock()
	reply := mtp.Address{MTP: mtp.WebSocket, To: peerID}
	if peerID == "" {
		reply.To = c.url
	}
	sess := newSession(&c.endpoint, ws, peerID, reply)
	sess.cert = cert
	return sess, nil
}

func (c *Client) current(to mtp.Address) (*session, error) {
	sess, err := c.link.Current(to)
	if err != nil {
		return nil, err
	}
	if to.To != "" && to.To != c.url && to.To != sess.peerID {
		return nil, fmt.Errorf("websocket: send to %q, connected to %q: %w", to.To, sess.reply.To, mtp.ErrUnknownPeer)
	}
	return sess, nil
}

// Send sends record in one binary message to the server. to.To may be
// empty, the server's endpoint ID (from [WithPeerID] or its extension
// echo) or the client's URL; anything else fails with [mtp.ErrUnknownPeer].
func (c *Client) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sess, err := c.current(to)
	if err != nil {
		return err
	}
	return sess.send(ctx, record)
}

// PeerID returns the server's endpoint ID as configured or echoed, or ""
// if unknown.
func (c *Client) PeerID() string {
	if c.cfg.peerID != "" {
		return c.cfg.peerID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.learnt
}

// Reject closes the session with status 1003 and reason: the layer above
// calls it for a record it cannot parse (R-WS.16). peerID may be empty or
// name the server as Send's To does. The client reconnects as after any
// loss. It has the signature of [Server.Reject], so that callers need not
// know the role.
func (c *Client) Reject(peerID, reason string) error {
	sess, err := c.current(mtp.Address{MTP: mtp.WebSocket, To: peerID})
	if err != nil {
		return err
	}
	sess.closeWith(websocket.CloseUnsupportedData, reason, fmt.Errorf("%w: %s", ErrRejected, reason))
	return nil
}

// Close closes the session with status 1001, stops reconnecting and waits
// for the client's goroutines, at most until ctx ends. It must not be
// called from the handler.
func (c *Client) Close(ctx context.Context) error { return c.core.Close(ctx) }
