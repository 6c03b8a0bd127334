package stomp_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

const wait = 15 * time.Second

// recorder is the brokers' test handler (internal/brokertest).
type recorder = brokertest.Recorder

func newRecorder(t testing.TB) *recorder { return brokertest.NewRecorder(t) }

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
	up := rec.Event(mtp.Up)
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
