package usp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// The endpoint ID is written once: on the transport, which announces it.
func TestControllerTakesEndpointIDFromTransport(t *testing.T) {
	tr, err := mqtt.New("mqtt://127.0.0.1:1", "proto::from-transport", mqtt.WithTopic("usp/c"))
	require.NoError(t, err)
	ws, err := websocket.NewServer() // names no ID: does not count
	require.NoError(t, err)
	c, err := usp.NewController("", usp.WithTransport(ws), usp.WithTransport(tr))
	require.NoError(t, err)
	assert.Equal(t, "proto::from-transport", c.EndpointID())

	// Given both ways, they must agree.
	c, err = usp.NewController("proto::from-transport", usp.WithTransport(tr))
	require.NoError(t, err)
	assert.Equal(t, "proto::from-transport", c.EndpointID())
	_, err = usp.NewController("proto::other", usp.WithTransport(tr))
	require.ErrorIs(t, err, usp.ErrInvalidOption)
	assert.ErrorContains(t, err, "proto::from-transport")

	// Nothing names one: an error, as before.
	ep, err := memory.NewNetwork().Endpoint("mem")
	require.NoError(t, err)
	_, err = usp.NewController("", usp.WithTransport(ep))
	require.ErrorIs(t, err, usp.ErrInvalidOption)
}

// Operate options have the house shape: a bad one fails the call before
// anything is sent.
func TestOperateOptionRefused(t *testing.T) {
	p := usptest.NewPair(t)
	calls := p.Fake.Intercept(uspmsg.Header_OPERATE)
	_, err := p.Agent.StartOperation(ctxT(t), "Device.Reboot()", nil, usp.WithCommandKey("bad\xff"))
	require.ErrorIs(t, err, usp.ErrInvalidOption)
	assert.Zero(t, calls.Calls(), "nothing reached the agent")
}
