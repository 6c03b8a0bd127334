package memory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/gousp/gousp/mtp"
)

// Errors of this binding; they sit beside the [mtp] sentinels it also uses.
var (
	// ErrQueueFull: the receiving endpoint has too many undelivered records.
	ErrQueueFull = errors.New("memory: receive queue full")
	// ErrNameInUse: another open endpoint on the network has that name.
	ErrNameInUse = errors.New("memory: endpoint name in use")
)

// Defaults for the options.
const (
	DefaultQueueSize     = 1024
	DefaultMaxRecordSize = 16 << 20
)

// DropFunc decides, for each record sent on a [Network], whether it is lost
// in transit (true) instead of delivered. It must not keep data.
type DropFunc func(from, to string, data []byte) bool

// Network is an in-process medium joining named [Endpoint]s. Its methods are
// safe for concurrent use.
type Network struct {
	mu   sync.Mutex
	eps  map[string]*Endpoint
	drop DropFunc
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{eps: make(map[string]*Endpoint)}
}

// Option configures an [Endpoint].
type Option func(*config) error

type config struct {
	queueSize int
	maxRecord int
	log       *slog.Logger
}

// WithQueueSize bounds how many records may wait for the endpoint's handler
// (default [DefaultQueueSize]); a send beyond it fails with [ErrQueueFull].
func WithQueueSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("memory: queue size %d, want at least 1", n)
		}
		c.queueSize = n
		return nil
	}
}

// WithMaxRecordSize bounds the size of a record the endpoint sends (default
// [DefaultMaxRecordSize]); a larger one fails with [mtp.ErrTooLarge].
func WithMaxRecordSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("memory: max record size %d, want at least 1", n)
		}
		c.maxRecord = n
		return nil
	}
}

// WithLogger sets where the endpoint logs; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("memory: nil logger")
		}
		c.log = l
		return nil
	}
}

// Endpoint attaches a new endpoint to the network under name, which others
// use as [mtp.Address.To]. A name is free again once its endpoint is closed.
func (n *Network) Endpoint(name string, opts ...Option) (*Endpoint, error) {
	if name == "" {
		return nil, fmt.Errorf("memory: empty endpoint name: %w", mtp.ErrBadAddress)
	}
	cfg := config{
		queueSize: DefaultQueueSize,
		maxRecord: DefaultMaxRecordSize,
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.eps[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrNameInUse, name)
	}
	e := &Endpoint{
		net:  n,
		name: name,
		cfg:  cfg,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		log:  cfg.log.With("mtp", "memory", "endpoint", name),
	}
	n.eps[name] = e
	return e, nil
}

// SetDrop installs f to decide which records are lost; nil delivers all.
// Records injected with [Network.Inject] bypass it.
func (n *Network) SetDrop(f DropFunc) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// Disconnect simulates the loss of the named endpoint's connection: its
// handler gets a [mtp.Down] event carrying cause (or [mtp.ErrNotConnected]
// if nil), records waiting for it are lost, and sends from or to it fail
// with [mtp.ErrNotConnected] until [Network.Reconnect].
func (n *Network) Disconnect(name string, cause error) error {
	e, err := n.lookup(name)
	if err != nil {
		return err
	}
	if cause == nil {
		cause = mtp.ErrNotConnected
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != mtp.Connected {
		return fmt.Errorf("memory: endpoint %q is %v, not connected", name, e.state)
	}
	e.state = mtp.Disconnected
	kept := e.queue[:0]
	for _, it := range e.queue {
		if it.ev != nil {
			kept = append(kept, it)
		}
	}
	clear(e.queue[len(kept):])
	e.queue = kept
	e.records = 0
	e.push(item{ev: &mtp.Event{Kind: mtp.Down, Err: cause}})
	return nil
}

// Reconnect ends a simulated loss begun by [Network.Disconnect]: the
// endpoint's handler gets a [mtp.Up] event and records flow again.
func (n *Network) Reconnect(name string) error {
	e, err := n.lookup(name)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != mtp.Disconnected {
		return fmt.Errorf("memory: endpoint %q is %v, not disconnected", name, e.state)
	}
	e.state = mtp.Connected
	e.push(item{ev: &mtp.Event{Kind: mtp.Up, Local: e.local()}})
	return nil
}

// Inject delivers data to the endpoint named to as if the endpoint named
// from had sent it, whether or not from exists: tests use it to play a
// hostile or broken peer. It fails like [Endpoint.Send] on the receiving
// side.
func (n *Network) Inject(from, to string, data []byte) error {
	if from == "" {
		return fmt.Errorf("memory: empty sender name: %w", mtp.ErrBadAddress)
	}
	n.mu.Lock()
	peer := n.eps[to]
	n.mu.Unlock()
	if peer == nil {
		return fmt.Errorf("memory: send to %q: %w", to, mtp.ErrUnknownPeer)
	}
	return peer.deliver(from, data)
}

func (n *Network) lookup(name string) (*Endpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.eps[name]
	if e == nil {
		return nil, fmt.Errorf("memory: endpoint %q: %w", name, mtp.ErrUnknownPeer)
	}
	return e, nil
}

// item is one delivery waiting for the handler: a record or an event.
type item struct {
	in mtp.Inbound
	ev *mtp.Event
}

// Endpoint is one named [mtp.Transport] on a [Network].
type Endpoint struct {
	net  *Network
	name string
	cfg  config
	log  *slog.Logger

	mu      sync.Mutex
	state   mtp.State
	started bool
	closed  bool
	h       mtp.Handler
	queue   []item
	records int // records (not events) in queue

	wake chan struct{} // buffered 1: queue has items
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

var _ mtp.Transport = (*Endpoint)(nil)

// Name returns the endpoint's name on its network.
func (e *Endpoint) Name() string { return e.name }

// Kind returns [mtp.Memory].
func (e *Endpoint) Kind() mtp.Kind { return mtp.Memory }

func (e *Endpoint) local() mtp.Address { return mtp.Address{MTP: mtp.Memory, To: e.name} }

// Start attaches h and delivers an [mtp.Up] event to it. The endpoint is
// usable at once; ctx only bounds the call.
func (e *Endpoint) Start(ctx context.Context, h mtp.Handler) error {
	if h == nil {
		return errors.New("memory: nil handler")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return mtp.ErrClosed
	case e.started:
		return errors.New("memory: Start called twice")
	}
	e.started = true
	e.h = h
	e.state = mtp.Connected
	e.push(item{ev: &mtp.Event{Kind: mtp.Up, Local: e.local()}})
	e.wg.Add(1)
	go e.run()
	return nil
}

// Send copies record into the queue of the endpoint named to.To. to.MTP
// must be [mtp.Memory] or empty. It never blocks: a full queue fails with
// [ErrQueueFull], an unknown, closed or not yet started peer with
// [mtp.ErrUnknownPeer].
func (e *Endpoint) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	state, started := e.state, e.started
	e.mu.Unlock()
	switch {
	case state == mtp.Closed:
		return mtp.ErrClosed
	case !started:
		return mtp.ErrNotStarted
	case state != mtp.Connected:
		return fmt.Errorf("memory: endpoint %q: %w", e.name, mtp.ErrNotConnected)
	}
	if (to.MTP != "" && to.MTP != mtp.Memory) || to.To == "" {
		return fmt.Errorf("memory: address %v: %w", to, mtp.ErrBadAddress)
	}
	if len(record) > e.cfg.maxRecord {
		return fmt.Errorf("memory: %d-byte record, limit %d: %w", len(record), e.cfg.maxRecord, mtp.ErrTooLarge)
	}
	e.net.mu.Lock()
	peer, drop := e.net.eps[to.To], e.net.drop
	e.net.mu.Unlock()
	if peer == nil {
		return fmt.Errorf("memory: send to %q: %w", to.To, mtp.ErrUnknownPeer)
	}
	if drop != nil && drop(e.name, to.To, record) {
		e.log.Debug("record dropped by network", "to", to.To, "len", len(record))
		return nil
	}
	return peer.deliver(e.name, record)
}

// deliver queues a copy of data from the named sender.
func (e *Endpoint) deliver(from string, data []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.started || e.state == mtp.Closed:
		return fmt.Errorf("memory: send to %q: %w", e.name, mtp.ErrUnknownPeer)
	case e.state != mtp.Connected:
		return fmt.Errorf("memory: send to %q: peer %w", e.name, mtp.ErrNotConnected)
	case e.records >= e.cfg.queueSize:
		return fmt.Errorf("memory: send to %q: %w (%d records waiting)", e.name, ErrQueueFull, e.records)
	}
	e.records++
	e.push(item{in: mtp.Inbound{
		Data:    append([]byte(nil), data...),
		ReplyTo: mtp.Address{MTP: mtp.Memory, To: from},
		PeerID:  from,
	}})
	return nil
}

// push queues it and wakes the delivery goroutine; e.mu is held.
func (e *Endpoint) push(it item) {
	e.queue = append(e.queue, it)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run calls the handler for each queued item, one at a time.
func (e *Endpoint) run() {
	defer e.wg.Done()
	for {
		select {
		case <-e.done:
			return
		case <-e.wake:
		}
		for {
			select {
			case <-e.done:
				return
			default:
			}
			e.mu.Lock()
			if len(e.queue) == 0 {
				e.mu.Unlock()
				break
			}
			it := e.queue[0]
			e.queue[0] = item{}
			e.queue = e.queue[1:]
			if it.ev == nil {
				e.records--
			}
			h := e.h
			e.mu.Unlock()
			if it.ev != nil {
				h.HandleEvent(*it.ev)
			} else {
				h.HandleRecord(it.in)
			}
		}
	}
}

// State reports the endpoint's state: Disconnected before Start and during
// a simulated loss, Connected, or Closed.
func (e *Endpoint) State() mtp.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Close detaches the endpoint from its network, discards records not yet
// delivered and waits for the delivery goroutine, at most until ctx ends.
// It must not be called from the endpoint's own handler.
func (e *Endpoint) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.state = mtp.Closed
	e.queue = nil
	e.records = 0
	close(e.done)
	e.mu.Unlock()

	e.net.mu.Lock()
	if e.net.eps[e.name] == e {
		delete(e.net.eps, e.name)
	}
	e.net.mu.Unlock()

	waited := make(chan struct{})
	go func() { e.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memory: close %q: %w", e.name, ctx.Err())
	}
}
