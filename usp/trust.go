package usp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/gousp/gousp/mtp"
)

// MovePolicy says which records may change the address an agent is
// reached at. Over MQTT and STOMP a record names its sender only by its
// from_id and its reply address, both chosen by whoever sent it, so any
// agent on the broker can claim to be another one; the policy decides how
// much such a claim may change. See SECURITY.md.
type MovePolicy int

const (
	// MoveOnConnect, the default: a learned agent's address changes only
	// through a connect record (MQTTConnect, STOMPConnect, WebSocketConnect,
	// UDSConnect) or a record whose sender the transport authenticated
	// (WebSocket and UDS sessions). Any other record that claims the
	// agent but comes from a different reply address is dropped.
	MoveOnConnect MovePolicy = iota
	// MoveOnAnyRecord: every record moves its agent to its reply address,
	// as gousp did before it had policies. Only for networks where every
	// agent is trusted.
	MoveOnAnyRecord
	// MoveNever: an agent keeps the first address learned for it until it
	// is forgotten (its session ends, or it is evicted); records that
	// claim it from elsewhere are dropped.
	MoveNever
)

func (p MovePolicy) String() string {
	switch p {
	case MoveOnConnect:
		return "move-on-connect"
	case MoveOnAnyRecord:
		return "move-on-any-record"
	case MoveNever:
		return "move-never"
	}
	return fmt.Sprintf("MovePolicy(%d)", int(p))
}

// PeerVerifier ties the from_id of a record to what the transport or the
// broker vouches for, such as the MQTT topic the record was published to
// when the broker's ACL lets each client publish only to a topic of its
// own (in.ReceivedOn), or the reply address ([mtp.Inbound].ReplyTo). It
// runs for every record before anything else is done with it; a non-nil
// error drops the record. It runs on the transport's delivery goroutine
// and must be quick; ctx ends when the controller closes. Install it with
// [WithPeerVerifier].
type PeerVerifier func(ctx context.Context, from string, in mtp.Inbound) error

// Errors of the trust checks, in logs and in the errors of calls.
var (
	// ErrPeerRefused: a record was dropped because the [PeerVerifier]
	// refused it, or because it claims an agent whose address it may not
	// change.
	ErrPeerRefused = errors.New("usp: record refused: sender not verified as its from_id")
	// ErrMalformedResponse: the agent answered a request with a message
	// that is not valid USP (e.g. an Error with err_code 0).
	ErrMalformedResponse = errors.New("usp: malformed response")
)

// Defaults of the limits on what agents can make the controller keep.
const (
	// DefaultMaxLearnedAgents bounds the agents known only from their
	// traffic (not from [WithAgent]); see [WithAgentLimits].
	DefaultMaxLearnedAgents = 1_000_000
	// DefaultNegotiations bounds the GetSupportedProtocol requests that
	// [WithProtocolNegotiation] runs at once.
	DefaultNegotiations = 16
)

// WithMovePolicy sets which records may change a learned agent's address
// (default [MoveOnConnect]). Agents configured with [WithAgent] never move
// unless [WithConfiguredAgentMoves] is given too.
func WithMovePolicy(p MovePolicy) Option {
	return func(c *config) error {
		if p < MoveOnConnect || p > MoveNever {
			return fmt.Errorf("%w: move policy %d", ErrInvalidOption, int(p))
		}
		c.movePolicy = p
		return nil
	}
}

// WithConfiguredAgentMoves lets the agents configured with [WithAgent]
// move as the [MovePolicy] allows learned ones to. By default they are
// pinned: their configured address is the only one used, and records that
// claim them from another address are dropped.
func WithConfiguredAgentMoves() Option {
	return func(c *config) error {
		c.moveConfigured = true
		return nil
	}
}

// WithPeerVerifier installs v to check every record's from_id against
// what the transport or the broker vouches for; see [PeerVerifier] and the
// broker recipes in SECURITY.md.
func WithPeerVerifier(v PeerVerifier) Option {
	return func(c *config) error {
		if v == nil {
			return fmt.Errorf("%w: nil peer verifier", ErrInvalidOption)
		}
		c.verifier = v
		return nil
	}
}

// WithAgentLimits bounds the agents the controller keeps without being
// told to: those learned from their traffic rather than configured with
// [WithAgent]. Beyond max of them (default [DefaultMaxLearnedAgents]), a
// newcomer evicts one of a small random sample: preferably one that never
// answered a call, and the least recently heard of those; with
// idle > 0 (default 0: never), learned agents not heard from for idle are
// forgotten. An agent with a call in progress, a session context or an
// open WebSocket or UDS session is never evicted; a forgotten agent is
// learned again from its next record, and until then calls to it fail
// with [ErrUnknownAgent].
func WithAgentLimits(max int, idle time.Duration) Option {
	return func(c *config) error {
		if max <= 0 || idle < 0 {
			return fmt.Errorf("%w: agent limits %d, idle %v", ErrInvalidOption, max, idle)
		}
		c.maxLearned, c.agentIdle = max, idle
		return nil
	}
}

// WithNegotiationLimit bounds how many GetSupportedProtocol requests
// [WithProtocolNegotiation] has in flight at once (default
// [DefaultNegotiations]); agents that appear while the limit is reached
// are not asked, and keep the default record version until they
// reconnect.
func WithNegotiationLimit(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: negotiation limit %d", ErrInvalidOption, n)
		}
		c.negotiations = n
		return nil
	}
}

// verifyPeer runs the user's PeerVerifier, if any, for a record from from.
func (c *Controller) verifyPeer(from string, in mtp.Inbound) error {
	if c.cfg.verifier == nil {
		return nil
	}
	err := c.safely("peer verifier", func() error { return c.cfg.verifier(c.ctx, from, in) })
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPeerRefused, err)
	}
	return nil
}

// placement decides what a record claiming to come from agent a does to
// its address: whether it is accepted at all, and whether addr (the
// record's reply address, or a connect record's subscribed topic) becomes
// the agent's address. authed says the transport authenticated the sender
// as the agent; connect that the record is a connect record. Called with
// c.mu held.
func (c *Controller) placement(a *agentState, r *route, addr mtp.Address, authed, connect bool) (accept, move bool) {
	switch {
	case addr.IsZero():
		// Nothing to learn; such a record cannot come from anywhere in
		// particular, and moves nothing.
		return true, false
	case a.route == nil || a.addr.IsZero():
		return true, true // first address: learning, not moving
	case a.route == r && a.addr == addr:
		return true, false
	case a.configured && !c.cfg.moveConfigured:
		// Pinned. A sender the transport authenticated is the agent,
		// wherever it is; anything else claiming it is not.
		return authed, false
	case c.cfg.movePolicy == MoveNever:
		return authed, false
	case authed, connect, c.cfg.movePolicy == MoveOnAnyRecord:
		return true, true
	}
	return false, false
}

// mayPlace reports whether a connect record claiming agent id, arriving
// over r with the address addr, will be accepted by agentSeen, without
// changing anything.
func (c *Controller) mayPlace(id string, r *route, in mtp.Inbound, addr mtp.Address) bool {
	a, _ := c.agents.get(id)
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	accept, _ := c.placement(a, r, addr, in.PeerID != "", true)
	return accept
}

// mayDisconnect reports whether a Disconnect record claiming agent id,
// from reply address in.ReplyTo over r, may mark it gone: only when the
// transport authenticated the sender, or the record comes from the
// agent's known address.
func (c *Controller) mayDisconnect(id string, r *route, in mtp.Inbound) bool {
	if in.PeerID != "" {
		return true // handleRecord has checked it is id
	}
	a, _ := c.agents.get(id)
	if a == nil || in.ReplyTo.IsZero() {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.route == r && a.addr == in.ReplyTo
}

// admitNewAgent makes room for one more learned agent, evicting the least
// recently heard of a random sample when the limit is reached. It reports
// false when no room could be made. Called with c.mu held.
func (c *Controller) admitNewAgent() bool {
	if c.learned < c.cfg.maxLearned {
		return true
	}
	// The walk starts in a random shard, and map iteration at a random
	// place: the first few evictable agents are a random sample. The victim is an agent that never
	// answered a call if the sample has one (anyone can make up an
	// endpoint ID and a reply address, but only an agent reachable there
	// answers), and the least recently heard of those. A flood of made-up
	// IDs then evicts made-up IDs, not the agents the controller talks to.
	const sample = 16
	var victim *agentState
	seen := 0
	for _, a := range c.agents.all(rand.IntN(tableShards)) {
		if !c.evictable(a) {
			continue
		}
		switch {
		case victim == nil,
			victim.answered.Load() && !a.answered.Load(),
			victim.answered.Load() == a.answered.Load() && a.lastSeen.Load() < victim.lastSeen.Load():
			victim = a
		}
		if seen++; seen == sample {
			break
		}
	}
	if victim == nil {
		return false
	}
	c.forget(victim)
	return true
}

// evictable reports whether a can be forgotten without breaking anything
// in progress. Called with c.mu held.
func (c *Controller) evictable(a *agentState) bool {
	return !a.configured && a.inflight.Load() == 0 && a.session == nil && !a.authed
}

// forget removes a learned agent. Called with c.mu held.
func (c *Controller) forget(a *agentState) {
	c.agents.del(a.id)
	a.mu.Lock()
	a.forgotten = true
	a.mu.Unlock()
	c.live.forget(a.id)
	c.learned--
	c.noteAgent(AgentEvicted, a)
	c.log.Debug("forgetting agent", "agent", a.id, "last_seen", unixTime(a.lastSeen.Load()))
}

// sweepIdle forgets the learned agents not heard from for the idle time
// of [WithAgentLimits], until the controller closes.
func (c *Controller) sweepIdle() {
	idle := c.cfg.agentIdle
	t := time.NewTicker(min(max(idle/4, 10*time.Millisecond), 5*time.Minute))
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case now := <-t.C:
			c.mu.Lock()
			for _, a := range c.agents.all(0) {
				if c.evictable(a) && now.UnixNano()-a.lastSeen.Load() > int64(idle) {
					c.forget(a)
				}
			}
			c.mu.Unlock()
			c.flushAgentNotes()
		}
	}
}

// safely runs a user callback, turning a panic into an error that is
// logged with its stack, so that no callback can take the controller down.
func (c *Controller) safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("usp: %s panicked: %v", what, r)
			c.log.Error("callback panicked", "callback", what, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	return f()
}
