package usp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// SessionConfig turns on the end-to-end session context (TR-369 "End to
// End Message Exchange") for some or all agents: sequenced records with
// acknowledgement and retransmission, and segmentation of large messages.
// Most agents in the field, the reference agent among them, do not enable
// it, so it is off unless [WithSessionContext] is given.
type SessionConfig struct {
	// Agents limits session context to these endpoint IDs; empty means
	// every agent.
	Agents []string
	// MaxSegment splits messages longer than this many bytes over several
	// records; 0 never splits.
	MaxSegment int
	// RetryInterval is how long the controller waits for progress before it
	// sends unacknowledged records again and asks for missing ones (default
	// 5s).
	RetryInterval time.Duration
}

// WithSessionContext makes the controller exchange messages with the
// chosen agents inside an end-to-end session context. A session is opened
// by the first message either side sends, and restarted as the
// specification says (a new session_id from the agent, a failed record, a
// Disconnect record). Agents that send a session context record without it
// being enabled for them get a Disconnect record with code 7106.
func WithSessionContext(cfg SessionConfig) Option {
	return func(c *config) error {
		if cfg.MaxSegment < 0 || cfg.RetryInterval < 0 {
			return fmt.Errorf("%w: negative session context setting", ErrInvalidOption)
		}
		if cfg.RetryInterval == 0 {
			cfg.RetryInterval = 5 * time.Second
		}
		cfg.Agents = slices.Clone(cfg.Agents)
		c.session = &cfg
		return nil
	}
}

// session is an end-to-end session context with one agent.
type session struct {
	c    *Controller
	a    *agentState
	s    *e2e.Session
	last e2e.Stats // at the previous retry tick, to see progress
}

// sessionFor returns the agent's session, creating it if session context is
// enabled for the agent; nil otherwise. c.mu must be held.
func (c *Controller) sessionFor(a *agentState) (*session, error) {
	if a.session != nil {
		return a.session, nil
	}
	sc := c.cfg.session
	if sc == nil || (len(sc.Agents) > 0 && !slices.Contains(sc.Agents, a.id)) {
		return nil, nil
	}
	s, err := e2e.New(e2e.Config{
		LocalID:       c.id,
		PeerID:        a.id,
		Version:       a.version,
		MaxSegment:    sc.MaxSegment,
		MaxReassembly: c.cfg.maxRecordSize,
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSessionFailed, err)
	}
	a.session = &session{c: c, a: a, s: s}
	return a.session, nil
}

// send wraps one message in the session and sends its records.
func (s *session) send(ctx context.Context, payload []byte) error {
	recs, err := s.s.Wrap(payload)
	if err != nil {
		return fmt.Errorf("%w with %s: %w", ErrSessionFailed, s.a.id, err)
	}
	return s.sendRecords(ctx, recs)
}

func (s *session) sendRecords(ctx context.Context, recs []*usprecord.Record) error {
	s.c.mu.Lock()
	r, addr := s.a.route, s.a.addr
	s.c.mu.Unlock()
	if r == nil || addr.IsZero() {
		return fmt.Errorf("%w %s", ErrUnknownAgent, s.a.id)
	}
	for _, rec := range recs {
		if err := s.c.sendRecord(ctx, r, addr, rec); err != nil {
			return err
		}
	}
	return nil
}

// handleSessionRecord handles a SessionContext record from an agent.
func (c *Controller) handleSessionRecord(a *agentState, r *route, rec *usprecord.Record) {
	c.mu.Lock()
	sess, err := c.sessionFor(a)
	addr, version := a.addr, a.version
	c.mu.Unlock()
	if err != nil {
		c.log.Warn("cannot open a session context", "agent", a.id, "err", err)
		return
	}
	if sess == nil {
		// As the reference agent does: a session context that is not
		// enabled is refused with a Disconnect record.
		if addr.IsZero() {
			return
		}
		d := record.NewDisconnect(version, a.id, c.id, "session context is not enabled for this agent", record.CodeSessionNotAllowed)
		ctx, cancel := c.answerContext()
		defer cancel()
		if err := c.sendRecord(ctx, r, addr, d); err != nil {
			c.log.Warn("could not refuse a session context", "agent", a.id, "err", err)
		}
		return
	}
	payloads, out, err := sess.s.Receive(rec)
	if err != nil {
		var pe *e2e.ProtocolError
		if errors.As(err, &pe) {
			c.log.Warn("session context failed; restarted", "agent", a.id, "code", pe.Code, "err", err)
		} else {
			c.log.Info("ignoring session record", "agent", a.id, "err", err)
		}
	}
	if len(out) > 0 {
		ctx, cancel := c.answerContext()
		err := sess.sendRecords(ctx, out)
		cancel()
		if err != nil {
			c.log.Warn("could not send session records", "agent", a.id, "err", err)
		}
	}
	for _, p := range payloads {
		// On the answer lane: answers are taken here, the rest goes on
		// to the agent's main lane, in the session's order.
		if msgLane(p) == laneAnswer {
			c.handlePayload(a, r, p, true)
			continue
		}
		c.intake.put(boxKey{a.id, laneMain}, item{r: r, payload: p, size: int64(len(p))}, true)
	}
}

// restartSession gives up the session with an agent, after the agent
// disconnected: the next message opens a new one.
func (c *Controller) restartSession(a *agentState) {
	c.mu.Lock()
	sess := a.session
	c.mu.Unlock()
	if sess == nil {
		return
	}
	if _, err := sess.s.Restart(0); err != nil {
		c.log.Warn("could not restart session context", "agent", a.id, "err", err)
	}
}

// retrySessions resends what the agents have not acknowledged, for the
// sessions that made no progress during the last interval.
func (c *Controller) retrySessions() {
	t := time.NewTicker(c.cfg.session.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		var stuck []*session
		c.mu.Lock()
		for _, a := range c.agents {
			s := a.session
			if s == nil {
				continue
			}
			st := s.s.Stats()
			if (st.Unacknowledged > 0 || st.OutOfOrder > 0) && st == s.last {
				stuck = append(stuck, s)
			}
			s.last = st
		}
		c.mu.Unlock()
		for _, s := range stuck {
			if err := s.sendRecords(c.ctx, s.s.Retry()); err != nil {
				c.log.Info("session retry failed", "agent", s.a.id, "err", err)
			}
		}
	}
}
