package usp_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
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

// A Subscription without a Handler keeps a bounded buffer. When the
// controller's own handlers take every notification, a full buffer loses
// its oldest entries rather than refusing: refusing would leave the agent
// retrying for ever notifications the program already has.
func TestSubscriptionBufferPolicy(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ctrlHandler  bool
		wantAnswered int
	}{
		{"controller handler takes them: oldest dropped", true, 3},
		{"subscription alone: refused until read", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The last notification's verdict: the iteration below must
			// not start while it is still being handled, or the room it
			// makes lets n-3 in.
			settled := &verdictHook{msgID: "n-3", done: make(chan struct{})}
			opts := []usptest.PairOption{usptest.WithControllerOptions(usp.WithHooks(settled))}
			if tc.ctrlHandler {
				opts = append(opts, usptest.WithControllerOptions(usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil })))
			}
			p := usptest.NewPair(t, opts...)
			ctx := ctxT(t)
			sub, err := p.Agent.Subscribe(ctx, usp.SubscriptionSpec{NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}, Buffer: 2})
			require.NoError(t, err)
			for _, id := range []string{"n-1", "n-2", "n-3"} {
				n := msg.Notify{SubscriptionID: sub.ID(), SendResp: true, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}
				require.NoError(t, p.Fake.Send(ctx, usptest.PairControllerID, n.Build(id)))
			}
			answered := func() int {
				k := 0
				for _, r := range p.Fake.Received() {
					if r.Msg.GetHeader().GetMsgType() == uspmsg.Header_NOTIFY_RESP && strings.HasPrefix(r.Msg.GetHeader().GetMsgId(), "n-") {
						k++
					}
				}
				return k
			}
			require.Eventually(t, func() bool { return answered() == tc.wantAnswered }, 5*time.Second, 5*time.Millisecond)
			select {
			case <-settled.done:
			case <-time.After(5 * time.Second):
				t.Fatal("n-3 was never accepted or refused")
			}
			// Later ones would have had time to arrive: the count stays.
			require.NoError(t, p.Fake.Send(ctx, usptest.PairControllerID, msg.GetResp{}.Build("sync"))) // a round trip through the agent's queue
			assert.Equal(t, tc.wantAnswered, answered())

			var got []string
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			for n, err := range sub.Notifications(short) {
				if err != nil {
					break
				}
				got = append(got, n.MsgID)
			}
			if tc.ctrlHandler {
				assert.Equal(t, []string{"n-2", "n-3"}, got)
			} else {
				assert.Equal(t, []string{"n-1", "n-2"}, got)
			}
		})
	}
}

// verdictHook closes done once the controller accepted or refused the
// notification msgID.
type verdictHook struct {
	msgID string
	done  chan struct{}
	once  sync.Once
}

func (h *verdictHook) OnNotify(ev usp.NotifyEvent) {
	if ev.MsgID == h.msgID && (ev.Stage == usp.NotifyAccepted || ev.Stage == usp.NotifyRefused) {
		h.once.Do(func() { close(h.done) })
	}
}

// rejectingEP is a memory endpoint that can reject peers, like a WebSocket
// server; countingTransport wraps it as a user's middleware would.
type rejectingEP struct {
	*memory.Endpoint
	rejected chan string
}

func (r *rejectingEP) Reject(peerID, _ string) error { r.rejected <- peerID; return nil }

type countingTransport struct {
	mtp.Transport
	inner mtp.Transport
}

func (c countingTransport) Unwrap() mtp.Transport { return c.inner }

// A wrapper that only offers Unwrap does not hide the rejection of a peer
// that sends garbage.
func TestWrappedTransportKeepsRejection(t *testing.T) {
	net := memory.NewNetwork()
	ep, err := net.Endpoint("proto::wrapped-controller")
	require.NoError(t, err)
	inner := &rejectingEP{Endpoint: ep, rejected: make(chan string, 1)}
	c, err := usp.NewController("proto::wrapped-controller", usp.WithTransport(countingTransport{Transport: inner, inner: inner}))
	require.NoError(t, err)
	require.NoError(t, c.Start(ctxT(t)))
	t.Cleanup(func() { _ = c.Close(context.Background()) })

	require.NoError(t, net.Inject("proto::garbage-agent", "proto::wrapped-controller", []byte("\xff not a record")))
	select {
	case peer := <-inner.rejected:
		assert.Equal(t, "proto::garbage-agent", peer)
	case <-ctxT(t).Done():
		t.Fatal("the peer was not rejected through the wrapper")
	}
}
