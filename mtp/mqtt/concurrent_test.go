package mqtt_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/embedbroker"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// downCounter counts the transport's Down events.
type downCounter struct{ downs atomic.Int32 }

func (d *downCounter) HandleRecord(mtp.Inbound) {}
func (d *downCounter) HandleEvent(ev mtp.Event) {
	if ev.Kind == mtp.Down {
		d.downs.Add(1)
	}
}

// TestConcurrentSendsKeepPacketsWhole sends from many goroutines at once
// through a real mosquitto, which drops a client whose packets arrive
// interleaved ("malformed packet"). Found against OB-USP-A: a background
// Unsubscribe overlapping the next request broke the connection.
func TestConcurrentSendsKeepPacketsWhole(t *testing.T) {
	url := brokertest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := mqtt.New(url, "proto::concurrent", mqtt.WithTopic("/concurrent/in"), mqtt.WithQoS(1))
	if err != nil {
		t.Fatal(err)
	}
	ev := &downCounter{}
	if err := tr.Start(ctx, ev); err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	rec := make([]byte, 300)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				sctx, c := context.WithTimeout(ctx, 5*time.Second)
				if err := tr.Send(sctx, mtp.Address{MTP: mtp.MQTT, To: "/concurrent/out"}, rec); err != nil {
					failed.Add(1)
				}
				c()
			}
		}()
	}
	wg.Wait()
	if n, f := ev.downs.Load(), failed.Load(); n > 0 || f > 0 {
		t.Fatalf("the connection went down %d times and %d sends failed: packets were interleaved", n, f)
	}
}

// blackHole swallows PUBLISHes to one topic: no PUBACK ever comes.
var blackHole = embedbroker.InterceptorFuncs{In: func(_ embedbroker.Client, p *embedbroker.Packet) bool {
	return p.Type != embedbroker.PacketPublish || p.Topic != "/black/hole"
}}

// TestSendFailsWhenConnectionDropsMidPublish: a QoS 1 send waiting for its
// PUBACK must fail as soon as the connection is lost, not after paho's
// packet timeout.
func TestSendFailsWhenConnectionDropsMidPublish(t *testing.T) {
	m := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{Interceptor: blackHole})
	tr, err := mqtt.New(m.URL(), "proto::mid-publish", mqtt.WithTopic("/mid/in"), mqtt.WithQoS(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background(), &downCounter{}); err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- tr.Send(context.Background(), mtp.Address{MTP: mtp.MQTT, To: "/black/hole"}, []byte("record"))
	}()
	time.Sleep(200 * time.Millisecond)
	m.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, mtp.ErrNotConnected) {
			t.Fatalf("err = %v, want mtp.ErrNotConnected", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("send failed only after %v", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("send still waiting for its PUBACK after the connection dropped")
	}
}

// TestNoSubscriberError: with WithNoSubscriberError a send to a topic no
// client subscribes to fails at once (mosquitto answers PUBACK 0x10);
// without it, it succeeds as MQTT says.
func TestNoSubscriberError(t *testing.T) {
	url := brokertest.StartMosquitto(t)
	for _, strict := range []bool{false, true} {
		opts := []mqtt.Option{mqtt.WithTopic("/nosub/in"), mqtt.WithQoS(1)}
		if strict {
			opts = append(opts, mqtt.WithNoSubscriberError())
		}
		tr, err := mqtt.New(url, "proto::nosub", opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(context.Background(), &downCounter{}); err != nil {
			t.Fatal(err)
		}
		err = tr.Send(context.Background(), mtp.Address{MTP: mtp.MQTT, To: "/nobody/listens"}, []byte("record"))
		if strict && !errors.Is(err, mtp.ErrUnknownPeer) {
			t.Errorf("strict send = %v, want mtp.ErrUnknownPeer", err)
		}
		if !strict && err != nil {
			t.Errorf("send = %v, want success", err)
		}
		// A topic someone listens to is fine either way.
		if err := tr.Send(context.Background(), mtp.Address{MTP: mtp.MQTT, To: "/nosub/in"}, []byte("record")); err != nil {
			t.Errorf("send to a subscribed topic: %v", err)
		}
		_ = tr.Close(context.Background())
	}
}
