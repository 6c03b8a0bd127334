// Scale-out runs several controller processes as one controller (see
// SCALING.md): one endpoint ID, an MQTT 5 shared subscription (or, on
// STOMP, one RabbitMQ queue the processes consume from together) that
// spreads the agents' records over the processes, a reply topic or
// destination per process, and a shared store. It prints who served what.
//
//	go run ./examples/scale-out                          # everything embedded
//	go run ./examples/scale-out -broker mqtt://emqx:1883 -procs 3 -agents 20
//	go run ./examples/scale-out -stomp node1:61613,node2:61613,node3:61613
//
// With -stomp, process i and agent i connect to node i mod n of a RabbitMQ
// cluster; go run ./internal/brokertest/cmd/rabbitcluster starts one on
// this machine and prints the list.
//
// By default the broker is embedded and the processes are controllers in
// this program sharing an in-memory store, so that it runs with nothing
// installed. Separate programs on separate machines share
// github.com/gousp/gousp/usp/store/pgstore instead, and give each process
// a stable name (the pod name) in usp.Cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const (
	controllerID = "proto::scale-out-controller"
	sharedTopic  = "usp/scale-out/controller"
)

func main() {
	broker := flag.String("broker", "", "MQTT 5 broker URL with shared subscriptions (default: an embedded one)")
	procs := flag.Int("procs", 3, "controller processes")
	agents := flag.Int("agents", 12, "usptest agents")
	stompNodes := flag.String("stomp", "", "STOMP instead of MQTT: comma-separated host:port of RabbitMQ nodes (login guest/guest)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := binding{mqttURL: *broker}
	if *stompNodes != "" {
		b = binding{stompNodes: strings.Split(*stompNodes, ",")}
	}
	if err := run(ctx, os.Stdout, b, *procs, *agents); err != nil {
		fmt.Fprintln(os.Stderr, "scale-out:", err)
		os.Exit(1)
	}
}

// tally counts, per process, what it served.
type tally struct {
	mu        sync.Mutex
	calls     map[string]int
	ops       map[string]int
	handled   map[string]int
	forwarded map[string]int
}

// logs is each process's log handler: it counts the notifications the
// process forwarded to their owner.
type logs struct {
	t       *tally
	process string
}

func (l logs) Enabled(context.Context, slog.Level) bool { return true }
func (l logs) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "notification forwarded to its owner" {
		l.t.mu.Lock()
		l.t.forwarded[l.process]++
		l.t.mu.Unlock()
	}
	return nil
}
func (l logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logs) WithGroup(string) slog.Handler      { return l }

// binding says which broker the processes and agents use: an MQTT 5
// broker, or the nodes of a RabbitMQ cluster over STOMP.
type binding struct {
	mqttURL    string   // "" with no stompNodes: an embedded broker
	stompNodes []string // host:port of each node
}

const (
	sharedQueue = "/queue/usp-scale-out"        // the processes compete for its records
	replyPrefix = "/topic/usp-scale-out.reply." // + process: goes away with it
)

func (b binding) String() string {
	if len(b.stompNodes) > 0 {
		return "STOMP " + strings.Join(b.stompNodes, ", ")
	}
	return b.mqttURL
}

// shared is the controller's address as the agents know it.
func (b binding) shared() mtp.Address {
	if len(b.stompNodes) > 0 {
		return mtp.Address{MTP: mtp.STOMP, To: sharedQueue}
	}
	return mtp.Address{MTP: mtp.MQTT, To: sharedTopic}
}

// address is where process p receives what is for it alone.
func (b binding) address(p string) mtp.Address {
	if len(b.stompNodes) > 0 {
		return mtp.Address{MTP: mtp.STOMP, To: replyPrefix + p}
	}
	return mtp.Address{MTP: mtp.MQTT, To: sharedTopic + "/reply/" + p}
}

// controller makes the transport of the i-th process, named p.
func (b binding) controller(i int, p string) (mtp.Transport, error) {
	if n := len(b.stompNodes); n > 0 {
		return stomp.New(b.stompNodes[i%n], controllerID, stomp.WithCredentials("guest", "guest"), stomp.WithHost("/"),
			stomp.WithDestination(sharedQueue), stomp.WithReplyDestination(b.address(p).To))
	}
	return mqtt.New(b.mqttURL, controllerID, mqtt.WithTopic(sharedTopic),
		mqtt.WithSharedSubscription("scale-out"), mqtt.WithClientID(p))
}

// agent makes the transport of the i-th agent.
func (b binding) agent(i int, id string) (mtp.Transport, error) {
	if n := len(b.stompNodes); n > 0 {
		return stomp.New(b.stompNodes[i%n], id, stomp.WithCredentials("guest", "guest"), stomp.WithHost("/"),
			stomp.WithDestination("/queue/usp-scale-out.agent."+strings.ReplaceAll(id, ":", "")))
	}
	return mqtt.New(b.mqttURL, id, mqtt.WithTopic("usp/scale-out/agent/"+id))
}

func run(ctx context.Context, out io.Writer, b binding, nProcs, nAgents int) error {
	if nProcs < 1 || nAgents < 1 {
		return errors.New("need at least one process and one agent")
	}
	if b.mqttURL == "" && len(b.stompNodes) == 0 {
		eb, err := mqtttest.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer eb.Close()
		b.mqttURL = eb.URL()
	}
	fmt.Fprintf(out, "broker %s, %d controller processes, %d agents\n", b, nProcs, nAgents)

	t := &tally{calls: map[string]int{}, ops: map[string]int{}, handled: map[string]int{}, forwarded: map[string]int{}}
	store := &usp.MemoryStore{}
	var names []string
	ctls := map[string]*usp.Controller{}
	for i := range nProcs {
		name := fmt.Sprintf("p%d", i+1)
		tr, err := b.controller(i, name)
		if err != nil {
			return err
		}
		c, err := usp.NewController(controllerID, usp.WithTransport(tr), usp.WithStore(store),
			usp.WithLogger(slog.New(logs{t, name})),
			usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
				t.mu.Lock()
				t.handled[name]++
				t.mu.Unlock()
				return nil
			}),
			usp.WithCluster(usp.Cluster{Process: name, Address: b.address}))
		if err != nil {
			return err
		}
		if err := c.Start(ctx); err != nil {
			return err
		}
		defer c.Close(context.WithoutCancel(ctx))
		names = append(names, name)
		ctls[name] = c
	}

	var ids []string
	var agents []*usptest.Agent
	for i := range nAgents {
		id := fmt.Sprintf("os::012345-SCALE%04d", i)
		tr, err := b.agent(i, id)
		if err != nil {
			return err
		}
		a, err := usptest.NewAgent(id, usptest.WithTransport(tr), usptest.WithoutBootSubscription(),
			usptest.WithNotificationsToController(), usptest.WithController(controllerID, b.shared()))
		if err != nil {
			return err
		}
		if err := a.Start(ctx); err != nil {
			return err
		}
		defer a.Close(context.WithoutCancel(ctx))
		ids, agents = append(ids, id), append(agents, a)
	}

	// Every process calls every agent: each connect record reached one
	// process, the others find the agent in the store.
	for _, name := range names {
		for _, id := range ids {
			if err := callUntilKnown(ctx, ctls[name], id); err != nil {
				return fmt.Errorf("%s calling %s: %w", name, id, err)
			}
			t.calls[name]++
		}
	}
	fmt.Fprintln(out, "every process reached every agent")

	// Every process runs an asynchronous command on every agent; the
	// completions land anywhere and reach the process that waits.
	var wg sync.WaitGroup
	errs := make(chan error, nProcs*nAgents)
	for _, name := range names {
		for _, id := range ids {
			wg.Go(func() {
				if _, err := ctls[name].Agent(id).Call(ctx, "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"}); err != nil {
					errs <- fmt.Errorf("%s on %s: %w", name, id, err)
					return
				}
				t.mu.Lock()
				t.ops[name]++
				t.mu.Unlock()
			})
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Fprintf(out, "%d operations completed on the process that started them\n", nProcs*nAgents)

	// The first process subscribes to an event on every agent; the events
	// reach it whichever process the broker gives them to.
	got := make(chan struct{}, nAgents)
	for _, id := range ids {
		if _, err := ctls[names[0]].Agent(id).Subscribe(ctx, usp.SubscriptionSpec{
			NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}, NotifRetry: true,
			Handler: func(context.Context, *usp.Notification) error { got <- struct{}{}; return nil },
		}); err != nil {
			return err
		}
	}
	for _, a := range agents {
		if err := a.Emit(ctx, "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
			return err
		}
	}
	for range agents {
		select {
		case <-got:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fmt.Fprintf(out, "%d events reached %s, which subscribed\n", nAgents, names[0])

	t.mu.Lock()
	defer t.mu.Unlock()
	sort.Strings(names)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "process\tcalls\toperations\tnotifications handled\tforwarded to their owner")
	for _, n := range names {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", n, t.calls[n], t.ops[n], t.handled[n], t.forwarded[n])
	}
	return w.Flush()
}

// callUntilKnown reads one parameter, waiting for the process that heard
// the agent to write it to the store (once a second).
func callUntilKnown(ctx context.Context, c *usp.Controller, id string) error {
	for {
		_, err := c.Agent(id).GetValue(ctx, "Device.DeviceInfo.SerialNumber")
		if !errors.Is(err, usp.ErrUnknownAgent) {
			return err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}
