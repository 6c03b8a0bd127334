package usp_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// Over a real broker: a notify handler blocked on one agent's Boot! holds
// up only that agent; the others' notifications are all answered (counted
// at the agents), none flagged Duplicate.
func TestIntakeIsolationOverMQTT(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	const ctrlTopic = "/usp/controller/intake"
	slowID := "proto::intake-slow"
	g := newGate(t, func(n *usp.Notification) bool { return n.AgentID == slowID })
	var dups atomic.Int32
	ct, err := mqtt.New(url, ctrlID, mqtt.WithTopic(ctrlTopic), mqtt.WithQoS(1))
	if err != nil {
		t.Fatal(err)
	}
	c, err := usp.NewController(ctrlID, usp.WithTransport(ct), usp.WithNotifyHandler(func(ctx context.Context, n *usp.Notification) error {
		if n.Duplicate {
			dups.Add(1)
		}
		return g.handler(ctx, n)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	t.Cleanup(g.release) // runs first

	start := func(id string, i int) *usptest.Agent {
		at, err := mqtt.New(url, id, mqtt.WithTopic(fmt.Sprintf("/usp/agent/intake/%d", i)), mqtt.WithQoS(1))
		if err != nil {
			t.Fatal(err)
		}
		a, err := usptest.NewAgent(id, usptest.WithTransport(at),
			usptest.WithController(ctrlID, mtp.Address{MTP: mtp.MQTT, To: ctrlTopic}),
			usptest.WithNotifyRetry(time.Minute, time.Minute)) // no retry during the test
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close(context.Background()) })
		if err := a.Model().Set("Device.LocalAgent.Subscription.1.NotifRetry", "true"); err != nil {
			t.Fatal(err)
		}
		return a
	}
	slow := start(slowID, 0) // its Boot! at Start (no send_resp) is held in the handler
	others := []*usptest.Agent{start("proto::intake-1", 1), start("proto::intake-2", 2)}

	boot := map[string]string{"Cause": "LocalReboot"}
	if err := slow.Emit(ctxT(t), "Device.Boot!", boot); err != nil {
		t.Fatal(err)
	}
	for _, a := range others {
		for range 5 {
			if err := a.Emit(ctxT(t), "Device.Boot!", boot); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, func() bool {
		return len(others[0].PendingNotifications())+len(others[1].PendingNotifications()) == 0
	})
	if p := slow.PendingNotifications(); len(p) != 1 {
		t.Fatalf("slow agent has %d notifications unanswered, want its held one", len(p))
	}
	g.release()
	eventually(t, func() bool { return len(slow.PendingNotifications()) == 0 })
	if n := dups.Load(); n != 0 {
		t.Errorf("%d first deliveries flagged Duplicate", n)
	}
}

// eventually waits for cond, generously: real brokers on a loaded machine.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
