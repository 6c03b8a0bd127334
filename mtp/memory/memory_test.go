package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Handler that collects deliveries and fails the test if it
// is ever called concurrently.
type recorder struct {
	t       testing.TB
	busy    atomic.Int32
	mu      sync.Mutex
	records []mtp.Inbound
	events  []mtp.Event
	got     chan struct{}
	block   chan struct{} // if not nil, HandleRecord waits on it
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, got: make(chan struct{}, 1<<16)}
}

func (r *recorder) enter() {
	if r.busy.Add(1) != 1 {
		r.t.Error("handler called concurrently")
	}
}

func (r *recorder) HandleRecord(in mtp.Inbound) {
	r.enter()
	defer r.busy.Add(-1)
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	r.records = append(r.records, in)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) HandleEvent(ev mtp.Event) {
	r.enter()
	defer r.busy.Add(-1)
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.got <- struct{}{}
}

// wait waits until cond holds on the recorded deliveries.
func (r *recorder) wait(cond func(records []mtp.Inbound, events []mtp.Event) bool) {
	r.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r.records, r.events)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			r.t.Fatal("timed out waiting for deliveries")
		}
	}
}

func (r *recorder) snapshot() ([]mtp.Inbound, []mtp.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mtp.Inbound(nil), r.records...), append([]mtp.Event(nil), r.events...)
}

func start(t *testing.T, n *memory.Network, name string, opts ...memory.Option) (*memory.Endpoint, *recorder) {
	t.Helper()
	e, err := n.Endpoint(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder(t)
	if err := e.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e, r
}

func addr(name string) mtp.Address { return mtp.Address{MTP: mtp.Memory, To: name} }

func TestRoundTrip(t *testing.T) {
	n := memory.NewNetwork()
	a, ra := start(t, n, "proto::controller")
	b, rb := start(t, n, "proto::agent")
	ctx := context.Background()

	rec := []byte("request")
	if err := a.Send(ctx, addr("proto::agent"), rec); err != nil {
		t.Fatal(err)
	}
	rec[0] = 'X' // the transport must have copied it
	rb.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == 1 })
	in, _ := rb.snapshot()
	if string(in[0].Data) != "request" {
		t.Errorf("data = %q, want %q", in[0].Data, "request")
	}
	if in[0].ReplyTo != addr("proto::controller") || in[0].PeerID != "proto::controller" {
		t.Errorf("reply-to %v peer %q", in[0].ReplyTo, in[0].PeerID)
	}
	if err := b.Send(ctx, in[0].ReplyTo, []byte("response")); err != nil {
		t.Fatal(err)
	}
	ra.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == 1 })
	got, evs := ra.snapshot()
	if string(got[0].Data) != "response" {
		t.Errorf("answer = %q", got[0].Data)
	}
	if len(evs) == 0 || evs[0].Kind != mtp.Up || evs[0].Local != addr("proto::controller") {
		t.Errorf("first event = %+v, want Up with local address", evs)
	}
}

func TestSendErrors(t *testing.T) {
	n := memory.NewNetwork()
	a, _ := start(t, n, "a", memory.WithMaxRecordSize(8))
	start(t, n, "b")
	idle, err := n.Endpoint("idle") // never started
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(context.Background())
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name string
		ctx  context.Context
		to   mtp.Address
		rec  []byte
		want error
	}{
		{"unknown peer", context.Background(), addr("nobody"), []byte("x"), mtp.ErrUnknownPeer},
		{"peer not started", context.Background(), addr("idle"), []byte("x"), mtp.ErrUnknownPeer},
		{"empty address", context.Background(), mtp.Address{}, []byte("x"), mtp.ErrBadAddress},
		{"other binding", context.Background(), mtp.Address{MTP: mtp.MQTT, To: "b"}, []byte("x"), mtp.ErrBadAddress},
		{"too large", context.Background(), addr("b"), make([]byte, 9), mtp.ErrTooLarge},
		{"cancelled", cancelled, addr("b"), []byte("x"), context.Canceled},
		{"no binding named", context.Background(), mtp.Address{To: "b"}, []byte("x"), nil},
		{"at limit", context.Background(), addr("b"), make([]byte, 8), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Send(tt.ctx, tt.to, tt.rec)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
		})
	}

	if err := idle.Send(context.Background(), addr("a"), nil); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("send before Start = %v, want ErrNotStarted", err)
	}
	idle.Close(context.Background())
	if err := idle.Send(context.Background(), addr("a"), nil); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("send after Close = %v, want ErrClosed", err)
	}
}

func TestQueueFull(t *testing.T) {
	n := memory.NewNetwork()
	a, _ := start(t, n, "a")
	b, err := n.Endpoint("b", memory.WithQueueSize(2))
	if err != nil {
		t.Fatal(err)
	}
	rb := newRecorder(t)
	rb.block = make(chan struct{})
	if err := b.Start(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first record is taken by the blocked handler; two more fill the queue.
	if err := a.Send(ctx, addr("b"), []byte("0")); err != nil {
		t.Fatal(err)
	}
	sent := 1
	for {
		err := a.Send(ctx, addr("b"), []byte("1"))
		if errors.Is(err, memory.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Whether or not the handler took the first record yet, at most
		// three can be accepted.
		if sent++; sent > 3 {
			t.Fatalf("%d records accepted by a queue of 2 with a blocked handler", sent)
		}
	}
	close(rb.block)
	rb.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == sent })
	if err := a.Send(ctx, addr("b"), []byte("2")); err != nil {
		t.Errorf("send after draining = %v", err)
	}
	rb.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == sent+1 })
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOrderAndNoConcurrency(t *testing.T) {
	n := memory.NewNetwork()
	_, rb := start(t, n, "sink")
	const senders, each = 4, 200
	var wg sync.WaitGroup
	for s := range senders {
		e, _ := start(t, n, fmt.Sprint("src", s))
		wg.Go(func() {
			for i := range each {
				if err := e.Send(context.Background(), addr("sink"), fmt.Appendf(nil, "%d", i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rb.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == senders*each })
	recs, _ := rb.snapshot()
	next := map[string]int{}
	for _, in := range recs {
		if want := fmt.Sprint(next[in.PeerID]); string(in.Data) != want {
			t.Fatalf("from %s got %s, want %s (out of order)", in.PeerID, in.Data, want)
		}
		next[in.PeerID]++
	}
}

func TestFaults(t *testing.T) {
	n := memory.NewNetwork()
	a, ra := start(t, n, "a")
	b, rb := start(t, n, "b")
	ctx := context.Background()

	// Drop hook: records from a to b vanish silently.
	var dropped atomic.Int32
	n.SetDrop(func(from, to string, data []byte) bool {
		if from == "a" && bytes.HasPrefix(data, []byte("lose")) {
			dropped.Add(1)
			return true
		}
		return false
	})
	for _, s := range []string{"lose-1", "keep-1", "lose-2", "keep-2"} {
		if err := a.Send(ctx, addr("b"), []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	rb.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == 2 })
	if recs, _ := rb.snapshot(); string(recs[0].Data) != "keep-1" || string(recs[1].Data) != "keep-2" || dropped.Load() != 2 {
		t.Errorf("after drop hook got %q %q, dropped %d", recs[0].Data, recs[1].Data, dropped.Load())
	}
	n.SetDrop(nil)

	// Disconnect: both directions fail, handler sees Down then Up.
	cause := errors.New("cable cut")
	if err := n.Disconnect("b", cause); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, addr("b"), []byte("x")); !errors.Is(err, mtp.ErrNotConnected) {
		t.Errorf("send to disconnected = %v", err)
	}
	if err := b.Send(ctx, addr("a"), []byte("x")); !errors.Is(err, mtp.ErrNotConnected) {
		t.Errorf("send from disconnected = %v", err)
	}
	if b.State() != mtp.Disconnected {
		t.Errorf("state = %v", b.State())
	}
	if err := n.Disconnect("b", nil); err == nil {
		t.Error("second Disconnect succeeded")
	}
	if err := n.Reconnect("b"); err != nil {
		t.Fatal(err)
	}
	rb.wait(func(_ []mtp.Inbound, evs []mtp.Event) bool { return len(evs) == 3 })
	_, evs := rb.snapshot()
	if evs[1].Kind != mtp.Down || !errors.Is(evs[1].Err, cause) || evs[2].Kind != mtp.Up {
		t.Errorf("events = %+v", evs)
	}
	if err := a.Send(ctx, addr("b"), []byte("back")); err != nil {
		t.Errorf("send after Reconnect = %v", err)
	}

	// Inject: a record from a peer that does not exist.
	if err := n.Inject("proto::evil", "a", []byte{0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	ra.wait(func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) == 1 })
	if recs, _ := ra.snapshot(); recs[0].PeerID != "proto::evil" || !bytes.Equal(recs[0].Data, []byte{0xff, 0}) {
		t.Errorf("injected = %+v", recs[0])
	}
	if err := n.Inject("x", "nobody", nil); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Errorf("inject to unknown = %v", err)
	}
	if err := n.Disconnect("nobody", nil); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Errorf("disconnect unknown = %v", err)
	}
}

func TestDisconnectLosesQueuedRecords(t *testing.T) {
	n := memory.NewNetwork()
	a, _ := start(t, n, "a")
	b, err := n.Endpoint("b")
	if err != nil {
		t.Fatal(err)
	}
	rb := newRecorder(t)
	rb.block = make(chan struct{})
	if err := b.Start(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	for i := range 5 {
		if err := a.Send(context.Background(), addr("b"), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Disconnect("b", nil); err != nil {
		t.Fatal(err)
	}
	close(rb.block)
	rb.wait(func(_ []mtp.Inbound, evs []mtp.Event) bool { return len(evs) == 2 })
	recs, evs := rb.snapshot()
	// At most the record already in the handler survives.
	if len(recs) > 1 || evs[1].Kind != mtp.Down {
		t.Errorf("%d records delivered after disconnect, events %+v", len(recs), evs)
	}
}

func TestLifecycle(t *testing.T) {
	n := memory.NewNetwork()
	e, err := n.Endpoint("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Endpoint("a"); !errors.Is(err, memory.ErrNameInUse) {
		t.Errorf("duplicate name = %v", err)
	}
	if e.State() != mtp.Disconnected || e.Kind() != mtp.Memory || e.Name() != "a" {
		t.Errorf("new endpoint: state %v kind %v", e.State(), e.Kind())
	}
	r := newRecorder(t)
	if err := e.Start(context.Background(), nil); err == nil {
		t.Error("Start with nil handler succeeded")
	}
	if err := e.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), r); err == nil {
		t.Error("second Start succeeded")
	}
	if e.State() != mtp.Connected {
		t.Errorf("state = %v", e.State())
	}
	for range 2 {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
	if e.State() != mtp.Closed {
		t.Errorf("state = %v", e.State())
	}
	if err := e.Start(context.Background(), r); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
	// The name is free again: a restarted agent can take it.
	e2, err := n.Endpoint("a")
	if err != nil {
		t.Fatalf("reuse name: %v", err)
	}
	e2.Close(context.Background())

	for _, o := range []memory.Option{memory.WithQueueSize(0), memory.WithMaxRecordSize(-1), memory.WithLogger(nil)} {
		if _, err := n.Endpoint("bad", o); err == nil {
			t.Error("bad option accepted")
		}
	}
	if _, err := n.Endpoint(""); !errors.Is(err, mtp.ErrBadAddress) {
		t.Errorf("empty name = %v", err)
	}
}

func TestCloseWhileHandlerBlocked(t *testing.T) {
	n := memory.NewNetwork()
	a, _ := start(t, n, "a")
	b, err := n.Endpoint("b")
	if err != nil {
		t.Fatal(err)
	}
	rb := newRecorder(t)
	rb.block = make(chan struct{})
	if err := b.Start(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(context.Background(), addr("b"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck handler = %v, want deadline exceeded", err)
	}
	close(rb.block)
	if err := b.Close(context.Background()); err != nil {
		t.Error(err)
	}
	time.Sleep(10 * time.Millisecond) // let the waiter goroutine finish for goleak
}
