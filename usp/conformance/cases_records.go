package conformance

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Section 3, USP Records (3.10 and 3.14 are in cases_records_e2e.go; 2.7
// and 3.2-3.4 in cases_records_mac.go; 3.5 in cases_records_tlsfail.go;
// 3.6, 3.7 and 3.13 in cases_records_tls.go).

func init() {
	register(
		&Case{ID: "3.1", Title: "Bad request outside a session context", Run: run3_1},
		&Case{ID: "3.8", Title: "Establishing a Session Context", Features: []Feature{FeatSessionContext}, Run: run3_8},
		&Case{ID: "3.9", Title: "Receipt of a Record out of a Session Context", Features: []Feature{FeatSessionContext}, Run: run3_9},
		&Case{ID: "3.11", Title: "Use of Sequence ID and Expected ID", Features: []Feature{FeatSessionContext}, Run: run3_11},
		&Case{ID: "3.12", Title: "Preservation of USP Records", Features: []Feature{FeatSessionContext}, Slow: 60 * time.Second, Run: run3_12},
		&Case{ID: "3.15", Title: "Handling Duplicate Records", Features: []Feature{FeatSessionContext}, Run: run3_15},
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
	malformedIgnored(t, "the EUT ignores the malformed record or answers with a USP Record error")
}

// malformedIgnored sends a record no agent can parse and checks, over the
// quiet period, that the agent sends nothing but a record error (3.1,
// 6.9). It then checks that the agent still answers.
func malformedIgnored(t *T, text string) {
	mark := t.Mark()
	// A protobuf field 7 (no_session_context) whose length runs past the
	// end of the data: not a record any agent can parse.
	bad := []byte{0x0a, 0x03, '1', '.', '3', 0x3a, 0x7f, 0x01}
	if err := t.eq.SendBytes(t.ctx, bad, "malformed on purpose"); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	t.Sleep(t.cfg.quietPeriod())
	c := t.Metric(1, text)
	for _, ib := range t.eq.Since(mark, func(ib Inbound) bool { return ib.Record != nil && ib.Record.GetFromId() == t.eq.AgentID() }) {
		if record.Kind(ib.Record).IsConnect() {
			// Not an answer: the agent announces a new connection, as
			// over WebSocket after closing the session with 1003 on a
			// record it cannot parse (R-WS.16).
			t.Notef("the agent connected again and sent a %s record", recordTypeName(ib.Record))
			continue
		}
		ok, what := isRecordError(ib)
		if what == "" {
			what = recordTypeName(ib.Record)
		}
		c.Expect(ok, "the EUT sent %s", what)
	}
	c.End()
	ex := t.Send(msg.Get{Paths: []string{agentEID}})
	if errors.Is(ex.Err, mtp.ErrUnknownPeer) {
		// Over WebSocket the agent closed the session (R-WS.16) and
		// comes back after its retry wait (5-10 s by default, R-WS.19).
		ctx, cancel := context.WithTimeout(t.ctx, reconnectWait(t))
		if _, back := t.eq.Await(ctx, mark, isConnectRecord); back {
			ex = t.Send(msg.Get{Paths: []string{agentEID}})
		}
		cancel()
	}
	if ex.Err != nil {
		t.Notef("the EUT did not answer a Get after the malformed record: %v", ex.Err)
	}
}

// sessionGet sends a Get in a SessionContext record with the given
// session and sequence numbers and returns the msg_id.
func sessionGet(t *T, session, seq uint64) string {
	id, _ := sessionSend(t, session, seq, 1, 0, "Device.DeviceInfo.")
	return id
}

// sessionSend sends a Get of path in a SessionContext record (an empty
// payload when path is empty: a record that only acknowledges or asks for
// a retransmission) and returns the msg_id and the record bytes.
func sessionSend(t *T, session, seq, expected, retransmit uint64, path string) (string, []byte) {
	sc := &usprecord.SessionContextRecord{SessionId: session, SequenceId: seq, ExpectedId: expected, RetransmitId: retransmit}
	var id string
	if path != "" {
		id = msg.NewID()
		payload, err := msg.Encode(msg.Get{Paths: []string{path}}.Build(id))
		if err != nil {
			t.Abortf("kit bug: %v", err)
		}
		sc.Payload = [][]byte{payload}
	} else {
		// One empty payload, not none: TR-369 allows a record with an empty
		// payload, and OB-USP-A wants exactly one payload field (with
		// none it stops on an assertion, v11.0.4).
		sc.Payload = [][]byte{{}}
	}
	rec := record.NewSessionContext(record.DefaultVersion, t.eq.AgentID(), t.eq.ControllerID(), sc)
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	if err := t.eq.SendBytes(t.ctx, b, ""); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	return id, b
}

// sessionAnswers returns the agent's SessionContext records after mark
// whose message answers msgID.
func sessionAnswers(t *T, mark int, msgID string) []Inbound {
	return t.eq.Since(mark, func(ib Inbound) bool {
		s := ib.Record.GetSessionContext()
		if s == nil || len(s.GetPayload()) == 0 {
			return false
		}
		var got uspmsg.Msg
		return record.UnmarshalPayload(s.GetPayload()[0], &got) == nil && got.GetHeader().GetMsgId() == msgID
	})
}

// resultHas reports whether a GetResp carried in m has the parameter.
func resultHas(m *uspmsg.Msg, path string) bool {
	r, err := msg.ParseGetResp(m)
	if err != nil {
		return false
	}
	_, ok := r.Values()[path]
	return ok
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
//
// An agent may take a DisconnectRecord as the end of its MTP connection
// too: OB-USP-A drops its MQTT connection, reconnects a second later and
// announces itself with an MQTTConnect record. Until then the broker has
// no subscriber for its topic, and the next case's first send failed with
// mtp.ErrUnknownPeer. So after each DisconnectRecord the kit waits for
// the agent's connect record, for the quiet period at most (an agent that
// keeps its connection sends none).
func endSession(t *T) {
	disconnect := func(ctx context.Context) error {
		return disconnectAndSettle(ctx, t.eq, t.cfg)
	}
	if err := disconnect(t.ctx); err != nil {
		t.Abortf("setup: %v", err)
	}
	t.Sleep(100 * time.Millisecond)
	t.Cleanup("end the session context", disconnect)
}

// disconnectAndSettle sends a DisconnectRecord and waits for the agent to
// come back where it takes it as the end of its connection: see endSession.
// A send refused because the agent is away (mtp.ErrUnknownPeer: it is
// still reconnecting after an earlier one) is tried again once it has
// announced itself, within the response timeout.
func disconnectAndSettle(ctx context.Context, eq *Equipment, cfg Config) error {
	rec := record.NewDisconnect(record.DefaultVersion, eq.AgentID(), eq.ControllerID(), "TP-469: no session context", 0)
	mark := eq.Mark()
	err := eq.SendRecord(ctx, rec, "")
	if errors.Is(err, mtp.ErrUnknownPeer) {
		wctx, cancel := context.WithTimeout(ctx, cfg.responseTimeout())
		_, back := eq.Await(wctx, mark, isConnectRecord)
		cancel()
		if !back {
			return err
		}
		mark = eq.Mark()
		err = eq.SendRecord(ctx, rec, "")
	}
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.quietPeriod())
	defer cancel()
	eq.Await(wctx, mark, isConnectRecord)
	return nil
}

// isConnectRecord matches the record an agent announces itself with when
// it (re)connects, on any binding.
func isConnectRecord(ib Inbound) bool {
	r := ib.Record
	return r != nil && (r.GetMqttConnect() != nil || r.GetStompConnect() != nil || r.GetWebsocketConnect() != nil || r.GetUdsConnect() != nil)
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

// followsOn reports whether the agent's record sc takes the sequence_id
// after the agent's previous record in the session: TR-369 lets an agent
// send records of its own (a retransmit_id request for a gap) that take
// sequence numbers too, so the plan's literal numbers 2, 3 and 4 hold only
// for an agent that sends none; the kit checks that the numbering has no
// gap, which is what the plan's numbers express.
func followsOn(t *T, session uint64, sc *usprecord.SessionContextRecord) (bool, uint64) {
	var prev uint64
	for _, ib := range t.eq.Since(0, func(ib Inbound) bool {
		s := ib.Record.GetSessionContext()
		return s != nil && s.GetSessionId() == session && ib.Record.GetFromId() == t.eq.AgentID()
	}) {
		s := ib.Record.GetSessionContext()
		if s.GetSequenceId() == sc.GetSequenceId() {
			return s.GetSequenceId() == prev+1, prev
		}
		prev = max(prev, s.GetSequenceId())
	}
	return false, prev
}

func run3_11(t *T) {
	endSession(t)
	session := newSessionID()
	const sw, hw = "Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.HardwareVersion"
	model := "Device.DeviceInfo.ModelNumber"
	if t.env.Objects != nil && !t.env.HasParam(model) {
		model = "Device.DeviceInfo.ModelName"
		t.Notef("the agent has no ModelNumber: ModelName used instead")
	}
	mark := t.Mark()
	id1, _ := sessionSend(t, session, 1, 1, 0, model)
	sc, m, ok := awaitSession(t, mark, id1)
	c := t.Metric(1, "after the first Get the EUT answers with sequence_id 1 and "+model)
	if c.Expect(ok, "no answer") {
		c.Expect(sc.GetSequenceId() == 1, "sequence_id %d", sc.GetSequenceId())
		c.Expect(resultHas(m, model), "the GetResp lacks %s", model)
	}
	c.Must()
	// The plan writes expected_id equal to sequence_id; the kit sends what
	// it really expects next (one more than the agent's last sequence_id),
	// so that the agent is not told to forget records it never sent.
	t.Notef("expected_id sent: the agent's last sequence_id + 1, where the plan repeats the sequence_id; answers checked to follow on the agent's previous record, where the plan writes 2, 3 and 4")
	mark4 := t.Mark()
	id4, _ := sessionSend(t, session, 4, 2, 0, sw)
	t.Sleep(t.cfg.quietPeriod())
	t.Check(2, "the EUT holds the Get with sequence_id 4 back and does not answer it yet", len(sessionAnswers(t, mark4, id4)) == 0, "it answered at once")
	mark = t.Mark()
	id2, _ := sessionSend(t, session, 2, 2, 0, hw)
	sc, m, ok = awaitSession(t, mark, id2)
	c = t.Metric(3, "after the Get with sequence_id 2 the EUT answers it, in sequence, with HardwareVersion")
	if c.Expect(ok, "no answer") {
		next, prev := followsOn(t, session, sc)
		c.Expect(next, "sequence_id %d after the agent's %d", sc.GetSequenceId(), prev)
		c.Expect(resultHas(m, hw), "the GetResp lacks %s", hw)
	}
	c.Must()
	mark = t.Mark()
	id3, _ := sessionSend(t, session, 3, sc.GetSequenceId()+1, 0, hw)
	sc, m, ok = awaitSession(t, mark, id3)
	sc4, m4, ok4 := awaitSession(t, mark, id4)
	c = t.Metric(4, "after the Get with sequence_id 3 the EUT answers it, then the held Get with SoftwareVersion, in sequence")
	if c.Expect(ok && ok4, "answers: sequence 3 %v, held Get %v", ok, ok4) {
		n3, p3 := followsOn(t, session, sc)
		n4, p4 := followsOn(t, session, sc4)
		c.Expect(n3 && resultHas(m, hw), "sequence_id %d after %d, HardwareVersion %v", sc.GetSequenceId(), p3, resultHas(m, hw))
		c.Expect(n4 && sc4.GetSequenceId() > sc.GetSequenceId() && resultHas(m4, sw), "sequence_id %d after %d, SoftwareVersion %v", sc4.GetSequenceId(), p4, resultHas(m4, sw))
	}
	c.End()
}

func run3_12(t *T) {
	endSession(t)
	session := newSessionID()
	mark := t.Mark()
	id, _ := sessionSend(t, session, 1, 1, 0, "Device.DeviceInfo.")
	first, m1, ok := awaitSession(t, mark, id)
	if !ok {
		t.Abortf("no answer to the Get in the session")
	}
	t.Sleep(60 * time.Second)
	mark = t.Mark()
	sessionSend(t, session, 2, first.GetSequenceId()+1, first.GetSequenceId(), "")
	again, m2, ok := awaitSession(t, mark, id)
	c := t.Metric(1, "the EUT sends the same GetResp again when asked to retransmit it")
	if c.Expect(ok, "no retransmission within %v", t.cfg.responseTimeout()) {
		c.Expect(proto.Equal(m1, m2), "the retransmitted message differs")
		c.Expect(again.GetSequenceId() == first.GetSequenceId(), "sequence_id %d, first %d", again.GetSequenceId(), first.GetSequenceId())
	}
	c.End()
}

func run3_15(t *T) {
	endSession(t)
	session := newSessionID()
	mark := t.Mark()
	id, b := sessionSend(t, session, 1, 1, 0, agentEID)
	for range 3 {
		if err := t.eq.SendBytes(t.ctx, b, "the same record again"); err != nil {
			t.Abortf("cannot send: %v", err)
		}
	}
	if _, _, ok := awaitSession(t, mark, id); !ok {
		t.Abortf("no answer to the Get in the session")
	}
	t.Sleep(t.cfg.quietPeriod())
	got := sessionAnswers(t, mark, id)
	t.Check(1, "the EUT sends only one GetResp", len(got) == 1, "%d GetResp records", len(got))
}
