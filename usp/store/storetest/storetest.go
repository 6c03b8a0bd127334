// Package storetest checks that a [usp.Store] implementation behaves as
// the controller expects: run [Run] from a test of the implementation,
// e.g. one for PostgreSQL or Redis.
package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// Run checks the store that open returns; open is called once per
// subtest and must return an empty store.
func Run(t *testing.T, open func(t *testing.T) usp.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	entry := func(id string) usp.InventoryEntry {
		return usp.InventoryEntry{
			EndpointID: id, Address: mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/" + id},
			SupportedVersions: "1.3,1.4", MQTTVersion: "3.1.1", State: usp.StateOnline, Since: at, FirstSeen: at, LastSeen: at.Add(time.Minute),
			DeviceInfo: usp.DeviceInfo{ModelName: "m", SerialNumber: "s-" + id}, Heartbeat: 30 * time.Second,
		}
	}
	t.Run("agents", func(t *testing.T) {
		s := open(t)
		if err := s.PutAgents(ctx, []usp.InventoryEntry{entry("os::a"), entry("os::b"), entry("os::c")}); err != nil {
			t.Fatal(err)
		}
		changed := entry("os::b")
		changed.State, changed.Reason = usp.StateOffline, "gone"
		if err := s.PutAgents(ctx, []usp.InventoryEntry{changed}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(ctx, "os::c"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(ctx, "os::missing"); err != nil {
			t.Fatalf("deleting a missing agent: %v", err)
		}
		got := collect(t, s.Agents(ctx))
		slices.SortFunc(got, func(a, b usp.InventoryEntry) int { return strings.Compare(a.EndpointID, b.EndpointID) })
		if len(got) != 2 || !same(got[0], entry("os::a")) || !same(got[1], changed) {
			t.Fatalf("agents read back: %+v", got)
		}
	})
	t.Run("subscriptions", func(t *testing.T) {
		s := open(t)
		sub := usp.StoredSubscription{AgentID: "os::a", ID: "gousp-1", Path: "Device.LocalAgent.Subscription.3.",
			NotifType: usp.NotifValueChange, ReferenceList: []string{"Device.DeviceInfo.UpTime"}, Created: at}
		other := sub
		other.AgentID = "os::b" // same ID on another agent: another record
		for _, x := range []usp.StoredSubscription{sub, other} {
			if err := s.PutSubscription(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteSubscription(ctx, "os::b", "gousp-1"); err != nil {
			t.Fatal(err)
		}
		got := collect(t, s.Subscriptions(ctx))
		if len(got) != 1 || got[0].AgentID != "os::a" || got[0].Path != sub.Path || !got[0].Created.Equal(at) ||
			!slices.Equal(got[0].ReferenceList, sub.ReferenceList) {
			t.Fatalf("subscriptions read back: %+v", got)
		}
	})
	t.Run("operations", func(t *testing.T) {
		s := open(t)
		op := usp.StoredOperation{AgentID: "os::a", Command: "Device.X()", CommandKey: "k1",
			RequestPath: "Device.LocalAgent.Request.1", SubscriptionID: "gousp-2", Started: at}
		if err := s.PutOperation(ctx, op); err != nil {
			t.Fatal(err)
		}
		op2 := op
		op2.CommandKey = "k2"
		if err := s.PutOperation(ctx, op2); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOperation(ctx, "os::a", "k2"); err != nil {
			t.Fatal(err)
		}
		got := collect(t, s.Operations(ctx))
		if len(got) != 1 || got[0].CommandKey != "k1" || got[0].RequestPath != op.RequestPath || !got[0].Started.Equal(at) {
			t.Fatalf("operations read back: %+v", got)
		}
	})
}

func collect[T any](t *testing.T, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// same compares entries, times by instant.
func same(a, b usp.InventoryEntry) bool {
	if !a.Since.Equal(b.Since) || !a.FirstSeen.Equal(b.FirstSeen) || !a.LastSeen.Equal(b.LastSeen) || !a.LastBoot.Equal(b.LastBoot) {
		return false
	}
	a.Since, a.FirstSeen, a.LastSeen, a.LastBoot = b.Since, b.FirstSeen, b.LastSeen, b.LastBoot
	return a == b
}
