package usp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// faultyPair starts a controller and two usptest agents over memory: one
// that the test makes misbehave, and a bystander that must not notice.
func faultyPair(t *testing.T, opts ...usp.Option) (c *usp.Controller, bad, good *usptest.Agent) {
	t.Helper()
	net := memory.NewNetwork()
	ct, err := net.Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	c, err = usp.NewController(ctrlID, append([]usp.Option{usp.WithTransport(ct)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	mk := func(id string) *usptest.Agent {
		at, err := net.Endpoint(id)
		if err != nil {
			t.Fatal(err)
		}
		return runAgent(t, id, usptest.WithTransport(at), usptest.WithController(ctrlID, memAddr(ctrlID)),
			usptest.WithNotifyRetry(20*time.Millisecond, 100*time.Millisecond))
	}
	bad, good = mk("proto::faulty"), mk("proto::bystander")
	waitUntil(t, func() bool { return len(c.Agents()) == 2 })
	return c, bad, good
}

func bystanderOK(t *testing.T, c *usp.Controller, good *usptest.Agent) {
	t.Helper()
	if _, err := c.Agent(good.EndpointID()).GetValue(ctxT(t), "Device.DeviceInfo.SoftwareVersion"); err != nil {
		t.Fatalf("bystander disturbed: %v", err)
	}
}

func TestFaultyAgent(t *testing.T) {
	c, bad, good := faultyPair(t)
	ag := c.Agent(bad.EndpointID())
	f := bad.Faults()

	t.Run("chosen error code", func(t *testing.T) {
		f.FailNext(uspmsg.Header_SET, msg.CodeValueConflict)
		_, err := ag.SetValues(ctxT(t), "Device.WiFi.SSID.1.", map[string]string{"SSID": "x"})
		if !errors.Is(err, msg.ErrValueConflict) {
			t.Fatalf("err = %v, want 7014", err)
		}
		bystanderOK(t, c, good)
	})

	t.Run("malformed response", func(t *testing.T) {
		f.CorruptNext(1)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := ag.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v: a corrupted response must be dropped, the call times out", err)
		}
		bystanderOK(t, c, good)
		if _, err := ag.GetValue(ctxT(t), "Device.DeviceInfo.SoftwareVersion"); err != nil {
			t.Fatalf("after the corrupted record: %v", err)
		}
	})

	t.Run("lost request", func(t *testing.T) {
		f.DropNext(1)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := ag.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("slow agent and a deadline", func(t *testing.T) {
		f.Delay(300 * time.Millisecond)
		defer f.Delay(0)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ag.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 250*time.Millisecond {
			t.Fatalf("err = %v after %v: the deadline must end the call", err, time.Since(start))
		}
		bystanderOK(t, c, good)
	})

	t.Run("garbage", func(t *testing.T) {
		for range 20 {
			if err := f.SendGarbage(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		bystanderOK(t, c, good)
	})

	t.Run("disconnect and come back", func(t *testing.T) {
		f.Reset()
		if err := f.Disconnect(ctxT(t), record.CodeSessionContextTerminated, "maintenance"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { info, _ := c.AgentInfo(bad.EndpointID()); return !info.Connected })
		// Over a broker the address outlives the goodbye: a request still
		// reaches the agent, and its answer marks it present again.
		if _, err := ag.GetValue(ctxT(t), "Device.DeviceInfo.SoftwareVersion"); err != nil {
			t.Fatal(err)
		}
		if info, _ := c.AgentInfo(bad.EndpointID()); !info.Connected {
			t.Fatal("agent not present again after it answered")
		}
	})
}

// TestNotifyRetriedUntilAnswered checks the at-least-once contract with a
// real agent: a handler that fails leaves the notification unanswered, the
// agent retries it, and once accepted the agent stops.
func TestNotifyRetriedUntilAnswered(t *testing.T) {
	var mu sync.Mutex
	var seen []*usp.Notification
	fail := 2
	c, bad, _ := faultyPair(t, usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
		if _, ok := n.Body.(*msg.ValueChange); !ok {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, n)
		if fail > 0 {
			fail--
			return fmt.Errorf("not now")
		}
		return nil
	}))
	ag := c.Agent(bad.EndpointID())
	sub, err := ag.Subscribe(ctxT(t), usp.SubscriptionSpec{NotifType: usp.NotifValueChange, ReferenceList: []string{"Device.WiFi.SSID.1.SSID"}, NotifRetry: true,
		Handler: func(context.Context, *usp.Notification) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe(context.Background())
	if err := bad.Model().Set("Device.WiFi.SSID.1.SSID", "retry-me"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 3 && len(bad.PendingNotifications()) == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if seen[0].Duplicate || !seen[1].Duplicate || !seen[2].Duplicate || seen[0].MsgID != seen[2].MsgID {
		t.Fatalf("deliveries: first duplicate=%v, retries duplicate=%v,%v, ids %s/%s", seen[0].Duplicate, seen[1].Duplicate, seen[2].Duplicate, seen[0].MsgID, seen[2].MsgID)
	}
	time.Sleep(150 * time.Millisecond)
	if len(seen) != 3 {
		t.Fatalf("%d deliveries: the agent kept retrying after the NotifyResp", len(seen))
	}
}
