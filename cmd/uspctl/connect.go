package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// binding is a transport plus the rule that says where each agent is on it.
type binding struct {
	t mtp.Transport
	// address returns where records to the agent go. ok is false when the
	// agent must reach us first (it dials in, or announces itself), so
	// that its address is learned from its traffic.
	address func(agent agentSpec) (addr mtp.Address, ok bool)
	// describe says what the transport connects to, for logs and errors.
	describe string
	// hint tells how to make an agent reachable, for the error when it is
	// not.
	hint string
	// randomLocal is the made-up topic or destination this controller
	// receives on when none was configured; agents do not know it.
	randomLocal string
	// local is the topic or destination this controller receives on
	// (random or configured), named when an agent does not answer.
	local string
	// localFlag is the flag that sets local.
	localFlag string
}

// agentSpec is one agent from --agent or --agents.
type agentSpec struct {
	ID   string
	Addr string // optional: MQTT topic, STOMP destination, ...
}

// conn is a started controller with the agents it talks to.
type conn struct {
	a *app
	c *usp.Controller
	b binding
}

// expand replaces the endpoint ID placeholder of a configured address.
func expand(pattern, id string) string {
	return strings.ReplaceAll(pattern, placeholderEndpoint, id)
}

// connect builds the transport, starts a controller on it and configures
// the agents' addresses. Settings that cannot work are usage errors (exit
// 2); a transport that cannot connect is a connection error (exit 3).
func (a *app) connect(ctx context.Context, agents []agentSpec, opts ...usp.Option) (*conn, error) {
	b, err := a.newBinding(a)
	if err != nil {
		return nil, err
	}
	opts = append([]usp.Option{usp.WithTransport(b.t), usp.WithLogger(a.log)}, opts...)
	if a.s.sessionContext {
		opts = append(opts, usp.WithSessionContext(usp.SessionConfig{MaxSegment: a.s.maxSegment, Fallback: a.s.fallback}))
	} else if a.s.maxSegment != 0 || a.s.fallback {
		_ = b.t.Close(context.WithoutCancel(ctx))
		return nil, usageErrorf("--max-segment and --session-fallback need --session-context")
	}
	for _, ag := range agents {
		if addr, ok := b.address(ag); ok {
			opts = append(opts, usp.WithAgent(ag.ID, addr))
		}
	}
	c, err := usp.NewController(a.s.controllerID, opts...)
	if err != nil {
		// The transport was never started; release what it holds.
		_ = b.t.Close(context.WithoutCancel(ctx))
		return nil, usageErrorf("%v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	a.log.Info("connecting", "mtp", b.t.Kind(), "to", b.describe, "controller", a.s.controllerID)
	if err := c.Start(sctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, connError(fmt.Errorf("cannot connect to %s: %w", b.describe, err))
	}
	return &conn{a: a, c: c, b: b}, nil
}

// close closes the controller, giving pending cleanups a moment.
func (cn *conn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cn.c.Close(ctx); err != nil {
		cn.a.log.Info("closing the controller", "err", err)
	}
}

// waitAgent waits until the controller knows where the agent is: at once
// for configured addresses, otherwise until the agent dials in or announces
// itself, or ctx ends.
func (cn *conn) waitAgent(ctx context.Context, id string) error {
	known := func() bool {
		info, ok := cn.c.AgentInfo(id)
		return ok && !info.Address.IsZero()
	}
	if known() {
		return nil
	}
	ch := make(chan struct{}, 1)
	remove := cn.c.OnAgentEvent(func(ev usp.AgentEvent) {
		if ev.Agent.EndpointID == id {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	})
	defer remove()
	for !known() {
		select {
		case <-ch:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err := fmt.Errorf("agent %s did not connect over %s within %s", id, cn.b.t.Kind(), cn.a.s.timeout)
				if cn.b.hint != "" {
					err = fmt.Errorf("%w (%s)", err, cn.b.hint)
				}
				return connError(err)
			}
			return ctx.Err()
		}
	}
	return nil
}

// noAnswerHint lists the usual reasons an agent stays silent, naming the
// values used, for the error of a request that timed out. An agent drops
// records from a controller it does not know without a word (OB-USP-A
// does), and one whose MQTT client is 3.1.1 gets no Response Topic, so it
// sends to the controller topic it is configured with. controllerID is the
// sender named in the request; to is where the
// request went, if known.
func (a *app) noAnswerHint(controllerID string, b binding, to mtp.Address) string {
	causes := []string{fmt.Sprintf("the agent does not know controller ID %q and drops its requests unanswered (give an EndpointID from the agent's Device.LocalAgent.Controller. table with -c/--controller-id)", controllerID)}
	switch {
	case b.local == "":
	case b.t.Kind() == mtp.MQTT:
		causes = append(causes, fmt.Sprintf("the agent sends its answers to the controller topic it is configured with, not to %q; an MQTT 3.1.1 agent always does (give that topic with -t/--topic)", b.local))
	default:
		causes = append(causes, fmt.Sprintf("the agent sends its answers to the controller destination it is configured with, not to %q (give it with %s)", b.local, b.localFlag))
	}
	switch to.MTP {
	case mtp.MQTT:
		causes = append(causes, fmt.Sprintf("the agent is not subscribed to %q (give its topic with -T/--agent-topic)", to.To))
	case mtp.STOMP:
		causes = append(causes, fmt.Sprintf("the agent is not subscribed to %q (give its destination with --agent-destination)", to.To))
	}
	return "usual causes: " + strings.Join(causes, "; ")
}
