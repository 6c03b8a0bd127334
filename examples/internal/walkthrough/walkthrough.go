package walkthrough

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// Config is one walkthrough: the controller, the agent, and what to listen
// to.
type Config struct {
	// ControllerID is the controller's endpoint ID, Transport the MTP it
	// uses (not yet started: the controller starts and closes it).
	ControllerID string
	Transport    mtp.Transport
	// Where tells the user how agents reach the controller, for the first
	// line printed, e.g. "on mqtt://127.0.0.1:1883, topic /usp/controller".
	Where string

	// AgentID is the agent's endpoint ID. AgentAddr is its address if
	// known in advance; when it is zero, Run waits up to Wait for the
	// agent's connect record, which tells the address.
	AgentID   string
	AgentAddr mtp.Address
	Wait      time.Duration
	// Connect names the binding's connect record and address, for
	// messages.
	Connect Connect

	// Subscribe lists the subscriptions to make. Notifications are then
	// printed for Listen, or until Count of them arrived (0: no limit).
	Subscribe []usp.SubscriptionSpec
	Listen    time.Duration
	Count     int
}

// Connect names, in the binding's words, how an agent announces itself.
type Connect struct {
	Record  string // the connect record, e.g. "MQTTConnect"
	Address string // what an address is called, e.g. "topic"
	Flag    string // the flag that gives the agent's address instead, e.g. "--agent-topic"
}

// Run performs the walkthrough of cfg, printing to out. It ends when the
// listening time is over, Count notifications arrived or ctx ends; the
// error of removing a subscription or closing the controller is returned
// if nothing failed before.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	// The agent is known either from the configuration or, once it
	// connects, from its connect record: the handler tells us when that
	// happens.
	arrived := make(chan usp.AgentInfo, 1)
	opts := []usp.Option{
		usp.WithTransport(cfg.Transport),
		usp.WithAgentHandler(func(ev usp.AgentEvent) {
			if ev.Kind == usp.AgentConnected && ev.Agent.EndpointID == cfg.AgentID {
				select {
				case arrived <- ev.Agent:
				default:
				}
			}
		}),
	}
	if !cfg.AgentAddr.IsZero() {
		opts = append(opts, usp.WithAgent(cfg.AgentID, cfg.AgentAddr))
	}
	c, err := usp.NewController(cfg.ControllerID, opts...)
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
	fmt.Fprintf(out, "controller %s %s\n", cfg.ControllerID, cfg.Where)

	if cfg.AgentAddr.IsZero() {
		fmt.Fprintf(out, "waiting for %s to connect...\n", cfg.AgentID)
		wctx, cancel := context.WithTimeout(ctx, cfg.Wait)
		defer cancel()
		select {
		case info := <-arrived:
			fmt.Fprintf(out, "agent %s connected, %s %s\n", info.EndpointID, cfg.Connect.Address, info.Address.To)
		case <-wctx.Done():
			return fmt.Errorf("no %s record from %s (give %s for an agent already online): %w",
				cfg.Connect.Record, cfg.AgentID, cfg.Connect.Flag, wctx.Err())
		}
	}
	agent := c.Agent(cfg.AgentID)

	vals, err := agent.GetValues(ctx, "Device.DeviceInfo.")
	if err != nil {
		return fmt.Errorf("reading Device.DeviceInfo.: %w", err)
	}
	fmt.Fprintln(out, "\nDevice.DeviceInfo.")
	Table(out, vals)

	// Collect notifications before subscribing, so that none is missed.
	// A full backlog refuses a notification: the agent sends it again.
	notes := make(chan *usp.Notification, 64)
	remove := c.OnNotify(func(_ context.Context, n *usp.Notification) error {
		select {
		case notes <- n:
			return nil
		default:
			return errors.New("backlog full")
		}
	})
	defer remove()

	for _, spec := range cfg.Subscribe {
		sub, err := agent.Subscribe(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "subscribed to %s %v as %s\n", spec.NotifType, spec.ReferenceList, sub.Path())
		defer func() {
			// The subscription object lives on the agent: remove it, even
			// when ctx has ended.
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if uerr := sub.Unsubscribe(uctx); err == nil {
				err = uerr
			}
		}()
	}

	fmt.Fprintf(out, "\nlistening for notifications for %s\n", cfg.Listen)
	end := time.After(cfg.Listen)
	n := 0
loop:
	for cfg.Count == 0 || n < cfg.Count {
		select {
		case note := <-notes:
			n++
			fmt.Fprintf(out, "%s  %s  %s\n", note.Received.Format(time.TimeOnly), note.AgentID, Describe(note.Body))
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	fmt.Fprintf(out, "%d notifications\n", n)
	return nil
}

// RegisterFlags defines on fs the flags of what Run does with the agent,
// filling cfg: --agent, --wait, --listen, --count and --subscribe. Set
// cfg.Connect first: the usage of --wait names the connect record.
func (cfg *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&cfg.AgentID, "agent", "", "the agent's endpoint ID (required)")
	fs.DurationVar(&cfg.Wait, "wait", time.Minute, "how long to wait for the agent's "+cfg.Connect.Record+" record")
	fs.DurationVar(&cfg.Listen, "listen", 30*time.Second, "how long to print notifications")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many notifications (0: no limit)")
	fs.Func("subscribe", "subscribe to `TYPE=PATH[,PATH...]` (e.g. ValueChange=Device.WiFi.SSID.*.SSID; TYPE:PATH is accepted too); repeatable", AppendSpec(&cfg.Subscribe))
}

// AppendSpec returns a function for [flag.FlagSet.Func] that parses a
// --subscribe value, TYPE=PATH[,PATH...] as uspctl writes it (TYPE:PATH
// is accepted too: type names contain neither character), and appends the
// subscription to specs. The subscriptions ask for NotifRetry, so that the agent resends a
// notification until the controller has it.
func AppendSpec(specs *[]usp.SubscriptionSpec) func(string) error {
	return func(s string) error {
		i := strings.IndexAny(s, "=:")
		if i <= 0 || i == len(s)-1 {
			return errors.New("want TYPE=PATH[,PATH...]")
		}
		kind, refs := s[:i], s[i+1:]
		*specs = append(*specs, usp.SubscriptionSpec{NotifType: kind, ReferenceList: strings.Split(refs, ","), NotifRetry: true})
		return nil
	}
}

// Describe renders one notification on one line.
func Describe(n msg.Notification) string {
	switch b := n.(type) {
	case *msg.ValueChange:
		return fmt.Sprintf("ValueChange %s = %q", b.ParamPath, b.ParamValue)
	case *msg.Event:
		return fmt.Sprintf("Event %s %v", b.Path(), b.Params)
	case *msg.ObjectCreation:
		return fmt.Sprintf("ObjectCreation %s %v", b.ObjPath, b.UniqueKeys)
	case *msg.ObjectDeletion:
		return "ObjectDeletion " + b.ObjPath
	case *msg.OperationComplete:
		if b.Err != nil {
			return fmt.Sprintf("OperationComplete %s key=%s failed: %v", b.Path(), b.CommandKey, b.Err)
		}
		return fmt.Sprintf("OperationComplete %s key=%s %v", b.Path(), b.CommandKey, b.OutputArgs)
	case *msg.OnBoardRequest:
		return fmt.Sprintf("OnBoardRequest %s-%s-%s versions %s", b.OUI, b.ProductClass, b.SerialNumber, b.AgentSupportedProtocolVersions)
	}
	return n.Kind()
}

// Table prints m as indented name/value columns, sorted by name.
func Table(out io.Writer, m map[string]string) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "  %s\t%s\n", k, m[k])
	}
	_ = w.Flush()
}
