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
	c.sendRecord(record.NewDisconnect("1.3", agentID, ctrlID, "bye", record.CodeSessionTerminated))
	if c.take(time.Second, func(r *usprecord.Record) bool { return r.GetDisconnect() != nil }) == nil {
		t.Fatal("no Disconnect")
	}
}
