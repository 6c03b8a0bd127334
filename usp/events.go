package usp

import (
	"fmt"
	"sync"
)

// EventQueueConfig bounds the agent events waiting for slow watchers; see
// [WithAgentEventQueue].
type EventQueueConfig struct {
	// MaxEvents and MaxBytes bound the waiting events (defaults 16,384
	// and 4 MiB; an event counts for its strings plus 256 bytes).
	MaxEvents int
	MaxBytes  int64
}

// Event queue defaults.
const (
	DefaultEventQueueEvents = 16384
	DefaultEventQueueBytes  = 4 << 20
)

func (q *EventQueueConfig) setDefaults() {
	if q.MaxEvents == 0 {
		q.MaxEvents = DefaultEventQueueEvents
	}
	if q.MaxBytes == 0 {
		q.MaxBytes = DefaultEventQueueBytes
	}
}

// WithAgentEventQueue bounds the agent events waiting for the watchers of
// [Controller.OnAgentEvent] and [WithAgentHandler]. Events are never
// waited for: when watchers fall behind past a bound, the oldest waiting
// events are dropped, and the next event delivered says how many in
// [AgentEvent.Missed], so that a watcher knows to read
// [Controller.Agents] again. Zero fields keep their defaults.
func WithAgentEventQueue(cfg EventQueueConfig) Option {
	return func(c *config) error {
		if cfg.MaxEvents < 0 || cfg.MaxBytes < 0 {
			return fmt.Errorf("%w: negative event queue bound %+v", ErrInvalidOption, cfg)
		}
		c.events = cfg
		return nil
	}
}

// eventQueue delivers agent events to watchers in order, on one goroutine,
// so that a slow watcher never blocks the transports or the intake.
type eventQueue struct {
	c      *Controller
	cfg    EventQueueConfig
	mu     sync.Mutex
	q      []queuedEvent
	head   int
	bytes  int64
	missed int // dropped since the last event taken
	wake   chan struct{}
}

type queuedEvent struct {
	ev   AgentEvent
	size int64
}

func newEventQueue(c *Controller, cfg EventQueueConfig) *eventQueue {
	return &eventQueue{c: c, cfg: cfg, wake: make(chan struct{}, 1)}
}

// eventBytes is what an event counts for against MaxBytes.
func eventBytes(ev AgentEvent) int64 {
	n := 256 + len(ev.Agent.EndpointID) + len(ev.Agent.Address.To) + len(ev.Agent.Version) + len(ev.Agent.SupportedVersions)
	if ev.Reason != nil {
		n += len(ev.Reason.Error())
	}
	return int64(n)
}

func (e *eventQueue) push(ev AgentEvent) {
	size := eventBytes(ev)
	e.mu.Lock()
	for e.len() > 0 && (e.len() >= e.cfg.MaxEvents || e.bytes+size > e.cfg.MaxBytes) {
		e.bytes -= e.q[e.head].size
		e.q[e.head] = queuedEvent{}
		e.head++
		e.missed++
	}
	if e.head > 0 && e.head == len(e.q) {
		e.q, e.head = emptied(e.q), 0
	}
	e.q = append(e.q, queuedEvent{ev, size})
	e.bytes += size
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) len() int { return len(e.q) - e.head }

// take returns the next event, with the count of events dropped before it.
func (e *eventQueue) take() (AgentEvent, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.len() == 0 {
		e.q, e.head = emptied(e.q), 0
		return AgentEvent{}, false
	}
	qe := e.q[e.head]
	e.q[e.head] = queuedEvent{}
	e.head++
	e.bytes -= qe.size
	qe.ev.Missed, e.missed = e.missed, 0
	return qe.ev, true
}

func (e *eventQueue) run() {
	for {
		select {
		case <-e.c.closing:
			return
		case <-e.wake:
		}
		for {
			ev, ok := e.take()
			if !ok {
				break
			}
			for _, f := range e.c.watchers.list() {
				_ = e.c.safely("agent event handler", func() error { f(ev); return nil })
			}
		}
	}
}

// keptCap is the most capacity an emptied queue keeps: after a storm of
// 100,000 agents a queue would otherwise hold its peak for good.
const keptCap = 1024

// emptied returns q emptied, keeping its array unless it grew past
// keptCap.
func emptied[T any](q []T) []T {
	if cap(q) > keptCap {
		return nil
	}
	return q[:0]
}
