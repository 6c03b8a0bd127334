package usp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/storetest"
	"github.com/gousp/gousp/usp/usptest"
)

// stateLog records every state change a controller announces.
type stateLog struct {
	mu      sync.Mutex
	changes []usp.StateChange
	wake    chan struct{}
}

func newStateLog() *stateLog { return &stateLog{wake: make(chan struct{}, 1)} }

func (s *stateLog) add(ch usp.StateChange) {
	s.mu.Lock()
	s.changes = append(s.changes, ch)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// of returns the changes of one agent so far.
func (s *stateLog) of(id string) []usp.StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []usp.StateChange
	for _, ch := range s.changes {
		if ch.EndpointID == id {
			out = append(out, ch)
		}
	}
	return out
}

// wait waits until the agent has had n changes and returns them.
func (s *stateLog) wait(t *testing.T, id string, n int, timeout time.Duration) []usp.StateChange {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := s.of(id); len(got) >= n {
			return got
		}
		select {
		case <-s.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("agent %s: %d state changes after %v, want %d: %s", id, len(s.of(id)), timeout, n, describeChanges(s.of(id)))
		}
	}
}

func describeChanges(chs []usp.StateChange) string {
	var b strings.Builder
	for _, ch := range chs {
		fmt.Fprintf(&b, "[%s->%s %v] ", ch.From, ch.To, ch.Reason)
	}
	return b.String()
}

// wantChange checks one change's states and reason.
func wantChange(t *testing.T, ch usp.StateChange, from, to usp.AgentState, reason error) {
	t.Helper()
	if ch.From != from || ch.To != to {
		t.Fatalf("change %s -> %s, want %s -> %s (%v)", ch.From, ch.To, from, to, ch.Reason)
	}
	if reason != nil && !errors.Is(ch.Reason, reason) {
		t.Fatalf("change to %s: reason %v, want %v", ch.To, ch.Reason, reason)
	}
	if ch.Entry.State != to || ch.Entry.EndpointID != ch.EndpointID {
		t.Fatalf("change to %s carries entry %+v", to, ch.Entry)
	}
}

// memAgent starts a usptest agent on the memory network.
func memAgent(t *testing.T, net *memory.Network, id string, opts ...usptest.Option) *usptest.Agent {
	t.Helper()
	ep, err := net.Endpoint(id)
	if err != nil {
		t.Fatal(err)
	}
	return runAgent(t, id, append([]usptest.Option{usptest.WithTransport(ep), usptest.WithController(ctrlID, memAddr(ctrlID))}, opts...)...)
}

// waitEntry waits until the agent's inventory entry satisfies cond.
func waitEntry(t *testing.T, c *usp.Controller, id string, cond func(usp.InventoryEntry) bool) usp.InventoryEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, ok := c.Inventory().Get(id)
		if ok && cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s: inventory entry never matched; last %+v (found %v)", id, e, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitModel waits until a parameter of the agent's model has the value.
func waitModel(t *testing.T, a *usptest.Agent, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := a.Model().Get(path)
		if err == nil && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q (%v), want %q", path, v, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// periodicCounter counts the Periodic! events the controller receives.
type periodicCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *periodicCounter) handler(_ context.Context, n *usp.Notification) error {
	if ev, ok := n.Body.(*msg.Event); ok && ev.Path() == "Device.LocalAgent.Periodic!" {
		p.mu.Lock()
		if p.n == nil {
			p.n = map[string]int{}
		}
		p.n[n.AgentID]++
		p.mu.Unlock()
	}
	return nil
}

func (p *periodicCounter) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[id]
}

// waitFor waits (10 s at most) until the agent has sent n Periodic! events
// in all; what says when, for the failure.
func (p *periodicCounter) waitFor(t *testing.T, id string, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.count(id) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d Periodic! events after 10s, want %d", what, p.count(id), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHeartbeatKillAndReturn: over a binding without sessions, an agent
// killed without a goodbye is offline once it has missed its heartbeats,
// not before; when it comes back with a fresh data model the heartbeat is
// set up again.
//
// The liveness tests that wait run in testing/synctest bubbles: their
// heartbeats, probes and holds pass on the fake clock, exactly and at once.
func TestHeartbeatKillAndReturn(t *testing.T) { synctest.Test(t, testHeartbeatKillAndReturn) }

func testHeartbeatKillAndReturn(t *testing.T) {
	net := memory.NewNetwork()
	log := newStateLog()
	var periodic periodicCounter
	const hb = time.Second
	c := newController(t, net, usp.WithHeartbeat(hb), usp.WithStateHandler(log.add), usp.WithNotifyHandler(periodic.handler))
	const id = "proto::hb-agent"
	a := memAgent(t, net, id)

	chs := log.wait(t, id, 1, 5*time.Second)
	wantChange(t, chs[0], usp.StateUnknown, usp.StateOnline, nil)
	e := waitEntry(t, c, id, func(e usp.InventoryEntry) bool { return e.Heartbeat == hb })
	if e.Address != memAddr(id) || e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) {
		t.Fatalf("entry %+v", e)
	}
	waitModel(t, a, "Device.LocalAgent.Controller.1.PeriodicNotifInterval", "1")
	subs, err := a.Model().Instances("Device.LocalAgent.Subscription.")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range subs {
		if v, _ := a.Model().Get(p + "ReferenceList"); v == "Device.LocalAgent.Periodic!" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no Periodic! subscription among %v", subs)
	}
	// Heartbeats flow, and keep the agent online.
	periodic.waitFor(t, id, 3, "heartbeats at a 1s interval")
	if got := log.of(id); len(got) != 1 {
		t.Fatalf("state changes while heartbeats flow: %s", describeChanges(got))
	}

	// Killed: the transport goes, no Disconnect record.
	if err := a.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	chs = log.wait(t, id, 2, 10*time.Second)
	detected := time.Now()
	wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrHeartbeatMissed)
	// Offline no sooner than two missed intervals after the last record,
	// and no later than the bound (2.5 intervals) plus slack for a
	// loaded machine.
	last := chs[1].Entry.LastSeen
	if d := detected.Sub(last); d < 2*hb {
		t.Fatalf("offline %v after the last record: hysteresis is two missed heartbeats", d)
	}
	if d := detected.Sub(killed); d > 2*hb+hb/2+1500*time.Millisecond {
		t.Fatalf("offline detected %v after the kill; bound is 2.5 heartbeats", d)
	}
	if !chs[1].At.Equal(last) || chs[1].Entry.Reason == "" {
		t.Fatalf("offline since %v, reason %q; want since the last record %v", chs[1].At, chs[1].Entry.Reason, last)
	}

	// It comes back with a fresh data model: online, and the heartbeat
	// is set up again.
	a2 := memAgent(t, net, id)
	chs = log.wait(t, id, 3, 5*time.Second)
	wantChange(t, chs[2], usp.StateOffline, usp.StateOnline, nil)
	waitModel(t, a2, "Device.LocalAgent.Controller.1.PeriodicNotifInterval", "1")
	periodic.waitFor(t, id, periodic.count(id)+2, "after the agent came back")
	if n, _ := c.Inventory().Get(id); n.State != usp.StateOnline {
		t.Fatalf("state %s after return", n.State)
	}
}

// TestHeartbeatRepairedAfterBoot: a factory reset loses the heartbeat
// setting and subscription; the controller sets them again on Boot!.
func TestHeartbeatRepairedAfterBoot(t *testing.T) { synctest.Test(t, testHeartbeatRepairedAfterBoot) }

func testHeartbeatRepairedAfterBoot(t *testing.T) {
	net := memory.NewNetwork()
	var periodic periodicCounter
	c := newController(t, net, usp.WithHeartbeat(time.Second), usp.WithNotifyHandler(periodic.handler))
	const id = "proto::reset-agent"
	a := memAgent(t, net, id)
	waitEntry(t, c, id, func(e usp.InventoryEntry) bool { return e.Heartbeat == time.Second })
	waitModel(t, a, "Device.LocalAgent.Controller.1.PeriodicNotifInterval", "1")
	if _, err := c.Agent(id).Operate(ctxT(t), msg.Operate{Command: "Device.FactoryReset()", SendResp: true}); err != nil {
		t.Fatal(err)
	}
	// The reset restores 86400; the controller's repair sets 1 again.
	waitEntry(t, c, id, func(e usp.InventoryEntry) bool { return e.BootCause == "RemoteFactoryReset" })
	waitModel(t, a, "Device.LocalAgent.Controller.1.PeriodicNotifInterval", "1")
	periodic.waitFor(t, id, periodic.count(id)+2, "after the factory reset")
}

// TestProbeQuietAgent: an agent that goes silent (muted, still connected)
// is probed once quiet, goes offline after two unanswered probes, and is
// found again by the backoff probes once it answers.
func TestProbeQuietAgent(t *testing.T) { synctest.Test(t, testProbeQuietAgent) }

func testProbeQuietAgent(t *testing.T) {
	net := memory.NewNetwork()
	log := newStateLog()
	const idle, timeout = 200 * time.Millisecond, 200 * time.Millisecond
	c := newController(t, net, usp.WithLiveness(usp.LivenessConfig{Probe: idle, ProbeTimeout: timeout, Hold: -1}), usp.WithStateHandler(log.add))
	const id = "proto::quiet-agent"
	a := memAgent(t, net, id)
	log.wait(t, id, 1, 5*time.Second)
	// Quiet but alive: probes are answered, the state stays.
	time.Sleep(3 * idle)
	if got := log.of(id); len(got) != 1 {
		t.Fatalf("changes while probes are answered: %s", describeChanges(got))
	}
	probes := 0
	for _, r := range a.Received() {
		if r.Msg.GetHeader().GetMsgType().String() == "GET_SUPPORTED_PROTO" {
			probes++
		}
	}
	if probes == 0 {
		t.Fatal("the quiet agent was not probed")
	}

	a.Faults().Mute(true)
	muted := time.Now()
	chs := log.wait(t, id, 2, 10*time.Second)
	wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrProbeFailed)
	if d := time.Since(muted); d > idle+2*timeout+2*time.Second {
		t.Fatalf("offline after %v; bound is idle + 2 probe timeouts", d)
	}
	a.Faults().Mute(false)
	chs = log.wait(t, id, 3, 10*time.Second)
	wantChange(t, chs[2], usp.StateOffline, usp.StateOnline, nil)
	_ = c
}

// TestUnreachableAgent: a send that finds no peer (the memory network's
// answer when the agent is gone, MQTT's "no matching subscribers") makes
// the agent offline after the hold, without waiting for a timeout.
func TestUnreachableAgent(t *testing.T) {
	net := memory.NewNetwork()
	log := newStateLog()
	c := newController(t, net, usp.WithLiveness(usp.LivenessConfig{Hold: 50 * time.Millisecond}), usp.WithStateHandler(log.add))
	const id = "proto::vanishing-agent"
	a := memAgent(t, net, id)
	log.wait(t, id, 1, 5*time.Second)
	if err := a.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Agent(id).GetValues(ctxT(t), "Device.DeviceInfo."); !errors.Is(err, mtp.ErrUnknownPeer) {
		t.Fatalf("Get to a closed agent: %v", err)
	}
	chs := log.wait(t, id, 2, 5*time.Second)
	wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrAgentUnreachable)
}

// TestHoldSuppressesFlaps: a goodbye followed by news from the agent
// within the hold causes no event; one that lasts past it causes exactly
// one offline and one online event, each time the agent flaps.
func TestHoldSuppressesFlaps(t *testing.T) { synctest.Test(t, testHoldSuppressesFlaps) }

func testHoldSuppressesFlaps(t *testing.T) {
	net := memory.NewNetwork()
	log := newStateLog()
	const hold = 300 * time.Millisecond
	newController(t, net, usp.WithLiveness(usp.LivenessConfig{Hold: hold}), usp.WithStateHandler(log.add))
	const id = "proto::flapping-agent"
	a := memAgent(t, net, id)
	log.wait(t, id, 1, 5*time.Second)

	// Quick flaps: Disconnect, then a record at once.
	for range 5 {
		if err := a.Faults().Disconnect(ctxT(t), 7105, "flap"); err != nil {
			t.Fatal(err)
		}
		// The agent's next record follows its goodbye in order.
		if err := a.Emit(ctxT(t), "Device.Boot!", nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * hold)
	if got := log.of(id); len(got) != 1 {
		t.Fatalf("quick flaps made changes: %s", describeChanges(got))
	}

	// Slow flaps: gone past the hold each time.
	for i := range 3 {
		sent := time.Now()
		if err := a.Faults().Disconnect(ctxT(t), 7105, "flap"); err != nil {
			t.Fatal(err)
		}
		chs := log.wait(t, id, 2+2*i, 5*time.Second)
		off := chs[1+2*i]
		wantChange(t, off, usp.StateOnline, usp.StateOffline, usp.ErrAgentGone)
		if off.At.Before(sent) || off.At.After(sent.Add(hold)) {
			t.Fatalf("offline since %v; the goodbye was sent at %v", off.At, sent)
		}
		if err := a.Emit(ctxT(t), "Device.Boot!", nil); err != nil {
			t.Fatal(err)
		}
		chs = log.wait(t, id, 3+2*i, 5*time.Second)
		wantChange(t, chs[2+2*i], usp.StateOffline, usp.StateOnline, nil)
	}
}

// TestInventoryQuery: entries by state and by prefix, in order.
func TestInventoryQuery(t *testing.T) {
	net := memory.NewNetwork()
	c := newController(t, net,
		usp.WithAgent("proto::b-configured", memAddr("proto::b-configured")),
		usp.WithLiveness(usp.LivenessConfig{DeviceInfo: true}))
	memAgent(t, net, "proto::a-one")
	memAgent(t, net, "proto::a-two")
	e := waitEntry(t, c, "proto::a-two", func(e usp.InventoryEntry) bool { return e.DeviceInfo.SerialNumber != "" })
	if e.DeviceInfo.ModelName != "usptest" || e.DeviceInfo.Manufacturer != "gousp" {
		t.Fatalf("device info %+v", e.DeviceInfo)
	}
	waitEntry(t, c, "proto::a-one", func(e usp.InventoryEntry) bool { return e.State == usp.StateOnline })
	ids := func(q usp.Query) []string {
		var out []string
		for e := range c.Inventory().Query(q) {
			out = append(out, e.EndpointID)
		}
		return out
	}
	if got := ids(usp.Query{}); strings.Join(got, ",") != "proto::a-one,proto::a-two,proto::b-configured" {
		t.Fatalf("all: %v", got)
	}
	if got := ids(usp.Query{Prefix: "proto::a-"}); strings.Join(got, ",") != "proto::a-one,proto::a-two" {
		t.Fatalf("prefix: %v", got)
	}
	if got := ids(usp.Query{State: usp.StateUnknown}); strings.Join(got, ",") != "proto::b-configured" {
		t.Fatalf("unknown: %v", got)
	}
	if got := ids(usp.Query{State: usp.StateOnline, Prefix: "proto::a-t"}); strings.Join(got, ",") != "proto::a-two" {
		t.Fatalf("online with prefix: %v", got)
	}
	if got := ids(usp.Query{Prefix: "proto::z"}); len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}
	n := c.Inventory().Count()
	if n[usp.StateOnline] != 2 || n[usp.StateUnknown] != 1 || c.Inventory().Len() != 3 {
		t.Fatalf("counts %v", n)
	}
	if err := c.Inventory().Forget(ctxT(t), "proto::b-configured"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Inventory().Get("proto::b-configured"); ok {
		t.Fatal("forgotten agent still listed")
	}
}

// TestStateParse: states round-trip through their names.
func TestStateParse(t *testing.T) {
	for _, s := range []usp.AgentState{usp.StateUnknown, usp.StateOnline, usp.StateOffline} {
		b, _ := s.MarshalText()
		var got usp.AgentState
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Fatalf("%s: %v %v", s, got, err)
		}
	}
	if _, err := usp.ParseAgentState("sleeping"); err == nil {
		t.Fatal("bad state accepted")
	}
}

func TestMemoryStore(t *testing.T) {
	open := func(*testing.T) usp.Store { return &usp.MemoryStore{} }
	storetest.Run(t, open)
	storetest.RunShared(t, open)
}

// TestHeartbeatWithoutControllerEntry: an agent whose Set of
// PeriodicNotifInterval changes nothing (it has no
// Device.LocalAgent.Controller entry for this controller) will send no
// Periodic!: the heartbeat is not set up, and the agent is not called
// offline for heartbeats it was never asked for.
//
// It runs in a synctest bubble: the 3.5 s it waits pass on the fake clock.
func TestHeartbeatWithoutControllerEntry(t *testing.T) {
	synctest.Test(t, testHeartbeatWithoutControllerEntry)
}

func testHeartbeatWithoutControllerEntry(t *testing.T) {
	net := memory.NewNetwork()
	log := newStateLog()
	const id = "proto::stranger-agent"
	var sets, adds atomic.Int32
	newScripted(t, net, id, answer(func(req *uspmsg.Msg) msg.Message {
		switch req.GetHeader().GetMsgType() {
		case uspmsg.Header_SET:
			sets.Add(1)
			return &msg.SetResp{Results: []msg.SetResult{{Requested: "Device.LocalAgent.Controller.[EndpointID==\"x\"]."}}}
		case uspmsg.Header_ADD:
			adds.Add(1)
			return &msg.AddResp{Results: []msg.AddResult{{Requested: "Device.LocalAgent.Subscription.", Path: "Device.LocalAgent.Subscription.9."}}}
		}
		return &msg.GetResp{}
	}))
	c := newController(t, net, usp.WithHeartbeat(time.Second), usp.WithStateHandler(log.add), usp.WithAgent(id, memAddr(id)))
	if _, err := c.Agent(id).Get(ctxT(t), msg.Get{Paths: []string{"Device.DeviceInfo.SerialNumber"}}); err != nil {
		t.Fatal(err)
	}
	log.wait(t, id, 1, 5*time.Second)
	time.Sleep(3500 * time.Millisecond) // past the deadline a heartbeat would have
	if sets.Load() != 1 {
		t.Fatalf("%d Sets of PeriodicNotifInterval, want 1", sets.Load())
	}
	if adds.Load() != 0 {
		t.Fatalf("subscribed to Periodic! (%d Adds) although the interval could not be set", adds.Load())
	}
	if got := log.of(id); len(got) != 1 {
		t.Fatalf("changes: %s", describeChanges(got))
	}
	if e, _ := c.Inventory().Get(id); e.Heartbeat != 0 || e.State != usp.StateOnline {
		t.Fatalf("entry %+v", e)
	}
}

// probesTo counts the GetSupportedProtocol requests a scripted agent got.
func probesTo(s *scripted) int {
	n := 0
	for _, m := range s.received() {
		if m.GetHeader().GetMsgType() == uspmsg.Header_GET_SUPPORTED_PROTO {
			n++
		}
	}
	return n
}

// TestProbeRateAndBackoff: probes of a fleet that does not answer respect
// the fleet-wide rate, and an absent agent is probed less and less often.
// It runs in a synctest bubble, where the rate and the backoff are measured
// on the fake clock: exact, and no slower than the machine.
func TestProbeRateAndBackoff(t *testing.T) {
	synctest.Test(t, testProbeRateAndBackoff)
}

func testProbeRateAndBackoff(t *testing.T) {
	net := memory.NewNetwork()
	const agents, rate = 20, 5
	var opts []usp.Option
	var silent []*scripted
	for i := range agents {
		id := fmt.Sprintf("proto::silent-%02d", i)
		silent = append(silent, newScripted(t, net, id, nil)) // never answers
		opts = append(opts, usp.WithAgent(id, memAddr(id)))
	}
	const probe, timeout, backoff = 100 * time.Millisecond, 100 * time.Millisecond, 800 * time.Millisecond
	start := time.Now()
	newController(t, net, append(opts, usp.WithLiveness(usp.LivenessConfig{Probe: probe, ProbeTimeout: timeout, ProbeBackoff: backoff, ProbeRate: rate}))...)
	time.Sleep(time.Second)
	total := 0
	for _, s := range silent {
		total += probesTo(s)
	}
	elapsed := time.Since(start).Seconds()
	// rate a second, plus the burst of one second's worth.
	if limit := int(rate*elapsed) + rate + 1; total > limit {
		t.Fatalf("%d probes in %.1fs at %d/s (limit %d)", total, elapsed, rate, limit)
	}
	if total == 0 {
		t.Fatal("no probes")
	}

	// One absent agent alone: after two misses it is offline, then probed
	// at 100, 200, 400, 800, 800 ms...
	net2 := memory.NewNetwork()
	s := newScripted(t, net2, "proto::absent", nil)
	log := newStateLog()
	newController(t, net2, usp.WithAgent("proto::absent", memAddr("proto::absent")), usp.WithStateHandler(log.add),
		usp.WithLiveness(usp.LivenessConfig{Probe: probe, ProbeTimeout: timeout, ProbeBackoff: backoff}))
	chs := log.wait(t, "proto::absent", 1, 5*time.Second)
	wantChange(t, chs[0], usp.StateUnknown, usp.StateOffline, usp.ErrProbeFailed)
	base := probesTo(s)
	time.Sleep(3 * time.Second)
	// Without backoff, one probe per 200 ms (interval plus timeout): 15.
	if n := probesTo(s) - base; n > 8 || n < 2 {
		t.Fatalf("%d probes of an absent agent in 3s; backoff up to %v gives about 5, and it must go on", n, backoff)
	}
}

// TestStateChangesIterator: the iterator yields the changes in order and
// ends with the context's error.
func TestStateChangesIterator(t *testing.T) {
	net := memory.NewNetwork()
	c := newController(t, net, usp.WithLiveness(usp.LivenessConfig{Hold: -1}))
	ctx, cancel := context.WithCancel(ctxT(t))
	const id = "proto::iterated-agent"
	a := memAgent(t, net, id)
	var got []usp.StateChange
	var last error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ch, err := range c.StateChanges(ctx, 8) {
			if err != nil {
				last = err
				continue
			}
			got = append(got, ch)
			if len(got) == 3 {
				cancel()
			}
		}
	}()
	// The iteration starts at some point of this: the agent flaps until
	// three changes came through.
	for flap := 0; ; flap++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("iterator did not end")
		default:
			if flap%2 == 0 {
				_ = a.Faults().Disconnect(ctxT(t), 7105, "bye")
			} else {
				_ = a.Emit(ctxT(t), "Device.Boot!", nil)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		break
	}
	if len(got) != 3 {
		t.Fatalf("changes %s", describeChanges(got))
	}
	for i, ch := range got {
		if ch.EndpointID != id || ch.From == ch.To {
			t.Fatalf("change %d: %s", i, describeChanges(got))
		}
		if i > 0 && (ch.From != got[i-1].To || ch.At.Before(got[i-1].At)) {
			t.Fatalf("changes out of order: %s", describeChanges(got))
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("iterator ended with %v", last)
	}
}

// TestInventoryFollowsEviction: agents the controller evicts under
// WithAgentLimits leave the inventory too, so made-up endpoint IDs cannot
// grow it without bound.
func TestInventoryFollowsEviction(t *testing.T) {
	net := memory.NewNetwork()
	c := newController(t, net, usp.WithAgentLimits(3, 0))
	for i := range 10 {
		id := fmt.Sprintf("proto::made-up-%d", i)
		r, err := record.Encode(record.NewMQTTConnect("1.3", ctrlID, id, 1, "/usp/agent/"+id))
		if err != nil {
			t.Fatal(err)
		}
		if err := net.Inject(id, ctrlID, r); err != nil {
			t.Fatal(err)
		}
	}
	// The records are handled in order; the controller's agent table and
	// the inventory must hold the same 3 agents once they are.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var inv, agents []string
		for e := range c.Inventory().All() {
			inv = append(inv, e.EndpointID)
		}
		for _, a := range c.Agents() {
			agents = append(agents, a.EndpointID)
		}
		if len(inv) == 3 && strings.Join(inv, ",") == strings.Join(agents, ",") {
			break
		}
		if time.Now().After(deadline) || len(inv) > 3 {
			t.Fatalf("inventory %v, agents %v; the limit is 3", inv, agents)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // any record still in flight
	if n, agents := c.Inventory().Len(), len(c.Agents()); n != 3 || agents != 3 {
		t.Fatalf("inventory %d agents, controller %d; the limit is 3", n, agents)
	}
	if got := c.Inventory().Count(); got[usp.StateOnline] != 3 {
		t.Fatalf("counts %v", got)
	}
}
