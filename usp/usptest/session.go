package usptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/datamodel"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
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
	// still ask for them with retransmit_id). Ignored with Reference.
	RetryInterval time.Duration
	// Reference makes the session context behave like the reference
	// agent's, OB-USP-A built with its experimental
	// E2ESESSION_EXPERIMENTAL_USP_V_1_2 and E2ESession.SessionMode
	// Require, rather than like a complete implementation:
	//
	//   - its session ids count from 2 per controller, and from 2 again
	//     after a reboot (Device.Reboot()), with sequence_id 1 again;
	//   - a record without exactly one payload field (one empty field
	//     is what a record without a message must carry), with a new
	//     session_id but a sequence_id other than 1, or with SAR states out
	//     of order, is answered with a DisconnectRecord 7105 and a record
	//     opening the agent's next session;
	//   - a new session_id from the controller is always adopted;
	//   - retransmit_id is ignored, nothing is kept or resent, and no
	//     record is sent only to acknowledge;
	//   - records are processed as they arrive: no reordering and no
	//     duplicate detection (a record received twice is executed twice);
	//   - a NoSessionContext record is not processed: it restarts the
	//     session like a failed record.
	Reference bool
	// Allow, with Reference, is SessionMode Allow: NoSessionContext
	// records are processed while no session is up (one that is up is
	// ended with a DisconnectRecord 7105 instead), a failed record ends
	// the session without opening another, and the agent's own messages
	// go without session context while none is up.
	Allow bool
	// Forbid, with Reference, is SessionMode Forbid: every SessionContext
	// record is refused with a DisconnectRecord 7105 (the reference agent
	// writes "Session Context not allowed" but not code 7106), and
	// NoSessionContext records are processed.
	Forbid bool
	// TLS turns on TLS payload security (payload_security TLS12, TR-369
	// "Secure Message Exchange") in the complete session context; nil
	// leaves payloads in clear. Ignored with Reference.
	TLS *PayloadTLS
}

// PayloadTLS is the agent's side of TLS payload security. The endpoint
// that opens the session context is the TLS client: in a session the
// controller opens, the agent answers its handshake as the TLS server;
// when the agent has a message to send (a notification) and no TLS session
// is up, it opens a session context of its own and starts the handshake as
// the TLS client, sending its messages once the handshake completed.
// Records of the session carry payload_security TLS12; one with PLAINTEXT
// fails with 7102 and a new session. Renegotiation is ignored (R-E2E.40); a
// handshake the controller started that fails sends the TLS alert and the
// next ClientHello starts again. A handshake of the agent's that fails (a
// TLS alert from the controller) ends its session context, and the agent
// opens a new one after the wait TR-369 R-E2E.10 gives: for the n-th retry
// in a row, between m·(k/1000)^(n-1) and m·(k/1000)^n seconds (n at most
// 10), m and k the controller's
// Device.LocalAgent.Controller.{i}.E2ESession.SessionRetryMinimumWaitInterval
// and SessionRetryIntervalMultiplier. The count starts again once a record
// of a completed handshake arrives (R-E2E.12).
type PayloadTLS struct {
	// Certificate is the agent's: an ECDSA P-256 key, its endpoint ID in a
	// subjectAltName URI (urn:bbf:usp:id:...).
	Certificate tls.Certificate
	// Roots are the authorities of the controllers' certificates, which
	// must name the controller's endpoint ID the same way (R-E2E.41).
	Roots *x509.CertPool
	// HandshakeTimeout is how long a handshake of the agent's may take
	// before it counts as failed (as the controller's alert would: the session context ends and the agent retries after
	// R-E2E.10's wait), so that a controller that never answers does not
	// hold the agent's messages for ever; 0 means 30 seconds.
	HandshakeTimeout time.Duration
}

// handshakeTimeout is PayloadTLS.HandshakeTimeout's default.
const handshakeTimeout = 30 * time.Second

// WithSessionContext makes the agent accept SessionContext records and
// answer inside the session, and send its notifications to a controller
// inside a session (opening one if needed). Without it, SessionContext
// records are answered with a DisconnectRecord (7106), as OB-USP-A does,
// and the agent announces itself again with its connect record, as
// OB-USP-A does after it dropped the connection the Disconnect ended.
// Requests that come in NoSessionContext records are still answered that
// way (except with Reference, see [SessionConfig]).
func WithSessionContext(cfg SessionConfig) Option {
	return func(c *config) error {
		if cfg.MaxSegment < 0 || cfg.RetryInterval < 0 {
			return optErr("negative session context setting")
		}
		if cfg.TLS != nil && (len(cfg.TLS.Certificate.Certificate) == 0 || cfg.TLS.Roots == nil) {
			return optErr("SessionConfig.TLS needs a Certificate and Roots")
		}
		if cfg.TLS != nil && cfg.TLS.HandshakeTimeout < 0 {
			return optErr("negative SessionConfig.TLS.HandshakeTimeout")
		}
		if (cfg.Allow || cfg.Forbid) && !cfg.Reference {
			return optErr("SessionConfig.Allow and Forbid need Reference")
		}
		if cfg.Allow && cfg.Forbid {
			return optErr("SessionConfig.Allow and Forbid exclude each other")
		}
		c.session = &cfg
		return nil
	}
}

// agentSession is the agent's end of a session context with one
// controller: a complete one (e2e.Session) or the reference agent's.
type agentSession interface {
	// receive takes a SessionContext record; out goes back at once.
	receive(rec *usprecord.Record) (payloads [][]byte, out []*usprecord.Record, err error)
	// wrap returns the records carrying a message of the agent's.
	wrap(payload []byte) ([]*usprecord.Record, error)
	// retry returns what the retry timer sends again.
	retry() []*usprecord.Record
	// active reports whether the agent's own messages go in the session.
	active() bool
	// noSession is told of a NoSessionContext record: it reports whether
	// to process it, and returns records to send back.
	noSession() (process bool, out []*usprecord.Record)
}

// fullSession is a complete session context end. It follows the
// controller's Device.LocalAgent.Controller.{i}.E2ESession settings:
// MaxRetransmitTries bounds how often one record is resent on request
// (TP-469 3.14), and a session idle for SessionExpiration seconds is not
// used again: the agent's next message opens a new one (TP-469 3.10).
type fullSession struct {
	*e2e.Session
	a    *Agent
	peer string
	last *atomic.Int64 // unix nanoseconds of the last record either way
	tls  *payloadTLS   // nil: payloads in clear
}

// payloadTLS is the agent's TLS end of the session context with one
// controller: the server of a session the controller opened, or the client
// of one the agent opened (tlsclient.go).
type payloadTLS struct {
	cfg tlsrec.Config
	mu  sync.Mutex
	ep  *tlsrec.Endpoint
	sid uint64 // the session the endpoint belongs to
	// The agent's own handshakes (tlsclient.go).
	client bool        // ep is the agent's TLS client
	queue  [][]byte    // the agent's messages waiting for a handshake
	fails  int         // handshakes of the agent's that failed in a row
	retry  *time.Timer // the next attempt, while one waits
	// hsTimer ends a handshake of the agent's that the controller left
	// unanswered for hsTimeout (PayloadTLS.HandshakeTimeout).
	hsTimer   *time.Timer
	hsTimeout time.Duration
}

// endpoint returns the TLS endpoint of session sid: a new one when the
// session changed (a new session context needs a new handshake) or the
// last handshake failed.
func (p *payloadTLS) endpoint(sid uint64, f *Faults) *tlsrec.Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == nil || p.sid != sid {
		if p.ep != nil {
			_ = p.ep.Close()
		}
		cfg := p.cfg
		cfg.PassRenegotiation = f.passingRenegotiation()
		if f.trustingAnyEndpointID() {
			cfg.PeerID = ""
		}
		p.ep, p.sid, p.client = tlsrec.Server(cfg), sid, false
	}
	return p.ep
}

// drop forgets a failed endpoint and reports whether it was the agent's
// own TLS client.
func (p *payloadTLS) drop(ep *tlsrec.Endpoint) (client bool) {
	p.mu.Lock()
	if p.ep == ep {
		p.ep = nil
		client = p.client
	}
	p.mu.Unlock()
	_ = ep.Close()
	return client
}

// stopHandshakeTimer stops the timer of the agent's handshake; p.mu is
// held.
func (p *payloadTLS) stopHandshakeTimer() {
	if p.hsTimer != nil {
		p.hsTimer.Stop()
		p.hsTimer = nil
	}
}

func (p *payloadTLS) close() {
	p.mu.Lock()
	ep := p.ep
	p.ep = nil
	p.queue = nil
	if p.retry != nil {
		p.retry.Stop()
		p.retry = nil
	}
	p.stopHandshakeTimer()
	p.mu.Unlock()
	if ep != nil {
		_ = ep.Close()
	}
}

func (s fullSession) receive(rec *usprecord.Record) ([][]byte, []*usprecord.Record, error) {
	tries, _ := s.settings()
	s.SetMaxRetransmitTries(tries)
	s.last.Store(time.Now().UnixNano())
	return s.Receive(rec)
}

func (s fullSession) wrap(p []byte) ([]*usprecord.Record, error) {
	s.expire()
	return s.Wrap(p)
}

// expire ends the session when it was idle longer than SessionExpiration,
// and marks it used now; it reports whether it ended it.
func (s fullSession) expire() bool {
	tries, expiry := s.settings()
	s.SetMaxRetransmitTries(tries)
	now := time.Now()
	if prev := s.last.Swap(now.UnixNano()); expiry > 0 && prev != 0 && now.Sub(time.Unix(0, prev)) > expiry {
		// Expired while idle: the next Wrap opens a new session
		// (R-E2E.6 makes the controller follow), with sequence_id 1
		// again.
		s.End()
		return true
	}
	return false
}

// settings reads the controller's E2ESession entry: the retransmission
// limit (-1 no limit, 0 no retransmission, as in the data model) and the
// idle expiry, 0 for none.
func (s fullSession) settings() (tries int, expiry time.Duration) {
	if s.a.faults.ignoringE2E() {
		return -1, 0
	}
	m := s.a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := m.controllerByID(s.peer)
	if c == nil {
		return e2e.DefaultMaxRetransmitTries, 0
	}
	o := m.instByPath(c.path + "E2ESession.")
	if o == nil {
		return e2e.DefaultMaxRetransmitTries, 0
	}
	tries = e2e.DefaultMaxRetransmitTries
	if n, err := datamodel.ParseInt(o.val("MaxRetransmitTries")); err == nil {
		tries = int(max(n, -1))
	}
	if secs, err := datamodel.ParseUnsignedInt(o.val("SessionExpiration")); err == nil {
		expiry = time.Duration(secs) * time.Second
	}
	return tries, expiry
}

func (s fullSession) retry() []*usprecord.Record {
	_, recs, _ := s.Retry() // bounded: gives up on a silent controller
	return recs
}
func (s fullSession) active() bool                           { return true }
func (s fullSession) noSession() (bool, []*usprecord.Record) { return true, nil }

// sessionWith returns the session with a controller, creating it when
// session context is on and create is set; nil otherwise.
func (a *Agent) sessionWith(peer string, create bool) agentSession {
	if a.cfg.session == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[peer]; s != nil || !create {
		return s
	}
	var s agentSession
	if a.cfg.session.Reference {
		s = newRefSession(a, peer)
	} else {
		ec := e2e.Config{
			LocalID: a.id, PeerID: peer, Version: a.cfg.version,
			MaxSegment: a.cfg.session.MaxSegment, MaxReassembly: a.cfg.maxRecordSize,
		}
		var pt *payloadTLS
		if t := a.cfg.session.TLS; t != nil {
			ec.PayloadSecurity = usprecord.Record_TLS12
			pt = &payloadTLS{cfg: tlsrec.Config{Certificate: t.Certificate, Roots: t.Roots, PeerID: peer}, hsTimeout: t.HandshakeTimeout}
			if pt.hsTimeout == 0 {
				pt.hsTimeout = handshakeTimeout
			}
		}
		es, err := e2e.New(ec, 0)
		if err != nil {
			a.log.Error("creating session context", "peer", peer, "err", err)
			return nil
		}
		s = fullSession{Session: es, a: a, peer: peer, last: new(atomic.Int64), tls: pt}
	}
	lazyMap(&a.sessions)[peer] = s
	return s
}

// endSession forgets the session with a controller, after its Disconnect.
// The reference agent keeps its state (and its session id count).
func (a *Agent) endSession(peer string) {
	if a.cfg.session != nil && a.cfg.session.Reference {
		return
	}
	a.mu.Lock()
	closeTLS(a.sessions[peer])
	delete(a.sessions, peer)
	a.mu.Unlock()
}

// closeTLS ends the TLS endpoint of a session, if it has one.
func closeTLS(s agentSession) {
	if fs, ok := s.(fullSession); ok && fs.tls != nil {
		fs.tls.close()
	}
}

// forgetSessions drops every session state, as a reboot does.
func (a *Agent) forgetSessions() {
	a.mu.Lock()
	for _, s := range a.sessions {
		closeTLS(s)
	}
	clear(a.sessions)
	a.mu.Unlock()
}

// handleSession processes a SessionContext record: the records the session
// asks to send go back at once, and each message it completes is handled
// like a NoSessionContext one, answered inside the session.
func (a *Agent) handleSession(r route, ok bool, from string, in mtp.Inbound, rec *usprecord.Record) {
	s := a.sessionWith(from, true)
	if s == nil {
		if ok {
			a.disconnect(r, from, record.CodeSessionContextNotAllowed, "session context records are not supported")
			// OB-USP-A drops the connection after a Disconnect record
			// and announces itself again once reconnected.
			a.sendConnectTo(r.b, from, r.addr)
		}
		return
	}
	answer := func(resp *uspmsg.Msg, fromControl bool) {
		out, err := encodeAnswer(resp, fromControl)
		if err != nil {
			a.log.Error("encoding response", "err", err)
			return
		}
		a.sendInSession(r, s, out)
	}
	if fs, isFull := s.(fullSession); isFull && fs.tls != nil && rec.GetPayloadSecurity() == usprecord.Record_PLAINTEXT && a.faults.acceptingPlaintextInTLS() {
		for _, p := range rec.GetSessionContext().GetPayload() {
			a.handlePayload(r, ok, from, in, p, answer)
		}
		return
	}
	payloads, out, err := s.receive(rec)
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
	if fs, isFull := s.(fullSession); isFull && fs.tls != nil {
		payloads = a.openTLS(r, ok, fs, payloads)
	}
	for _, p := range payloads {
		a.handlePayload(r, ok, from, in, p, answer)
	}
}

// openTLS feeds the TLS bytes the session delivered to the session's TLS
// server, sends back what TLS writes (handshake, alerts) and returns the
// messages it decrypted.
func (a *Agent) openTLS(r route, ok bool, s fullSession, payloads [][]byte) [][]byte {
	var msgs [][]byte
	for _, p := range payloads {
		ep := s.tls.endpoint(s.ID(), a.faults)
		ctx, cancel := context.WithTimeout(a.runCtx, 10*time.Second)
		plain, out, err := ep.Receive(ctx, p)
		cancel()
		if len(out) > 0 && ok {
			a.sendRawInSession(r, s, out)
		}
		if err != nil {
			a.log.Warn("TLS payload security failed", "from_id", s.peer, "err", err)
			if s.tls.drop(ep) {
				a.ownTLSFailed(s)
			}
			continue
		}
		if ep.Handshaken() {
			a.flushTLS(r, s, ep)
		}
		msgs = append(msgs, plain...)
	}
	return msgs
}

// handleNoSession reports whether a NoSessionContext record from a
// controller is processed; the reference agent in Require mode refuses it.
func (a *Agent) handleNoSession(r route, ok bool, from string) bool {
	if a.cfg.session == nil || !a.cfg.session.Reference {
		return true
	}
	s := a.sessionWith(from, true)
	if s == nil {
		return true
	}
	process, out := s.noSession()
	if ok {
		for _, o := range out {
			_ = a.sendRecord(r, o)
		}
	}
	return process
}

// sendInSession wraps a message in the records of a session and sends them.
func (a *Agent) sendInSession(r route, s agentSession, payload []byte) {
	if fs, ok := s.(fullSession); ok && fs.tls != nil {
		a.sendTLS(r, fs, payload)
		return
	}
	a.sendRawInSession(r, s, payload)
}

// sendRawInSession wraps bytes in the records of a session and sends them.
func (a *Agent) sendRawInSession(r route, s agentSession, payload []byte) {
	recs, err := s.wrap(payload)
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
			peers := make(map[string]agentSession, len(a.sessions))
			for p, s := range a.sessions {
				peers[p] = s
			}
			a.mu.Unlock()
			for p, s := range peers {
				recs := s.retry()
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
