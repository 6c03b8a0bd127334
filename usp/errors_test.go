package usp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
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
	p := usptest.NewPair(t)
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
		p.Fake.Intercept(uspmsg.Header_GET).Fail(tc.code, "scripted").Times(1)
		_, err := p.Agent.GetValues(ctxT(t), "Device.DeviceInfo.")
		assert.Equal(t, tc.code, msg.CodeOf(err), "%v", err)
		assert.Equal(t, tc.want, usp.Retryable(err), "Retryable(%v)", err)
	}
}

func TestRetryableAfterTimeoutAndLoss(t *testing.T) {
	p := usptest.NewPair(t)
	p.Fake.Intercept().Drop() // a silent agent
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.Agent.GetValues(ctx, "Device.")
	assert.True(t, usp.Retryable(err), "timeout: %v not retryable", err)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = p.Agent.GetValues(ctx, "Device.")
	assert.False(t, usp.Retryable(err), "canceled: %v retryable", err)

	require.NoError(t, p.Network.Disconnect(usptest.PairControllerID, errors.New("cable cut")))
	_, err = p.Agent.GetValues(ctxT(t), "Device.")
	assert.ErrorIs(t, err, mtp.ErrNotConnected)
	assert.True(t, usp.Retryable(err), "while down: %v not retryable", err)
	require.NoError(t, p.Network.Reconnect(usptest.PairControllerID))
	_, err = p.Controller.Agent("proto::nobody").GetValues(ctxT(t), "Device.")
	assert.ErrorIs(t, err, usp.ErrUnknownAgent)
	assert.False(t, usp.Retryable(err), "unknown agent: %v retryable", err)
}

// TestSentinelsFromCalls checks that the controller's own failures carry
// the sentinel a caller branches on.
func TestSentinelsFromCalls(t *testing.T) {
	p := usptest.NewPair(t)
	adds := p.Fake.Intercept(uspmsg.Header_ADD).Drop() // subscriptions wait for ever
	p.Fake.Intercept(uspmsg.Header_GET).Answer(&msg.GetResp{Results: []msg.GetResult{{Requested: "Device.X.*.Y", Resolved: []msg.Resolved{
		{Path: "Device.X.1.", Params: map[string]string{"Y": "a"}},
		{Path: "Device.X.2.", Params: map[string]string{"Y": "b"}},
	}}}})
	c, a := p.Controller, p.Agent

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
	require.NoError(t, adds.Wait(ctxT(t), 1))
	if _, err := a.Subscribe(ctxT(t), spec); !errors.Is(err, usp.ErrExists) {
		t.Errorf("duplicate subscription: %v", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first subscription: %v", err)
	}

	// An agent configured on an MTP no transport serves.
	ep, err := p.Network.Endpoint("proto::other-controller")
	if err != nil {
		t.Fatal(err)
	}
	_, err = usp.NewController("proto::other-controller", usp.WithTransport(ep),
		usp.WithAgent("proto::mqtt-agent", mtp.Address{MTP: mtp.MQTT, To: "usp/agent"}))
	if !errors.Is(err, usp.ErrNoTransport) || !errors.Is(err, usp.ErrInvalidOption) {
		t.Errorf("agent without transport: %v", err)
	}
}
