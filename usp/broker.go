package usp

import (
	"context"
	"errors"
	"fmt"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// BrokerHandler answers the Register and Deregister requests that USP
// Services send to a USP Broker (TR-369 1.3+). Install one with
// [WithBrokerHandler]. A returned *msg.Error is sent to the service as is
// (e.g. code 7029 when a path is registered by another service); any other
// error is sent as 7003 (internal error). The methods run on the
// service's intake worker, one request of a service at a time; ctx ends
// when the controller closes.
type BrokerHandler interface {
	Register(ctx context.Context, serviceID string, req *msg.Register) (*msg.RegisterResp, error)
	Deregister(ctx context.Context, serviceID string, req *msg.Deregister) (*msg.DeregisterResp, error)
}

// handleBroker answers a Register or Deregister from a USP Service.
func (c *Controller) handleBroker(a *agentState, m *uspmsg.Msg, inSession bool) {
	id := m.GetHeader().GetMsgId()
	if c.cfg.broker == nil {
		e := &msg.Error{Code: msg.CodeNotSupported, Message: "this controller is not a USP Broker: it does not accept " + m.GetHeader().GetMsgType().String()}
		c.reply(a, e.Build(id), inSession)
		return
	}
	req, err := msg.Parse(m)
	if err != nil {
		e := &msg.Error{Code: msg.CodeInvalidArguments, Message: err.Error()}
		c.reply(a, e.Build(id), inSession)
		return
	}
	// On the service's intake worker: its requests are answered in order,
	// and a slow handler holds up only this service.
	var resp interface{ Build(string) *uspmsg.Msg }
	var herr error
	switch r := req.(type) {
	case *msg.Register:
		var rr *msg.RegisterResp
		rr, herr = safeBroker(func() (*msg.RegisterResp, error) { return c.cfg.broker.Register(c.ctx, a.id, r) })
		if herr == nil {
			resp = rr
		}
	case *msg.Deregister:
		var dr *msg.DeregisterResp
		dr, herr = safeBroker(func() (*msg.DeregisterResp, error) { return c.cfg.broker.Deregister(c.ctx, a.id, r) })
		if herr == nil {
			resp = dr
		}
	default:
		herr = fmt.Errorf("unexpected %T", req)
	}
	if herr == nil && resp == nil {
		herr = errors.New("broker handler returned no response")
	}
	if herr != nil {
		var e *msg.Error
		if !errors.As(herr, &e) {
			e = &msg.Error{Code: msg.CodeInternal, Message: herr.Error()}
		}
		c.reply(a, e.Build(id), inSession)
		return
	}
	c.reply(a, resp.Build(id), inSession)
}

// safeBroker runs a broker handler method, turning a panic into an error.
func safeBroker[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("usp: broker handler panicked: %v", r)
		}
	}()
	return f()
}
