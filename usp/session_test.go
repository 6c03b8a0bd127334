package usp_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

// sessAgent answers Gets inside a session context, with big values so
// that messages are segmented, and retries on its own timer like the
// controller does.
type sessAgent struct {
	t       *testing.T
	id      string
	ep      *memory.Endpoint
	sess    *e2e.Session
	records atomic.Int64
	done    chan struct{}
}

func newSessAgent(t *testing.T, net *memory.Network, id string, maxSegment int) *sessAgent {
	s, err := e2e.New(e2e.Config{LocalID: id, PeerID: ctrlID, Version: "1.3", MaxSegment: maxSegment}, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := &sessAgent{t: t, id: id, sess: s, done: make(chan struct{})}
	a.ep, err = net.Endpoint(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ep.Start(context.Background(), mtp.HandlerFuncs{Record: a.handle}); err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.done:
				return
			case <-tick.C:
				_, recs, _ := a.sess.Retry()
				a.send(recs)
			}
		}
	}()
	t.Cleanup(func() {
		close(a.done)
		_ = a.ep.Close(context.Background())
	})
	return a
}

func (a *sessAgent) send(recs []*usprecord.Record) {
	for _, r := range recs {
		b, err := record.Encode(r)
		if err != nil {
			a.t.Error(err)
			return
		}
		_ = a.ep.Send(context.Background(), memAddr(ctrlID), b) // losses are the test's doing
	}
}

func (a *sessAgent) handle(in mtp.Inbound) {
	a.records.Add(1)
	rec, err := record.Decode(in.Data)
	if err != nil || rec.GetSessionContext() == nil {
		a.t.Errorf("agent expected session context records, got %v (%v)", rec, err)
		return
	}
	payloads, out, _ := a.sess.Receive(rec)
	a.send(out)
	for _, p := range payloads {
		m, err := msg.Decode(p)
		if err != nil {
			a.t.Error(err)
			continue
		}
		resp := getAnswer(m)
		if g, ok := resp.(*msg.GetResp); ok {
			for i := range g.Results {
				for j := range g.Results[i].Resolved {
					for k := range g.Results[i].Resolved[j].Params {
						g.Results[i].Resolved[j].Params[k] = strings.Repeat("v", 500)
					}
				}
			}
		}
		b, _ := proto.Marshal(resp.Build(m.GetHeader().GetMsgId()))
		recs, err := a.sess.Wrap(b)
		if err != nil {
			a.t.Error(err)
			continue
		}
		a.send(recs)
	}
}

func TestSessionContextSegmentedRoundTrip(t *testing.T) {
	net := memory.NewNetwork()
	agent := newSessAgent(t, net, "proto::sess-agent", 100)
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)),
		usp.WithSessionContext(usp.SessionConfig{MaxSegment: 64, RetryInterval: 50 * time.Millisecond}))
	paths := make([]string, 10)
	for i := range paths {
		paths[i] = fmt.Sprintf("Device.Obj.P%d", i)
	}
	vals, err := c.Agent(agent.id).GetValues(ctxT(t), paths...)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 10 || vals["Device.Obj.P3"] != strings.Repeat("v", 500) {
		t.Fatalf("values = %d entries", len(vals))
	}
	if n := agent.records.Load(); n < 3 {
		t.Fatalf("agent got %d records: the request was not segmented", n)
	}
	if st := agent.sess.Stats(); st.SessionID == 0 || !st.Confirmed {
		t.Fatalf("agent session = %+v", st)
	}
}

func TestSessionContextRecoversFromLoss(t *testing.T) {
	net := memory.NewNetwork()
	agent := newSessAgent(t, net, "proto::sess-agent", 200)
	var dropped atomic.Int32
	// Lose every fifth record in each direction, at most 6 in all.
	var n atomic.Int32
	net.SetDrop(func(from, to string, data []byte) bool {
		if n.Add(1)%5 == 0 && dropped.Load() < 6 {
			dropped.Add(1)
			return true
		}
		return false
	})
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)),
		usp.WithSessionContext(usp.SessionConfig{MaxSegment: 64, RetryInterval: 50 * time.Millisecond}))
	for i := range 5 {
		p := fmt.Sprintf("Device.Obj.P%d", i)
		v, err := c.Agent(agent.id).GetValue(ctxT(t), p)
		if err != nil || v != strings.Repeat("v", 500) {
			t.Fatalf("Get %d: %q, %v", i, v, err)
		}
	}
	if dropped.Load() == 0 {
		t.Fatal("the test dropped nothing")
	}
}

func TestSessionContextOnlyForChosenAgents(t *testing.T) {
	net := memory.NewNetwork()
	plain := newScripted(t, net, "proto::plain", answer(getAnswer))
	c := newController(t, net, usp.WithAgent(plain.id, memAddr(plain.id)),
		usp.WithSessionContext(usp.SessionConfig{Agents: []string{"proto::other"}}))
	if _, err := c.Agent(plain.id).GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	plain.mu.Lock()
	defer plain.mu.Unlock()
	if plain.recs[0].GetNoSessionContext() == nil {
		t.Fatal("an agent without session context got a session record")
	}
}
