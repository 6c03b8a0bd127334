package usp_test

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

var (
	clusterAgents = flag.Int("usp.clusteragents", 8, "agents in BenchmarkCluster")
	clusterBroker = flag.String("usp.clusterbroker", "mosquitto", "broker of BenchmarkCluster: mosquitto, or embedded (gousp's own) where mosquitto is not installed")
)

// benchFleet is the fleet binding BenchmarkCluster runs on.
func benchFleet(b *testing.B) fleetBinding {
	switch *clusterBroker {
	case "mosquitto":
		return mqttFleet(b)
	case "embedded":
		return mqttFleetOn(b, brokertest.StartEmbedded(b))
	}
	b.Fatalf("-usp.clusterbroker=%q: mosquitto or embedded", *clusterBroker)
	return fleetBinding{}
}

// BenchmarkCluster measures the throughput of 1, 2 and 3 controller
// processes (controllers in this process, each with its own broker
// connection and usp.WithCluster) serving -usp.clusteragents agents
// through one broker with a shared subscription:
//
//   - get: per op, every process at once sends a Get to every agent
//     (procs × agents Gets); gets/s is the fleet's call throughput.
//   - notify: per op, one Event from every agent, to subscriptions made by
//     the processes in turn (agent i's by process i mod procs); with N
//     processes (N-1)/N of them land on another process and are forwarded
//     to the owner; notifs/s is the fleet's ingest throughput.
//
// Compare gets/s and notifs/s with procs=1 of the same run.
func BenchmarkCluster(b *testing.B) {
	nAgents := *clusterAgents
	for _, procs := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			fb := benchFleet(b)
			store := &usp.MemoryStore{}
			sink := newFleetSink()
			var ctls []*usp.Controller
			for i := range procs {
				ctls = append(ctls, startFleetProcess(b, fb, fmt.Sprintf("p%d", i+1), store, sink, 3*time.Second))
			}
			var agents []*usptest.Agent
			for i := range nAgents {
				// Retries slower than the tests' so that a loaded machine
				// measures notifications, not retransmissions of them.
				id := fmt.Sprintf("os::012345-BENCH%04d", i)
				a, err := usptest.NewAgent(id, usptest.WithTransport(fb.agent(id)), usptest.WithoutBootSubscription(),
					usptest.WithNotificationsToController(), usptest.WithController(ctrlID, fb.shared),
					usptest.WithNotifyRetry(5*time.Second, 10*time.Second))
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Start(ctxT(b)); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = a.Close(context.Background()) })
				agents = append(agents, a)
			}
			for _, a := range agents {
				for _, c := range ctls {
					reachable(b, c, a.EndpointID())
				}
			}
			ctx := context.Background()
			b.Run("get", func(b *testing.B) {
				start := time.Now()
				for b.Loop() {
					var wg sync.WaitGroup
					for _, c := range ctls {
						for _, a := range agents {
							wg.Go(func() {
								ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
								defer cancel()
								if _, err := c.Agent(a.EndpointID()).GetValue(ctx, "Device.DeviceInfo.SerialNumber"); err != nil {
									b.Error(err)
								}
							})
						}
					}
					wg.Wait()
				}
				b.ReportMetric(float64(b.N*procs*nAgents)/time.Since(start).Seconds(), "gets/s")
			})
			b.Run("notify", func(b *testing.B) {
				got := make(chan string, 4*nAgents)
				var subs []*usp.Subscription
				// -count runs this again on the same fleet: leave no
				// subscription behind to double the next run's events.
				defer func() {
					for _, s := range subs {
						_ = s.Unsubscribe(ctx)
					}
				}()
				for i, a := range agents {
					s, err := ctls[i%procs].Agent(a.EndpointID()).Subscribe(ctx, usp.SubscriptionSpec{
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
					})
					if err != nil {
						b.Fatal(err)
					}
					subs = append(subs, s)
				}
				start := time.Now()
				for b.Loop() {
					var wg sync.WaitGroup
					for _, a := range agents {
						wg.Go(func() {
							if err := a.Emit(ctx, "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
					timeout := time.After(30 * time.Second)
					for range agents {
						select {
						case <-got:
						case <-timeout:
							b.Fatal("notifications missing after 30s")
						}
					}
				}
				b.ReportMetric(float64(b.N*nAgents)/time.Since(start).Seconds(), "notifs/s")
			})
		})
	}
}
