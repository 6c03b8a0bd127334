// Package mtptest wraps an [mtp.Transport] in one that loses, duplicates,
// reorders and delays the records it sends, and records what passes, for
// tests of the layers above a transport (the session context, the
// controller's correlation and retries).
//
// # Faults
//
// A [Faulty] transport applies [Faults] to every record it sends: each
// record is lost, sent twice, held back behind the next one, or delayed,
// at random with the given probabilities, from a seeded source so that a
// failing run can be repeated. [Faulty.SetIntercept] decides record by
// record instead, for tests that need one exact loss ("the agent's next
// answer"). Records received are not altered: wrap both ends to disturb
// both directions.
//
// # Observation
//
// [Faulty.Sent] and [Faulty.Received] return the records the wrapped end
// sent (before faults) and received, for assertions on the wire.
// [Faulty.Trace] adds when each was sent or received and what the faults
// did to it; [FormatTrace] merges the traces of both ends into lines a
// failing test prints, so that a failure met once in CI can be read.
package mtptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gousp/gousp/mtp"
)

// Faults are the probabilities, from 0 to 1, of what happens to each
// record sent.
type Faults struct {
	Drop      float64       // the record is lost
	Duplicate float64       // the record is sent twice
	Reorder   float64       // the record is held back and sent after the next one
	Delay     time.Duration // each record waits up to this long, at random (records may overtake each other)
	Seed      uint64        // of the random source
}

// Counts says how many records each fault hit.
type Counts struct {
	Dropped, Duplicated, Held int
}

// Action is what an intercept decides for one record.
type Action int

// Actions of an intercept.
const (
	Pass      Action = iota // send as usual (the random Faults still apply)
	Drop                    // lose it
	Duplicate               // send it twice
	Hold                    // send it after the next record

	// Arrived marks a record received, in a [Faulty.Trace]; it is not
	// an action to intercept with.
	Arrived Action = -1
)

// Faulty is an mtp.Transport that disturbs the records it sends.
type Faulty struct {
	mtp.Transport

	mu        sync.Mutex
	f         Faults
	rng       *rand.Rand
	intercept func(data []byte) Action
	held      *heldRecord
	sent      [][]byte
	received  [][]byte
	trace     []Event
	counts    Counts
	closed    bool
	wg        sync.WaitGroup
	stop      chan struct{}
}

// Event is one record handed to [Faulty.Send] and what the faults did
// with it, for diagnosing a failed test.
type Event struct {
	At     time.Time
	Action Action // Pass, Drop, Duplicate or Hold
	Data   []byte
}

// String names the action as a trace shows it.
func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Drop:
		return "DROP"
	case Duplicate:
		return "DUP"
	case Hold:
		return "HOLD"
	case Arrived:
		return "recv"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

type heldRecord struct {
	to   mtp.Address
	data []byte
}

// Wrap returns t disturbed by f.
func Wrap(t mtp.Transport, f Faults) *Faulty {
	return &Faulty{Transport: t, f: f, rng: rand.New(rand.NewPCG(f.Seed, 0xfa017)), stop: make(chan struct{})}
}

// SetFaults replaces the faults from now on, with a random source seeded
// anew from f.Seed.
func (t *Faulty) SetFaults(f Faults) {
	t.mu.Lock()
	t.f = f
	t.rng = rand.New(rand.NewPCG(f.Seed, 0xfa017))
	t.mu.Unlock()
}

// SetIntercept makes f decide the fate of each record sent before the
// random faults apply; nil removes it. f runs under the transport's lock:
// it must not call the transport.
func (t *Faulty) SetIntercept(f func(data []byte) Action) {
	t.mu.Lock()
	t.intercept = f
	t.mu.Unlock()
}

// Sent returns the records sent through t so far, as the layer above
// handed them over, faults notwithstanding.
func (t *Faulty) Sent() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.sent)
}

// Trace returns every record sent through t so far with what the faults
// did to it, in the order handed over, and every record received (as
// Arrived), as delivered to the layer above.
func (t *Faulty) Trace() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.trace)
}

// Counts returns how many records the faults hit so far.
func (t *Faulty) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}

// Received returns the records t received so far.
func (t *Faulty) Received() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.received)
}

// Start starts the wrapped transport, recording what it receives.
func (t *Faulty) Start(ctx context.Context, h mtp.Handler) error {
	return t.Transport.Start(ctx, mtp.HandlerFuncs{
		Record: func(in mtp.Inbound) {
			t.mu.Lock()
			t.received = append(t.received, in.Data)
			t.trace = append(t.trace, Event{At: time.Now(), Action: Arrived, Data: in.Data})
			t.mu.Unlock()
			h.HandleRecord(in)
		},
		Event: h.HandleEvent,
	})
}

// Send sends record, or not, or twice, or later, as the faults decide. A
// lost record is not an error: the loss happened on the way.
func (t *Faulty) Send(ctx context.Context, to mtp.Address, record []byte) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return t.Transport.Send(ctx, to, record) // the wrapped transport says ErrClosed
	}
	t.sent = append(t.sent, record)
	act := Pass
	if t.intercept != nil {
		act = t.intercept(record)
	}
	if act == Pass {
		switch r := t.rng.Float64(); {
		case r < t.f.Drop:
			act = Drop
		case r < t.f.Drop+t.f.Duplicate:
			act = Duplicate
		case r < t.f.Drop+t.f.Duplicate+t.f.Reorder && t.held == nil:
			act = Hold
		}
	}
	t.trace = append(t.trace, Event{At: time.Now(), Action: act, Data: record})
	var out []heldRecord
	switch act {
	case Drop:
		t.counts.Dropped++
	case Hold:
		t.counts.Held++
		if t.held == nil {
			t.held = &heldRecord{to, record}
			break
		}
		out = append(out, heldRecord{to, record})
	case Duplicate:
		t.counts.Duplicated++
		out = append(out, heldRecord{to, record}, heldRecord{to, record})
	default:
		out = append(out, heldRecord{to, record})
	}
	if act != Hold && t.held != nil {
		out = append(out, *t.held)
		t.held = nil
	}
	var delays []time.Duration
	if t.f.Delay > 0 {
		for range out {
			delays = append(delays, time.Duration(t.rng.Int64N(int64(t.f.Delay)+1)))
		}
		t.wg.Add(len(out))
	}
	t.mu.Unlock()
	var first error
	for i, r := range out {
		if delays == nil {
			if err := t.Transport.Send(ctx, r.to, r.data); err != nil && first == nil {
				first = err
			}
			continue
		}
		go func() {
			defer t.wg.Done()
			select {
			case <-time.After(delays[i]):
				_ = t.Transport.Send(context.Background(), r.to, r.data)
			case <-t.stop:
			}
		}()
	}
	return first
}

// Flush sends a record held back for reordering now, and waits until the
// delayed records have been handed on, so that after it nothing sent
// before arrives late (or until ctx ends).
func (t *Faulty) Flush(ctx context.Context) error {
	t.mu.Lock()
	h := t.held
	t.held = nil
	t.mu.Unlock()
	var err error
	if h != nil {
		err = t.Transport.Send(ctx, h.to, h.data)
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// Close drops delayed and held records and closes the wrapped transport.
func (t *Faulty) Close(ctx context.Context) error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.stop)
	}
	t.held = nil
	t.mu.Unlock()
	t.wg.Wait()
	return t.Transport.Close(ctx)
}
