package usptest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

const (
	agentID = "proto::usptest-agent"
	ctrlID  = "proto::test-controller"
)

// testController is a minimal controller on a memory network: it sends
// records to the agent and collects every record the agent sends.
type testController struct {
	t       testing.TB
	net     *memory.Network
	ep      *memory.Endpoint
	id      string
	agentID string
	version string

	mu      sync.Mutex
	backlog []*usprecord.Record
	arrived chan struct{}
	raw     [][]byte
}

// newTestAgent starts an agent and a controller on a fresh memory network;
// both are closed when the test ends.
func newTestAgent(t testing.TB, opts ...Option) (*Agent, *testController) {
	t.Helper()
	net := memory.NewNetwork()
	c := &testController{t: t, net: net, id: ctrlID, agentID: agentID, version: "1.3", arrived: make(chan struct{}, 1)}
	var err error
	c.ep, err = net.Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ep.Start(context.Background(), mtp.HandlerFuncs{Record: c.receive}); err != nil {
		t.Fatal(err)
	}
	aep, err := net.Endpoint(agentID)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]Option{
		WithTransport(aep),
		WithController(ctrlID, mtp.Address{MTP: mtp.Memory, To: ctrlID}),
		WithNotifyRetry(20*time.Millisecond, 80*time.Millisecond),
	}, opts...)
	a, err := NewAgent(agentID, all...)
	if err != nil {
		t.Fatal(err)
	}
	cep := c.ep
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("closing agent: %v", err)
		}
		if err := cep.Close(ctx); err != nil {
			t.Errorf("closing controller: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return a, c
}

func (c *testController) receive(in mtp.Inbound) {
	c.mu.Lock()
	c.raw = append(c.raw, in.Data)
	rec, err := record.Decode(in.Data)
	if err == nil {
		c.backlog = append(c.backlog, rec)
	}
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// sendMsg sends a USP message to the agent in a NoSessionContext record.
func (c *testController) sendMsg(m *uspmsg.Msg) {
	c.t.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRecord(record.NewNoSessionContext(c.version, c.agentID, c.id, payload))
}

func (c *testController) sendRecord(r *usprecord.Record) {
	c.t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendBytes(b)
}

func (c *testController) sendBytes(b []byte) {
	c.t.Helper()
	if err := c.ep.Send(context.Background(), mtp.Address{MTP: mtp.Memory, To: c.agentID}, b); err != nil {
		c.t.Fatal(err)
	}
}

// take removes and returns the first received record that match accepts,
// waiting up to d.
func (c *testController) take(d time.Duration, match func(*usprecord.Record) bool) *usprecord.Record {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, r := range c.backlog {
			if match(r) {
				c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
				c.mu.Unlock()
				return r
			}
		}
		c.mu.Unlock()
		select {
		case <-c.arrived:
		case <-deadline.C:
			return nil
		}
	}
}

// payloadMsg decodes the USP message of a NoSessionContext record.
func payloadMsg(r *usprecord.Record) *uspmsg.Msg {
	p := r.GetNoSessionContext().GetPayload()
	if p == nil {
		return nil
	}
	m := &uspmsg.Msg{}
	if proto.Unmarshal(p, m) != nil {
		return nil
	}
	return m
}

// msgWithID matches a NoSessionContext record whose message has msg_id id.
func msgWithID(id string) func(*usprecord.Record) bool {
	return func(r *usprecord.Record) bool {
		m := payloadMsg(r)
		return m != nil && m.GetHeader().GetMsgId() == id
	}
}

// notifyOf matches a Notify whose notification has the given kind.
func notifyOf(kind string) func(*usprecord.Record) bool {
	return func(r *usprecord.Record) bool {
		m := payloadMsg(r)
		n := m.GetBody().GetRequest().GetNotify()
		if n == nil {
			return false
		}
		switch kind {
		case "Event":
			return n.GetEvent() != nil
		case "ValueChange":
			return n.GetValueChange() != nil
		case "ObjectCreation":
			return n.GetObjCreation() != nil
		case "ObjectDeletion":
			return n.GetObjDeletion() != nil
		case "OperationComplete":
			return n.GetOperComplete() != nil
		case "OnBoardRequest":
			return n.GetOnBoardReq() != nil
		}
		return false
	}
}

var seq int

// do sends a request and returns the agent's answer.
func (c *testController) do(req msg.Request) *uspmsg.Msg {
	c.t.Helper()
	seq++
	id := fmt.Sprintf("req-%d", seq)
	return c.doID(id, req.Build(id))
}

func (c *testController) doID(id string, m *uspmsg.Msg) *uspmsg.Msg {
	c.t.Helper()
	c.sendMsg(m)
	r := c.take(5*time.Second, msgWithID(id))
	if r == nil {
		c.t.Fatalf("no answer to %s", id)
	}
	return payloadMsg(r)
}

// quiet asserts that no record matching match arrives within d.
func (c *testController) quiet(d time.Duration, match func(*usprecord.Record) bool) {
	c.t.Helper()
	if r := c.take(d, match); r != nil {
		c.t.Fatalf("unexpected record: %v", r)
	}
}

// ack answers a Notify with its NotifyResp.
func (c *testController) ack(r *usprecord.Record) {
	c.t.Helper()
	m := payloadMsg(r)
	n := m.GetBody().GetRequest().GetNotify()
	c.sendMsg(msg.NotifyResp{SubscriptionID: n.GetSubscriptionId()}.Build(m.GetHeader().GetMsgId()))
}

func anyRecord(*usprecord.Record) bool { return true }

// dummyTransport is a transport that is never started, for tests that call
// the agent's handlers directly.
type dummyTransport struct{}

func (dummyTransport) Kind() mtp.Kind                                  { return mtp.Memory }
func (dummyTransport) Start(context.Context, mtp.Handler) error        { return nil }
func (dummyTransport) Send(context.Context, mtp.Address, []byte) error { return nil }
func (dummyTransport) State() mtp.State                                { return mtp.Connected }
func (dummyTransport) Close(context.Context) error                     { return nil }
