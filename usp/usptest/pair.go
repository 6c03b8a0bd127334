package usptest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/usp"
)

// TB is the part of testing.TB that the one-call helpers use; *testing.T,
// *testing.B and *testing.F satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Endpoint IDs that [NewPair] gives the controller and the agent unless
// [WithPairIDs] says otherwise.
const (
	PairControllerID = "proto::usptest-controller"
	PairAgentID      = "proto::usptest-agent"
)

// Pair is a started controller and a started fake agent that know each
// other, on a memory network of their own. [NewPair] makes one.
type Pair struct {
	// Controller is the controller under test, started.
	Controller *usp.Controller
	// Agent is the controller's handle on the fake agent: the value the
	// code under test calls.
	Agent *usp.Agent
	// Fake is the fake agent itself, for its Model, Faults and Received.
	Fake *Agent
	// Network is the memory network between them; its Disconnect and
	// Reconnect cut and restore the controller's or the agent's link.
	Network *memory.Network
}

// PairOption configures [NewPair].
type PairOption func(*pairConfig) error

type pairConfig struct {
	ctrlID, agentID string
	ctrlOpts        []usp.Option
	agentOpts       []Option
}

// WithPairIDs sets the endpoint IDs of the controller and the agent (by
// default [PairControllerID] and [PairAgentID]).
func WithPairIDs(controllerID, agentID string) PairOption {
	return func(c *pairConfig) error {
		if controllerID == "" || agentID == "" || controllerID == agentID {
			return optErr("pair endpoint IDs %q and %q", controllerID, agentID)
		}
		c.ctrlID, c.agentID = controllerID, agentID
		return nil
	}
}

// WithAgentOptions adds options for the fake agent ([WithModel],
// [WithSessionContext], ...). Its memory transport and its controller are
// set already.
func WithAgentOptions(opts ...Option) PairOption {
	return func(c *pairConfig) error {
		c.agentOpts = append(c.agentOpts, opts...)
		return nil
	}
}

// WithControllerOptions adds options for the controller (usp.WithHooks,
// usp.WithNotifyHandler, ...). Its memory transport and the agent's address
// are set already.
func WithControllerOptions(opts ...usp.Option) PairOption {
	return func(c *pairConfig) error {
		c.ctrlOpts = append(c.ctrlOpts, opts...)
		return nil
	}
}

// closeTimeout bounds the start and each Close of the helpers that take a
// [TB].
const closeTimeout = 10 * time.Second

// StartPair starts a controller and a fake agent (serving [DefaultModel]
// unless [WithAgentOptions] gives another) over a new memory network. The
// caller closes them with [Pair.Close]; in a test, [NewPair] does that.
//
//	p, err := usptest.StartPair(ctx)
//	if err != nil { ... }
//	defer p.Close(ctx)
//	v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
func StartPair(ctx context.Context, opts ...PairOption) (*Pair, error) {
	cfg := pairConfig{ctrlID: PairControllerID, agentID: PairAgentID}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	net := memory.NewNetwork()
	cep, err := net.Endpoint(cfg.ctrlID)
	if err != nil {
		return nil, err
	}
	aep, err := net.Endpoint(cfg.agentID)
	if err != nil {
		return nil, err
	}
	ctrlOpts := append([]usp.Option{
		usp.WithTransport(cep),
		usp.WithAgent(cfg.agentID, mtp.Address{MTP: mtp.Memory, To: cfg.agentID}),
	}, cfg.ctrlOpts...)
	c, err := usp.NewController(cfg.ctrlID, ctrlOpts...)
	if err != nil {
		return nil, err
	}
	agentOpts := append([]Option{
		WithTransport(aep),
		WithController(cfg.ctrlID, mtp.Address{MTP: mtp.Memory, To: cfg.ctrlID}),
	}, cfg.agentOpts...)
	fake, err := NewAgent(cfg.agentID, agentOpts...)
	if err != nil {
		return nil, err
	}
	// The controller first, so that it hears the agent's connect record
	// and Boot! event.
	if err := c.Start(ctx); err != nil {
		_ = fake.Close(ctx)
		_ = c.Close(ctx)
		return nil, fmt.Errorf("starting the controller: %w", err)
	}
	if err := fake.Start(ctx); err != nil {
		_ = fake.Close(ctx)
		_ = c.Close(ctx)
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	return &Pair{Controller: c, Agent: c.Agent(cfg.agentID), Fake: fake, Network: net}, nil
}

// Close closes the fake agent, then the controller, at most until ctx
// ends.
func (p *Pair) Close(ctx context.Context) error {
	return errors.Join(p.Fake.Close(ctx), p.Controller.Close(ctx))
}

// NewPair is [StartPair] for tests: t.Cleanup closes the pair, and anything
// that fails ends the test through t.Fatalf.
//
//	p := usptest.NewPair(t)
//	v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
func NewPair(t TB, opts ...PairOption) *Pair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	p, err := StartPair(ctx, opts...)
	if err != nil {
		t.Fatalf("usptest.NewPair: %v", err)
		return nil
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// StartAgent makes and starts a fake agent for the rest of the test, over
// the transports opts give (a memory endpoint, or an MQTT transport on a
// mqtttest broker); t.Cleanup closes it. Anything that fails ends the test
// through t.Fatalf.
func StartAgent(t TB, endpointID string, opts ...Option) *Agent {
	t.Helper()
	a, err := NewAgent(endpointID, opts...)
	if err != nil {
		t.Fatalf("usptest.StartAgent: %v", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		_ = a.Close(ctx)
		t.Fatalf("usptest.StartAgent: %v", fmt.Errorf("starting %s: %w", endpointID, err))
		return nil
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = a.Close(ctx)
	})
	return a
}
