package e2e_test

import (
	"testing"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

const (
	ctrlID  = "proto::controller"
	agentID = "proto::agent"
)

// cfgs returns the configurations of a controller and an agent talking to
// each other, both changed by tweak when given.
func cfgs(tweak func(*e2e.Config)) (ctrl, agent e2e.Config) {
	ctrl = e2e.Config{LocalID: ctrlID, PeerID: agentID}
	agent = e2e.Config{LocalID: agentID, PeerID: ctrlID}
	if tweak != nil {
		tweak(&ctrl)
		tweak(&agent)
	}
	return ctrl, agent
}

// pair returns a controller session that opens session id sid and an agent
// session that waits for it.
func pair(t testing.TB, sid uint64, tweak func(*e2e.Config)) (ctrl, agent *e2e.Session) {
	t.Helper()
	cc, ac := cfgs(tweak)
	ctrl, err := e2e.New(cc, sid)
	if err != nil {
		t.Fatal(err)
	}
	agent, err = e2e.New(ac, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ctrl, agent
}

// wire sends r through the codec, as a transport would.
func wire(t testing.TB, r *usprecord.Record) *usprecord.Record {
	t.Helper()
	b, err := record.Encode(r)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	d, err := record.Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return d
}

// recv delivers recs to s in order and collects what comes out, failing
// the test on any error.
func recv(t testing.TB, s *e2e.Session, recs ...*usprecord.Record) (payloads [][]byte, out []*usprecord.Record) {
	t.Helper()
	for _, r := range recs {
		p, o, err := s.Receive(wire(t, r))
		if err != nil {
			t.Fatalf("Receive(seq %d): %v", r.GetSessionContext().GetSequenceId(), err)
		}
		payloads = append(payloads, p...)
		out = append(out, o...)
	}
	return payloads, out
}

// retry calls s.Retry and fails the test on an error.
func retry(t testing.TB, s *e2e.Session) []*usprecord.Record {
	t.Helper()
	payloads, out, err := s.Retry()
	if err != nil || len(payloads) != 0 {
		t.Fatalf("Retry: %d payloads, %v", len(payloads), err)
	}
	return out
}

func wrap(t testing.TB, s *e2e.Session, payload string) []*usprecord.Record {
	t.Helper()
	recs, err := s.Wrap([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// mk builds a session context record by hand, from the controller to the
// agent unless from is the agent.
func mk(from string, sid, seq, exp, rt uint64, payload string) *usprecord.Record {
	to := agentID
	if from == agentID {
		to = ctrlID
	}
	sc := &usprecord.SessionContextRecord{SessionId: sid, SequenceId: seq, ExpectedId: exp, RetransmitId: rt}
	if payload != "" {
		sc.Payload = [][]byte{[]byte(payload)}
	}
	return record.NewSessionContext("1.3", to, from, sc)
}

func sc(r *usprecord.Record) *usprecord.SessionContextRecord { return r.GetSessionContext() }

func strs(ps [][]byte) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// emptyField reports whether sc carries exactly one payload field, empty,
// after a trip through the codec: what OB-USP-A requires of a record
// without a message.
func emptyField(sc *usprecord.SessionContextRecord) bool {
	r := &usprecord.Record{Version: "1.3", ToId: agentID, FromId: ctrlID,
		RecordType: &usprecord.Record_SessionContext{SessionContext: sc}}
	b, err := record.Encode(r)
	if err != nil {
		return false
	}
	d, err := record.Decode(b)
	if err != nil {
		return false
	}
	p := d.GetSessionContext().GetPayload()
	return len(p) == 1 && len(p[0]) == 0
}
