package usp

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// sinkTransport is an MQTT-kind transport that takes every record given to
// HandleRecord's caller and counts what the controller sends, under no lock
// of its own: a benchmark on it measures the controller's shared state,
// not a test transport's (the in-process transport's endpoint lock is
// what the first such probe measured).
type sinkTransport struct {
	h    mtp.Handler
	sent atomic.Int64
	// to counts sends by agent, from the last four digits of the
	// address: the benchmark's agents are proto::bench-agent-NNNN.
	to [1024]atomic.Int64
}

func (s *sinkTransport) Kind() mtp.Kind                               { return mtp.MQTT }
func (s *sinkTransport) Start(_ context.Context, h mtp.Handler) error { s.h = h; return nil }
func (s *sinkTransport) Send(_ context.Context, to mtp.Address, _ []byte) error {
	if n := len(to.To); n >= 4 {
		if i, err := strconv.Atoi(to.To[n-4:]); err == nil && i < len(s.to) {
			s.to[i].Add(1)
		}
	}
	s.sent.Add(1)
	return nil
}

func (s *sinkTransport) State() mtp.State            { return mtp.Connected }
func (s *sinkTransport) Close(context.Context) error { return nil }
func (s *sinkTransport) LocalEndpointID() string     { return "proto::bench-controller" }

// BenchmarkSharedState feeds ValueChange notifications with send_resp
// from 1,024 agents into the controller from as many goroutines as
// GOMAXPROCS, each goroutine with agents of its own, and waits for every
// NotifyResp: per notification, the path from the transport's handler
// through the agent table, the duplicate window, the inventory, the
// subscription table and the answer's target. Run it at -cpu 1,2,... and
// with -mutexprofile to see whether unrelated agents contend.
func BenchmarkSharedState(b *testing.B) {
	const agents, perAgent = 1024, 128
	tr := &sinkTransport{}
	c, err := NewController("proto::bench-controller", WithTransport(tr),
		WithNotifyHandler(func(context.Context, *Notification) error { return nil }))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	ids := make([]string, agents)
	addrs := make([]mtp.Address, agents)
	recs := make([][][]byte, agents)
	for i := range agents {
		ids[i] = fmt.Sprintf("proto::bench-agent-%04d", i)
		addrs[i] = mtp.Address{MTP: mtp.MQTT, To: "usp/agent/" + ids[i]}
		recs[i] = make([][]byte, perAgent)
		for j := range perAgent {
			// 128 msg_ids an agent, twice the duplicate window: a msg_id
			// comes back only once it is forgotten, so every record is a
			// new notification.
			m := msg.Notify{SubscriptionID: "sub", SendResp: true, Notification: &msg.ValueChange{ParamPath: "Device.WiFi.SSID.1.SSID", ParamValue: "x"}}.Build(fmt.Sprintf("vc-%d", j))
			payload, _ := proto.Marshal(m)
			recs[i][j], _ = record.Encode(record.NewNoSessionContext("1.3", "proto::bench-controller", ids[i], payload))
		}
		// Known before the clock starts: the benchmark is about agents
		// the controller already has.
		tr.h.HandleRecord(mtp.Inbound{Data: recs[i][0], ReplyTo: addrs[i]})
	}
	waitSent := func(n int64) {
		for tr.sent.Load() < n {
			runtime.Gosched()
		}
	}
	waitSent(agents)
	var next atomic.Int32
	var mu sync.Mutex
	procs := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	base := tr.sent.Load()
	var handed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		procs++
		mu.Unlock()
		g := int(next.Add(1) - 1)
		// Goroutine g sends for agents g, g+P, g+2P... where P is a
		// generous bound on the goroutines: no two share an agent.
		const stride = 64
		i, j := g%agents, 1
		var given [agents]int64 // records handed to each agent's intake
		for i := range given {
			given[i] = tr.to[i].Load()
		}
		for pb.Next() {
			// At most 64 unanswered an agent, well inside its intake
			// share (1,024): nothing is refused.
			for given[i]-tr.to[i].Load() >= 64 {
				runtime.Gosched()
			}
			tr.h.HandleRecord(mtp.Inbound{Data: recs[i][j], ReplyTo: addrs[i]})
			given[i]++
			handed.Add(1)
			if i += stride; i >= agents {
				i = g % agents
				j = (j + 1) % perAgent
			}
		}
	})
	waitSent(base + handed.Load())
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(procs), "goroutines")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
