package e2e_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

func TestExchange(t *testing.T) {
	const sid = 0x5e55
	ctrl, agent := pair(t, sid, nil)
	if got := agent.ID(); got != 0 {
		t.Fatalf("agent ID before any record = %d, want 0", got)
	}
	for i := uint64(1); i <= 5; i++ {
		req := wrap(t, ctrl, fmt.Sprintf("req-%d", i))
		if len(req) != 1 {
			t.Fatalf("round %d: %d records for a short message", i, len(req))
		}
		// The controller has received i-1 answers, so expects the i-th.
		if s := sc(req[0]); s.SessionId != sid || s.SequenceId != i || s.ExpectedId != i || s.RetransmitId != 0 {
			t.Fatalf("round %d: request ids %v", i, s)
		}
		if s := sc(req[0]); s.PayloadSarState != record.SARNone || s.PayloadrecSarState != record.SARNone {
			t.Fatalf("round %d: SAR states %v/%v on an unsegmented record", i, s.PayloadSarState, s.PayloadrecSarState)
		}
		got, out := recv(t, agent, req...)
		if want := []string{fmt.Sprintf("req-%d", i)}; !slices.Equal(strs(got), want) || len(out) != 0 {
			t.Fatalf("round %d: agent got %q and would send %d records", i, strs(got), len(out))
		}
		if agent.ID() != sid {
			t.Fatalf("agent adopted %d, want %d", agent.ID(), sid)
		}
		resp := wrap(t, agent, fmt.Sprintf("resp-%d", i))
		if s := sc(resp[0]); s.SessionId != sid || s.SequenceId != i || s.ExpectedId != i+1 {
			t.Fatalf("round %d: response ids %v", i, s)
		}
		got, out = recv(t, ctrl, resp...)
		if want := []string{fmt.Sprintf("resp-%d", i)}; !slices.Equal(strs(got), want) || len(out) != 0 {
			t.Fatalf("round %d: controller got %q and would send %d records", i, strs(got), len(out))
		}
		// The response acknowledged the request; the agent's own
		// response waits for the next request's expected_id.
		if n := ctrl.Stats().Unacknowledged; n != 0 {
			t.Fatalf("round %d: controller keeps %d records after the ack", i, n)
		}
		if n := agent.Stats().Unacknowledged; n != 1 {
			t.Fatalf("round %d: agent keeps %d records, want 1", i, n)
		}
	}
	st := ctrl.Stats()
	if st.NextSequence != 6 || st.Expected != 6 || !st.Originated || !st.Confirmed {
		t.Fatalf("controller stats %+v", st)
	}
}

func TestWrapEmptyPayload(t *testing.T) {
	ctrl, agent := pair(t, 42, nil)
	recs, err := ctrl.Wrap(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !emptyField(sc(recs[0])) || sc(recs[0]).SequenceId != 1 {
		t.Fatalf("Wrap(nil) = %v, want one record with one empty payload field", recs)
	}
	got, out := recv(t, agent, recs...)
	if len(got) != 0 || len(out) != 0 {
		t.Fatalf("an empty record gave payloads %q, out %d", strs(got), len(out))
	}
	// It opened the session and used up a sequence_id.
	if agent.ID() != 42 || agent.Stats().Expected != 2 {
		t.Fatalf("agent stats after the opening record: %+v", agent.Stats())
	}
}

func TestSegmentation(t *testing.T) {
	const seg = 8192
	for _, n := range []int{1, seg - 1, seg, seg + 1, 3 * seg, 64 << 10, 1<<20 + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctrl, agent := pair(t, 7, func(c *e2e.Config) { c.MaxSegment = seg })
			msg := make([]byte, n)
			rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)}).Read(msg) //nolint:errcheck
			recs, err := ctrl.Wrap(msg)
			if err != nil {
				t.Fatal(err)
			}
			want := (n + seg - 1) / seg
			if len(recs) != want {
				t.Fatalf("%d records, want %d", len(recs), want)
			}
			for i, r := range recs {
				s := sc(r)
				if s.SequenceId != uint64(i+1) {
					t.Fatalf("record %d has sequence_id %d", i, s.SequenceId)
				}
				if st := record.SARStateFor(i, len(recs)); s.PayloadSarState != st || s.PayloadrecSarState != st {
					t.Fatalf("record %d of %d: SAR %v/%v, want %v", i, len(recs), s.PayloadSarState, s.PayloadrecSarState, st)
				}
				if l := len(s.Payload[0]); l > seg || l == 0 {
					t.Fatalf("record %d carries %d bytes", i, l)
				}
			}
			var got [][]byte
			for i, r := range recs {
				p, _ := recv(t, agent, r)
				if i < len(recs)-1 && len(p) != 0 {
					t.Fatalf("message complete after segment %d of %d", i, len(recs))
				}
				got = append(got, p...)
			}
			if len(got) != 1 || !bytes.Equal(got[0], msg) {
				t.Fatalf("reassembled %d messages, first equal: %v", len(got), len(got) == 1 && bytes.Equal(got[0], msg))
			}
			if agent.Stats().Reassembling != 0 {
				t.Fatal("reassembly buffer not released")
			}
		})
	}
}

func TestLossRecovery(t *testing.T) {
	ctrl, agent := pair(t, 9, nil)
	var recs []*usprecord.Record
	for i := 1; i <= 4; i++ {
		recs = append(recs, wrap(t, ctrl, fmt.Sprintf("m%d", i))...)
	}
	// Record 2 is lost.
	got, out := recv(t, agent, recs[0])
	if !slices.Equal(strs(got), []string{"m1"}) || len(out) != 0 {
		t.Fatalf("after 1: %q, %d out", strs(got), len(out))
	}
	got, out = recv(t, agent, recs[2])
	if len(got) != 0 || len(out) != 1 {
		t.Fatalf("after 3: %q, %d out; want nothing and one request", strs(got), len(out))
	}
	req := sc(out[0])
	if req.RetransmitId != 2 || req.SequenceId != 1 || req.ExpectedId != 2 || !emptyField(req) {
		t.Fatalf("request %v, want retransmit_id 2, sequence_id 1, expected_id 2, one empty payload field", req)
	}
	// Only one request per gap.
	got, out2 := recv(t, agent, recs[3])
	if len(got) != 0 || len(out2) != 0 {
		t.Fatalf("after 4: %q, %d out; want nothing", strs(got), len(out2))
	}
	if n := agent.Stats().OutOfOrder; n != 2 {
		t.Fatalf("agent holds %d records, want 2", n)
	}
	_, resent := recv(t, ctrl, out...)
	if len(resent) != 1 || sc(resent[0]).SequenceId != 2 || resent[0] != recs[1] {
		t.Fatalf("controller resent %v, want record 2 as first sent", resent)
	}
	// The request acknowledged record 1 only.
	if n := ctrl.Stats().Unacknowledged; n != 3 {
		t.Fatalf("controller keeps %d records, want 3", n)
	}
	got, out = recv(t, agent, resent...)
	if !slices.Equal(strs(got), []string{"m2", "m3", "m4"}) || len(out) != 0 {
		t.Fatalf("after the retransmission: %q, %d out", strs(got), len(out))
	}
	if st := agent.Stats(); st.OutOfOrder != 0 || st.Expected != 5 {
		t.Fatalf("agent stats %+v", st)
	}
}

func TestReorder(t *testing.T) {
	for seed := range uint64(20) {
		ctrl, agent := pair(t, 11, func(c *e2e.Config) { c.MaxSegment = 3 })
		var recs []*usprecord.Record
		var want []string
		for i := range 12 {
			m := fmt.Sprintf("message-%d", i) // 4 segments each
			want = append(want, m)
			recs = append(recs, wrap(t, ctrl, m)...)
		}
		r := rand.New(rand.NewPCG(seed, 2))
		r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		got, out := recv(t, agent, recs...)
		if !slices.Equal(strs(got), want) {
			t.Fatalf("seed %d: got %q", seed, strs(got))
		}
		for _, o := range out {
			if sc(o).RetransmitId == 0 {
				t.Fatalf("seed %d: agent sent a record that is not a request: %v", seed, sc(o))
			}
		}
	}
}

func TestDuplicates(t *testing.T) {
	ctrl, agent := pair(t, 13, func(c *e2e.Config) { c.MaxSegment = 4 })
	var recs []*usprecord.Record
	var want []string
	for i := range 5 {
		m := fmt.Sprintf("dup-%d", i)
		want = append(want, m)
		recs = append(recs, wrap(t, ctrl, m)...)
	}
	var feed []*usprecord.Record
	for _, r := range recs {
		feed = append(feed, r, r) // each one twice in a row
	}
	feed = append(feed, recs...) // and all of them again at the end
	got, out := recv(t, agent, feed...)
	if !slices.Equal(strs(got), want) || len(out) != 0 {
		t.Fatalf("got %q and %d records out", strs(got), len(out))
	}
	// Duplicates held early are dropped too.
	ctrl, agent = pair(t, 14, nil)
	r1, r2 := wrap(t, ctrl, "a")[0], wrap(t, ctrl, "b")[0]
	_, out = recv(t, agent, r2, r2, r2)
	if len(out) != 1 || agent.Stats().OutOfOrder != 1 {
		t.Fatalf("early duplicates: %d out, %d held", len(out), agent.Stats().OutOfOrder)
	}
	got, _ = recv(t, agent, r1)
	if !slices.Equal(strs(got), []string{"a", "b"}) {
		t.Fatalf("got %q", strs(got))
	}
}

func TestPeerRestart(t *testing.T) {
	ctrl, agent := pair(t, 100, nil)
	recv(t, agent, wrap(t, ctrl, "one")...)
	recv(t, ctrl, wrap(t, agent, "two")...)
	late := wrap(t, ctrl, "late") // delivered only after the restart
	half := wrap(t, agent, "x")   // the agent will have sent it in the old session

	open, err := agent.Restart(0)
	if err != nil {
		t.Fatal(err)
	}
	newID := agent.ID()
	if newID == 100 || newID <= 1 {
		t.Fatalf("new session id %d", newID)
	}
	if s := sc(open); s.SessionId != newID || s.SequenceId != 1 || s.ExpectedId != 1 || !emptyField(s) {
		t.Fatalf("opening record %v", s)
	}
	recv(t, ctrl, open)
	st := ctrl.Stats()
	if st.SessionID != newID || st.NextSequence != 1 || st.Expected != 2 || st.Unacknowledged != 0 || st.Originated || !st.Confirmed {
		t.Fatalf("controller after the peer restarted: %+v", st)
	}
	req := wrap(t, ctrl, "three")
	if s := sc(req[0]); s.SessionId != newID || s.SequenceId != 1 || s.ExpectedId != 2 {
		t.Fatalf("first record of the new session %v", s)
	}
	got, _ := recv(t, agent, req...)
	if !slices.Equal(strs(got), []string{"three"}) {
		t.Fatalf("agent got %q", strs(got))
	}
	// Late records of the old session change nothing on either side.
	for _, c := range []struct {
		s *e2e.Session
		r []*usprecord.Record
	}{{agent, late}, {ctrl, half}} {
		got, out := recv(t, c.s, c.r...)
		if len(got) != 0 || len(out) != 0 || c.s.ID() != newID {
			t.Fatalf("late record: got %q, %d out, id %d", strs(got), len(out), c.s.ID())
		}
	}
}

func TestPeerRestartDropsPartialState(t *testing.T) {
	ctrl, agent := pair(t, 200, func(c *e2e.Config) { c.MaxSegment = 2 })
	recs := wrap(t, ctrl, "segmented")
	recv(t, agent, recs[0], recs[2]) // 1 assembling, 3 held after a gap
	if st := agent.Stats(); st.Reassembling != 2 || st.OutOfOrder != 1 {
		t.Fatalf("agent before the restart: %+v", st)
	}
	// The controller restarts; its opening record is lost and the second
	// record of the new session arrives first.
	if _, err := ctrl.Restart(300); err != nil {
		t.Fatal(err)
	}
	second := wrap(t, ctrl, "after")
	_, out := recv(t, agent, second...)
	st := agent.Stats()
	if st.SessionID != 300 || st.Reassembling != 0 || st.OutOfOrder != len(second) || st.Expected != 1 {
		t.Fatalf("agent after the restart: %+v", st)
	}
	if len(out) != 1 || sc(out[0]).RetransmitId != 1 || sc(out[0]).SessionId != 300 {
		t.Fatalf("agent should ask for sequence_id 1 of the new session, sends %v", out)
	}
	_, resent := recv(t, ctrl, out...)
	got, _ := recv(t, agent, resent...)
	if !slices.Equal(strs(got), []string{"after"}) {
		t.Fatalf("got %q", strs(got))
	}
}

func TestSimultaneousOpen(t *testing.T) {
	cc, ac := cfgs(nil)
	ctrl, _ := e2e.New(cc, 1000)
	agent, _ := e2e.New(ac, 2000)
	fromCtrl := wrap(t, ctrl, "hello from controller")
	fromAgent := wrap(t, agent, "hello from agent")
	// The agent's id is larger: it ignores the controller's session and
	// answers with its own opening record...
	got, out := recv(t, agent, fromCtrl...)
	if len(got) != 0 || len(out) != 1 || out[0] != fromAgent[0] || agent.ID() != 2000 {
		t.Fatalf("agent: %q, %v out, id %d", strs(got), out, agent.ID())
	}
	// ...and the controller adopts the agent's.
	got, _ = recv(t, ctrl, fromAgent...)
	if !slices.Equal(strs(got), []string{"hello from agent"}) || ctrl.ID() != 2000 {
		t.Fatalf("controller: %q, id %d", strs(got), ctrl.ID())
	}
	got, _ = recv(t, agent, wrap(t, ctrl, "again")...)
	if !slices.Equal(strs(got), []string{"again"}) {
		t.Fatalf("agent got %q", strs(got))
	}
	// A smaller id from a peer is adopted when we have sent nothing yet.
	ctrl, _ = e2e.New(cc, 5000)
	agent, _ = e2e.New(ac, 10)
	got, _ = recv(t, ctrl, wrap(t, agent, "first")...)
	if !slices.Equal(strs(got), []string{"first"}) || ctrl.ID() != 10 {
		t.Fatalf("controller: %q, id %d", strs(got), ctrl.ID())
	}
}

func TestOversizedMessage(t *testing.T) {
	for _, seg := range []int{0, 100} {
		t.Run(fmt.Sprintf("segment=%d", seg), func(t *testing.T) {
			cc, ac := cfgs(nil)
			cc.MaxSegment = seg
			ac.MaxReassembly = 1000
			ctrl, _ := e2e.New(cc, 77)
			agent, _ := e2e.New(ac, 0)
			recs := wrap(t, ctrl, "ok")
			recs = append(recs, wrap(t, ctrl, string(make([]byte, 5000)))...)
			var payloads [][]byte
			var err error
			var out []*usprecord.Record
			for _, r := range recs {
				var p [][]byte
				p, out, err = agent.Receive(wire(t, r))
				payloads = append(payloads, p...)
				if err != nil {
					break
				}
			}
			var pe *e2e.ProtocolError
			if !errors.As(err, &pe) || pe.Code != record.CodeInvalidRecordValue || pe.SessionID != 77 {
				t.Fatalf("err = %v, want a 7104 ProtocolError for session 77", err)
			}
			if !errors.Is(err, record.ErrTooLarge) || !errors.Is(err, record.ErrInvalidRecordValue) {
				t.Fatalf("err = %v does not match ErrTooLarge and ErrInvalidValue", err)
			}
			if !slices.Equal(strs(payloads), []string{"ok"}) {
				t.Fatalf("payloads before the failure: %q", strs(payloads))
			}
			checkRestarted(t, agent, 77, out)
		})
	}
	// Wrap refuses what we would refuse ourselves.
	cc, _ := cfgs(func(c *e2e.Config) { c.MaxReassembly = 10 })
	s, _ := e2e.New(cc, 1)
	if _, err := s.Wrap(make([]byte, 11)); !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("Wrap of 11 bytes with limit 10: %v", err)
	}
	if s.Stats().NextSequence != 1 {
		t.Fatal("a refused Wrap used a sequence_id")
	}
}

// checkRestarted asserts that s left session old for a new session of its
// own, opened by out.
func checkRestarted(t *testing.T, s *e2e.Session, old uint64, out []*usprecord.Record) {
	t.Helper()
	st := s.Stats()
	if st.SessionID == old || st.SessionID <= 1 || !st.Originated || st.NextSequence != 2 || st.Expected != 1 {
		t.Fatalf("after a failure: %+v", st)
	}
	if len(out) != 1 {
		t.Fatalf("after a failure %d records out, want the opening one", len(out))
	}
	if o := sc(out[0]); o.SessionId != st.SessionID || o.SequenceId != 1 || !emptyField(o) {
		t.Fatalf("opening record %v", o)
	}
}

func TestReceiveErrors(t *testing.T) {
	const sid = 500
	tests := []struct {
		name   string
		rec    func() *usprecord.Record
		want   error  // matched with errors.Is
		code   uint32 // 0: the record is ignored without restart
		noWire bool   // the record cannot be encoded
	}{
		{"nil record", func() *usprecord.Record { return nil }, e2e.ErrNotSessionContext, 0, true},
		{"no session context", func() *usprecord.Record {
			return record.NewNoSessionContext("1.3", agentID, ctrlID, []byte("x"))
		}, e2e.ErrNotSessionContext, 0, false},
		{"disconnect", func() *usprecord.Record {
			return record.NewDisconnect("1.3", agentID, ctrlID, "bye", record.CodeSessionContextTerminated)
		}, e2e.ErrNotSessionContext, 0, false},
		{"to someone else", func() *usprecord.Record {
			r := mk(ctrlID, sid, 2, 1, 0, "x")
			r.ToId = "proto::other"
			return r
		}, e2e.ErrNotAddressed, 0, false},
		{"from someone else", func() *usprecord.Record {
			r := mk(ctrlID, sid, 2, 1, 0, "x")
			r.FromId = "proto::other"
			return r
		}, e2e.ErrNotAddressed, 0, false},
		{"sequence_id 0", func() *usprecord.Record { return mk(ctrlID, sid, 0, 1, 0, "x") }, record.ErrInvalidRecordValue, 7104, true},
		{"expected_id 0", func() *usprecord.Record { return mk(ctrlID, sid, 2, 0, 0, "x") }, record.ErrInvalidRecordValue, 7104, true},
		{"no version", func() *usprecord.Record {
			r := mk(ctrlID, sid, 2, 1, 0, "x")
			r.Version = ""
			return r
		}, record.ErrInvalidRecordValue, 7104, true},
		{"TLS12", func() *usprecord.Record {
			r := mk(ctrlID, sid, 2, 1, 0, "x")
			r.PayloadSecurity = usprecord.Record_TLS12
			return r
		}, record.ErrSecureSessionNotSupported, 7102, false},
		{"expected_id beyond what we sent", func() *usprecord.Record { return mk(ctrlID, sid, 2, 3, 0, "") }, record.ErrInvalidRecordValue, 7104, false},
		{"retransmit_id never sent", func() *usprecord.Record { return mk(ctrlID, sid, 2, 1, 2, "") }, record.ErrInvalidRecordValue, 7104, false},
		{"INPROCESS without BEGIN", func() *usprecord.Record {
			r := mk(ctrlID, sid, 2, 1, 0, "x")
			sc(r).PayloadSarState = record.SARInProcess
			sc(r).PayloadrecSarState = record.SARInProcess
			return r
		}, record.ErrSAR, 7104, false},
		{"BEGIN twice", func() *usprecord.Record {
			r := mk(ctrlID, sid, 2, 1, 0, "x")
			sc(r).PayloadSarState = record.SARBegin
			return r
		}, record.ErrSAR, 7104, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ac := cfgs(nil)
			agent, _ := e2e.New(ac, 0)
			// Open the session: sequence_id 1, and for "BEGIN twice" a
			// segmented message already begun.
			first := mk(ctrlID, sid, 1, 1, 0, "")
			if tt.name == "BEGIN twice" {
				first = mk(ctrlID, sid, 1, 1, 0, "y")
				sc(first).PayloadSarState = record.SARBegin
				sc(first).PayloadrecSarState = record.SARBegin
			}
			recv(t, agent, first)
			before := agent.Stats()
			r := tt.rec()
			if !tt.noWire {
				r = wire(t, r)
			}
			payloads, out, err := agent.Receive(r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(payloads) != 0 {
				t.Fatalf("payloads %q", strs(payloads))
			}
			var pe *e2e.ProtocolError
			if tt.code == 0 {
				if errors.As(err, &pe) || len(out) != 0 || agent.Stats() != before {
					t.Fatalf("ignored record changed the session: err %v, %d out, %+v", err, len(out), agent.Stats())
				}
				return
			}
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.SessionID != sid {
				t.Fatalf("err = %#v, want a ProtocolError %d for session %d", err, tt.code, sid)
			}
			checkRestarted(t, agent, sid, out)
			d := agent.Disconnect(err)
			if dc := d.GetDisconnect(); dc.GetReasonCode() != tt.code || dc.GetReason() == "" || d.ToId != ctrlID || d.FromId != agentID {
				t.Fatalf("disconnect %v", d)
			}
		})
	}
}

func TestRetransmitUnavailable(t *testing.T) {
	ctrl, agent := pair(t, 600, func(c *e2e.Config) { c.RetransmitKeep = 2 })
	var recs []*usprecord.Record
	for i := range 5 {
		recs = append(recs, wrap(t, ctrl, fmt.Sprint(i))...)
	}
	if n := ctrl.Stats().Unacknowledged; n != 2 {
		t.Fatalf("controller keeps %d records, want 2", n)
	}
	_, out := recv(t, agent, recs[2]) // 1 and 2 lost
	if len(out) != 1 || sc(out[0]).RetransmitId != 1 {
		t.Fatalf("agent sends %v, want a request for 1", out)
	}
	_, back, err := ctrl.Receive(wire(t, out[0]))
	var pe *e2e.ProtocolError
	if !errors.As(err, &pe) || pe.Code != record.CodeSessionContextTerminated || !errors.Is(err, e2e.ErrRetransmitUnavailable) {
		t.Fatalf("err = %v, want 7105 ErrRetransmitUnavailable", err)
	}
	if !errors.Is(err, record.ErrSessionContextTerminated) {
		t.Fatal("ProtocolError does not match record.ErrSessionContextTerminated")
	}
	checkRestarted(t, ctrl, 600, back)
}

func TestRetransmitLimit(t *testing.T) {
	// As in TP-469 test 3.14: with MaxRetransmitTries 2 the third request
	// for the same record ends the session.
	ctrl, agent := pair(t, 700, func(c *e2e.Config) { c.MaxRetransmitTries = 2 })
	r1 := wrap(t, ctrl, "one")
	r2 := wrap(t, ctrl, "two")
	_, req := recv(t, agent, r2...)
	for try := 1; try <= 3; try++ {
		if len(req) != 1 || sc(req[len(req)-1]).RetransmitId != 1 {
			t.Fatalf("try %d: agent sends %v, want a request for 1", try, req)
		}
		_, back, err := ctrl.Receive(wire(t, req[len(req)-1]))
		if try < 3 {
			if err != nil || len(back) != 1 || back[0] != r1[0] {
				t.Fatalf("try %d: %v, %v", try, back, err)
			}
		} else if !errors.Is(err, e2e.ErrRetransmitLimit) || !errors.Is(err, record.ErrSessionContextTerminated) {
			t.Fatalf("try %d: err = %v, want ErrRetransmitLimit", try, err)
		}
		// The agent's Retry repeats its unacknowledged requests and
		// adds a fresh one, last; deliver only that.
		req = retry(t, agent)
		req = req[len(req)-1:]
	}
}

func TestPayloadSecurityTLS12(t *testing.T) {
	// A TLS12 session stamps its records TLS12 and takes the peer's
	// TLS12 records; a PLAINTEXT record in it fails with 7102 and a new
	// session opens (TP-469 3.13).
	ctrl, agent := pair(t, 950, func(c *e2e.Config) { c.PayloadSecurity = usprecord.Record_TLS12 })
	recs := wrap(t, ctrl, "\x16\x03\x03 a ClientHello")
	if recs[0].GetPayloadSecurity() != usprecord.Record_TLS12 {
		t.Fatalf("payload_security %v", recs[0].GetPayloadSecurity())
	}
	got, _ := recv(t, agent, recs...)
	if len(got) != 1 || string(got[0]) != "\x16\x03\x03 a ClientHello" {
		t.Fatalf("payloads %q", got)
	}
	plain := wrap(t, ctrl, "a Get in clear")[0]
	plain.PayloadSecurity = usprecord.Record_PLAINTEXT
	got, out, err := agent.Receive(wire(t, plain))
	if !errors.Is(err, record.ErrSecureSessionNotSupported) || len(got) != 0 {
		t.Fatalf("PLAINTEXT in a TLS12 session: %q, %v", got, err)
	}
	if len(out) == 0 || sc(out[len(out)-1]).SessionId == 950 || out[len(out)-1].GetPayloadSecurity() != usprecord.Record_TLS12 {
		t.Fatalf("no new TLS12 session opened: %v", out)
	}
}

func TestSetMaxRetransmitTries(t *testing.T) {
	// The limit set while the session runs counts the tries already made:
	// one resend under the default limit, then a limit of 1 refuses the
	// next; a limit of 0 refuses at once; a negative one never refuses.
	for _, tt := range []struct {
		name    string
		before  int // requests served before the change
		limit   int
		refused int // the request (1-based, after the change) refused; 0 none of 4
	}{
		{"lowered below the tries made", 1, 1, 1},
		{"zero", 0, 0, 1},
		{"two", 0, 2, 3},
		{"no limit", 0, -1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctrl, agent := pair(t, 900, nil)
			r1 := wrap(t, ctrl, "one")
			r2 := wrap(t, ctrl, "two")
			_, req := recv(t, agent, r2...)
			ask := func() ([]*usprecord.Record, error) {
				t.Helper()
				if len(req) == 0 || sc(req[len(req)-1]).RetransmitId != 1 {
					t.Fatalf("agent sends %v, want a request for 1", req)
				}
				_, back, err := ctrl.Receive(wire(t, req[len(req)-1]))
				req = retry(t, agent)
				req = req[len(req)-1:]
				return back, err
			}
			for range tt.before {
				if back, err := ask(); err != nil || len(back) != 1 || back[0] != r1[0] {
					t.Fatalf("before the change: %v, %v", back, err)
				}
			}
			ctrl.SetMaxRetransmitTries(tt.limit)
			for n := 1; n <= 4; n++ {
				back, err := ask()
				if n == tt.refused {
					if !errors.Is(err, e2e.ErrRetransmitLimit) {
						t.Fatalf("request %d: err = %v, want ErrRetransmitLimit", n, err)
					}
					return
				}
				if err != nil || len(back) != 1 || back[0] != r1[0] {
					t.Fatalf("request %d: %v, %v", n, back, err)
				}
			}
			if tt.refused != 0 {
				t.Fatalf("request %d was served", tt.refused)
			}
		})
	}
}

func TestRetransmitOfAcknowledgedRecord(t *testing.T) {
	ctrl, agent := pair(t, 800, nil)
	r1 := wrap(t, ctrl, "one")
	recv(t, agent, r1...)
	// A request that also acknowledges the record is still served (as
	// TP-469 test 3.12 expects)...
	_, out := recv(t, ctrl, mk(agentID, 800, 1, 2, 1, ""))
	if len(out) != 1 || out[0] != r1[0] {
		t.Fatalf("out = %v, want record 1 again", out)
	}
	// ...but once released, a stale request is ignored.
	_, out = recv(t, ctrl, mk(agentID, 800, 2, 2, 1, ""))
	if len(out) != 0 || ctrl.ID() != 800 {
		t.Fatalf("stale request: %v, id %d", out, ctrl.ID())
	}
	// The agent still sees the duplicate as such.
	got, out := recv(t, agent, r1...)
	if len(got) != 0 || len(out) != 0 {
		t.Fatalf("duplicate gave %q, %v", strs(got), out)
	}
}

func TestRetry(t *testing.T) {
	ctrl, agent := pair(t, 900, nil)
	if out := retry(t, ctrl); len(out) != 0 {
		t.Fatalf("Retry with nothing sent: %v", out)
	}
	lost := append(wrap(t, ctrl, "a"), wrap(t, ctrl, "b")...)
	again := retry(t, ctrl)
	if len(again) != 2 || again[0] != lost[0] || again[1] != lost[1] {
		t.Fatalf("Retry = %v, want both unacknowledged records", again)
	}
	got, _ := recv(t, agent, again...)
	if !slices.Equal(strs(got), []string{"a", "b"}) {
		t.Fatalf("got %q", strs(got))
	}
	recv(t, ctrl, wrap(t, agent, "ack")...)
	if out := retry(t, ctrl); len(out) != 0 {
		t.Fatalf("Retry after the ack: %v", out)
	}
	// With a gap open, Retry asks again even though it asked already.
	c := wrap(t, ctrl, "c")
	d := wrap(t, ctrl, "d")
	_, out := recv(t, agent, d...)
	if len(out) != 1 {
		t.Fatalf("first request: %v", out)
	}
	retry := retry(t, agent)
	last := sc(retry[len(retry)-1])
	if last.RetransmitId != sc(c[0]).SequenceId || last.SequenceId <= sc(out[0]).SequenceId {
		t.Fatalf("Retry's request %v", last)
	}
}

func TestOutOfOrderWindow(t *testing.T) {
	cc, ac := cfgs(nil)
	ac.MaxOutOfOrder = 4
	ctrl, _ := e2e.New(cc, 1100)
	agent, _ := e2e.New(ac, 0)
	var recs []*usprecord.Record
	for i := range 10 {
		recs = append(recs, wrap(t, ctrl, fmt.Sprint(i))...)
	}
	recv(t, agent, recs[0])
	_, out := recv(t, agent, recs[9]) // sequence 10, 8 ahead of 2
	if n := agent.Stats().OutOfOrder; n != 0 {
		t.Fatalf("held %d records beyond the window", n)
	}
	if len(out) != 1 || sc(out[0]).RetransmitId != 2 {
		t.Fatalf("out = %v, want a request for 2", out)
	}
	recv(t, agent, recs[5]) // sequence 6, 4 ahead
	if n := agent.Stats().OutOfOrder; n != 1 {
		t.Fatalf("held %d records, want 1", n)
	}
	got, _ := recv(t, agent, recs[1:9]...)
	if len(got) != 8 {
		t.Fatalf("got %q", strs(got))
	}
	got, _ = recv(t, agent, retry(t, ctrl)...)
	if !slices.Equal(strs(got), []string{"9"}) {
		t.Fatalf("after Retry got %q", strs(got))
	}
}

func TestSequenceExhaustionOnReceive(t *testing.T) {
	_, ac := cfgs(nil)
	agent, _ := e2e.New(ac, 0)
	recv(t, agent, mk(ctrlID, 1200, 1, 1, 0, "x"))
	_, out := recv(t, agent, mk(ctrlID, 1200, math.MaxUint64-5, 1, 0, "x"))
	checkRestarted(t, agent, 1200, out)
}

func TestRestart(t *testing.T) {
	cc, _ := cfgs(nil)
	s, _ := e2e.New(cc, 0)
	if _, err := s.Restart(5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restart(6); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{5, 6} {
		if _, err := s.Restart(id); !errors.Is(err, e2e.ErrInvalidSessionID) {
			t.Fatalf("Restart(%d) = %v, want ErrInvalidSessionID", id, err)
		}
	}
	if s.ID() != 6 {
		t.Fatalf("ID = %d after refused restarts", s.ID())
	}
}

func TestWrapChoosesID(t *testing.T) {
	cc, _ := cfgs(nil)
	s, _ := e2e.New(cc, 0)
	recs := wrap(t, s, "x")
	if id := s.ID(); id <= 1 || sc(recs[0]).SessionId != id {
		t.Fatalf("session id %d, record's %d", id, sc(recs[0]).SessionId)
	}
	if !s.Stats().Originated {
		t.Fatal("a session opened by Wrap is not ours")
	}
}

func TestNewSessionID(t *testing.T) {
	seen := map[uint64]bool{}
	for range 1000 {
		id := e2e.NewSessionID()
		if id <= 1 || seen[id] {
			t.Fatalf("NewSessionID() = %d (repeat: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  e2e.Config
		ok   bool
	}{
		{"minimal", e2e.Config{LocalID: ctrlID, PeerID: agentID}, true},
		{"no LocalID", e2e.Config{PeerID: agentID}, false},
		{"no PeerID", e2e.Config{LocalID: ctrlID}, false},
		{"bad version", e2e.Config{LocalID: ctrlID, PeerID: agentID, Version: "one"}, false},
		{"negative MaxSegment", e2e.Config{LocalID: ctrlID, PeerID: agentID, MaxSegment: -1}, false},
		{"negative MaxReassembly", e2e.Config{LocalID: ctrlID, PeerID: agentID, MaxReassembly: -1}, false},
		{"negative RetransmitKeep", e2e.Config{LocalID: ctrlID, PeerID: agentID, RetransmitKeep: -1}, false},
		{"negative MaxOutOfOrder", e2e.Config{LocalID: ctrlID, PeerID: agentID, MaxOutOfOrder: -1}, false},
		{"unlimited retransmits", e2e.Config{LocalID: ctrlID, PeerID: agentID, MaxRetransmitTries: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := e2e.New(tt.cfg, 0)
			if tt.ok != (err == nil) {
				t.Fatalf("New: %v", err)
			}
			if err != nil {
				if !errors.Is(err, e2e.ErrInvalidConfig) {
					t.Fatalf("err %v is not ErrInvalidConfig", err)
				}
				return
			}
			c := s.Config()
			if c.Version != record.DefaultVersion || c.MaxReassembly != e2e.DefaultMaxReassembly ||
				c.RetransmitKeep != e2e.DefaultRetransmitKeep || c.MaxOutOfOrder != e2e.DefaultMaxOutOfOrder ||
				c.MaxRetransmitTries == 0 {
				t.Fatalf("defaults not filled: %+v", c)
			}
		})
	}
}

func TestDisconnect(t *testing.T) {
	cc, _ := cfgs(func(c *e2e.Config) { c.Version = "1.4" })
	s, _ := e2e.New(cc, 1)
	tests := []struct {
		err  error
		code uint32
	}{
		{nil, record.CodeSessionContextTerminated},
		{errors.New("shutting down"), record.CodeSessionContextTerminated},
		{&e2e.ProtocolError{Code: record.CodeInvalidRecordValue}, record.CodeInvalidRecordValue},
		{fmt.Errorf("wrapped: %w", &record.Error{Code: record.CodeSessionContextNotAllowed}), record.CodeSessionContextNotAllowed},
	}
	for _, tt := range tests {
		d := s.Disconnect(tt.err)
		dc := d.GetDisconnect()
		if dc == nil || dc.ReasonCode != tt.code || dc.Reason == "" || d.Version != "1.4" || d.ToId != agentID || d.FromId != ctrlID {
			t.Errorf("Disconnect(%v) = %v", tt.err, d)
		}
		if _, err := record.Encode(d); err != nil {
			t.Errorf("Disconnect(%v) does not encode: %v", tt.err, err)
		}
	}
}

func TestProtocolErrorText(t *testing.T) {
	err := &e2e.ProtocolError{Code: 7105, Msg: "sequence_id 3 asked for 6 times", Err: e2e.ErrRetransmitLimit, SessionID: 12}
	want := "e2e: session 12 failed: session context terminated (7105): sequence_id 3 asked for 6 times: record retransmitted too many times"
	if err.Error() != want {
		t.Fatalf("Error() = %q\nwant      %q", err.Error(), want)
	}
	if errors.Is(err, record.ErrInvalidRecordValue) || !errors.Is(err, &e2e.ProtocolError{Code: 7105}) {
		t.Fatal("Is compares codes")
	}
}

// TestConcurrent wraps from several goroutines while another delivers the
// records and feeds the answers back; run with -race.
func TestConcurrent(t *testing.T) {
	ctrl, agent := pair(t, 1300, func(c *e2e.Config) { c.MaxSegment = 5; c.RetransmitKeep = 1 << 12; c.MaxOutOfOrder = 1 << 12 })
	const writers, each = 4, 50
	ch := make(chan *usprecord.Record, 64)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				recs, err := ctrl.Wrap(fmt.Appendf(nil, "w%d-%03d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range recs {
					ch <- r
				}
			}
		})
	}
	go func() { wg.Wait(); close(ch) }()
	var got []string
	for r := range ch {
		p, out, err := agent.Receive(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strs(p)...)
		for _, o := range out {
			if _, _, err := ctrl.Receive(o); err != nil {
				t.Fatal(err)
			}
		}
		_ = ctrl.Stats()
	}
	// Each writer's messages arrive exactly once and in its order.
	if len(got) != writers*each {
		t.Fatalf("got %d messages, want %d", len(got), writers*each)
	}
	last := map[byte]string{}
	for _, m := range got {
		if m <= last[m[1]] {
			t.Fatalf("%q after %q", m, last[m[1]])
		}
		last[m[1]] = m
	}
}

// TestLossInBothDirections loses one record each way at the same time:
// each end's retransmit request then sits behind its own gap at the other
// end, and is served only because requests are honoured on arrival.
func TestLossInBothDirections(t *testing.T) {
	ctrl, agent := pair(t, 1400, nil)
	recv(t, agent, wrap(t, ctrl, "open")...)
	recv(t, ctrl, wrap(t, agent, "hi")...)
	wrap(t, ctrl, "c1") // lost
	c2 := wrap(t, ctrl, "c2")
	wrap(t, agent, "a1") // lost
	a2 := wrap(t, agent, "a2")
	_, reqToCtrl := recv(t, agent, c2...)
	_, reqToAgent := recv(t, ctrl, a2...)
	if len(reqToCtrl) != 1 || len(reqToAgent) != 1 {
		t.Fatalf("requests: %d to the controller, %d to the agent", len(reqToCtrl), len(reqToAgent))
	}
	_, c1 := recv(t, ctrl, reqToCtrl...)
	_, a1 := recv(t, agent, reqToAgent...)
	if len(c1) != 1 || len(a1) != 1 {
		t.Fatalf("resent: %d by the controller, %d by the agent", len(c1), len(a1))
	}
	gotAgent, _ := recv(t, agent, c1...)
	gotCtrl, _ := recv(t, ctrl, a1...)
	if !slices.Equal(strs(gotAgent), []string{"c1", "c2"}) || !slices.Equal(strs(gotCtrl), []string{"a1", "a2"}) {
		t.Fatalf("agent got %q, controller got %q", strs(gotAgent), strs(gotCtrl))
	}
}

func TestFailureBeforeAnySession(t *testing.T) {
	_, ac := cfgs(nil)
	agent, _ := e2e.New(ac, 0)
	_, out, err := agent.Receive(mk(ctrlID, 5, 0, 1, 0, "x"))
	var pe *e2e.ProtocolError
	if !errors.As(err, &pe) || pe.Code != record.CodeInvalidRecordValue || pe.SessionID != 0 {
		t.Fatalf("err = %v, want a 7104 ProtocolError without session", err)
	}
	if agent.ID() != 0 || len(out) != 0 {
		t.Fatalf("a session was opened: id %d, %d out", agent.ID(), len(out))
	}
	got, _ := recv(t, agent, mk(ctrlID, 5, 1, 1, 0, "x"))
	if !slices.Equal(strs(got), []string{"x"}) || agent.ID() != 5 {
		t.Fatalf("the next valid record: %q, id %d", strs(got), agent.ID())
	}
}

// TestOpeningRecordLost: after a failure the agent opened a new session,
// but its opening record was lost and the controller keeps writing in the
// old one. The agent answers with the opening record again, rate-limited.
func TestOpeningRecordLost(t *testing.T) {
	ctrl, agent := pair(t, 1500, nil)
	recv(t, agent, wrap(t, ctrl, "open")...)
	_, lost, err := agent.Receive(wire(t, mk(ctrlID, 1500, 2, 9, 0, ""))) // expected_id 9: invalid
	if err == nil || len(lost) != 1 {
		t.Fatalf("err %v, %d out", err, len(lost))
	}
	newID := agent.ID()
	var nudges []*usprecord.Record
	for i := range 40 {
		_, out := recv(t, agent, wrap(t, ctrl, fmt.Sprint("old session ", i))...)
		nudges = append(nudges, out...)
	}
	if len(nudges) != 3 { // records 1, 17 and 33
		t.Fatalf("%d nudges for 40 records, want 3", len(nudges))
	}
	for _, n := range nudges {
		if n != lost[0] {
			t.Fatalf("nudge %v is not the opening record", sc(n))
		}
	}
	recv(t, ctrl, nudges[0])
	if ctrl.ID() != newID {
		t.Fatalf("controller in session %d, want %d", ctrl.ID(), newID)
	}
	got, out := recv(t, agent, wrap(t, ctrl, "new session")...)
	if !slices.Equal(strs(got), []string{"new session"}) || len(out) != 0 {
		t.Fatalf("agent got %q, %d out", strs(got), len(out))
	}
	// Joined: late records of the old session are ignored quietly now.
	_, out = recv(t, agent, mk(ctrlID, 1500, 50, 1, 0, "late"))
	if len(out) != 0 {
		t.Fatalf("nudge after the peer joined: %v", out)
	}
}

// TestRestartAfterJoin: the controller opened a large session id and has
// not heard from the agent yet when the agent fails and opens a new
// session. The new id is larger, so the controller does not take it for a
// simultaneous opening it wins.
func TestRestartAfterJoin(t *testing.T) {
	const big = 1 << 62
	ctrl, agent := pair(t, big, nil)
	recv(t, agent, wrap(t, ctrl, "open")...)
	_, open, err := agent.Receive(wire(t, mk(ctrlID, big, 2, 9, 0, ""))) // invalid expected_id
	if err == nil || agent.ID() <= big {
		t.Fatalf("err %v, new id %d, want above %d", err, agent.ID(), uint64(big))
	}
	if st := ctrl.Stats(); !st.Originated || st.Confirmed {
		t.Fatalf("controller should be waiting for the agent: %+v", st)
	}
	recv(t, ctrl, open...)
	if ctrl.ID() != agent.ID() {
		t.Fatalf("controller in %d, agent in %d", ctrl.ID(), agent.ID())
	}
	prev := agent.ID()
	for range 5 {
		if _, err := agent.Restart(0); err != nil || agent.ID() <= prev {
			t.Fatalf("Restart(0): %v, id %d after %d", err, agent.ID(), prev)
		}
		prev = agent.ID()
	}
}

// TestOvertakenRestart: the agent restarts twice and the opening record of
// the second new session overtakes the first's. The controller stays in
// the newer session.
func TestOvertakenRestart(t *testing.T) {
	ctrl, agent := pair(t, 1<<50, nil)
	recv(t, agent, wrap(t, ctrl, "open")...)
	first, _ := agent.Restart(0)
	second, _ := agent.Restart(0)
	if sc(second).SessionId <= sc(first).SessionId || sc(first).SessionId <= 1<<50 {
		t.Fatalf("restart ids %d then %d", sc(first).SessionId, sc(second).SessionId)
	}
	_, out := recv(t, ctrl, second, first)
	if ctrl.ID() != agent.ID() || len(out) != 0 {
		t.Fatalf("controller in %d, agent in %d, %d out", ctrl.ID(), agent.ID(), len(out))
	}
	got, _ := recv(t, agent, wrap(t, ctrl, "still here")...)
	if !slices.Equal(strs(got), []string{"still here"}) {
		t.Fatalf("agent got %q", strs(got))
	}
	// The same for an agent meeting the controller for the first time.
	ctrl, agent = pair(t, 1<<50, nil)
	first, _ = ctrl.Restart(0)
	second, _ = ctrl.Restart(0)
	recv(t, agent, second, first)
	if agent.ID() != ctrl.ID() {
		t.Fatalf("agent in %d, controller in %d", agent.ID(), ctrl.ID())
	}
}

// TestPeerRestartWithRandomID: a peer of another make restarts with a
// random id, smaller than ours; R-E2E.6 makes us follow it.
func TestPeerRestartWithRandomID(t *testing.T) {
	ctrl, agent := pair(t, 1<<62, nil)
	recv(t, agent, wrap(t, ctrl, "open")...)
	recv(t, ctrl, wrap(t, agent, "answer")...)
	got, _ := recv(t, ctrl, mk(agentID, 77, 1, 1, 0, "rebooted"))
	if ctrl.ID() != 77 || !slices.Equal(strs(got), []string{"rebooted"}) {
		t.Fatalf("controller in %d, got %q", ctrl.ID(), strs(got))
	}
}
