package peerconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/gousp/gousp/mtp"
)

// Core is the life of one transport: Start, the connection state, the
// handler it delivers to, and Close. Its error messages begin with the
// binding's name, the string of its [mtp.Kind].
type Core struct {
	kind mtp.Kind
	log  *slog.Logger

	mu      sync.Mutex
	state   mtp.State
	started bool
	closed  bool

	// hmu serialises handler calls, as mtp.Handler requires, and keeps
	// the events that go together in order. Lock order: hmu before mu.
	hmu sync.Mutex
	h   mtp.Handler

	ctx    context.Context // done at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the goroutines Close waits for
}

// NewCore returns the core of a transport of the given kind that logs to
// log.
func NewCore(kind mtp.Kind, log *slog.Logger) *Core {
	c := &Core{kind: kind, log: log}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// errorf formats an error that names the binding.
func (c *Core) errorf(format string, args ...any) error {
	return fmt.Errorf(string(c.kind)+": "+format, args...)
}

// Begin does what every Start does first: it checks h and ctx, makes sure
// Start runs once and not after Close, and moves to [mtp.Connecting].
func (c *Core) Begin(ctx context.Context, h mtp.Handler) error {
	if h == nil {
		return c.errorf("nil handler")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return mtp.ErrClosed
	case c.started:
		return c.errorf("Start called twice")
	}
	c.started = true
	c.h = h
	c.state = mtp.Connecting
	return nil
}

// Up ends a server's Start: it moves to [mtp.Connected] and reports
// [mtp.Up], then runs run (if not nil) on a goroutine that Close waits
// for. It fails with [mtp.ErrClosed] if Close came first. No session event
// can reach the handler before the Up event.
func (c *Core) Up(run func()) error {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return mtp.ErrClosed
	}
	c.state = mtp.Connected
	if run != nil {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	c.h.HandleEvent(mtp.Event{Kind: mtp.Up})
	if run != nil {
		go func() {
			defer c.wg.Done()
			run()
		}()
	}
	return nil
}

// Go runs f on a goroutine that Close waits for, unless the transport is
// closed; it reports whether f runs.
func (c *Core) Go(f func()) bool {
	if !c.enter(false) {
		return false
	}
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Enter counts the calling goroutine among those Close waits for, if the
// transport is [mtp.Connected]; the caller then calls [Core.Exit] when it
// is done. An HTTP handler uses it for each request it serves.
func (c *Core) Enter() bool { return c.enter(true) }

// Exit ends what a successful [Core.Enter] began.
func (c *Core) Exit() { c.wg.Done() }

func (c *Core) enter(needUp bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || (needUp && c.state != mtp.Connected) {
		return false
	}
	// Under mu, so that no Add follows the Wait in Close.
	c.wg.Add(1)
	return true
}

// CheckSend says why nothing can be sent to to: the transport is not
// started or closed, or to names another binding. It returns nil
// otherwise.
func (c *Core) CheckSend(to mtp.Address) error {
	c.mu.Lock()
	closed, started := c.closed, c.started
	c.mu.Unlock()
	switch {
	case closed:
		return mtp.ErrClosed
	case !started:
		return mtp.ErrNotStarted
	case to.MTP != "" && to.MTP != c.kind:
		return c.errorf("address %v: %w", to, mtp.ErrBadAddress)
	}
	return nil
}

// State reports the connection state.
func (c *Core) State() mtp.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// setState changes the state, unless the transport is closed.
func (c *Core) setState(s mtp.State) {
	c.mu.Lock()
	if !c.closed {
		c.state = s
	}
	c.mu.Unlock()
}

// Emit reports ev to the handler.
func (c *Core) Emit(ev mtp.Event) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.h.HandleEvent(ev)
}

// Deliver hands in to the handler. It holds hmu, which every session's
// delivery and event needs: nothing under it may write to a peer. The
// controller's handler only files the record (its answers are written
// from its own workers); when its intake is full the handler waits here,
// and that holds every session's reading back, which is the point.
func (c *Core) Deliver(in mtp.Inbound) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.h.HandleRecord(in)
}

// Context returns a context that ends when Close begins. Each goroutine
// that owns a listener or a connection closes it when this context ends
// (with [context.AfterFunc]), which is how Close reaches them.
func (c *Core) Context() context.Context { return c.ctx }

// Close moves to [mtp.Closed], ends [Core.Context] and waits for the
// goroutines started by [Core.Up] and [Core.Go] or counted by
// [Core.Enter], at most until ctx ends. Later calls return nil at once.
// It must not be called from the handler, whose goroutines it waits for.
func (c *Core) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.state = mtp.Closed
	c.cancel()
	c.mu.Unlock()

	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return c.errorf("close: %w", ctx.Err())
	}
}

// ContextError returns the error of ctx if ctx is what made a write fail
// with err: either ctx ended, or ctx had a deadline (hadDeadline), which
// the write's network deadline copied and which may fire a moment before
// ctx's own timer. Otherwise it returns nil.
func ContextError(ctx context.Context, hadDeadline bool, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	var ne net.Error
	if hadDeadline && errors.As(err, &ne) && ne.Timeout() {
		return context.DeadlineExceeded
	}
	return nil
}
