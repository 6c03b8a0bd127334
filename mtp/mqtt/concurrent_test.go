package mqtt_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
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
