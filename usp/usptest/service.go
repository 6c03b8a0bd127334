package usptest

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// Register plays a USP Service: it sends a Register to the controller
// controllerID (a USP Broker) and waits for its answer until ctx ends. An
// Error message comes back as a *msg.Error. The agent keeps answering the
// Broker's requests meanwhile, as a Service does: a Broker asks for the
// supported data model once it has registered the paths.
func (a *Agent) Register(ctx context.Context, controllerID string, req msg.Register) (*msg.RegisterResp, error) {
	v, err := a.request(ctx, controllerID, req)
	if err != nil {
		return nil, err
	}
	r, ok := v.(*msg.RegisterResp)
	if !ok {
		return nil, fmt.Errorf("usptest: Register answered with %T", v)
	}
	return r, nil
}

// Deregister plays a USP Service giving up paths, as [Agent.Register]
// registers them; the path "" gives up all of them.
func (a *Agent) Deregister(ctx context.Context, controllerID string, req msg.Deregister) (*msg.DeregisterResp, error) {
	v, err := a.request(ctx, controllerID, req)
	if err != nil {
		return nil, err
	}
	r, ok := v.(*msg.DeregisterResp)
	if !ok {
		return nil, fmt.Errorf("usptest: Deregister answered with %T", v)
	}
	return r, nil
}

// request sends a request of the agent's own to a controller and waits for
// the response with its msg_id.
func (a *Agent) request(ctx context.Context, controllerID string, req msg.Request) (msg.Message, error) {
	if err := a.running(); err != nil {
		return nil, err
	}
	r, ok := a.routeTo(controllerID)
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrNoRoute, controllerID)
	}
	id := a.nextMsgID(req.MsgType().String())
	payload, err := proto.Marshal(req.Build(id))
	if err != nil {
		return nil, fmt.Errorf("usptest: encoding %s: %w", req.MsgType(), err)
	}
	ch := make(chan *uspmsg.Msg, 1)
	a.mu.Lock()
	if a.calls == nil {
		a.calls = make(map[string]chan *uspmsg.Msg)
	}
	a.calls[id] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.calls, id)
		a.mu.Unlock()
	}()
	sent := make(chan error, 1)
	a.enqueue(func() { sent <- a.sendPayload(r, controllerID, payload) })
	select {
	case err := <-sent:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-a.stopped:
		return nil, ErrClosed
	}
	select {
	case m := <-ch:
		v, err := msg.Parse(m)
		if err != nil {
			return nil, fmt.Errorf("usptest: answer to %s: %w", req.MsgType(), err)
		}
		if e, ok := v.(*msg.Error); ok {
			return nil, e
		}
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-a.stopped:
		return nil, ErrClosed
	}
}

// answered hands a response to the request of the agent's own that waits
// for it, and reports whether one did.
func (a *Agent) answered(m *uspmsg.Msg) bool {
	a.mu.Lock()
	ch, ok := a.calls[m.GetHeader().GetMsgId()]
	delete(a.calls, m.GetHeader().GetMsgId())
	a.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}
