package usptest

import (
	"context"
	"errors"
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

func TestFaults(t *testing.T) {
	a, c := newTestAgent(t)
	c.take(time.Second, notifyOf("Event"))
	f := a.Faults()
	get := msg.Get{Paths: []string{"Device.DeviceInfo.ModelName"}}

	t.Run("drop", func(t *testing.T) {
		c.t = t
		f.DropNext(1)
		c.sendMsg(get.Build("dropped"))
		r := c.do(get)
		if r.GetBody().GetResponse().GetGetResp() == nil {
			t.Fatalf("after drop %v", r)
		}
		c.quiet(10*time.Millisecond, msgWithID("dropped"))
	})
	t.Run("fail", func(t *testing.T) {
		c.t = t
		f.FailNext(uspmsg.Header_GET, msg.CodeResourcesExceeded)
		f.FailNext(uspmsg.Header_GET, msg.CodeInternal)
		if code := c.do(get).GetBody().GetError().GetErrCode(); code != uint32(msg.CodeResourcesExceeded) {
			t.Errorf("first %d", code)
		}
		// Other message types are not affected.
		if r := c.do(msg.GetSupportedProtocol{}); r.GetBody().GetError() != nil {
			t.Errorf("GetSupportedProtocol failed: %v", r)
		}
		if code := c.do(get).GetBody().GetError().GetErrCode(); code != uint32(msg.CodeInternal) {
			t.Errorf("second %d", code)
		}
		if r := c.do(get); r.GetBody().GetError() != nil {
			t.Errorf("third %v", r)
		}
	})
	t.Run("delay", func(t *testing.T) {
		c.t = t
		f.Delay(50 * time.Millisecond)
		start := time.Now()
		c.do(get)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("answered in %v", d)
		}
		f.Delay(0)
	})
	t.Run("corrupt", func(t *testing.T) {
		c.t = t
		f.CorruptNext(1)
		c.sendMsg(get.Build("corrupted"))
		c.quiet(30*time.Millisecond, msgWithID("corrupted"))
		c.mu.Lock()
		last := c.raw[len(c.raw)-1]
		c.mu.Unlock()
		if _, err := record.Decode(last); err == nil {
			t.Error("the corrupted record decodes")
		}
		c.do(get)
	})
	t.Run("mute", func(t *testing.T) {
		c.t = t
		f.Mute(true)
		c.sendMsg(msg.SetParams("Device.WiFi.SSID.1.", map[string]string{"SSID": "muted"}).Build("muted"))
		c.quiet(30*time.Millisecond, anyRecord)
		f.Mute(false)
		if v, _ := a.Model().Get("Device.WiFi.SSID.1.SSID"); v != "muted" {
			t.Errorf("the muted Set was not applied: %q", v)
		}
	})
	t.Run("garbage and disconnect", func(t *testing.T) {
		c.t = t
		ctx := context.Background()
		c.mu.Lock()
		n := len(c.raw)
		c.mu.Unlock()
		if err := f.SendGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.Disconnect(ctx, record.CodeSessionContextTerminated, "test"); err != nil {
			t.Fatal(err)
		}
		d := c.take(time.Second, func(r *usprecord.Record) bool { return r.GetDisconnect() != nil })
		if d == nil || d.GetDisconnect().GetReasonCode() != record.CodeSessionContextTerminated || d.GetDisconnect().GetReason() != "test" {
			t.Fatalf("disconnect %v", d)
		}
		c.mu.Lock()
		garbage := c.raw[n]
		c.mu.Unlock()
		if _, err := record.Decode(garbage); err == nil {
			t.Error("garbage decodes")
		}
	})
	t.Run("reset", func(t *testing.T) {
		c.t = t
		f.DropNext(5)
		f.FailNext(uspmsg.Header_GET, msg.CodeInternal)
		f.Reset()
		if r := c.do(get); r.GetBody().GetError() != nil {
			t.Errorf("after reset %v", r)
		}
	})
}

func TestRecordLevel(t *testing.T) {
	_, c := newTestAgent(t)
	c.take(time.Second, notifyOf("Event"))
	disc := func() uint32 {
		d := c.take(time.Second, func(r *usprecord.Record) bool { return r.GetDisconnect() != nil })
		if d == nil {
			t.Fatal("no DisconnectRecord")
		}
		return d.GetDisconnect().GetReasonCode()
	}
	payload := []byte("\n\x05\n\x01x\x10\x01")
	tls := record.NewNoSessionContext("1.3", agentID, ctrlID, payload)
	tls.PayloadSecurity = usprecord.Record_TLS12
	c.sendRecord(tls)
	if code := disc(); code != record.CodeInvalidRecordValue {
		t.Errorf("encrypted payload: %d", code)
	}
	c.sendRecord(record.NewSessionContext("1.3", agentID, ctrlID, &usprecord.SessionContextRecord{SessionId: 1, SequenceId: 1, ExpectedId: 1}))
	if code := disc(); code != record.CodeSessionContextNotAllowed {
		t.Errorf("session context: %d", code)
	}
	c.sendRecord(record.NewDisconnect("1.3", agentID, ctrlID, "bye", record.CodeSessionContextTerminated))
	if code := disc(); code != record.CodeSessionContextTerminated {
		t.Errorf("disconnect: %d", code)
	}
	noVersion := record.NewNoSessionContext("", agentID, ctrlID, payload)
	c.sendRecord(noVersion)
	if code := disc(); code != record.CodeSessionContextTerminated {
		t.Errorf("no version: %d", code)
	}
}

func TestUnknownControllers(t *testing.T) {
	t.Run("added on first contact", func(t *testing.T) {
		a, c := newTestAgent(t)
		c.id = "proto::newcomer"
		// The newcomer is not on the network under its own name: Inject
		// plays it, and the reply goes back to where it came from.
		ep, err := c.net.Endpoint("proto::newcomer")
		if err != nil {
			t.Fatal(err)
		}
		if err := ep.Start(context.Background(), mtp.HandlerFuncs{Record: c.receive}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ep.Close(context.Background()) })
		c.ep = ep
		r := c.do(msg.Get{Paths: []string{"Device.LocalAgent.Controller.*.EndpointID"}})
		if got := len(resolvedPaths(r)[0]); got != 2 {
			t.Errorf("%d controllers: %v", got, resolvedPaths(r))
		}
		if v, _ := a.Model().Get("Device.LocalAgent.Controller.2.EndpointID"); v != "proto::newcomer" {
			t.Errorf("Controller.2 is %q", v)
		}
	})
	t.Run("ignored with WithKnownControllersOnly", func(t *testing.T) {
		a, c := newTestAgent(t, WithKnownControllersOnly())
		if err := c.net.Inject("proto::stranger", agentID, mustEncode(t, record.NewNoSessionContext("1.3", agentID, "proto::stranger",
			mustMarshal(t, msg.Get{Paths: []string{"Device."}}.Build("x"))))); err != nil {
			t.Fatal(err)
		}
		c.do(msg.GetSupportedProtocol{}) // handled after the stranger's Get
		if got := a.Received(); len(got) != 1 || got[0].From != ctrlID {
			t.Errorf("received %+v", got)
		}
		if insts, _ := a.Model().Instances("Device.LocalAgent.Controller."); len(insts) != 1 {
			t.Errorf("controllers %v", insts)
		}
	})
}

func TestReceived(t *testing.T) {
	a, c := newTestAgent(t)
	c.do(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	c.do(msg.GetSupportedProtocol{Versions: "1.3"})
	got := a.Received()
	if len(got) != 2 || got[0].Msg.GetHeader().GetMsgType() != uspmsg.Header_GET ||
		got[1].Msg.GetHeader().GetMsgType() != uspmsg.Header_GET_SUPPORTED_PROTO || got[0].From != ctrlID ||
		got[0].ReplyTo != (mtp.Address{MTP: mtp.Memory, To: ctrlID}) {
		t.Errorf("received %+v", got)
	}
}

func TestLifecycle(t *testing.T) {
	net := memory.NewNetwork()
	ep, err := net.Endpoint(agentID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAgent(agentID); !errors.Is(err, ErrNoTransport) {
		t.Errorf("no transport: %v", err)
	}
	if _, err := NewAgent("not an id", WithTransport(ep)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad id: %v", err)
	}
	for _, o := range []Option{WithTransport(nil), WithController("", mtp.Address{}), WithModel(nil), WithLogger(nil),
		WithNotifyRetry(0, time.Second), WithNotifyRetry(time.Second, time.Millisecond), WithClock(nil),
		WithRecordVersion("x"), WithSupportedVersions(""), WithSupportedVersions("1.x"), WithBootCause(""),
		WithMaxRecordSize(0), WithRebootDowntime(-1)} {
		if _, err := NewAgent(agentID, WithTransport(ep), o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option accepted: %v", err)
		}
	}
	m := DefaultModel()
	a, err := NewAgent(agentID, WithTransport(ep), WithModel(m))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAgent("proto::other", WithTransport(ep), WithModel(m)); !errors.Is(err, ErrModelInUse) {
		t.Errorf("shared model: %v", err)
	}
	ctx := context.Background()
	if err := a.Emit(ctx, "Device.Boot!", nil); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Emit before Start: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	if a.EndpointID() != agentID || a.Model() != m {
		t.Error("accessors")
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := a.Start(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if err := a.SendConnect(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("SendConnect after Close: %v", err)
	}
	// The model is free again.
	ep2, _ := net.Endpoint(agentID)
	b, err := NewAgent(agentID, WithTransport(ep2), WithModel(m))
	if err != nil {
		t.Fatalf("model not released: %v", err)
	}
	_ = b.Close(ctx)
}

func TestCloseCancelsCommands(t *testing.T) {
	a, c := newTestAgent(t)
	started := make(chan struct{})
	if err := a.Model().HandleCommand("Device.ScheduleTimer()", func(ctx context.Context, _ string, _ map[string]string) (map[string]string, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	operate(t, c, "Device.ScheduleTimer()", "", map[string]string{"DelaySeconds": "3600"})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailure(t *testing.T) {
	net := memory.NewNetwork()
	ep, _ := net.Endpoint(agentID)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, err := NewAgent(agentID, WithTransport(&kindTransport{Endpoint: ep, kind: mtp.MQTT, noUp: true}))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Start: %v", err)
	}
	if err := a.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after failure: %v", err)
	}
}

// kindTransport presents a memory endpoint as another binding, so that the
// agent's per-binding behaviour (connect records, reply addresses) can be
// tested without brokers.
type kindTransport struct {
	*memory.Endpoint
	kind      mtp.Kind
	local     string // reported in the Up event
	noReplyTo bool   // deliver records without a reply address
	noUp      bool   // never report Up
	peerUp    string // report this peer as connected at Start
}

func (k *kindTransport) Kind() mtp.Kind { return k.kind }

func (k *kindTransport) Start(ctx context.Context, h mtp.Handler) error {
	return k.Endpoint.Start(ctx, mtp.HandlerFuncs{
		Record: func(in mtp.Inbound) {
			in.ReplyTo.MTP = k.kind
			if k.noReplyTo {
				in.ReplyTo, in.PeerID = mtp.Address{}, ""
			}
			h.HandleRecord(in)
		},
		Event: func(ev mtp.Event) {
			if ev.Kind == mtp.Up {
				if k.noUp {
					return
				}
				ev.Local = mtp.Address{MTP: k.kind, To: k.local}
			}
			h.HandleEvent(ev)
			if ev.Kind == mtp.Up && k.peerUp != "" {
				h.HandleEvent(mtp.Event{Kind: mtp.PeerUp, PeerID: k.peerUp, Peer: mtp.Address{MTP: k.kind, To: k.peerUp}})
			}
		},
	})
}

func (k *kindTransport) Send(ctx context.Context, to mtp.Address, data []byte) error {
	to.MTP = mtp.Memory
	return k.Endpoint.Send(ctx, to, data)
}

func TestConnectRecords(t *testing.T) {
	tests := []struct {
		kind   mtp.Kind
		local  string
		peerUp bool
		check  func(*usprecord.Record) bool
	}{
		{mtp.MQTT, "/usp/agent/test", false, func(r *usprecord.Record) bool {
			return r.GetMqttConnect().GetSubscribedTopic() == "/usp/agent/test" && r.GetMqttConnect().GetVersion() == usprecord.MQTTConnectRecord_V5
		}},
		{mtp.STOMP, "/queue/agent", false, func(r *usprecord.Record) bool {
			return r.GetStompConnect().GetSubscribedDestination() == "/queue/agent"
		}},
		{mtp.WebSocket, "", true, func(r *usprecord.Record) bool { return r.GetWebsocketConnect() != nil }},
		{mtp.UDS, "", false, func(r *usprecord.Record) bool { return r.GetUdsConnect() != nil }},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			net := memory.NewNetwork()
			c := &testController{t: t, net: net, id: ctrlID, agentID: agentID, version: "1.3", arrived: make(chan struct{}, 1)}
			c.ep, _ = net.Endpoint(ctrlID)
			if err := c.ep.Start(context.Background(), mtp.HandlerFuncs{Record: c.receive}); err != nil {
				t.Fatal(err)
			}
			ep, _ := net.Endpoint(agentID)
			kt := &kindTransport{Endpoint: ep, kind: tc.kind, local: tc.local, noReplyTo: true}
			if tc.peerUp {
				kt.peerUp = ctrlID
			}
			a, err := NewAgent(agentID, WithTransport(kt), WithController(ctrlID, mtp.Address{MTP: tc.kind, To: ctrlID}))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := a.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = a.Close(ctx); _ = c.ep.Close(ctx) }()
			var kinds []string
			for {
				r := c.take(100*time.Millisecond, anyRecord)
				if r == nil {
					break
				}
				kinds = append(kinds, record.Kind(r).String())
				if record.Kind(r).IsConnect() && !tc.check(r) {
					t.Errorf("connect record %v", r)
				}
			}
			// One connect record (PeerUp after Up does not repeat it), then Boot!.
			if len(kinds) != 2 || kinds[1] != "no_session_context" || kinds[0] == "no_session_context" {
				t.Errorf("records %v", kinds)
			}
			// Without a reply address, answers go to the configured address.
			r := c.do(msg.Get{Paths: []string{"Device.LocalAgent.MTP.1.Protocol"}})
			if got := resolvedPaths(r); len(got) != 1 || len(got[0]) != 1 {
				t.Errorf("MTP entry: %v", got)
			}
			// A reconnection announces the agent again.
			if err := net.Disconnect(agentID, nil); err != nil {
				t.Fatal(err)
			}
			if err := net.Reconnect(agentID); err != nil {
				t.Fatal(err)
			}
			if r := c.take(time.Second, func(r *usprecord.Record) bool { return record.Kind(r).IsConnect() }); r == nil {
				t.Error("no connect record after reconnection")
			}
			if err := a.SendConnect(ctx); err != nil {
				t.Fatal(err)
			}
			if r := c.take(time.Second, func(r *usprecord.Record) bool { return record.Kind(r).IsConnect() }); r == nil {
				t.Error("no connect record from SendConnect")
			}
		})
	}
}

func mustMarshal(t *testing.T, m *uspmsg.Msg) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncode(t *testing.T, r *usprecord.Record) []byte {
	t.Helper()
	b, err := record.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConcurrentUse changes the model from several goroutines while a
// controller reads it and a subscription reports the changes; run with
// -race.
func TestConcurrentUse(t *testing.T) {
	a, c := newTestAgent(t)
	subscribe(t, c, "vc", "ValueChange", "Device.Hosts.Host.*.HostName", false)
	m := a.Model()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 50 {
				if err := m.Set("Device.Hosts.Host.1.HostName", "h"+string(rune('a'+g))+string(rune('a'+i%26))); err != nil {
					errs <- err
					return
				}
				if _, err := m.Values("Device.Hosts."); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 20 {
		c.do(msg.Get{Paths: []string{"Device.Hosts.Host.*.HostName"}})
	}
	for range 3 {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.take(time.Second, notifyOf("ValueChange")) == nil {
		t.Error("no ValueChange")
	}
}

// TestFaultsReset sets every fault and checks that Reset clears each one
// (SkipIntegrityCheck and WrongRecordMAC once survived it).
func TestFaultsReset(t *testing.T) {
	f := &Faults{}
	f.Delay(time.Second)
	f.DropNext(1)
	f.FailNext(uspmsg.Header_GET, msg.CodeInternal)
	f.CorruptNext(1)
	f.IgnoreNotifyResp(1)
	f.Mute(true)
	f.IgnoreE2ESettings(true)
	f.AcceptPlaintextInTLS(true)
	f.PassRenegotiation(true)
	f.TrustAnyEndpointID(true)
	f.RetrySessionAtOnce(true)
	f.ClearAfterTLSFailure(true)
	f.SkipIntegrityCheck(true)
	f.WrongRecordMAC(true)
	if !f.ignoringIntegrity() || !f.wrongIntegrity() || f.delay() != time.Second {
		t.Fatal("setting the faults changed nothing")
	}
	f.Reset()
	x := []byte("x")
	out := f.outgoing(x)
	set := map[string]bool{
		"Delay": f.delay() != 0, "DropNext": f.takeDrop(), "FailNext": f.takeFail(uspmsg.Header_GET) != 0,
		"CorruptNext": len(out) != 1, "IgnoreNotifyResp": f.takeIgnoreNotifyResp(),
		"Mute": out == nil, "IgnoreE2ESettings": f.ignoringE2E(),
		"AcceptPlaintextInTLS": f.acceptingPlaintextInTLS(), "PassRenegotiation": f.passingRenegotiation(),
		"TrustAnyEndpointID": f.trustingAnyEndpointID(), "RetrySessionAtOnce": f.retryingSessionAtOnce(),
		"ClearAfterTLSFailure": f.sendingClearAfterTLSFailure(), "SkipIntegrityCheck": f.ignoringIntegrity(),
		"WrongRecordMAC": f.wrongIntegrity(),
	}
	for name, on := range set {
		if on {
			t.Errorf("%s still on after Reset", name)
		}
	}
}
