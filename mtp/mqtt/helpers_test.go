package mqtt_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

const wait = 10 * time.Second

// recorder is the brokers' test handler (internal/brokertest).
type recorder = brokertest.Recorder

func newRecorder(t testing.TB) *recorder { return brokertest.NewRecorder(t) }

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("GOUSP_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug - 4})).With("test", t.Name())
}

// fastOpts make reconnection quick enough for tests, and add the mode's
// options.
func fastOpts(t testing.TB) []mqtt.Option {
	return append(modeOpts(t),
		mqtt.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond),
		mqtt.WithConnectTimeout(5*time.Second),
		mqtt.WithLogger(testLogger(t)),
	)
}

// leanPrefix names the tests that TestLeanConnection runs again with
// mqtt.WithLeanConnection.
const leanPrefix = "TestLeanConnection/"

// minimalPrefix names the tests that TestMinimalClient runs again with
// mqtt.WithMinimalClient.
const minimalPrefix = "TestMinimalClient/"

// pahoPrefix names the tests that TestPahoClient runs again with
// mqtt.WithPahoClient (the others run on the transport's own client, the
// default).
const pahoPrefix = "TestPahoClient/"

// modeOpts are the options of the mode a test runs in: lean under
// TestLeanConnection, none otherwise.
func modeOpts(t testing.TB) []mqtt.Option {
	if strings.HasPrefix(t.Name(), leanPrefix) {
		return []mqtt.Option{mqtt.WithLeanConnection()}
	}
	if strings.HasPrefix(t.Name(), minimalPrefix) {
		return []mqtt.Option{mqtt.WithMinimalClient()}
	}
	if strings.HasPrefix(t.Name(), pahoPrefix) {
		return []mqtt.Option{mqtt.WithPahoClient()}
	}
	return nil
}

// newTransport is mqtt.New in the test's mode.
func newTransport(t testing.TB, url, id string, opts ...mqtt.Option) (*mqtt.Transport, error) {
	return mqtt.New(url, id, append(modeOpts(t), opts...)...)
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
	up := rec.Event(mtp.Up)
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
