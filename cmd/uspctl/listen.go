package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/usp"
)

const listenLong = `Print notifications as they arrive, answering NotifyResp when the agent asks for
one. Agents send notifications to the address they have configured for this
controller, so give the topic (--topic), destination or listen address that the
agents use. With --agent or --agents only those agents' notifications are
printed. --subscribe TYPE=PATH[,PATH...] creates a subscription on every named
agent first (TYPE: ValueChange, ObjectCreation, ObjectDeletion,
OperationComplete or Event) and removes it on exit.

listen ends after --count notifications, after --for, or on Ctrl-C.
Notifications beyond --count are left unanswered, so that the agent sends them
again to whoever listens next.

Text: one line per notification, "TIME  AGENT  TYPE  SUBSCRIPTION  DETAILS".
JSON: one object per line: {"received", "agent", "msg_id", "subscription_id",
"send_resp", "duplicate", "type", "path", "value", "params", "unique_keys",
"command_key", "output", "error", "oui", "product_class", "serial_number",
"versions"}, with only the fields of its type.
Exit code 4 when --count notifications did not arrive within --for.`

// errEnough refuses notifications past --count, leaving them unanswered.
var errEnough = errors.New("uspctl: enough notifications")

// sendCounter counts records sent, to know when the last NotifyResp left.
type sendCounter struct {
	n atomic.Int64
}

func (s *sendCounter) OnRecord(ev usp.RecordEvent) {
	if ev.Direction == usp.Out {
		s.n.Add(1)
	}
}

func (a *app) listenCommand() *cobra.Command {
	var count int
	var forDur time.Duration
	var subscribe []string
	var notifRetry bool
	cmd := &cobra.Command{
		Use:     "listen",
		Short:   "Print notifications as they arrive",
		Long:    listenLong,
		Example: "  uspctl listen --topic /usp/controller/ctl --count 1 --for 1m\n  uspctl listen --agent proto::a --agent-topic /usp/agent/a --subscribe ValueChange=Device.DeviceInfo.UpTime",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 0 || forDur < 0 {
				return usageErrorf("--count and --for cannot be negative")
			}
			specs, err := parseSubscriptions(subscribe, notifRetry)
			if err != nil {
				return err
			}
			agents, _, err := a.agentList()
			if err != nil {
				return err
			}
			if len(specs) > 0 && len(agents) == 0 {
				return usageErrorf("--subscribe needs --agent or --agents")
			}
			return codeErr(a.listen(cmd.Context(), agents, specs, count, forDur))
		},
	}
	f := cmd.Flags()
	f.IntVar(&count, "count", 0, "stop after this many notifications (0: no limit)")
	f.DurationVar(&forDur, "for", 0, "stop after this long (0: until Ctrl-C or --count)")
	f.StringArrayVar(&subscribe, "subscribe", nil, "subscribe first: TYPE=PATH[,PATH...] (repeatable)")
	f.BoolVar(&notifRetry, "notif-retry", false, "ask the agent to retry subscribed notifications until answered")
	return cmd
}

// cutSubscription splits TYPE=PATH, also accepting TYPE:PATH (the form
// of the examples' --subscribe); notification type names have neither
// character, so the first one found is the separator.
func cutSubscription(s string) (typ, paths string, ok bool) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func parseSubscriptions(args []string, retry bool) ([]usp.SubscriptionSpec, error) {
	var out []usp.SubscriptionSpec
	for _, s := range args {
		typ, paths, ok := cutSubscription(s)
		if !ok || paths == "" {
			return nil, usageErrorf("--subscribe %q: expected TYPE=PATH[,PATH...]", s)
		}
		switch typ {
		case usp.NotifValueChange, usp.NotifObjectCreation, usp.NotifObjectDeletion, usp.NotifOperationComplete, usp.NotifEvent:
		default:
			return nil, usageErrorf("--subscribe %q: unknown notification type %q", s, typ)
		}
		refs := strings.Split(paths, ",")
		if err := checkPaths("--subscribe", refs); err != nil {
			return nil, err
		}
		out = append(out, usp.SubscriptionSpec{
			NotifType:     typ,
			ReferenceList: refs,
			NotifRetry:    retry,
			Handler:       func(context.Context, *usp.Notification) error { return nil },
		})
	}
	return out, nil
}

func (a *app) listen(ctx context.Context, agents []agentSpec, specs []usp.SubscriptionSpec, count int, forDur time.Duration) int {
	filter := map[string]bool{}
	for _, ag := range agents {
		filter[ag.ID] = true
	}
	var (
		mu      sync.Mutex
		printed int
		acks    int64 // NotifyResps owed for the notifications printed
		done    = make(chan struct{})
	)
	handler := func(_ context.Context, n *usp.Notification) error {
		if len(filter) > 0 && !filter[n.AgentID] {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if count > 0 && printed >= count {
			return errEnough
		}
		a.printNotification(n)
		printed++
		if n.SendResp {
			acks++
		}
		if count > 0 && printed == count {
			close(done)
		}
		return nil
	}
	sent := &sendCounter{}
	cn, err := a.connect(ctx, agents, usp.WithNotifyHandler(handler), usp.WithHooks(sent))
	if err != nil {
		a.errorf("%v", err)
		return exitCode(err)
	}
	defer cn.close()
	before := sent.n.Load()
	if cn.b.randomLocal != "" && len(specs) == 0 {
		a.errorf("note: receiving on %s, which no agent knows; give the topic or destination agents send this controller's notifications to (--topic, --destination)", cn.b.randomLocal)
	}

	var subs []*usp.Subscription
	defer func() {
		for _, s := range subs {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(a.s.timeout, 5*time.Second))
			if err := s.Unsubscribe(uctx); err != nil {
				a.log.Warn("could not remove a subscription", "agent", s.AgentID(), "path", s.Path(), "err", err)
			}
			cancel()
		}
	}()
	for _, ag := range agents {
		for _, spec := range specs {
			sctx, cancel := context.WithTimeout(ctx, a.s.timeout)
			err := cn.waitAgent(sctx, ag.ID)
			var s *usp.Subscription
			if err == nil {
				s, err = cn.c.Agent(ag.ID).Subscribe(sctx, spec)
			}
			cancel()
			if err != nil {
				a.errorf("%s: subscribing to %s %s: %v", ag.ID, spec.NotifType, strings.Join(spec.ReferenceList, ","), err)
				return exitCode(err)
			}
			a.log.Info("subscribed", "agent", ag.ID, "path", s.Path(), "id", s.ID())
			subs = append(subs, s)
		}
	}

	a.ready()
	var timer <-chan time.Time
	if forDur > 0 {
		t := time.NewTimer(forDur)
		defer t.Stop()
		timer = t.C
	}
	code := exitOK
	select {
	case <-done:
	case <-timer:
		mu.Lock()
		if count > 0 && printed < count {
			a.errorf("%d of %d notifications in %s", printed, count, forDur)
			code = exitTimeout
		}
		mu.Unlock()
	case <-ctx.Done():
		code = exitInterrupted
	}
	// Let the NotifyResps of what was printed leave before closing.
	mu.Lock()
	owed := acks
	mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	// Each subscription cost one Add; everything else sent is a NotifyResp.
	for sent.n.Load()-before-int64(len(subs)) < owed && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return code
}

// notificationJSON is the JSON shape of one notification.
type notificationJSON struct {
	Received       time.Time         `json:"received"`
	Agent          string            `json:"agent"`
	MsgID          string            `json:"msg_id"`
	SubscriptionID string            `json:"subscription_id"`
	SendResp       bool              `json:"send_resp"`
	Duplicate      bool              `json:"duplicate"`
	Type           string            `json:"type"`
	Path           string            `json:"path,omitempty"`
	Value          *string           `json:"value,omitempty"`
	Params         map[string]string `json:"params,omitempty"`
	UniqueKeys     map[string]string `json:"unique_keys,omitempty"`
	CommandKey     *string           `json:"command_key,omitempty"`
	Output         map[string]string `json:"output,omitempty"`
	Error          *jsonError        `json:"error,omitempty"`
	OUI            string            `json:"oui,omitempty"`
	ProductClass   string            `json:"product_class,omitempty"`
	SerialNumber   string            `json:"serial_number,omitempty"`
	Versions       []string          `json:"versions,omitempty"`
}

func newNotificationJSON(n *usp.Notification) notificationJSON {
	j := notificationJSON{
		Received: n.Received.UTC(), Agent: n.AgentID, MsgID: n.MsgID, SubscriptionID: n.SubscriptionID,
		SendResp: n.SendResp, Duplicate: n.Duplicate,
	}
	if n.Body == nil {
		return j
	}
	j.Type = n.Body.Kind()
	switch b := n.Body.(type) {
	case *msg.Event:
		j.Path, j.Params = b.Path(), nonNil(b.Params)
	case *msg.ValueChange:
		j.Path, j.Value = b.ParamPath, &b.ParamValue
	case *msg.ObjectCreation:
		j.Path, j.UniqueKeys = b.ObjPath, nonNil(b.UniqueKeys)
	case *msg.ObjectDeletion:
		j.Path = b.ObjPath
	case *msg.OperationComplete:
		j.Path, j.CommandKey = b.Path(), &b.CommandKey
		if b.Err != nil {
			j.Error = newJSONError(b.Err)
		} else {
			j.Output = nonNil(b.OutputArgs)
		}
	case *msg.OnBoardRequest:
		j.OUI, j.ProductClass, j.SerialNumber = b.OUI, b.ProductClass, b.SerialNumber
		j.Versions = msg.VersionList(b.AgentSupportedProtocolVersions)
	}
	return j
}

func (a *app) printNotification(n *usp.Notification) {
	if a.jsonOutput() {
		if err := a.writeJSONLine(newNotificationJSON(n)); err != nil {
			a.errorf("%v", err)
		}
		return
	}
	var b strings.Builder
	writeNotificationText(&b, n)
	a.writeText(b.String())
}

// writeNotificationText writes one line: time, agent, type, subscription
// and what the notification says.
func writeNotificationText(w io.Writer, n *usp.Notification) {
	sub := n.SubscriptionID
	if sub == "" {
		sub = "-"
	}
	kind := "?"
	detail := ""
	if n.Body != nil {
		kind = n.Body.Kind()
	}
	switch b := n.Body.(type) {
	case *msg.Event:
		detail = strings.TrimSpace(b.Path() + " " + keyValues(b.Params))
	case *msg.ValueChange:
		detail = b.ParamPath + " = " + cell(b.ParamValue)
	case *msg.ObjectCreation:
		detail = strings.TrimSpace(b.ObjPath + " " + keyValues(b.UniqueKeys))
	case *msg.ObjectDeletion:
		detail = b.ObjPath
	case *msg.OperationComplete:
		detail = fmt.Sprintf("%s command_key=%s", b.Path(), cell(b.CommandKey))
		if b.Err != nil {
			detail += fmt.Sprintf(" failed: %d %s", b.Err.Code, oneLine(errorText(b.Err)))
		} else {
			detail += " completed " + keyValues(b.OutputArgs)
		}
	case *msg.OnBoardRequest:
		detail = fmt.Sprintf("oui=%s product_class=%s serial_number=%s versions=%s",
			cell(b.OUI), cell(b.ProductClass), cell(b.SerialNumber), cell(b.AgentSupportedProtocolVersions))
	}
	if n.Duplicate {
		detail += " (retransmitted)"
	}
	fmt.Fprintf(w, "%s  %s  %s  %s  %s\n", n.Received.UTC().Format(time.RFC3339), n.AgentID, kind, sub, strings.TrimSpace(detail))
}
