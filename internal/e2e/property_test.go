package e2e_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
)

// lossyNet carries records one way, losing, duplicating and reordering them.
type lossyNet struct {
	rng       *rand.Rand
	loss, dup float64
	reorder   int // a record may overtake up to this many queued before it
	q         []*usprecord.Record
	sent      int
}

func (n *lossyNet) send(recs ...*usprecord.Record) {
	for _, r := range recs {
		n.sent++
		if n.rng.Float64() < n.loss {
			continue
		}
		n.q = append(n.q, r)
		if n.rng.Float64() < n.dup {
			n.q = append(n.q, r)
		}
	}
}

func (n *lossyNet) next() *usprecord.Record {
	i := n.rng.IntN(min(len(n.q), n.reorder+1))
	r := n.q[i]
	n.q = append(n.q[:i], n.q[i+1:]...)
	return r
}

// endpoint is one side of the simulation: its session, the messages it
// still has to send, what it sent and what it received.
type endpoint struct {
	name     string
	s        *e2e.Session
	toSend   [][]byte
	sent     [][]byte
	received [][]byte
	out      *lossyNet // towards the other endpoint
}

func (e *endpoint) wrapNext(t *testing.T) {
	m := e.toSend[0]
	e.toSend = e.toSend[1:]
	recs, err := e.s.Wrap(m)
	if err != nil {
		t.Fatalf("%s: Wrap: %v", e.name, err)
	}
	e.sent = append(e.sent, m)
	e.out.send(recs...)
}

func (e *endpoint) deliver(t *testing.T, r *usprecord.Record) {
	p, out, err := e.s.Receive(wire(t, r))
	if err != nil {
		t.Fatalf("%s: Receive: %v", e.name, err)
	}
	e.received = append(e.received, p...)
	e.out.send(out...)
}

// TestPropertyUnreliableNetwork runs many seeded exchanges over networks
// that lose, duplicate and reorder records, and checks that every message
// arrives exactly once, in order, byte for byte. When both directions fall
// silent before everything arrived, both ends call Retry, as a caller's
// timer would.
func TestPropertyUnreliableNetwork(t *testing.T) {
	seeds := 150
	if testing.Short() || raceEnabled {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x5e55107))
		tweak := func(c *e2e.Config) {
			c.MaxSegment = 4 + rng.IntN(60)
			c.MaxOutOfOrder = 2 + rng.IntN(40)
			// Enough to keep every record, so that no loss is fatal.
			c.RetransmitKeep = 1 << 16
			c.MaxRetransmitTries = -1
			c.MaxRetries = -1
		}
		cc, ac := cfgs(nil)
		tweak(&cc)
		tweak(&ac)
		loss, dup, reorder := rng.Float64()*0.3, rng.Float64()*0.2, rng.IntN(20)
		params := fmt.Sprintf("seed %d: loss %.2f dup %.2f reorder %d, segments %d/%d, window %d/%d",
			seed, loss, dup, reorder, cc.MaxSegment, ac.MaxSegment, cc.MaxOutOfOrder, ac.MaxOutOfOrder)
		ctrlSess, err := e2e.New(cc, e2e.NewSessionID())
		if err != nil {
			t.Fatal(err)
		}
		agentSess, err := e2e.New(ac, 0)
		if err != nil {
			t.Fatal(err)
		}
		toAgent := &lossyNet{rng: rng, loss: loss, dup: dup, reorder: reorder}
		toCtrl := &lossyNet{rng: rng, loss: loss, dup: dup, reorder: reorder}
		ctrl := &endpoint{name: "controller", s: ctrlSess, out: toAgent, toSend: messages(rng, 'c', 1+rng.IntN(25))}
		agent := &endpoint{name: "agent", s: agentSess, out: toCtrl, toSend: messages(rng, 'a', rng.IntN(25))}
		// The controller speaks first so that the agent adopts its
		// session; afterwards both sides talk at random.
		ctrl.wrapNext(t)

		retries := 0
		for {
			var actions []func()
			if len(ctrl.toSend) > 0 {
				actions = append(actions, func() { ctrl.wrapNext(t) })
			}
			if len(agent.toSend) > 0 && agentSess.ID() != 0 {
				actions = append(actions, func() { agent.wrapNext(t) })
			}
			if len(toAgent.q) > 0 {
				actions = append(actions, func() { agent.deliver(t, toAgent.next()) })
			}
			if len(toCtrl.q) > 0 {
				actions = append(actions, func() { ctrl.deliver(t, toCtrl.next()) })
			}
			if len(actions) > 0 {
				actions[rng.IntN(len(actions))]()
				continue
			}
			// Silence.
			if len(agent.received) == len(ctrl.sent) && len(ctrl.received) == len(agent.sent) && len(agent.toSend) == 0 {
				break
			}
			if retries++; retries > 10000 {
				t.Fatalf("%s: no progress after %d retries: agent has %d/%d, controller %d/%d\nctrl %+v\nagent %+v",
					params, retries, len(agent.received), len(ctrl.sent), len(ctrl.received), len(agent.sent), ctrlSess.Stats(), agentSess.Stats())
			}
			toAgent.send(retry(t, ctrlSess)...)
			toCtrl.send(retry(t, agentSess)...)
		}
		same(t, params+": controller to agent", ctrl.sent, agent.received)
		same(t, params+": agent to controller", agent.sent, ctrl.received)
		if ctrlSess.ID() != agentSess.ID() {
			t.Fatalf("%s: session ids differ: %d, %d", params, ctrlSess.ID(), agentSess.ID())
		}
		if testing.Verbose() && seed%25 == 0 {
			t.Logf("%s: %d+%d records sent, %d retry rounds", params, toAgent.sent, toCtrl.sent, retries)
		}
	}
}

// messages returns n distinct messages of 1 to 300 bytes, tagged with who
// sends them and their index.
func messages(rng *rand.Rand, tag byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		m := fmt.Appendf(nil, "%c%04d:", tag, i)
		for range rng.IntN(295) {
			m = append(m, byte(rng.Uint32()))
		}
		out[i] = m
	}
	return out
}

func same(t *testing.T, what string, sent, got [][]byte) {
	t.Helper()
	if len(sent) != len(got) {
		t.Fatalf("%s: %d messages sent, %d received", what, len(sent), len(got))
	}
	for i := range sent {
		if !bytes.Equal(sent[i], got[i]) {
			t.Fatalf("%s: message %d differs: sent %q..., received %q...", what, i, sent[i][:6], got[i][:min(6, len(got[i]))])
		}
	}
}

// TestPropertyRestarts adds restarts on both sides, at random, to an
// unreliable network. While they happen, messages may be lost with the
// session they were sent in, but none arrives twice or out of order. Once
// they stop, the two ends must settle on one session (helped by Retry
// only) and then deliver every new message exactly once, in order.
func TestPropertyRestarts(t *testing.T) {
	seeds := 80
	if testing.Short() || raceEnabled {
		seeds = 15
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x7e57a27))
		cc, ac := cfgs(func(c *e2e.Config) {
			c.MaxSegment = 16
			c.RetransmitKeep = 1 << 16
			c.MaxRetransmitTries = -1
			c.MaxRetries = -1
		})
		loss, dup, reorder := rng.Float64()*0.2, rng.Float64()*0.1, rng.IntN(10)
		params := fmt.Sprintf("seed %d: loss %.2f dup %.2f reorder %d", seed, loss, dup, reorder)
		ctrlSess, _ := e2e.New(cc, e2e.NewSessionID())
		agentSess, _ := e2e.New(ac, 0)
		toAgent := &lossyNet{rng: rng, loss: loss, dup: dup, reorder: reorder}
		toCtrl := &lossyNet{rng: rng, loss: loss, dup: dup, reorder: reorder}
		ctrl := &endpoint{name: "controller", s: ctrlSess, out: toAgent, toSend: messages(rng, 'c', 60)}
		agent := &endpoint{name: "agent", s: agentSess, out: toCtrl, toSend: messages(rng, 'a', 60)}
		ctrl.wrapNext(t)
		restarts := 0

		// run drives the exchange until nothing moves; with restart it
		// also restarts either end now and then.
		run := func(restart bool) {
			for {
				var actions []func()
				if len(ctrl.toSend) > 0 {
					actions = append(actions, func() { ctrl.wrapNext(t) })
				}
				if len(agent.toSend) > 0 && agentSess.ID() != 0 {
					actions = append(actions, func() { agent.wrapNext(t) })
				}
				if len(toAgent.q) > 0 {
					actions = append(actions, func() { agent.deliver(t, toAgent.next()) })
				}
				if len(toCtrl.q) > 0 {
					actions = append(actions, func() { ctrl.deliver(t, toCtrl.next()) })
				}
				if len(actions) == 0 {
					return
				}
				if restart && rng.IntN(100) == 0 {
					e := ctrl
					if rng.IntN(2) == 0 && agentSess.ID() != 0 {
						e = agent
					}
					open, err := e.s.Restart(0)
					if err != nil {
						t.Fatalf("%s: %v", params, err)
					}
					restarts++
					e.out.send(open)
					continue
				}
				actions[rng.IntN(len(actions))]()
			}
		}
		run(true)
		inOrder(t, params+": during restarts, controller to agent", agent.received)
		inOrder(t, params+": during restarts, agent to controller", ctrl.received)

		for retries := 0; ctrlSess.ID() != agentSess.ID(); retries++ {
			if retries > 1000 {
				t.Fatalf("%s: sessions never settle:\ncontroller %+v\nagent      %+v", params, ctrlSess.Stats(), agentSess.Stats())
			}
			toAgent.send(retry(t, ctrlSess)...)
			toCtrl.send(retry(t, agentSess)...)
			run(false)
		}

		// Settled: new messages all arrive.
		ctrl.sent, ctrl.received, agent.sent, agent.received = nil, nil, nil, nil
		ctrl.toSend, agent.toSend = messages(rng, 'C', 20), messages(rng, 'A', 20)
		for retries := 0; len(agent.received) < 20 || len(ctrl.received) < 20; retries++ {
			if retries > 10000 {
				t.Fatalf("%s: after settling, %d and %d of 20 messages arrived", params, len(agent.received), len(ctrl.received))
			}
			run(false)
			toAgent.send(retry(t, ctrlSess)...)
			toCtrl.send(retry(t, agentSess)...)
		}
		run(false)
		same(t, params+": after settling, controller to agent", ctrl.sent, agent.received)
		same(t, params+": after settling, agent to controller", agent.sent, ctrl.received)
		if testing.Verbose() && seed%20 == 0 {
			t.Logf("%s: %d restarts", params, restarts)
		}
	}
}

// inOrder checks that messages tagged by messages() have strictly
// increasing indexes: none twice, none overtaking another.
func inOrder(t *testing.T, what string, got [][]byte) {
	t.Helper()
	last := ""
	for _, m := range got {
		if tag := string(m[:5]); tag <= last {
			t.Fatalf("%s: %q after %q", what, tag, last)
		} else {
			last = tag
		}
	}
}
