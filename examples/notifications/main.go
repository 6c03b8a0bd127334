// Notifications shows one controller collecting notifications from many
// agents. It starts --agents usptest agents, subscribes on each to value
// changes of Device.DeviceInfo.ProvisioningCode and to the
// Device.LocalAgent.Periodic! event, makes every agent change that parameter
// and fire that event, counts what arrives per agent with a notify handler,
// and prints a summary table.
//
// The subscriptions ask for NotifRetry: the agents resend each notification
// until the controller answers it with a NotifyResp, which the controller
// does once its handlers accepted it. At the end the example checks that no
// agent is still waiting for one.
//
//	go run ./examples/notifications                 # 20 agents, embedded MQTT broker
//	go run ./examples/notifications --agents 500 --mtp memory
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const controllerID = "proto::gousp-notifications"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifications:", err)
		os.Exit(1)
	}
}

// counts are the notifications received from one agent.
type counts struct{ valueChange, event int }

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	fs := flag.NewFlagSet("notifications", flag.ContinueOnError)
	nAgents := fs.Int("agents", 20, "number of agents")
	kind := fs.String("mtp", "mqtt", "transport: mqtt (embedded broker) or memory")
	changes := fs.Int("changes", 5, "value changes per agent")
	events := fs.Int("events", 2, "Periodic! events per agent")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	net, err := newNetwork(*kind)
	if err != nil {
		return err
	}
	defer net.close()

	// Every agent sends a Boot! event when it starts (to a subscription
	// the agent makes for its controller), then the changes and events.
	want := *nAgents * (*changes + *events + 1)
	var (
		mu    sync.Mutex
		byID  = map[string]*counts{}
		seen  = map[string]bool{} // agent and msg_id of every notification
		total int
		retx  int // retransmissions the controller recognised
		allIn = make(chan struct{})
	)
	ctrlTr, err := net.controller()
	if err != nil {
		return err
	}
	opts := []usp.Option{
		usp.WithTransport(ctrlTr),
		// The handler is installed before Start, so that nothing is missed.
		// Returning nil accepts the notification: the controller then
		// answers it with a NotifyResp if the agent asked for one.
		usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			mu.Lock()
			defer mu.Unlock()
			// A retransmission is marked Duplicate; it may have been
			// delivered before, or refused (when the controller's queues
			// were full), so count each msg_id once.
			if n.Duplicate {
				retx++
			}
			key := n.AgentID + " " + n.MsgID
			if seen[key] {
				return nil
			}
			seen[key] = true
			c := byID[n.AgentID]
			if c == nil {
				c = &counts{}
				byID[n.AgentID] = c
			}
			switch n.Body.Kind() {
			case usp.NotifValueChange:
				c.valueChange++
			case usp.NotifEvent:
				c.event++
			}
			if total++; total == want {
				close(allIn)
			}
			return nil
		}),
	}
	agentIDs := make([]string, *nAgents)
	for i := range agentIDs {
		agentIDs[i] = fmt.Sprintf("os::012345-NOTIF%05d", i+1)
		opts = append(opts, usp.WithAgent(agentIDs[i], net.agentAddr(agentIDs[i])))
	}
	c, err := usp.NewController(controllerID, opts...)
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(context.Background()); err == nil {
			err = cerr
		}
	}()
	fmt.Fprintf(out, "controller %s over %s\n", controllerID, net)

	agents := make([]*usptest.Agent, len(agentIDs))
	for i, id := range agentIDs {
		tr, err := net.agent(id)
		if err != nil {
			return err
		}
		a, err := usptest.NewAgent(id, usptest.WithTransport(tr), usptest.WithController(controllerID, net.controllerAddr()),
			usptest.WithNotifyRetry(time.Second, 10*time.Second)) // TR-369's default starts at 5 s
		if err != nil {
			return err
		}
		if err := a.Start(ctx); err != nil {
			return err
		}
		defer a.Close(context.Background())
		agents[i] = a
	}
	fmt.Fprintf(out, "%d agents started\n", len(agents))

	// Two subscriptions per agent. The handlers only accept: counting is
	// done by the controller-wide handler above. (Without a Handler a
	// subscription keeps its notifications for Subscription.Notifications,
	// and refuses them once that buffer is full.)
	accept := func(context.Context, *usp.Notification) error { return nil }
	for _, id := range agentIDs {
		dev := c.Agent(id)
		for _, spec := range []usp.SubscriptionSpec{
			{NotifType: usp.NotifValueChange, ReferenceList: []string{"Device.DeviceInfo.ProvisioningCode"}, NotifRetry: true, Handler: accept},
			{NotifType: usp.NotifEvent, ReferenceList: []string{"Device.LocalAgent.Periodic!"}, NotifRetry: true, Handler: accept},
		} {
			if _, err := dev.Subscribe(ctx, spec); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "%d subscriptions made; each agent now changes ProvisioningCode %d times and fires Periodic! %d times\n",
		2*len(agentIDs), *changes, *events)

	// Play the devices, all at once.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(agents))
	for i, a := range agents {
		wg.Go(func() {
			for j := range *changes {
				if err := a.Model().Set("Device.DeviceInfo.ProvisioningCode", fmt.Sprintf("code-%d", j+1)); err != nil {
					errs[i] = err
					return
				}
			}
			for range *events {
				if err := a.Emit(ctx, "Device.LocalAgent.Periodic!", nil); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	select {
	case <-allIn:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("%d of %d notifications received: %w", total, want, ctx.Err())
	}
	took := time.Since(start)

	// NotifyResp goes out after the handlers ran; give the agents a moment
	// to receive the last ones.
	pending := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		pending = 0
		for _, a := range agents {
			pending += len(a.PendingNotifications())
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
	}

	mu.Lock()
	defer mu.Unlock()
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nagent\tValueChange\tEvent\ttotal")
	var sum counts
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		n := byID[id]
		sum.valueChange += n.valueChange
		sum.event += n.event
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", id, n.valueChange, n.event, n.valueChange+n.event)
	}
	fmt.Fprintf(w, "all %d agents\t%d\t%d\t%d\n", len(byID), sum.valueChange, sum.event, total)
	_ = w.Flush()
	fmt.Fprintf(out, "%d notifications in %v (%.0f/s), %d retransmissions\n", total, took.Round(time.Millisecond), float64(total)/took.Seconds(), retx)
	fmt.Fprintf(out, "notifications still waiting for a NotifyResp: %d\n", pending)
	if pending > 0 {
		return fmt.Errorf("%d notifications were never answered", pending)
	}
	return nil
}

// network makes the transports of the controller and the agents, over an
// embedded MQTT broker or an in-process memory network.
type network struct {
	kind   string
	broker *mqtttest.Broker
	mem    *memory.Network
}

func newNetwork(kind string) (*network, error) {
	switch kind {
	case "mqtt":
		b, err := mqtttest.Start("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &network{kind: kind, broker: b}, nil
	case "memory":
		return &network{kind: kind, mem: memory.NewNetwork()}, nil
	}
	return nil, fmt.Errorf("--mtp %q: want mqtt or memory", kind)
}

func (n *network) String() string {
	if n.broker != nil {
		return "MQTT, embedded broker at " + n.broker.URL()
	}
	return "an in-process memory network"
}

const controllerTopic = "/usp/controller/notifications"

func (n *network) controller() (mtp.Transport, error) {
	if n.broker != nil {
		return mqtt.New(n.broker.URL(), controllerID, mqtt.WithTopic(controllerTopic))
	}
	// A memory endpoint refuses records beyond its queue (the sender sees
	// memory.ErrQueueFull, and an agent retries its notification seconds
	// later): make room for bursts from many agents at once.
	return n.mem.Endpoint(controllerID, memory.WithQueueSize(1<<16))
}

func (n *network) controllerAddr() mtp.Address {
	if n.broker != nil {
		return mtp.Address{MTP: mtp.MQTT, To: controllerTopic}
	}
	return mtp.Address{MTP: mtp.Memory, To: controllerID}
}

func (n *network) agent(id string) (mtp.Transport, error) {
	if n.broker != nil {
		return mqtt.New(n.broker.URL(), id, mqtt.WithTopic(n.agentAddr(id).To))
	}
	return n.mem.Endpoint(id)
}

func (n *network) agentAddr(id string) mtp.Address {
	if n.broker != nil {
		return mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/" + id}
	}
	return mtp.Address{MTP: mtp.Memory, To: id}
}

func (n *network) close() {
	if n.broker != nil {
		_ = n.broker.Close()
	}
}
