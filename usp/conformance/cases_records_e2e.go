package conformance

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Section 3 cases that follow the agent's E2ESession settings: 3.10
// (SessionExpiration) and 3.14 (MaxRetransmitTries).

func init() {
	register(
		&Case{ID: "3.10", Title: "Session Context Expiration", Features: []Feature{FeatSessionContext}, Slow: 70 * time.Second, Run: run3_10},
		&Case{ID: "3.14", Title: "Use of retransmit_id", Features: []Feature{FeatSessionContext}, Run: run3_14},
	)
}

const (
	e2eExpiration = "Device.LocalAgent.Controller.{i}.E2ESession.SessionExpiration"
	e2eRetransmit = "Device.LocalAgent.Controller.{i}.E2ESession.MaxRetransmitTries"
)

// sessionRequest sends req in a SessionContext record (sequence_id seq,
// expected_id expected) and returns its msg_id.
func sessionRequest(t *T, session, seq, expected uint64, req msg.Request) string {
	id := msg.NewID()
	payload, err := msg.Encode(req.Build(id))
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	sc := &usprecord.SessionContextRecord{SessionId: session, SequenceId: seq, ExpectedId: expected, Payload: [][]byte{payload}}
	rec := record.NewSessionContext(record.DefaultVersion, t.eq.AgentID(), t.eq.ControllerID(), sc)
	if err := t.eq.SendRecord(t.ctx, rec, ""); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	return id
}

// run3_14 sets MaxRetransmitTries to 2 inside a session, then asks three
// times for the record carrying the SetResp: the agent resends it twice in
// the same session and, on the third request, starts a new session
// instead. The kit's requests leave the SetResp unacknowledged (expected_id
// stays at its sequence_id), so that the agent still keeps it.
func run3_14(t *T) {
	t.NeedParam(e2eRetransmit)
	ctrl := t.Controller()
	t.SetLater(t.GetValues(ctrl + "E2ESession.MaxRetransmitTries"))
	endSession(t)
	session := newSessionID()
	mark := t.Mark()
	id := sessionRequest(t, session, 1, 1, msg.Set{Objects: []msg.SetObject{{Path: ctrl + "E2ESession.",
		Params: []msg.Param{{Name: "MaxRetransmitTries", Value: "2", Required: true}}}}})
	first, m, ok := awaitSession(t, mark, id)
	if !ok {
		t.Abortf("setup: no SetResp in the session within %v", t.cfg.responseTimeout())
	}
	if r, err := msg.ParseSetResp(m); err != nil || r.Err() != nil {
		t.Abortf("setup: the Set of MaxRetransmitTries failed: %v %v", err, r.Err())
	}
	seq := first.GetSequenceId()
	c := t.Metric(1, "the first three SetResponse messages are sent in the same session context")
	for i := range 2 {
		mark = t.Mark()
		sessionSend(t, session, uint64(2+i), seq, seq, "")
		again, m2, ok := awaitSession(t, mark, id)
		if !c.Expect(ok, "no SetResp after retransmit request %d within %v", i+1, t.cfg.responseTimeout()) {
			break
		}
		c.Expect(again.GetSessionId() == session, "retransmission %d in session %d, the session is %d", i+1, again.GetSessionId(), session)
		c.Expect(again.GetSequenceId() == seq && proto.Equal(m, m2), "retransmission %d: sequence_id %d (first %d), same message %v", i+1, again.GetSequenceId(), seq, proto.Equal(m, m2))
	}
	c.Must()
	mark = t.Mark()
	sessionSend(t, session, 4, seq, seq, "")
	wctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
	_, fresh := t.eq.Await(wctx, mark, func(ib Inbound) bool {
		s := ib.Record.GetSessionContext()
		return s != nil && ib.Record.GetFromId() == t.eq.AgentID() && s.GetSessionId() != session
	})
	cancel()
	t.Sleep(t.cfg.quietPeriod())
	resent := sessionAnswers(t, mark, id)
	c = t.Metric(2, "on the third retransmit request the EUT sends no SetResponse and starts a new session")
	c.Expect(len(resent) == 0, "the EUT sent the SetResp %d more time(s)", len(resent))
	c.Expect(fresh, "no SessionContext record with another session_id than %d within %v", session, t.cfg.responseTimeout())
	c.End()
}

// run3_10 checks that Periodic! notifications 10 s apart stay in one
// session while SessionExpiration is 60 s, and that each opens a new one
// once it is 5 s.
func run3_10(t *T) {
	t.NeedParam(e2eExpiration)
	if !t.env.HasEvent("Device.LocalAgent.Periodic!") {
		t.Skipf("the agent has no Device.LocalAgent.Periodic! event")
	}
	ctrl := t.Controller()
	t.SetLater(t.GetValues(ctrl+"E2ESession.SessionExpiration", ctrl+"PeriodicNotifInterval"))
	subID := fmt.Sprintf("tp469-3-10-%d", time.Now().UnixNano()%1e6)
	ar := setup[*msg.AddResp](t, "Add a Periodic! subscription", msg.Add{Objects: []msg.AddObject{{Path: subObj,
		Params: subParams(subID, "Event", "Device.LocalAgent.Periodic!", false)}}})
	if ar.Err() != nil || len(ar.Results) != 1 {
		t.Abortf("setup: Add subscription: %v", ar.Err())
	}
	trackCreated(t, ar)
	// The kit does not decode messages inside a session context (the trace
	// shows the records): a Periodic! Notify carried whole in one
	// SessionContext record, or in a NoSessionContext record, matches.
	periodic := func(ib Inbound) bool {
		m := ib.Msg
		if sc := ib.Record.GetSessionContext(); sc != nil && len(sc.GetPayload()) == 1 && sc.GetPayloadrecSarState() == usprecord.SessionContextRecord_NONE {
			var got uspmsg.Msg
			if record.UnmarshalPayload(sc.GetPayload()[0], &got) != nil {
				return false
			}
			m = &got
		}
		if m.GetBody().GetRequest().GetNotify() == nil {
			return false
		}
		n, err := msg.ParseNotify(m)
		if err != nil {
			return false
		}
		ev, ok := n.Notification.(*msg.Event)
		return ok && n.SubscriptionID == subID && ev.EventName == "Periodic!"
	}
	// sessions waits for three Periodic! notifications and returns the
	// session_id of each (0 outside a session context).
	sessions := func(metric int) []uint64 {
		mark := t.Mark()
		var ids []uint64
		for range 3 {
			ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second+t.cfg.notifyTimeout())
			ib, ok := t.eq.Await(ctx, mark, periodic)
			cancel()
			if !ok {
				t.Abortf("metric %d: %d of 3 Periodic! notifications within %v of each other", metric, len(ids), 10*time.Second+t.cfg.notifyTimeout())
			}
			ids = append(ids, ib.Record.GetSessionContext().GetSessionId())
			mark = ib.Seq
		}
		return ids
	}
	set := func(expiration string) {
		r := setup[*msg.SetResp](t, "Set SessionExpiration "+expiration, msg.Set{Objects: []msg.SetObject{
			{Path: ctrl + "E2ESession.", Params: []msg.Param{{Name: "SessionExpiration", Value: expiration, Required: true}}},
			{Path: ctrl, Params: []msg.Param{{Name: "PeriodicNotifInterval", Value: "10", Required: true}}},
		}})
		if r.Err() != nil {
			t.Abortf("setup: Set: %v", r.Err())
		}
	}
	set("60")
	ids := sessions(1)
	t.Check(1, "all three Notify messages of step 2 use the same session context",
		ids[0] != 0 && ids[1] == ids[0] && ids[2] == ids[0], "session_ids %v (0: outside a session context)", ids)
	set("5")
	ids = sessions(2)
	t.Check(2, "none of the three Notify messages of step 4 share a session context",
		ids[0] != 0 && ids[1] != 0 && ids[2] != 0 && ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "session_ids %v (0: outside a session context)", ids)
}
