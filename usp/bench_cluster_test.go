package usp_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// BenchmarkCluster measures 1, 2 and 3 controller processes (controllers
// in this process, each with its own broker connection) serving 8 agents
// through mosquitto with a shared subscription:
//
//   - get: one fan-out (a Get to every agent at once) per op, the
//     processes taking turns;
//   - notify: one Event from every agent per op, to subscriptions made by
//     the first process; with more processes most of them land elsewhere
//     and are forwarded, so the ratio to procs=1 is the routing's cost.
func BenchmarkCluster(b *testing.B) {
	const nAgents = 8
	for _, procs := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			fb := mqttFleet(b)
			store := &usp.MemoryStore{}
			sink := newFleetSink()
			var ctls []*usp.Controller
			for i := range procs {
				ctls = append(ctls, startFleetProcess(b, fb, fmt.Sprintf("p%d", i+1), store, sink, 3*time.Second))
			}
			var agents []*usptest.Agent
			for i := range nAgents {
				agents = append(agents, startFleetAgent(b, fb, fmt.Sprintf("os::012345-BENCH%04d", i)))
			}
			for _, a := range agents {
				for _, c := range ctls {
					reachable(b, c, a.EndpointID())
				}
			}
			ctx := context.Background()
			b.Run("get", func(b *testing.B) {
				n := 0
				for b.Loop() {
					c := ctls[n%len(ctls)]
					n++
					var wg sync.WaitGroup
					for _, a := range agents {
						wg.Go(func() {
							if _, err := c.Agent(a.EndpointID()).GetValue(ctx, "Device.DeviceInfo.SerialNumber"); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				}
			})
			b.Run("notify", func(b *testing.B) {
				got := make(chan string, 1024)
				for _, a := range agents {
					if _, err := ctls[0].Agent(a.EndpointID()).Subscribe(ctx, usp.SubscriptionSpec{
						NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}, NotifRetry: true,
						Handler: func(_ context.Context, n *usp.Notification) error {
							if !n.Duplicate {
								select {
								case got <- n.MsgID:
								default: // never block the controller's worker
								}
							}
							return nil
						},
					}); err != nil {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					for _, a := range agents {
						if err := a.Emit(ctx, "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
							b.Fatal(err)
						}
					}
					for range agents {
						<-got
					}
				}
			})
		})
	}
}
