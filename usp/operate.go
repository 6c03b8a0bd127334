package usp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// backgroundTimeout bounds the requests the controller makes on its own
// (GetSupportedProtocol for WithProtocolNegotiation, removing an
// operation's subscription), which no caller's context covers.
const backgroundTimeout = 30 * time.Second

// Operation is a command running on an agent, started with [Agent.StartOperation].
type Operation struct {
	c          *Controller
	agent      string
	command    string
	commandKey string
	// requestPath is the agent's Device.LocalAgent.Request.{i} object for
	// an asynchronous command.
	requestPath string
	mu          sync.Mutex // guards requestPath and sub
	sub         *Subscription
	done        chan struct{}
	once        sync.Once
	out         map[string]string
	err         error
	started     time.Time
	restored    bool // loaded from the store, started by a previous run
}

type opKey struct{ agent, key string }

// OperateOption adjusts [Agent.StartOperation] and [Agent.Call]. It has the
// shape of [Option] (a function that may refuse its value): a bad option
// fails the call with [ErrInvalidOption] before anything is sent.
type OperateOption func(*operateConfig) error

type operateConfig struct {
	commandKey string
	subscribe  bool
}

// WithCommandKey sets the command_key (by default a unique one is made, so
// that the completion can be told apart from others).
// The key must be valid UTF-8 (it travels in a protobuf string).
func WithCommandKey(k string) OperateOption {
	return func(c *operateConfig) error {
		if !utf8.ValidString(k) {
			return fmt.Errorf("%w: WithCommandKey(%q): not valid UTF-8", ErrInvalidOption, k)
		}
		c.commandKey = k
		return nil
	}
}

// WithoutCompletionSubscription stops [Agent.StartOperation] from creating its own
// OperationComplete subscription for the command, for when one that
// covers it exists already on the agent for this controller.
func WithoutCompletionSubscription() OperateOption {
	return func(c *operateConfig) error { c.subscribe = false; return nil }
}

// StartOperation runs a command and returns a handle that completes with the
// command's output arguments. For an asynchronous command it waits for the
// agent's OperationComplete notification: unless told otherwise, Start
// first subscribes to OperationComplete for the command (with NotifRetry,
// so a lost notification is sent again) and removes that subscription when
// the operation ends. Once [Agent.Schema] has read the agent's data model,
// commands it lists as synchronous skip that subscription. A synchronous command's handle is
// complete on return. The command path must name one command on one
// object (no wildcards or search expressions).
func (a *Agent) StartOperation(ctx context.Context, command string, args map[string]string, opts ...OperateOption) (*Operation, error) {
	cfg := operateConfig{subscribe: true}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if !strings.HasSuffix(command, "()") {
		return nil, fmt.Errorf("%w: %q is not a command path (it must end with \"()\")", ErrInvalidRequest, command)
	}
	if strings.ContainsAny(command, "*[") {
		return nil, fmt.Errorf("%w: Start needs one command, not a wildcard or search path: %q (use Operate)", ErrInvalidRequest, command)
	}
	if cfg.commandKey == "" {
		cfg.commandKey = a.c.newKey()
	}
	op := &Operation{c: a.c, agent: a.id, command: command, commandKey: cfg.commandKey, done: make(chan struct{}), started: time.Now()}
	key := opKey{a.id, cfg.commandKey}
	a.c.mu.Lock()
	if a.c.closed {
		a.c.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := a.c.ops[key]; dup {
		a.c.mu.Unlock()
		return nil, fmt.Errorf("%w: an operation with command key %q is running on %s", ErrExists, cfg.commandKey, a.id)
	}
	a.c.ops[key] = op
	a.c.mu.Unlock()
	fail := func(err error) (*Operation, error) {
		a.c.dropOperation(key, op)
		op.finish(nil, err)
		op.cleanup()
		return nil, err
	}
	if cfg.subscribe && a.knownSync(command, args) {
		// The agent's schema says the answer will carry the result.
		cfg.subscribe = false
	}
	if cfg.subscribe {
		sub, err := a.Subscribe(ctx, SubscriptionSpec{
			NotifType:     NotifOperationComplete,
			ReferenceList: []string{command},
			// A lost completion would leave Wait blocked: have it retried.
			NotifRetry: true,
			Handler:    func(context.Context, *Notification) error { return nil },
		})
		if err != nil {
			return fail(fmt.Errorf("usp: subscribing to the completion of %s: %w", command, err))
		}
		op.mu.Lock()
		op.sub = sub
		op.mu.Unlock()
	}
	resp, err := a.Operate(ctx, msg.Operate{Command: command, CommandKey: cfg.commandKey, SendResp: true, Args: args})
	if err != nil {
		return fail(err)
	}
	if len(resp.Results) != 1 {
		return fail(fmt.Errorf("%w: %d results for one command", ErrUnexpectedResponse, len(resp.Results)))
	}
	res := resp.Results[0]
	switch {
	case res.Err != nil:
		return fail(res.Err)
	case res.RequestObjPath != "":
		op.mu.Lock()
		op.requestPath = res.RequestObjPath
		op.mu.Unlock()
		a.c.live.opStarted(ctx, op)
		return op, nil
	default:
		a.c.dropOperation(key, op)
		op.finish(res.OutputArgs, nil)
		op.cleanup()
		return op, nil
	}
}

// Call runs a command and waits for its output arguments, whether the
// agent runs it synchronously or asynchronously. See [Agent.StartOperation].
func (a *Agent) Call(ctx context.Context, command string, args map[string]string, opts ...OperateOption) (map[string]string, error) {
	op, err := a.StartOperation(ctx, command, args, opts...)
	if err != nil {
		return nil, err
	}
	out, err := op.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		op.Abandon()
	}
	return out, err
}

// Command returns the command path.
func (op *Operation) Command() string { return op.command }

// CommandKey returns the command_key the operation was started with.
func (op *Operation) CommandKey() string { return op.commandKey }

// RequestObject returns the instance path of the agent's Request object
// for an asynchronous command ("Device.LocalAgent.Request.3."), or "" for
// a synchronous one. Like [Subscription.Path] and every object path the
// package returns, it ends with a dot, whatever the agent wrote (OB-USP-A
// writes none), so that it can go straight into a Get or a Delete.
func (op *Operation) RequestObject() string {
	p := op.RequestPath()
	if p != "" && !strings.HasSuffix(p, ".") {
		p += "."
	}
	return p
}

// RequestPath returns the agent's Request object for an asynchronous
// command exactly as the agent wrote it in the OperateResp (OB-USP-A
// writes no trailing dot), or "" for a synchronous one.
//
// Deprecated: use [Operation.RequestObject], which ends with a dot like
// every other object path the package returns.
func (op *Operation) RequestPath() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.requestPath
}

// Done is closed when the operation completes.
func (op *Operation) Done() <-chan struct{} { return op.done }

// Wait waits for the operation to complete and returns its output
// arguments, or the agent's *msg.Error when the command failed. If ctx ends
// first, Wait returns ctx's error and the operation goes on; wait again or
// call [Operation.Abandon].
func (op *Operation) Wait(ctx context.Context) (map[string]string, error) {
	select {
	case <-op.done:
		return op.out, op.err
	case <-ctx.Done():
		return nil, fmt.Errorf("usp: waiting for %s on %s: %w", op.command, op.agent, ctx.Err())
	}
}

// Abandon stops waiting for the operation: its completion will be ignored
// and its subscription removed. The command itself goes on on the agent.
func (op *Operation) Abandon() {
	op.c.dropOperation(opKey{op.agent, op.commandKey}, op)
	op.finish(nil, fmt.Errorf("%w: %s", ErrAbandoned, op.commandKey))
	op.cleanup()
}

func (op *Operation) finish(out map[string]string, err error) {
	op.once.Do(func() {
		op.out, op.err = out, err
		close(op.done)
		op.c.live.opEnded(op, err)
	})
}

// cleanup removes the operation's own subscription, in the background: the
// caller has its answer already.
func (op *Operation) cleanup() {
	op.mu.Lock()
	sub := op.sub
	op.sub = nil
	op.mu.Unlock()
	if sub == nil {
		return
	}
	c := op.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.cleanups.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.cleanups.Done()
		ctx, cancel := context.WithTimeout(c.cleanupCtx, backgroundTimeout)
		defer cancel()
		if err := sub.Unsubscribe(ctx); err != nil {
			c.log.Info("could not remove an operation's subscription", "agent", op.agent, "path", sub.Path(), "err", err)
		}
	}()
}

// completeOperation matches an OperationComplete notification to the
// operation waiting for it.
func (c *Controller) completeOperation(agent string, oc *msg.OperationComplete) {
	key := opKey{agent, oc.CommandKey}
	c.mu.Lock()
	op := c.ops[key]
	if op == nil || !sameCommand(op.command, oc.ObjPath, oc.CommandName) {
		c.mu.Unlock()
		return
	}
	delete(c.ops, key)
	c.mu.Unlock()
	// Clean up first: a caller woken by finish may Close at once, and
	// Close waits only for the cleanups already under way.
	op.cleanup()
	if oc.Err != nil {
		op.finish(nil, oc.Err)
	} else {
		out := oc.OutputArgs
		if out == nil {
			out = map[string]string{}
		}
		op.finish(out, nil)
	}
}

// sameCommand reports whether an OperationComplete's object path and
// command name name the command path. Agents write obj_path with a
// trailing dot; tolerate its absence.
func sameCommand(command, objPath, name string) bool {
	if objPath != "" && !strings.HasSuffix(objPath, ".") {
		objPath += "."
	}
	return objPath+name == command
}

func (c *Controller) dropOperation(key opKey, op *Operation) {
	c.mu.Lock()
	if c.ops[key] == op {
		delete(c.ops, key)
	}
	c.mu.Unlock()
}

// knownSync reports whether the agent's schema, if the controller has read
// it, says the command is synchronous.
func (a *Agent) knownSync(command string, args map[string]string) bool {
	a.c.mu.Lock()
	st, _ := a.c.agents.get(a.id)
	var s *datamodel.Schema
	if st != nil {
		s = st.schema
	}
	a.c.mu.Unlock()
	if s == nil {
		return false
	}
	p, err := datamodel.Parse(command)
	if err != nil {
		return false
	}
	cmd, err := s.CheckOperate(p, args)
	return err == nil && cmd != nil && cmd.Type == datamodel.CmdSync
}
