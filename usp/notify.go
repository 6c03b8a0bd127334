package usp

import (
	"context"
	"fmt"
	"hash/maphash"
	"iter"
	"sync"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// Notification is one Notify message from an agent.
type Notification struct {
	AgentID        string
	MsgID          string
	SubscriptionID string // empty for OnBoardRequest
	// SendResp reports whether the agent asked for a NotifyResp.
	SendResp bool
	// Body is the notification itself: *msg.Event, *msg.ValueChange,
	// *msg.ObjectCreation, *msg.ObjectDeletion, *msg.OperationComplete or
	// *msg.OnBoardRequest.
	Body msg.Notification
	// Duplicate reports a retransmission of a notification the handlers
	// have already seen (and not accepted, or not yet): a notification
	// that was queued, refused or lost before reaching them is not a
	// Duplicate when it comes again. Retransmissions of answered
	// notifications are answered again and not delivered.
	Duplicate bool
	Received  time.Time
}

// NotifyHandler handles notifications. It runs on an intake worker (see
// "Intake" in the package doc); notifications from one agent arrive in
// order, and while it runs, that agent's next ones wait (other agents'
// do not). Returning nil
// accepts the notification. When the agent asked for a response, the
// controller sends NotifyResp only after every handler (and the matching
// [Subscription], if any) accepted it; an error leaves it unanswered so
// that the agent sends it again: delivery is at least once. ctx ends when
// the controller closes.
type NotifyHandler func(ctx context.Context, n *Notification) error

// OnNotify adds a handler for every notification from every agent. The
// returned function removes it.
func (c *Controller) OnNotify(h NotifyHandler) (remove func()) {
	c.userHandlers.Add(1)
	rm := c.handlers.add(h)
	var once sync.Once
	return func() {
		once.Do(func() {
			rm()
			c.userHandlers.Add(-1)
		})
	}
}

// Notifications returns every notification from every agent as an
// iterator. It receives from the moment the iteration starts (not when
// Notifications is called) until ctx ends or the controller closes; the
// last pair then carries the reason as error. To miss nothing from the
// start, register a handler with [WithNotifyHandler] instead. Notifications are buffered (up to
// buffer); when the buffer is full a notification is refused, so an agent
// that asked for a NotifyResp retries it.
func (c *Controller) Notifications(ctx context.Context, buffer int) iter.Seq2[*Notification, error] {
	return func(yield func(*Notification, error) bool) {
		if buffer <= 0 {
			buffer = 1
		}
		ch := make(chan *Notification, buffer)
		remove := c.OnNotify(func(_ context.Context, n *Notification) error {
			select {
			case ch <- n:
				return nil
			default:
				return fmt.Errorf("usp: notification iterator is %d behind", buffer)
			}
		})
		defer remove()
		for {
			select {
			case n := <-ch:
				if !yield(n, nil) {
					return
				}
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			case <-c.closing:
				yield(nil, ErrClosed)
				return
			}
		}
	}
}

type inboundNotify struct {
	n         *Notification
	a         *agentState
	inSession bool
	m         *uspmsg.Msg     // the Notify as received, for forwarding (cluster.go)
	done      func(err error) // set for a notification forwarded by another process: gets the verdict
	orphan    bool            // its owner is gone: claimed in the store before delivery (cluster.go)
}

// handleNotify runs on the agent's intake worker: it recognises
// retransmissions, runs the handlers and answers. A msg_id counts as seen
// only once a handler got it, so a notification that was queued, refused
// or lost before delivery is not a Duplicate when it comes again.
func (c *Controller) handleNotify(a *agentState, m *uspmsg.Msg, inSession bool) {
	id := m.GetHeader().GetMsgId()
	parsed, err := msg.Parse(m)
	if err != nil {
		c.log.Warn("dropping invalid Notify", "agent", a.id, "err", err)
		if len(c.hooks.notify) > 0 {
			c.notifyHook(NotifyEvent{Stage: NotifyDropped, AgentID: a.id, MsgID: id, Err: err})
		}
		return
	}
	nt, ok := parsed.(*msg.Notify)
	if !ok {
		c.log.Warn("dropping Notify of unexpected shape", "agent", a.id)
		if len(c.hooks.notify) > 0 {
			c.notifyHook(NotifyEvent{Stage: NotifyDropped, AgentID: a.id, MsgID: id, Err: fmt.Errorf("usp: Notify of unexpected shape %T", parsed)})
		}
		return
	}
	hooked := len(c.hooks.notify) > 0
	var ev NotifyEvent
	if hooked {
		ev = NotifyEvent{Stage: NotifyReceived, AgentID: a.id, MsgID: id, SubscriptionID: nt.SubscriptionID, Type: notifyType(nt.Notification)}
		c.notifyHook(ev)
	}
	if ob, ok := nt.Notification.(*msg.OnBoardRequest); ok {
		c.agentSupports(a.id, ob.AgentSupportedProtocolVersions)
	}
	d := c.digest(id)
	a.mu.Lock() // the cluster's forwarding touches the window too
	seen, acked := a.dups.lookup(d)
	if !seen {
		a.dups.record(d, false, c.cfg.dupWindow)
	}
	a.mu.Unlock()
	if seen && hooked {
		ev.Stage = NotifyDuplicate
		c.notifyHook(ev)
	}
	if seen && acked {
		c.log.Debug("notification retransmitted after it was answered", "agent", a.id, "msg_id", id)
		if hooked {
			ev.Stage = NotifyAccepted
			c.notifyHook(ev)
		}
		if nt.SendResp {
			c.answerNotify(a, nt.SubscriptionID, id, inSession, hooked, ev)
		}
		return
	}
	c.deliver(inboundNotify{a: a, inSession: inSession, m: m, n: &Notification{
		AgentID:        a.id,
		MsgID:          id,
		SubscriptionID: nt.SubscriptionID,
		SendResp:       nt.SendResp,
		Body:           nt.Notification,
		Duplicate:      seen,
		Received:       time.Now(),
	}})
}

// deliver runs the handlers for one notification and answers it when they
// all accepted it.
func (c *Controller) deliver(in inboundNotify) {
	if c.cl != nil {
		if c.cl.route(&in) {
			return
		}
		if in.orphan || c.cl.cfg.ClaimAll {
			c.cl.claim(in.n)
		}
	}
	n := in.n
	var failed error
	for _, h := range c.handlers.list() {
		if err := callHandler(c.ctx, h, n); err != nil {
			failed = err
		}
	}
	if s := c.subscriptionFor(n.AgentID, n.SubscriptionID); s != nil {
		if err := s.deliver(c.ctx, n, c.userHandlers.Load() > 0 && failed == nil); err != nil {
			failed = err
		}
	}
	if oc, ok := n.Body.(*msg.OperationComplete); ok {
		c.completeOperation(n.AgentID, oc)
	}
	hooked := len(c.hooks.notify) > 0
	var ev NotifyEvent
	if hooked {
		ev = NotifyEvent{AgentID: n.AgentID, MsgID: n.MsgID, SubscriptionID: n.SubscriptionID, Type: notifyType(n.Body)}
	}
	if failed != nil {
		c.log.Info("notification not accepted; leaving it unanswered", "agent", n.AgentID, "msg_id", n.MsgID, "err", failed)
		if hooked {
			ev.Stage, ev.Err = NotifyRefused, failed
			c.notifyHook(ev)
		}
		if in.done != nil {
			in.done(failed)
		}
		return
	}
	d := c.digest(n.MsgID)
	in.a.mu.Lock()
	in.a.dups.record(d, true, c.cfg.dupWindow)
	in.a.mu.Unlock()
	if hooked {
		ev.Stage = NotifyAccepted
		c.notifyHook(ev)
	}
	if in.done != nil {
		in.done(nil) // the process that received it answers the agent
		return
	}
	if n.SendResp {
		c.answerNotify(in.a, n.SubscriptionID, n.MsgID, in.inSession, hooked, ev)
	}
}

// answerNotify sends a NotifyResp and reports it to the hooks: answered,
// or dropped when it could not be sent.
func (c *Controller) answerNotify(a *agentState, subID, msgID string, inSession, hooked bool, ev NotifyEvent) {
	err := c.reply(a, msg.NotifyResp{SubscriptionID: subID}.Build(msgID), inSession)
	if hooked {
		ev.Stage, ev.Err = NotifyAnswered, nil
		if err != nil {
			ev.Stage, ev.Err = NotifyDropped, err
		}
		c.notifyHook(ev)
	}
}

// notifyType names a notification's kind for the hooks.
func notifyType(n msg.Notification) string {
	if n == nil {
		return ""
	}
	return n.Kind()
}

// digest is what a duplicate window keeps of a msg_id: 64 bits of a hash
// keyed with a secret of this process, so that a window costs the same
// whatever the agents put in msg_ids, and no agent can make two of its
// msg_ids collide on purpose.
func (c *Controller) digest(msgID string) uint64 {
	return maphash.String(c.seed, msgID)
}

// callHandler runs a user handler, turning a panic into an error so that
// one bad handler cannot take the controller down.
func callHandler(ctx context.Context, h NotifyHandler, n *Notification) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("usp: notify handler panicked: %v", r)
		}
	}()
	return h(ctx, n)
}
