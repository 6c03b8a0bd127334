package mqtt_test

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

const wait = 10 * time.Second

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
			r.t.Logf("skipping event %v", ev.Kind)
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
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug - 4})).With("test", t.Name())
}

// fastOpts make reconnection quick enough for tests.
func fastOpts(t testing.TB) []mqtt.Option {
	return []mqtt.Option{
		mqtt.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond),
		mqtt.WithConnectTimeout(5 * time.Second),
		mqtt.WithLogger(testLogger(t)),
	}
}

// start creates and starts a transport and waits for its Up event.
func start(t testing.TB, url, id string, opts ...mqtt.Option) (*mqtt.Transport, *recorder, mtp.Event) {
	t.Helper()
	tr, err := mqtt.New(url, id, append(fastOpts(t), opts...)...)
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

func send(t testing.TB, tr *mqtt.Transport, to string, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: to}, []byte(data)); err != nil {
		t.Fatalf("Send to %s: %v", to, err)
	}
}

func publish(topic, contentType, responseTopic string, payload []byte) *paho.Publish {
	return &paho.Publish{
		Topic:      topic,
		QoS:        1,
		Payload:    payload,
		Properties: &paho.PublishProperties{ContentType: contentType, ResponseTopic: responseTopic},
	}
}
