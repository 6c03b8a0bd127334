package conformance

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Section 3, USP Records. 3.2-3.7 need end-to-end message integrity (TLS
// inside USP records) and 3.10-3.15 the rest of the session context state
// machine: not implemented yet.

func init() {
	register(
		&Case{ID: "3.1", Title: "Bad request outside a session context", Run: run3_1},
		&Case{ID: "3.8", Title: "Establishing a Session Context", Features: []Feature{FeatSessionContext}, Run: run3_8},
		&Case{ID: "3.9", Title: "Receipt of a Record out of a Session Context", Features: []Feature{FeatSessionContext}, Run: run3_9},
	)
}

// isRecordError reports whether a record from the agent reports a record
// error: a DisconnectRecord or an Error message with a 71xx code.
func isRecordError(ib Inbound) (bool, string) {
	if ib.Record == nil {
		return false, ""
	}
	if d := ib.Record.GetDisconnect(); d != nil {
		return d.GetReasonCode() >= 7100 && d.GetReasonCode() < 7200, "DisconnectRecord " + d.GetReason()
	}
	if e := ib.Msg.GetBody().GetError(); e != nil {
		return e.GetErrCode() >= 7100 && e.GetErrCode() < 7200, "Error " + e.GetErrMsg()
	}
	return false, ""
}

func run3_1(t *T) {
	mark := t.Mark()
	// A protobuf field 7 (no_session_context) whose length runs past the
	// end of the data: not a record any agent can parse.
	bad := []byte{0x0a, 0x03, '1', '.', '3', 0x3a, 0x7f, 0x01}
	if err := t.eq.SendBytes(t.ctx, bad, "malformed on purpose"); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	t.Sleep(t.cfg.quietPeriod())
	c := t.Metric(1, "the EUT ignores the malformed record or answers with a USP Record error")
	for _, ib := range t.eq.Since(mark, func(ib Inbound) bool { return ib.Record != nil && ib.Record.GetFromId() == t.eq.AgentID() }) {
		ok, what := isRecordError(ib)
		if what == "" {
			what = recordTypeName(ib.Record)
		}
		c.Expect(ok, "the EUT sent %s", what)
	}
	c.End()
	if ex := t.Send(msg.Get{Paths: []string{agentEID}}); ex.Err != nil {
		t.Notef("the EUT did not answer a Get after the malformed record: %v", ex.Err)
	}
}

// sessionGet sends a Get in a SessionContext record with the given
// session and sequence numbers and returns the msg_id.
func sessionGet(t *T, session, seq uint64) string {
	id := msg.NewID()
	payload, err := msg.Encode(msg.Get{Paths: []string{"Device.DeviceInfo."}}.Build(id))
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	rec := record.NewSessionContext(record.DefaultVersion, t.eq.AgentID(), t.eq.ControllerID(), &usprecord.SessionContextRecord{
		SessionId: session, SequenceId: seq, ExpectedId: 1, Payload: [][]byte{payload}})
	if err := t.eq.SendRecord(t.ctx, rec, ""); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	return id
}

// awaitSession waits for the agent's SessionContext record answering
// msgID and returns it with the message it carries.
func awaitSession(t *T, mark int, msgID string) (*usprecord.SessionContextRecord, *uspmsg.Msg, bool) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
	defer cancel()
	var sc *usprecord.SessionContextRecord
	var m *uspmsg.Msg
	_, ok := t.eq.Await(ctx, mark, func(ib Inbound) bool {
		s := ib.Record.GetSessionContext()
		if s == nil || len(s.GetPayload()) == 0 {
			return false
		}
		var got uspmsg.Msg
		if record.UnmarshalPayload(s.GetPayload()[0], &got) != nil || got.GetHeader().GetMsgId() != msgID {
			return false
		}
		sc, m = s, &got
		return true
	})
	return sc, m, ok
}

func newSessionID() uint64 { return rand.Uint64N(1<<32) + 1 }

// endSession makes sure no session context exists between the agent and
// the test equipment (the agent may have opened one for its Boot!), as
// 3.8 asks, and ends the kit's own after the case: a DisconnectRecord ends
// a session on both sides.
func endSession(t *T) {
	disconnect := func(ctx context.Context) error {
		rec := record.NewDisconnect(record.DefaultVersion, t.eq.AgentID(), t.eq.ControllerID(), "TP-469: no session context", 0)
		return t.eq.SendRecord(ctx, rec, "")
	}
	if err := disconnect(t.ctx); err != nil {
		t.Abortf("setup: %v", err)
	}
	t.Sleep(100 * time.Millisecond)
	t.Cleanup("end the session context", disconnect)
}

func run3_8(t *T) {
	endSession(t)
	session := newSessionID()
	mark := t.Mark()
	id := sessionGet(t, session, 1)
	sc, m, ok := awaitSession(t, mark, id)
	c := t.Metric(1, "the EUT answers in a SessionContext record with sequence_id 1 and the session_id sent")
	if c.Expect(ok, "no SessionContext record answering msg_id %s within %v", id, t.cfg.responseTimeout()) {
		c.Expect(sc.GetSessionId() == session, "session_id %d, sent %d", sc.GetSessionId(), session)
		c.Expect(sc.GetSequenceId() == 1, "sequence_id %d", sc.GetSequenceId())
		c.Expect(m.GetHeader().GetMsgType() == uspmsg.Header_GET_RESP, "the answer is %s", responseKind(m))
	}
	c.End()
}

func run3_9(t *T) {
	endSession(t)
	old := newSessionID()
	mark := t.Mark()
	if _, _, ok := awaitSession(t, mark, sessionGet(t, old, 1)); !ok {
		t.Abortf("setup: the EUT did not answer in the first session")
	}
	time.Sleep(10 * time.Millisecond)
	fresh := old + 1
	mark = t.Mark()
	id := sessionGet(t, fresh, 1)
	sc, m, ok := awaitSession(t, mark, id)
	c := t.Metric(1, "the EUT sends the GetResp in a record with the new session_id and sequence_id 1")
	if c.Expect(ok, "no SessionContext record answering msg_id %s", id) {
		c.Expect(sc.GetSessionId() == fresh, "session_id %d, the new one is %d", sc.GetSessionId(), fresh)
		c.Expect(sc.GetSequenceId() == 1, "sequence_id %d", sc.GetSequenceId())
		c.Expect(m.GetHeader().GetMsgType() == uspmsg.Header_GET_RESP, "the answer is %s", responseKind(m))
	}
	c.End()
}
