package uds_test

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
)

// recorder is a Handler that collects deliveries and fails the test if it
// is ever called concurrently.
type recorder struct {
	t       testing.TB
	busy    atomic.Int32
	mu      sync.Mutex
	records []mtp.Inbound
	events  []mtp.Event
	got     chan struct{}
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, got: make(chan struct{}, 1)}
}

func (r *recorder) add(f func()) {
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

func (r *recorder) HandleRecord(in mtp.Inbound) { r.add(func() { r.records = append(r.records, in) }) }
func (r *recorder) HandleEvent(ev mtp.Event)    { r.add(func() { r.events = append(r.events, ev) }) }

// wait waits until cond holds on the recorded deliveries.
func (r *recorder) wait(what string, cond func(records []mtp.Inbound, events []mtp.Event) bool) {
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
			recs, evs := r.snapshot()
			r.t.Fatalf("timed out waiting for %s; have %d records, events %v", what, len(recs), evs)
		}
	}
}

func (r *recorder) waitRecords(n int) []mtp.Inbound {
	r.t.Helper()
	r.wait("records", func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) >= n })
	recs, _ := r.snapshot()
	return recs
}

// waitEvent waits for an event of kind k after the first skip such events.
func (r *recorder) waitEvent(k mtp.EventKind, skip int) mtp.Event {
	r.t.Helper()
	var found mtp.Event
	r.wait(k.String(), func(_ []mtp.Inbound, evs []mtp.Event) bool {
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

func (r *recorder) snapshot() ([]mtp.Inbound, []mtp.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mtp.Inbound(nil), r.records...), append([]mtp.Event(nil), r.events...)
}

func (r *recorder) kinds() []mtp.EventKind {
	_, evs := r.snapshot()
	var ks []mtp.EventKind
	for _, ev := range evs {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// sockPath returns a socket path short enough for sun_path.
func sockPath(t testing.TB) string {
	dir, err := os.MkdirTemp("", "uds")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}
