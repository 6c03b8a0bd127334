package usp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
)

// Hook is a value given to [WithHooks]. It implements any subset of the
// hook interfaces: [RequestStartHook], [RequestEndHook], [NotifyHook],
// [AgentHook], [RecordHook], [TransportHook], [IntakeHooks],
// [SessionHooks], or the older [Hooks]. The controller finds out which
// with a type assertion once, in [NewController]; a value that implements
// none of them is refused there. New hook interfaces can be added later
// without breaking anyone, since none is required.
type Hook any

// RequestStartHook sees a request to an agent that expects an answer
// (every [Agent] call but an Operate without send_resp) before it is
// sent. The
// context it returns is the one the request carries from then on (a tracer
// starts a span and returns a context holding it) and the one
// [RequestEndHook] receives; returning the context given keeps it.
type RequestStartHook interface {
	OnRequestStart(ctx context.Context, req RequestStart) context.Context
}

// RequestEndHook sees a request's outcome: every request whose
// [RequestStartHook] call was made gets exactly one end.
type RequestEndHook interface {
	OnRequestEnd(ctx context.Context, req RequestEnd)
}

// NotifyHook sees each notification as it moves through the controller;
// see [NotifyStage] for the order.
type NotifyHook interface {
	OnNotify(ev NotifyEvent)
}

// AgentHook sees the changes of the agents the controller knows: the
// [AgentEvent] kinds, plus [AgentLearned] and [AgentEvicted].
type AgentHook interface {
	OnAgentChange(ev AgentChange)
}

// RecordHook sees every record received from and sent to the transports,
// with its size.
type RecordHook interface {
	OnRecord(ev RecordEvent)
}

// TransportHook sees the controller's transports come up and go down.
type TransportHook interface {
	OnTransport(ev TransportEvent)
}

// RequestStart describes a request about to be sent.
type RequestStart struct {
	AgentID string
	Type    uspmsg.Header_MsgType
	MsgID   string
	Start   time.Time
}

// RequestEnd describes how a request ended.
type RequestEnd struct {
	RequestStart
	// Outcome classifies Err, for metrics labels.
	Outcome RequestOutcome
	// Answered says an answer arrived; Response is then its type (ERROR
	// for an Error message, which is the zero value).
	Answered bool
	Response uspmsg.Header_MsgType
	// Code is the USP error code of Err (the agent's Error message, or
	// the code the controller gave a failure); 0 when there is none.
	Code msg.Code
	// Err is what the call returned: nil, a *msg.Error, a transport
	// error, a context error, ...
	Err      error
	Duration time.Duration
}

// RequestOutcome classifies how a request ended.
type RequestOutcome uint8

// Request outcomes.
const (
	// OutcomeOK: the agent answered with the expected response.
	OutcomeOK RequestOutcome = iota + 1
	// OutcomeAgentError: the agent answered with an Error message.
	OutcomeAgentError
	// OutcomeSendFailed: the request could not be handed to the
	// transport.
	OutcomeSendFailed
	// OutcomeTimeout: the request's context deadline passed first.
	OutcomeTimeout
	// OutcomeCanceled: the request's context was canceled first.
	OutcomeCanceled
	// OutcomeFailed: anything else (transport lost, agent gone, an
	// answer of the wrong kind, the controller closed).
	OutcomeFailed
)

func (o RequestOutcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeAgentError:
		return "agent_error"
	case OutcomeSendFailed:
		return "send_failed"
	case OutcomeTimeout:
		return "timeout"
	case OutcomeCanceled:
		return "canceled"
	case OutcomeFailed:
		return "failed"
	}
	return "unknown"
}

// NotifyStage says where a notification is; one notification is reported
// at several stages, in this order: Received, then Duplicate when it is a
// retransmission, then Accepted or Refused, then Answered when a
// NotifyResp went out. Dropped ends a Notify that cannot be handled.
type NotifyStage uint8

// Notification stages.
const (
	// NotifyReceived: a Notify was decoded.
	NotifyReceived NotifyStage = iota + 1
	// NotifyDuplicate: it repeats a msg_id the controller saw recently.
	NotifyDuplicate
	// NotifyAccepted: every handler accepted it (or it was answered
	// before).
	NotifyAccepted
	// NotifyRefused: a handler returned an error; it stays unanswered so
	// that the agent sends it again. Err is the handler's error.
	NotifyRefused
	// NotifyAnswered: its NotifyResp was sent.
	NotifyAnswered
	// NotifyDropped: it was invalid or could not be answered. Err says
	// why.
	NotifyDropped
)

func (s NotifyStage) String() string {
	switch s {
	case NotifyReceived:
		return "received"
	case NotifyDuplicate:
		return "duplicate"
	case NotifyAccepted:
		return "accepted"
	case NotifyRefused:
		return "refused"
	case NotifyAnswered:
		return "answered"
	case NotifyDropped:
		return "dropped"
	}
	return "unknown"
}

// NotifyEvent describes a notification at one [NotifyStage].
type NotifyEvent struct {
	Stage          NotifyStage
	AgentID        string
	MsgID          string
	SubscriptionID string
	// Type is the notification's kind ("ValueChange", "Event", ...;
	// empty when it could not be decoded).
	Type string
	Err  error
}

// AgentChange describes a change of an agent the controller knows.
type AgentChange struct {
	Kind    AgentEventKind
	AgentID string
	Address mtp.Address
	// Reason says why an agent disconnected, when known.
	Reason error
}

// Direction says whether a record came in or went out.
type Direction uint8

// Record directions.
const (
	In Direction = iota + 1
	Out
)

func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return "unknown"
}

// RecordEvent describes one record received or sent.
type RecordEvent struct {
	Direction Direction
	MTP       mtp.Kind
	// AgentID is the record's to_id going out; coming in, the peer the
	// transport authenticated or else the from_id the record claims
	// (empty if it has none that can be read).
	AgentID string
	Size    int
}

// TransportEvent says a transport came up or went down.
type TransportEvent struct {
	MTP mtp.Kind
	Up  bool
	Err error // why it went down, when known
}

// Hooks observes the controller, for metrics and tracing. The methods are
// called synchronously on the controller's goroutines and must be quick.
// Embed [NopHooks] to implement only some of them.
//
// Deprecated: implement the optional hook interfaces ([RequestEndHook],
// [RecordHook], ...) instead; they carry a context and more detail. A
// Hooks value given to [WithHooks] keeps working: its methods are called
// from [RecordHook] and [RequestEndHook] events, unless the same value
// implements those interfaces itself.
type Hooks interface {
	// RecordSent is called after a record went out.
	RecordSent(kind mtp.Kind, size int)
	// RecordReceived is called for every record a transport delivers,
	// before it is decoded.
	RecordReceived(kind mtp.Kind, size int)
	// RequestDone is called when a request to an agent ends, with its
	// outcome (nil, a *msg.Error, a timeout, ...).
	RequestDone(agentID string, req uspmsg.Header_MsgType, took time.Duration, err error)
}

// NopHooks implements [Hooks] and [IntakeHooks] by doing nothing.
//
// Deprecated: the hook interfaces are optional; implement only those
// wanted.
type NopHooks struct{}

// RecordSent does nothing.
func (NopHooks) RecordSent(mtp.Kind, int) {}

// RecordReceived does nothing.
func (NopHooks) RecordReceived(mtp.Kind, int) {}

// RequestDone does nothing.
func (NopHooks) RequestDone(string, uspmsg.Header_MsgType, time.Duration, error) {}

// SessionHooks is an optional hook interface for transports with a
// session per peer (UDS, WebSocket): the controller calls SessionOpened
// when a peer's session opens, with the certificate it presented over TLS
// (nil otherwise), and SessionClosed when it ends, so that an audit log
// can record which certificate each agent used.
type SessionHooks interface {
	SessionOpened(kind mtp.Kind, peerID string, cert *mtp.PeerCert)
	SessionClosed(kind mtp.Kind, peerID string, err error)
}

// legacyHooks adapts a [Hooks] onto the record and request-end hooks.
type legacyRecords struct{ h Hooks }

func (l legacyRecords) OnRecord(ev RecordEvent) {
	if ev.Direction == In {
		l.h.RecordReceived(ev.MTP, ev.Size)
	} else {
		l.h.RecordSent(ev.MTP, ev.Size)
	}
}

type legacyRequests struct{ h Hooks }

func (l legacyRequests) OnRequestEnd(_ context.Context, r RequestEnd) {
	l.h.RequestDone(r.AgentID, r.Type, r.Duration, r.Err)
}

// hookSet holds the installed hooks sorted by interface, found once at
// construction, so that a call site with none installed costs a length
// check.
type hookSet struct {
	reqStart  []RequestStartHook
	reqEnd    []RequestEndHook
	notify    []NotifyHook
	agent     []AgentHook
	record    []RecordHook
	transport []TransportHook
	intake    []IntakeHooks
	session   []SessionHooks
}

// add sorts h into the set; false if h implements no hook interface.
func (s *hookSet) add(h Hook) bool {
	n := 0
	old, isOld := h.(Hooks)
	if x, ok := h.(RequestStartHook); ok {
		s.reqStart = append(s.reqStart, x)
		n++
	}
	if x, ok := h.(RequestEndHook); ok {
		s.reqEnd = append(s.reqEnd, x)
		n++
	} else if isOld {
		s.reqEnd = append(s.reqEnd, legacyRequests{old})
		n++
	}
	if x, ok := h.(RecordHook); ok {
		s.record = append(s.record, x)
		n++
	} else if isOld {
		s.record = append(s.record, legacyRecords{old})
		n++
	}
	if x, ok := h.(NotifyHook); ok {
		s.notify = append(s.notify, x)
		n++
	}
	if x, ok := h.(AgentHook); ok {
		s.agent = append(s.agent, x)
		n++
	}
	if x, ok := h.(TransportHook); ok {
		s.transport = append(s.transport, x)
		n++
	}
	if x, ok := h.(IntakeHooks); ok {
		s.intake = append(s.intake, x)
		n++
	}
	if x, ok := h.(SessionHooks); ok {
		s.session = append(s.session, x)
		n++
	}
	return n > 0
}

func (s *hookSet) requests() bool { return len(s.reqStart)+len(s.reqEnd) > 0 }

// hookPanicked, deferred around a hook call, keeps a panicking hook from
// taking the controller down (as [Controller.safely] does for callbacks,
// without a closure per call).
func (c *Controller) hookPanicked(what string) {
	if r := recover(); r != nil {
		c.log.Error("hook panicked", "hook", what, "panic", r, "stack", string(debug.Stack()))
	}
}

// requestStart calls the start hooks in order, each with the context the
// previous one returned.
func (c *Controller) requestStart(ctx context.Context, rs *RequestStart) context.Context {
	for _, h := range c.hooks.reqStart {
		ctx = c.callRequestStart(h, ctx, rs)
	}
	return ctx
}

func (c *Controller) callRequestStart(h RequestStartHook, ctx context.Context, rs *RequestStart) (out context.Context) {
	out = ctx
	defer c.hookPanicked("OnRequestStart")
	if n := h.OnRequestStart(ctx, *rs); n != nil {
		out = n
	}
	return out
}

// requestEnd reports a request's end to the end hooks.
func (c *Controller) requestEnd(ctx context.Context, rs *RequestStart, resp *uspmsg.Msg, sent bool, err error) {
	if len(c.hooks.reqEnd) == 0 {
		return
	}
	re := RequestEnd{RequestStart: *rs, Err: err, Duration: time.Since(rs.Start), Code: msg.CodeOf(err)}
	if resp != nil {
		re.Answered, re.Response = true, resp.GetHeader().GetMsgType()
	}
	var me *msg.Error
	switch {
	case err == nil:
		re.Outcome = OutcomeOK
	case !sent:
		re.Outcome = OutcomeSendFailed
	case errors.As(err, &me) && re.Answered && re.Response == uspmsg.Header_ERROR:
		re.Outcome = OutcomeAgentError
	case errors.Is(err, context.DeadlineExceeded):
		re.Outcome = OutcomeTimeout
	case errors.Is(err, context.Canceled):
		re.Outcome = OutcomeCanceled
	default:
		re.Outcome = OutcomeFailed
	}
	for _, h := range c.hooks.reqEnd {
		c.callRequestEnd(h, ctx, &re)
	}
}

func (c *Controller) callRequestEnd(h RequestEndHook, ctx context.Context, re *RequestEnd) {
	defer c.hookPanicked("OnRequestEnd")
	h.OnRequestEnd(ctx, *re)
}

// fireHooks calls each hook in hs with ev, in order, each recovered: the
// fan-out of every hook kind that takes one event.
func fireHooks[H, E any](c *Controller, what string, hs []H, call func(H, E), ev E) {
	for _, h := range hs {
		func() {
			defer c.hookPanicked(what)
			call(h, ev)
		}()
	}
}

func (c *Controller) notifyHook(ev NotifyEvent) {
	fireHooks(c, "OnNotify", c.hooks.notify, NotifyHook.OnNotify, ev)
}

func (c *Controller) agentHook(ev AgentChange) {
	fireHooks(c, "OnAgentChange", c.hooks.agent, AgentHook.OnAgentChange, ev)
}

// noteAgent queues an agent change seen with c.mu held (learned, evicted),
// for flushAgentNotes to report once c.mu is released: a hook may call
// back into the controller.
func (c *Controller) noteAgent(kind AgentEventKind, a *agentState) {
	if len(c.hooks.agent) > 0 {
		c.agentNotes = append(c.agentNotes, AgentChange{Kind: kind, AgentID: a.id, Address: a.addr})
	}
}

// flushAgentNotes reports the queued agent changes. c.mu must not be held.
func (c *Controller) flushAgentNotes() {
	if len(c.hooks.agent) == 0 {
		return
	}
	c.mu.Lock()
	notes := c.agentNotes
	c.agentNotes = nil
	c.mu.Unlock()
	for _, n := range notes {
		c.agentHook(n)
	}
}

func (c *Controller) recordHook(ev RecordEvent) {
	fireHooks(c, "OnRecord", c.hooks.record, RecordHook.OnRecord, ev)
}

func (c *Controller) transportHook(ev TransportEvent) {
	fireHooks(c, "OnTransport", c.hooks.transport, TransportHook.OnTransport, ev)
}

func (c *Controller) intakeRefusedHook(agentID string, kind mtp.Kind, size int) {
	for _, h := range c.hooks.intake {
		c.callIntakeRefused(h, agentID, kind, size)
	}
}

func (c *Controller) callIntakeRefused(h IntakeHooks, agentID string, kind mtp.Kind, size int) {
	defer c.hookPanicked("RecordRefused")
	h.RecordRefused(agentID, kind, size)
}

func (c *Controller) intakeWaitedHook(kind mtp.Kind, d time.Duration) {
	for _, h := range c.hooks.intake {
		c.callIntakeWaited(h, kind, d)
	}
}

func (c *Controller) callIntakeWaited(h IntakeHooks, kind mtp.Kind, d time.Duration) {
	defer c.hookPanicked("IntakeWaited")
	h.IntakeWaited(kind, d)
}

// sessionHook reports a PeerUp or PeerDown to the hooks that want it.
func (c *Controller) sessionHook(r *route, ev mtp.Event) {
	for _, h := range c.hooks.session {
		c.callSession(h, r.kind, &ev)
	}
}

func (c *Controller) callSession(h SessionHooks, kind mtp.Kind, ev *mtp.Event) {
	defer c.hookPanicked("SessionHooks")
	if ev.Kind == mtp.PeerUp {
		h.SessionOpened(kind, ev.PeerID, ev.PeerCert)
	} else {
		h.SessionClosed(kind, ev.PeerID, ev.Err)
	}
}

// errNoHook is what WithHooks says of a value that implements no hook
// interface.
func errNoHook(h Hook) error {
	return fmt.Errorf("%w: %T implements no hook interface", ErrInvalidOption, h)
}
