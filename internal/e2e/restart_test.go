package e2e_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// TestEnd: after End the next record of ours opens a new session with
// sequence_id 1 (nothing made by End is left to send), and records of the
// ended session are ignored.
func TestEnd(t *testing.T) {
	ctrl, agent := pair(t, 3000, nil)
	recv(t, agent, wrap(t, ctrl, "one")...)
	late := wrap(t, agent, "late")
	ctrl.End()
	if ctrl.ID() != 0 {
		t.Fatalf("ID after End = %d", ctrl.ID())
	}
	got, out := recv(t, ctrl, late...)
	if len(got) != 0 || len(out) != 0 {
		t.Fatalf("a record of the ended session: got %q, %d out", strs(got), len(out))
	}
	recs := wrap(t, ctrl, "two")
	if s := sc(recs[0]); s.SessionId == 3000 || s.SessionId <= 1 || s.SequenceId != 1 || s.ExpectedId != 1 {
		t.Fatalf("first record after End: %v", s)
	}
	got, _ = recv(t, agent, recs...)
	if !slices.Equal(strs(got), []string{"two"}) {
		t.Fatalf("agent got %q", strs(got))
	}
	// The peer's new session is adopted when it speaks first.
	agent.End()
	got, _ = recv(t, agent, mk(ctrlID, 4000, 1, 1, 0, "three"))
	if agent.ID() != 4000 || !slices.Equal(strs(got), []string{"three"}) {
		t.Fatalf("agent in %d, got %q", agent.ID(), strs(got))
	}
}

// TestPeerReusesSessionID: OB-USP-A counts its session ids from 2 after
// every boot, so after a reboot its new session has the id of the old one
// and starts again at sequence_id 1.
func TestPeerReusesSessionID(t *testing.T) {
	const sid = 2
	boot := func(ctrl *e2e.Session) {
		t.Helper()
		for i := 1; i <= 5; i++ {
			recv(t, ctrl, mk(agentID, sid, uint64(i), 1, 0, fmt.Sprint("first life ", i)))
		}
	}
	t.Run("new content", func(t *testing.T) {
		cc, _ := cfgs(nil)
		ctrl, _ := e2e.New(cc, 0)
		boot(ctrl)
		// A copy of the first record is a duplicate, whatever happened.
		ctrl.ExpectPeerRestart()
		if got, _ := recv(t, ctrl, mk(agentID, sid, 1, 1, 0, "first life 1")); len(got) != 0 {
			t.Fatalf("a duplicate of sequence_id 1 was processed: %q", strs(got))
		}
		// A different record under sequence_id 1 is a new session, told
		// or not.
		cc2, _ := cfgs(nil)
		ctrl2, _ := e2e.New(cc2, 0)
		boot(ctrl2)
		for _, c := range []*e2e.Session{ctrl, ctrl2} {
			got, _ := recv(t, c, mk(agentID, sid, 1, 1, 0, "Boot!"), mk(agentID, sid, 2, 1, 0, "second"))
			if !slices.Equal(strs(got), []string{"Boot!", "second"}) {
				t.Fatalf("after the reboot got %q", strs(got))
			}
			if st := c.Stats(); st.SessionID != sid || st.Expected != 3 || st.NextSequence != 1 {
				t.Fatalf("stats after the reboot %+v", st)
			}
		}
	})
	t.Run("empty opener", func(t *testing.T) {
		cc, _ := cfgs(nil)
		ctrl, _ := e2e.New(cc, 0)
		boot(ctrl)
		// Not told: an empty record 1 is a duplicate.
		recv(t, ctrl, mk(agentID, sid, 1, 1, 0, ""))
		if got, _ := recv(t, ctrl, mk(agentID, sid, 2, 1, 0, "first life 2")); len(got) != 0 {
			t.Fatalf("state reset by an empty duplicate: got %q", strs(got))
		}
		ctrl.ExpectPeerRestart()
		got, _ := recv(t, ctrl, mk(agentID, sid, 1, 1, 0, ""), mk(agentID, sid, 2, 1, 0, "Boot!"))
		if !slices.Equal(strs(got), []string{"Boot!"}) {
			t.Fatalf("after the announced reboot got %q", strs(got))
		}
		// Once: a second empty record 1 is a duplicate again.
		if got, _ := recv(t, ctrl, mk(agentID, sid, 1, 1, 0, ""), mk(agentID, sid, 2, 1, 0, "Boot!")); len(got) != 0 {
			t.Fatalf("a second restart on one announcement: %q", strs(got))
		}
	})
	t.Run("new id uses the announcement", func(t *testing.T) {
		// Seen over a faulty network with the reference agent: after its
		// Disconnect it opened a session with a new id, whose empty
		// opener arrived twice. The copy, handled after we had sent a
		// request in the new session, was taken for yet another restart
		// under the announcement: the request was dropped from the
		// retransmission buffer, its answer ignored, and the call hung.
		cc, _ := cfgs(nil)
		ctrl, _ := e2e.New(cc, 0)
		boot(ctrl)
		ctrl.End()
		ctrl.ExpectPeerRestart()
		const next = sid + 1
		recv(t, ctrl, mk(agentID, next, 1, 1, 0, ""))
		req := wrap(t, ctrl, "Get")
		if got, _ := recv(t, ctrl, mk(agentID, next, 1, 1, 0, "")); len(got) != 0 {
			t.Fatalf("the copy of the opener delivered %q", strs(got))
		}
		if st := ctrl.Stats(); st.SessionID != next || st.Expected != 2 || st.NextSequence != 2 || st.Unacknowledged != 1 {
			t.Fatalf("the copy of the new session's opener restarted it: %+v", st)
		}
		if out := retry(t, ctrl); len(out) != 1 || sc(out[0]).GetSequenceId() != sc(req[0]).GetSequenceId() {
			t.Fatalf("the request is not resent: %d records", len(out))
		}
		if got, _ := recv(t, ctrl, mk(agentID, next, 2, 2, 0, "GetResp")); !slices.Equal(strs(got), []string{"GetResp"}) {
			t.Fatalf("the answer in the new session: %q", strs(got))
		}
	})
	t.Run("carried on", func(t *testing.T) {
		cc, _ := cfgs(nil)
		ctrl, _ := e2e.New(cc, 0)
		boot(ctrl)
		// The agent announced itself again but kept its session: its
		// next record disarms the announcement.
		ctrl.ExpectPeerRestart()
		recv(t, ctrl, mk(agentID, sid, 6, 1, 0, "same life"))
		recv(t, ctrl, mk(agentID, sid, 1, 1, 0, ""))
		if st := ctrl.Stats(); st.Expected != 7 {
			t.Fatalf("an empty record 1 restarted a session the peer kept: %+v", st)
		}
	})
	t.Run("after End", func(t *testing.T) {
		cc, _ := cfgs(nil)
		ctrl, _ := e2e.New(cc, 0)
		boot(ctrl)
		// The agent sent a Disconnect: we end the session. Its id is
		// given up; records of it are late ones, unless the agent told
		// us it restarts.
		ctrl.End()
		if got, _ := recv(t, ctrl, mk(agentID, sid, 1, 1, 0, "Boot!")); len(got) != 0 || ctrl.ID() != 0 {
			t.Fatalf("a given-up id came back unannounced: %q, id %d", strs(got), ctrl.ID())
		}
		ctrl.ExpectPeerRestart()
		if got, _ := recv(t, ctrl, mk(agentID, sid, 1, 1, 0, "first life 1")); len(got) != 0 {
			t.Fatalf("a duplicate of the ended session's first record: %q", strs(got))
		}
		got, _ := recv(t, ctrl, mk(agentID, sid, 1, 1, 0, "Boot!"))
		if ctrl.ID() != sid || !slices.Equal(strs(got), []string{"Boot!"}) {
			t.Fatalf("id %d, got %q", ctrl.ID(), strs(got))
		}
	})
}

// TestRetryBounded: Retry stops after MaxRetries rounds without progress;
// an idle session stays quiet.
func TestRetryBounded(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		ctrl, agent := pair(t, 3100, func(c *e2e.Config) { c.MaxRetries = 2 })
		recv(t, agent, wrap(t, ctrl, "x")...)
		recv(t, ctrl, wrap(t, agent, "y")...)
		for range 10 {
			if out := retry(t, ctrl); len(out) != 0 {
				t.Fatalf("idle controller resends %v", out)
			}
		}
		// The agent's answer is unacknowledged (the controller sends no
		// acknowledgement-only record): bounded resends, then silence.
		var n int
		var err error
		for range 10 {
			var out []*usprecord.Record
			_, out, err = agent.Retry()
			n += len(out)
		}
		if n != 2 || !errors.Is(err, e2e.ErrNoProgress) {
			t.Fatalf("%d resends, last error %v; want 2 and ErrNoProgress", n, err)
		}
		if st := agent.Stats(); st.SessionID != 3100 {
			t.Fatalf("giving up on acknowledgements changed the session: %+v", st)
		}
		// Progress starts the count again.
		recv(t, agent, wrap(t, ctrl, "ack")...)
		recv(t, ctrl, wrap(t, agent, "z")...)
		if _, out, err := agent.Retry(); len(out) != 1 || err != nil {
			t.Fatalf("after progress: %d records, %v", len(out), err)
		}
	})
	t.Run("gap", func(t *testing.T) {
		ctrl, agent := pair(t, 3200, func(c *e2e.Config) { c.MaxRetries = 3 })
		wrap(t, ctrl, "lost")
		recv(t, agent, wrap(t, ctrl, "held")...)
		for i := range 3 {
			out := retry(t, agent)
			if len(out) != 1 || sc(out[0]).RetransmitId != 1 || !emptyField(sc(out[0])) {
				t.Fatalf("round %d: %v, want one request for 1", i, out)
			}
		}
		_, out, err := agent.Retry()
		var pe *e2e.ProtocolError
		if !errors.As(err, &pe) || !errors.Is(err, e2e.ErrNoProgress) || pe.Code != record.CodeSessionContextTerminated {
			t.Fatalf("err = %v, want a 7105 ProtocolError for ErrNoProgress", err)
		}
		checkRestarted(t, agent, 3200, out)
		// The opener is sent again while the peer has not joined, within
		// the limit; nothing after it.
		n := 0
		for range 10 {
			_, o, _ := agent.Retry()
			for _, r := range o {
				if r != out[0] {
					t.Fatalf("resent %v, want the opener", sc(r))
				}
			}
			n += len(o)
		}
		if n != 3 {
			t.Fatalf("opener resent %d times, want 3", n)
		}
	})
	t.Run("no acknowledgement-only resends", func(t *testing.T) {
		ctrl, agent := pair(t, 3300, nil)
		recv(t, agent, wrap(t, ctrl, "x")...)
		a := wrap(t, agent, "a")
		b := wrap(t, agent, "b")
		_, req := recv(t, ctrl, b...) // asks for a
		if len(req) != 1 {
			t.Fatalf("no request: %v", req)
		}
		recv(t, ctrl, a...)
		out := retry(t, ctrl)
		for _, r := range out {
			if len(r.GetSessionContext().GetPayload()[0]) == 0 {
				t.Fatalf("Retry resends a record without a message: %v", sc(r))
			}
		}
	})
}

// TestPropertyRebootingPeer: a peer that reboots now and then and counts
// its session ids from 2 again (as OB-USP-A does), over a network that
// duplicates and delays records, with the controller told of each reboot
// (the peer's connect record) at random moments. No message is processed
// twice, even as the peer sends each life's records again, and the
// messages sent after the last reboot all arrive.
func TestPropertyRebootingPeer(t *testing.T) {
	seeds := 60
	if testing.Short() || raceEnabled {
		seeds = 15
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x2eb007))
		cc, ac := cfgs(func(c *e2e.Config) { c.MaxRetries = -1 })
		ctrl, _ := e2e.New(cc, 0)
		net := &lossyNet{rng: rng, dup: rng.Float64() * 0.3, reorder: rng.IntN(4)}
		seen := map[string]bool{}
		var sentLast []string
		lives := 1 + rng.IntN(5)
		for life := range lives {
			peer, err := e2e.New(ac, 2)
			if err != nil {
				t.Fatal(err)
			}
			if life > 0 && rng.IntN(2) == 0 {
				ctrl.ExpectPeerRestart() // the connect record came first
			}
			sentLast = nil
			for i := range 1 + rng.IntN(8) {
				m := fmt.Sprintf("life %d msg %02d", life, i)
				sentLast = append(sentLast, m)
				recs, err := peer.Wrap([]byte(m))
				if err != nil {
					t.Fatal(err)
				}
				net.send(recs...)
				if i == 0 && life > 0 && rng.IntN(2) == 0 {
					ctrl.ExpectPeerRestart() // the connect record came late
				}
				for len(net.q) > 0 && rng.IntN(3) > 0 {
					deliverTo(t, ctrl, net, seen)
				}
			}
			for len(net.q) > 0 {
				deliverTo(t, ctrl, net, seen)
			}
			// A record that overtook the new life's first one was taken
			// for an old one; the peer's timer sends it again, with
			// everything else unacknowledged (duplicates to ignore).
			net.send(retry(t, peer)...)
			for len(net.q) > 0 {
				deliverTo(t, ctrl, net, seen)
			}
		}
		for _, m := range sentLast {
			if !seen[m] {
				t.Fatalf("seed %d: %q of the last life never arrived (%d lives)", seed, m, lives)
			}
		}
	}
}

func deliverTo(t *testing.T, s *e2e.Session, n *lossyNet, seen map[string]bool) {
	t.Helper()
	got, _, err := s.Receive(wire(t, n.next()))
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	for _, p := range got {
		if seen[string(p)] {
			t.Fatalf("%q processed twice", p)
		}
		seen[string(p)] = true
	}
}
