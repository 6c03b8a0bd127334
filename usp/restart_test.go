package usp_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/boltstore"
	"github.com/gousp/gousp/usp/usptest"
)

// TestRestartWithStore: a controller with the embedded store is closed
// and started again. The new run knows the agent at once (unknown until
// heard from), completes the operation the first run started when its
// OperationComplete arrives (the restored Operation's Wait and the notify
// handlers both see it), and removes the subscription the first run left
// on the agent.
func TestRestartWithStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gousp.db")
	net := memory.NewNetwork()
	const id = "proto::restart-agent"

	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c1 := newController(t, net, usp.WithStore(st), usp.WithLiveness(usp.LivenessConfig{DeviceInfo: true}))
	a := memAgent(t, net, id, usptest.WithNotifyRetry(50*time.Millisecond, 200*time.Millisecond))
	first := waitEntry(t, c1, id, func(e usp.InventoryEntry) bool { return e.DeviceInfo.SerialNumber != "" })
	sub, err := c1.Agent(id).Subscribe(ctxT(t), usp.SubscriptionSpec{NotifType: usp.NotifValueChange,
		ReferenceList: []string{"Device.DeviceInfo.ProvisioningCode"}, Handler: func(context.Context, *usp.Notification) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	// An asynchronous command that completes while no controller runs.
	op, err := c1.Agent(id).StartOperation(ctxT(t), "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if op.RequestObject() == "" {
		t.Fatal("ScheduleTimer() ran synchronously")
	}
	if err := c1.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctxT(t)); err == nil {
		t.Fatal("the first run's Wait succeeded after Close")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The completion subscription stays on the agent for the next run.
	if v, err := a.Model().Get(sub.Path() + "ID"); err != nil || v != sub.ID() {
		t.Fatalf("the first run's subscription: %q %v", v, err)
	}

	// Second run, while the command is still running or its completion is
	// being retried.
	st2, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	var mu sync.Mutex
	var completions []*msg.OperationComplete
	c2 := newController(t, net, usp.WithStore(st2), usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
		if oc, ok := n.Body.(*msg.OperationComplete); ok {
			mu.Lock()
			completions = append(completions, oc)
			mu.Unlock()
		}
		return nil
	}))
	e, ok := c2.Inventory().Get(id)
	if !ok {
		t.Fatal("the restarted controller does not know the agent")
	}
	if e.Address != memAddr(id) || !e.FirstSeen.Equal(first.FirstSeen) || e.DeviceInfo != first.DeviceInfo {
		t.Fatalf("restored entry %+v, first run had %+v", e, first)
	}
	left := c2.LeftoverSubscriptions()
	if len(left) != 1 || left[0].ID != sub.ID() || left[0].Path != sub.Path() {
		t.Fatalf("leftover subscriptions %+v, want the ValueChange one", left)
	}
	restored, ok := c2.PendingOperation(id, op.CommandKey())
	if !ok || restored.Command() != "Device.ScheduleTimer()" || restored.RequestObject() != op.RequestObject() {
		t.Fatalf("restored operation %v %+v", ok, restored)
	}
	if _, err := restored.Wait(ctxT(t)); err != nil {
		t.Fatalf("restored operation: %v", err)
	}
	mu.Lock()
	n := len(completions)
	mu.Unlock()
	if n == 0 {
		t.Fatal("the OperationComplete did not reach the notify handler")
	}
	waitEntry(t, c2, id, func(e usp.InventoryEntry) bool { return e.State == usp.StateOnline })
	// The leftover subscription is deleted from the agent, and the
	// operation's own subscription after its completion.
	deadline := time.Now().Add(10 * time.Second)
	for {
		subs, err := a.Model().Instances("Device.LocalAgent.Subscription.")
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, p := range subs {
			if v, _ := a.Model().Get(p + "ID"); len(v) > 6 && v[:6] == "gousp-" {
				left++
			}
		}
		if left == 0 && len(c2.LeftoverSubscriptions()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d controller subscriptions still on the agent", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c2.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for s, err := range st2.Subscriptions(ctxT(t)) {
		t.Fatalf("subscription still stored: %+v %v", s, err)
	}
	for o, err := range st2.Operations(ctxT(t)) {
		t.Fatalf("operation still stored: %+v %v", o, err)
	}
}
