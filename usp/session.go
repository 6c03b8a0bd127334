package usp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// sends unacknowledged requests again and asks for missing records
	// (default 5s). Each further round without progress waits twice as
	// long as the one before, up to 16 intervals.
	RetryInterval time.Duration
	// MaxRetries is how many such rounds in a row the controller makes
	// before it gives up: the calls waiting on the session fail with
	// [ErrSessionFailed] and the session restarts. 0 means 4; negative
	// values are refused.
	MaxRetries int
	// Fallback makes the controller exchange messages with an agent
	// without session context once the agent refused it (Disconnect record
	// 7106): the requests it refused are sent again that way, so the calls
	// carry on, and so are later ones. Agents without session support and
	// agents whose E2ESession.SessionMode is Allow take that. Off by
	// default: an agent in Require mode answers every record without
	// session context by restarting its session.
	Fallback bool
}

// Session refusals: after the n-th Disconnect 7106 in a row, no session
// record goes to the agent for RetryInterval·2^(n-1); after
// maxRefusals, none at all until the agent opens a session itself.
const maxRefusals = 3

// maxBackoffShift caps the retry backoff at 2^4 = 16 intervals.
const maxBackoffShift = 4

// WithSessionContext makes the controller exchange messages with the
// chosen agents inside an end-to-end session context. A session is opened
// by the first message either side sends, and restarted as the
// specification says (a new session_id from the agent, a failed record, a
// Disconnect record). Agents that send a session context record without it
// being enabled for them get a Disconnect record with code 7106.
func WithSessionContext(cfg SessionConfig) Option {
	return func(c *config) error {
		if cfg.MaxSegment < 0 || cfg.RetryInterval < 0 || cfg.MaxRetries < 0 {
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

// session is an end-to-end session context with one agent. The fields
// after s are guarded by c.mu.
type session struct {
	c *Controller
	a *agentState
	s *e2e.Session

	last      e2e.Stats           // at the previous retry tick, to see progress
	idle      int                 // retry ticks without progress since the last Retry
	inflight  map[string]inflight // requests sent in the session, by msg_id
	refusals  int                 // refusals in a row (see refusal)
	unjoined  int                 // Disconnect 7105 in a row to sessions the agent never joined
	refusedAt time.Time
	resend    [][]byte // refused requests to send without session context (Fallback)
}

// inflight is a request sent in the session whose answer is awaited.
type inflight struct {
	session uint64 // session_id it was sent in
	seq     uint64 // sequence_id of its last record
	payload []byte // the message, to send again without session context (Fallback)
}

// sessionEnabled reports whether session context is enabled for the
// agent id. The configuration does not change: no lock is needed.
func (c *Controller) sessionEnabled(id string) bool {
	sc := c.cfg.session
	return sc != nil && (len(sc.Agents) == 0 || slices.Contains(sc.Agents, id))
}

// sessionFor returns the agent's session, creating it if session context is
// enabled for the agent; nil otherwise. c.mu must be held.
func (c *Controller) sessionFor(a *agentState) (*session, error) {
	if a.session != nil {
		return a.session, nil
	}
	if !c.sessionEnabled(a.id) {
		return nil, nil
	}
	sc := c.cfg.session
	retries := sc.MaxRetries
	if retries == 0 {
		retries = e2e.DefaultMaxRetries
	}
	s, err := e2e.New(e2e.Config{
		LocalID:       c.id,
		PeerID:        a.id,
		Version:       a.version,
		MaxSegment:    sc.MaxSegment,
		MaxReassembly: c.cfg.maxRecordSize,
		MaxRetries:    retries,
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSessionFailed, err)
	}
	sess := &session{c: c, a: a, s: s, inflight: map[string]inflight{}}
	a.mu.Lock()
	a.session = sess
	a.mu.Unlock()
	return sess, nil
}

// fallback reports whether messages to the agent go without session
// context, because it refused one and SessionConfig.Fallback allows that.
func (s *session) fallback() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.cfg.session.Fallback && s.refusals > 0
}

// refusedLocked returns an error while the agent's refusal of session
// context holds: within the backoff after a Disconnect 7106, or for good
// after maxRefusals of them.
func (s *session) refusedLocked(now time.Time) error {
	if s.refusals == 0 {
		return nil
	}
	if s.refusals >= maxRefusals {
		return fmt.Errorf("%w with %s: %w (%d times; no more attempts until the agent opens a session)", ErrSessionFailed, s.a.id, ErrSessionRefused, s.refusals)
	}
	wait := s.c.cfg.session.RetryInterval << (s.refusals - 1)
	if now.Sub(s.refusedAt) < wait {
		return fmt.Errorf("%w with %s: %w (next attempt in %s)", ErrSessionFailed, s.a.id, ErrSessionRefused, (wait - now.Sub(s.refusedAt)).Round(time.Millisecond))
	}
	return nil
}

// send wraps one message in the session and sends its records. msgID
// names a request whose answer is awaited ("" for answers), so that the
// retry timer knows what waits on acknowledgements.
func (s *session) send(ctx context.Context, msgID string, payload []byte) error {
	s.c.mu.Lock()
	err := s.refusedLocked(time.Now())
	s.c.mu.Unlock()
	if err != nil {
		return err
	}
	recs, err := s.s.Wrap(payload)
	if err != nil {
		return fmt.Errorf("%w with %s: %w", ErrSessionFailed, s.a.id, err)
	}
	if msgID != "" {
		last := recs[len(recs)-1].GetSessionContext()
		s.c.mu.Lock()
		if s.c.pending.has(msgID) {
			s.inflight[msgID] = inflight{session: last.GetSessionId(), seq: last.GetSequenceId(), payload: payload}
		}
		s.c.mu.Unlock()
		if s.s.Stats().SessionID != last.GetSessionId() {
			// The session failed between Wrap and now, and fail may
			// have run before the request was recorded as in flight:
			// its records belong to a session that is over.
			return fmt.Errorf("%w with %s: session %d ended before the request left", ErrSessionFailed, s.a.id, last.GetSessionId())
		}
	}
	return s.sendRecords(ctx, recs)
}

func (s *session) sendRecords(ctx context.Context, recs []*usprecord.Record) error {
	s.c.mu.Lock()
	r, addr, configured := s.a.route, s.a.addr, s.a.configured
	s.c.mu.Unlock()
	if r == nil || (addr.IsZero() && !configured) {
		return fmt.Errorf("%w %s", ErrUnknownAgent, s.a.id)
	}
	for _, rec := range recs {
		if err := s.c.sendRecord(ctx, r, addr, rec); err != nil {
			return err
		}
	}
	return nil
}

// fail fails the calls waiting on the agent with a session error, after
// the session restarted or gave up: their requests or answers were lost
// with it.
//
// Only the calls whose requests went in a session that is over fail: by
// the time fail runs the session has restarted, and a call made since then
// (as soon as the messages the failure still delivered answered the call
// before it) is in the new session and goes on waiting.
func (s *session) fail(err error) {
	current := s.s.Stats().SessionID
	var lost []*pending
	s.c.mu.Lock()
	for id, f := range s.inflight {
		if f.session == current {
			continue
		}
		delete(s.inflight, id)
		if p, ok := s.c.pending.take(id, func(p *pending) bool { return p.agent == s.a.id }); ok {
			lost = append(lost, p)
		}
	}
	s.c.mu.Unlock()
	err = fmt.Errorf("%w with %s: %w", ErrSessionFailed, s.a.id, err)
	for _, p := range lost {
		p.finish(nil, err)
	}
}

// handleSessionRecord handles a SessionContext record from an agent.
func (c *Controller) handleSessionRecord(a *agentState, r *route, rec *usprecord.Record) {
	c.mu.Lock()
	sess, err := c.sessionFor(a)
	addr, version := a.addr, a.version
	if sess != nil {
		// The agent speaks session context now: whatever it refused
		// before is over.
		sess.refusals, sess.unjoined = 0, 0
	}
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
		d := record.NewDisconnect(version, a.id, c.id, "session context is not enabled for this agent", record.CodeSessionContextNotAllowed)
		ctx, cancel := c.answerContext()
		defer cancel()
		if err := c.sendRecord(ctx, r, addr, d); err != nil {
			c.log.Warn("could not refuse a session context", "agent", a.id, "err", err)
		}
		return
	}
	before := sess.s.ID()
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
	var pe *e2e.ProtocolError
	switch {
	case errors.As(err, &pe):
		// Answers to our requests would come in the old session, which
		// is ignored from now on.
		sess.fail(err)
	case before != 0 && sess.s.ID() != before:
		// The agent started another session (R-E2E.6): our records in
		// the old one are dropped, never resent, and their answers
		// would come in it, which is ignored from now on. Waiting for
		// the deadline would help no one. (Seen with the reference
		// agent: it opened a session while answering in ours.)
		sess.fail(fmt.Errorf("agent moved from session %d to %d; the request may have been executed", before, sess.s.ID()))
	}
}

// sessionDisconnectError is the error that calls waiting on an agent get
// when it sends a DisconnectRecord: a session error when the code is about
// the session context and the agent has one enabled, as well as
// [ErrAgentGone].
func (c *Controller) sessionDisconnectError(from string, d *usprecord.DisconnectRecord) error {
	base := fmt.Errorf("%w: Disconnect record %d: %s", ErrAgentGone, d.GetReasonCode(), d.GetReason())
	c.mu.Lock()
	a, _ := c.agents.get(from)
	var sess *session
	if a != nil {
		sess, _ = c.sessionFor(a)
	}
	c.mu.Unlock()
	if sess == nil {
		return base
	}
	switch code := d.GetReasonCode(); {
	case sess.refusal(d):
		return fmt.Errorf("%w: %w: %w", ErrSessionFailed, ErrSessionRefused, base)
	case code == record.CodeSessionContextTerminated || code == record.CodeInvalidRecordValue || code == record.CodeSegmentationNotSupported || code == record.CodeRecordNotParsed:
		return fmt.Errorf("%w: %w", ErrSessionFailed, base)
	}
	return base
}

// refusal reports whether a Disconnect refuses session context: 7106, or
// 7105 to a session we opened and the agent never wrote in, when its reason
// says session context is not allowed (OB-USP-A's experimental build in
// SessionMode Forbid answers 7105 "Session Context not allowed") or when
// the previous one was such a 7105 too. (A single 7105 to an opening can
// be a failure the agent follows with an opening of its own, as OB-USP-A
// in Require mode does.)
func (s *session) refusal(d *usprecord.DisconnectRecord) bool {
	if d.GetReasonCode() == record.CodeSessionContextNotAllowed {
		return true
	}
	if !s.unjoined7105(d) {
		return false
	}
	s.c.mu.Lock()
	again := s.unjoined > 0
	s.c.mu.Unlock()
	return again || strings.Contains(strings.ToLower(d.GetReason()), "not allowed")
}

// unjoined7105 reports whether d is a 7105 to a session we opened, sent
// records in, and the agent never wrote in.
func (s *session) unjoined7105(d *usprecord.DisconnectRecord) bool {
	st := s.s.Stats()
	return d.GetReasonCode() == record.CodeSessionContextTerminated && st.SessionID != 0 && st.Originated && !st.Confirmed && st.NextSequence > 1
}

// restartSession ends the session with an agent after the agent sent a
// DisconnectRecord with the given code. Nothing is sent: the next message
// opens a new session whose first record has sequence_id 1, unless the
// agent opens one first (OB-USP-A does right after its Disconnect, with
// the next session id of its own count). After a refusal (see refusal) no
// session record goes to the agent for a while, see [SessionConfig]; with
// Fallback, the requests it refused are sent again without session context
// and restartSession reports that it did so: the calls go on waiting.
func (c *Controller) restartSession(a *agentState, d *usprecord.DisconnectRecord) (resent bool) {
	c.mu.Lock()
	sess := a.session
	c.mu.Unlock()
	refused, unjoined := false, false
	if sess != nil {
		refused, unjoined = sess.refusal(d), sess.unjoined7105(d)
	}
	c.mu.Lock()
	var again [][]byte
	r, addr, configured := a.route, a.addr, a.configured
	if sess != nil {
		if unjoined {
			sess.unjoined++
		} else {
			sess.unjoined = 0
		}
		if refused {
			sess.refusals++
			sess.refusedAt = time.Now()
			if c.cfg.session.Fallback {
				for id, f := range sess.inflight {
					if c.pending.has(id) {
						again = append(again, f.payload)
					}
				}
			}
		}
		clear(sess.inflight)
	}
	c.mu.Unlock()
	if sess == nil {
		return false
	}
	sess.s.End()
	// The agent may have lost its session state; let it start again
	// with the id it counts, even one we had.
	sess.s.ExpectPeerRestart()
	if !refused || !c.cfg.session.Fallback {
		return false
	}
	if r == nil || (addr.IsZero() && !configured) {
		return false
	}
	// OB-USP-A drops its connection after a Disconnect record and
	// announces itself again once reconnected: what is sent before is
	// lost. So the refused requests go on its connect record, or after
	// RetryInterval from an agent that sends none.
	c.mu.Lock()
	sess.resend = append(sess.resend, again...)
	c.mu.Unlock()
	time.AfterFunc(c.cfg.session.RetryInterval, sess.flushResend)
	return true
}

// flushResend sends the requests refused with session context again
// without it. They were refused before they were processed: each is
// executed once.
func (s *session) flushResend() {
	c := s.c
	c.mu.Lock()
	again := s.resend
	s.resend = nil
	r, addr, version, closed, configured := s.a.route, s.a.addr, s.a.version, c.closed, s.a.configured
	c.mu.Unlock()
	if len(again) == 0 || closed || r == nil || (addr.IsZero() && !configured) {
		return
	}
	ctx, cancel := c.answerContext()
	defer cancel()
	for _, p := range again {
		if err := c.sendRecord(ctx, r, addr, record.NewNoSessionContext(version, s.a.id, c.id, p)); err != nil {
			c.log.Warn("could not send a refused request without session context", "agent", s.a.id, "err", err)
			return
		}
	}
}

// sessionAnnounced notes that an agent announced itself with a connect
// record, as after a (re)connection or a reboot: if it lost its session
// state, its next session may reuse an id (see e2e.Session.ExpectPeerRestart).
func (c *Controller) sessionAnnounced(from string) {
	c.mu.Lock()
	var sess *session
	if a, _ := c.agents.get(from); a != nil {
		sess = a.session
	}
	c.mu.Unlock()
	if sess != nil {
		sess.s.ExpectPeerRestart()
		sess.flushResend()
	}
}

// retrySessions resends, with a backoff, what the agents have not
// acknowledged while calls wait on it, and asks for missing records;
// sessions that are idle or progressing send nothing.
func (c *Controller) retrySessions() {
	t := time.NewTicker(c.cfg.session.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		var due []*session
		c.mu.Lock()
		for _, a := range c.agents.all(0) {
			if s := a.session; s != nil && s.dueLocked() {
				due = append(due, s)
			}
		}
		c.mu.Unlock()
		for _, s := range due {
			s.retry()
		}
	}
}

// dueLocked is one tick of the retry timer for s: it reports whether a
// resend round is due. One is due when the session made no progress since
// the last tick while a call waits for an unacknowledged request or a gap
// is open, and the backoff (1, 2, 4... ticks) has passed. c.mu is held.
func (s *session) dueLocked() bool {
	st := s.s.Stats()
	progressed := st.SessionID != s.last.SessionID || st.Expected != s.last.Expected || st.Acknowledged != s.last.Acknowledged
	s.last = st
	waiting := false
	for id, f := range s.inflight {
		switch {
		case !s.c.pending.has(id):
			delete(s.inflight, id) // answered or given up
		case f.session == st.SessionID && f.seq >= st.Acknowledged:
			waiting = true
		}
		// Delivered, or in a session that is over: nothing to resend,
		// but kept so that a failure of its session fails the call.
	}
	gap := st.OutOfOrder > 0 || st.Reassembling > 0
	if progressed || !(waiting || gap) {
		s.idle = 0
		return false
	}
	s.idle++
	if s.idle < 1<<min(st.Retries, maxBackoffShift) {
		return false
	}
	s.idle = 0
	return true
}

// retry makes one resend round; when the session gives up, the messages
// it still completed are handled and the calls waiting on it fail.
func (s *session) retry() {
	payloads, recs, err := s.s.Retry()
	if len(recs) > 0 {
		if err := s.sendRecords(s.c.ctx, recs); err != nil {
			s.c.log.Info("session retry failed", "agent", s.a.id, "err", err)
		}
	}
	if len(payloads) > 0 {
		// Messages that arrived beyond a gap given up.
		s.c.mu.Lock()
		r := s.a.route
		s.c.mu.Unlock()
		for _, p := range payloads {
			s.c.handlePayload(s.a, r, p, true)
		}
	}
	if err == nil {
		return
	}
	s.c.log.Warn("session context made no progress; giving up", "agent", s.a.id, "err", err)
	var pe *e2e.ProtocolError
	if !errors.As(err, &pe) {
		// Only acknowledgements are missing: the agent may have lost the
		// session. The next message opens a new one.
		s.s.End()
	}
	s.fail(err)
}
