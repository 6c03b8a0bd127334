package conformance

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"sync"

	gws "github.com/gorilla/websocket"
)

// wsWatch is the kit's view of the sessions its own WebSocket client opens
// to an agent that listens (7.2): the agent's answer to each handshake
// and the frames it sends, read below TLS.
type wsWatch struct {
	mu     sync.Mutex
	frames []WebSocketFrame // the agent's frames, all sessions
	heads  []string         // the status line of each handshake answer
}

// dialer returns a gorilla dialer whose connections w watches; tlsCfg is
// used for wss:// URLs.
func (w *wsWatch) dialer(tlsCfg *tls.Config) *gws.Dialer {
	var d net.Dialer
	return &gws.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &watchedConn{Conn: c, w: w}, nil
		},
		NetDialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := tlsCfg.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, err
			}
			return &watchedConn{Conn: tc, w: w}, nil
		},
	}
}

// Frames returns the agent's frames seen so far.
func (w *wsWatch) Frames() []WebSocketFrame {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WebSocketFrame(nil), w.frames...)
}

// Answers returns the status lines of the agent's handshake answers.
func (w *wsWatch) Answers() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.heads...)
}

// watchedConn reads the handshake answer, then the frames.
type watchedConn struct {
	net.Conn
	w      *wsWatch
	head   []byte
	inBody bool
	p      frameParser
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.see(b[:n])
	}
	if err != nil {
		c.w.mu.Lock()
		c.w.frames = append(c.w.frames, WebSocketFrame{Ended: true, FromAgent: true})
		c.w.mu.Unlock()
	}
	return n, err
}

func (c *watchedConn) see(b []byte) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if !c.inBody {
		c.head = append(c.head, b...)
		end := bytes.Index(c.head, []byte("\r\n\r\n"))
		if end < 0 {
			if len(c.head) > 16<<10 { // no HTTP answer: stop looking
				c.inBody, c.head = true, nil
			}
			return
		}
		line, _, _ := bytes.Cut(c.head, []byte("\r\n"))
		c.w.heads = append(c.w.heads, string(line))
		b, c.head, c.inBody = c.head[end+4:], nil, true
	}
	c.p.feed(b, func(f WebSocketFrame) { f.FromAgent = true; c.w.frames = append(c.w.frames, f) })
}
