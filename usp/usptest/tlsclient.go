package usptest

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/internal/e2e/tlsrec"
)

// The agent as TLS client of payload security (TR-369 "Session
// Handshake": the endpoint that opens the session context is the TLS
// client). When the agent has a message for a controller and no TLS
// session with it is up, it opens a session context of its own whose
// first record carries its ClientHello, keeps the message, and sends it
// once the handshake completed. A handshake of its own that fails (the
// controller's TLS alert) ends the session context, and the agent tries
// again after the wait of R-E2E.10 (TP-469 3.5).

// maxQueued bounds the messages kept while no TLS session is up: the
// oldest go first, as a device with a small buffer would lose them.
const maxQueued = 64

// sendTLS sends one message of the agent's in the TLS session with the
// controller, or keeps it until the handshake, opening a session of the
// agent's when none is under way.
func (a *Agent) sendTLS(r route, s fullSession, payload []byte) {
	p := s.tls
	if s.expire() {
		// A new session context needs a new handshake.
		p.mu.Lock()
		ep := p.ep
		p.ep = nil
		p.mu.Unlock()
		if ep != nil {
			_ = ep.Close()
		}
	}
	sid := s.ID()
	p.mu.Lock()
	if ep := p.ep; ep != nil && p.sid == sid && sid != 0 && ep.Handshaken() {
		p.mu.Unlock()
		sealed, err := ep.Seal(payload)
		if err != nil {
			a.log.Warn("message not sent: the TLS session with the controller failed", "to_id", s.peer, "err", err)
			return
		}
		a.sendRawInSession(r, s, sealed)
		return
	}
	p.queue = append(p.queue, payload)
	if n := len(p.queue) - maxQueued; n > 0 {
		p.queue = p.queue[n:]
	}
	// A handshake under way (either end's) or a retry waiting will send
	// the queue.
	busy := (p.ep != nil && p.sid == sid && sid != 0) || p.retry != nil
	p.mu.Unlock()
	if !busy {
		a.openOwnTLS(r, s)
	}
}

// openOwnTLS opens a session context of the agent's whose first record
// carries the ClientHello of a new TLS session, the agent as TLS client.
func (a *Agent) openOwnTLS(r route, s fullSession) {
	p := s.tls
	cfg := p.cfg
	if a.faults.trustingAnyEndpointID() {
		cfg.PeerID = ""
	}
	ep := tlsrec.Client(cfg)
	ctx, cancel := context.WithTimeout(a.runCtx, 10*time.Second)
	hello, err := ep.Start(ctx)
	cancel()
	if err != nil || len(hello) == 0 {
		_ = ep.Close()
		a.log.Error("starting a TLS handshake", "to_id", s.peer, "err", err)
		return
	}
	// R-E2E.21: a new session context, not the one that failed; Wrap
	// opens it with sequence_id 1.
	s.End()
	recs, err := s.Wrap(hello)
	if err != nil {
		_ = ep.Close()
		a.log.Error("wrapping a ClientHello", "err", err)
		return
	}
	s.last.Store(time.Now().UnixNano())
	p.mu.Lock()
	old := p.ep
	p.ep, p.sid, p.client = ep, s.ID(), true
	p.stopHandshakeTimer()
	peer := s.peer
	p.hsTimer = time.AfterFunc(p.hsTimeout, func() { a.enqueue(func() { a.ownTLSTimedOut(peer, p, ep) }) })
	p.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	a.log.Debug("opening a TLS session as client", "to_id", s.peer, "session_id", s.ID())
	for _, rec := range recs {
		if a.sendRecord(r, rec) != nil {
			return
		}
	}
}

// flushTLS sends the messages kept for the handshake of ep, once it
// completed, and starts the retry count again (R-E2E.12).
func (a *Agent) flushTLS(r route, s fullSession, ep *tlsrec.Endpoint) {
	p := s.tls
	p.mu.Lock()
	if p.ep != ep {
		p.mu.Unlock()
		return
	}
	q := p.queue
	p.queue, p.fails = nil, 0
	if p.retry != nil {
		p.retry.Stop()
		p.retry = nil
	}
	p.stopHandshakeTimer()
	p.mu.Unlock()
	for _, m := range q {
		sealed, err := ep.Seal(m)
		if err != nil {
			a.log.Warn("message not sent: the TLS session with the controller failed", "to_id", s.peer, "err", err)
			return
		}
		a.sendRawInSession(r, s, sealed)
	}
}

// ownTLSFailed ends the session context whose handshake of the agent's
// failed and sets the next attempt after R-E2E.10's wait.
func (a *Agent) ownTLSFailed(s fullSession) {
	s.End()
	p := s.tls
	if a.faults.sendingClearAfterTLSFailure() {
		p.mu.Lock()
		q := p.queue
		p.queue = nil
		p.mu.Unlock()
		if r, ok := a.routeTo(s.peer); ok {
			for _, m := range q {
				_ = a.sendPayload(r, s.peer, m)
			}
		}
	}
	p.mu.Lock()
	p.stopHandshakeTimer()
	p.fails++
	wait := a.sessionRetryWait(s.peer, p.fails)
	if p.retry != nil {
		p.retry.Stop()
	}
	peer := s.peer
	p.retry = time.AfterFunc(wait, func() { a.enqueue(func() { a.retryOwnTLS(peer, p) }) })
	n := p.fails
	p.mu.Unlock()
	a.log.Info("TLS handshake refused by the controller; retrying later", "to_id", peer, "retry", n, "wait", wait)
}

// ownTLSTimedOut ends a handshake of the agent's, ep, that has not
// completed within PayloadTLS.HandshakeTimeout, as a refused one: the
// controller never answered, or stopped half-way.
func (a *Agent) ownTLSTimedOut(peer string, p *payloadTLS, ep *tlsrec.Endpoint) {
	p.mu.Lock()
	current := p.ep == ep && !ep.Handshaken()
	p.mu.Unlock()
	s, ok := a.sessionWith(peer, false).(fullSession)
	if !current || !ok || s.tls != p {
		return
	}
	a.log.Warn("TLS handshake unanswered by the controller", "to_id", peer, "after", p.hsTimeout)
	if p.drop(ep) {
		a.ownTLSFailed(s)
	}
}

// retryOwnTLS is the next attempt after a failed handshake: a new session
// and handshake when messages still wait.
func (a *Agent) retryOwnTLS(peer string, p *payloadTLS) {
	p.mu.Lock()
	p.retry = nil
	waiting := len(p.queue) > 0
	p.mu.Unlock()
	s, ok := a.sessionWith(peer, false).(fullSession)
	if !waiting || !ok || s.tls != p {
		return // nothing to send, or the session state was dropped since
	}
	if r, ok := a.routeTo(peer); ok {
		a.openOwnTLS(r, s)
	}
}

// sessionRetryWait is the wait before the n-th attempt in a row to
// establish a session context (R-E2E.10, R-E2E.11): drawn between
// m·(k/1000)^(n-1) and m·(k/1000)^n seconds, n at most 10, with m and k
// from the controller's E2ESession entry (TR-181's defaults, 5 s and
// 2000, without one). The draw stays in the first three quarters of the
// range, so that the time the records take keeps the retry inside it as
// a controller sees it.
func (a *Agent) sessionRetryWait(peer string, n int) time.Duration {
	if a.faults.retryingSessionAtOnce() {
		return 0
	}
	m, k := uint64(5), uint64(2000)
	md := a.model
	md.mu.RLock()
	if c := md.controllerByID(peer); c != nil {
		if o := md.instByPath(c.path + "E2ESession."); o != nil {
			if v, err := datamodel.ParseUnsignedInt(o.val("SessionRetryMinimumWaitInterval")); err == nil {
				m = max(uint64(v), 1)
			}
			if v, err := datamodel.ParseUnsignedInt(o.val("SessionRetryIntervalMultiplier")); err == nil {
				k = max(uint64(v), 1000)
			}
		}
	}
	md.mu.RUnlock()
	n = min(max(n, 1), 10)
	f := float64(k) / 1000
	lo := float64(m) * math.Pow(f, float64(n-1))
	hi := float64(m) * math.Pow(f, float64(n))
	secs := lo + rand.Float64()*(hi-lo)*3/4
	return time.Duration(secs * float64(time.Second))
}
