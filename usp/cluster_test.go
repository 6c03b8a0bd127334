package usp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const fleetTopic = "usp/fleet-ctl"

// fleetAddress is where process p of the fleet receives what is for it
// alone: mqtt.WithSharedSubscription's reply topic for client ID p.
func fleetAddress(p string) mtp.Address {
	return mtp.Address{MTP: mtp.MQTT, To: fleetTopic + "/reply/" + p}
}

// fleetBinding makes the transports of a fleet test on one broker.
type fleetBinding struct {
	shared  mtp.Address                   // the controller's address, shared by the processes
	address func(p string) mtp.Address    // process p's own
	ctrl    func(p string) mtp.Transport  // process p's transport
	agent   func(id string) mtp.Transport // an agent's
}

func mqttFleet(t testing.TB) fleetBinding {
	// mosquitto, a production broker (chosen when the embedded broker
	// was still mochi-mqtt v2.7.9, which deadlocked under this load);
	// -usp.clusterbroker embedded runs the benchmark on gousp's own.
	return mqttFleetOn(t, brokertest.StartMosquitto(t))
}

// mqttFleetOn is mqttFleet on the broker at url.
func mqttFleetOn(t testing.TB, url string) fleetBinding {
	return fleetBinding{
		shared:  mtp.Address{MTP: mtp.MQTT, To: fleetTopic},
		address: fleetAddress,
		ctrl: func(p string) mtp.Transport {
			tr, err := mqtt.New(url, ctrlID, mqtt.WithTopic(fleetTopic), mqtt.WithSharedSubscription("fleet"), mqtt.WithClientID(p), mqtt.WithQoS(1))
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
		agent: func(id string) mtp.Transport {
			tr, err := mqtt.New(url, id, mqtt.WithTopic("usp/fleet-agent/"+id), mqtt.WithQoS(1))
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
	}
}

// stompFleet: the processes are competing consumers on one RabbitMQ queue,
// each with a reply queue of its own.
func stompFleet(t testing.TB) fleetBinding {
	addr := brokertest.StartRabbitMQ(t)
	q := "/queue/fleet-" + strings.ReplaceAll(msg.NewID(), "-", "") // the node outlives this test
	opts := []stomp.Option{stomp.WithCredentials("guest", "guest"), stomp.WithHost("/")}
	// A /topic/ destination per process: RabbitMQ backs it with a queue
	// that goes away with the subscriber (see SCALING.md).
	address := func(p string) mtp.Address {
		return mtp.Address{MTP: mtp.STOMP, To: "/topic/" + strings.TrimPrefix(q, "/queue/") + "." + p}
	}
	return fleetBinding{
		shared:  mtp.Address{MTP: mtp.STOMP, To: q},
		address: address,
		ctrl: func(p string) mtp.Transport {
			tr, err := stomp.New(addr, ctrlID, append(opts, stomp.WithDestination(q), stomp.WithReplyDestination(address(p).To))...)
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
		agent: func(id string) mtp.Transport {
			tr, err := stomp.New(addr, id, append(opts, stomp.WithDestination(q+".agent."+strings.ReplaceAll(id, ":", "")))...)
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
	}
}

// fleetSink records what the fleet's handlers were given, by process.
type fleetSink struct {
	mu   sync.Mutex
	got  map[string][]string // msg_id → processes that handled it
	dup  map[string]int      // msg_id → deliveries flagged Duplicate
	sub  map[string]string   // msg_id → subscription ID
	fwd  atomic.Int64        // notifications forwarded to their owner
	ans  atomic.Int64        // answers passed on to the process that asked
	late atomic.Int64        // answers passed on that found no call waiting
}

// The sink is also the processes' log handler, to count the forwards.
func (s *fleetSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *fleetSink) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "notification forwarded to its owner":
		s.fwd.Add(1)
	case "answer passed on to the process that asked":
		s.ans.Add(1)
	case "dropping forwarded answer that matches no request":
		s.late.Add(1)
	}
	return nil
}
func (s *fleetSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *fleetSink) WithGroup(string) slog.Handler      { return s }

func newFleetSink() *fleetSink {
	return &fleetSink{got: map[string][]string{}, dup: map[string]int{}, sub: map[string]string{}}
}

func (s *fleetSink) handler(process string) usp.NotifyHandler {
	return func(_ context.Context, n *usp.Notification) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got[n.MsgID] = append(s.got[n.MsgID], process)
		s.sub[n.MsgID] = n.SubscriptionID
		if n.Duplicate {
			s.dup[n.MsgID]++
		}
		return nil
	}
}

// handledBy counts the notifications of one subscription by the process
// that handled them, each msg_id once; it fails the test when a msg_id was
// delivered more than once without the later deliveries flagged Duplicate.
func (s *fleetSink) handledBy(t *testing.T, subID string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for id, ps := range s.got {
		if s.sub[id] != subID {
			continue
		}
		out[ps[0]]++
		if extra := len(ps) - 1; extra > s.dup[id] {
			t.Errorf("%s delivered %d times (by %v), %d flagged Duplicate", id, len(ps), ps, s.dup[id])
		}
	}
	return out
}

func startFleetProcess(t testing.TB, b fleetBinding, process string, store usp.Store, sink *fleetSink, forwardTimeout time.Duration) *usp.Controller {
	t.Helper()
	c, err := usp.NewController(ctrlID, usp.WithTransport(b.ctrl(process)), usp.WithStore(store), usp.WithLogger(slog.New(sink)),
		usp.WithNotifyHandler(sink.handler(process)),
		usp.WithCluster(usp.Cluster{Process: process, Address: b.address, ForwardTimeout: forwardTimeout, DeadFor: time.Minute,
			Secret: []byte("fleet secret")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func startFleetAgent(t testing.TB, b fleetBinding, id string) *usptest.Agent {
	t.Helper()
	return runAgent(t, id, usptest.WithTransport(b.agent(id)), usptest.WithoutBootSubscription(), usptest.WithNotificationsToController(),
		usptest.WithController(ctrlID, b.shared),
		usptest.WithNotifyRetry(200*time.Millisecond, time.Second))
}

// reachable waits until c can call the agent: some process heard it and
// the store has its address.
func reachable(t testing.TB, c *usp.Controller, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := c.Agent(id).GetValue(ctx, "Device.DeviceInfo.SerialNumber")
		if err == nil {
			return
		}
		if !errors.Is(err, usp.ErrUnknownAgent) || ctx.Err() != nil {
			t.Fatalf("calling %s: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterRouting runs two controller processes (two controllers in
// this test process) with one endpoint ID behind one broker, sharing a
// store: each reaches every agent, each operation completes where it was
// started and each subscription's notifications reach the process that
// made it, wherever the broker delivers them.
func TestClusterRouting(t *testing.T) {
	t.Run("mqtt", func(t *testing.T) { testClusterRouting(t, mqttFleet(t)) })
	t.Run("stomp-rabbitmq", func(t *testing.T) { testClusterRouting(t, stompFleet(t)) })
}

func testClusterRouting(t *testing.T, b fleetBinding) {
	store := &usp.MemoryStore{}
	sink := newFleetSink()
	p1 := startFleetProcess(t, b, "p1", store, sink, 3*time.Second)
	p2 := startFleetProcess(t, b, "p2", store, sink, 3*time.Second)
	procs := map[string]*usp.Controller{"p1": p1, "p2": p2}
	var agents []*usptest.Agent
	for i := range 4 {
		agents = append(agents, startFleetAgent(t, b, fmt.Sprintf("os::012345-FLEET%04d", i)))
	}
	for _, a := range agents {
		for _, c := range procs {
			reachable(t, c, a.EndpointID())
		}
	}

	// Operations: each started on one process completes there.
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(agents)*3)
	for name, c := range procs {
		for _, a := range agents {
			for range 3 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					op, err := c.Agent(a.EndpointID()).StartOperation(ctx, "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"})
					if err != nil {
						errs <- fmt.Errorf("%s on %s: %w", name, a.EndpointID(), err)
						return
					}
					if _, err := op.Wait(ctx); err != nil {
						errs <- fmt.Errorf("%s on %s: %w", name, a.EndpointID(), err)
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// How many completions landed on the other process depends on how the
	// broker's round robin falls against the traffic; the events below
	// make sure forwarding happens.
	t.Logf("%d completions forwarded to their owner", sink.fwd.Load())
	before := sink.fwd.Load()

	// A subscription made on p1: its notifications reach p1 only, wherever
	// the broker delivers them.
	sub, err := p1.Agent(agents[0].EndpointID()).Subscribe(ctxT(t), usp.SubscriptionSpec{
		NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}, NotifRetry: true,
		Handler: func(context.Context, *usp.Notification) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	const events = 20
	for range events {
		if err := agents[0].Emit(ctxT(t), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFleet(t, func() bool {
		return len(agents[0].PendingNotifications()) == 0 && sink.handledBy(t, sub.ID())["p1"] >= events
	})
	if got := sink.handledBy(t, sub.ID()); got["p2"] != 0 || got["p1"] != events {
		t.Fatalf("notifications of p1's subscription handled %v, want p1: %d", got, events)
	}
	if sink.fwd.Load() == before {
		t.Error("no notification of p1's subscription was forwarded")
	}

	// p1 goes away: its subscription's notifications go to p2's handlers
	// once forwarding to p1 fails, and none is lost. (Close keeps the
	// subscription on the agent: the operation store needs nothing here,
	// so remove the handler side only.)
	if err := p1.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for range events {
		if err := agents[0].Emit(ctxT(t), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFleet(t, func() bool {
		return len(agents[0].PendingNotifications()) == 0 && sink.handledBy(t, sub.ID())["p2"] >= events
	})
	if got := sink.handledBy(t, sub.ID()); got["p2"] != events {
		t.Fatalf("after p1 closed, p2 handled %d of %d notifications of p1's subscription", got["p2"], events)
	}
}

func waitFleet(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterOptions(t *testing.T) {
	tr, err := mqtt.New("tcp://127.0.0.1:1", ctrlID, mqtt.WithTopic(fleetTopic))
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range []usp.Cluster{
		{Process: "", Address: fleetAddress},
		{Process: "a:b", Address: fleetAddress},
		{Process: "p1"},
		{Process: "p1", Address: func(string) mtp.Address { return mtp.Address{} }},
		{Process: "p1", Address: fleetAddress, ForwardTimeout: -1},
	} {
		if _, err := usp.NewController(ctrlID, usp.WithTransport(tr), usp.WithCluster(cl)); !errors.Is(err, usp.ErrInvalidOption) {
			t.Errorf("%+v: %v", cl, err)
		}
	}
}

// TestClusterLoadsOwnRecordsOnly: in a store the processes share, a
// starting process takes back its own operations (and leaves the others'
// operations and subscriptions alone: it neither restores nor deletes
// them).
func TestClusterLoadsOwnRecordsOnly(t *testing.T) {
	b := mqttFleet(t)
	store := &usp.MemoryStore{}
	at := time.Now()
	agent := "os::012345-FLEET0100"
	for _, p := range []string{"p1", "p2"} {
		sub := usp.StoredSubscription{AgentID: agent, ID: "gousp@" + p + ":s-1", Path: "Device.LocalAgent.Subscription.1.",
			NotifType: usp.NotifOperationComplete, ReferenceList: []string{"Device.ScheduleTimer()"}, Created: at}
		if err := store.PutSubscription(ctxT(t), sub); err != nil {
			t.Fatal(err)
		}
		op := usp.StoredOperation{AgentID: agent, Command: "Device.ScheduleTimer()", CommandKey: "gousp@" + p + ":k-1",
			RequestPath: "Device.LocalAgent.Request.1", SubscriptionID: sub.ID, Started: at}
		if err := store.PutOperation(ctxT(t), op); err != nil {
			t.Fatal(err)
		}
	}
	c := startFleetProcess(t, b, "p1", store, newFleetSink(), time.Second)
	ops := c.PendingOperations()
	if len(ops) != 1 || ops[0].CommandKey() != "gousp@p1:k-1" {
		var keys []string
		for _, op := range ops {
			keys = append(keys, op.CommandKey())
		}
		t.Fatalf("p1 restored operations %v, want only its own", keys)
	}
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for s, err := range store.Subscriptions(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if s.ID == "gousp@p2:s-1" {
			n++
		}
	}
	if n != 1 {
		t.Error("p2's subscription is gone from the shared store after p1 ran")
	}
}

// TestClusterOwnerRefuses: a notification the owner's handler refuses is
// left unanswered by the process that received it, so the agent sends it
// again, until the owner accepts it.
func TestClusterOwnerRefuses(t *testing.T) {
	b := mqttFleet(t)
	store := &usp.MemoryStore{}
	sink := newFleetSink()
	p1 := startFleetProcess(t, b, "p1", store, sink, 3*time.Second)
	p2 := startFleetProcess(t, b, "p2", store, sink, 3*time.Second)
	agent := startFleetAgent(t, b, "os::012345-FLEET0200")
	reachable(t, p1, agent.EndpointID())
	reachable(t, p2, agent.EndpointID())
	var mu sync.Mutex
	tries := map[string]int{}
	if _, err := p1.Agent(agent.EndpointID()).Subscribe(ctxT(t), usp.SubscriptionSpec{
		NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}, NotifRetry: true,
		Handler: func(_ context.Context, n *usp.Notification) error {
			mu.Lock()
			defer mu.Unlock()
			tries[n.MsgID]++
			if tries[n.MsgID] == 1 {
				return errors.New("not yet")
			}
			return nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	const events = 10
	for range events {
		if err := agent.Emit(ctxT(t), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFleet(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tries) == events && len(agent.PendingNotifications()) == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for id, n := range tries {
		if n < 2 {
			t.Errorf("%s answered after %d delivery: the refusal did not keep it unanswered", id, n)
		}
	}
	if sink.fwd.Load() == 0 {
		t.Error("no notification was forwarded to p1")
	}
}

// strayTransport is an agent's transport that sends everything to the
// controller's shared topic, answers included: an agent that ignores the
// reply topic it was given.
type strayTransport struct {
	mtp.Transport
	shared mtp.Address
}

func (s strayTransport) Send(ctx context.Context, _ mtp.Address, data []byte) error {
	return s.Transport.Send(ctx, s.shared, data)
}

// TestClusterStrayAnswers: an agent answers on the shared topic, so the
// broker hands its answers to either process; those meant for the other
// are passed on to it, and every call completes where it was made.
func TestClusterStrayAnswers(t *testing.T) {
	b := mqttFleet(t)
	store := &usp.MemoryStore{}
	sink := newFleetSink()
	p1 := startFleetProcess(t, b, "p1", store, sink, 2*time.Second)
	p2 := startFleetProcess(t, b, "p2", store, sink, 2*time.Second)
	id := "os::012345-STRAY"
	a, err := usptest.NewAgent(id, usptest.WithTransport(strayTransport{b.agent(id), b.shared}), usptest.WithoutBootSubscription(),
		usptest.WithController(ctrlID, b.shared))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	reachable(t, p1, id)
	reachable(t, p2, id)
	// Round robin over two members: about half of each process's
	// answers land on the other.
	for i := range 8 {
		for _, c := range []*usp.Controller{p1, p2} {
			ctx, cancel := context.WithTimeout(ctxT(t), 10*time.Second)
			v, err := c.Agent(id).GetValue(ctx, "Device.DeviceInfo.SerialNumber")
			cancel()
			if err != nil || v == "" {
				t.Fatalf("call %d: %q, %v", i, v, err)
			}
		}
	}
	if sink.ans.Load() == 0 {
		t.Fatal("no answer landed on the other process: the test tested nothing")
	}
	t.Logf("%d answers passed on to the process that asked", sink.ans.Load())

	// Answers that come after their call gave up are passed on all the
	// same and dropped there, with a log line, and nothing else happens.
	a.Faults().Delay(300 * time.Millisecond)
	for range 4 {
		ctx, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
		if _, err := p1.Agent(id).GetValue(ctx, "Device.DeviceInfo.SerialNumber"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a call that outlived its context: %v", err)
		}
		cancel()
	}
	waitFleet(t, func() bool { return sink.late.Load() > 0 })
	a.Faults().Delay(0)
	ctx, cancel := context.WithTimeout(ctxT(t), 10*time.Second)
	defer cancel()
	if _, err := p2.Agent(id).GetValue(ctx, "Device.DeviceInfo.SerialNumber"); err != nil {
		t.Fatalf("after the late answers: %v", err)
	}
}

// TestClusterMQTT311: an agent whose MQTT client speaks 3.1.1 only, in
// front of two processes with a shared subscription on mosquitto. Its
// records carry the reply-to suffix (<topic>/reply-to=...), which the
// group's $share/<group>/<topic>/+ filter takes; each process reaches it
// and gets its answers, wherever they land; a notification for one
// process's subscription that lands on the other is forwarded, and the
// NotifyResp reaches the agent with the suffix.
func TestClusterMQTT311(t *testing.T) {
	url := brokertest.StartMosquitto(t)
	b := mqttFleetOn(t, url)
	store := &usp.MemoryStore{}
	sink := newFleetSink()
	procs := map[string]*usp.Controller{
		"p1": startFleetProcess(t, b, "p1", store, sink, 2*time.Second),
		"p2": startFleetProcess(t, b, "p2", store, sink, 2*time.Second),
	}
	const id, topic = "os::012345-LEGACY311", "usp/fleet-agent/legacy311"
	agent := brokertest.StartAgent311(t, url, id, topic, fleetTopic)
	agent.SendRecord(fleetTopic, record.NewMQTTConnect("1.3", ctrlID, id, usprecord.MQTTConnectRecord_V3_1_1, topic), true)

	suffixed := 0
	for round := range 4 {
		for _, name := range []string{"p1", "p2"} {
			errc := make(chan error, 1)
			go func() {
				// The first call of each process may find the agent only
				// once the process that got its connect record stored it.
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				for {
					_, err := procs[name].Agent(id).GetValues(ctx, "Device.DeviceInfo.")
					if !errors.Is(err, usp.ErrUnknownAgent) || ctx.Err() != nil {
						errc <- err
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
			got, req := agent.Receive()
			// Whichever process got the MQTTConnect record, the other
			// learns the agent's version from the store with its address.
			if strings.Contains(got, "/reply-to=") {
				suffixed++
			} else {
				t.Errorf("round %d: %s's request on %q, without the reply-to suffix a 3.1.1 client needs", round, name, got)
			}
			agent.SendMsg(agent.ReplyTopic(got), ctrlID, msg.GetResp{Results: []msg.GetResult{{Requested: "Device.DeviceInfo."}}}.Build(req.GetHeader().GetMsgId()))
			if err := <-errc; err != nil {
				t.Fatalf("round %d: %s's Get: %v", round, name, err)
			}
		}
	}
	// Notifications of p2's subscription, sent to the shared topic: the
	// broker spreads them; p2's handler gets each once, the agent an
	// answer for each.
	const notes = 6
	for i := range notes {
		n := msg.Notify{SubscriptionID: "gousp@p2:legacy-sub", SendResp: true,
			Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"Cause": "LocalReboot"}}}
		agent.SendMsg(fleetTopic, ctrlID, n.Build(fmt.Sprintf("legacy-notify-%d", i)))
		got, resp := agent.Receive()
		if resp.GetHeader().GetMsgType() != uspmsg.Header_NOTIFY_RESP || resp.GetHeader().GetMsgId() != fmt.Sprintf("legacy-notify-%d", i) {
			t.Fatalf("agent got %v on %q, want NotifyResp legacy-notify-%d", resp, got, i)
		}
		if !strings.Contains(got, "/reply-to=") {
			t.Errorf("NotifyResp on %q, without the reply-to suffix a 3.1.1 client needs", got)
		}
	}
	by := sink.handledBy(t, "gousp@p2:legacy-sub")
	if by["p2"] != notes || by["p1"] != 0 {
		t.Errorf("notifications of p2's subscription handled by %v, want all %d by p2", by, notes)
	}
	if sink.fwd.Load() == 0 {
		t.Error("no notification landed on p1 to be forwarded: the forwarding was not tested")
	}
	t.Logf("%d of 8 requests carried the reply-to suffix; %d answers passed on; %d notifications forwarded", suffixed, sink.ans.Load(), sink.fwd.Load())
}

// TestClusterClaimAll: notifications nobody owns (a subscription with
// an ID of the caller's) are handled where they land. With ClaimAll,
// a retransmission that lands on the other process is flagged Duplicate
// there: each process refuses the first copy it gets, so every
// notification is delivered on both, the later deliveries flagged.
func TestClusterClaimAll(t *testing.T) {
	b := mqttFleet(t)
	store := &usp.MemoryStore{}
	type delivery struct {
		process string
		dup     bool
	}
	var mu sync.Mutex
	got := map[string][]delivery{}
	ctls := map[string]*usp.Controller{}
	for _, name := range []string{"p1", "p2"} {
		refused := map[string]bool{}
		c, err := usp.NewController(ctrlID, usp.WithTransport(b.ctrl(name)), usp.WithStore(store),
			usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
				if n.SubscriptionID != "fleet-events" {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				got[n.MsgID] = append(got[n.MsgID], delivery{name, n.Duplicate})
				if !refused[n.MsgID] {
					refused[n.MsgID] = true
					return errors.New("not yet")
				}
				return nil
			}),
			usp.WithCluster(usp.Cluster{Process: name, Address: b.address, ClaimAll: true}))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		ctls[name] = c
	}
	a := startFleetAgent(t, b, "os::012345-UNOWNED")
	reachable(t, ctls["p1"], a.EndpointID())
	if _, err := ctls["p1"].Agent(a.EndpointID()).Subscribe(ctxT(t), usp.SubscriptionSpec{ID: "fleet-events",
		NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}, NotifRetry: true,
		Handler: func(context.Context, *usp.Notification) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	const events = 4
	// One at a time, so that the broker's turns alternate between the
	// copies of one notification.
	for range events {
		if err := a.Emit(ctxT(t), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
			t.Fatal(err)
		}
		waitFleet(t, func() bool { return len(a.PendingNotifications()) == 0 })
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != events {
		t.Fatalf("%d notifications delivered, want %d: %v", len(got), events, got)
	}
	crossed := 0
	for id, ds := range got {
		both := map[string]bool{}
		for i, d := range ds {
			both[d.process] = true
			if d.dup != (i > 0) {
				t.Errorf("%s: delivery %d (on %s) flagged Duplicate %v: %v", id, i+1, d.process, d.dup, ds)
			}
		}
		if len(both) == 2 {
			crossed++
		}
	}
	if crossed == 0 {
		t.Fatalf("no notification was delivered on both processes: nothing tested: %v", got)
	}
	t.Logf("%d of %d notifications delivered on both processes, the later copies flagged", crossed, events)
}
