package websocket_test

import (
	"net"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

// TestHostileSessionCap: one address opening sessions under made-up
// endpoint IDs gets at most the per-address limit; the refused get 503,
// and places come back when sessions end.
func TestHostileSessionCap(t *testing.T) {
	srv, rs := startServer(t, websocket.WithSessionLimits(10, 3))
	var conns []*gorilla.Conn
	for i := range 3 {
		conns = append(conns, dialGorilla(t, srv, "proto::flood-"+string(rune('a'+i))))
	}
	for range 3 {
		rs.WaitEvent(mtp.PeerUp, 0)
	}
	d := gorilla.Dialer{Subprotocols: []string{websocket.Subprotocol}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(srv.URL()+"?"+websocket.EncodeEID("proto::flood-x"), nil)
	if err == nil {
		ws.Close()
		t.Fatal("a fourth session from one address was accepted past the limit of 3")
	}
	if resp == nil || resp.StatusCode != 503 {
		t.Fatalf("refusal: %v, %+v", err, resp)
	}
	if n := srv.Sessions(); n != 3 {
		t.Fatalf("Sessions = %d, want 3", n)
	}
	conns[0].Close()
	rs.WaitEvent(mtp.PeerDown, 0)
	waitSessions(t, srv, 2)
	dialGorilla(t, srv, "proto::after")
}

func waitSessions(t *testing.T, srv *websocket.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Sessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Sessions = %d, want %d", srv.Sessions(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHostileIdleHandshake: a connection that never sends its opening
// handshake is closed after the handshake timeout, and does not count
// against the session limits.
func TestHostileIdleHandshake(t *testing.T) {
	srv, _ := startServer(t, websocket.WithHandshakeTimeout(200*time.Millisecond), websocket.WithSessionLimits(1, 1))
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); err == nil {
		t.Fatal("the server sent something to an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle connection was not closed within 5 s")
	}
	dialGorilla(t, srv, "proto::after-idle")
}
