package conformance

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

// keepsBoth is usptest's WebSocket server without the means to end a
// session: the agent keeps a second session with a controller (R-WS.4).
type keepsBoth struct {
	mtp.Transport
	srv *websocket.Server
}

func (k keepsBoth) Addr() net.Addr { return k.srv.Addr() }
func (k keepsBoth) URL() string    { return k.srv.URL() }

// faultyDialer gives usptest's WebSocket client connections that break
// when check, fed what the server sends, says so; over ws:// only (gorilla
// runs TLS above the dialled connection).
func faultyDialer(check func(*faultyConn, []byte) bool) websocket.Option {
	return websocket.WithDialer(&gws.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &faultyConn{Conn: c, check: check}, nil
	}})
}

type faultyConn struct {
	net.Conn
	check func(*faultyConn, []byte) bool
	mu    sync.Mutex
	head  []byte // the handshake answer, until its end
	inAns bool
	frame frameParser
}

var errFault = errors.New("fault injected: connection dropped by the test's client")

func (c *faultyConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	broken := n > 0 && c.check(c, b[:n])
	c.mu.Unlock()
	if broken {
		_ = c.Conn.Close()
		return 0, errFault
	}
	return n, err
}

// TestBrokenWebSocketAgentFailsMore: usptest broken one way each fails the
// matching section 7 case on the right metric, with what was seen.
func TestBrokenWebSocketAgentFailsMore(t *testing.T) {
	t.Parallel()
	// An answer without the extension is taken for an error (R-WS.11b);
	// the client offers it, so that the kit's server echoes it at first.
	needsExtension := []websocket.Option{
		websocket.WithHeader(http.Header{"Sec-WebSocket-Extensions": {`bbf-usp-protocol; eid="` + testAgent + `"`}}),
		faultyDialer(func(c *faultyConn, b []byte) bool {
			if c.inAns {
				return false
			}
			c.head = append(c.head, b...)
			end := bytes.Index(c.head, []byte("\r\n\r\n"))
			if end < 0 {
				return false
			}
			c.inAns = true
			return !bytes.Contains(bytes.ToLower(c.head[:end]), []byte("sec-websocket-extensions"))
		}),
	}
	// Fragmented messages are not reassembled: the client drops the
	// connection on a frame without FIN (RFC 6455 section 5.4).
	noFragments := faultyDialer(func(c *faultyConn, b []byte) bool {
		if !c.inAns {
			c.head = append(c.head, b...)
			end := bytes.Index(c.head, []byte("\r\n\r\n"))
			if end < 0 {
				return false
			}
			c.inAns, b = true, c.head[end+4:]
		}
		broken := false
		c.frame.feed(b, func(f WebSocketFrame) { broken = broken || !f.Fin })
		return broken
	})
	for _, tc := range []struct {
		name, id string
		metric   int
		detail   string
		f        wireFaults
	}{
		{"second session kept", "7.2", 1, "both sessions were still open", wireFaults{wrapWSServer: func(s *websocket.Server) mtp.Transport {
			return keepsBoth{s, s}
		}}},
		// The client's own backoff (20-200 ms) instead of the data model's.
		{"session retry parameters ignored", "7.8", 1, "want 1s to 2s", wireFaults{wrapWS: func(c *websocket.Client) mtp.Transport {
			return struct{ mtp.Transport }{c}
		}}},
		{"no TLS", "7.9", 1, "opened without TLS", wireFaults{wsPlain: true}},
		{"extension required", "7.11", 1, "the agent ended the session", wireFaults{ws: needsExtension, wsPlain: true}},
		// The Get is lost, or its later fragments cannot be written once
		// the client dropped the connection on the first.
		{"fragments refused", "7.12", 1, "no response|not connected", wireFaults{ws: []websocket.Option{noFragments}, wsPlain: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eq, _ := benchFaulty(t, "websocket-kit", tc.f)
			res := runOne(t, eq, tc.id, nil)
			if res.Verdict != Fail {
				t.Fatalf("%s: verdict %s (%s), want fail\n%s", res.ID, res.Verdict, res.Reason, TextEvidence(res))
			}
			failed := res.Failed()
			if len(failed) == 0 || failed[0].Metric != tc.metric || !slices.ContainsFunc(strings.Split(tc.detail, "|"), func(d string) bool {
				return strings.Contains(failed[0].Detail, d)
			}) {
				t.Errorf("%s: failed criteria %+v, want metric %d with %q\n%s", res.ID, failed, tc.metric, tc.detail, TextEvidence(res))
			}
			if len(res.Notes) == 0 {
				t.Errorf("%s: no evidence in the notes", res.ID)
			}
		})
	}
}
