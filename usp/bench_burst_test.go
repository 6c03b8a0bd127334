package usp_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
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
	"github.com/gousp/gousp/usp/usptest"
)

// burstWait bounds one burst: a notification not answered by then counts
// as lost (the agents' retries are set beyond it, so they cannot hide a
// loss).
const burstWait = 60 * time.Second

// burstAgents is how many agents a case may use: its own figure, capped by
// GOUSP_BURST_AGENTS (default 1,000) and by the open-files limit (each
// agent costs two descriptors in this process: its connection and the
// embedded broker's end of it).
func burstAgents(b *testing.B, want int) int {
	n := 1000
	if s := os.Getenv("GOUSP_BURST_AGENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("GOUSP_BURST_AGENTS=%q: want a positive number", s)
		}
		n = v
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		perAgent := 2 // the agent's connection and the embedded broker's end
		if burstOnMosquitto() {
			perAgent = 1 // the broker's end is in mosquitto's process
		}
		n = min(n, int(rl.Cur-512)/perAgent)
	}
	return min(want, n)
}

// burstOnMosquitto reports whether GOUSP_BURST_BROKER=mosquitto asks for
// mosquitto instead of the embedded broker (gousp's own; it was mochi
// v2.7.9, which deadlocked on a subscriber's inflight lock under such a
// burst), for a comparison with a production broker. Mosquitto runs
// in a process of its own, so cpu-µs/notif then leaves the broker out, on
// both sides alike, and broker-drops is not reported (the queues are
// unbounded).
func burstOnMosquitto() bool { return os.Getenv("GOUSP_BURST_BROKER") == "mosquitto" }

// burstBroker starts the broker a burst case runs through: the embedded
// one, nil on mosquitto.
func burstBroker(b *testing.B) (url string, embedded *brokertest.Embedded) {
	if burstOnMosquitto() {
		m := brokertest.NewMosquitto(b, brokertest.MosquittoConfig{Extra: "max_queued_messages 0\nmax_inflight_messages 0\n"})
		return m.URL(), nil
	}
	e := brokertest.NewEmbedded(b, brokertest.EmbeddedConfig{})
	return e.URL(), e
}

// burstAgentReceiveMaximum is the MQTT Receive Maximum of the agents, gousp
// and bare alike, as uspsim's: an agent has a few records in flight at
// most, and paho allocates a queue of this many slots per connection (at
// MQTT's default of 65,535, 512 KiB each, which the collector scanned over
// and over: a third of the 10,000-agent burst's CPU went to it). The
// controllers keep the default.
const burstAgentReceiveMaximum = 32

// burstAgentConn is how the agents connect: on the transport's minimal
// client, as uspsim's agents, or with GOUSP_BURST_AGENT_CONN=own on the
// transport's default (its own client with a delivery goroutine), =lean
// on paho's client without a supervisor, =autopaho on autopaho (to compare
// them).
func burstAgentConn() []mqtt.Option {
	switch os.Getenv("GOUSP_BURST_AGENT_CONN") {
	case "own":
		return nil
	case "autopaho":
		return []mqtt.Option{mqtt.WithPahoClient()}
	case "lean":
		return []mqtt.Option{mqtt.WithLeanConnection()}
	}
	return []mqtt.Option{mqtt.WithMinimalClient()}
}

// bareRates keeps each case's bare paho rate, for the gousp run's ratio.
var bareRates sync.Map

// BenchmarkNotifyBurst measures a notification storm: every agent sends
// its notifications at once (QoS 1, send_resp true) to a controller with
// default settings, and a burst ends when every agent has its NotifyResps.
// Beside it, in the same run, bare paho.golang clients move records of the
// same sizes through the same broker: agents publish, a bare controller
// answers each at QoS 1 from as many goroutines as the intake's default
// Workers. Metrics: notifs/s, lost (not
// answered within a minute), dup (first deliveries flagged Duplicate),
// unseen (never reached a handler), broker-drops (messages the embedded
// broker dropped), cpu-µs/notif (the whole process's CPU time per
// notification), x-bare (the gousp rate over the bare one) and x-bare-cpu
// (bare CPU time per notification over gousp's: on a shared machine,
// where the rate swings with the neighbours' load, the steadier figure).
//
// The 10,000-agent case is capped as burstAgents says; its name gives the
// agents it ran with.
func BenchmarkNotifyBurst(b *testing.B) {
	for _, tc := range []struct{ agents, each int }{{1000, 10}, {10000, 1}} {
		n := burstAgents(b, tc.agents)
		name := fmt.Sprintf("agents=%d,each=%d", n, tc.each)
		b.Run(name+"/bare-paho", func(b *testing.B) { benchBareBurst(b, name, n, tc.each) })
		b.Run(name+"/gousp", func(b *testing.B) { benchGouspBurst(b, name, n, tc.each) })
	}
}

func benchGouspBurst(b *testing.B, name string, agents, each int) {
	url, broker := burstBroker(b)
	const ctrlTopic = "/usp/controller/burst"
	var delivered, dups atomic.Int64
	ct, err := mqtt.New(url, ctrlID, append(benchCtrlConn(), mqtt.WithTopic(ctrlTopic), mqtt.WithQoS(1))...)
	if err != nil {
		b.Fatal(err)
	}
	c, err := usp.NewController(ctrlID, usp.WithTransport(ct), usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
		delivered.Add(1)
		if n.Duplicate {
			dups.Add(1)
		}
		return nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())

	fleet := make([]*usptest.Agent, agents)
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	sem := make(chan struct{}, 64) // connect a few at a time
	for i := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id := fmt.Sprintf("proto::burst-%05d", i)
			at, err := mqtt.New(url, id, append(burstAgentConn(), mqtt.WithTopic("/usp/agent/burst/"+strconv.Itoa(i)), mqtt.WithQoS(1),
				mqtt.WithReceiveMaximum(burstAgentReceiveMaximum))...)
			if err == nil {
				fleet[i], err = usptest.NewAgent(id, usptest.WithTransport(at),
					usptest.WithController(ctrlID, mtp.Address{MTP: mtp.MQTT, To: ctrlTopic}),
					usptest.WithNotifyRetry(2*burstWait, 4*burstWait))
			}
			if err == nil {
				err = fleet[i].Start(context.Background())
			}
			if err == nil {
				// Every Boot! asks for a NotifyResp from now on.
				err = fleet[i].Model().Set("Device.LocalAgent.Subscription.1.NotifRetry", "true")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, a := range fleet {
			if a != nil {
				_ = a.Close(context.Background())
			}
		}
	}()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	// The agents' own Boot! at Start went out without send_resp; let the
	// controller take them before counting.
	burstWaitUntil(b, func() bool { return delivered.Load() >= int64(agents) })
	delivered.Store(0)

	total := int64(agents * each)
	var lost int64
	b.ResetTimer()
	var iter int64
	start, cpu0 := time.Now(), cpuTime()
	for b.Loop() {
		var wg sync.WaitGroup
		for _, a := range fleet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if err := a.Emit(context.Background(), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		// The handlers' count first (cheap), then the agents' own: polling
		// a thousand agents all along would cost more than the burst.
		iter++
		want := total * iter
		lost += awaitBurst(func() int64 {
			if d := delivered.Load(); d < want {
				return want - d
			}
			pending := 0
			for _, a := range fleet {
				pending += len(a.PendingNotifications())
			}
			return int64(pending)
		})
	}
	rate, cpu := reportBurst(b, broker, total, start, cpu0, lost)
	b.ReportMetric(float64(dups.Load()), "dup")
	// Reported, not failed, so that a run that lost some still shows its
	// figures.
	b.ReportMetric(float64(total*int64(b.N)-delivered.Load()), "unseen")
	if v, ok := bareRates.Load(name); ok {
		bare := v.([2]float64)
		b.ReportMetric(rate/bare[0], "x-bare")
		b.ReportMetric(bare[1]/cpu, "x-bare-cpu")
	}
}

// burstRecords returns a Notify record as the usptest agents send for
// Boot! and the NotifyResp record the controller answers with, for the
// bare clients to move the same bytes.
func burstRecords(agentID string) (notify, resp []byte) {
	id := "Event-" + time.Now().UTC().Format("2006-01-02T15:04:05Z") + "-1"
	n := msg.Notify{SubscriptionID: "boot-1", SendResp: true, Notification: &msg.Event{
		ObjPath: "Device.", EventName: "Boot!",
		Params: map[string]string{"Cause": "LocalReboot", "CommandKey": "", "FirmwareUpdated": "false", "Reason": "Unknown",
			"ParameterMap": `{"Device.LocalAgent.Controller.1.BootParameter.1.ParameterName":"Device.DeviceInfo.SoftwareVersion"}`},
	}}
	p, _ := proto.Marshal(n.Build(id))
	notify, _ = record.Encode(record.NewNoSessionContext("1.3", ctrlID, agentID, p))
	p, _ = proto.Marshal(msg.NotifyResp{SubscriptionID: "boot-1"}.Build(id))
	resp, _ = record.Encode(record.NewNoSessionContext("1.3", agentID, ctrlID, p))
	return notify, resp
}

func benchBareBurst(b *testing.B, name string, agents, each int) {
	url, broker := burstBroker(b)
	const ctrlTopic = "/bare/controller"
	_, resp := burstRecords("proto::burst-00000")
	// The bare controller answers each record at QoS 1 from as many
	// goroutines as the gousp controller's intake has workers by default,
	// taking records from paho's goroutine through a queue as deep as the
	// intake's default budget.
	queue := make(chan *paho.Publish, usp.DefaultIntakeRecords)
	stop := make(chan struct{})
	ctrl, err := dialBare(url, ctrlTopic, mqtt.DefaultReceiveMaximum, func(_ *paho.Client, p *paho.Publish) {
		select {
		case queue <- p:
		case <-stop:
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	var answering sync.WaitGroup
	for range usp.DefaultIntakeWorkers {
		answering.Add(1)
		go func() {
			defer answering.Done()
			for {
				var p *paho.Publish
				select {
				case p = <-queue:
				case <-stop:
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), burstWait)
				_, _ = ctrl.cli.Publish(ctx, &paho.Publish{Topic: p.Properties.ResponseTopic, QoS: 1, Payload: resp,
					Properties: &paho.PublishProperties{ContentType: "usp.msg", ResponseTopic: ctrlTopic}})
				cancel()
			}
		}()
	}
	defer func() {
		close(stop)
		answering.Wait()
		ctrl.close()
	}()

	type bareAgent struct {
		topic  string
		notify []byte
		peer   *bareClient
		got    atomic.Int64
	}
	fleet := make([]*bareAgent, agents)
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	sem := make(chan struct{}, 64)
	for i := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a := &bareAgent{topic: "/bare/agent/" + strconv.Itoa(i)}
			a.notify, _ = burstRecords(fmt.Sprintf("proto::burst-%05d", i))
			var err error
			if a.peer, err = dialBare(url, a.topic, burstAgentReceiveMaximum, func(*paho.Client, *paho.Publish) { a.got.Add(1) }); err != nil {
				errs <- err
				return
			}
			fleet[i] = a
		}()
	}
	wg.Wait()
	defer func() {
		for _, a := range fleet {
			if a != nil {
				a.peer.close()
			}
		}
	}()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}

	total := int64(agents * each)
	var lost int64
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for b.Loop() {
		var wg sync.WaitGroup
		for _, a := range fleet {
			a.got.Store(0)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					_, err := a.peer.cli.Publish(context.Background(), &paho.Publish{Topic: ctrlTopic, QoS: 1, Payload: a.notify,
						Properties: &paho.PublishProperties{ContentType: "usp.msg", ResponseTopic: a.topic}})
					if err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		lost += awaitBurst(func() int64 {
			var got int64
			for _, a := range fleet {
				got += min(a.got.Load(), int64(each))
			}
			return total - got
		})
	}
	rate, cpu := reportBurst(b, broker, total, start, cpu0, lost)
	bareRates.Store(name, [2]float64{rate, cpu})
}

// awaitBurst waits until nothing is outstanding, or burstWait; it returns
// what is still outstanding then (lost).
func awaitBurst(outstanding func() int64) int64 {
	deadline := time.Now().Add(burstWait)
	for {
		n := outstanding()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// reportBurst stops the timer and reports the rate of b.N bursts of total
// notifications since start, the CPU time the process spent per
// notification since cpu0 (everything in it: broker, agents, controller;
// on a shared machine a steadier comparison than the rate), the lost
// ones, and those the broker dropped (the embedded broker holds
// publishers back while a subscriber's queue is full, and drops only
// after embedbroker.DefaultQueueWait). It
// returns the rate and the CPU time per notification.
func reportBurst(b *testing.B, broker *brokertest.Embedded, total int64, start time.Time, cpu0 time.Duration, lost int64) (rate, cpu float64) {
	elapsed, used := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	n := float64(total * int64(b.N))
	rate = n / elapsed.Seconds()
	cpu = float64(used.Microseconds()) / n
	b.ReportMetric(rate, "notifs/s")
	b.ReportMetric(cpu, "cpu-µs/notif")
	b.ReportMetric(float64(lost), "lost")
	if broker == nil {
		return rate, cpu
	}
	if eb := broker.Broker(); eb != nil {
		st := eb.Stats()
		b.ReportMetric(float64(st.Dropped+st.TooLarge+st.Expired), "broker-drops")
	}
	return rate, cpu
}

// bareClient is a bare paho.golang client subscribed to one topic whose
// messages go to a callback on paho's own goroutine.
type bareClient struct {
	cli  *paho.Client
	once sync.Once
}

func dialBare(brokerURL, topic string, receiveMax uint16, on func(*paho.Client, *paho.Publish)) (*bareClient, error) {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	bc := &bareClient{}
	bc.cli = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: burstWait, // as patient as the gousp agents' transport
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			on(bc.cli, pr.Packet)
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bc.cli.Connect(ctx, &paho.Connect{ClientID: "bare" + topic, CleanStart: true, KeepAlive: 60,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &receiveMax}}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if _, err := bc.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		bc.close()
		return nil, err
	}
	return bc, nil
}

func (bc *bareClient) close() {
	bc.once.Do(func() { _ = bc.cli.Disconnect(&paho.Disconnect{}) })
}

func burstWaitUntil(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(burstWait)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
