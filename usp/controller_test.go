package usp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

// getAnswer answers every Get with one parameter per requested path whose
// value is the path itself, and 7026 for paths containing "NoSuch".
func getAnswer(req *uspmsg.Msg) msg.Message {
	v, err := msg.Parse(req)
	if err != nil {
		return nil
	}
	g, ok := v.(*msg.Get)
	if !ok {
		return &msg.Error{Code: msg.CodeNotSupported, Message: "only Get"}
	}
	var r msg.GetResp
	for _, p := range g.Paths {
		if strings.Contains(p, "NoSuch") {
			r.Results = append(r.Results, msg.GetResult{Requested: p, Err: &msg.Error{Code: msg.CodeInvalidPath, Message: "no such path"}})
			continue
		}
		obj, name := p[:strings.LastIndex(p, ".")+1], p[strings.LastIndex(p, ".")+1:]
		r.Results = append(r.Results, msg.GetResult{Requested: p, Resolved: []msg.Resolved{{Path: obj, Params: map[string]string{name: p}}}})
	}
	return &r
}

func TestGetValues(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(getAnswer))
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))

	vals, err := c.Agent(agent.id).GetValues(ctxT(t), "Device.DeviceInfo.Manufacturer", "Device.DeviceInfo.NoSuchParam")
	if !errors.Is(err, msg.ErrInvalidPath) {
		t.Fatalf("err = %v, want a 7026 for the bad path", err)
	}
	if got := vals["Device.DeviceInfo.Manufacturer"]; got != "Device.DeviceInfo.Manufacturer" {
		t.Fatalf("values = %v", vals)
	}
	if len(vals) != 1 {
		t.Fatalf("values = %v, want only the good path", vals)
	}

	// The request went out as the spec wants: Record version 1.3, right
	// IDs, a Get with the paths in order.
	got := agent.received()
	if len(got) != 1 || got[0].GetHeader().GetMsgType() != uspmsg.Header_GET {
		t.Fatalf("agent received %v", got)
	}
	paths := got[0].GetBody().GetRequest().GetGet().GetParamPaths()
	if len(paths) != 2 || paths[1] != "Device.DeviceInfo.NoSuchParam" {
		t.Fatalf("paths = %v", paths)
	}
	agent.mu.Lock()
	rec := agent.recs[0]
	agent.mu.Unlock()
	if rec.GetVersion() != "1.3" || rec.GetFromId() != ctrlID || rec.GetToId() != agent.id {
		t.Fatalf("record header = %q %q %q", rec.GetVersion(), rec.GetFromId(), rec.GetToId())
	}
}

func TestAgentErrorIsTyped(t *testing.T) {
	p := usptest.NewPair(t)
	p.Fake.Intercept(uspmsg.Header_SET).Answer(&msg.Error{Code: msg.CodeInvalidArguments, Message: "read-only", ParamErrs: []msg.ParamError{
		{Path: "Device.DeviceInfo.SerialNumber", Code: msg.CodeParamReadOnly, Message: "read-only"}}})
	_, err := p.Agent.SetValues(ctxT(t), "Device.DeviceInfo.", map[string]string{"SerialNumber": "x"})
	var e *msg.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, msg.CodeInvalidArguments, e.Code)
	assert.ErrorIs(t, err, msg.ErrInvalidArguments, "errors.Is must match by code")
	assert.NotErrorIs(t, err, msg.ErrInvalidPath, "errors.Is must match by code")
	assert.Equal(t, []msg.ParamError{{Path: "Device.DeviceInfo.SerialNumber", Code: msg.CodeParamReadOnly, Message: "read-only"}}, e.ParamErrs)
}

func TestTimeoutCleansPending(t *testing.T) {
	p := usptest.NewPair(t)
	lost := p.Fake.Intercept(uspmsg.Header_GET).Drop().Times(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Agent.GetValues(ctx, "Device.DeviceInfo.")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// A late answer matches nothing and is dropped; the next call works.
	first := lost.Requests()[0].Msg
	require.NoError(t, p.Fake.Send(ctxT(t), usptest.PairControllerID, getAnswer(first).Build(first.GetHeader().GetMsgId())))
	v, err := p.Agent.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer")
	require.NoError(t, err, "after a timeout")
	assert.Equal(t, "gousp", v)
}

func TestUnknownAgent(t *testing.T) {
	net := memory.NewNetwork()
	c := newController(t, net)
	_, err := c.Agent("proto::nobody").GetValues(ctxT(t), "Device.")
	if !errors.Is(err, usp.ErrUnknownAgent) {
		t.Fatalf("err = %v", err)
	}
}

func TestResponseOfWrongTypeOrAgent(t *testing.T) {
	net := memory.NewNetwork()
	var other *scripted
	// The agent answers a Get with a SetResp: a broken agent.
	bad := newScripted(t, net, "proto::bad", answer(func(*uspmsg.Msg) msg.Message { return &msg.SetResp{} }))
	// This one first lets another agent answer with its msg_id (which must
	// be ignored), then answers itself.
	good := newScripted(t, net, "proto::good", func(m *uspmsg.Msg) []*uspmsg.Msg {
		forged := getAnswer(m).Build(m.GetHeader().GetMsgId())
		forged.GetBody().GetResponse().GetGetResp().GetReqPathResults()[0].ResolvedPathResults[0].ResultParams = map[string]string{"X": "forged"}
		other.sendMsg(forged)
		time.Sleep(20 * time.Millisecond)
		return []*uspmsg.Msg{getAnswer(m).Build(m.GetHeader().GetMsgId())}
	})
	other = newScripted(t, net, "proto::other", nil)
	c := newController(t, net, usp.WithAgent(bad.id, memAddr(bad.id)), usp.WithAgent(good.id, memAddr(good.id)))

	_, err := c.Agent(bad.id).GetValues(ctxT(t), "Device.A.B")
	if !errors.Is(err, usp.ErrUnexpectedResponse) {
		t.Fatalf("err = %v, want ErrUnexpectedResponse", err)
	}
	v, err := c.Agent(good.id).GetValue(ctxT(t), "Device.A.B")
	if err != nil || v != "Device.A.B" {
		t.Fatalf("got %q, %v: the forged answer from another agent must be ignored", v, err)
	}
}

func TestConcurrentCallsManyAgents(t *testing.T) {
	net := memory.NewNetwork()
	const agents, calls = 10, 30
	var opts []usp.Option
	for i := range agents {
		a := newScripted(t, net, fmt.Sprintf("proto::agent-%d", i), answer(getAnswer))
		opts = append(opts, usp.WithAgent(a.id, memAddr(a.id)))
	}
	c := newController(t, net, opts...)
	var wg sync.WaitGroup
	errs := make(chan error, agents*calls)
	for i := range agents {
		for j := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := fmt.Sprintf("Device.Obj%d.P%d", i, j)
				v, err := c.Agent(fmt.Sprintf("proto::agent-%d", i)).GetValue(ctxT(t), p)
				if err == nil && v != p {
					err = fmt.Errorf("%s = %q: responses crossed", p, v)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseFailsPending(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::silent", nil)
	ep, _ := net.Endpoint(ctrlID)
	c, err := usp.NewController(ctrlID, usp.WithTransport(ep), usp.WithAgent(agent.id, memAddr(agent.id)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := c.Agent(agent.id).GetValues(context.Background(), "Device.")
		done <- err
	}()
	agent.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 1 })
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, usp.ErrClosed) {
		t.Fatalf("pending call ended with %v, want ErrClosed", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Agent(agent.id).GetValues(context.Background(), "Device."); !errors.Is(err, usp.ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestTransportLossFailsPending(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::silent", nil)
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
	done := make(chan error)
	go func() {
		_, err := c.Agent(agent.id).GetValues(context.Background(), "Device.")
		done <- err
	}()
	agent.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 1 })
	if err := net.Disconnect(ctrlID, errors.New("cable cut")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, usp.ErrTransportLost) {
			t.Fatalf("err = %v, want ErrTransportLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not failed after transport loss")
	}
	_, err := c.Agent(agent.id).GetValues(ctxT(t), "Device.")
	if !errors.Is(err, mtp.ErrNotConnected) {
		t.Fatalf("send while down: %v, want mtp.ErrNotConnected", err)
	}
	if err := net.Reconnect(ctrlID); err != nil {
		t.Fatal(err)
	}
}

func TestPresenceFromConnectAndDisconnectRecords(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-ws", answer(getAnswer))
	events := make(chan usp.AgentEvent, 10)
	c := newController(t, net, usp.WithAgentHandler(func(ev usp.AgentEvent) { events <- ev }))

	agent.sendRecord(record.NewWebSocketConnect("1.3", ctrlID, agent.id))
	ev := <-events
	if ev.Kind != usp.AgentConnected || ev.Agent.EndpointID != agent.id || ev.Agent.Address != memAddr(agent.id) {
		t.Fatalf("event = %+v", ev)
	}
	if got := c.Agents(); len(got) != 1 || !got[0].Connected {
		t.Fatalf("agents = %+v", got)
	}
	// The learned address works for requests.
	if _, err := c.Agent(agent.id).GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	// A pending call fails when the agent says goodbye.
	agent.respond = nil
	done := make(chan error)
	go func() {
		_, err := c.Agent(agent.id).GetValues(context.Background(), "Device.")
		done <- err
	}()
	agent.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 2 })
	agent.sendRecord(record.NewDisconnect("1.3", ctrlID, agent.id, "bye", record.CodeSessionContextTerminated))
	if err := <-done; !errors.Is(err, usp.ErrAgentGone) {
		t.Fatalf("err = %v, want ErrAgentGone", err)
	}
	ev = <-events
	if ev.Kind != usp.AgentDisconnected || !errors.Is(ev.Reason, usp.ErrAgentGone) {
		t.Fatalf("event = %+v", ev)
	}
	if info, _ := c.AgentInfo(agent.id); info.Connected {
		t.Fatal("agent still marked connected")
	}
}

func TestMQTTConnectRecordAddress(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-mq", nil)
	c := newController(t, net)
	rec := record.NewMQTTConnect("1.3", ctrlID, agent.id, usprecord.MQTTConnectRecord_V5, "/usp/agent/x")
	agent.sendRecord(rec)
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, ok := c.AgentInfo(agent.id)
		if ok && info.Address.To == "/usp/agent/x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent info = %+v", info)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHostileInputIsDropped(t *testing.T) {
	net := memory.NewNetwork()
	good := newScripted(t, net, "proto::good", answer(getAnswer))
	c := newController(t, net, usp.WithAgent(good.id, memAddr(good.id)), usp.WithMaxRecordSize(1<<16))
	ag := c.Agent(good.id)

	payload, _ := proto.Marshal((&msg.GetResp{}).Build("nobody-asked"))
	wrongTo, _ := record.Encode(record.NewNoSessionContext("1.3", "proto::someone-else", "proto::evil", payload))
	spoofed, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, good.id, payload)) // sent by another peer
	huge, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, "proto::evil", make([]byte, 1<<17)))
	badMsg, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, "proto::evil", []byte("not protobuf at all")))
	inputs := [][]byte{nil, {0xff, 0xff, 0xff}, []byte("garbage"), wrongTo, spoofed, huge, badMsg}
	for i := 0; i < 200; i++ {
		for _, in := range inputs {
			if err := net.Inject("proto::evil", ctrlID, in); err != nil && !errors.Is(err, memory.ErrQueueFull) {
				t.Fatal(err)
			}
		}
		if i%50 == 0 {
			if _, err := ag.GetValue(ctxT(t), "Device.A.B"); err != nil {
				t.Fatalf("good agent disturbed by hostile input: %v", err)
			}
		}
	}
	if _, err := ag.GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	if info, ok := c.AgentInfo("proto::evil"); ok && info.Connected && len(c.Agents()) > 2 {
		t.Fatalf("hostile peer polluted the agent list: %+v", c.Agents())
	}
}

func TestRegisterWithoutBrokerIsRefused(t *testing.T) {
	net := memory.NewNetwork()
	svc := newScripted(t, net, "proto::service", nil)
	newController(t, net, usp.WithAgent(svc.id, memAddr(svc.id)))
	svc.sendMsg(msg.Register{Paths: []string{"Device.Time."}}.Build("reg-1"))
	got := svc.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 1 })
	e := got[0].GetBody().GetError()
	if got[0].GetHeader().GetMsgId() != "reg-1" || e.GetErrCode() != uint32(msg.CodeNotSupported) {
		t.Fatalf("answer = %v", got[0])
	}
}

type broker struct{ calls atomic.Int32 }

func (b *broker) Register(_ context.Context, _ *usp.Agent, r *msg.Register) (*msg.RegisterResp, error) {
	b.calls.Add(1)
	var out msg.RegisterResp
	for _, p := range r.Paths {
		if p == "Device.Taken." {
			out.Results = append(out.Results, msg.RegisterResult{Requested: p, Err: &msg.Error{Code: msg.CodeAlreadyInUse, Message: "taken"}})
			continue
		}
		out.Results = append(out.Results, msg.RegisterResult{Requested: p, Path: p})
	}
	return &out, nil
}

func (b *broker) Deregister(context.Context, *usp.Agent, *msg.Deregister) (*msg.DeregisterResp, error) {
	b.calls.Add(1)
	return nil, &msg.Error{Code: msg.CodeDeregisterFailure, Message: "nothing registered"}
}

func TestBrokerHandler(t *testing.T) {
	net := memory.NewNetwork()
	svc := newScripted(t, net, "proto::service", nil)
	b := &broker{}
	newController(t, net, usp.WithAgent(svc.id, memAddr(svc.id)), usp.WithBrokerHandler(b))
	svc.sendMsg(msg.Register{AllowPartial: true, Paths: []string{"Device.Time.", "Device.Taken."}}.Build("reg-1"))
	svc.sendMsg(msg.Deregister{Paths: []string{"Device.Time."}}.Build("dereg-1"))
	got := svc.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 2 })
	byID := map[string]*uspmsg.Msg{}
	for _, m := range got {
		byID[m.GetHeader().GetMsgId()] = m
	}
	rr, err := msg.ParseRegisterResp(byID["reg-1"])
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Results) != 2 || rr.Results[0].Path != "Device.Time." || rr.Results[1].Err.Code != msg.CodeAlreadyInUse {
		t.Fatalf("RegisterResp = %+v", rr)
	}
	if e := byID["dereg-1"].GetBody().GetError(); e.GetErrCode() != uint32(msg.CodeDeregisterFailure) {
		t.Fatalf("Deregister answer = %v", byID["dereg-1"])
	}
	if b.calls.Load() != 2 {
		t.Fatalf("broker calls = %d", b.calls.Load())
	}
}

func TestNewControllerChecksOptions(t *testing.T) {
	net := memory.NewNetwork()
	ep, _ := net.Endpoint("x")
	cases := []struct {
		name string
		id   string
		opts []usp.Option
	}{
		{"bad endpoint ID", "not an id", []usp.Option{usp.WithTransport(ep)}},
		{"no transport", ctrlID, nil},
		{"agent on a missing MTP", ctrlID, []usp.Option{usp.WithTransport(ep), usp.WithAgent("proto::a", mtp.Address{MTP: mtp.MQTT, To: "t"})}},
		{"empty agent address", ctrlID, []usp.Option{usp.WithTransport(ep), usp.WithAgent("proto::a", mtp.Address{})}},
		{"empty To on a memory endpoint", ctrlID, []usp.Option{usp.WithTransport(ep), usp.WithAgent("proto::a", mtp.Address{MTP: mtp.Memory})}},
		{"nil transport", ctrlID, []usp.Option{usp.WithTransport(nil)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := usp.NewController(tc.id, tc.opts...); err == nil {
				t.Fatal("NewController accepted it")
			}
		})
	}
}

func TestInvalidFromIDIsDropped(t *testing.T) {
	net := memory.NewNetwork()
	c := newController(t, net)
	payload, _ := proto.Marshal(msg.Notify{SubscriptionID: "s", Notification: &msg.ObjectDeletion{ObjPath: "Device.X.1."}}.Build("n-1"))
	bad, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, "no scheme here", payload))
	good, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, "proto::fine", payload))
	if err := net.Inject("no scheme here", ctrlID, bad); err != nil {
		t.Fatal(err)
	}
	if err := net.Inject("proto::fine", ctrlID, good); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { _, ok := c.AgentInfo("proto::fine"); return ok })
	if _, ok := c.AgentInfo("no scheme here"); ok {
		t.Fatal("a record from an invalid endpoint ID created an agent entry")
	}
}

type countingHooks struct {
	usp.NopHooks
	sent, received, done atomic.Int32
	lastErr              atomic.Value
}

func (h *countingHooks) RecordSent(mtp.Kind, int)     { h.sent.Add(1) }
func (h *countingHooks) RecordReceived(mtp.Kind, int) { h.received.Add(1) }
func (h *countingHooks) RequestDone(_ string, _ uspmsg.Header_MsgType, _ time.Duration, err error) {
	h.done.Add(1)
	if err != nil {
		h.lastErr.Store(err)
	}
}

func TestHooksSeeRecordsAndRequests(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", answer(getAnswer))
	h := &countingHooks{}
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithHooks(h))
	if _, err := c.Agent(agent.id).GetValue(ctxT(t), "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Agent(agent.id).GetValues(ctxT(t), "Device.NoSuch.X") // a per-path error, not a failed request
	if h.sent.Load() != 2 || h.received.Load() != 2 || h.done.Load() != 2 {
		t.Fatalf("hooks saw %d sent, %d received, %d done; want 2 each", h.sent.Load(), h.received.Load(), h.done.Load())
	}
	agent.respond = answer(func(*uspmsg.Msg) msg.Message { return &msg.Error{Code: msg.CodeInternal} })
	_, _ = c.Agent(agent.id).GetValues(ctxT(t), "Device.A.B")
	if err, _ := h.lastErr.Load().(error); !errors.Is(err, msg.ErrInternal) {
		t.Fatalf("RequestDone saw %v, want the agent's 7003", err)
	}
}

func TestAgentMovedEvent(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-mv", nil)
	events := make(chan usp.AgentEvent, 10)
	newController(t, net, usp.WithAgentHandler(func(ev usp.AgentEvent) { events <- ev }))
	agent.sendRecord(record.NewMQTTConnect("1.3", ctrlID, agent.id, usprecord.MQTTConnectRecord_V5, "/usp/agent/old"))
	if ev := <-events; ev.Kind != usp.AgentConnected || ev.Agent.Address.To != "/usp/agent/old" {
		t.Fatalf("first event %+v", ev)
	}
	agent.sendRecord(record.NewMQTTConnect("1.3", ctrlID, agent.id, usprecord.MQTTConnectRecord_V5, "/usp/agent/new"))
	if ev := <-events; ev.Kind != usp.AgentMoved || ev.Agent.Address.To != "/usp/agent/new" {
		t.Fatalf("second event %+v", ev)
	}
}

func TestConnectRecordWhilePresentAnnouncesAgain(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-re", nil)
	events := make(chan usp.AgentEvent, 10)
	newController(t, net, usp.WithAgentHandler(func(ev usp.AgentEvent) { events <- ev }))
	for range 2 {
		agent.sendRecord(record.NewWebSocketConnect("1.3", ctrlID, agent.id))
		if ev := <-events; ev.Kind != usp.AgentConnected {
			t.Fatalf("event %+v, want AgentConnected for every connect record", ev)
		}
	}
	// Other traffic from a present agent raises nothing.
	agent.sendMsg(msg.Notify{SubscriptionID: "s", Notification: &msg.ObjectDeletion{ObjPath: "Device.X.1."}}.Build("n-1"))
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}
