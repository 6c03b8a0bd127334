package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ctrlID  = "proto::controller"
	agentID = "proto::agent"
)

var fastBackoff = websocket.WithBackoff(10*time.Millisecond, 40*time.Millisecond)

func startServer(t *testing.T, opts ...websocket.Option) (*websocket.Server, *peerconntest.Recorder) {
	t.Helper()
	s, err := websocket.NewServer(append([]websocket.Option{websocket.WithListenAddr("127.0.0.1:0")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, peerconntest.Start(t, s)
}

func startClient(t *testing.T, url, id string, opts ...websocket.Option) (*websocket.Client, *peerconntest.Recorder) {
	t.Helper()
	c, err := websocket.NewClient(url, id, append([]websocket.Option{fastBackoff}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, peerconntest.Start(t, c)
}

func wsAddr(id string) mtp.Address { return mtp.Address{MTP: mtp.WebSocket, To: id} }

func TestRoundTrip(t *testing.T) {
	srv, rs := startServer(t, websocket.WithEndpointID(ctrlID))
	cli, rc := startClient(t, srv.URL(), agentID, websocket.WithPeerID(ctrlID))
	ctx := context.Background()

	up := rs.WaitEvent(mtp.PeerUp, 0)
	if up.PeerID != agentID || up.Peer != wsAddr(agentID) {
		t.Errorf("server PeerUp = %+v", up)
	}
	if k := rc.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp}) {
		t.Errorf("client events = %v", k)
	}
	if cli.State() != mtp.Connected || srv.State() != mtp.Connected {
		t.Errorf("states %v %v", cli.State(), srv.State())
	}
	if err := cli.Send(ctx, mtp.Address{}, []byte("notify")); err != nil {
		t.Fatal(err)
	}
	in := rs.WaitRecords(1)[0]
	if string(in.Data) != "notify" || in.PeerID != agentID || in.ReplyTo != wsAddr(agentID) {
		t.Errorf("server got %+v", in)
	}
	big := bytes.Repeat([]byte{0x5a}, 1<<20)
	if err := srv.Send(ctx, in.ReplyTo, big); err != nil {
		t.Fatal(err)
	}
	back := rc.WaitRecords(1)[0]
	if !bytes.Equal(back.Data, big) || back.PeerID != ctrlID || back.ReplyTo != wsAddr(ctrlID) {
		t.Errorf("client got %d bytes from %q, reply to %v", len(back.Data), back.PeerID, back.ReplyTo)
	}
	// A big record from the client arrives whole, however gorilla frames it.
	if err := cli.Send(ctx, wsAddr(ctrlID), big); err != nil {
		t.Fatal(err)
	}
	if got := rs.WaitRecords(2)[1]; !bytes.Equal(got.Data, big) {
		t.Errorf("server got %d bytes", len(got.Data))
	}
	if got := srv.Peers(); !slices.Equal(got, []string{agentID}) {
		t.Errorf("Peers = %v", got)
	}
}

func TestMountedHandler(t *testing.T) {
	srv, err := websocket.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/usp", srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/usp?x=1"

	// Before Start the endpoint answers 503.
	resp, err := http.Get(hs.URL + "/usp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before Start: %s", resp.Status)
	}

	rs := peerconntest.NewRecorder(t)
	if err := srv.Start(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if srv.Addr() != nil || srv.URL() != "" {
		t.Errorf("mounted server has a listener: %v", srv.Addr())
	}
	cli, rc := startClient(t, url, "doc::agent%21")
	if !strings.Contains(cli.URL(), "x=1&eid=doc%3A%3Aagent%2521") {
		t.Errorf("client URL = %s", cli.URL())
	}
	if up := rs.WaitEvent(mtp.PeerUp, 0); up.PeerID != "doc::agent%21" {
		t.Errorf("PeerUp = %+v", up)
	}
	if err := srv.Send(context.Background(), wsAddr("doc::agent%21"), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	in := rc.WaitRecords(1)[0]
	// The client knows no server ID: it reports none and replies by URL.
	if in.PeerID != "" || in.ReplyTo != wsAddr(cli.URL()) {
		t.Errorf("client inbound %+v", in)
	}
	if err := cli.Send(context.Background(), in.ReplyTo, []byte("ok")); err != nil {
		t.Errorf("reply by URL: %v", err)
	}
	rs.WaitRecords(1)
}

func TestTLS(t *testing.T) {
	t.Run("server auth", func(t *testing.T) {
		serverTLS, clientTLS := testcert.New(t)
		srv, rs := startServer(t, websocket.WithTLS(serverTLS))
		if !strings.HasPrefix(srv.URL(), "wss://") {
			t.Fatalf("URL = %s", srv.URL())
		}
		cli, _ := startClient(t, srv.URL(), agentID, websocket.WithTLS(clientTLS))
		rs.WaitEvent(mtp.PeerUp, 0)
		if err := cli.Send(context.Background(), mtp.Address{}, []byte("secret")); err != nil {
			t.Fatal(err)
		}
		if in := rs.WaitRecords(1); string(in[0].Data) != "secret" {
			t.Errorf("got %q", in[0].Data)
		}
	})
	t.Run("untrusted server", func(t *testing.T) {
		serverTLS, _ := testcert.New(t)
		_, otherTLS := testcert.New(t)
		srv, _ := startServer(t, websocket.WithTLS(serverTLS))
		c, _ := websocket.NewClient(srv.URL(), agentID, websocket.WithTLS(otherTLS), fastBackoff)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.Start(ctx, peerconntest.NewRecorder(t)); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Start = %v, want a certificate error", err)
		}
	})

	ca := testcert.NewCA(t)
	serverTLS := ca.ServerConfig(t, ca)
	certFor := func(id string) *tls.Config {
		cert := ca.Client(t, id)
		return ca.ClientConfig(&cert)
	}
	srv, rs := startServer(t, websocket.WithTLS(serverTLS), websocket.WithCertificateIdentity())
	tests := []struct {
		name      string
		eid       string
		clientTLS *tls.Config
		wantPeer  string
		wantErr   string
	}{
		{"mtls eid matches certificate", agentID, certFor(agentID), agentID, ""},
		{"mtls eid differs from certificate", "proto::impostor", certFor("proto::agent-2"), "", "403"},
		{"mtls no client certificate", "proto::agent-3", ca.ClientConfig(nil), "", "certificate"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := websocket.NewClient(srv.URL(), tt.eid, websocket.WithTLS(tt.clientTLS), fastBackoff)
			if err != nil {
				t.Fatal(err)
			}
			timeout := 5 * time.Second
			if tt.wantErr != "" {
				timeout = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err = c.Start(ctx, peerconntest.NewRecorder(t))
			defer c.Close(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Start = %v, want error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up := rs.WaitEvent(mtp.PeerUp, i); up.PeerID != tt.wantPeer {
				t.Errorf("PeerUp = %+v", up)
			}
		})
	}
}

// obuspaRequest is the upgrade request OB-USP-A's client sent, verbatim
// (testdata/obuspa/MANIFEST.md): Host without port, an Origin header, no
// extension header.
const obuspaRequest = "GET /usp?eid=proto%3A%3Aobuspa-test-agent HTTP/1.1\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Host: 127.0.0.1\r\n" +
	"Origin: http://127.0.0.1\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: EQN7tkKakeEhRniYbA5MSg==\r\n" +
	"Sec-WebSocket-Protocol: v1.usp\r\n" +
	"Sec-WebSocket-Version: 13\r\n\r\n"

// rawUpgrade sends a raw request to addr and returns the response and a
// reader positioned after it.
func rawUpgrade(t *testing.T, addr, request string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

func TestObuspaClientHandshake(t *testing.T) {
	srv, rs := startServer(t, websocket.WithEndpointID(ctrlID))
	addr := srv.Addr().String()

	t.Run("verbatim", func(t *testing.T) {
		c, br, resp := rawUpgrade(t, addr, obuspaRequest)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %s", resp.Status)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "v1.usp" {
			t.Errorf("subprotocol %q", got)
		}
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey("EQN7tkKakeEhRniYbA5MSg==") {
			t.Errorf("accept %q", got)
		}
		if got := resp.Header.Values("Sec-WebSocket-Extensions"); len(got) != 0 {
			t.Errorf("extension echoed though not offered: %q", got)
		}
		up := rs.WaitEvent(mtp.PeerUp, 0)
		if up.PeerID != "proto::obuspa-test-agent" {
			t.Errorf("PeerUp = %+v", up)
		}
		// The agent's first frame: a WebSocketConnectRecord, masked binary.
		connectRecord := []byte{0x0a, 0x03, '1', '.', '3', 0x12, 0x01, 'x'}
		if err := writeFrame(c, 0x2, connectRecord, true); err != nil {
			t.Fatal(err)
		}
		if in := rs.WaitRecords(1)[0]; !bytes.Equal(in.Data, connectRecord) || in.PeerID != "proto::obuspa-test-agent" {
			t.Errorf("record %+v", in)
		}
		// Three records from the server arrive as three unmasked, final,
		// binary frames: never glued, never split.
		for i := range 3 {
			if err := srv.Send(context.Background(), wsAddr("proto::obuspa-test-agent"), bytes.Repeat([]byte{byte(i)}, 100+i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			f, err := readFrame(br)
			if err != nil {
				t.Fatal(err)
			}
			if !f.fin || f.opcode != 0x2 || !bytes.Equal(f.payload, bytes.Repeat([]byte{byte(i)}, 100+i)) {
				t.Errorf("frame %d: fin %v opcode %d, %d bytes", i, f.fin, f.opcode, len(f.payload))
			}
		}
	})

	t.Run("deprecated extension offered", func(t *testing.T) {
		req := strings.Replace(obuspaRequest, "eid=proto%3A%3Aobuspa-test-agent", "x=1", 1)
		req = strings.Replace(req, "Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: bbf-usp-protocol; eid=\"proto::old-agent\"\r\n", 1)
		_, _, resp := rawUpgrade(t, addr, req)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %s", resp.Status)
		}
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != `bbf-usp-protocol; eid="proto::controller"` {
			t.Errorf("extension echo %q", got)
		}
		if up := rs.WaitEvent(mtp.PeerUp, 1); up.PeerID != "proto::old-agent" {
			t.Errorf("PeerUp = %+v (eid from the extension)", up)
		}
	})
}

func TestServerRefusals(t *testing.T) {
	srv, rs := startServer(t, websocket.WithRejectDuplicates())
	addr := srv.Addr().String()
	startClient(t, srv.URL(), "proto::taken")
	rs.WaitEvent(mtp.PeerUp, 0)
	tests := []struct {
		name   string
		mutate func(string) string
		status int
	}{
		{"no subprotocol", func(r string) string { return strings.Replace(r, "Sec-WebSocket-Protocol: v1.usp\r\n", "", 1) }, 400},
		{"other subprotocol", func(r string) string { return strings.Replace(r, "v1.usp", "v2.usp", 1) }, 400},
		{"no eid", func(r string) string { return strings.Replace(r, "eid=proto%3A%3Aobuspa-test-agent", "", 1) }, 400},
		{"bad eid encoding", func(r string) string { return strings.Replace(r, "proto%3A%3Aobuspa", "proto%3", 1) }, 400},
		{"eid with space", func(r string) string { return strings.Replace(r, "proto%3A%3Aobuspa", "proto%20obuspa", 1) }, 400},
		{"not an upgrade", func(r string) string { return strings.Replace(r, "Upgrade: websocket\r\n", "", 1) }, 400},
		{"duplicate endpoint", func(r string) string { return strings.Replace(r, "proto%3A%3Aobuspa-test-agent", "proto::taken", 1) }, 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, resp := rawUpgrade(t, addr, tt.mutate(obuspaRequest))
			if resp.StatusCode != tt.status {
				t.Errorf("status %s, want %d", resp.Status, tt.status)
			}
		})
	}
	if k := rs.Kinds(); len(k) != 2 {
		t.Errorf("server events = %v", k)
	}
}

// rawServer accepts connections on a loopback port and answers each
// upgrade request with the given status line and headers, then runs serve.
func rawServer(t *testing.T, headers string, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				c.Close()
				continue
			}
			h := strings.ReplaceAll(headers, "{accept}", acceptKey(req.Header.Get("Sec-WebSocket-Key")))
			h = strings.ReplaceAll(h, "{eid}", req.URL.Query().Get("eid"))
			c.Write([]byte(h))
			if serve != nil {
				serve(c, br)
			}
			c.Close()
		}
	}()
	return "ws://" + ln.Addr().String() + "/usp"
}

func TestObuspaServerHandshake(t *testing.T) {
	// OB-USP-A's server capitalises Upgrade and sends a lower-case
	// extension header nobody asked for.
	const obuspa = "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: WebSocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: {accept}\r\n" +
		"Sec-WebSocket-Protocol: v1.usp\r\n" +
		"sec-websocket-extensions: bbf-usp-protocol; eid=\"proto::obuspa-test-agent\"\r\n\r\n"
	frames := make(chan frame, 1)
	url := rawServer(t, obuspa, func(c net.Conn, br *bufio.Reader) {
		// Send a WebSocketConnectRecord first, like the agent does, then
		// read the controller's record.
		writeFrame(c, 0x2, []byte("connect-record"), false)
		f, err := readFrame(br)
		if err == nil {
			select {
			case frames <- f:
			default:
			}
		}
		readFrame(br) // wait for the close
	})
	cli, rc := startClient(t, url, "proto::test-controller")
	if cli.PeerID() != "proto::obuspa-test-agent" {
		t.Errorf("PeerID learnt from the extension = %q", cli.PeerID())
	}
	in := rc.WaitRecords(1)[0]
	if string(in.Data) != "connect-record" || in.PeerID != "proto::obuspa-test-agent" || in.ReplyTo != wsAddr("proto::obuspa-test-agent") {
		t.Errorf("inbound %+v", in)
	}
	if err := cli.Send(context.Background(), in.ReplyTo, []byte("get")); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-frames:
		if !f.fin || f.opcode != 0x2 || string(f.payload) != "get" {
			t.Errorf("agent got frame %+v", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent got nothing")
	}
}

func TestClientRequiresSubprotocol(t *testing.T) {
	for name, headers := range map[string]string{
		"absent": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: {accept}\r\n\r\n",
		"refused": "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			url := rawServer(t, headers, nil)
			c, err := websocket.NewClient(url, agentID, fastBackoff)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err = c.Start(ctx, peerconntest.NewRecorder(t))
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "handshake") {
				t.Errorf("Start = %v", err)
			}
		})
	}
}

// dialGorilla opens a bare gorilla connection to srv as endpoint id.
func dialGorilla(t *testing.T, srv *websocket.Server, id string) *gorilla.Conn {
	t.Helper()
	d := gorilla.Dialer{Subprotocols: []string{"v1.usp"}}
	ws, _, err := d.Dial(srv.URL()+"?"+websocket.EncodeEID(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// expectClose reads until the peer's close frame and returns its code.
func expectClose(t *testing.T, ws *gorilla.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *gorilla.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended with %v, not a close frame", err)
		}
		return ce.Code
	}
}

func TestFaults(t *testing.T) {
	check := func(rec []byte) error {
		if bytes.HasPrefix(rec, []byte("garbage")) {
			return errors.New("not a record")
		}
		return nil
	}
	srv, rs := startServer(t, websocket.WithMaxRecordSize(1024), websocket.WithRecordCheck(check))
	peerDown := 0
	tests := []struct {
		name     string
		act      func(ws *gorilla.Conn)
		wantCode int
		wantErr  error
	}{
		{"text frame", func(ws *gorilla.Conn) { ws.WriteMessage(gorilla.TextMessage, []byte("hello")) },
			gorilla.CloseUnsupportedData, websocket.ErrRejected},
		{"record check fails", func(ws *gorilla.Conn) { ws.WriteMessage(gorilla.BinaryMessage, []byte("garbage")) },
			gorilla.CloseUnsupportedData, websocket.ErrRejected},
		{"oversized message", func(ws *gorilla.Conn) { ws.WriteMessage(gorilla.BinaryMessage, make([]byte, 1025)) },
			gorilla.CloseMessageTooBig, mtp.ErrTooLarge},
		{"oversized in fragments", func(ws *gorilla.Conn) {
			// Each fragment is small; together they exceed the limit.
			nc := ws.NetConn()
			writeFragment(nc, false, 0x2, make([]byte, 300), true)
			for range 3 {
				writeFragment(nc, false, 0x0, make([]byte, 300), true)
			}
			writeFragment(nc, true, 0x0, make([]byte, 300), true)
		}, gorilla.CloseMessageTooBig, mtp.ErrTooLarge},
		{"reject by upper layer", func(*gorilla.Conn) { srv.Reject("proto::faulty", "cannot parse record") },
			gorilla.CloseUnsupportedData, websocket.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := dialGorilla(t, srv, "proto::faulty")
			rs.WaitEvent(mtp.PeerUp, peerDown)
			tt.act(ws)
			if code := expectClose(t, ws); code != tt.wantCode {
				t.Errorf("close code %d, want %d", code, tt.wantCode)
			}
			down := rs.WaitEvent(mtp.PeerDown, peerDown)
			peerDown++
			if !errors.Is(down.Err, tt.wantErr) {
				t.Errorf("PeerDown err = %v, want %v", down.Err, tt.wantErr)
			}
		})
	}

	t.Run("fragmented record within limit", func(t *testing.T) {
		ws := dialGorilla(t, srv, "proto::fragments")
		nc := ws.NetConn()
		writeFragment(nc, false, 0x2, []byte("part one, "), true)
		writeFrame(nc, 0x9, []byte("ping in between"), true)
		writeFragment(nc, true, 0x0, []byte("part two"), true)
		recs := rs.WaitRecords(1)
		if string(recs[len(recs)-1].Data) != "part one, part two" {
			t.Errorf("got %q", recs[len(recs)-1].Data)
		}
		rs.WaitEvent(mtp.PeerUp, peerDown)
		ws.Close()
		rs.WaitEvent(mtp.PeerDown, peerDown)
		peerDown++
	})

	t.Run("peer vanishes", func(t *testing.T) {
		ws := dialGorilla(t, srv, "proto::vanishing")
		rs.WaitEvent(mtp.PeerUp, peerDown)
		ws.NetConn().Close() // no close frame
		if down := rs.WaitEvent(mtp.PeerDown, peerDown); down.PeerID != "proto::vanishing" {
			t.Errorf("PeerDown = %+v", down)
		}
		peerDown++
		if err := srv.Send(context.Background(), wsAddr("proto::vanishing"), []byte("x")); !errors.Is(err, mtp.ErrUnknownPeer) {
			t.Errorf("send to vanished peer = %v", err)
		}
	})
	if recs, _ := rs.Snapshot(); len(recs) != 1 {
		t.Errorf("records delivered: %d, want only the fragmented one", len(recs))
	}
}

func TestKeepAlive(t *testing.T) {
	t.Run("server drops a silent peer", func(t *testing.T) {
		srv, rs := startServer(t, websocket.WithKeepAlive(30*time.Millisecond, 150*time.Millisecond))
		start := time.Now()
		dialGorilla(t, srv, "proto::silent") // never reads, so never pongs
		rs.WaitEvent(mtp.PeerUp, 0)
		down := rs.WaitEvent(mtp.PeerDown, 0)
		if !errors.Is(down.Err, websocket.ErrKeepAlive) {
			t.Errorf("PeerDown = %+v", down)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("dropped after %v, before the timeout", d)
		}
	})
	t.Run("answering peer stays", func(t *testing.T) {
		// Ten pings per timeout: a loaded test machine may delay a few.
		srv, rs := startServer(t, websocket.WithKeepAlive(50*time.Millisecond, 500*time.Millisecond))
		_, rc := startClient(t, srv.URL(), agentID, websocket.WithKeepAlive(0, 0))
		rs.WaitEvent(mtp.PeerUp, 0)
		time.Sleep(time.Second)
		if k := rs.Kinds(); len(k) != 2 || len(rc.Kinds()) != 2 {
			t.Errorf("events server %v client %v", k, rc.Kinds())
		}
	})
	t.Run("client pings", func(t *testing.T) {
		pings := make(chan struct{}, 10)
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u := gorilla.Upgrader{Subprotocols: []string{"v1.usp"}}
			ws, err := u.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer ws.Close()
			ws.SetPingHandler(func(string) error {
				select {
				case pings <- struct{}{}:
				default:
				}
				return nil // and no pong: the client must give up
			})
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}))
		defer hs.Close()
		_, rc := startClient(t, "ws"+strings.TrimPrefix(hs.URL, "http"), agentID,
			websocket.WithKeepAlive(20*time.Millisecond, 100*time.Millisecond))
		<-pings
		if down := rc.WaitEvent(mtp.Down, 0); !errors.Is(down.Err, websocket.ErrKeepAlive) {
			t.Errorf("Down = %+v", down)
		}
		hs.CloseClientConnections()
	})
}

func TestDuplicateReplaces(t *testing.T) {
	srv, rs := startServer(t)
	old := dialGorilla(t, srv, agentID)
	rs.WaitEvent(mtp.PeerUp, 0)
	_, rc := startClient(t, srv.URL(), agentID)
	rs.WaitEvent(mtp.PeerUp, 1)
	if k := rs.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp, mtp.PeerDown, mtp.PeerUp}) {
		t.Errorf("server events = %v", k)
	}
	if down := rs.WaitEvent(mtp.PeerDown, 0); !errors.Is(down.Err, websocket.ErrReplaced) {
		t.Errorf("PeerDown = %+v", down)
	}
	if code := expectClose(t, old); code != gorilla.CloseNormalClosure {
		t.Errorf("old session closed with %d", code)
	}
	if err := srv.Send(context.Background(), wsAddr(agentID), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if in := rc.WaitRecords(1); string(in[0].Data) != "x" {
		t.Errorf("newest session got %q", in[0].Data)
	}
	time.Sleep(50 * time.Millisecond)
	if k := rs.Kinds(); len(k) != 4 {
		t.Errorf("late events after the old session closed: %v", k)
	}
}

func TestReconnect(t *testing.T) {
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), peerconntest.NewRecorder(t)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	cli, rc := startClient(t, srv.URL(), agentID)
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	down := rc.WaitEvent(mtp.Down, 0)
	var ce *websocket.CloseError
	if !errors.As(down.Err, &ce) || ce.Code != gorilla.CloseGoingAway {
		t.Errorf("Down = %+v, want close 1001", down)
	}
	if err := cli.Send(context.Background(), mtp.Address{}, []byte("x")); !errors.Is(err, mtp.ErrNotConnected) {
		t.Errorf("send while disconnected = %v", err)
	}
	srv2, rs2 := startServer(t, websocket.WithListenAddr(addr))
	rc.WaitEvent(mtp.PeerUp, 1)
	if k := rc.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp, mtp.PeerDown, mtp.Down, mtp.Up, mtp.PeerUp}) {
		t.Errorf("client events = %v", k)
	}
	rs2.WaitEvent(mtp.PeerUp, 0)
	if err := cli.Send(context.Background(), mtp.Address{}, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if in := rs2.WaitRecords(1); string(in[0].Data) != "again" {
		t.Errorf("got %q", in[0].Data)
	}
	_ = srv2
}

// Both roles reject the same way, so the layer above need not know which.
var (
	_ interface {
		Reject(peerID, reason string) error
	} = (*websocket.Client)(nil)
	_ interface {
		Reject(peerID, reason string) error
	} = (*websocket.Server)(nil)
)

func TestClientReject(t *testing.T) {
	srv, rs := startServer(t)
	cli, rc := startClient(t, srv.URL(), agentID)
	rs.WaitEvent(mtp.PeerUp, 0)
	if err := cli.Reject("proto::other", "x"); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Errorf("Reject of another peer = %v", err)
	}
	if err := cli.Reject("", "bad record"); err != nil {
		t.Fatal(err)
	}
	down := rs.WaitEvent(mtp.PeerDown, 0)
	var ce *websocket.CloseError
	if !errors.As(down.Err, &ce) || ce.Code != gorilla.CloseUnsupportedData || ce.Text != "bad record" {
		t.Errorf("server PeerDown = %+v", down)
	}
	if d := rc.WaitEvent(mtp.Down, 0); !errors.Is(d.Err, websocket.ErrRejected) {
		t.Errorf("client Down = %+v", d)
	}
	rc.WaitEvent(mtp.Up, 1) // and it comes back
}

func TestSendErrors(t *testing.T) {
	srv, rs := startServer(t, websocket.WithMaxRecordSize(16))
	cli, _ := startClient(t, srv.URL(), agentID, websocket.WithPeerID(ctrlID))
	rs.WaitEvent(mtp.PeerUp, 0)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		tr   mtp.Transport
		ctx  context.Context
		to   mtp.Address
		rec  []byte
		want error
	}{
		{"server to unknown", srv, ctx, wsAddr("proto::nobody"), []byte("x"), mtp.ErrUnknownPeer},
		{"server wrong binding", srv, ctx, mtp.Address{MTP: mtp.MQTT, To: agentID}, []byte("x"), mtp.ErrBadAddress},
		{"server too large", srv, ctx, wsAddr(agentID), make([]byte, 17), mtp.ErrTooLarge},
		{"server cancelled", srv, cancelled, wsAddr(agentID), []byte("x"), context.Canceled},
		{"server ok", srv, ctx, mtp.Address{To: agentID}, make([]byte, 16), nil},
		{"client to other peer", cli, ctx, wsAddr("proto::other"), []byte("x"), mtp.ErrUnknownPeer},
		{"client to peer ID", cli, ctx, wsAddr(ctrlID), []byte("x"), nil},
		{"client to URL", cli, ctx, wsAddr(cli.URL()), []byte("x"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tr.Send(tt.ctx, tt.to, tt.rec)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Send(context.Background(), wsAddr(agentID), nil); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("send before Start = %v", err)
	}
	if srv.Kind() != mtp.WebSocket || srv.State() != mtp.Disconnected {
		t.Errorf("kind %v state %v", srv.Kind(), srv.State())
	}
	r := peerconntest.NewRecorder(t)
	if err := srv.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), r); err == nil {
		t.Error("second Start succeeded")
	}
	cli, _ := startClient(t, srv.URL(), agentID)
	for range 2 {
		if err := srv.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if err := cli.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
	for _, tr := range []mtp.Transport{srv, cli} {
		if err := tr.Send(context.Background(), mtp.Address{To: agentID}, nil); !errors.Is(err, mtp.ErrClosed) {
			t.Errorf("send after Close = %v", err)
		}
		if tr.State() != mtp.Closed {
			t.Errorf("state = %v", tr.State())
		}
		if err := tr.Start(context.Background(), r); !errors.Is(err, mtp.ErrClosed) {
			t.Errorf("Start after Close = %v", err)
		}
	}
	// Nothing listens after Close.
	if c, err := net.Dial("tcp", srv.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still open")
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name   string
		server bool
		opts   []websocket.Option
	}{
		{"peer ID on server", true, []websocket.Option{websocket.WithPeerID(agentID)}},
		{"backoff on server", true, []websocket.Option{websocket.WithBackoff(time.Second, time.Minute)}},
		{"listen addr on client", false, []websocket.Option{websocket.WithListenAddr("127.0.0.1:0")}},
		{"endpoint ID on client", false, []websocket.Option{websocket.WithEndpointID(ctrlID)}},
		{"reject dups on client", false, []websocket.Option{websocket.WithRejectDuplicates()}},
		{"cert identity on client", false, []websocket.Option{websocket.WithCertificateIdentity()}},
		{"TLS on mounted server", true, []websocket.Option{websocket.WithTLS(&tls.Config{})}},
		{"keep-alive timeout below interval", true, []websocket.Option{websocket.WithKeepAlive(time.Second, time.Second)}},
		{"negative interval", false, []websocket.Option{websocket.WithKeepAlive(-1, 0)}},
		{"backoff min > max", false, []websocket.Option{websocket.WithBackoff(time.Minute, time.Second)}},
		{"zero record size", true, []websocket.Option{websocket.WithMaxRecordSize(0)}},
		{"bad endpoint ID", true, []websocket.Option{websocket.WithEndpointID("a b")}},
		{"nil TLS", false, []websocket.Option{websocket.WithTLS(nil)}},
		{"nil dialer", false, []websocket.Option{websocket.WithDialer(nil)}},
		{"nil logger", true, []websocket.Option{websocket.WithLogger(nil)}},
		{"zero write timeout", true, []websocket.Option{websocket.WithWriteTimeout(0)}},
		{"zero handshake timeout", false, []websocket.Option{websocket.WithHandshakeTimeout(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.server {
				_, err = websocket.NewServer(tt.opts...)
			} else {
				_, err = websocket.NewClient("ws://127.0.0.1:1/usp", agentID, tt.opts...)
			}
			if err == nil {
				t.Error("constructor accepted it")
			}
		})
	}
	for _, tt := range []struct{ url, id string }{
		{"http://127.0.0.1/usp", agentID},
		{"ws://127.0.0.1/usp?eid=proto::x", agentID},
		{"ws://127.0.0.1/usp", ""},
		{"ws://127.0.0.1/usp", "proto::\x00"},
		{"::", agentID},
	} {
		if _, err := websocket.NewClient(tt.url, tt.id); err == nil {
			t.Errorf("NewClient(%q, %q) accepted", tt.url, tt.id)
		}
	}
	if _, err := websocket.NewClient("wss://h/usp", agentID, websocket.WithDialer(&gorilla.Dialer{}),
		websocket.WithHeader(http.Header{"Authorization": {"Bearer x"}})); err != nil {
		t.Errorf("valid client options: %v", err)
	}
}

func TestSendToStuckPeer(t *testing.T) {
	srv, rs := startServer(t, websocket.WithWriteTimeout(100*time.Millisecond))
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"write timeout", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }, mtp.ErrNotConnected},
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("proto::stuck-%d", i)
			dialGorilla(t, srv, id) // never reads
			rs.WaitEvent(mtp.PeerUp, i)
			rec := make([]byte, 1<<20)
			var err error
			for range 64 { // far more than the socket buffers hold
				ctx, cancel := tt.ctx()
				err = srv.Send(ctx, wsAddr(id), rec)
				cancel()
				if err != nil {
					break
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send = %v, want %v", err, tt.wantErr)
			}
			if down := rs.WaitEvent(mtp.PeerDown, i); down.PeerID != id {
				t.Errorf("PeerDown = %+v", down)
			}
		})
	}
}

// TestServerDisconnect: Disconnect ends one client's session with a normal
// closure, as an agent that keeps one session per controller does
// (R-WS.4).
func TestServerDisconnect(t *testing.T) {
	srv, rs := startServer(t)
	ws := dialGorilla(t, srv, agentID)
	rs.WaitEvent(mtp.PeerUp, 0)
	if err := srv.Disconnect("proto::nobody", "x"); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Errorf("Disconnect of an unknown peer: %v", err)
	}
	if err := srv.Disconnect(agentID, "one session per pair"); err != nil {
		t.Fatal(err)
	}
	if code := expectClose(t, ws); code != gorilla.CloseNormalClosure {
		t.Errorf("closed with %d", code)
	}
	if down := rs.WaitEvent(mtp.PeerDown, 0); !errors.Is(down.Err, websocket.ErrReplaced) {
		t.Errorf("PeerDown = %+v", down)
	}
}
