package usp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp"
)

func notifyMsg(id string) *uspmsg.Msg {
	return msg.Notify{SubscriptionID: "sub-1", SendResp: true,
		Notification: &msg.ValueChange{ParamPath: "Device.X.Y", ParamValue: "7"}}.Build(id)
}

// answeredIDs returns the msg_ids of the NotifyResps an agent got.
func answeredIDs(s *scripted) []string {
	var ids []string
	for _, m := range notifyResps(s.received()) {
		ids = append(ids, m.GetHeader().GetMsgId())
	}
	return ids
}

// gate blocks the notify handler for the notifications it is told to hold,
// until it is opened. Tests open it at the end with a cleanup registered
// after the controller's, so that it runs before the controller's Close.
type gate struct {
	hold    func(n *usp.Notification) bool
	open    chan struct{}
	once    sync.Once
	entered chan *usp.Notification // every notification the handler saw
}

func newGate(t *testing.T, hold func(n *usp.Notification) bool) *gate {
	return &gate{hold: hold, open: make(chan struct{}), entered: make(chan *usp.Notification, 1000)}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) handler(_ context.Context, n *usp.Notification) error {
	g.entered <- n
	if g.hold(n) {
		<-g.open
	}
	return nil
}

// wait returns the next notification the handler saw.
func (g *gate) wait(t *testing.T) *usp.Notification {
	t.Helper()
	select {
	case n := <-g.entered:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no notification reached the handler")
		return nil
	}
}

// waitID returns the next notification with msg_id id the handler saw,
// skipping others.
func (g *gate) waitID(t *testing.T, id string) *usp.Notification {
	t.Helper()
	for {
		if n := g.wait(t); n.MsgID == id {
			return n
		}
	}
}

// waitStats waits until cond holds on the controller's intake.
func waitStats(t *testing.T, c *usp.Controller, what string, cond func(usp.IntakeStats) bool) usp.IntakeStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := c.IntakeStats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("intake never reached %s: %+v", what, st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIntakeBlockedHandlerStallsOnlyItsAgent(t *testing.T) {
	net := memory.NewNetwork()
	a := newScripted(t, net, "proto::agent-a", nil)
	b := newScripted(t, net, "proto::agent-b", nil)
	g := newGate(t, func(n *usp.Notification) bool { return n.AgentID == a.id })
	newController(t, net, usp.WithNotifyHandler(g.handler))
	t.Cleanup(g.release)

	a.sendMsg(notifyMsg("a-1"))
	g.wait(t) // a-1 is in the handler, which holds it
	a.sendMsg(notifyMsg("a-2"))
	for i := range 5 {
		b.sendMsg(notifyMsg(fmt.Sprintf("b-%d", i)))
	}
	b.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 5 })
	if got := answeredIDs(b); strings.Join(got, ",") != "b-0,b-1,b-2,b-3,b-4" {
		t.Errorf("agent B answered %v, want b-0..b-4 in order", got)
	}
	if got := answeredIDs(a); len(got) != 0 {
		t.Fatalf("agent A answered %v while its handler is blocked", got)
	}
	g.release()
	a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 2 })
	if got := answeredIDs(a); strings.Join(got, ",") != "a-1,a-2" {
		t.Errorf("agent A answered %v, want a-1,a-2", got)
	}
}

type refusalHooks struct {
	usp.NopHooks
	mu      sync.Mutex
	refused map[string]int
	waited  atomic.Int32
}

func (h *refusalHooks) RecordRefused(agentID string, _ mtp.Kind, _ int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refused == nil {
		h.refused = map[string]int{}
	}
	h.refused[agentID]++
}

func (h *refusalHooks) IntakeWaited(mtp.Kind, time.Duration) { h.waited.Add(1) }

func (h *refusalHooks) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused[id]
}

func TestIntakeRefusesFloodingAgent(t *testing.T) {
	net := memory.NewNetwork()
	flood := newScripted(t, net, "proto::flooder", nil)
	good := newScripted(t, net, "proto::good", nil)
	g := newGate(t, func(n *usp.Notification) bool { return n.AgentID == flood.id })
	hooks := &refusalHooks{}
	c := newController(t, net, usp.WithNotifyHandler(g.handler), usp.WithHooks(hooks),
		usp.WithIntake(usp.IntakeConfig{AgentRecords: 4}))
	t.Cleanup(g.release)

	flood.sendMsg(notifyMsg("f-0"))
	g.wait(t) // held: the flooder's next records wait in its mailbox
	for i := 1; i < 20; i++ {
		flood.sendMsg(notifyMsg(fmt.Sprintf("f-%d", i)))
	}
	// The good agent sends a burst within its own share: all answered.
	for i := range 4 {
		good.sendMsg(notifyMsg(fmt.Sprintf("g-%d", i)))
	}
	good.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 4 })
	// One in the handler, four waiting (its share), fifteen refused.
	st := waitStats(t, c, "15 refused", func(st usp.IntakeStats) bool { return st.Refused == 15 })
	if st.Waits != 0 {
		t.Errorf("a refusal made the transport wait: %+v", st)
	}
	if n := hooks.count(flood.id); n != 15 {
		t.Errorf("RecordRefused for the flooder %d times, want 15", n)
	}
	if n := hooks.count(good.id); n != 0 {
		t.Errorf("RecordRefused for the good agent %d times", n)
	}
	g.release()
	flood.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 5 })
	if got := answeredIDs(flood); strings.Join(got, ",") != "f-0,f-1,f-2,f-3,f-4" {
		t.Errorf("flooder answered %v, want f-0..f-4", got)
	}
	// A refused notification was never seen: its retransmission is new.
	flood.sendMsg(notifyMsg("f-19"))
	if n := g.waitID(t, "f-19"); n.Duplicate {
		t.Error("retransmission of a refused notification marked Duplicate")
	}
}

func TestIntakeBackpressure(t *testing.T) {
	net := memory.NewNetwork()
	var agents []*scripted
	for i := range 8 {
		agents = append(agents, newScripted(t, net, fmt.Sprintf("proto::agent-%d", i), nil))
	}
	g := newGate(t, func(*usp.Notification) bool { return true })
	hooks := &refusalHooks{}
	c := newController(t, net, usp.WithNotifyHandler(g.handler), usp.WithHooks(hooks),
		usp.WithIntake(usp.IntakeConfig{MaxRecords: 4, AgentRecords: 1}))
	t.Cleanup(g.release)

	for i, a := range agents {
		a.sendMsg(notifyMsg(fmt.Sprintf("n-%d", i)))
	}
	// Four records fill the budget (all four held in handlers); the
	// transport's delivery of the fifth waits, the rest stay unread.
	for range 4 {
		g.wait(t)
	}
	waitStats(t, c, "a waiting delivery", func(st usp.IntakeStats) bool { return st.Waits == 1 && st.Records == 4 })
	select {
	case n := <-g.entered:
		t.Fatalf("%s reached a handler past the budget", n.MsgID)
	case <-time.After(20 * time.Millisecond):
	}
	g.release()
	for i, a := range agents {
		a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 })
		if got := answeredIDs(a); len(got) != 1 || got[0] != fmt.Sprintf("n-%d", i) {
			t.Errorf("agent %d answered %v", i, got)
		}
	}
	st := c.IntakeStats()
	if st.Refused != 0 || hooks.waited.Load() < 1 {
		t.Errorf("stats %+v, IntakeWaited %d times; want nothing refused, a wait", st, hooks.waited.Load())
	}
}

func TestCloseWithBlockedHandlerAndDelivery(t *testing.T) {
	net := memory.NewNetwork()
	a := newScripted(t, net, "proto::agent-a", nil)
	b := newScripted(t, net, "proto::agent-b", nil)
	g := newGate(t, func(*usp.Notification) bool { return true })
	c := newController(t, net, usp.WithNotifyHandler(g.handler), usp.WithIntake(usp.IntakeConfig{MaxRecords: 1, AgentRecords: 1}))
	t.Cleanup(g.release)
	a.sendMsg(notifyMsg("a-1"))
	g.wait(t)
	b.sendMsg(notifyMsg("b-1")) // its delivery waits for room that never comes
	waitStats(t, c, "a waiting delivery", func(st usp.IntakeStats) bool { return st.Waits == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Close(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with a 200ms context", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the context's error (a handler never returned)", err)
	}
	g.release() // the handler returns; its worker ends (goleak checks)
}

func TestDuplicateOnlyAfterDelivery(t *testing.T) {
	net := memory.NewNetwork()
	a := newScripted(t, net, "proto::agent-a", nil)
	var first atomic.Bool
	first.Store(true)
	g := newGate(t, func(*usp.Notification) bool { return first.Swap(false) })
	c := newController(t, net, usp.WithNotifyHandler(g.handler), usp.WithIntake(usp.IntakeConfig{AgentRecords: 2}))
	t.Cleanup(g.release)

	a.sendMsg(notifyMsg("n-1"))
	g.wait(t) // held
	a.sendMsg(notifyMsg("n-2"))
	a.sendMsg(notifyMsg("n-2")) // a retransmission while the first is queued
	a.sendMsg(notifyMsg("n-3")) // past the share: refused
	waitStats(t, c, "one refusal", func(st usp.IntakeStats) bool { return st.Refused == 1 })
	g.release()
	a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 3 })
	if n := g.waitID(t, "n-2"); n.Duplicate {
		t.Errorf("first delivery of n-2: %+v", n)
	}
	a.sendMsg(notifyMsg("n-3"))
	if n := g.waitID(t, "n-3"); n.Duplicate {
		t.Errorf("n-3, refused before any handler saw it, delivered as %+v; want Duplicate false", n)
	}
	a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 4 })
	// n-2's retransmission was answered again without a second delivery.
	select {
	case n := <-g.entered:
		t.Errorf("delivered again: %+v", n)
	default:
	}
	if got := answeredIDs(a); strings.Join(got, ",") != "n-1,n-2,n-2,n-3" {
		t.Errorf("answers %v", got)
	}
}

// A notify handler that asks its own agent something gets the answer: the
// answer does not queue behind the notification being handled, whether it
// is small (taken at delivery) or large (through the agent's answer lane).
func TestNotifyHandlerCallsItsAgent(t *testing.T) {
	for _, size := range []int{1, 200 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { notifyHandlerCallsItsAgent(t, size) })
	}
}

func notifyHandlerCallsItsAgent(t *testing.T, size int) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(func(*uspmsg.Msg) msg.Message {
		v := strings.Repeat("7", size)
		return &msg.GetResp{Results: []msg.GetResult{{Requested: "Device.X.", Resolved: []msg.Resolved{{Path: "Device.X.", Params: map[string]string{"Y": v}}}}}}
	}))
	var c *usp.Controller
	got := make(chan error, 1)
	c = newController(t, net, usp.WithNotifyHandler(func(ctx context.Context, n *usp.Notification) error {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := c.Agent(n.AgentID).GetValues(ctx, "Device.X.")
		got <- err
		return err
	}))
	agent.sendMsg(notifyMsg("boot-1"))
	if err := <-got; err != nil {
		t.Fatalf("Get from the notify handler: %v", err)
	}
	agent.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 })
}

// The duplicate window keeps digests: notifications with huge msg_ids do
// not keep their msg_ids alive after they are handled.
func TestDuplicateWindowKeepsDigests(t *testing.T) {
	net := memory.NewNetwork()
	a := newScripted(t, net, "proto::agent-a", nil)
	newController(t, net, usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))
	const n, idSize = 32, 1 << 20
	before := heap()
	for i := range n {
		id := fmt.Sprintf("%d-", i) + strings.Repeat("x", idSize)
		m := msg.Notify{SubscriptionID: "s", SendResp: false, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build(id)
		a.sendMsg(m)
	}
	// A last small notification with a response tells when all are handled.
	a.sendMsg(notifyMsg("last"))
	a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 })
	a.mu.Lock()
	a.got, a.recs = nil, nil
	a.mu.Unlock()
	after := heap()
	if grew := int64(after) - int64(before); grew > 8<<20 {
		t.Errorf("heap grew by %d MiB after %d notifications with 1 MiB msg_ids; want the window to keep digests only", grew>>20, n)
	}
}

func TestAgentEventHandlerPanicIsRecovered(t *testing.T) {
	net := memory.NewNetwork()
	a := newScripted(t, net, "proto::agent-a", nil)
	seen := make(chan usp.AgentEvent, 4)
	newController(t, net,
		usp.WithAgentHandler(func(usp.AgentEvent) { panic("watcher bug") }),
		usp.WithAgentHandler(func(ev usp.AgentEvent) { seen <- ev }))
	a.sendMsg(notifyMsg("n-1"))
	select {
	case ev := <-seen:
		if ev.Kind != usp.AgentConnected || ev.Agent.EndpointID != a.id {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after a watcher panicked")
	}
}

func TestWithIntakeChecks(t *testing.T) {
	ep, err := memory.NewNetwork().Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ic := range []usp.IntakeConfig{
		{MaxBytes: -1},
		{Workers: -3},
		{MaxRecords: 10, AgentRecords: 11},
		{MaxBytes: 1 << 20, AgentBytes: 2 << 20},
	} {
		if _, err := usp.NewController(ctrlID, usp.WithTransport(ep), usp.WithIntake(ic)); !errors.Is(err, usp.ErrInvalidOption) {
			t.Errorf("WithIntake(%+v): %v, want ErrInvalidOption", ic, err)
		}
	}
	if _, err := usp.NewController(ctrlID, usp.WithTransport(ep), usp.WithIntake(usp.IntakeConfig{MaxRecords: 100})); err != nil {
		t.Errorf("a small total with the default share: %v", err)
	}
	if _, err := usp.NewController(ctrlID, usp.WithTransport(ep), usp.WithAgentEventQueue(usp.EventQueueConfig{MaxEvents: -1})); !errors.Is(err, usp.ErrInvalidOption) {
		t.Errorf("negative event queue bound: %v", err)
	}
}
