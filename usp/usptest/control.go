package usptest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/proto"
)

// Request is a message from a controller as a [ControlFunc] sees it: every
// message that is not a response (Get, Set, ..., and also the Notify,
// Register or Deregister the model would refuse).
type Request struct {
	// From is the endpoint ID of the controller that sent it.
	From string
	// Msg is the message as received. Control functions must not modify
	// it: [Agent.Received] holds the same value.
	Msg *uspmsg.Msg
}

// Type returns the request's msg_type.
func (r Request) Type() uspmsg.Header_MsgType { return r.Msg.GetHeader().GetMsgType() }

// MsgID returns the request's msg_id.
func (r Request) MsgID() string { return r.Msg.GetHeader().GetMsgId() }

// ControlFunc decides what the agent does with one request, before its
// model sees it. It returns handled=false to pass the request on (to the
// next control, then the [Faults], then the model); handled=true with a
// non-nil answer sends answer.Build(msg_id of the request) (a *msg.Error
// answers with an Error message); handled=true with a nil answer drops the
// request: nothing is answered, nothing changes.
//
// Control functions run on the agent's worker, one request at a time, so
// they need no locking against each other; a function that blocks holds
// up every later request, as behind a slow device.
type ControlFunc func(req Request) (answer msg.Message, handled bool)

// Control is one interception of requests added by [Agent.Control] or
// [Agent.Intercept]. Its setters return the Control, to be chained:
//
//	agent.Intercept(uspmsg.Header_SET).Fail(msg.CodeRequestDenied, "read-only box").Times(1)
//
// A Control counts the requests it matched whether or not it handled
// them, so [Control.Calls] and [Control.Wait] also serve to count or await
// a request type without changing the answer. Its methods are safe for
// concurrent use.
type Control struct {
	a     *Agent
	match func(Request) bool

	mu     sync.Mutex
	fn     ControlFunc
	delay  time.Duration
	times  int // matches left before the control removes itself; <0 means no limit
	calls  int
	reqs   []Request
	wakeup chan struct{} // closed and replaced on every call
}

// Control adds fn in front of the agent's model: it sees every request
// that no earlier control handled, in the order the controls were added.
// The returned [Control] removes it again, counts the requests fn saw,
// and can add a delay.
func (a *Agent) Control(fn ControlFunc) *Control {
	return a.addControl(func(Request) bool { return true }, fn)
}

// Intercept adds a [Control] for requests of the given types (all
// requests when none is given). Until [Control.Answer], [Control.Fail],
// [Control.Drop] or [Control.Func] says otherwise it only counts them and
// passes them on, so that
//
//	gets := agent.Intercept(uspmsg.Header_GET)
//	...
//	n := gets.Calls()
//
// counts the Gets the code under test sent.
func (a *Agent) Intercept(types ...uspmsg.Header_MsgType) *Control {
	types = slices.Clone(types)
	return a.addControl(func(r Request) bool {
		return len(types) == 0 || slices.Contains(types, r.Type())
	}, nil)
}

func (a *Agent) addControl(match func(Request) bool, fn ControlFunc) *Control {
	c := &Control{a: a, match: match, fn: fn, times: -1, wakeup: make(chan struct{})}
	a.ctlMu.Lock()
	a.controls = append(a.controls, c)
	a.ctlMu.Unlock()
	return c
}

// Func sets what the control does with the requests it matches (see
// [ControlFunc]); it replaces Answer, Fail and Drop.
func (c *Control) Func(fn ControlFunc) *Control {
	c.mu.Lock()
	c.fn = fn
	c.mu.Unlock()
	return c
}

// Answer makes the control answer every request it matches with m,
// given the request's msg_id: a response (msg.GetResp{...}), a *msg.Error,
// or [Raw] for a message sent exactly as built.
func (c *Control) Answer(m msg.Message) *Control {
	return c.Func(func(Request) (msg.Message, bool) { return m, true })
}

// Fail makes the control answer every request it matches with an Error
// message of the given code, without the model seeing it.
func (c *Control) Fail(code msg.Code, message string) *Control {
	return c.Answer(&msg.Error{Code: code, Message: message})
}

// Drop makes the control lose every request it matches: no answer, no
// change, as if it never arrived.
func (c *Control) Drop() *Control {
	return c.Func(func(Request) (msg.Message, bool) { return nil, true })
}

// Delay makes the agent wait d before it handles each request the control
// matches (its own answer or, when it passes the request on, whatever
// answers it next). The agent handles one request at a time, so later
// requests wait too. A Close of the agent ends the wait.
func (c *Control) Delay(d time.Duration) *Control {
	c.mu.Lock()
	c.delay = max(d, 0)
	c.mu.Unlock()
	return c
}

// Times limits the control to the next n requests it matches; after the
// nth it removes itself. n <= 0 removes it now.
func (c *Control) Times(n int) *Control {
	c.mu.Lock()
	c.times = max(n, 0)
	done := c.times == 0
	c.mu.Unlock()
	if done {
		c.Remove()
	}
	return c
}

// Remove takes the control out: later requests no longer see it. The
// counts stay readable.
func (c *Control) Remove() {
	a := c.a
	a.ctlMu.Lock()
	a.controls = slices.DeleteFunc(a.controls, func(x *Control) bool { return x == c })
	a.ctlMu.Unlock()
}

// Calls returns how many requests the control has matched.
func (c *Control) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// Requests returns copies of the requests the control has matched, in
// order (the last 1024 at most).
func (c *Control) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Request, len(c.reqs))
	for i, r := range c.reqs {
		out[i] = Request{From: r.From, Msg: proto.CloneOf(r.Msg)}
	}
	return out
}

// Wait waits until the control has matched at least n requests, or ctx
// ends.
func (c *Control) Wait(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, wake := c.calls, c.wakeup
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("usptest: %d of %d requests seen: %w", got, n, context.Cause(ctx))
		}
	}
}

// maxControlRequests bounds what a control keeps for [Control.Requests].
const maxControlRequests = 1024

// take records a match and returns what to do with it; ok is false when
// the control was used up by concurrent matches in the meantime.
func (c *Control) take(r Request) (fn ControlFunc, delay time.Duration, last, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.times == 0 {
		return nil, 0, false, false
	}
	if c.times > 0 {
		c.times--
		last = c.times == 0
	}
	c.calls++
	if len(c.reqs) == maxControlRequests {
		c.reqs = slices.Delete(c.reqs, 0, maxControlRequests/2)
	}
	c.reqs = append(c.reqs, r)
	close(c.wakeup)
	c.wakeup = make(chan struct{})
	return c.fn, c.delay, last, true
}

// control runs the controls on one request. It returns handled=true with
// the answer to send (nil: none), or handled=false to let the model
// answer; stopped reports that the agent closed during a delay.
func (a *Agent) control(r Request) (answer *uspmsg.Msg, handled, stopped bool) {
	a.ctlMu.Lock()
	ctls := slices.Clone(a.controls)
	a.ctlMu.Unlock()
	for _, c := range ctls {
		if !c.match(r) {
			continue
		}
		fn, delay, last, ok := c.take(r)
		if !ok {
			continue
		}
		if last {
			c.Remove()
		}
		if delay > 0 && !a.sleep(delay) {
			return nil, true, true
		}
		if fn == nil {
			continue
		}
		m, handled := fn(r)
		if !handled {
			continue
		}
		if m == nil {
			return nil, true, false
		}
		return m.Build(r.MsgID()), true, false
	}
	return nil, false, false
}

// Raw returns a [msg.Message] that builds m itself, whatever msg_id it is
// built with: for answers a well-behaved agent would never send (a wrong
// msg_id, a response of the wrong type).
func Raw(m *uspmsg.Msg) msg.Message { return rawMsg{m} }

type rawMsg struct{ m *uspmsg.Msg }

func (r rawMsg) MsgType() uspmsg.Header_MsgType { return r.m.GetHeader().GetMsgType() }
func (r rawMsg) Build(string) *uspmsg.Msg       { return proto.CloneOf(r.m) }

// Send sends m to a controller in a NoSessionContext record, the way the
// agent sends its notifications: to the controller's address from
// [WithController], else to where its last record came from. Tests use it
// for messages the model would not send on its own (a Notify with a chosen
// msg_id, a retransmission, a response to a request nobody made).
func (a *Agent) Send(ctx context.Context, controllerID string, m *uspmsg.Msg) error {
	if err := a.running(); err != nil {
		return err
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("usptest: encoding message: %w", err)
	}
	done := make(chan struct{})
	var serr error
	a.enqueue(func() {
		defer close(done)
		r, ok := a.routeTo(controllerID)
		if !ok {
			serr = fmt.Errorf("%w: %s", ErrNoRoute, controllerID)
			return
		}
		serr = a.sendPayload(r, controllerID, payload)
	})
	if err := a.wait(ctx, done); err != nil {
		return err
	}
	return serr
}
