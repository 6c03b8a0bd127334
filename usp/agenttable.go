package usp

import (
	"hash/maphash"
	"iter"
	"sync"
)

// tableShards is how many parts the controller's agent and subscription
// tables are split into. Every record an agent sends looks its agent up,
// and every notification its subscription: with one lock over the whole
// table (the controller mutex, before issue 14), each of them waited on
// every other agent's.
const tableShards = 64

// shardTable is a map split into shards by a hash of the endpoint ID its
// keys belong to, each with a lock of its own.
//
// Its rule: the map changes only while the controller mutex (c.mu) and the
// shard's lock are both held; reading needs one of them. Code that holds
// c.mu reads and walks the table as before (each lookup takes the shard's
// lock too, which costs little); the intake's hot path reads with the
// shard's lock alone, so records from unrelated agents do not contend.
// Lock order: c.mu, then a shard's lock, then an agent's own (agentState.mu);
// nothing takes c.mu while holding a shard's lock.
type shardTable[K comparable, V any] struct {
	seed   maphash.Seed
	idOf   func(K) string
	shards [tableShards]tableShard[K, V]
}

type tableShard[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
	_  [112]byte // pads the shard to 128 bytes: its hot fields and the next shard's are 64 or more bytes apart, never on one cache line, however the array is aligned
}

func newShardTable[K comparable, V any](idOf func(K) string) *shardTable[K, V] {
	t := &shardTable[K, V]{seed: maphash.MakeSeed(), idOf: idOf}
	for i := range t.shards {
		t.shards[i].m = make(map[K]V)
	}
	return t
}

func (t *shardTable[K, V]) shard(k K) *tableShard[K, V] {
	return &t.shards[maphash.String(t.seed, t.idOf(k))%tableShards]
}

// get looks k up; it needs no other lock.
func (t *shardTable[K, V]) get(k K) (V, bool) {
	s := t.shard(k)
	s.mu.Lock()
	v, ok := s.m[k]
	s.mu.Unlock()
	return v, ok
}

// put stores v under k; c.mu is held.
func (t *shardTable[K, V]) put(k K, v V) {
	s := t.shard(k)
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
}

// del removes k; c.mu is held.
func (t *shardTable[K, V]) del(k K) {
	s := t.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// len counts the entries; c.mu is held.
func (t *shardTable[K, V]) len() int {
	n := 0
	for i := range t.shards {
		n += len(t.shards[i].m)
	}
	return n
}

// all walks every entry, starting at shard first (mod the shard count);
// c.mu is held, so nothing is added or removed meanwhile except by the
// loop's body, which may call del.
func (t *shardTable[K, V]) all(first int) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for i := range tableShards {
			for k, v := range t.shards[(first+i)%tableShards].m {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// drain empties the table and returns what it held; c.mu is held.
func (t *shardTable[K, V]) drain() map[K]V {
	out := make(map[K]V)
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, v := range s.m {
			out[k] = v
		}
		s.m = make(map[K]V)
		s.mu.Unlock()
	}
	return out
}

func agentKey(id string) string   { return id }
func subKeyAgent(k subKey) string { return k.agent }
