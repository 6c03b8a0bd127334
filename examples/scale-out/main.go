// Scale-out runs several controller processes as one controller (see
// SCALING.md): one endpoint ID, an MQTT 5 shared subscription that spreads
// the agents' records over the processes, a reply topic per process, and a
// shared store. It prints who served what.
//
//	go run ./examples/scale-out                          # everything embedded
//	go run ./examples/scale-out -broker mqtt://emqx:1883 -procs 3 -agents 20
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
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
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
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *broker, *procs, *agents); err != nil {
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

func run(ctx context.Context, out io.Writer, brokerURL string, nProcs, nAgents int) error {
	if nProcs < 1 || nAgents < 1 {
		return errors.New("need at least one process and one agent")
	}
	if brokerURL == "" {
		b, err := mqtttest.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer b.Close()
		brokerURL = b.URL()
	}
	fmt.Fprintf(out, "broker %s, %d controller processes, %d agents\n", brokerURL, nProcs, nAgents)

	t := &tally{calls: map[string]int{}, ops: map[string]int{}, handled: map[string]int{}, forwarded: map[string]int{}}
	store := &usp.MemoryStore{}
	address := func(p string) mtp.Address { return mtp.Address{MTP: mtp.MQTT, To: sharedTopic + "/reply/" + p} }
	var names []string
	ctls := map[string]*usp.Controller{}
	for i := range nProcs {
		name := fmt.Sprintf("p%d", i+1)
		tr, err := mqtt.New(brokerURL, controllerID, mqtt.WithTopic(sharedTopic),
			mqtt.WithSharedSubscription("scale-out"), mqtt.WithClientID(name))
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
			usp.WithCluster(usp.Cluster{Process: name, Address: address}))
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
		tr, err := mqtt.New(brokerURL, id, mqtt.WithTopic("usp/scale-out/agent/"+id))
		if err != nil {
			return err
		}
		a, err := usptest.NewAgent(id, usptest.WithTransport(tr), usptest.WithoutBootSubscription(),
			usptest.WithNotificationsToController(), usptest.WithController(controllerID, mtp.Address{MTP: mtp.MQTT, To: sharedTopic}))
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
