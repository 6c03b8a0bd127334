package usp_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

// BenchmarkGetMemory is one Get round trip over the in-process transport:
// the controller's own cost without a network, beside the transport alone
// carrying records of the same sizes back and forth (the ceiling).
func BenchmarkGetMemory(b *testing.B) {
	b.Run("gousp", func(b *testing.B) {
		net := memory.NewNetwork()
		agent := newScripted(b, net, "proto::agent-1", answer(getAnswer))
		c := newController(b, net, usp.WithAgent(agent.id, memAddr(agent.id)))
		ag := c.Agent(agent.id)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ag.GetValue(ctx, "Device.DeviceInfo.Manufacturer"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gousp-hooked", func(b *testing.B) {
		// The same with a hook on every request, record and notification
		// event: what an adapter costs beyond its own work.
		net := memory.NewNetwork()
		agent := newScripted(b, net, "proto::agent-1", answer(getAnswer))
		c := newController(b, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithHooks(&benchHook{}))
		ag := c.Agent(agent.id)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ag.GetValue(ctx, "Device.DeviceInfo.Manufacturer"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-memory", func(b *testing.B) {
		net := memory.NewNetwork()
		payload, _ := proto.Marshal(msg.Get{Paths: []string{"Device.DeviceInfo.Manufacturer"}}.Build(msg.NewID()))
		req, _ := record.Encode(record.NewNoSessionContext("1.3", "proto::agent-1", ctrlID, payload))
		echo, _ := net.Endpoint("proto::agent-1")
		if err := echo.Start(context.Background(), mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
			_ = echo.Send(context.Background(), in.ReplyTo, in.Data)
		}}); err != nil {
			b.Fatal(err)
		}
		defer echo.Close(context.Background())
		got := make(chan struct{}, 1)
		client, _ := net.Endpoint(ctrlID)
		if err := client.Start(context.Background(), mtp.HandlerFuncs{Record: func(mtp.Inbound) { got <- struct{}{} }}); err != nil {
			b.Fatal(err)
		}
		defer client.Close(context.Background())
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Send(context.Background(), memAddr("proto::agent-1"), req); err != nil {
				b.Fatal(err)
			}
			<-got
		}
	})
}

// BenchmarkNotifyIngest measures notifications handled and answered with
// NotifyResp, over the in-process transport, in windows of 256 in flight;
// beside it, a bare endpoint that answers every record with one of the
// NotifyResp's size (the ceiling).
func BenchmarkNotifyIngest(b *testing.B) {
	b.Run("gousp", func(b *testing.B) {
		net := memory.NewNetwork()
		newController(b, net, usp.WithAgent("proto::agent-1", memAddr("proto::agent-1")),
			usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))
		notifyWindows(b, net)
	})
	b.Run("gousp-hooked", func(b *testing.B) {
		net := memory.NewNetwork()
		newController(b, net, usp.WithAgent("proto::agent-1", memAddr("proto::agent-1")), usp.WithHooks(&benchHook{}),
			usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))
		notifyWindows(b, net)
	})
	b.Run("bare-memory", func(b *testing.B) {
		net := memory.NewNetwork()
		payload, _ := proto.Marshal(msg.NotifyResp{SubscriptionID: "sub"}.Build("vc-0"))
		resp, _ := record.Encode(record.NewNoSessionContext("1.3", "proto::agent-1", ctrlID, payload))
		ep, _ := net.Endpoint(ctrlID)
		if err := ep.Start(context.Background(), mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
			_ = ep.Send(context.Background(), in.ReplyTo, resp)
		}}); err != nil {
			b.Fatal(err)
		}
		defer ep.Close(context.Background())
		notifyWindows(b, net)
	})
}

// notifyWindows plays an agent sending b.N notifications with send_resp to
// the controller endpoint, 256 at a time, waiting for every answer.
func notifyWindows(b *testing.B, net *memory.Network) {
	var resps atomic.Int64
	wake := make(chan struct{}, 1)
	agentEP, err := net.Endpoint("proto::agent-1")
	if err != nil {
		b.Fatal(err)
	}
	if err := agentEP.Start(context.Background(), mtp.HandlerFuncs{Record: func(mtp.Inbound) {
		resps.Add(1)
		select {
		case wake <- struct{}{}:
		default:
		}
	}}); err != nil {
		b.Fatal(err)
	}
	defer agentEP.Close(context.Background())
	// Every notification has its own msg_id, so none takes the duplicate
	// path.
	recs := make([][]byte, b.N)
	for i := range recs {
		m := msg.Notify{SubscriptionID: "sub", SendResp: true, Notification: &msg.ValueChange{ParamPath: "Device.WiFi.SSID.1.SSID", ParamValue: "x"}}.Build(fmt.Sprintf("vc-%d", i))
		payload, _ := proto.Marshal(m)
		recs[i], _ = record.Encode(record.NewNoSessionContext("1.3", ctrlID, "proto::agent-1", payload))
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := int64(0)
	for sent < int64(b.N) {
		window := min(256, int64(b.N)-sent)
		base := resps.Load()
		for i := range window {
			if err := agentEP.Send(context.Background(), memAddr(ctrlID), recs[sent+i]); err != nil {
				b.Fatal(err)
			}
		}
		for resps.Load() < base+window {
			<-wake
		}
		sent += window
	}
}

// BenchmarkHeapPerAgent reports the controller's heap per known agent with
// 10,000 agents announced by connect records, beside the least any
// controller keeps: a map from endpoint ID to topic.
func BenchmarkHeapPerAgent(b *testing.B) {
	const agents = 10000
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("os::012345-%010d", i)
	}
	b.Run("gousp", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			net := memory.NewNetwork()
			ep, _ := net.Endpoint(ctrlID)
			c, err := usp.NewController(ctrlID, usp.WithTransport(ep))
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			before := heap()
			recs := make([][]byte, agents)
			for i, id := range ids {
				recs[i], _ = record.Encode(record.NewMQTTConnect("1.3", ctrlID, id, 1, "/usp/agent/"+id))
			}
			b.StartTimer()
			for i, r := range recs {
				for net.Inject(ids[i], ctrlID, r) != nil {
					runtime.Gosched() // queue full: let the controller catch up
				}
			}
			for len(c.Agents()) < agents {
				runtime.Gosched()
			}
			b.StopTimer()
			recs = nil
			settle(c)
			after := heap()
			b.ReportMetric(float64(after-before)/agents, "B/agent")
			runtime.KeepAlive(c)
			_ = c.Close(context.Background())
			b.StartTimer()
		}
	})
	b.Run("bare-map", func(b *testing.B) {
		for b.Loop() {
			before := heap()
			m := make(map[string]string)
			for _, id := range ids {
				m[id] = "/usp/agent/" + id
			}
			after := heap()
			b.ReportMetric(float64(after-before)/agents, "B/agent")
			runtime.KeepAlive(m)
		}
	})
}

// settle waits until the controller has handled every record it took and,
// for a moment more, for its event queues to drain: the heap is then what
// it keeps, not what is in flight.
func settle(c *usp.Controller) {
	for c.IntakeStats().Records > 0 {
		runtime.Gosched()
	}
	time.Sleep(200 * time.Millisecond)
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchHook counts every request, record and notification event.
type benchHook struct{ n atomic.Int64 }

func (h *benchHook) OnRequestStart(ctx context.Context, _ usp.RequestStart) context.Context {
	h.n.Add(1)
	return ctx
}
func (h *benchHook) OnRequestEnd(context.Context, usp.RequestEnd) { h.n.Add(1) }
func (h *benchHook) OnRecord(usp.RecordEvent)                     { h.n.Add(1) }
func (h *benchHook) OnNotify(usp.NotifyEvent)                     { h.n.Add(1) }
