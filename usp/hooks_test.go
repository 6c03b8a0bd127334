package usp_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

type ctxMark struct{}

// recHooks implements every new hook interface and records what it saw.
type recHooks struct {
	mu         sync.Mutex
	starts     []usp.RequestStart
	ends       []usp.RequestEnd
	endMarks   []any // the ctxMark value each end's context carried
	notes      []usp.NotifyEvent
	agents     []usp.AgentChange
	records    []usp.RecordEvent
	transports []usp.TransportEvent
	wake       chan struct{}
}

func newRecHooks() *recHooks { return &recHooks{wake: make(chan struct{}, 1)} }

func (h *recHooks) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *recHooks) OnRequestStart(ctx context.Context, r usp.RequestStart) context.Context {
	h.mu.Lock()
	h.starts = append(h.starts, r)
	h.mu.Unlock()
	return context.WithValue(ctx, ctxMark{}, r.MsgID)
}

func (h *recHooks) OnRequestEnd(ctx context.Context, r usp.RequestEnd) {
	h.mu.Lock()
	h.ends = append(h.ends, r)
	h.endMarks = append(h.endMarks, ctx.Value(ctxMark{}))
	h.mu.Unlock()
	h.poke()
}

func (h *recHooks) OnNotify(ev usp.NotifyEvent) {
	h.mu.Lock()
	h.notes = append(h.notes, ev)
	h.mu.Unlock()
	h.poke()
}

func (h *recHooks) OnAgentChange(ev usp.AgentChange) {
	h.mu.Lock()
	h.agents = append(h.agents, ev)
	h.mu.Unlock()
	h.poke()
}

func (h *recHooks) OnRecord(ev usp.RecordEvent) {
	h.mu.Lock()
	h.records = append(h.records, ev)
	h.mu.Unlock()
	h.poke()
}

func (h *recHooks) OnTransport(ev usp.TransportEvent) {
	h.mu.Lock()
	h.transports = append(h.transports, ev)
	h.mu.Unlock()
	h.poke()
}

// until waits for cond (checked under h.mu) for up to 5 s.
func (h *recHooks) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		h.mu.Lock()
		ok := cond()
		h.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-h.wake:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("hooks: %s never seen", what)
		}
	}
}

func (h *recHooks) stages(msgID string) []usp.NotifyStage {
	var out []usp.NotifyStage
	for _, n := range h.notes {
		if n.MsgID == msgID {
			out = append(out, n.Stage)
		}
	}
	return out
}

func TestHookRequestStartEnd(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(getAnswer))
	h := newRecHooks()
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithHooks(h))
	ag := c.Agent(agent.id)

	if _, err := ag.GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	agent.respond = answer(func(*uspmsg.Msg) msg.Message { return &msg.Error{Code: msg.CodeInternal, Message: "boom"} })
	if _, err := ag.GetValues(ctxT(t), "Device.A.B"); !errors.Is(err, msg.ErrInternal) {
		t.Fatalf("err %v, want 7003", err)
	}
	agent.respond = nil // silence: the call times out
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ag.GetValues(ctx, "Device.A.B"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a timeout", err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.starts) != 3 || len(h.ends) != 3 {
		t.Fatalf("%d starts, %d ends; want 3 each", len(h.starts), len(h.ends))
	}
	want := []struct {
		outcome  usp.RequestOutcome
		answered bool
		resp     uspmsg.Header_MsgType
		code     msg.Code
	}{
		{usp.OutcomeOK, true, uspmsg.Header_GET_RESP, 0},
		{usp.OutcomeAgentError, true, uspmsg.Header_ERROR, msg.CodeInternal},
		{usp.OutcomeTimeout, false, 0, 0},
	}
	for i, w := range want {
		s, e := h.starts[i], h.ends[i]
		if s.AgentID != agent.id || s.Type != uspmsg.Header_GET || s.MsgID == "" || s.Start.IsZero() {
			t.Errorf("start %d: %+v", i, s)
		}
		if e.RequestStart != s {
			t.Errorf("end %d does not carry its start: %+v vs %+v", i, e.RequestStart, s)
		}
		if e.Outcome != w.outcome || e.Answered != w.answered || e.Response != w.resp || e.Code != w.code {
			t.Errorf("end %d: outcome %v response %v code %d; want %v %v %d", i, e.Outcome, e.Response, e.Code, w.outcome, w.resp, w.code)
		}
		if (e.Err == nil) != (w.outcome == usp.OutcomeOK) || e.Duration <= 0 {
			t.Errorf("end %d: err %v duration %v", i, e.Err, e.Duration)
		}
		if h.endMarks[i] != s.MsgID {
			t.Errorf("end %d got context mark %v; the start hook's context was not passed on", i, h.endMarks[i])
		}
	}
}

func TestHookRequestSendFailed(t *testing.T) {
	net := memory.NewNetwork()
	h := newRecHooks()
	// An agent nobody plays: the memory network refuses the send.
	c := newController(t, net, usp.WithAgent("proto::nobody", memAddr("proto::nobody")), usp.WithHooks(h))
	if _, err := c.Agent("proto::nobody").GetValue(ctxT(t), "Device.A.B"); err == nil {
		t.Fatal("Get to nobody succeeded")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ends) != 1 || h.ends[0].Outcome != usp.OutcomeSendFailed || h.ends[0].Err == nil {
		t.Fatalf("ends %+v; want one send_failed", h.ends)
	}
}

// panicHooks panics in every hook.
type panicHooks struct{}

func (panicHooks) OnRequestStart(context.Context, usp.RequestStart) context.Context { panic("start") }
func (panicHooks) OnRequestEnd(context.Context, usp.RequestEnd)                     { panic("end") }
func (panicHooks) OnNotify(usp.NotifyEvent)                                         { panic("notify") }
func (panicHooks) OnAgentChange(usp.AgentChange)                                    { panic("agent") }
func (panicHooks) OnRecord(usp.RecordEvent)                                         { panic("record") }
func (panicHooks) OnTransport(usp.TransportEvent)                                   { panic("transport") }

func TestHookPanicsAreRecovered(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(getAnswer))
	h := newRecHooks()
	// The panicking hook comes first: the one after it is still called,
	// and the request still goes through.
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)),
		usp.WithHooks(panicHooks{}), usp.WithHooks(h),
		usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))
	if _, err := c.Agent(agent.id).GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	agent.sendMsg(msg.Notify{SubscriptionID: "s", SendResp: true, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n-1"))
	h.until(t, "answered notification", func() bool { return slices.Contains(h.stages("n-1"), usp.NotifyAnswered) })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ends) != 1 || h.ends[0].Outcome != usp.OutcomeOK {
		t.Fatalf("ends %+v", h.ends)
	}
}

func TestHookNotifyStages(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", nil)
	h := newRecHooks()
	refuse := errors.New("not now")
	newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithHooks(h),
		usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			if n.SubscriptionID == "refused" {
				return refuse
			}
			return nil
		}))
	vc := &msg.ValueChange{ParamPath: "Device.X", ParamValue: "1"}
	agent.sendMsg(msg.Notify{SubscriptionID: "ok", SendResp: true, Notification: vc}.Build("n-1"))
	h.until(t, "n-1 answered", func() bool { return slices.Contains(h.stages("n-1"), usp.NotifyAnswered) })
	agent.sendMsg(msg.Notify{SubscriptionID: "ok", SendResp: true, Notification: vc}.Build("n-1"))
	h.until(t, "n-1 answered twice", func() bool { return len(h.stages("n-1")) == 7 })
	agent.sendMsg(msg.Notify{SubscriptionID: "refused", SendResp: true, Notification: vc}.Build("n-2"))
	h.until(t, "n-2 refused", func() bool { return slices.Contains(h.stages("n-2"), usp.NotifyRefused) })

	h.mu.Lock()
	defer h.mu.Unlock()
	want1 := []usp.NotifyStage{usp.NotifyReceived, usp.NotifyAccepted, usp.NotifyAnswered,
		usp.NotifyReceived, usp.NotifyDuplicate, usp.NotifyAccepted, usp.NotifyAnswered}
	if got := h.stages("n-1"); !slices.Equal(got, want1) {
		t.Errorf("n-1 stages %v, want %v", got, want1)
	}
	if got := h.stages("n-2"); !slices.Equal(got, []usp.NotifyStage{usp.NotifyReceived, usp.NotifyRefused}) {
		t.Errorf("n-2 stages %v", got)
	}
	for _, n := range h.notes {
		if n.AgentID != agent.id || n.Type != "ValueChange" || n.SubscriptionID == "" {
			t.Errorf("event %+v lacks its agent, type or subscription", n)
		}
		if n.Stage == usp.NotifyRefused && !errors.Is(n.Err, refuse) {
			t.Errorf("refused event carries %v, want the handler's error", n.Err)
		}
	}
}

func TestHookAgentChangesAndRecords(t *testing.T) {
	net := memory.NewNetwork()
	h := newRecHooks()
	// The records are injected without a peer identity, as over a broker.
	newController(t, net, usp.WithHooks(h))
	connect := func(id, topic string) {
		t.Helper()
		b, err := record.Encode(record.NewMQTTConnect("1.3", ctrlID, id, usprecord.MQTTConnectRecord_V5, topic))
		if err != nil {
			t.Fatal(err)
		}
		if err := net.Inject(id, ctrlID, b); err != nil {
			t.Fatal(err)
		}
	}
	a1, a2 := struct{ id string }{"proto::agent-1"}, struct{ id string }{"proto::agent-2"}
	connect(a1.id, "/usp/agent/1")
	h.until(t, "agent-1 connected", func() bool { return len(h.agents) >= 2 })
	connect(a1.id, "/usp/agent/1b")
	h.until(t, "agent-1 moved", func() bool { return len(h.agents) >= 3 })
	connect(a2.id, "/usp/agent/2")
	h.until(t, "agent-2 connected", func() bool { return len(h.agents) >= 5 })

	h.mu.Lock()
	defer h.mu.Unlock()
	type ch struct {
		kind usp.AgentEventKind
		id   string
	}
	var got []ch
	for _, a := range h.agents {
		got = append(got, ch{a.Kind, a.AgentID})
	}
	want := []ch{
		{usp.AgentLearned, a1.id}, {usp.AgentConnected, a1.id}, {usp.AgentMoved, a1.id},
		{usp.AgentLearned, a2.id}, {usp.AgentConnected, a2.id},
	}
	if !slices.Equal(got, want) {
		t.Errorf("agent changes %v, want %v", got, want)
	}
	if h.agents[2].Address.To != "/usp/agent/1b" {
		t.Errorf("moved to %+v", h.agents[2].Address)
	}
	var in1 int
	for _, r := range h.records {
		if r.Direction == usp.In && r.AgentID == a1.id && r.MTP == mtp.Memory && r.Size > 0 {
			in1++
		}
	}
	if in1 != 2 {
		t.Errorf("records in from agent-1: %d, want 2 (%+v)", in1, h.records)
	}
	if len(h.transports) == 0 || !h.transports[0].Up || h.transports[0].MTP != mtp.Memory {
		t.Errorf("transport events %+v; want the memory transport up", h.transports)
	}
}

func TestHookRecordsOutAndTransportDown(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(getAnswer))
	h := newRecHooks()
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithHooks(h))
	if _, err := c.Agent(agent.id).GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("cable cut")
	if err := net.Disconnect(ctrlID, cause); err != nil {
		t.Fatal(err)
	}
	h.until(t, "transport down", func() bool {
		return slices.ContainsFunc(h.transports, func(ev usp.TransportEvent) bool { return !ev.Up && errors.Is(ev.Err, cause) })
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	var out, in int
	for _, r := range h.records {
		switch {
		case r.Direction == usp.Out && r.AgentID == agent.id && r.Size > 0:
			out++
		case r.Direction == usp.In && r.AgentID == agent.id && r.Size > 0:
			in++
		}
	}
	if out != 1 || in != 1 {
		t.Errorf("records out %d in %d, want 1 each: %+v", out, in, h.records)
	}
}

func TestWithHooksChecksValues(t *testing.T) {
	ep, err := memory.NewNetwork().Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	for _, hooks := range [][]usp.Hook{{nil}, {struct{}{}}, {newRecHooks(), 42}} {
		if _, err := usp.NewController(ctrlID, usp.WithTransport(ep), usp.WithHooks(hooks...)); !errors.Is(err, usp.ErrInvalidOption) {
			t.Errorf("WithHooks(%v): %v, want ErrInvalidOption", hooks, err)
		}
	}
	if _, err := usp.NewController(ctrlID, usp.WithTransport(ep), usp.WithHooks(newRecHooks(), usp.NopHooks{})); err != nil {
		t.Errorf("WithHooks with two values: %v", err)
	}
}

// legacyOnly implements only the deprecated Hooks, plus a new RecordHook
// that takes precedence over its record methods.
type legacyAndNew struct {
	usp.NopHooks
	mu         sync.Mutex
	done       int
	newRecords int
	oldRecords int
}

func (l *legacyAndNew) RequestDone(string, uspmsg.Header_MsgType, time.Duration, error) {
	l.mu.Lock()
	l.done++
	l.mu.Unlock()
}
func (l *legacyAndNew) RecordSent(mtp.Kind, int) { l.mu.Lock(); l.oldRecords++; l.mu.Unlock() }
func (l *legacyAndNew) OnRecord(usp.RecordEvent) { l.mu.Lock(); l.newRecords++; l.mu.Unlock() }

func TestLegacyHooksBesideNewOnes(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(getAnswer))
	l := &legacyAndNew{}
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithHooks(l))
	if _, err := c.Agent(agent.id).GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != 1 || l.oldRecords != 0 || l.newRecords < 2 {
		t.Errorf("RequestDone %d, RecordSent %d, OnRecord %d; want 1, 0 (OnRecord wins), >= 2", l.done, l.oldRecords, l.newRecords)
	}
}

// brokerLike is a transport that, like a broker binding, does not
// authenticate senders: its records carry no PeerID, so the agents
// learned from them can be evicted.
type brokerLike struct {
	mu sync.Mutex
	h  mtp.Handler
}

func (b *brokerLike) Kind() mtp.Kind { return mtp.MQTT }
func (b *brokerLike) Start(_ context.Context, h mtp.Handler) error {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	h.HandleEvent(mtp.Event{Kind: mtp.Up})
	return nil
}
func (b *brokerLike) Send(context.Context, mtp.Address, []byte) error { return nil }
func (b *brokerLike) State() mtp.State                                { return mtp.Connected }
func (b *brokerLike) Close(context.Context) error                     { return nil }

func (b *brokerLike) deliver(data []byte, replyTo string) {
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.HandleRecord(mtp.Inbound{Data: data, ReplyTo: mtp.Address{MTP: mtp.MQTT, To: replyTo}})
}

func TestHookAgentEvicted(t *testing.T) {
	tr := &brokerLike{}
	h := newRecHooks()
	c, err := usp.NewController(ctrlID, usp.WithTransport(tr), usp.WithHooks(h), usp.WithAgentLimits(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, id := range []string{"proto::agent-1", "proto::agent-2"} {
		b, err := record.Encode(record.NewMQTTConnect("1.3", ctrlID, id, usprecord.MQTTConnectRecord_V5, "/usp/agent/"+id))
		if err != nil {
			t.Fatal(err)
		}
		// One after the other: the intake handles different agents'
		// records in parallel.
		tr.deliver(b, "/usp/agent/"+id)
		h.until(t, id+" connected", func() bool {
			return slices.ContainsFunc(h.agents, func(a usp.AgentChange) bool { return a.AgentID == id && a.Kind == usp.AgentConnected })
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []string
	for _, a := range h.agents {
		got = append(got, a.Kind.String()+" "+a.AgentID)
	}
	want := []string{"learned proto::agent-1", "connected proto::agent-1", "evicted proto::agent-1",
		"learned proto::agent-2", "connected proto::agent-2"}
	if !slices.Equal(got, want) {
		t.Errorf("agent changes %q, want %q", got, want)
	}
}
