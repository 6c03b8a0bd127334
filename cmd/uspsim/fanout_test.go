package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

var (
	fanoutAgents = flag.Int("uspsim.fanout", 1000, "agents in BenchmarkFanOutGet (the issue asks for 10000)")
	fanoutWindow = flag.Int("uspsim.window", 512, "Gets in flight at once in BenchmarkFanOutGet")
)

const fanoutPath = "Device.DeviceInfo.Manufacturer"

// BenchmarkFanOutGet measures a Get sent to every agent of a fleet, a
// window of them in flight at once, through mosquitto: a gousp controller
// and usptest agents (as uspsim runs them), beside a bare paho.golang
// client sending the same request record to bare paho clients that echo
// it back. One iteration is one round over the fleet; the figures are
// answers a second and the process's CPU time per answer, and for gousp
// both as ratios to the bare run before it (x-bare, x-bare-cpu).
//
//	go test -run '^$' -bench FanOutGet -benchtime 3x ./cmd/uspsim/ -uspsim.fanout 10000
func BenchmarkFanOutGet(b *testing.B) {
	n, window := *fanoutAgents, *fanoutWindow
	// mosquitto, a production broker (chosen when the embedded broker was
	// still mochi-mqtt v2.7, which sorts its whole in-flight store on every
	// acknowledgement once the controller has thousands of records in
	// flight, and stalled under the boot storm).
	brokerURL := brokertest.NewMosquitto(b, brokertest.MosquittoConfig{Extra: "max_queued_messages 0\nmax_inflight_messages 0\n"}).URL()
	ctx := context.Background()
	// The bare run's rate and CPU time per answer, for the gousp run's
	// ratios; the bare run goes first.
	var bare [2]float64

	b.Run("bare-paho", func(b *testing.B) {
		payload, _ := proto.Marshal(msg.Get{Paths: []string{fanoutPath}}.Build(msg.NewID()))
		req, _ := record.Encode(record.NewNoSessionContext("1.3", agentID("fanout", 0), "proto::controller", payload))
		u, err := url.Parse(brokerURL)
		if err != nil {
			b.Fatal(err)
		}
		agents := make([]*paho.Client, n)
		defer func() {
			for _, a := range agents {
				if a != nil {
					_ = a.Disconnect(&paho.Disconnect{})
				}
			}
		}()
		sem := make(chan struct{}, 200)
		var wg sync.WaitGroup
		var dialErr atomic.Value
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				a, err := dialEcho(u.Host, fmt.Sprintf("bare-fanout-%06d", i))
				if err != nil {
					dialErr.Store(err)
					return
				}
				agents[i] = a
			})
		}
		wg.Wait()
		if err, _ := dialErr.Load().(error); err != nil {
			b.Fatal(err)
		}
		// The controller: a window of requests, each slot freed by an
		// answer.
		slots := make(chan struct{}, window)
		var answered atomic.Int64
		// Receive Maximum as gousp's default.
		ctl, err := dialBareClient(u.Host, "bare-fanout-controller", mqtt.DefaultReceiveMaximum, func(paho.PublishReceived) {
			answered.Add(1)
			<-slots
		})
		if err != nil {
			b.Fatal(err)
		}
		defer ctl.Disconnect(&paho.Disconnect{})
		if _, err := ctl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "bare/controller", QoS: 1}}}); err != nil {
			b.Fatal(err)
		}
		round := func() {
			want := answered.Load() + int64(n)
			var pub sync.WaitGroup
			for i := range n {
				slots <- struct{}{}
				pub.Go(func() {
					_, _ = ctl.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("bare/agent/bare-fanout-%06d", i), QoS: 1, Payload: req,
						Properties: &paho.PublishProperties{ContentType: mqtt.ContentType, ResponseTopic: "bare/controller"}})
				})
			}
			pub.Wait()
			deadline := time.Now().Add(time.Minute)
			for answered.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if answered.Load() < want {
				b.Fatalf("%d answers missing", want-answered.Load())
			}
		}
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime()
		for b.Loop() {
			round()
		}
		bare[0], bare[1] = reportFanOut(b, n, start, cpu0)
	})

	b.Run("gousp", func(b *testing.B) {
		tr, err := mqtt.New(brokerURL, "proto::controller", mqtt.WithTopic("usp/controller"), mqtt.WithClientID("fanout-controller"))
		if err != nil {
			b.Fatal(err)
		}
		c, err := usp.NewController("proto::controller", usp.WithTransport(tr))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		cfg := &config{mtp: mtp.MQTT, targets: []string{brokerURL}, controllerID: "proto::controller",
			controllerAddr: "usp/controller", topicPrefix: "usp/agent/", prefix: "fanout", count: n, seed: 1,
			bootParallel: 200, notifyRetry: 5 * time.Second, keepAlive: 60 * time.Second,
			backoffMin: time.Second, backoffMax: 30 * time.Second, share: 1}
		f := newFleet(cfg)
		for i := range n {
			a, err := newSimAgent(cfg, i, f.c)
			if err != nil {
				b.Fatal(err)
			}
			f.agents = append(f.agents, a)
		}
		defer f.closeAll()
		t0 := time.Now()
		f.boot(ctx)
		if up := f.c.agentsUp.Load(); up != int64(n) {
			b.Fatalf("%d of %d agents up", up, n)
		}
		b.Logf("%d agents up in %v", n, time.Since(t0))
		round := func(timeout time.Duration, untimed bool) {
			sem := make(chan struct{}, window)
			var wg sync.WaitGroup
			var failed atomic.Int64
			var firstErr atomic.Value
			for _, a := range f.agents {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					gctx, cancel := context.WithTimeout(ctx, timeout)
					defer cancel()
					_, err := c.Agent(a.id).GetValue(gctx, fanoutPath)
					// The untimed round waits for an agent whose
					// MQTTConnect record the controller has not taken in
					// yet: an agent is up once it sent it, not once the
					// controller read it.
					for untimed && errors.Is(err, usp.ErrUnknownAgent) && gctx.Err() == nil {
						time.Sleep(20 * time.Millisecond)
						_, err = c.Agent(a.id).GetValue(gctx, fanoutPath)
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				})
			}
			wg.Wait()
			if failed.Load() > 0 {
				b.Fatalf("%d Gets failed, first: %v", failed.Load(), firstErr.Load())
			}
		}
		// A first round, not timed, waits until the controller has taken
		// in the boot storm (every agent's MQTTConnect record and Boot!).
		round(5*time.Minute, true)
		b.Logf("first round over after %v", time.Since(t0))
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime()
		for b.Loop() {
			round(time.Minute, false)
		}
		rate, cpu := reportFanOut(b, n, start, cpu0)
		if bare != [2]float64{} {
			b.ReportMetric(rate/bare[0], "x-bare")
			b.ReportMetric(bare[1]/cpu, "x-bare-cpu")
		}
	})
}

// reportFanOut stops the timer and reports the rate of b.N rounds over n
// agents since start and the process's CPU time per answer since cpu0
// (controller and agents, or the bare clients; mosquitto runs in a process
// of its own): on a shared machine a steadier comparison than the rate.
func reportFanOut(b *testing.B, n int, start time.Time, cpu0 time.Duration) (rate, cpu float64) {
	elapsed, used := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	answers := float64(b.N * n)
	rate, cpu = answers/elapsed.Seconds(), float64(used.Microseconds())/answers
	b.ReportMetric(rate, "answers/s")
	b.ReportMetric(cpu, "cpu-µs/answer")
	return rate, cpu
}

// cpuTime returns the CPU time (user and system) of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dialEcho connects a bare paho client that subscribes to
// bare/agent/<id> and sends every record back to its Response Topic.
func dialEcho(addr, id string) (*paho.Client, error) {
	var c *paho.Client
	var err error
	c, err = dialBareClient(addr, id, agentReceiveMaximum, func(pr paho.PublishReceived) {
		p := pr.Packet
		if p.Properties == nil || p.Properties.ResponseTopic == "" {
			return
		}
		go func() {
			_, _ = c.Publish(context.Background(), &paho.Publish{Topic: p.Properties.ResponseTopic, QoS: 1, Payload: p.Payload,
				Properties: &paho.PublishProperties{ContentType: mqtt.ContentType}})
		}()
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "bare/agent/" + id, QoS: 1}}}); err != nil {
		return nil, err
	}
	return c, nil
}

// dialBareClient connects a bare paho client with the given Receive
// Maximum that hands every publish to onPublish.
func dialBareClient(addr, id string, receiveMax uint16, onPublish func(paho.PublishReceived)) (*paho.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onPublish(pr)
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 60,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &receiveMax}}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}
