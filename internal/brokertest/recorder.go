package brokertest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
)

// RecorderWait is how long a Recorder waits for a delivery.
const RecorderWait = 15 * time.Second

// Recorder is an mtp.Handler for the broker bindings' tests: it queues what
// a transport delivers, in order, and fails the test if the transport ever
// calls it concurrently, which mtp.Handler forbids. Tests take deliveries
// with Record and Event; Records and Events are there for tests that need
// the queues themselves.
type Recorder struct {
	t        testing.TB
	Records  chan mtp.Inbound
	Events   chan mtp.Event
	inflight atomic.Int32
}

// NewRecorder returns an empty recorder that reports to t.
func NewRecorder(t testing.TB) *Recorder {
	return &Recorder{t: t, Records: make(chan mtp.Inbound, 4096), Events: make(chan mtp.Event, 256)}
}

func (r *Recorder) enter() func() {
	if r.inflight.Add(1) > 1 {
		r.t.Error("handler called concurrently")
	}
	return func() { r.inflight.Add(-1) }
}

// HandleRecord queues in.
func (r *Recorder) HandleRecord(in mtp.Inbound) {
	defer r.enter()()
	select {
	case r.Records <- in:
	default:
		r.t.Error("record queue full")
	}
}

// HandleEvent queues ev.
func (r *Recorder) HandleEvent(ev mtp.Event) {
	defer r.enter()()
	select {
	case r.Events <- ev:
	default:
		r.t.Error("event queue full")
	}
}

// Event waits for the next event of the given kind, skipping others.
func (r *Recorder) Event(kind mtp.EventKind) mtp.Event {
	r.t.Helper()
	timeout := time.After(RecorderWait)
	for {
		select {
		case ev := <-r.Events:
			if ev.Kind == kind {
				return ev
			}
			r.t.Logf("skipping event %v", ev.Kind)
		case <-timeout:
			r.t.Fatalf("no %v event within %v", kind, RecorderWait)
		}
	}
}

// Record waits for the next record.
func (r *Recorder) Record() mtp.Inbound {
	r.t.Helper()
	select {
	case in := <-r.Records:
		return in
	case <-time.After(RecorderWait):
		r.t.Fatalf("no record within %v", RecorderWait)
	}
	return mtp.Inbound{}
}

// NoRecord fails the test if a record arrives within d.
func (r *Recorder) NoRecord(d time.Duration) {
	r.t.Helper()
	select {
	case in := <-r.Records:
		r.t.Fatalf("unexpected record %q (reply to %v)", in.Data, in.ReplyTo)
	case <-time.After(d):
	}
}

// InFlight reports how many handler calls are running now (0 or 1 for a
// transport that keeps the mtp.Handler contract).
func (r *Recorder) InFlight() int32 { return r.inflight.Load() }

// Compete checks how a broker shares records sent to two competing
// consumers (two processes of a scaled-out controller on one shared
// subscription or queue): it takes n distinct records from a and b, and
// fails the test unless each reached exactly one of them, no extra copy
// follows, and both got a share. It returns how many each got.
func Compete(t testing.TB, n int, a, b *Recorder) [2]int {
	t.Helper()
	seen := map[string]int{}
	var got [2]int
	deadline := time.After(RecorderWait)
	for len(seen) < n {
		select {
		case in := <-a.Records:
			seen[string(in.Data)]++
			got[0]++
		case in := <-b.Records:
			seen[string(in.Data)]++
			got[1]++
		case <-deadline:
			t.Fatalf("only %d of %d records arrived", len(seen), n)
		}
	}
	a.NoRecord(100 * time.Millisecond)
	b.NoRecord(10 * time.Millisecond)
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%q delivered %d times", k, c)
		}
	}
	if got[0] == 0 || got[1] == 0 {
		t.Errorf("the broker gave every record to one consumer: %v", got)
	}
	return got
}
