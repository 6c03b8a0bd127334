package stomp_test

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

const wait = 15 * time.Second

// recorder is an mtp.Handler that queues what it gets and checks that the
// transport never calls it concurrently.
type recorder struct {
	t        testing.TB
	records  chan mtp.Inbound
	events   chan mtp.Event
	inflight atomic.Int32
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, records: make(chan mtp.Inbound, 4096), events: make(chan mtp.Event, 256)}
}

func (r *recorder) enter() func() {
	if r.inflight.Add(1) > 1 {
		r.t.Error("handler called concurrently")
	}
	return func() { r.inflight.Add(-1) }
}

func (r *recorder) HandleRecord(in mtp.Inbound) {
	defer r.enter()()
	select {
	case r.records <- in:
	default:
		r.t.Error("record queue full")
	}
}

func (r *recorder) HandleEvent(ev mtp.Event) {
	defer r.enter()()
	select {
	case r.events <- ev:
	default:
		r.t.Error("event queue full")
	}
}

func (r *recorder) event(kind mtp.EventKind) mtp.Event {
	r.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev := <-r.events:
			if ev.Kind == kind {
				return ev
			}
			r.t.Logf("skipping event %v (%v)", ev.Kind, ev.Err)
		case <-timeout:
			r.t.Fatalf("no %v event within %v", kind, wait)
		}
	}
}

func (r *recorder) record() mtp.Inbound {
	r.t.Helper()
	select {
	case in := <-r.records:
		return in
	case <-time.After(wait):
		r.t.Fatalf("no record within %v", wait)
	}
	return mtp.Inbound{}
}

func (r *recorder) noRecord(d time.Duration) {
	r.t.Helper()
	select {
	case in := <-r.records:
		r.t.Fatalf("unexpected record %q (reply to %v)", in.Data, in.ReplyTo)
	case <-time.After(d):
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("GOUSP_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

func fastOpts(t testing.TB) []stomp.Option {
	return []stomp.Option{
		stomp.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond),
		stomp.WithConnectTimeout(5 * time.Second),
		stomp.WithLogger(testLogger(t)),
	}
}

// rabbitOpts log in to the test RabbitMQ node.
var rabbitOpts = []stomp.Option{stomp.WithCredentials("guest", "guest"), stomp.WithHost("/")}

func start(t testing.TB, addr, id string, opts ...stomp.Option) (*stomp.Transport, *recorder, mtp.Event) {
	t.Helper()
	tr, err := stomp.New(addr, id, append(fastOpts(t), opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := newRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Start(ctx, rec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := tr.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	up := rec.event(mtp.Up)
	if tr.State() != mtp.Connected {
		t.Fatalf("state after Up = %v", tr.State())
	}
	return tr, rec, up
}

func send(t testing.TB, tr *stomp.Transport, to, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Send(ctx, mtp.Address{MTP: stomp.Kind, To: to}, []byte(data)); err != nil {
		t.Fatalf("Send to %s: %v", to, err)
	}
}
