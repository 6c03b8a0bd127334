package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// RunShared checks what a store that several controller processes share
// (usp.WithCluster) needs beyond [Run]: it implements [usp.AgentLookup],
// and of two records of one agent the one with the later LastSeen wins,
// whichever is written last; and if it implements [usp.OrphanClaims], one
// claim per notification succeeds, whoever makes it. open is called once per subtest and must
// return an empty store.
func RunShared(t *testing.T, open func(t *testing.T) usp.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	rec := func(seen time.Duration, topic string) usp.InventoryEntry {
		return usp.InventoryEntry{EndpointID: "os::shared", Address: mtp.Address{MTP: mtp.MQTT, To: topic},
			State: usp.StateOnline, Since: at, FirstSeen: at, LastSeen: at.Add(seen)}
	}
	t.Run("lookup", func(t *testing.T) {
		s := open(t)
		lk, ok := s.(usp.AgentLookup)
		if !ok {
			t.Fatalf("%T does not implement usp.AgentLookup", s)
		}
		if _, found, err := lk.Agent(ctx, "os::shared"); err != nil || found {
			t.Fatalf("lookup of a missing agent: found %v, %v", found, err)
		}
		want := rec(time.Minute, "usp/agent/1")
		if err := s.PutAgents(ctx, []usp.InventoryEntry{want}); err != nil {
			t.Fatal(err)
		}
		got, found, err := lk.Agent(ctx, "os::shared")
		if err != nil || !found || !same(got, want) {
			t.Fatalf("lookup: %+v, %v, %v", got, found, err)
		}
	})
	t.Run("later LastSeen wins", func(t *testing.T) {
		s := open(t)
		fresh, stale := rec(2*time.Minute, "usp/agent/new"), rec(time.Minute, "usp/agent/old")
		if err := s.PutAgents(ctx, []usp.InventoryEntry{fresh}); err != nil {
			t.Fatal(err)
		}
		// Another process, which heard the agent earlier, writes later.
		if err := s.PutAgents(ctx, []usp.InventoryEntry{stale}); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, s.Agents(ctx)); len(got) != 1 || !same(got[0], fresh) {
			t.Fatalf("after a stale write: %+v", got)
		}
		// Both in one batch, stale last.
		fresher := rec(3*time.Minute, "usp/agent/newer")
		if err := s.PutAgents(ctx, []usp.InventoryEntry{fresher, stale}); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, s.Agents(ctx)); len(got) != 1 || !same(got[0], fresher) {
			t.Fatalf("after a batch with a stale record last: %+v", got)
		}
	})
	t.Run("orphan claims", func(t *testing.T) {
		s := open(t)
		oc, ok := s.(usp.OrphanClaims)
		if !ok {
			t.Skipf("%T does not implement usp.OrphanClaims", s)
		}
		// Processes racing for the same notifications: one winner each.
		const claimers, notes = 4, 20
		wins := make([][notes]bool, claimers)
		errs := make(chan error, claimers)
		for p := range claimers {
			go func() {
				for i := range notes {
					first, err := oc.ClaimOrphan(ctx, "os::shared", fmt.Sprintf("msg-%d", i))
					if err != nil {
						errs <- err
						return
					}
					wins[p][i] = first
				}
				errs <- nil
			}()
		}
		for range claimers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i := range notes {
			n := 0
			for p := range claimers {
				if wins[p][i] {
					n++
				}
			}
			if n != 1 {
				t.Errorf("msg-%d: %d first claims, want 1", i, n)
			}
		}
		// The same msg_id from another agent is another notification.
		if first, err := oc.ClaimOrphan(ctx, "os::other", "msg-0"); err != nil || !first {
			t.Errorf("another agent's msg-0: first %v, %v", first, err)
		}
	})
}
