package stomp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// fakeServer is a scripted STOMP server: it answers the STOMP frame with
// CONNECTED (plus extra headers), reads the SUBSCRIBE, and hands the
// connection to the test.
type fakeServer struct {
	l         net.Listener
	conns     chan *fakeConn
	connected []string // extra CONNECTED headers, key, value, ...
	refuse    string   // if set, answer the STOMP frame with this ERROR message
}

type fakeConn struct {
	net.Conn
	raw       []byte // the STOMP frame as it came off the wire
	connect   *frame.Frame
	subscribe *frame.Frame
	r         *frame.Reader
	w         *frame.Writer
}

func newFakeServer(t *testing.T, connected ...string) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{l: l, conns: make(chan *fakeConn, 16), connected: connected}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeServer) addr() string { return f.l.Addr().String() }

func (f *fakeServer) serve(c net.Conn) {
	br := bufio.NewReader(c)
	raw, err := br.ReadBytes(0)
	if err != nil {
		c.Close()
		return
	}
	connect, err := frame.NewReader(bytes.NewReader(raw)).Read()
	if err != nil || connect == nil {
		c.Close()
		return
	}
	fc := &fakeConn{Conn: c, raw: raw, connect: connect, r: frame.NewReader(br), w: frame.NewWriter(c)}
	if f.refuse != "" {
		_ = fc.w.Write(frame.New(frame.ERROR, frame.Message, f.refuse))
		c.Close()
		return
	}
	reply := frame.New(frame.CONNECTED, frame.Version, "1.2", frame.HeartBeat, "0,0", frame.Server, "fake/1")
	for i := 0; i+1 < len(f.connected); i += 2 {
		reply.Header.Add(f.connected[i], f.connected[i+1])
	}
	if err := fc.w.Write(reply); err != nil {
		c.Close()
		return
	}
	fc.subscribe, err = fc.r.Read()
	if err != nil {
		c.Close()
		return
	}
	f.conns <- fc
}

func (f *fakeServer) next(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-f.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		t.Fatal("client did not subscribe")
	}
	return nil
}

// readFrame reads the next non-heart-beat frame the client sent.
func (c *fakeConn) readFrame(t *testing.T) *frame.Frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for {
		f, err := c.r.Read()
		if err != nil {
			t.Fatalf("reading client frame: %v", err)
		}
		if f != nil {
			return f
		}
	}
}

func (c *fakeConn) message(t *testing.T, headers ...string) {
	t.Helper()
	m := frame.New(frame.MESSAGE, frame.Subscription, c.subscribe.Header.Get(frame.Id),
		frame.MessageId, "1", frame.Destination, c.subscribe.Header.Get(frame.Destination))
	var body []byte
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "body" {
			body = []byte(headers[i+1])
			continue
		}
		m.Header.Add(headers[i], headers[i+1])
	}
	m.Header.Add(frame.ContentLength, fmt.Sprint(len(body)))
	m.Body = body
	if err := c.w.Write(m); err != nil {
		t.Fatal(err)
	}
}

func TestWireFrames(t *testing.T) {
	srv := newFakeServer(t, stomp.HeaderSubscribeDest, "/queue/from-server")
	tr, rec, up := start(t, srv.addr(), "proto::obuspa-test-agent",
		stomp.WithDestination("/queue/configured"), stomp.WithCredentials("guest", "pass:word"),
		stomp.WithHost("vhost"), stomp.WithHeartBeat(30*time.Second, 300*time.Second))
	c := srv.next(t)

	// The STOMP frame, byte for byte where TR-369 cares.
	raw := string(c.raw)
	if !strings.HasPrefix(raw, "STOMP\n") {
		t.Errorf("session opened with %q, want a STOMP frame (R-STOMP.2)", strings.SplitN(raw, "\n", 2)[0])
	}
	for _, line := range []string{
		`endpoint-id:proto\c\cobuspa-test-agent`, // escaped like OB-USP-A does (R-STOMP.4 note)
		"accept-version:1.2",
		"host:vhost",
		"heart-beat:30000,300000",
		"login:guest",
		`passcode:pass\cword`,
	} {
		if !strings.Contains(raw, "\n"+line+"\n") {
			t.Errorf("STOMP frame lacks %q:\n%s", line, raw)
		}
	}
	// subscribe-dest wins over the configured destination (R-STOMP.14).
	if got := c.subscribe.Header.Get(frame.Destination); got != "/queue/from-server" {
		t.Errorf("SUBSCRIBE destination %q", got)
	}
	if got := c.subscribe.Header.Get(frame.Ack); got != "auto" {
		t.Errorf("SUBSCRIBE ack %q (R-STOMP.17)", got)
	}
	if up.Local.To != "/queue/from-server" {
		t.Errorf("Up.Local = %v", up.Local)
	}

	send(t, tr, "/queue/controller", "rec\x00ord")
	f := c.readFrame(t)
	for k, want := range map[string]string{
		frame.Destination:       "/queue/controller",
		frame.ContentType:       "application/vnd.bbf.usp.msg",
		frame.ContentLength:     "7",
		stomp.HeaderReplyToDest: "/queue/from-server",
	} {
		if got := f.Header.Get(k); got != want {
			t.Errorf("SEND %s = %q, want %q", k, got, want)
		}
	}
	if f.Command != frame.SEND || string(f.Body) != "rec\x00ord" {
		t.Errorf("got %s with body %q", f.Command, f.Body)
	}

	// MESSAGE frames: reply-to-dest becomes ReplyTo; content types filter.
	c.message(t, stomp.HeaderReplyToDest, "/queue/controller", frame.ContentType, "application/vnd.bbf.usp.msg", "body", "one")
	c.message(t, frame.ContentType, "application/vnd.bbf.usp.error", "body", "dropped")
	c.message(t, "body", "no type, no reply-to")
	in := rec.Record()
	if string(in.Data) != "one" || in.ReplyTo != (mtp.Address{MTP: stomp.Kind, To: "/queue/controller"}) {
		t.Fatalf("got %q reply-to %v", in.Data, in.ReplyTo)
	}
	in = rec.Record()
	if string(in.Data) != "no type, no reply-to" || !in.ReplyTo.IsZero() {
		t.Fatalf("got %q reply-to %v", in.Data, in.ReplyTo)
	}
	rec.NoRecord(100 * time.Millisecond)

	// DISCONNECT on Close (R-STOMP.28); answer its receipt.
	closed := make(chan error, 1)
	go func() { closed <- tr.Close(context.Background()) }()
	f = c.readFrame(t)
	if f.Command != frame.DISCONNECT {
		t.Fatalf("Close sent %s", f.Command)
	}
	_ = c.w.Write(frame.New(frame.RECEIPT, frame.ReceiptId, f.Header.Get(frame.Receipt)))
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestERRORFrameReconnects(t *testing.T) {
	srv := newFakeServer(t)
	tr, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/a"))
	c := srv.next(t)
	_ = c.w.Write(&frame.Frame{Command: frame.ERROR, Header: frame.NewHeader(frame.Message, "malformed frame received"), Body: []byte("details")})
	c.Close() // brokers close after ERROR
	down := rec.Event(mtp.Down)
	if down.Err == nil || !strings.Contains(down.Err.Error(), "malformed frame received") {
		t.Fatalf("Down.Err = %v, want the ERROR message", down.Err)
	}
	err := tr.Send(context.Background(), mtp.Address{MTP: stomp.Kind, To: "/queue/b"}, []byte("x"))
	if !errors.Is(err, mtp.ErrNotConnected) {
		t.Fatalf("Send while down = %v", err)
	}
	rec.Event(mtp.Up)
	c2 := srv.next(t)
	c2.message(t, "body", "after")
	if got := rec.Record(); string(got.Data) != "after" {
		t.Fatalf("got %q", got.Data)
	}
}

func TestBrokerRefusesConnection(t *testing.T) {
	srv := newFakeServer(t)
	srv.refuse = "Access refused for user 'guest'"
	tr, err := stomp.New(srv.addr(), "proto::a", append(fastOpts(t), stomp.WithDestination("/queue/a"))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = tr.Start(ctx, newRecorder(t))
	if err == nil || !strings.Contains(err.Error(), "Access refused") {
		t.Fatalf("Start = %v, want the broker's refusal", err)
	}
}

// TestMissedHeartBeats: a broker that stops talking without closing the
// connection (the peer vanished) is noticed through heart beats.
func TestMissedHeartBeats(t *testing.T) {
	srv := newFakeServer(t)
	_, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/a"),
		stomp.WithHeartBeat(100*time.Millisecond, 200*time.Millisecond))
	c := srv.next(t)
	if hb := c.connect.Header.Get(frame.HeartBeat); hb != "100,200" {
		t.Fatalf("heart-beat %q", hb)
	}
	began := time.Now()
	down := rec.Event(mtp.Down) // the fake server sends nothing, not even beats
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("lost connection noticed after %v", d)
	}
	if down.Err == nil || strings.Contains(down.Err.Error(), "broker sent ERROR") {
		t.Errorf("Down.Err = %v: the broker sent no ERROR", down.Err)
	}
	rec.Event(mtp.Up)
}

func TestMalformedFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
	}{
		{"unknown command", "HELLO\n\n\x00"},
		{"header without colon", "MESSAGE\nsubscription\n\nx\x00"},
		{"content-length over the limit", "MESSAGE\ncontent-length:999999999\n\n"},
		{"content-length not a number", "MESSAGE\ncontent-length:12x\n\nabc\x00"},
		{"body longer than content-length", "MESSAGE\ncontent-length:1\n\nabc\x00"},
		{"body over the limit, no content-length", "MESSAGE\n\n" + strings.Repeat("x", 5000)},
		{"header section over the limit", "MESSAGE\nx:" + strings.Repeat("y", 70000)},
		{"stray bytes between frames", "\r\r\r\x00\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t)
			_, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/a"), stomp.WithMaxRecordSize(4096))
			c := srv.next(t)
			c.message(t, "body", "good")
			if got := rec.Record(); string(got.Data) != "good" {
				t.Fatalf("got %q", got.Data)
			}
			if _, err := c.Write([]byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			rec.Event(mtp.Down)
			rec.Event(mtp.Up)
			c2 := srv.next(t)
			c2.message(t, "body", "again")
			if got := rec.Record(); string(got.Data) != "again" {
				t.Fatalf("got %q", got.Data)
			}
		})
	}
}
