package usptest

import (
	"errors"
	"time"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// SessionConfig turns on the end-to-end session context (TR-369 "End to
// End Message Exchange"), which OB-USP-A and most agents leave off.
type SessionConfig struct {
	// MaxSegment splits messages longer than this many bytes over several
	// records, to test a controller's reassembly; 0 never splits.
	MaxSegment int
	// RetryInterval is how often the agent sends again the records a
	// controller has not acknowledged; 0 never does (the controller can
	// still ask for them with retransmit_id).
	RetryInterval time.Duration
}

// WithSessionContext makes the agent accept SessionContext records and
// answer inside the session, and send its notifications to a controller
// inside a session (opening one if needed). Without it, SessionContext
// records are answered with a DisconnectRecord (7106), as OB-USP-A does.
// Requests that come in NoSessionContext records are still answered that
// way.
func WithSessionContext(cfg SessionConfig) Option {
	return func(c *config) error {
		if cfg.MaxSegment < 0 || cfg.RetryInterval < 0 {
			return optErr("negative session context setting")
		}
		c.session = &cfg
		return nil
	}
}

// sessionWith returns the session with a controller, creating it when
// session context is on and create is set; nil otherwise.
func (a *Agent) sessionWith(peer string, create bool) *e2e.Session {
	if a.cfg.session == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[peer]; s != nil || !create {
		return s
	}
	s, err := e2e.New(e2e.Config{
		LocalID: a.id, PeerID: peer, Version: a.cfg.version,
		MaxSegment: a.cfg.session.MaxSegment, MaxReassembly: a.cfg.maxRecordSize,
	}, 0)
	if err != nil {
		a.log.Error("creating session context", "peer", peer, "err", err)
		return nil
	}
	a.sessions[peer] = s
	return s
}

// endSession forgets the session with a controller, after its Disconnect.
func (a *Agent) endSession(peer string) {
	a.mu.Lock()
	delete(a.sessions, peer)
	a.mu.Unlock()
}

// handleSession processes a SessionContext record: the records the session
// asks to send go back at once, and each message it completes is handled
// like a NoSessionContext one, answered inside the session.
func (a *Agent) handleSession(r route, ok bool, from string, in mtp.Inbound, rec *usprecord.Record) {
	s := a.sessionWith(from, true)
	if s == nil {
		if ok {
			a.disconnect(r, from, record.CodeSessionNotAllowed, "session context records are not supported")
		}
		return
	}
	payloads, out, err := s.Receive(rec)
	if err != nil {
		var pe *e2e.ProtocolError
		if !errors.As(err, &pe) {
			a.log.Debug("ignoring session context record", "from_id", from, "err", err)
			return
		}
		a.log.Warn("session context failed; a new one starts", "from_id", from, "err", err)
	}
	if ok {
		for _, o := range out {
			_ = a.sendRecord(r, o)
		}
	}
	for _, p := range payloads {
		a.handlePayload(r, ok, from, in, p, func(resp []byte) { a.sendInSession(r, s, resp) })
	}
}

// sendInSession wraps a message in the records of a session and sends them.
func (a *Agent) sendInSession(r route, s *e2e.Session, payload []byte) {
	recs, err := s.Wrap(payload)
	if err != nil {
		a.log.Error("wrapping a message in the session context", "err", err)
		return
	}
	for _, rec := range recs {
		if a.sendRecord(r, rec) != nil {
			return
		}
	}
}

// sessionRetries sends again, every RetryInterval, the records controllers
// have not acknowledged.
func (a *Agent) sessionRetries(every time.Duration) {
	defer a.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.runCtx.Done():
			return
		case <-t.C:
		}
		a.enqueue(func() {
			a.mu.Lock()
			peers := make(map[string]*e2e.Session, len(a.sessions))
			for p, s := range a.sessions {
				peers[p] = s
			}
			a.mu.Unlock()
			for p, s := range peers {
				recs, _ := s.Retry() // bounded; gives up on a silent controller
				if len(recs) == 0 {
					continue
				}
				if r, ok := a.routeTo(p); ok {
					for _, rec := range recs {
						_ = a.sendRecord(r, rec)
					}
				}
			}
		})
	}
}
