package usp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// BrokerHandler answers the Register and Deregister requests that USP
// Services send to a USP Broker (TR-369 1.3+). Install one with
// [WithBrokerHandler], or use the ready [Registry].
//
// svc is the Service's handle: the Broker can send it requests through it,
// but only once its answer is out (see [AfterRegisterer]); a request sent
// from inside Register would wait for a Service that is waiting for the
// RegisterResp.
//
// A returned *msg.Error is sent to the Service as is (e.g. code 7028 with
// per-path ParamErrs); any other error, a nil response, a nil *msg.Error
// and a panic are all sent as 7003 (internal error): nothing a handler
// returns can stop the controller. An error wins over a response returned
// with it. When the Register has allow_partial false and the returned
// RegisterResp reports a failed path, the Service gets an Error message
// (7028, with one ParamErr per failed path) instead, as TR-369 requires;
// such a handler should then keep none of the paths, which [Registry]
// does.
//
// The controller calls its BrokerHandler methods (and those of
// [ServiceWatcher]) one at a time, in the order the requests and
// disconnections arrived, on a goroutine of its own; ctx ends when the
// controller closes.
type BrokerHandler interface {
	Register(ctx context.Context, svc *Agent, req *msg.Register) (*msg.RegisterResp, error)
	Deregister(ctx context.Context, svc *Agent, req *msg.Deregister) (*msg.DeregisterResp, error)
}

// AfterRegisterer is implemented by a [BrokerHandler] that acts once a
// Service has its RegisterResp, typically asking it for its supported data
// model (svc.GetSupportedDM), as a USP Broker does. AfterRegister runs on a
// goroutine of its own, so it may send requests to the Service and wait;
// it is not called when the answer was an Error message or could not be
// sent.
type AfterRegisterer interface {
	AfterRegister(ctx context.Context, svc *Agent, resp *msg.RegisterResp)
}

// ServiceWatcher is implemented by a [BrokerHandler] that must know when a
// Service goes away: its UDS or WebSocket session closed (or was replaced
// by a newer one), or it sent a Disconnect record. Its registrations are
// void from then on; a Service that comes back registers again.
// ServiceGone is called only for Services that were sent a RegisterResp,
// in order with the handler's other calls. A Service behind an MQTT or
// STOMP broker is seen leaving only when it sends a Disconnect record;
// when it registers again, [Registry] accepts the paths it already owns.
type ServiceWatcher interface {
	ServiceGone(ctx context.Context, svc *Agent, reason error)
}

// brokerState is what the controller keeps for its role as a USP Broker.
type brokerState struct {
	mu       sync.Mutex
	queue    []func()
	running  bool
	services map[string]bool // Services that were sent a RegisterResp
}

// brokerDo runs job after the broker jobs queued before it, on a goroutine
// the controller waits for at Close.
func (c *Controller) brokerDo(job func()) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	b := &c.brokerSt
	b.mu.Lock()
	b.queue = append(b.queue, job)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.brokerRun()
	}
}

func (c *Controller) brokerRun() {
	defer c.wg.Done()
	b := &c.brokerSt
	for {
		b.mu.Lock()
		if len(b.queue) == 0 || c.ctx.Err() != nil {
			b.queue, b.running = nil, false
			b.mu.Unlock()
			return
		}
		job := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.mu.Unlock()
		job()
	}
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
	c.brokerDo(func() { c.answerBroker(a, id, req, inSession) })
}

// answerBroker runs the handler for one request and sends its answer.
func (c *Controller) answerBroker(a *agentState, id string, req msg.Message, inSession bool) {
	svc := c.Agent(a.id)
	out, reg := c.callBroker(svc, id, req)
	// The Service is known to have registered before its answer leaves:
	// once it has the RegisterResp it may go at once, and its going must
	// find it here.
	_, watching := c.cfg.broker.(ServiceWatcher)
	b := &c.brokerSt
	if reg != nil && watching {
		b.mu.Lock()
		if b.services == nil {
			b.services = make(map[string]bool)
		}
		b.services[a.id] = true
		b.mu.Unlock()
	}
	// Not c.ctx: Close lets an answer in progress go out.
	if err := c.sendMsg(context.Background(), a, out, inSession); err != nil {
		c.log.Warn("could not answer service", "service", a.id, "msg_id", id, "err", err)
		return
	}
	if reg == nil {
		return
	}
	after, ok := c.cfg.broker.(AfterRegisterer)
	if !ok {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		if err := safely(func() { after.AfterRegister(c.ctx, svc, reg) }); err != nil {
			c.log.Error("broker handler failed", "service", a.id, "err", err)
		}
	}()
}

// callBroker runs the handler and builds the answer: the response, or an
// Error message for anything else. reg is the RegisterResp that was sent,
// if the request was a Register that got one.
func (c *Controller) callBroker(svc *Agent, id string, req msg.Message) (out *uspmsg.Msg, reg *msg.RegisterResp) {
	h := c.cfg.broker
	var herr error
	switch r := req.(type) {
	case *msg.Register:
		var rr *msg.RegisterResp
		herr = callSafely(func() (err error) { rr, err = h.Register(c.ctx, svc, r); return err })
		switch {
		case herr != nil:
		case rr == nil:
			herr = errors.New("broker handler returned no RegisterResp and no error")
		case !r.AllowPartial && len(rr.Failed()) > 0:
			// TR-369: without allow_partial, one failed path fails the
			// whole Register with an Error message.
			return allOrNothing(rr).Build(id), nil
		default:
			if herr = safely(func() { out = rr.Build(id) }); herr == nil {
				return out, rr
			}
		}
	case *msg.Deregister:
		var dr *msg.DeregisterResp
		herr = callSafely(func() (err error) { dr, err = h.Deregister(c.ctx, svc, r); return err })
		switch {
		case herr != nil:
		case dr == nil:
			herr = errors.New("broker handler returned no DeregisterResp and no error")
		default:
			if herr = safely(func() { out = dr.Build(id) }); herr == nil {
				return out, nil
			}
		}
	default:
		herr = fmt.Errorf("unexpected %T", req)
	}
	return handlerError(herr).Build(id), nil
}

// allOrNothing turns a RegisterResp with failed paths into the Error
// message TR-369 asks for when allow_partial is false.
func allOrNothing(rr *msg.RegisterResp) *msg.Error {
	e := &msg.Error{Code: msg.CodeRegisterFailure, Message: "registration failed and allow_partial is false: no path was registered"}
	for _, f := range rr.Failed() {
		e.ParamErrs = append(e.ParamErrs, msg.ParamError{Path: f.Requested, Code: f.Err.Code, Message: f.Err.Message})
	}
	return e
}

// handlerError turns what a handler returned into the Error message sent
// for it; a nil *msg.Error hidden in the error interface is an internal
// error too.
func handlerError(err error) *msg.Error {
	var e *msg.Error
	if errors.As(err, &e) {
		if e != nil {
			return e
		}
		return &msg.Error{Code: msg.CodeInternal, Message: "broker handler returned a nil *msg.Error"}
	}
	var text string
	if perr := safely(func() { text = err.Error() }); perr != nil {
		text = perr.Error()
	}
	return &msg.Error{Code: msg.CodeInternal, Message: text}
}

// callSafely runs a handler method, turning a panic into its error.
func callSafely(f func() error) error {
	var err error
	if perr := safely(func() { err = f() }); perr != nil {
		return perr
	}
	return err
}

// safely runs f, turning a panic into an error.
func safely(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("usp: broker handler panicked: %v", r)
		}
	}()
	f()
	return nil
}

// serviceGone tells the broker handler that a Service that registered
// paths went away.
func (c *Controller) serviceGone(id string, reason error) {
	w, ok := c.cfg.broker.(ServiceWatcher)
	if !ok {
		return
	}
	b := &c.brokerSt
	b.mu.Lock()
	known := b.services[id]
	delete(b.services, id)
	b.mu.Unlock()
	if !known {
		return
	}
	svc := c.Agent(id)
	c.brokerDo(func() {
		if err := safely(func() { w.ServiceGone(c.ctx, svc, reason) }); err != nil {
			c.log.Error("broker handler failed", "service", id, "err", err)
		}
	})
}
