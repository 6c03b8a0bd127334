package stomp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// TestSendHonoursContextWhenBrokerStopsReading: once the broker stops
// reading, a send with a short context returns when the context ends
// (not after go-stomp's own timeout), and Close returns within its own
// context.
func TestSendHonoursContextWhenBrokerStopsReading(t *testing.T) {
	proxy := brokertest.NewStallProxy(t, brokertest.StartStompServer(t))
	tr, err := stomp.New(proxy.Addr(), "proto::stalled", append(fastOpts(t), stomp.WithDestination("/queue/stalled"), stomp.WithConnectTimeout(2*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Event(mtp.Up)
	proxy.Stall()
	big := make([]byte, 1<<20)
	to := mtp.Address{MTP: stomp.Kind, To: "/queue/elsewhere"}
	var stuck error
	for i := 0; i < 200 && stuck == nil; i++ {
		sctx, scancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		err := tr.Send(sctx, to, big)
		took := time.Since(start)
		scancel()
		if took > 1500*time.Millisecond {
			t.Fatalf("send %d took %v with a 500 ms context", i, took)
		}
		stuck = err
	}
	if !errors.Is(stuck, context.DeadlineExceeded) && !errors.Is(stuck, mtp.ErrNotConnected) {
		t.Fatalf("sends to a broker that stopped reading never failed: %v", stuck)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	start := time.Now()
	_ = tr.Close(cctx)
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("Close took %v with a 1 s context", took)
	}
	// What go-stomp still holds ends within its send timeout: a second
	// Close waits for it, so that no goroutine outlives the test.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := tr.Close(wctx); err != nil {
		t.Fatalf("the transport's goroutines did not end: %v", err)
	}
}
