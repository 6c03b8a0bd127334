// Package peerconntest holds test helpers for the transports of package
// mtp: a [Recorder] that collects what a transport delivers, [Start] to
// start a transport with one, and [StartEcho] and [RoundTrips] for
// round-trip benchmarks.
//
// # Recorder
//
// A [Recorder] is an [mtp.Handler] that keeps every record and event in
// order and fails the test if it is ever called concurrently, which
// [mtp.Handler] forbids. Tests wait on it with [Recorder.Wait] and its
// shorthands rather than sleeping.
package peerconntest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
)

// WaitTimeout bounds every wait of a [Recorder].
const WaitTimeout = 5 * time.Second

// Recorder is an [mtp.Handler] that collects deliveries and fails the test
// if it is ever called concurrently.
type Recorder struct {
	t       testing.TB
	busy    atomic.Int32
	mu      sync.Mutex
	records []mtp.Inbound
	events  []mtp.Event
	got     chan struct{} // signalled after each delivery
}

// NewRecorder returns an empty recorder that reports to t.
func NewRecorder(t testing.TB) *Recorder {
	return &Recorder{t: t, got: make(chan struct{}, 1)}
}

func (r *Recorder) add(f func()) {
	if r.busy.Add(1) != 1 {
		r.t.Error("handler called concurrently")
	}
	defer r.busy.Add(-1)
	r.mu.Lock()
	f()
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

// HandleRecord keeps in.
func (r *Recorder) HandleRecord(in mtp.Inbound) {
	r.add(func() { r.records = append(r.records, in) })
}

// HandleEvent keeps ev.
func (r *Recorder) HandleEvent(ev mtp.Event) {
	r.add(func() { r.events = append(r.events, ev) })
}

// Wait waits until cond holds on the deliveries so far, and fails the test
// with what if it does not within [WaitTimeout]. cond must not keep the
// slices.
func (r *Recorder) Wait(what string, cond func(records []mtp.Inbound, events []mtp.Event) bool) {
	r.t.Helper()
	deadline := time.After(WaitTimeout)
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
			recs, evs := r.Snapshot()
			r.t.Fatalf("timed out waiting for %s; have %d records, events %v", what, len(recs), evs)
		}
	}
}

// WaitRecords waits for at least n records and returns all of them.
func (r *Recorder) WaitRecords(n int) []mtp.Inbound {
	r.t.Helper()
	r.Wait("records", func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) >= n })
	recs, _ := r.Snapshot()
	return recs
}

// WaitEvent waits for an event of kind k after the first skip such events,
// and returns it.
func (r *Recorder) WaitEvent(k mtp.EventKind, skip int) mtp.Event {
	r.t.Helper()
	var found mtp.Event
	r.Wait(k.String(), func(_ []mtp.Inbound, evs []mtp.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Kind == k {
				if n == skip {
					found = ev
					return true
				}
				n++
			}
		}
		return false
	})
	return found
}

// Snapshot returns copies of the records and events so far.
func (r *Recorder) Snapshot() ([]mtp.Inbound, []mtp.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mtp.Inbound(nil), r.records...), append([]mtp.Event(nil), r.events...)
}

// Kinds returns the kinds of the events so far, in order.
func (r *Recorder) Kinds() []mtp.EventKind {
	_, evs := r.Snapshot()
	var ks []mtp.EventKind
	for _, ev := range evs {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// Start starts tr with a new [Recorder], failing the test if Start does not
// succeed within [WaitTimeout], and closes tr when the test ends, failing
// it if Close does.
func Start(t testing.TB, tr mtp.Transport) *Recorder {
	t.Helper()
	r := NewRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	if err := tr.Start(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tr.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return r
}

// StartEcho starts tr with a handler that sends every record back to its
// ReplyTo, and closes tr when the benchmark ends.
func StartEcho(b *testing.B, tr mtp.Transport) {
	b.Helper()
	ctx := context.Background()
	echo := func(in mtp.Inbound) { _ = tr.Send(ctx, in.ReplyTo, in.Data) }
	if err := tr.Start(ctx, mtp.HandlerFuncs{Record: echo}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close(ctx) })
}

// RoundTrips starts cli, a client of a transport started with [StartEcho],
// and measures sending it a record of size bytes and getting the echo.
func RoundTrips(b *testing.B, cli mtp.Transport, size int) {
	b.Helper()
	ctx := context.Background()
	back := make(chan struct{}, 1)
	if err := cli.Start(ctx, mtp.HandlerFuncs{Record: func(mtp.Inbound) { back <- struct{}{} }}); err != nil {
		b.Fatal(err)
	}
	defer cli.Close(ctx)
	rec := make([]byte, size)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := cli.Send(ctx, mtp.Address{}, rec); err != nil {
			b.Fatal(err)
		}
		<-back
	}
}
