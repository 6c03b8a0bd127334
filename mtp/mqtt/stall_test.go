package mqtt_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// TestSendHonoursContextWhenBrokerStopsReading: at QoS 0 nothing but the
// write waits on the broker. Once the broker stops reading, a send with a
// short context returns when the context ends, and Close returns within
// its own context.
func TestSendHonoursContextWhenBrokerStopsReading(t *testing.T) {
	broker := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{})
	proxy := brokertest.NewStallProxy(t, broker.Addr())
	tr, err := mqtt.New("mqtt://"+proxy.Addr(), "proto::stalled", append(fastOpts(t), mqtt.WithTopic("/usp/stalled"), mqtt.WithQoS(0))...)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Event(mtp.Up)
	proxy.Stall()
	big := make([]byte, 1<<20)
	to := mtp.Address{MTP: mqtt.Kind, To: "/usp/elsewhere"}
	var stuck error
	for i := 0; i < 200 && stuck == nil; i++ {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err := tr.Send(sctx, to, big)
		took := time.Since(start)
		scancel()
		if took > 4*time.Second {
			t.Fatalf("send %d took %v with a 1 s context", i, took)
		}
		if err != nil {
			stuck = err
		}
	}
	if !errors.Is(stuck, context.DeadlineExceeded) && !errors.Is(stuck, mtp.ErrNotConnected) {
		t.Fatalf("sends to a broker that stopped reading never failed: %v", stuck)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ccancel()
	start := time.Now()
	_ = tr.Close(cctx)
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("Close took %v with a 2 s context", took)
	}
}

// TestDialerKeepsTLSMinimum: a TLS configuration handed to a custom
// dialer never allows less than TLS 1.2.
func TestDialerKeepsTLSMinimum(t *testing.T) {
	got := make(chan *tls.Config, 1)
	tr, err := mqtt.New("custom://broker.example:1", "proto::x",
		mqtt.WithTLS(&tls.Config{MinVersion: tls.VersionTLS10}),
		mqtt.WithDialer(func(_ context.Context, _ *url.URL, cfg *tls.Config) (net.Conn, error) {
			select {
			case got <- cfg:
			default:
			}
			return nil, errors.New("no network in this test")
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = tr.Start(ctx, newRecorder(t))
	_ = tr.Close(context.Background())
	cfg := <-got
	if cfg == nil || cfg.MinVersion < tls.VersionTLS12 {
		t.Fatalf("dialer got TLS config %+v, want MinVersion >= TLS 1.2", cfg)
	}
}
