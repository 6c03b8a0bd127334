package usp_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// funcBroker is a BrokerHandler made of two functions.
type funcBroker struct {
	reg   func() (*msg.RegisterResp, error)
	dereg func() (*msg.DeregisterResp, error)
}

func (f funcBroker) Register(context.Context, *usp.Agent, *msg.Register) (*msg.RegisterResp, error) {
	return f.reg()
}

func (f funcBroker) Deregister(context.Context, *usp.Agent, *msg.Deregister) (*msg.DeregisterResp, error) {
	return f.dereg()
}

// TestBrokerHandlerOddReturns: whatever a handler returns or does, the
// Service gets an answer and the controller lives on.
func TestBrokerHandlerOddReturns(t *testing.T) {
	var nilErr *msg.Error
	okReg := &msg.RegisterResp{Results: []msg.RegisterResult{{Requested: "Device.Time.", Path: "Device.Time."}}}
	okDereg := &msg.DeregisterResp{Results: []msg.DeregisterResult{{Requested: "Device.Time.", Paths: []string{"Device.Time."}}}}
	taken := &msg.Error{Code: msg.CodeAlreadyInUse, Message: "taken"}
	cases := []struct {
		name     string
		reg      func() (*msg.RegisterResp, error)
		dereg    func() (*msg.DeregisterResp, error)
		wantCode msg.Code // 0: a response
	}{
		{"nil, nil", func() (*msg.RegisterResp, error) { return nil, nil },
			func() (*msg.DeregisterResp, error) { return nil, nil }, msg.CodeInternal},
		{"nil, typed nil *msg.Error", func() (*msg.RegisterResp, error) { return nil, nilErr },
			func() (*msg.DeregisterResp, error) { return nil, nilErr }, msg.CodeInternal},
		{"response, typed nil *msg.Error", func() (*msg.RegisterResp, error) { return okReg, nilErr },
			func() (*msg.DeregisterResp, error) { return okDereg, nilErr }, msg.CodeInternal},
		{"response with *msg.Error", func() (*msg.RegisterResp, error) { return okReg, taken },
			func() (*msg.DeregisterResp, error) { return okDereg, taken }, msg.CodeAlreadyInUse},
		{"response with plain error", func() (*msg.RegisterResp, error) { return okReg, errors.New("disk full") },
			func() (*msg.DeregisterResp, error) { return okDereg, errors.New("disk full") }, msg.CodeInternal},
		{"wrapped *msg.Error", func() (*msg.RegisterResp, error) { return nil, errors.Join(errors.New("x"), taken) },
			func() (*msg.DeregisterResp, error) { return nil, errors.Join(errors.New("x"), taken) }, msg.CodeAlreadyInUse},
		{"panic", func() (*msg.RegisterResp, error) { panic("boom") },
			func() (*msg.DeregisterResp, error) { panic("boom") }, msg.CodeInternal},
		{"panic with nil", func() (*msg.RegisterResp, error) { panic(nilErr) },
			func() (*msg.DeregisterResp, error) { panic(nilErr) }, msg.CodeInternal},
		{"ok", func() (*msg.RegisterResp, error) { return okReg, nil },
			func() (*msg.DeregisterResp, error) { return okDereg, nil }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			net := memory.NewNetwork()
			svc := newScripted(t, net, "proto::service", nil)
			newController(t, net, usp.WithAgent(svc.id, memAddr(svc.id)), usp.WithBrokerHandler(funcBroker{tc.reg, tc.dereg}))
			svc.sendMsg(msg.Register{Paths: []string{"Device.Time."}}.Build("reg-1"))
			svc.sendMsg(msg.Deregister{Paths: []string{"Device.Time."}}.Build("dereg-1"))
			got := svc.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 2 })
			for _, m := range got {
				e := m.GetBody().GetError()
				if tc.wantCode == 0 {
					if e != nil {
						t.Errorf("%s answered with an Error: %v", m.GetHeader().GetMsgId(), e)
					}
					continue
				}
				if msg.Code(e.GetErrCode()) != tc.wantCode {
					t.Errorf("%s answered %v, want error %d", m.GetHeader().GetMsgId(), m, tc.wantCode)
				}
			}
		})
	}
}

func TestRegistryAllowPartial(t *testing.T) {
	net := memory.NewNetwork()
	svc := newScripted(t, net, "proto::service", nil)
	reg := &usp.Registry{}
	newController(t, net, usp.WithAgent(svc.id, memAddr(svc.id)), usp.WithBrokerHandler(reg))

	// allow_partial false: one bad path fails the whole message.
	svc.sendMsg(msg.Register{Paths: []string{"Device.Time.", "Device.Bad"}}.Build("all-or-nothing"))
	got := svc.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 1 })
	e := got[0].GetBody().GetError()
	if msg.Code(e.GetErrCode()) != msg.CodeRegisterFailure || len(e.GetParamErrs()) != 1 || e.GetParamErrs()[0].GetParamPath() != "Device.Bad" {
		t.Fatalf("allow_partial false answered %v", got[0])
	}
	if p := reg.Paths(svc.id); len(p) != 0 {
		t.Fatalf("paths kept after a failed all-or-nothing Register: %v", p)
	}

	// allow_partial true: each path on its own.
	svc.sendMsg(msg.Register{AllowPartial: true, Paths: []string{"Device.Time.", "Device.Bad"}}.Build("partial"))
	got = svc.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 2 })
	rr, err := msg.ParseRegisterResp(got[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Results) != 2 || rr.Results[0].Path != "Device.Time." || rr.Results[1].Err.Code != msg.CodeRegisterFailure {
		t.Fatalf("allow_partial true answered %+v", rr)
	}
	if p := reg.Paths(svc.id); !slices.Equal(p, []string{"Device.Time."}) {
		t.Fatalf("paths = %v", p)
	}
}

func TestRegistryOwnership(t *testing.T) {
	net := memory.NewNetwork()
	a := newScripted(t, net, "proto::service-a", nil)
	b := newScripted(t, net, "proto::service-b", nil)
	reg := &usp.Registry{}
	newController(t, net, usp.WithAgent(a.id, memAddr(a.id)), usp.WithAgent(b.id, memAddr(b.id)), usp.WithBrokerHandler(reg))
	ask := func(s *scripted, m msg.Request, n int) *uspmsg.Msg {
		t.Helper()
		s.sendMsg(m.Build(m.MsgType().String()))
		return s.waitFor(func(got []*uspmsg.Msg) bool { return len(got) == n })[n-1]
	}
	results := func(m *uspmsg.Msg) []msg.RegisterResult {
		t.Helper()
		rr, err := msg.ParseRegisterResp(m)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		return rr.Results
	}
	if r := results(ask(a, msg.Register{Paths: []string{"Device.Time.", "Device.DeviceInfo."}}, 1)); r[0].Err != nil || r[1].Err != nil {
		t.Fatalf("first Register: %+v", r)
	}
	// The same Service registering again (after a reconnection) is fine.
	if r := results(ask(a, msg.Register{Paths: []string{"Device.Time."}}, 2)); r[0].Err != nil {
		t.Fatalf("Register again: %+v", r)
	}
	// Another Service may not take the path, a path inside it, or one
	// around it.
	r := results(ask(b, msg.Register{AllowPartial: true, Paths: []string{"Device.Time.", "Device.DeviceInfo.Sub.", "Device.", "Device.WiFi."}}, 1))
	for i, want := range []msg.Code{msg.CodeAlreadyInUse, msg.CodeAlreadyInUse, msg.CodeAlreadyInUse, 0} {
		if (r[i].Err == nil) != (want == 0) || (r[i].Err != nil && r[i].Err.Code != want) {
			t.Errorf("%s: %+v, want code %d", r[i].Requested, r[i], want)
		}
	}
	if id, ok := reg.Owner("Device.Time.CurrentLocalTime"); !ok || id != a.id {
		t.Errorf("Owner = %q %v", id, ok)
	}
	dr, err := msg.ParseDeregisterResp(ask(b, msg.Deregister{Paths: []string{"Device.Time.", "Device.Nothing."}}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if dr.Results[0].Err.Code != msg.CodeDeregisterFailure || dr.Results[1].Err.Code != msg.CodeDeregisterFailure {
		t.Errorf("Deregister of paths not owned: %+v", dr)
	}
	dr, err = msg.ParseDeregisterResp(ask(a, msg.Deregister{Paths: []string{""}}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dr.Results[0].Paths, []string{"Device.DeviceInfo.", "Device.Time."}) {
		t.Errorf("Deregister all: %+v", dr)
	}
	if r := results(ask(b, msg.Register{Paths: []string{"Device.Time."}}, 3)); r[0].Err != nil {
		t.Errorf("Register of a freed path: %+v", r)
	}
}

// TestBrokerAfterRegisterAndGone: the Broker asks the Service for its data
// model only once the RegisterResp is out, and learns when it goes.
func TestBrokerAfterRegisterAndGone(t *testing.T) {
	net := memory.NewNetwork()
	svc := newScripted(t, net, "proto::service", answer(func(*uspmsg.Msg) msg.Message {
		return &msg.GetSupportedDMResp{}
	}))
	var mu sync.Mutex
	var events []string
	gone := make(chan []string, 1)
	reg := &usp.Registry{
		Registered: func(ctx context.Context, s *usp.Agent, paths []string) {
			_, err := s.GetSupportedDM(ctx, msg.GetSupportedDM{Paths: paths})
			mu.Lock()
			events = append(events, "supported-dm")
			mu.Unlock()
			if err != nil {
				t.Errorf("GetSupportedDM from the Service: %v", err)
			}
		},
		Gone: func(_ context.Context, _ *usp.Agent, paths []string, reason error) {
			if !errors.Is(reason, usp.ErrAgentGone) {
				t.Errorf("reason = %v", reason)
			}
			gone <- paths
		},
	}
	newController(t, net, usp.WithAgent(svc.id, memAddr(svc.id)), usp.WithBrokerHandler(reg))
	svc.sendMsg(msg.Register{Paths: []string{"Device.Time."}}.Build("reg-1"))
	got := svc.waitFor(func(m []*uspmsg.Msg) bool { return len(m) == 2 })
	if got[0].GetHeader().GetMsgType() != uspmsg.Header_REGISTER_RESP || got[1].GetHeader().GetMsgType() != uspmsg.Header_GET_SUPPORTED_DM {
		t.Fatalf("the Service got %v then %v", got[0].GetHeader(), got[1].GetHeader())
	}
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 1 })

	svc.sendRecord(record.NewDisconnect("1.3", ctrlID, svc.id, "bye", 0))
	if paths := <-gone; !slices.Equal(paths, []string{"Device.Time."}) {
		t.Fatalf("Gone with %v", paths)
	}
	if p := reg.Paths(svc.id); len(p) != 0 {
		t.Fatalf("paths left after the Service went: %v", p)
	}
}

// panicky panics for one path and leaves the rest to a Registry.
type panicky struct{ *usp.Registry }

func (p panicky) Register(ctx context.Context, svc *usp.Agent, req *msg.Register) (*msg.RegisterResp, error) {
	if slices.Contains(req.Paths, "Device.Panic.") {
		panic("handler bug")
	}
	return p.Registry.Register(ctx, svc, req)
}

// TestBrokerOverUDS: a Service on a Unix socket registers, hits a handler
// panic without harm, leaves, comes back and registers the same paths.
func TestBrokerOverUDS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.sock")
	srv, err := uds.NewServer(path, ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	gone := make(chan []string, 1)
	reg := &usp.Registry{Gone: func(_ context.Context, _ *usp.Agent, paths []string, _ error) { gone <- paths }}
	c, err := usp.NewController(ctrlID, usp.WithTransport(srv), usp.WithBrokerHandler(panicky{reg}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	const svcID = "proto::uds-service"
	for round := range 2 {
		cl, err := uds.NewClient(path, svcID)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := usptest.NewAgent(svcID, usptest.WithTransport(cl), usptest.WithController(ctrlID, mtp.Address{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Register(ctxT(t), ctrlID, msg.Register{Paths: []string{"Device.Panic."}}); !errors.Is(err, msg.ErrInternal) {
			t.Fatalf("round %d: Register with a panicking handler = %v, want 7003", round, err)
		}
		resp, err := svc.Register(ctxT(t), ctrlID, msg.Register{Paths: []string{"Device.DeviceInfo.", "Device.WiFi."}})
		if err != nil || resp.Err() != nil {
			t.Fatalf("round %d: Register = %+v, %v", round, resp, err)
		}
		// The Broker reaches the Service through its session.
		if _, err := c.Agent(svcID).GetValues(ctxT(t), "Device.DeviceInfo.SoftwareVersion"); err != nil {
			t.Fatalf("round %d: Get from the Broker: %v", round, err)
		}
		if err := svc.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		select {
		case paths := <-gone:
			if !slices.Equal(paths, []string{"Device.DeviceInfo.", "Device.WiFi."}) {
				t.Fatalf("round %d: Gone with %v", round, paths)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the Broker never saw the Service go", round)
		}
	}
}
