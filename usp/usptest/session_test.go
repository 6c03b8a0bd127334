package usptest

import (
	"testing"
	"time"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

// sessionMsg reads SessionContext records from the agent into cs until a
// message completes, and returns it.
func sessionMsg(t *testing.T, c *testController, cs *e2e.Session) (*uspmsg.Msg, int) {
	t.Helper()
	records := 0
	for {
		r := c.take(time.Second, func(r *usprecord.Record) bool { return r.GetSessionContext() != nil })
		if r == nil {
			t.Fatalf("no session context record after %d", records)
		}
		records++
		payloads, _, err := cs.Receive(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(payloads) > 0 {
			m := &uspmsg.Msg{}
			if err := proto.Unmarshal(payloads[0], m); err != nil {
				t.Fatal(err)
			}
			return m, records
		}
	}
}

func TestSessionContext(t *testing.T) {
	_, c := newTestAgent(t, WithSessionContext(SessionConfig{MaxSegment: 64, RetryInterval: time.Hour}))
	cs, err := e2e.New(e2e.Config{LocalID: ctrlID, PeerID: agentID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Boot! comes inside a session the agent opens, in 64-byte segments.
	boot, n := sessionMsg(t, c, cs)
	if boot.GetBody().GetRequest().GetNotify().GetEvent().GetEventName() != "Boot!" || n < 3 {
		t.Fatalf("Boot! in %d records: %v", n, boot)
	}
	// A Get inside the session is answered inside it.
	payload, _ := proto.Marshal(msg.Get{Paths: []string{"Device.DeviceInfo."}}.Build("in-session"))
	recs, err := cs.Wrap(payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		c.sendRecord(r)
	}
	resp, n := sessionMsg(t, c, cs)
	if resp.GetHeader().GetMsgId() != "in-session" || len(resolvedPaths(resp)[0]) < 10 || n < 5 {
		t.Errorf("answer in %d records: %v", n, resolvedPaths(resp))
	}
	if st := cs.Stats(); st.SessionID == 0 || st.Expected < 2 {
		t.Errorf("session %+v", st)
	}
	// A NoSessionContext request is still answered without a session.
	r := c.do(msg.GetSupportedProtocol{})
	if r.GetBody().GetResponse().GetGetSupportedProtocolResp() == nil {
		t.Errorf("outside the session: %v", r)
	}
	// A Disconnect ends the session; the next record opens a new one.
	c.sendRecord(record.NewDisconnect("1.3", agentID, ctrlID, "bye", record.CodeSessionContextTerminated))
	if c.take(time.Second, func(r *usprecord.Record) bool { return r.GetDisconnect() != nil }) == nil {
		t.Fatal("no Disconnect")
	}
}

// refRecord builds a session record from the test controller by hand.
func refRecord(sid, seq, exp, rt uint64, payload [][]byte) *usprecord.Record {
	return record.NewSessionContext("1.3", agentID, ctrlID, &usprecord.SessionContextRecord{
		SessionId: sid, SequenceId: seq, ExpectedId: exp, RetransmitId: rt, Payload: payload,
	})
}

func isSession(r *usprecord.Record) bool    { return r.GetSessionContext() != nil }
func isDisconnect(r *usprecord.Record) bool { return r.GetDisconnect() != nil }

func getPayload(t *testing.T, id string) []byte {
	t.Helper()
	b, err := proto.Marshal(msg.Get{Paths: []string{"Device.DeviceInfo.ModelName"}}.Build(id))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSessionReference checks the model of OB-USP-A's experimental
// session context that SessionConfig.Reference turns on.
func TestSessionReference(t *testing.T) {
	_, c := newTestAgent(t, WithSessionContext(SessionConfig{Reference: true}), WithRebootDowntime(time.Millisecond))
	// Boot! opens the agent's first session: id 2, sequence_id 1.
	boot := c.take(time.Second, isSession)
	if sc := boot.GetSessionContext(); boot == nil || sc.GetSessionId() != 2 || sc.GetSequenceId() != 1 || sc.GetExpectedId() != 1 {
		t.Fatalf("Boot! record %v", boot)
	}
	// A record without exactly one payload field: Disconnect 7105 and
	// the next session opened, with one empty payload field.
	c.sendRecord(refRecord(2, 1, 2, 0, nil))
	d := c.take(time.Second, isDisconnect)
	if d == nil || d.GetDisconnect().GetReasonCode() != record.CodeSessionContextTerminated {
		t.Fatalf("no Disconnect 7105 for a record without payload field: %v", d)
	}
	open := c.take(time.Second, isSession).GetSessionContext()
	if open.GetSessionId() != 3 || open.GetSequenceId() != 1 || len(open.GetPayload()) != 1 || len(open.GetPayload()[0]) != 0 {
		t.Fatalf("opening record %v", open)
	}
	// One empty field is accepted and ignored; so is retransmit_id.
	c.sendRecord(refRecord(3, 1, 2, 0, [][]byte{{}}))
	c.sendRecord(refRecord(3, 2, 2, 1, [][]byte{{}}))
	c.quiet(50*time.Millisecond, func(*usprecord.Record) bool { return true })
	// Requests are answered in the session; a copy is executed again (no
	// duplicate detection).
	get := refRecord(3, 3, 2, 0, [][]byte{getPayload(t, "dup")})
	c.sendRecord(get)
	c.sendRecord(get)
	for i := range 2 {
		r := c.take(time.Second, isSession)
		if sc := r.GetSessionContext(); sc.GetSessionId() != 3 || sc.GetSequenceId() != uint64(2+i) || sc.GetExpectedId() != 4 {
			t.Fatalf("answer %d: %v", i, sc)
		}
	}
	// A new session id must start at sequence_id 1.
	c.sendRecord(refRecord(9, 5, 1, 0, [][]byte{getPayload(t, "x")}))
	if c.take(time.Second, isDisconnect) == nil {
		t.Fatal("no Disconnect for a new session_id with sequence_id 5")
	}
	if sc := c.take(time.Second, isSession).GetSessionContext(); sc.GetSessionId() != 4 {
		t.Fatalf("next opening record %v, want session 4", sc)
	}
	// Any new id with sequence_id 1 is adopted.
	c.sendRecord(refRecord(77, 1, 1, 0, [][]byte{getPayload(t, "adopted")}))
	if sc := c.take(time.Second, isSession).GetSessionContext(); sc.GetSessionId() != 77 || sc.GetSequenceId() != 1 || sc.GetExpectedId() != 2 {
		t.Fatalf("answer in the adopted session %v", sc)
	}
	// NoSessionContext is refused in Require mode.
	c.sendMsg(msg.GetSupportedProtocol{}.Build("plain"))
	if c.take(time.Second, isDisconnect) == nil {
		t.Fatal("a NoSessionContext record was not refused")
	}
	c.take(time.Second, isSession) // the opener of session 78
	// After a reboot the count starts again: Boot! in session 2.
	op, _ := proto.Marshal(msg.Operate{Command: "Device.Reboot()", SendResp: true}.Build("reboot"))
	c.sendRecord(refRecord(78, 1, 1, 0, [][]byte{op}))
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := c.take(time.Until(deadline), isSession)
		if r == nil {
			t.Fatal("no Boot! after the reboot")
		}
		if sc := r.GetSessionContext(); sc.GetSessionId() == 2 {
			if sc.GetSequenceId() != 1 || sc.GetExpectedId() != 1 {
				t.Fatalf("first record after the reboot %v", sc)
			}
			break
		}
	}
}

// TestSessionReferenceAllow: in Allow mode NoSessionContext records are
// processed while no session is up, and the agent's own messages go
// without session context.
func TestSessionReferenceAllow(t *testing.T) {
	if _, err := NewAgent(agentID, WithSessionContext(SessionConfig{Allow: true})); err == nil {
		t.Fatal("Allow without Reference was accepted")
	}
	_, c := newTestAgent(t, WithSessionContext(SessionConfig{Reference: true, Allow: true}))
	boot := c.take(time.Second, func(*usprecord.Record) bool { return true })
	if boot.GetNoSessionContext() == nil {
		t.Fatalf("Boot! in Allow mode with no session up: %v", record.Kind(boot))
	}
	if r := c.do(msg.GetSupportedProtocol{}); r.GetBody().GetResponse().GetGetSupportedProtocolResp() == nil {
		t.Fatalf("NoSessionContext in Allow mode: %v", r)
	}
	// A session up, then NoSessionContext: the session ends (no opener).
	c.sendRecord(refRecord(5, 1, 1, 0, [][]byte{getPayload(t, "s")}))
	c.take(time.Second, isSession)
	c.sendMsg(msg.GetSupportedProtocol{}.Build("plain"))
	if c.take(time.Second, isDisconnect) == nil {
		t.Fatal("no Disconnect")
	}
	c.quiet(50*time.Millisecond, isSession)
}
