package usp_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

// BenchmarkGetMemory is one Get round trip over the in-process transport:
// the controller's own cost without a network.
func BenchmarkGetMemory(b *testing.B) {
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
}

// BenchmarkNotifyIngest measures notifications handled and answered with
// NotifyResp per second, over the in-process transport, in windows of 256
// in flight.
func BenchmarkNotifyIngest(b *testing.B) {
	net := memory.NewNetwork()
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
	newController(b, net, usp.WithAgent("proto::agent-1", memAddr("proto::agent-1")),
		usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))

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
// 10,000 agents announced by connect records.
func BenchmarkHeapPerAgent(b *testing.B) {
	const agents = 10000
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
		for i := range recs {
			id := fmt.Sprintf("os::012345-%010d", i)
			recs[i], _ = record.Encode(record.NewMQTTConnect("1.3", ctrlID, id, 1, "/usp/agent/"+id))
		}
		b.StartTimer()
		for i, r := range recs {
			for {
				err := net.Inject(fmt.Sprintf("os::012345-%010d", i), ctrlID, r)
				if err == nil {
					break
				}
				runtime.Gosched() // queue full: let the controller catch up
			}
		}
		for len(c.Agents()) < agents {
			runtime.Gosched()
		}
		b.StopTimer()
		recs = nil
		after := heap()
		b.ReportMetric(float64(after-before)/agents, "B/agent")
		runtime.KeepAlive(c)
		_ = c.Close(context.Background())
		b.StartTimer()
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
