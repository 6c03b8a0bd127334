package uds_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/uds"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ctrlID  = "proto::controller"
	agentID = "proto::agent"
)

var fast = []uds.Option{uds.WithRetryInterval(10*time.Millisecond, 30*time.Millisecond)}

func startServer(t *testing.T, path string, opts ...uds.Option) (*uds.Server, *peerconntest.Recorder) {
	t.Helper()
	s, err := uds.NewServer(path, ctrlID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, peerconntest.Start(t, s)
}

func startClient(t *testing.T, path, id string, opts ...uds.Option) (*uds.Client, *peerconntest.Recorder) {
	t.Helper()
	c, err := uds.NewClient(path, id, append(slices.Clone(fast), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, peerconntest.Start(t, c)
}

func TestRoundTrip(t *testing.T) {
	path := sockPath(t)
	srv, rs := startServer(t, path)
	cli, rc := startClient(t, path, agentID)
	ctx := context.Background()

	up := rs.WaitEvent(mtp.PeerUp, 0)
	if up.PeerID != agentID || up.Peer != (mtp.Address{MTP: mtp.UDS, To: agentID}) {
		t.Errorf("server PeerUp = %+v", up)
	}
	if k := rc.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp}) {
		t.Errorf("client events = %v", k)
	}
	if cli.PeerID() != ctrlID || cli.State() != mtp.Connected || srv.State() != mtp.Connected {
		t.Errorf("client peer %q, states %v %v", cli.PeerID(), cli.State(), srv.State())
	}

	if err := cli.Send(ctx, mtp.Address{}, []byte("notify")); err != nil {
		t.Fatal(err)
	}
	in := rs.WaitRecords(1)[0]
	if string(in.Data) != "notify" || in.PeerID != agentID || in.ReplyTo != (mtp.Address{MTP: mtp.UDS, To: agentID}) {
		t.Errorf("server got %+v", in)
	}
	big := bytes.Repeat([]byte{0xa5}, 1<<20)
	if err := srv.Send(ctx, in.ReplyTo, big); err != nil {
		t.Fatal(err)
	}
	back := rc.WaitRecords(1)[0]
	if !bytes.Equal(back.Data, big) || back.PeerID != ctrlID || back.ReplyTo != (mtp.Address{MTP: mtp.UDS, To: ctrlID}) {
		t.Errorf("client got %d bytes from %q reply %v", len(back.Data), back.PeerID, back.ReplyTo)
	}
	if got := srv.Peers(); !slices.Equal(got, []string{agentID}) {
		t.Errorf("Peers = %v", got)
	}
}

func TestSendErrors(t *testing.T) {
	path := sockPath(t)
	srv, rs := startServer(t, path, uds.WithMaxRecordSize(16))
	cli, _ := startClient(t, path, agentID)
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
		{"server to unknown", srv, ctx, mtp.Address{MTP: mtp.UDS, To: "proto::nobody"}, []byte("x"), mtp.ErrUnknownPeer},
		{"server wrong binding", srv, ctx, mtp.Address{MTP: mtp.WebSocket, To: agentID}, []byte("x"), mtp.ErrBadAddress},
		{"server too large", srv, ctx, mtp.Address{MTP: mtp.UDS, To: agentID}, make([]byte, 17), mtp.ErrTooLarge},
		{"server cancelled", srv, cancelled, mtp.Address{MTP: mtp.UDS, To: agentID}, []byte("x"), context.Canceled},
		{"server ok", srv, ctx, mtp.Address{To: agentID}, make([]byte, 16), nil},
		{"client to other peer", cli, ctx, mtp.Address{MTP: mtp.UDS, To: "proto::other"}, []byte("x"), mtp.ErrUnknownPeer},
		{"client to server ID", cli, ctx, mtp.Address{MTP: mtp.UDS, To: ctrlID}, []byte("x"), nil},
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

func TestManyClients(t *testing.T) {
	path := sockPath(t)
	srv, rs := startServer(t, path)
	const n = 5
	clients := make([]*peerconntest.Recorder, n)
	for i := range n {
		_, clients[i] = startClient(t, path, fmt.Sprintf("proto::agent-%d", i))
	}
	rs.Wait("all peers up", func(_ []mtp.Inbound, evs []mtp.Event) bool { return len(evs) == n+1 })
	for i := range n {
		if err := srv.Send(context.Background(), mtp.Address{MTP: mtp.UDS, To: fmt.Sprintf("proto::agent-%d", i)}, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range clients {
		if got := r.WaitRecords(1)[0].Data; !bytes.Equal(got, []byte{byte(i)}) {
			t.Errorf("client %d got %v", i, got)
		}
	}
	if len(srv.Peers()) != n {
		t.Errorf("Peers = %v", srv.Peers())
	}
}

// rawConn is a hand-driven peer for protocol tests. Its checks call fail:
// t.Fatalf on the test goroutine, or a panic that ends only the current
// connection inside rawServer, where the client may hang up at any point
// while it retries.
type rawConn struct {
	t *testing.T
	net.Conn
	fail func(format string, args ...any)
}

// stopServe ends one connection of a rawServer.
type stopServe struct{}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t, c, t.Fatalf}
}

func (c *rawConn) send(tlvs ...uds.TLV) {
	c.t.Helper()
	b, err := uds.AppendFrame(nil, tlvs...)
	if err != nil {
		c.fail("%v", err)
	}
	c.sendBytes(b)
}

func (c *rawConn) sendBytes(b []byte) {
	c.t.Helper()
	if _, err := c.Write(b); err != nil {
		c.fail("%v", err)
	}
}

// expect reads one frame and checks it holds one TLV of type typ.
func (c *rawConn) expect(typ uds.TLVType) string {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	tlvs, err := uds.ReadFrame(c, 1<<20)
	if err != nil {
		c.fail("reading %v frame: %v", typ, err)
	}
	if len(tlvs) != 1 || tlvs[0].Type != typ {
		c.fail("got %v, want one %v TLV", tlvs, typ)
	}
	return string(tlvs[0].Value)
}

// expectClosed checks that the peer closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); err == nil {
		c.fail("connection still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.fail("connection not closed within 5s")
	}
}

func hs(id string) uds.TLV    { return uds.TLV{Type: uds.TypeHandshake, Value: []byte(id)} }
func rec(s string) uds.TLV    { return uds.TLV{Type: uds.TypeRecord, Value: []byte(s)} }
func errTLV(s string) uds.TLV { return uds.TLV{Type: uds.TypeError, Value: []byte(s)} }

func TestServerProtocol(t *testing.T) {
	path := sockPath(t)
	srv, rs := startServer(t, path, uds.WithHandshakeTimeout(200*time.Millisecond), uds.WithMaxRecordSize(64))

	t.Run("records before handshake are ignored", func(t *testing.T) {
		c := dialRaw(t, path)
		c.send(rec("too early"))
		c.send(hs("proto::raw-1"), rec("same frame, ignored"))
		if got := c.expect(uds.TypeHandshake); got != ctrlID {
			t.Errorf("server handshake = %q", got)
		}
		rs.WaitEvent(mtp.PeerUp, 0)
		c.send(uds.TLV{Type: 77, Value: []byte("unknown type")}, rec("after"))
		in := rs.WaitRecords(1)
		if len(in) != 1 || string(in[0].Data) != "after" {
			t.Errorf("records = %v", in)
		}
		c.send(errTLV("bye"))
		down := rs.WaitEvent(mtp.PeerDown, 0)
		if down.PeerID != "proto::raw-1" || !errors.Is(down.Err, uds.ErrPeer) || !strings.Contains(down.Err.Error(), "bye") {
			t.Errorf("PeerDown = %+v", down)
		}
		c.expectClosed()
	})

	bad := []struct {
		name  string
		first []byte
	}{
		{"empty endpoint ID", mustFrame(t, hs(""))},
		{"endpoint ID not UTF-8", mustFrame(t, hs("proto::\xff"))},
		{"bad sync", []byte("HTTP/1.1 GET /\r\n\r\n")},
		{"frame too large", mustFrame(t, hs("proto::x"), rec(strings.Repeat("x", 1000)))},
		{"TLV overrun", []byte("_USP\x00\x00\x00\x06\x01\x00\x00\x00\x09x")},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, path)
			c.sendBytes(tt.first)
			msg := c.expect(uds.TypeError)
			if msg == "" {
				t.Error("empty error message")
			}
			c.expectClosed()
		})
	}

	t.Run("handshake timeout", func(t *testing.T) {
		start := time.Now()
		c := dialRaw(t, path)
		c.expectClosed()
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("closed after %v, before the timeout", d)
		}
	})

	t.Run("oversized record after handshake", func(t *testing.T) {
		c := dialRaw(t, path)
		c.send(hs("proto::raw-2"))
		c.expect(uds.TypeHandshake)
		c.send(rec(strings.Repeat("y", 1000)))
		c.expect(uds.TypeError)
		c.expectClosed()
		down := rs.WaitEvent(mtp.PeerDown, 1)
		if down.PeerID != "proto::raw-2" || !errors.Is(down.Err, mtp.ErrTooLarge) {
			t.Errorf("PeerDown = %+v", down)
		}
	})

	t.Run("peer vanishes", func(t *testing.T) {
		c := dialRaw(t, path)
		c.send(hs("proto::raw-3"))
		c.expect(uds.TypeHandshake)
		rs.WaitEvent(mtp.PeerUp, 2)
		c.Close()
		if down := rs.WaitEvent(mtp.PeerDown, 2); down.PeerID != "proto::raw-3" {
			t.Errorf("PeerDown = %+v", down)
		}
		err := srv.Send(context.Background(), mtp.Address{To: "proto::raw-3"}, []byte("x"))
		if !errors.Is(err, mtp.ErrUnknownPeer) {
			t.Errorf("send to vanished peer = %v", err)
		}
	})
}

func mustFrame(t *testing.T, tlvs ...uds.TLV) []byte {
	b, err := uds.AppendFrame(nil, tlvs...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawServer accepts one connection at a time on path and runs serve on it.
func rawServer(t *testing.T, path string, serve func(c *rawConn)) {
	t.Helper()
	ln, err := net.Listen("unix", path)
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
			func() {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(stopServe); !ok {
							panic(r)
						}
					}
				}()
				serve(&rawConn{t, c, func(string, ...any) { panic(stopServe{}) }})
			}()
			c.Close()
		}
	}()
}

func TestClientProtocol(t *testing.T) {
	t.Run("sends handshake first and times out", func(t *testing.T) {
		path := sockPath(t)
		got := make(chan string, 10)
		rawServer(t, path, func(c *rawConn) {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			tlvs, err := uds.ReadFrame(c, 1024)
			first := fmt.Sprint("bad first frame ", tlvs, err)
			if err == nil && len(tlvs) == 1 && tlvs[0].Type == uds.TypeHandshake {
				first = string(tlvs[0].Value)
			}
			select {
			case got <- first:
			default:
			}
			c.expectClosed() // never answer: the client must give up
		})
		cli, err := uds.NewClient(path, agentID, uds.WithHandshakeTimeout(100*time.Millisecond), uds.WithRetryInterval(time.Millisecond, 2*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		defer cancel()
		err = cli.Start(ctx, peerconntest.NewRecorder(t))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "handshake") {
			t.Errorf("Start = %v, want deadline exceeded after handshake timeouts", err)
		}
		if cli.State() != mtp.Closed {
			t.Errorf("state after failed Start = %v", cli.State())
		}
		if id := <-got; id != agentID {
			t.Errorf("first frame: %s", id)
		}
	})

	t.Run("server error during handshake", func(t *testing.T) {
		path := sockPath(t)
		rawServer(t, path, func(c *rawConn) {
			c.expect(uds.TypeHandshake)
			c.send(errTLV("go away"))
		})
		cli, err := uds.NewClient(path, agentID, fast...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = cli.Start(ctx, peerconntest.NewRecorder(t))
		if err == nil || !strings.Contains(err.Error(), "go away") {
			t.Errorf("Start = %v, want the server's error", err)
		}
	})

	t.Run("malformed frame from server", func(t *testing.T) {
		path := sockPath(t)
		errs := make(chan string, 10)
		rawServer(t, path, func(c *rawConn) {
			c.expect(uds.TypeHandshake)
			c.send(hs(ctrlID))
			c.sendBytes([]byte("_USP\x00\x00\x00\x02zz"))
			msg := c.expect(uds.TypeError)
			select {
			case errs <- msg:
			default:
			}
			c.expectClosed()
		})
		_, rc := startClient(t, path, agentID)
		down := rc.WaitEvent(mtp.Down, 0)
		if !errors.Is(down.Err, uds.ErrFrame) {
			t.Errorf("Down = %+v", down)
		}
		if msg := <-errs; !strings.Contains(msg, "malformed") {
			t.Errorf("error TLV = %q", msg)
		}
	})
}

func TestReconnect(t *testing.T) {
	path := sockPath(t)
	srv, err := uds.NewServer(path, ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), peerconntest.NewRecorder(t)); err != nil {
		t.Fatal(err)
	}
	cli, rc := startClient(t, path, agentID)
	srv.Close(context.Background())

	down := rc.WaitEvent(mtp.Down, 0)
	if down.Err == nil {
		t.Error("Down without a cause")
	}
	err = cli.Send(context.Background(), mtp.Address{}, []byte("x"))
	if !errors.Is(err, mtp.ErrNotConnected) {
		t.Errorf("send while disconnected = %v", err)
	}
	if s := cli.State(); s != mtp.Disconnected && s != mtp.Connecting {
		t.Errorf("state = %v", s)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}

	srv2, rs2 := startServer(t, path)
	rc.WaitEvent(mtp.PeerUp, 1)
	if k := rc.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp, mtp.PeerDown, mtp.Down, mtp.Up, mtp.PeerUp}) {
		t.Errorf("client events = %v", k)
	}
	if err := cli.Send(context.Background(), mtp.Address{}, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if in := rs2.WaitRecords(1); string(in[0].Data) != "again" {
		t.Errorf("got %q", in[0].Data)
	}
	_ = srv2
}

func TestDuplicateSessions(t *testing.T) {
	t.Run("replace", func(t *testing.T) {
		path := sockPath(t)
		srv, rs := startServer(t, path, uds.WithReplaceDuplicates())
		old := dialRaw(t, path) // a first session that will not come back
		old.send(hs(agentID))
		old.expect(uds.TypeHandshake)
		rs.WaitEvent(mtp.PeerUp, 0)
		_, rc := startClient(t, path, agentID)
		rs.WaitEvent(mtp.PeerUp, 1)
		if k := rs.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp, mtp.PeerDown, mtp.PeerUp}) {
			t.Errorf("server events = %v", k)
		}
		if down := rs.WaitEvent(mtp.PeerDown, 0); !errors.Is(down.Err, uds.ErrReplaced) {
			t.Errorf("PeerDown = %+v", down)
		}
		old.expectClosed()
		if err := srv.Send(context.Background(), mtp.Address{To: agentID}, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if in := rc.WaitRecords(1); string(in[0].Data) != "x" {
			t.Errorf("newest session got %q", in[0].Data)
		}
		if k := rs.Kinds(); len(k) != 4 {
			t.Errorf("server events after the old session closed = %v", k)
		}
	})
	t.Run("refuse by default", func(t *testing.T) {
		path := sockPath(t)
		_, rs := startServer(t, path)
		startClient(t, path, agentID)
		rs.WaitEvent(mtp.PeerUp, 0)
		c := dialRaw(t, path)
		c.send(hs(agentID))
		if msg := c.expect(uds.TypeError); !strings.Contains(msg, "already") {
			t.Errorf("error = %q", msg)
		}
		c.expectClosed()
		if k := rs.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp}) {
			t.Errorf("server events = %v", k)
		}
	})
}

func TestReject(t *testing.T) {
	path := sockPath(t)
	check := func(rec []byte) error {
		if bytes.HasPrefix(rec, []byte("bad")) {
			return errors.New("not a record")
		}
		return nil
	}
	srv, rs := startServer(t, path, uds.WithRecordCheck(check))
	cli, rc := startClient(t, path, agentID)
	rs.WaitEvent(mtp.PeerUp, 0)

	if err := srv.Reject(agentID, "cannot parse"); err != nil {
		t.Fatal(err)
	}
	down := rc.WaitEvent(mtp.Down, 0)
	if !errors.Is(down.Err, uds.ErrPeer) || !strings.Contains(down.Err.Error(), "cannot parse") {
		t.Errorf("client Down = %+v", down)
	}
	if sd := rs.WaitEvent(mtp.PeerDown, 0); !errors.Is(sd.Err, uds.ErrRejected) {
		t.Errorf("server PeerDown = %+v", sd)
	}
	if err := srv.Reject("proto::nobody", "x"); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Errorf("Reject unknown = %v", err)
	}

	// The client reconnects; a record failing the check ends the session.
	rc.WaitEvent(mtp.Up, 1)
	rs.WaitEvent(mtp.PeerUp, 1)
	if err := cli.Send(context.Background(), mtp.Address{}, []byte("bad record")); err != nil {
		t.Fatal(err)
	}
	if sd := rs.WaitEvent(mtp.PeerDown, 1); !errors.Is(sd.Err, uds.ErrRejected) {
		t.Errorf("server PeerDown = %+v", sd)
	}
	if d := rc.WaitEvent(mtp.Down, 1); !strings.Contains(d.Err.Error(), "not a record") {
		t.Errorf("client Down = %+v", d)
	}
	recs, _ := rs.Snapshot()
	if len(recs) != 0 {
		t.Errorf("rejected record delivered: %v", recs)
	}
	rc.WaitEvent(mtp.Up, 2)
	var rj interface {
		Reject(peerID, reason string) error
	} = cli
	if err := rj.Reject("proto::other", "x"); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Errorf("Reject of another peer = %v", err)
	}
	if err := rj.Reject(ctrlID, "client side"); err != nil {
		t.Fatal(err)
	}
	if sd := rs.WaitEvent(mtp.PeerDown, 2); !errors.Is(sd.Err, uds.ErrPeer) {
		t.Errorf("server PeerDown = %+v", sd)
	}
}

func TestLifecycle(t *testing.T) {
	path := sockPath(t)
	srv, err := uds.NewServer(path, ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Send(context.Background(), mtp.Address{To: agentID}, nil); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("send before Start = %v", err)
	}
	if srv.Kind() != mtp.UDS || srv.State() != mtp.Disconnected || srv.Path() != path {
		t.Errorf("kind %v state %v", srv.Kind(), srv.State())
	}
	r := peerconntest.NewRecorder(t)
	if err := srv.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), r); err == nil {
		t.Error("second Start succeeded")
	}
	// A second server on the same live path must not steal it.
	other, _ := uds.NewServer(path, ctrlID)
	if err := other.Start(context.Background(), r); err == nil {
		t.Error("second server took a live socket")
	}
	for range 2 {
		if err := srv.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
	if err := srv.Send(context.Background(), mtp.Address{To: agentID}, nil); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("send after Close = %v", err)
	}
	if srv.State() != mtp.Closed {
		t.Errorf("state = %v", srv.State())
	}

	// A stale socket file (server died without unlinking) is replaced.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	startServer(t, path)

	// A regular file in the way is left alone.
	file := sockPath(t)
	os.WriteFile(file, []byte("keep me"), 0o600)
	s3, _ := uds.NewServer(file, ctrlID)
	if err := s3.Start(context.Background(), r); err == nil {
		t.Error("server replaced a regular file")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Error("regular file clobbered")
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name   string
		server bool
		id     string
		opts   []uds.Option
	}{
		{"retry on server", true, ctrlID, []uds.Option{uds.WithRetryInterval(time.Second, 2*time.Second)}},
		{"replace dups on client", false, agentID, []uds.Option{uds.WithReplaceDuplicates()}},
		{"retry min > max", false, agentID, []uds.Option{uds.WithRetryInterval(2*time.Second, time.Second)}},
		{"zero handshake timeout", true, ctrlID, []uds.Option{uds.WithHandshakeTimeout(0)}},
		{"zero write timeout", true, ctrlID, []uds.Option{uds.WithWriteTimeout(0)}},
		{"zero record size", false, agentID, []uds.Option{uds.WithMaxRecordSize(0)}},
		{"nil logger", false, agentID, []uds.Option{uds.WithLogger(nil)}},
		{"empty local ID", true, "", nil},
		{"local ID with space", false, "proto::a b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.server {
				_, err = uds.NewServer("/tmp/x", tt.id, tt.opts...)
			} else {
				_, err = uds.NewClient("/tmp/x", tt.id, tt.opts...)
			}
			if err == nil {
				t.Error("constructor accepted it")
			}
		})
	}
}

func TestSendToStuckPeer(t *testing.T) {
	srv, rs := startServer(t, sockPath(t), uds.WithWriteTimeout(100*time.Millisecond))
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
			c := dialRaw(t, srv.Path())
			c.send(hs(id)) // then never reads again
			c.expect(uds.TypeHandshake)
			rs.WaitEvent(mtp.PeerUp, i)
			rec := make([]byte, 1<<20)
			var err error
			for range 64 { // far more than the socket buffers hold
				ctx, cancel := tt.ctx()
				err = srv.Send(ctx, mtp.Address{To: id}, rec)
				cancel()
				if err != nil {
					break
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send = %v, want %v", err, tt.wantErr)
			}
			// A half-written frame ruins the stream: the session is gone.
			if down := rs.WaitEvent(mtp.PeerDown, i); down.PeerID != id {
				t.Errorf("PeerDown = %+v", down)
			}
		})
	}
}
