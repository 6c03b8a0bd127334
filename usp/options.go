package usp

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gousp/gousp/mtp"
)

// Option configures a [Controller]; options are checked by [NewController].
type Option func(*config) error

type config struct {
	transports     []mtp.Transport
	logger         *slog.Logger
	agents         map[string]mtp.Address
	version        string
	notifyHandlers []NotifyHandler
	agentHandlers  []func(AgentEvent)
	broker         BrokerHandler
	maxRecordSize  int
	intake         IntakeConfig
	events         EventQueueConfig
	dupWindow      int
	session        *SessionConfig
	hooks          []Hook
	autoProtocol   bool
	live           LivenessConfig
	store          Store
	cluster        *Cluster
	stateHandlers  []func(StateChange)
	negotiations   int
	movePolicy     MovePolicy
	moveConfigured bool
	verifier       PeerVerifier
	maxLearned     int
	agentIdle      time.Duration
}

// WithTransport adds a transport; a controller needs at least one and can
// use several at once (e.g. MQTT for some agents, WebSocket for others).
// The controller starts and closes the transports it is given.
func WithTransport(t mtp.Transport) Option {
	return func(c *config) error {
		if t == nil {
			return fmt.Errorf("%w: nil transport", ErrInvalidOption)
		}
		c.transports = append(c.transports, t)
		return nil
	}
}

// WithLogger sets where the controller logs; by default it logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithAgent configures the address of an agent, for agents that never
// announce themselves (or before they do). The agent is pinned there:
// records that claim it from another address are dropped, unless
// [WithConfiguredAgentMoves] lets them move it as the [MovePolicy] says.
// addr.To may be empty where the binding needs no destination: a UDS or
// WebSocket client, whose one peer is the agent (NewController checks
// it). Over a session transport the agent is addressable from the moment
// its session opens, without WithAgent.
func WithAgent(endpointID string, addr mtp.Address) Option {
	return func(c *config) error {
		if endpointID == "" {
			return fmt.Errorf("%w: empty agent endpoint ID", ErrInvalidOption)
		}
		if addr.MTP == "" {
			return fmt.Errorf("%w: agent %s: address needs an MTP", ErrInvalidOption, endpointID)
		}
		if c.agents == nil {
			c.agents = make(map[string]mtp.Address)
		}
		c.agents[endpointID] = addr
		return nil
	}
}

// WithRecordVersion sets the USP Record version written to agents whose
// supported versions are not known yet. The default, "1.3", is what agents
// in the field (the reference agent among them) accept.
func WithRecordVersion(v string) Option {
	return func(c *config) error {
		if v == "" {
			return fmt.Errorf("%w: empty record version", ErrInvalidOption)
		}
		c.version = v
		return nil
	}
}

// WithNotifyHandler adds a handler for every Notify from every agent. See
// [NotifyHandler] for when NotifyResp is sent. More can be added later with
// [Controller.OnNotify].
func WithNotifyHandler(h NotifyHandler) Option {
	return func(c *config) error {
		if h == nil {
			return fmt.Errorf("%w: nil notify handler", ErrInvalidOption)
		}
		c.notifyHandlers = append(c.notifyHandlers, h)
		return nil
	}
}

// WithAgentHandler adds an observer of agents appearing and leaving.
func WithAgentHandler(f func(AgentEvent)) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: nil agent handler", ErrInvalidOption)
		}
		c.agentHandlers = append(c.agentHandlers, f)
		return nil
	}
}

// WithBrokerHandler makes the controller act as a USP Broker towards USP
// Services: their Register and Deregister requests reach h. Without it they
// are answered with error 7001 (not supported).
func WithBrokerHandler(h BrokerHandler) Option {
	return func(c *config) error {
		if h == nil {
			return fmt.Errorf("%w: nil broker handler", ErrInvalidOption)
		}
		c.broker = h
		return nil
	}
}

// WithMaxRecordSize bounds the size of a record the controller accepts;
// larger ones are dropped. The default is 16 MiB.
func WithMaxRecordSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: max record size %d", ErrInvalidOption, n)
		}
		c.maxRecordSize = n
		return nil
	}
}

// WithNotifyWorkers bounds the intake to workers agents handled at once
// and workers*queue records waiting in all.
//
// Deprecated: notifications are no longer dropped when a queue is full;
// use [WithIntake], whose IntakeConfig.Workers and MaxRecords this sets.
func WithNotifyWorkers(workers, queue int) Option {
	return func(c *config) error {
		if workers <= 0 || queue <= 0 {
			return fmt.Errorf("%w: notify workers %d, queue %d", ErrInvalidOption, workers, queue)
		}
		c.intake.Workers, c.intake.MaxRecords = workers, workers*queue
		return nil
	}
}

// WithDuplicateWindow sets how many recent notification msg_ids are
// remembered per agent to recognise retransmissions (default 64). Each
// costs 8 bytes (a digest, not the msg_id) once the agent has sent
// notifications.
func WithDuplicateWindow(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: duplicate window %d", ErrInvalidOption, n)
		}
		c.dupWindow = n
		return nil
	}
}

// WithHooks installs observability hooks: each value implements any
// subset of the hook interfaces ([RequestStartHook], [RequestEndHook],
// [NotifyHook], [AgentHook], [RecordHook], [TransportHook], [IntakeHooks],
// [SessionHooks], or the deprecated [Hooks]). Hooks given in several
// WithHooks options add up; each is called in the order given. A nil value,
// or one that implements none of the interfaces, is refused.
func WithHooks(hooks ...Hook) Option {
	return func(c *config) error {
		for _, h := range hooks {
			if h == nil {
				return fmt.Errorf("%w: nil hooks", ErrInvalidOption)
			}
			var probe hookSet
			if !probe.add(h) {
				return errNoHook(h)
			}
		}
		c.hooks = append(c.hooks, hooks...)
		return nil
	}
}

// WithProtocolNegotiation makes the controller ask each agent for its
// supported USP versions (GetSupportedProtocol) when it first appears, so
// the Record version sent to it is the highest both support. Off by
// default: records use [WithRecordVersion]'s version, raised or lowered as
// the agent's own records and OnBoardRequest tell. At most
// [WithNegotiationLimit] such requests run at once.
func WithProtocolNegotiation() Option {
	return func(c *config) error {
		c.autoProtocol = true
		return nil
	}
}

func defaultConfig() config {
	return config{
		logger:        slog.New(slog.DiscardHandler),
		version:       "1.3",
		maxRecordSize: 16 << 20,
		dupWindow:     64,
		negotiations:  DefaultNegotiations,
		maxLearned:    DefaultMaxLearnedAgents,
	}
}
