package usp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not connected", fmt.Errorf("usp: sending: %w", mtp.ErrNotConnected), true},
		{"deadline", fmt.Errorf("usp: GET to a: %w", context.DeadlineExceeded), true},
		{"transport lost", usp.ErrTransportLost, true},
		{"agent gone", fmt.Errorf("%w: Disconnect record 7003", usp.ErrAgentGone), true},
		{"agent refused session", fmt.Errorf("%w: %w", usp.ErrAgentGone, usp.ErrSessionRefused), false},
		{"internal error", &msg.Error{Code: msg.CodeInternal}, true},
		{"resources exceeded", fmt.Errorf("get: %w", &msg.Error{Code: msg.CodeResourcesExceeded}), true},
		{"internal error of one parameter", &msg.Error{Code: msg.CodeInvalidArguments, ParamErrs: []msg.ParamError{{Path: "A.b", Code: msg.CodeInternal}}}, false},
		{"invalid path", &msg.Error{Code: msg.CodeInvalidPath}, false},
		{"record error", &record.Error{Code: record.CodeRecordNotParsed}, false},
		{"canceled", context.Canceled, false},
		{"canceled after loss", errors.Join(context.Canceled, usp.ErrTransportLost), false},
		{"closed", usp.ErrClosed, false},
		{"transport closed", mtp.ErrClosed, false},
		{"not started", usp.ErrNotStarted, false},
		{"unknown agent", usp.ErrUnknownAgent, false},
		{"invalid request", usp.ErrInvalidRequest, false},
		{"unexpected response", usp.ErrUnexpectedResponse, false},
		{"plain", errors.New("x"), false},
	}
	for _, tc := range tests {
		if got := usp.Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestRetryableFromAgentAnswers checks Retryable on what calls really
// return when the agent answers with an Error message.
func TestRetryableFromAgentAnswers(t *testing.T) {
	for _, tc := range []struct {
		code msg.Code
		want bool
	}{
		{msg.CodeInternal, true},
		{msg.CodeResourcesExceeded, true},
		{msg.CodeInvalidPath, false},
		{msg.CodeRequestDenied, false},
		{msg.CodeMessageFailed, false},
	} {
		net := memory.NewNetwork()
		agent := newScripted(t, net, fmt.Sprintf("proto::agent-%d", tc.code), answer(func(*uspmsg.Msg) msg.Message {
			return &msg.Error{Code: tc.code}
		}))
		c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
		_, err := c.Agent(agent.id).GetValues(ctxT(t), "Device.DeviceInfo.")
		if msg.CodeOf(err) != tc.code || usp.Retryable(err) != tc.want {
			t.Errorf("%d: err = %v, Retryable = %v, want %v", tc.code, err, usp.Retryable(err), tc.want)
		}
	}
}

func TestRetryableAfterTimeoutAndLoss(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::silent", nil)
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Agent(agent.id).GetValues(ctx, "Device.")
	if !usp.Retryable(err) {
		t.Errorf("timeout: %v not retryable", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Agent(agent.id).GetValues(ctx, "Device."); usp.Retryable(err) {
		t.Errorf("canceled: %v retryable", err)
	}
	if err := net.Disconnect(ctrlID, errors.New("cable cut")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Agent(agent.id).GetValues(ctxT(t), "Device.")
	if !errors.Is(err, mtp.ErrNotConnected) || !usp.Retryable(err) {
		t.Errorf("while down: %v, want a retryable mtp.ErrNotConnected", err)
	}
	if err := net.Reconnect(ctrlID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Agent("proto::nobody").GetValues(ctxT(t), "Device."); !errors.Is(err, usp.ErrUnknownAgent) || usp.Retryable(err) {
		t.Errorf("unknown agent: %v", err)
	}
}

// TestSentinelsFromCalls checks that the controller's own failures carry
// the sentinel a caller branches on.
func TestSentinelsFromCalls(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", nil)
	agent.respond = answer(func(req *uspmsg.Msg) msg.Message {
		if req.GetHeader().GetMsgType() == uspmsg.Header_ADD {
			return nil // subscriptions wait for ever
		}
		return &msg.GetResp{Results: []msg.GetResult{{Requested: "Device.X.*.Y", Resolved: []msg.Resolved{
			{Path: "Device.X.1.", Params: map[string]string{"Y": "a"}},
			{Path: "Device.X.2.", Params: map[string]string{"Y": "b"}},
		}}}}
	})
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
	a := c.Agent(agent.id)

	if err := c.Start(ctxT(t)); !errors.Is(err, usp.ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}
	if _, err := a.GetValue(ctxT(t), "Device.X.*.Y"); !errors.Is(err, usp.ErrNotOneValue) {
		t.Errorf("GetValue of two: %v", err)
	}
	if _, err := a.StartOperation(ctxT(t), "Device.Reboot", nil); !errors.Is(err, usp.ErrInvalidRequest) {
		t.Errorf("command without (): %v", err)
	}
	if _, err := a.StartOperation(ctxT(t), "Device.X.*.Reset()", nil); !errors.Is(err, usp.ErrInvalidRequest) {
		t.Errorf("wildcard command: %v", err)
	}
	if _, err := a.Subscribe(ctxT(t), usp.SubscriptionSpec{}); !errors.Is(err, usp.ErrInvalidRequest) {
		t.Errorf("empty subscription: %v", err)
	}

	// A second subscription with the ID of one being created.
	spec := usp.SubscriptionSpec{ID: "dup", NotifType: usp.NotifValueChange, ReferenceList: []string{"Device.X.1.Y"}}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := a.Subscribe(ctx, spec); first <- err }()
	agent.waitFor(func(m []*uspmsg.Msg) bool {
		for _, x := range m {
			if x.GetHeader().GetMsgType() == uspmsg.Header_ADD {
				return true
			}
		}
		return false
	})
	if _, err := a.Subscribe(ctxT(t), spec); !errors.Is(err, usp.ErrExists) {
		t.Errorf("duplicate subscription: %v", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first subscription: %v", err)
	}

	// An agent configured on an MTP no transport serves.
	ep, err := net.Endpoint("proto::other-controller")
	if err != nil {
		t.Fatal(err)
	}
	_, err = usp.NewController("proto::other-controller", usp.WithTransport(ep),
		usp.WithAgent("proto::mqtt-agent", mtp.Address{MTP: mtp.MQTT, To: "usp/agent"}))
	if !errors.Is(err, usp.ErrNoTransport) || !errors.Is(err, usp.ErrInvalidOption) {
		t.Errorf("agent without transport: %v", err)
	}
}
