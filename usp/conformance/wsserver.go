package conformance

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gousp/gousp/mtp/websocket"
)

// WebSocketServer is the kit's WebSocket server for agents to connect to:
// an mtp/websocket server behind a [WebSocketObserver], listening on one
// port for both ws:// and, with a certificate, wss:// (the first byte of a
// connection tells a TLS ClientHello from an HTTP request), so that 7.9
// can tell an agent that connects without TLS from one that cannot
// connect at all.
type WebSocketServer struct {
	srv  *websocket.Server
	obs  *WebSocketObserver
	hs   *http.Server
	ln   net.Listener
	tls  bool
	once sync.Once
}

// StartWebSocketServer listens on addr ("127.0.0.1:0" picks a port) as the
// controller controllerID. With tlsCfg the same port also speaks TLS.
// Give Transport() to [NewEquipment] and Observer() to
// [WithWebSocketObserver].
func StartWebSocketServer(addr, controllerID string, tlsCfg *tls.Config) (*WebSocketServer, error) {
	srv, err := websocket.NewServer(websocket.WithEndpointID(controllerID))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("conformance: WebSocket server: %w", err)
	}
	s := &WebSocketServer{srv: srv, obs: ObserveWebSocket(srv), ln: ln, tls: tlsCfg != nil}
	s.obs.offersTLS = tlsCfg != nil
	s.hs = &http.Server{Handler: s.obs, ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(context.WithValue(ctx, connKey{}, c), acceptKey{}, time.Now())
		}}
	var l net.Listener = ln
	if tlsCfg != nil {
		l = &sniffListener{Listener: ln, cfg: tlsCfg}
	}
	go func() { _ = s.hs.Serve(l) }()
	return s, nil
}

// Transport is the equipment's transport: the server the observer stands
// in front of.
func (s *WebSocketServer) Transport() *websocket.Server { return s.srv }

// Observer is the view of the handshakes and frames.
func (s *WebSocketServer) Observer() *WebSocketObserver { return s.obs }

// URL is where agents connect without TLS (path /usp; any path is served).
func (s *WebSocketServer) URL() string { return "ws://" + s.ln.Addr().String() + "/usp" }

// TLSURL is where agents connect with TLS, "" without a certificate.
func (s *WebSocketServer) TLSURL() string {
	if !s.tls {
		return ""
	}
	return "wss://" + s.ln.Addr().String() + "/usp"
}

// Close stops listening and ends the sessions; the transport itself is
// closed by the equipment.
func (s *WebSocketServer) Close() error {
	var err error
	s.once.Do(func() { err = s.hs.Close() })
	return err
}

// sniffListener hands out connections that start with a TLS handshake
// record (0x16) as TLS server connections and the others as they are.
type sniffListener struct {
	net.Listener
	cfg *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, cfg: l.cfg}, nil
}

// sniffConn decides on its first Read whether it speaks TLS. net/http
// type-asserts *tls.Conn to fill Request.TLS, which a wrapper hides, so
// the TLS state is handed on through ConnectionState.
type sniffConn struct {
	net.Conn
	cfg  *tls.Config
	once sync.Once
	r    *bufio.Reader
	tc   *tls.Conn
	err  error
}

func (c *sniffConn) setup() {
	c.once.Do(func() {
		c.r = bufio.NewReader(c.Conn)
		_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := c.r.Peek(1)
		_ = c.Conn.SetReadDeadline(time.Time{})
		if err != nil {
			c.err = err
			return
		}
		if b[0] == 0x16 {
			c.tc = tls.Server(&bufferedConn{Conn: c.Conn, r: c.r}, c.cfg)
		}
	})
}

func (c *sniffConn) Read(b []byte) (int, error) {
	c.setup()
	switch {
	case c.err != nil:
		return 0, c.err
	case c.tc != nil:
		return c.tc.Read(b)
	}
	return c.r.Read(b)
}

func (c *sniffConn) Write(b []byte) (int, error) {
	c.setup()
	if c.tc != nil {
		return c.tc.Write(b)
	}
	return c.Conn.Write(b)
}

func (c *sniffConn) Close() error {
	if c.tc != nil {
		return c.tc.Close()
	}
	return c.Conn.Close()
}

// ConnectionState reports the TLS state, and whether the connection speaks
// TLS at all.
func (c *sniffConn) ConnectionState() (tls.ConnectionState, bool) {
	c.setup()
	if c.tc == nil {
		return tls.ConnectionState{}, false
	}
	_ = c.tc.HandshakeContext(context.Background())
	return c.tc.ConnectionState(), true
}

// bufferedConn reads through the reader that peeked.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// tlsState finds the TLS state of a request that came through a
// sniffConn (net/http leaves Request.TLS nil for it).
func tlsState(r *http.Request) *tls.ConnectionState {
	if r.TLS != nil {
		return r.TLS
	}
	if c, ok := r.Context().Value(connKey{}).(*sniffConn); ok {
		if st, ok := c.ConnectionState(); ok {
			return &st
		}
	}
	return nil
}

type connKey struct{}

// acceptKey holds when the connection was accepted.
type acceptKey struct{}
