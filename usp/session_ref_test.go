package usp_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gousp/gousp/internal/mtptest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// refRig is a controller with session context and a usptest agent, both
// over fault-injecting transports, and the notifications the controller
// got.
type refRig struct {
	c         *usp.Controller
	agent     *usptest.Agent
	ctrlT     *mtptest.Faulty // the controller's transport
	agentT    *mtptest.Faulty // the agent's transport
	caddr     mtp.Address     // where the agent sends to the controller
	mu        sync.Mutex
	notifies  []*usp.Notification
	connected chan struct{}
	gone      chan struct{} // AgentDisconnected events
	// hold, when set, makes the notify handler signal held and wait
	// until hold is closed: it keeps the controller's main lane busy.
	hold, held chan struct{}
}

// newRefRig starts the pair over the named binding. agentSess nil means an
// agent without session context (it refuses it with 7106).
func newRefRig(t *testing.T, binding string, agentSess *usptest.SessionConfig, ctrlSess usp.SessionConfig) *refRig {
	t.Helper()
	rig := &refRig{connected: make(chan struct{}, 16), gone: make(chan struct{}, 16)}
	ct, agentSide := bindingNamed(binding).setup(t)
	rig.ctrlT = mtptest.Wrap(ct, mtptest.Faults{})
	c, err := usp.NewController(ctrlID, usp.WithTransport(rig.ctrlT),
		usp.WithSessionContext(ctrlSess),
		usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			rig.mu.Lock()
			rig.notifies = append(rig.notifies, n)
			hold, held := rig.hold, rig.held
			rig.mu.Unlock()
			if hold != nil {
				close(held)
				<-hold
			}
			return nil
		}),
		usp.WithAgentHandler(func(ev usp.AgentEvent) {
			ch := rig.connected
			switch ev.Kind {
			case usp.AgentConnected:
			case usp.AgentDisconnected:
				ch = rig.gone
			default:
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	at, caddr := agentSide()
	rig.caddr = caddr
	rig.agentT = mtptest.Wrap(at, mtptest.Faults{})
	opts := []usptest.Option{usptest.WithTransport(rig.agentT), usptest.WithController(ctrlID, caddr),
		usptest.WithRebootDowntime(10 * time.Millisecond)}
	if agentSess != nil {
		opts = append(opts, usptest.WithSessionContext(*agentSess))
	}
	agent, err := usptest.NewAgent(e2eAgentID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	rig.c, rig.agent = c, agent
	t.Cleanup(func() { _ = agent.Close(context.Background()) })
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	select {
	case <-rig.connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the controller never saw the agent")
	}
	return rig
}

// boots returns how many Boot! events the controller got.
func (rig *refRig) boots() int {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	n := 0
	for _, x := range rig.notifies {
		if e, ok := x.Body.(*msg.Event); ok && e.ObjPath+e.EventName == "Device.Boot!" {
			n++
		}
	}
	return n
}

func (rig *refRig) waitBoots(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rig.boots() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Boot! events, want %d", rig.boots(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// records decodes what went through a transport.
func records(t *testing.T, raw [][]byte) []*usprecord.Record {
	t.Helper()
	out := make([]*usprecord.Record, 0, len(raw))
	for _, b := range raw {
		r, err := record.Decode(b)
		if err != nil {
			t.Fatalf("undecodable record on the wire: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// checkPayloadFields checks that every session record the controller sent
// carries exactly one payload field, as the reference agent requires.
func checkPayloadFields(t *testing.T, recs []*usprecord.Record) (withoutMessage int) {
	t.Helper()
	for _, r := range recs {
		sc := r.GetSessionContext()
		if sc == nil {
			continue
		}
		if len(sc.GetPayload()) != 1 {
			t.Fatalf("session record with %d payload fields: %v", len(sc.GetPayload()), sc)
		}
		if len(sc.GetPayload()[0]) == 0 {
			withoutMessage++
		}
	}
	return withoutMessage
}

func disconnects(recs []*usprecord.Record) []uint32 {
	var codes []uint32
	for _, r := range recs {
		if d := r.GetDisconnect(); d != nil {
			codes = append(codes, d.GetReasonCode())
		}
	}
	return codes
}

// executions counts the requests of a type the agent processed.
func executions(agent *usptest.Agent, t uspmsg.Header_MsgType) int {
	n := 0
	for _, r := range agent.Received() {
		if r.Msg.GetHeader().GetMsgType() == t {
			n++
		}
	}
	return n
}

var refAgent = &usptest.SessionConfig{Reference: true, MaxSegment: 200}

// TestReferenceAgentHappyPath: requests and the agent's Boot! inside the
// session the agent opened, segmented both ways.
func TestReferenceAgentHappyPath(t *testing.T) {
	for _, b := range []string{"memory", "mqtt-embedded"} {
		t.Run(b, func(t *testing.T) {
			// The interval is long enough for any answer here: the
			// reference agent acknowledges only with its answer, and a
			// request sent again while it is being answered is executed
			// again (OB-USP-A detects no duplicates).
			rig := newRefRig(t, b, refAgent, usp.SessionConfig{MaxSegment: 150, RetryInterval: time.Second})
			rig.waitBoots(t, 1)
			a := rig.c.Agent(e2eAgentID)
			all, err := a.Get(ctxT(t), msg.Get{Paths: []string{"Device."}})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(all.Results[0].Resolved); n < 10 {
				t.Fatalf("Get Device. resolved %d objects", n)
			}
			paths := make([]string, 30)
			for i := range paths {
				paths[i] = "Device.DeviceInfo.Manufacturer"
			}
			if _, err := a.GetValues(ctxT(t), paths...); err != nil {
				t.Fatalf("segmented request: %v", err)
			}
			sent := records(t, rig.ctrlT.Sent())
			checkPayloadFields(t, sent)
			if codes := disconnects(records(t, rig.agentT.Sent())); len(codes) != 0 {
				t.Fatalf("the agent sent Disconnect records %v", codes)
			}
		})
	}
}

// TestReferenceAgentLostSegment: a segment of the agent's answer is lost.
// The reference agent does not retransmit, so the controller's requests
// go unanswered; after its retries it gives up, fails the call with a
// session error, restarts the session with an opening record the agent
// accepts, and the next call works. Nothing spins.
func TestReferenceAgentLostSegment(t *testing.T) { synctest.Test(t, testReferenceAgentLostSegment) }

func testReferenceAgentLostSegment(t *testing.T) {
	rig := newRefRig(t, "memory", refAgent, usp.SessionConfig{RetryInterval: 10 * time.Millisecond, MaxRetries: 3})
	rig.waitBoots(t, 1)
	a := rig.c.Agent(e2eAgentID)
	var n int
	var mu sync.Mutex
	rig.agentT.SetIntercept(func(data []byte) mtptest.Action {
		r, err := record.Decode(data)
		if err != nil || r.GetSessionContext().GetPayloadSarState() != record.SARInProcess {
			return mtptest.Pass
		}
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 2 {
			return mtptest.Drop
		}
		return mtptest.Pass
	})
	start := len(rig.ctrlT.Sent())
	_, err := a.Get(ctxT(t), msg.Get{Paths: []string{"Device."}})
	if !errors.Is(err, usp.ErrSessionFailed) {
		t.Fatalf("Get with a lost segment: %v, want ErrSessionFailed", err)
	}
	rig.agentT.SetIntercept(nil)
	sent := records(t, rig.ctrlT.Sent()[start:])
	empty := checkPayloadFields(t, sent)
	// The Get, 3 requests for the segment, and the opening record.
	if len(sent) > 6 || empty < 4 {
		t.Fatalf("controller sent %d records (%d without a message), want about 5", len(sent), empty)
	}
	if codes := disconnects(records(t, rig.agentT.Sent())); len(codes) != 0 {
		t.Fatalf("the agent refused records: Disconnect %v", codes)
	}
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatalf("the call after the restart: %v", err)
	}
	// Quiet afterwards.
	settled := len(rig.ctrlT.Sent())
	time.Sleep(200 * time.Millisecond)
	if n := len(rig.ctrlT.Sent()) - settled; n != 0 {
		t.Fatalf("%d records sent by an idle controller", n)
	}
}

// TestReferenceAgentLostResponse: the agent's answer is lost. The request
// stays unacknowledged (the agent acknowledges only with its next record),
// so the controller sends it again, a bounded number of times; the agent,
// which detects no duplicates, answers one of them.
func TestReferenceAgentLostResponse(t *testing.T) { synctest.Test(t, testReferenceAgentLostResponse) }

func testReferenceAgentLostResponse(t *testing.T) {
	rig := newRefRig(t, "memory", refAgent, usp.SessionConfig{RetryInterval: 10 * time.Millisecond, MaxRetries: 3})
	rig.waitBoots(t, 1)
	var dropped sync.Once
	rig.agentT.SetIntercept(func(data []byte) mtptest.Action {
		act := mtptest.Pass
		dropped.Do(func() { act = mtptest.Drop })
		return act
	})
	v, err := rig.c.Agent(e2eAgentID).GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
	if err != nil || v == "" {
		t.Fatalf("GetValue after a lost answer: %q, %v", v, err)
	}
	// Sent again once, or, on a slow machine, up to MaxRetries times.
	if n := executions(rig.agent, uspmsg.Header_GET); n < 2 || n > 4 {
		t.Fatalf("the agent got the Get %d times, want 2 to 4", n)
	}
	// The whole time the agent is silent, resends stop after MaxRetries.
	rig.agentT.SetIntercept(func([]byte) mtptest.Action { return mtptest.Drop })
	start := len(rig.ctrlT.Sent())
	_, err = rig.c.Agent(e2eAgentID).GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
	if !errors.Is(err, usp.ErrSessionFailed) {
		t.Fatalf("a silent agent: %v, want ErrSessionFailed", err)
	}
	gaveUp := len(rig.ctrlT.Sent())
	// The Get, then 3 rounds of it and of the opening record of the
	// session restarted after the first part's gap.
	if n := gaveUp - start; n < 4 || n > 7 {
		t.Fatalf("controller sent %d records to a silent agent, want 4 to 7 (err %v, execs %d)", n, err, executions(rig.agent, uspmsg.Header_GET))
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rig.ctrlT.Sent()) - gaveUp; n != 0 {
		t.Fatalf("controller sent %d more records after giving up", n)
	}
	rig.agentT.SetIntercept(nil)
	if _, err := rig.c.Agent(e2eAgentID).GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatalf("after the agent came back: %v", err)
	}
}

// TestReferenceAgentIdleSession: the reference agent never acknowledges
// the controller's last record (its NotifyResp, or any answer) on its own.
// An idle session stays quiet.
//
// It runs in a synctest bubble: the 20 retry ticks pass on the fake clock,
// and a loaded machine cannot make an answer late enough to be resent.
func TestReferenceAgentIdleSession(t *testing.T) {
	synctest.Test(t, testReferenceAgentIdleSession)
}

func testReferenceAgentIdleSession(t *testing.T) {
	rig := newRefRig(t, "memory", refAgent, usp.SessionConfig{RetryInterval: 100 * time.Millisecond})
	rig.waitBoots(t, 1)
	if _, err := rig.c.Agent(e2eAgentID).Set(ctxT(t), msg.SetParams("Device.LocalAgent.Controller.1.", map[string]string{"ProvisioningCode": "x"})); err != nil {
		t.Fatal(err)
	}
	settled := len(rig.ctrlT.Sent())
	time.Sleep(2 * time.Second) // 20 retry ticks
	if n := len(rig.ctrlT.Sent()) - settled; n != 0 {
		t.Fatalf("%d records sent on an idle session", n)
	}
	if n := executions(rig.agent, uspmsg.Header_SET); n != 1 {
		t.Fatalf("Set executed %d times", n)
	}
}

// TestReferenceAgentDisconnect: after the agent's Disconnect 7105 the
// controller's next record opens a new session with sequence_id 1, which
// the agent accepts; the call waiting when the Disconnect came fails with
// a session error.
func TestReferenceAgentDisconnect(t *testing.T) {
	rig := newRefRig(t, "memory", refAgent, usp.SessionConfig{RetryInterval: time.Hour})
	rig.waitBoots(t, 1)
	a := rig.c.Agent(e2eAgentID)
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatal(err)
	}
	// The answer to the next Get is lost, so the call still waits when
	// the Disconnect comes. The intercept stays until it has dropped the
	// GetResp itself: the agent counts the Get executed before it sends
	// the answer, so waiting for the count let the answer through now and
	// then.
	lost := make(chan struct{})
	var once sync.Once
	rig.agentT.SetIntercept(func(data []byte) mtptest.Action {
		r, err := record.Decode(data)
		if err != nil || r.GetSessionContext() == nil {
			return mtptest.Pass
		}
		for _, p := range r.GetSessionContext().GetPayload() {
			if m, err := msg.Decode(p); err == nil && m.GetHeader().GetMsgType() == uspmsg.Header_GET_RESP {
				once.Do(func() { close(lost) })
			}
		}
		return mtptest.Drop
	})
	errc := make(chan error, 1)
	go func() {
		_, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
		errc <- err
	}()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the agent never answered the second Get")
	}
	rig.agentT.SetIntercept(nil)
	start := len(rig.ctrlT.Sent())
	if err := rig.agent.Faults().Disconnect(ctxT(t), record.CodeSessionContextTerminated, "E2E session terminated"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, usp.ErrSessionFailed) || !errors.Is(err, usp.ErrAgentGone) {
		t.Fatalf("call cut by Disconnect 7105: %v, want ErrSessionFailed and ErrAgentGone", err)
	}
	rig.agent.Faults().Reset()
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatalf("after the Disconnect: %v", err)
	}
	var first *usprecord.SessionContextRecord
	for _, r := range records(t, rig.ctrlT.Sent()[start:]) {
		if sc := r.GetSessionContext(); sc != nil && first == nil {
			first = sc
		}
	}
	if first == nil || first.GetSequenceId() != 1 || len(first.GetPayload()[0]) == 0 {
		t.Fatalf("first record after the Disconnect: %v, want the request with sequence_id 1", first)
	}
}

// TestSessionDisconnectInOrder: a Disconnect record from an agent with
// session context is handled in order with its session records, even
// while a notify handler holds the controller's main lane. Found by the
// property test: a Disconnect 7105 handled late, behind the main lane,
// ended the session opened after it and failed a call that the agent had
// answered in it.
func TestSessionDisconnectInOrder(t *testing.T) {
	rig := newRefRig(t, "memory", refAgent, usp.SessionConfig{RetryInterval: time.Hour})
	rig.waitBoots(t, 1)
	a := rig.c.Agent(e2eAgentID)
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatal(err)
	}
	hold, held := make(chan struct{}), make(chan struct{})
	rig.mu.Lock()
	rig.hold, rig.held = hold, held
	rig.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer release()
	if err := rig.agent.Emit(ctxT(t), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the notification never reached the handler")
	}
	rig.mu.Lock()
	rig.hold = nil
	rig.mu.Unlock()
	if err := rig.agent.Faults().Disconnect(ctxT(t), record.CodeSessionContextTerminated, "E2E session terminated"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rig.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the Disconnect record waits behind the notify handler")
	}
	start := len(rig.ctrlT.Sent())
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatalf("in the session after the Disconnect: %v", err)
	}
	recs := records(t, rig.ctrlT.Sent()[start:])
	if len(recs) == 0 || recs[0].GetSessionContext().GetSequenceId() != 1 {
		t.Fatalf("the request after the Disconnect did not open a new session: %v", recs)
	}
	release()
	for i := range 3 {
		if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
			t.Fatalf("call %d once the handler returned: %v", i, err)
		}
	}
}

// TestSessionPeerMovesOn: when the agent starts another session while a
// request of ours waits in the current one, the call fails at once with a
// session error: the request's records went with the old session and are
// never resent, and its answer would come in the old session, which is
// ignored. Found by the property test, where such calls hung until their
// deadline (the reference agent had opened a session while answering in
// ours).
func TestSessionPeerMovesOn(t *testing.T) {
	rig := newRefRig(t, "memory", refAgent, usp.SessionConfig{RetryInterval: time.Hour})
	rig.waitBoots(t, 1)
	a := rig.c.Agent(e2eAgentID)
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatal(err)
	}
	var sid uint64
	sent := make(chan struct{})
	rig.ctrlT.SetIntercept(func(data []byte) mtptest.Action {
		r, err := record.Decode(data)
		if err != nil || r.GetSessionContext() == nil || sid != 0 {
			return mtptest.Pass
		}
		sid = r.GetSessionContext().GetSessionId()
		close(sent)
		return mtptest.Drop // the agent never sees the request
	})
	errc := make(chan error, 1)
	go func() {
		_, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
		errc <- err
	}()
	<-sent
	rig.ctrlT.SetIntercept(nil)
	// The agent opens a session of its own, as after a failure.
	opener, err := record.Encode(record.NewSessionContext("1.3", ctrlID, e2eAgentID,
		&usprecord.SessionContextRecord{SessionId: sid + 1, SequenceId: 1, ExpectedId: 1, Payload: [][]byte{{}}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.agentT.Transport.Send(ctxT(t), rig.caddr, opener); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, usp.ErrSessionFailed) {
			t.Fatalf("call stranded in the old session: %v, want ErrSessionFailed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the call stranded in the old session still waits")
	}
	// (The agent's opener above is forged: the agent itself is still in
	// the old session, so no further call is checked here.)
}

// TestReferenceAgentReboot: the reference agent reboots and opens its new
// session with the id of the old one and sequence_id 1 again. Its Boot!
// and its answers are taken; nothing is executed twice.
func TestReferenceAgentReboot(t *testing.T) {
	for _, b := range []string{"memory", "mqtt-embedded"} {
		t.Run(b, func(t *testing.T) {
			rig := newRefRig(t, b, refAgent, usp.SessionConfig{RetryInterval: time.Second})
			rig.waitBoots(t, 1)
			a := rig.c.Agent(e2eAgentID)
			for range 3 {
				if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
					t.Fatal(err)
				}
			}
			sid := func() uint64 {
				for _, r := range slices.Backward(records(t, rig.agentT.Sent())) {
					if sc := r.GetSessionContext(); sc != nil {
						return sc.GetSessionId()
					}
				}
				return 0
			}
			before := sid()
			for life := 2; life <= 3; life++ {
				if _, err := a.Operate(ctxT(t), msg.Operate{Command: "Device.Reboot()", SendResp: true}); err != nil {
					t.Fatal(err)
				}
				rig.waitBoots(t, life)
				if got := sid(); got != before {
					t.Fatalf("life %d: the agent opened session %d, want %d again (as OB-USP-A)", life, got, before)
				}
				for i := range 3 {
					v, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
					if err != nil || v == "" {
						t.Fatalf("life %d, Get %d after the reboot: %q, %v", life, i, v, err)
					}
				}
			}
			if n := executions(rig.agent, uspmsg.Header_GET); n != 9 {
				t.Fatalf("the agent executed %d Gets, want 9", n)
			}
			if n := executions(rig.agent, uspmsg.Header_OPERATE); n != 2 {
				t.Fatalf("the agent executed %d Operates, want 2", n)
			}
			checkPayloadFields(t, records(t, rig.ctrlT.Sent()))
		})
	}
}

// TestSessionRefused: an agent without session context answers 7106 (and
// reconnects). The call fails with ErrSessionRefused, which is a session
// error; the controller waits before it tries again, and stops after
// three refusals.
func TestSessionRefused(t *testing.T) { synctest.Test(t, testSessionRefused) }

func testSessionRefused(t *testing.T) {
	const every = 50 * time.Millisecond
	rig := newRefRig(t, "memory", nil, usp.SessionConfig{RetryInterval: every})
	a := rig.c.Agent(e2eAgentID)
	get := func() error {
		_, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
		return err
	}
	sessionRecords := func() int {
		n := 0
		for _, r := range records(t, rig.ctrlT.Sent()) {
			if r.GetSessionContext() != nil {
				n++
			}
		}
		return n
	}
	for i := 1; i <= 3; i++ {
		err := get()
		if !errors.Is(err, usp.ErrSessionRefused) || !errors.Is(err, usp.ErrSessionFailed) {
			t.Fatalf("attempt %d: %v, want ErrSessionRefused", i, err)
		}
		if n := sessionRecords(); n != i {
			t.Fatalf("attempt %d: %d session records sent, want %d", i, n, i)
		}
		// Within the backoff: refused at once, nothing sent.
		if err := get(); !errors.Is(err, usp.ErrSessionRefused) || sessionRecords() != i {
			t.Fatalf("within the backoff: %v, %d records", err, sessionRecords())
		}
		time.Sleep(every << (i - 1))
	}
	time.Sleep(10 * every)
	if err := get(); !errors.Is(err, usp.ErrSessionRefused) || !strings.Contains(err.Error(), "no more attempts") || sessionRecords() != 3 {
		t.Fatalf("after three refusals: %v, %d records", err, sessionRecords())
	}
	if n := len(disconnects(records(t, rig.agentT.Sent()))); n != 3 {
		t.Fatalf("the agent sent %d Disconnect records, want 3", n)
	}
}

// TestSessionRefusedFallback: with Fallback, messages go without session
// context once the agent refused it, the refused one included.
func TestSessionRefusedFallback(t *testing.T) {
	// Over MQTT the agent announces itself again after its Disconnect
	// (as OB-USP-A reconnects): the refused request goes then, not after
	// RetryInterval.
	rig := newRefRig(t, "mqtt-embedded", nil, usp.SessionConfig{RetryInterval: time.Hour, Fallback: true})
	a := rig.c.Agent(e2eAgentID)
	// The refused request goes again without session context: the
	// call succeeds, executed once.
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if n := executions(rig.agent, uspmsg.Header_GET); n != 1 {
		t.Fatalf("the Get executed %d times", n)
	}
	for i := range 3 {
		if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
			t.Fatalf("call %d with Fallback: %v", i, err)
		}
	}
	recs := records(t, rig.ctrlT.Sent())
	if last := recs[len(recs)-1]; last.GetNoSessionContext() == nil {
		t.Fatalf("last record %v, want NoSessionContext", record.Kind(last))
	}
}

// TestReferenceAgentAllowMode: an agent in Allow mode that ended the
// session takes NoSessionContext records again. Without Fallback the
// controller keeps to session context (a new one); with it nothing
// changes either, since nothing was refused: Fallback is for 7106 only.
func TestReferenceAgentAllowMode(t *testing.T) {
	rig := newRefRig(t, "memory", &usptest.SessionConfig{Reference: true, Allow: true}, usp.SessionConfig{RetryInterval: 20 * time.Millisecond})
	a := rig.c.Agent(e2eAgentID)
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatal(err)
	}
	recs := records(t, rig.agentT.Sent())
	if last := recs[len(recs)-1]; last.GetSessionContext() == nil {
		t.Fatalf("the agent answered a session request with %v", record.Kind(last))
	}
}

// TestReferenceAgentForbid: the reference agent in SessionMode Forbid
// refuses session records with 7105, not 7106. A 7105 to a session the
// agent never joined counts as a refusal: ErrSessionRefused, backoff, and
// Fallback works.
func TestReferenceAgentForbid(t *testing.T) {
	forbid := &usptest.SessionConfig{Reference: true, Forbid: true}
	rig := newRefRig(t, "memory", forbid, usp.SessionConfig{RetryInterval: time.Hour})
	a := rig.c.Agent(e2eAgentID)
	_, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
	if !errors.Is(err, usp.ErrSessionRefused) || !errors.Is(err, usp.ErrSessionFailed) {
		t.Fatalf("first call: %v, want ErrSessionRefused", err)
	}
	sent := len(rig.ctrlT.Sent())
	if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); !errors.Is(err, usp.ErrSessionRefused) || len(rig.ctrlT.Sent()) != sent {
		t.Fatalf("second call: %v, %d records sent", err, len(rig.ctrlT.Sent())-sent)
	}

	// No connect record comes: the refused request goes after
	// RetryInterval.
	rig = newRefRig(t, "memory", forbid, usp.SessionConfig{RetryInterval: 50 * time.Millisecond, Fallback: true})
	for i := range 2 {
		if _, err := rig.c.Agent(e2eAgentID).GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
			t.Fatalf("call %d with Fallback: %v", i, err)
		}
	}
	if n := executions(rig.agent, uspmsg.Header_GET); n != 2 {
		t.Fatalf("%d Gets executed, want 2", n)
	}
}
