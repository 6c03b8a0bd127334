package usp_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

// BenchmarkHeartbeat measures what a fleet's heartbeats cost the
// controller: Device.LocalAgent.Periodic! events (send_resp false, as the
// heartbeat subscription asks) from 10,000 agents, round robin, each
// decoded, accounted to its agent (last seen, state) and handed to the
// notify handlers. ns/op is the CPU time of one heartbeat; records per
// second a fleet sends is agents / interval.
func BenchmarkHeartbeat(b *testing.B) {
	const agents = 10000
	net := memory.NewNetwork()
	var handled, target atomic.Int64
	wake := make(chan struct{}, 1)
	newController(b, net, usp.WithNotifyHandler(func(context.Context, *usp.Notification) error {
		if handled.Add(1) == target.Load() {
			wake <- struct{}{}
		}
		return nil
	}))
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("os::012345-%010d", i)
	}
	// Each agent numbers its events; a ring of msg_ids per agent long
	// enough that none is taken for a retransmission.
	const perAgent = 128
	recs := make([][]byte, agents*perAgent)
	for i := range recs {
		id := ids[i%agents]
		m := msg.Notify{SubscriptionID: "gousp-heartbeat", Notification: &msg.Event{ObjPath: "Device.LocalAgent.", EventName: "Periodic!"}}.
			Build(fmt.Sprintf("Event-%d", i/agents))
		payload, _ := proto.Marshal(m)
		recs[i], _ = record.Encode(record.NewNoSessionContext("1.3", ctrlID, id, payload))
	}
	next := 0
	send := func(n int) {
		// In windows of 512: beyond the notify queues, notifications
		// would be dropped (a heartbeat has no retry).
		for n > 0 {
			w := min(n, 512)
			target.Store(handled.Load() + int64(w))
			for range w {
				r := recs[next%len(recs)]
				for net.Inject(ids[next%agents], ctrlID, r) != nil {
					runtime.Gosched() // queue full: let the controller catch up
				}
				next++
			}
			<-wake
			n -= w
		}
	}
	send(agents) // every agent known and online before the measurement
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	send(b.N)
	b.StopTimer()
	// CPU time rather than wall time: other processes on the machine do
	// not inflate it.
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time (user and system) of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInventory100k measures the inventory with 100,000 agents: the
// heap per agent of the whole controller once each announced itself, and
// the cost of a prefix query (1% of the fleet) and of a state count.
func BenchmarkInventory100k(b *testing.B) {
	const agents = 100000
	net := memory.NewNetwork()
	ep, _ := net.Endpoint(ctrlID)
	c, err := usp.NewController(ctrlID, usp.WithTransport(ep))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("os::012345-%010d", i)
	}
	before := heap()
	for _, id := range ids {
		r, _ := record.Encode(record.NewMQTTConnect("1.3", ctrlID, id, 1, "/usp/agent/"+id))
		for net.Inject(id, ctrlID, r) != nil {
			runtime.Gosched()
		}
	}
	for c.Inventory().Len() < agents {
		runtime.Gosched()
	}
	settle(c)
	perAgent := float64(heap()-before) / agents
	b.Run("heap", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(perAgent, "B/agent")
	})
	b.Run("query-prefix-1pct", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for range c.Inventory().Query(usp.Query{Prefix: "os::012345-0000001", State: usp.StateOnline}) {
				n++
			}
			if n != 1000 {
				b.Fatalf("%d agents", n)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			if c.Inventory().Count()[usp.StateOnline] != agents {
				b.Fatal("count")
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok := c.Inventory().Get(ids[i%agents]); !ok {
				b.Fatal("missing")
			}
			i++
		}
	})
}
