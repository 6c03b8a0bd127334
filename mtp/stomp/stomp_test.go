package stomp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// brokers are the brokers every behaviour test runs against.
var brokers = []struct {
	name  string
	start func(t *testing.T) (addr string, opts []stomp.Option)
}{
	{"go-stomp server", func(t *testing.T) (string, []stomp.Option) { return brokertest.StartStompServer(t), nil }},
	{"rabbitmq", func(t *testing.T) (string, []stomp.Option) { return brokertest.StartRabbitMQ(t), rabbitOpts }},
}

func TestRoundTrip(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			addr, opts := b.start(t)
			q := "/queue/roundtrip"
			agent, agentRec, agentUp := start(t, addr, "proto::agent", append(opts, stomp.WithDestination(q+"-agent"))...)
			ctl, ctlRec, ctlUp := start(t, addr, "proto::controller", append(opts, stomp.WithDestination(q+"-controller"))...)
			if agentUp.Local != (mtp.Address{MTP: mtp.STOMP, To: q + "-agent"}) || ctlUp.Local.To != q+"-controller" {
				t.Fatalf("Up.Local = %v, %v", agentUp.Local, ctlUp.Local)
			}
			send(t, ctl, q+"-agent", "request")
			req := agentRec.Record()
			if string(req.Data) != "request" {
				t.Fatalf("agent got %q", req.Data)
			}
			if want := (mtp.Address{MTP: mtp.STOMP, To: q + "-controller"}); req.ReplyTo != want {
				t.Fatalf("ReplyTo = %v, want %v", req.ReplyTo, want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := agent.Send(ctx, req.ReplyTo, []byte("response")); err != nil {
				t.Fatal(err)
			}
			resp := ctlRec.Record()
			if string(resp.Data) != "response" || resp.ReplyTo.To != q+"-agent" {
				t.Fatalf("controller got %q reply-to %v", resp.Data, resp.ReplyTo)
			}
		})
	}
}

func TestBinaryRecordIntact(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			addr, opts := b.start(t)
			q := "/queue/binary"
			_, rec, _ := start(t, addr, "proto::a", append(opts, stomp.WithDestination(q))...)
			s, _, _ := start(t, addr, "proto::b", append(opts, stomp.WithDestination(q+"-b"))...)
			// NULs, newlines and colons in the body: content-length frames.
			data := make([]byte, 100000)
			for i := range data {
				data[i] = byte(i * 13)
			}
			data[0], data[1], data[2] = 0, '\n', ':'
			if err := s.Send(context.Background(), mtp.Address{MTP: stomp.Kind, To: q}, data); err != nil {
				t.Fatal(err)
			}
			if got := rec.Record(); !bytes.Equal(got.Data, data) {
				t.Fatalf("record changed in transit (%d bytes back)", len(got.Data))
			}
		})
	}
}

func TestReceipts(t *testing.T) {
	addr := brokertest.StartRabbitMQ(t)
	_, rec, _ := start(t, addr, "proto::a", append(rabbitOpts, stomp.WithDestination("/queue/receipts-a"))...)
	b, _, _ := start(t, addr, "proto::b", append(rabbitOpts, stomp.WithDestination("/queue/receipts-b"), stomp.WithReceipts())...)
	for i := range 20 {
		send(t, b, "/queue/receipts-a", fmt.Sprint(i))
	}
	for i := range 20 {
		if got := rec.Record(); string(got.Data) != fmt.Sprint(i) {
			t.Fatalf("record %d: got %q", i, got.Data)
		}
	}
}

func TestSendErrors(t *testing.T) {
	addr := brokertest.StartStompServer(t)
	unstarted, err := stomp.New(addr, "proto::x", stomp.WithDestination("/queue/x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := unstarted.Send(ctx, mtp.Address{MTP: stomp.Kind, To: "/queue/y"}, []byte("r")); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("Send before Start = %v", err)
	}
	tr, _, _ := start(t, addr, "proto::a", stomp.WithDestination("/queue/a"), stomp.WithMaxRecordSize(1000))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		to   mtp.Address
		size int
		want error
	}{
		{"empty destination", ctx, mtp.Address{MTP: stomp.Kind}, 1, mtp.ErrBadAddress},
		{"other binding", ctx, mtp.Address{MTP: mtp.MQTT, To: "x"}, 1, mtp.ErrBadAddress},
		{"too large", ctx, mtp.Address{MTP: stomp.Kind, To: "/queue/b"}, 1001, mtp.ErrTooLarge},
		{"cancelled", cancelled, mtp.Address{MTP: stomp.Kind, To: "/queue/b"}, 1, context.Canceled},
		{"fits", ctx, mtp.Address{MTP: stomp.Kind, To: "/queue/b"}, 1000, nil},
		{"no binding named", ctx, mtp.Address{To: "/queue/b"}, 1, nil},
	} {
		if err := tr.Send(tc.ctx, tc.to, make([]byte, tc.size)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Send = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(ctx, mtp.Address{MTP: stomp.Kind, To: "/queue/b"}, []byte("r")); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	addr := brokertest.StartStompServer(t)
	tr, err := stomp.New(addr, "proto::x", stomp.WithDestination("/queue/x"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Kind() != mtp.STOMP || tr.State() != mtp.Disconnected {
		t.Fatalf("kind %v state %v", tr.Kind(), tr.State())
	}
	ctx := context.Background()
	if err := tr.Start(ctx, nil); err == nil {
		t.Fatal("Start with nil handler succeeded")
	}
	if err := tr.Start(ctx, newRecorder(t)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(ctx, newRecorder(t)); err == nil {
		t.Fatal("second Start succeeded")
	}
	for range 3 {
		if err := tr.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if tr.State() != mtp.Closed {
		t.Fatalf("state %v", tr.State())
	}
	closedFirst, _ := stomp.New(addr, "proto::y", stomp.WithDestination("/queue/y"))
	_ = closedFirst.Close(ctx)
	if err := closedFirst.Start(ctx, newRecorder(t)); !errors.Is(err, mtp.ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
}

func TestNoDestinationFailsStart(t *testing.T) {
	addr := brokertest.StartStompServer(t)
	tr, err := stomp.New(addr, "proto::x", fastOpts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Start(ctx, newRecorder(t)); !errors.Is(err, stomp.ErrNoDestination) {
		t.Fatalf("Start = %v, want ErrNoDestination", err)
	}
}

func TestStartTimesOutWithoutBroker(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", brokertest.FreePort(t))
	tr, err := stomp.New(addr, "proto::x", append(fastOpts(t), stomp.WithDestination("/queue/x"))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := tr.Start(ctx, newRecorder(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v", err)
	}
	if tr.State() != mtp.Closed {
		t.Fatalf("state %v", tr.State())
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr string
		id   string
		opts []stomp.Option
	}{
		{"empty endpoint ID", "127.0.0.1:61613", "", nil},
		{"no port", "127.0.0.1", "proto::x", nil},
		{"unknown scheme", "http://127.0.0.1:61613", "proto::x", nil},
		{"URL without host", "stomp://", "proto::x", nil},
		{"URL with a path", "stomp://127.0.0.1:61613/queue", "proto::x", nil},
		{"TLS config on plain URL", "stomp://127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithTLS(&tls.Config{})}},
		{"empty destination", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithDestination("")}},
		{"NUL in destination", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithDestination("/queue/a\x00")}},
		{"empty host", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithHost("")}},
		{"negative heart-beat", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithHeartBeat(-1, 0)}},
		{"nil TLS", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithTLS(nil)}},
		{"backoff inverted", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithReconnectBackoff(time.Second, time.Millisecond)}},
		{"max record zero", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithMaxRecordSize(0)}},
		{"negative backoff reset", "127.0.0.1:1", "proto::x", []stomp.Option{stomp.WithBackoffReset(-time.Second)}},
	} {
		if _, err := stomp.New(tc.addr, tc.id, tc.opts...); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	for _, addr := range []string{"127.0.0.1:61614", "stomps://127.0.0.1", "ssl://[::1]:61614"} {
		if _, err := stomp.New(addr, "proto::x", stomp.WithTLS(&tls.Config{}), stomp.WithHeartBeat(0, 0)); err != nil {
			t.Errorf("valid config %s rejected: %v", addr, err)
		}
	}
}

// New takes the broker's address as host:port or as a stomp:// URL, like
// mqtt.New; both reach the same broker.
func TestNewAddressForms(t *testing.T) {
	addr := brokertest.StartStompServer(t)
	for _, form := range []string{addr, "stomp://" + addr, "STOMP://" + addr + "/"} {
		t.Run(form, func(t *testing.T) {
			start(t, form, "proto::form", stomp.WithDestination("/queue/forms"))
		})
	}
}
