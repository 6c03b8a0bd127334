package usp

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gousp/gousp/mtp"
)

// newInventoryRig is a started controller on a sinkTransport with a
// MemoryStore, for driving its inventory directly.
func newInventoryRig(t testing.TB) (*Controller, *MemoryStore) {
	t.Helper()
	store := &MemoryStore{}
	c, err := NewController("proto::bench-controller", WithTransport(&sinkTransport{}), WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, store
}

// TestInventoryConcurrentUse drives the sharded inventory from many
// goroutines at once: owners marking their own agents seen, two more
// marking a shared few, agents added and forgotten over and over, the
// checker and the store's flush, and readers walking, counting and
// querying throughout. Afterwards every count agrees with a walk, every
// agent is online with the last time it was seen, and the store has it.
func TestInventoryConcurrentUse(t *testing.T) {
	c, store := newInventoryRig(t)
	l := c.live
	inv := c.Inventory()
	const agents, owners, rounds = 512, 8, 40
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("proto::inv-%04d", i)
	}
	addr := func(i int) mtp.Address { return mtp.Address{MTP: mtp.MQTT, To: "usp/agent/" + ids[i]} }
	base := time.Now().Truncate(time.Millisecond)
	last := base.Add(rounds * time.Millisecond)

	var writers, others sync.WaitGroup
	stop := make(chan struct{})
	for g := range owners {
		writers.Go(func() {
			for r := range rounds {
				for a := g; a < agents; a += owners {
					l.seen(ids[a], addr(a), base.Add(time.Duration(r)*time.Millisecond), mqttUnknown)
				}
			}
			for a := g; a < agents; a += owners {
				l.seen(ids[a], addr(a), last, mqttUnknown)
			}
		})
	}
	for range 2 {
		writers.Go(func() {
			for r := range rounds * 4 {
				l.seen(ids[r%16], addr(r%16), base, mqttUnknown) // beside their owners
			}
		})
	}
	writers.Go(func() {
		for r := range 200 {
			id := fmt.Sprintf("proto::transient-%d", r%7)
			l.seen(id, mtp.Address{MTP: mtp.MQTT, To: "t"}, time.Now(), mqttUnknown)
			if err := inv.Forget(context.Background(), id); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var walks atomic.Int64
	others.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			l.check(time.Now())
			l.flush()
		}
	})
	others.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var prev string
			for e := range inv.Query(Query{Prefix: "proto::inv-"}) {
				if e.EndpointID <= prev {
					t.Errorf("query out of order: %s after %s", e.EndpointID, prev)
				}
				prev = e.EndpointID
			}
			n := 0
			for _, v := range inv.Count() {
				n += v
			}
			if n < 0 || inv.Len() < 0 {
				t.Errorf("negative counts: %v, len %d", inv.Count(), inv.Len())
			}
			walks.Add(1)
		}
	})
	// The shared few are seen with an older time after their owners'
	// last: wait for the owners, then have them seen once more.
	writers.Wait()
	for a := range 16 {
		l.seen(ids[a], addr(a), last, mqttUnknown)
	}
	close(stop)
	others.Wait()
	if walks.Load() == 0 {
		t.Fatal("the readers never ran")
	}

	if inv.Len() != agents {
		t.Errorf("Len %d, want %d", inv.Len(), agents)
	}
	count := inv.Count()
	if count[StateOnline] != agents || count[StateUnknown] != 0 || count[StateOffline] != 0 {
		t.Errorf("Count %v, want all %d online", count, agents)
	}
	var walked []string
	for e := range inv.All() {
		walked = append(walked, e.EndpointID)
		if e.State != StateOnline || !e.LastSeen.Equal(last) {
			t.Errorf("%s: %v, last seen %v; want online, %v", e.EndpointID, e.State, e.LastSeen, last)
		}
	}
	if !slices.Equal(walked, ids) {
		t.Errorf("All() walked %d agents (%v...), want the %d in order", len(walked), walked[:min(3, len(walked))], agents)
	}
	l.flush()
	stored := map[string]InventoryEntry{}
	for e, err := range store.Agents(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		stored[e.EndpointID] = e
	}
	for _, id := range ids {
		if e, ok := stored[id]; !ok || !e.LastSeen.Equal(last) || e.State != StateOnline {
			t.Errorf("store has %s as %+v (found %v), want online, last seen %v", id, e.State, ok, last)
		}
	}
}

// BenchmarkInventorySeen is the inventory's share of every record: an
// agent already online marked seen again. Each goroutine has agents of its
// own among 10,000; run at -cpu 1,2,... to see whether they contend.
func BenchmarkInventorySeen(b *testing.B) {
	c, _ := newInventoryRig(b)
	l := c.live
	const agents = 10000
	ids := make([]string, agents)
	addrs := make([]mtp.Address, agents)
	now := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("proto::inv-%05d", i)
		addrs[i] = mtp.Address{MTP: mtp.MQTT, To: "usp/agent/" + ids[i]}
		l.seen(ids[i], addrs[i], now, mqttUnknown)
	}
	var next atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Goroutine g takes agents from its own block of 100: none
		// shares an agent, or (but at the block's edges) a cache line of
		// entries allocated one after the other.
		g := int(next.Add(1)-1) % (agents / 100)
		first := g * 100
		i := first
		for pb.Next() {
			l.seen(ids[i], addrs[i], now, mqttUnknown)
			if i++; i == first+100 {
				i = first
			}
		}
	})
}

// TestShardSizes: every sharded table's shard is 128 bytes, so that two
// shards' locks are never on one cache line (the arrays are not aligned to
// cache lines: a 64-byte shard straddles two and shares each with a
// neighbour, and cores working on unrelated agents slow each other down).
func TestShardSizes(t *testing.T) {
	sizes := map[string]uintptr{
		"inventory": unsafe.Sizeof(invShard{}),
		"agents":    unsafe.Sizeof(tableShard[string, *agentState]{}),
		"subs":      unsafe.Sizeof(tableShard[subKey, *Subscription]{}),
		"intake":    unsafe.Sizeof(intakeShard{}),
		"pending":   unsafe.Sizeof(pendingShard{}),
	}
	for name, size := range sizes {
		if size != 128 {
			t.Errorf("%s shard is %d bytes, want 128", name, size)
		}
	}
	if size := unsafe.Sizeof(laneWork{}); size < 72 {
		t.Errorf("the intake's lanes are %d bytes apart, want at least 72 (8 bytes of counters, 64 of padding)", size)
	}
}
