package usptest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInterceptAnswerAndTimes(t *testing.T) {
	ctx := ctx5(t)
	p := usptest.NewPair(t)
	canned := msg.GetResp{Results: []msg.GetResult{{
		Requested: "Device.DeviceInfo.SoftwareVersion",
		Resolved:  []msg.Resolved{{Path: "Device.DeviceInfo.", Params: map[string]string{"SoftwareVersion": "canned"}}},
	}}}
	gets := p.Fake.Intercept(uspmsg.Header_GET).Answer(canned).Times(1)

	v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
	require.NoError(t, err)
	assert.Equal(t, "canned", v, "the control answers the first Get")

	v, err = p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", v, "after Times(1) the model answers again")
	assert.Equal(t, 1, gets.Calls())
	require.Len(t, gets.Requests(), 1)
	assert.Equal(t, usptest.PairControllerID, gets.Requests()[0].From)
}

func TestInterceptFailLeavesModelAlone(t *testing.T) {
	ctx := ctx5(t)
	p := usptest.NewPair(t)
	sets := p.Fake.Intercept(uspmsg.Header_SET).Fail(msg.CodeRequestDenied, "maintenance window")

	_, err := p.Agent.SetValues(ctx, "Device.DeviceInfo.", map[string]string{"ProvisioningCode": "x"})
	require.ErrorIs(t, err, msg.ErrRequestDenied)
	got, err := p.Fake.Model().Get("Device.DeviceInfo.ProvisioningCode")
	require.NoError(t, err)
	assert.Empty(t, got, "a failed Set must not reach the model")

	sets.Remove()
	_, err = p.Agent.SetValues(ctx, "Device.DeviceInfo.", map[string]string{"ProvisioningCode": "x"})
	require.NoError(t, err)
	assert.Equal(t, 1, sets.Calls(), "a removed control counts nothing more")
}

func TestInterceptCountsWithoutChanging(t *testing.T) {
	ctx := ctx5(t)
	p := usptest.NewPair(t)
	all := p.Fake.Intercept()
	gets := p.Fake.Intercept(uspmsg.Header_GET)
	for range 3 {
		_, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
		require.NoError(t, err)
	}
	_, err := p.Agent.GetInstances(ctx, msg.GetInstances{Paths: []string{"Device.WiFi.SSID."}})
	require.NoError(t, err)
	require.NoError(t, gets.Wait(ctx, 3))
	assert.Equal(t, 3, gets.Calls())
	assert.Equal(t, 4, all.Calls())
}

func TestInterceptDropAndDelay(t *testing.T) {
	p := usptest.NewPair(t)
	p.Fake.Intercept(uspmsg.Header_GET).Drop().Times(1)
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := p.Agent.GetValue(short, "Device.DeviceInfo.SoftwareVersion")
	require.ErrorIs(t, err, context.DeadlineExceeded, "a dropped request is never answered")

	// A delay alone passes the request on to the model once it is over.
	ctx := ctx5(t)
	slow := p.Fake.Intercept(uspmsg.Header_GET).Delay(50 * time.Millisecond)
	start := time.Now()
	v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", v)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	assert.Equal(t, 1, slow.Calls())
}

func TestControlFuncOrderAndRaw(t *testing.T) {
	ctx := ctx5(t)
	p := usptest.NewPair(t)
	// The first control passes everything but GetInstances on; the second
	// answers Gets with a response of the wrong type, which the controller
	// must refuse rather than misread.
	first := p.Fake.Control(func(r usptest.Request) (msg.Message, bool) {
		if r.Type() == uspmsg.Header_GET_INSTANCES {
			return msg.Errorf(msg.CodeInternal, "first control"), true
		}
		return nil, false
	})
	p.Fake.Control(func(r usptest.Request) (msg.Message, bool) {
		if r.Type() != uspmsg.Header_GET {
			return nil, false
		}
		return usptest.Raw(msg.SetResp{}.Build(r.MsgID())), true
	})
	_, err := p.Agent.GetInstances(ctx, msg.GetInstances{Paths: []string{"Device.WiFi.SSID."}})
	require.ErrorIs(t, err, msg.ErrInternal)
	_, err = p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
	require.Error(t, err)
	var me *msg.Error
	assert.False(t, errors.As(err, &me) && me.Code == 0, "wrong response type must fail the call: %v", err)
	assert.Equal(t, 2, first.Calls(), "the first control saw both requests")
}

func TestSendReachesController(t *testing.T) {
	ctx := ctx5(t)
	got := make(chan *usp.Notification, 1)
	p := usptest.NewPair(t, usptest.WithControllerOptions(usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
		if n.MsgID == "chosen-id" {
			got <- n
		}
		return nil
	})))
	notify := msg.Notify{SubscriptionID: "s-1", Notification: &msg.ValueChange{ParamPath: "Device.X", ParamValue: "1"}}
	require.NoError(t, p.Fake.Send(ctx, usptest.PairControllerID, notify.Build("chosen-id")))
	select {
	case n := <-got:
		assert.Equal(t, "s-1", n.SubscriptionID)
	case <-ctx.Done():
		t.Fatal("notification sent with Send never arrived")
	}
	require.ErrorIs(t, p.Fake.Send(ctx, "proto::nobody", notify.Build("x")), usptest.ErrNoRoute)
}

func TestControlDelayEndsOnClose(t *testing.T) {
	p := usptest.NewPair(t)
	slow := p.Fake.Intercept(uspmsg.Header_GET).Delay(time.Hour)
	callCtx, cancelCall := context.WithCancel(context.Background())
	defer cancelCall()
	errc := make(chan error, 1)
	go func() {
		_, err := p.Agent.GetValue(callCtx, "Device.DeviceInfo.SoftwareVersion")
		errc <- err
	}()
	ctx := ctx5(t)
	require.NoError(t, slow.Wait(ctx, 1)) // the Get is in its delay now
	// Close must not wait an hour for the delayed request.
	require.NoError(t, p.Fake.Close(ctx))
	cancelCall() // the closed agent answers nothing
	require.ErrorIs(t, <-errc, context.Canceled)
}
