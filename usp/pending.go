package usp

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// pendingShards is how many parts the table of calls waiting for answers
// is split into. A fan-out of thousands of calls books and completes each
// one from a different goroutine; with one lock for the whole table, and
// the controller's mutex before it, every answer waited on every other
// (issue 14: unrelated agents should not contend).
const pendingShards = 64

// pendingTable holds the calls waiting for answers, by msg_id, in shards
// of their own locks. Once closed it takes no more calls, so a call booked
// while [Controller.Close] runs is either failed by Close or refused.
//
// Lock order: c.mu, then a shard's lock; no shard lock is held while
// taking c.mu.
type pendingTable struct {
	seed   maphash.Seed
	closed atomic.Bool
	shards [pendingShards]pendingShard
}

type pendingShard struct {
	mu sync.Mutex
	m  map[string]*pending
	_  [112]byte // pads the shard to 128 bytes: its hot fields and the next shard's are 64 or more bytes apart, never on one cache line, however the array is aligned
}

func newPendingTable() *pendingTable {
	t := &pendingTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*pending)
	}
	return t
}

func (t *pendingTable) shard(id string) *pendingShard {
	return &t.shards[maphash.String(t.seed, id)%pendingShards]
}

// add books p under id; it reports false once the table is closed.
func (t *pendingTable) add(id string, p *pending) bool {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.closed.Load() {
		return false
	}
	s.m[id] = p
	return true
}

// has reports whether a call waits under id.
func (t *pendingTable) has(id string) bool {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id] != nil
}

// remove drops the call under id if it is still p.
func (t *pendingTable) remove(id string, p *pending) {
	s := t.shard(id)
	s.mu.Lock()
	if s.m[id] == p {
		delete(s.m, id)
	}
	s.mu.Unlock()
}

// take removes and returns the call under id if ok accepts it; otherwise
// it leaves the table as it is and returns the call it found (nil for
// none) and false.
func (t *pendingTable) take(id string, ok func(*pending) bool) (*pending, bool) {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.m[id]
	if p == nil || !ok(p) {
		return p, false
	}
	delete(s.m, id)
	return p, true
}

// takeAll removes and returns every call match accepts.
func (t *pendingTable) takeAll(match func(*pending) bool) []*pending {
	var out []*pending
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for id, p := range s.m {
			if match(p) {
				out = append(out, p)
				delete(s.m, id)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// close refuses further calls and returns those still waiting.
func (t *pendingTable) close() []*pending {
	t.closed.Store(true)
	return t.takeAll(func(*pending) bool { return true })
}
