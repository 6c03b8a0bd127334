package usp

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"

	"github.com/gousp/gousp/msg"
)

// Notification types a subscription can ask for (the NotifType parameter
// of Device.LocalAgent.Subscription.{i}.).
const (
	NotifValueChange       = "ValueChange"
	NotifObjectCreation    = "ObjectCreation"
	NotifObjectDeletion    = "ObjectDeletion"
	NotifOperationComplete = "OperationComplete"
	NotifEvent             = "Event"
)

// SubscriptionSpec says what to subscribe to. NotifType and ReferenceList
// are required; the rest have the defaults noted.
type SubscriptionSpec struct {
	// NotifType is one of the Notif* constants.
	NotifType string
	// ReferenceList names what to watch: parameters, objects, commands or
	// events, with wildcards and search expressions where the agent allows.
	ReferenceList []string
	// ID is the subscription's ID, which the agent puts in every
	// notification; by default a unique one is made.
	ID string
	// NotifRetry asks the agent to send notifications with send_resp and
	// retry until answered (NotifExpiration bounds the retries, seconds).
	NotifRetry      bool
	NotifExpiration uint32
	// Persistent keeps the subscription across agent reboots.
	Persistent bool
	// Handler, if set, receives the notifications (see [NotifyHandler]);
	// otherwise they are buffered for [Subscription.Notifications], from
	// the moment the subscription exists, whether or not anyone iterates.
	Handler NotifyHandler
	// Buffer is how many notifications wait for the iterator (default 64).
	// What happens when it is full depends on who else has them:
	//   - when the controller has handlers ([WithNotifyHandler],
	//     [Controller.OnNotify], [Controller.Notifications]) and they all
	//     accepted the notification, the oldest buffered one is dropped
	//     (and logged) to make room: the program has the notification, so
	//     refusing it would only make the agent retry it for ever;
	//   - when the subscription is the only taker, the notification is
	//     refused unanswered, so that an agent that retries (NotifRetry)
	//     sends it again once the iterator has caught up: nothing is lost.
	Buffer int
}

// Subscription is a Device.LocalAgent.Subscription.{i}. object that this
// controller created on an agent, with the notifications it brings.
type Subscription struct {
	c       *Controller
	agent   string
	id      string
	path    string // instantiated path, once created
	handler NotifyHandler
	ch      chan *Notification
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	err     error
}

type subKey struct{ agent, id string }

// Subscribe creates a subscription on the agent and returns it once the
// agent has created the object. Notifications for it are delivered to the
// subscription (and to the controller's handlers); [Subscription.Unsubscribe]
// deletes the object again.
func (a *Agent) Subscribe(ctx context.Context, spec SubscriptionSpec) (*Subscription, error) {
	if spec.NotifType == "" || len(spec.ReferenceList) == 0 {
		return nil, fmt.Errorf("%w: a subscription needs NotifType and ReferenceList", ErrInvalidRequest)
	}
	if spec.ID == "" {
		spec.ID = a.c.newKey()
	}
	if spec.Buffer <= 0 {
		spec.Buffer = 64
	}
	s := &Subscription{
		c:       a.c,
		agent:   a.id,
		id:      spec.ID,
		handler: spec.Handler,
		done:    make(chan struct{}),
	}
	if s.handler == nil {
		s.ch = make(chan *Notification, spec.Buffer)
	}
	key := subKey{a.id, spec.ID}
	// Register before the Add: the agent may notify as soon as it exists.
	a.c.mu.Lock()
	if a.c.closed {
		a.c.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := a.c.subs.get(key); dup {
		a.c.mu.Unlock()
		return nil, fmt.Errorf("%w: subscription %q to %s", ErrExists, spec.ID, a.id)
	}
	a.c.subs.put(key, s)
	a.c.mu.Unlock()

	params := map[string]string{
		"ID":            spec.ID,
		"NotifType":     spec.NotifType,
		"ReferenceList": strings.Join(spec.ReferenceList, ","),
		"Enable":        "true",
		"Persistent":    strconv.FormatBool(spec.Persistent),
		"NotifRetry":    strconv.FormatBool(spec.NotifRetry),
	}
	if spec.NotifExpiration > 0 {
		params["NotifExpiration"] = strconv.FormatUint(uint64(spec.NotifExpiration), 10)
	}
	resp, err := a.Add(ctx, msg.Add{Objects: []msg.AddObject{{Path: subscriptionTable, Params: msg.Params(params)}}})
	if err == nil {
		s.path, err = addedPath(resp)
	}
	if err != nil {
		a.c.dropSubscription(key, s)
		s.end(err)
		return nil, fmt.Errorf("usp: subscribing on %s: %w", a.id, err)
	}
	a.c.live.subscribed(ctx, s, spec)
	return s, nil
}

const subscriptionTable = "Device.LocalAgent.Subscription."

// addedPath returns the one instantiated path of an AddResp, or the error
// the agent gave for it.
func addedPath(r *msg.AddResp) (string, error) {
	if len(r.Results) != 1 {
		return "", fmt.Errorf("%w: %d results for one object", ErrUnexpectedResponse, len(r.Results))
	}
	res := r.Results[0]
	if res.Err != nil {
		return "", res.Err
	}
	return res.Path, nil
}

// ID returns the subscription's ID.
func (s *Subscription) ID() string { return s.id }

// Path returns the subscription object's instance path on the agent,
// ending with a dot ("Device.LocalAgent.Subscription.2.") as object paths
// do; [Operation.RequestObject] follows the same rule.
func (s *Subscription) Path() string { return s.path }

// AgentID returns the endpoint ID of the agent.
func (s *Subscription) AgentID() string { return s.agent }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended: [ErrSubscriptionClosed] after
// Unsubscribe, [ErrClosed] when the controller closed, nil while it runs.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Notifications returns the subscription's notifications as an iterator
// that ends when ctx ends or the subscription does; the last pair then
// carries the reason. It yields nothing for subscriptions with a Handler.
func (s *Subscription) Notifications(ctx context.Context) iter.Seq2[*Notification, error] {
	return func(yield func(*Notification, error) bool) {
		if s.ch == nil {
			yield(nil, fmt.Errorf("%w: this subscription delivers to its Handler", ErrInvalidRequest))
			return
		}
		for {
			select {
			case n := <-s.ch:
				if !yield(n, nil) {
					return
				}
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			case <-s.done:
				// Hand over what was buffered before the end.
				for {
					select {
					case n := <-s.ch:
						if !yield(n, nil) {
							return
						}
					default:
						yield(nil, s.Err())
						return
					}
				}
			}
		}
	}
}

// Unsubscribe deletes the subscription object on the agent and ends the
// subscription. The subscription ends even if the agent cannot be reached;
// the error then says so.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.c.dropSubscription(subKey{s.agent, s.id}, s)
	s.end(ErrSubscriptionClosed)
	if s.path == "" {
		return nil
	}
	resp, err := s.c.Agent(s.agent).Delete(ctx, msg.Delete{Paths: []string{s.path}})
	if err != nil {
		return fmt.Errorf("usp: deleting %s on %s: %w", s.path, s.agent, err)
	}
	s.c.live.unsubscribed(ctx, s)
	return resp.Err()
}

// deliver hands n to the subscription. handled says that the controller's
// own handlers took it already: a full buffer then loses its oldest
// notification instead of refusing, since refusing would only make the
// agent retry, for ever, a notification the program has.
func (s *Subscription) deliver(ctx context.Context, n *Notification, handled bool) error {
	select {
	case <-s.done:
		return nil // ended: accept, so the agent stops retrying
	default:
	}
	if s.handler != nil {
		return callHandler(ctx, s.handler, n)
	}
	for {
		select {
		case s.ch <- n:
			return nil
		default:
		}
		if !handled {
			return fmt.Errorf("usp: subscription %s: %d notifications waiting", s.id, cap(s.ch))
		}
		select {
		case old := <-s.ch:
			s.c.log.Warn("subscription buffer full: oldest notification dropped (the controller's handlers had it)",
				"agent", s.agent, "subscription", s.id, "msg_id", old.MsgID)
		default:
		}
	}
}

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	})
}

func (c *Controller) subscriptionFor(agent, id string) *Subscription {
	s, _ := c.subs.get(subKey{agent, id})
	return s
}

func (c *Controller) dropSubscription(key subKey, s *Subscription) {
	c.mu.Lock()
	if cur, _ := c.subs.get(key); cur == s {
		c.subs.del(key)
	}
	c.mu.Unlock()
}
