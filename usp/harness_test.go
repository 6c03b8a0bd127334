package usp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const ctrlID = "proto::test-controller"

// scripted is an agent whose answers the test writes: each request it
// receives goes to respond, and whatever respond returns is sent back. It
// also keeps everything it received for assertions.
type scripted struct {
	t       testing.TB
	id      string
	ep      *memory.Endpoint
	respond func(m *uspmsg.Msg) []*uspmsg.Msg

	mu   sync.Mutex
	got  []*uspmsg.Msg
	recs []*usprecord.Record
	wake chan struct{}
}

func newScripted(t testing.TB, net *memory.Network, id string, respond func(m *uspmsg.Msg) []*uspmsg.Msg) *scripted {
	t.Helper()
	ep, err := net.Endpoint(id)
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{t: t, id: id, ep: ep, respond: respond, wake: make(chan struct{}, 1)}
	if err := ep.Start(context.Background(), mtp.HandlerFuncs{Record: s.handle}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close(context.Background()) })
	return s
}

func (s *scripted) handle(in mtp.Inbound) {
	rec, err := record.Decode(in.Data)
	if err != nil {
		s.t.Errorf("agent %s got an undecodable record: %v", s.id, err)
		return
	}
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	s.mu.Unlock()
	payload := rec.GetNoSessionContext().GetPayload()
	if payload == nil {
		s.notify()
		return
	}
	m, err := msg.Decode(payload)
	if err != nil {
		s.t.Errorf("agent %s got an invalid message: %v", s.id, err)
		return
	}
	s.mu.Lock()
	s.got = append(s.got, m)
	s.mu.Unlock()
	s.notify()
	if s.respond == nil {
		return
	}
	for _, out := range s.respond(m) {
		s.sendMsg(out)
	}
}

func (s *scripted) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sendMsg sends a message to the controller in a NoSessionContext record.
func (s *scripted) sendMsg(m *uspmsg.Msg) {
	b, err := proto.Marshal(m)
	if err != nil {
		s.t.Error(err)
		return
	}
	s.sendRecord(record.NewNoSessionContext("1.3", ctrlID, s.id, b))
}

func (s *scripted) sendRecord(r *usprecord.Record) {
	b, err := record.Encode(r)
	if err != nil {
		s.t.Error(err)
		return
	}
	err = s.ep.Send(context.Background(), mtp.Address{MTP: mtp.Memory, To: ctrlID}, b)
	if err != nil && !errors.Is(err, mtp.ErrUnknownPeer) { // the controller may be gone at the end of a test
		s.t.Errorf("agent %s send: %v", s.id, err)
	}
}

// received returns the messages received so far.
func (s *scripted) received() []*uspmsg.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*uspmsg.Msg(nil), s.got...)
}

// waitFor waits until cond holds on the received messages.
func (s *scripted) waitFor(cond func([]*uspmsg.Msg) bool) []*uspmsg.Msg {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if got := s.received(); cond(got) {
			return got
		}
		select {
		case <-s.wake:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("agent %s: condition not met; received %d messages", s.id, len(s.received()))
			return nil
		}
	}
}

// newController starts a controller on the network, knowing the agents by
// their memory names (which are their endpoint IDs).
func newController(t testing.TB, net *memory.Network, opts ...usp.Option) *usp.Controller {
	t.Helper()
	ep, err := net.Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := usp.NewController(ctrlID, append([]usp.Option{usp.WithTransport(ep)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// runAgent starts a usptest agent; it closes when the test ends.
func runAgent(t testing.TB, id string, opts ...usptest.Option) *usptest.Agent {
	t.Helper()
	a, err := usptest.NewAgent(id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a
}

func memAddr(id string) mtp.Address { return mtp.Address{MTP: mtp.Memory, To: id} }

// answer returns a responder that answers every request with the message
// f builds for it.
func answer(f func(req *uspmsg.Msg) msg.Message) func(*uspmsg.Msg) []*uspmsg.Msg {
	return func(m *uspmsg.Msg) []*uspmsg.Msg {
		if !msg.IsRequest(m.GetHeader().GetMsgType()) {
			return nil
		}
		r := f(m)
		if r == nil {
			return nil
		}
		return []*uspmsg.Msg{r.Build(m.GetHeader().GetMsgId())}
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}
