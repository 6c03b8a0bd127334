package conformance

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Section 3 cases of TLS payload security (TR-369 "Secure Message
// Exchange"): the kit plays the TLS client in a session context it opens
// ([WithPayloadTLS] gives it a certificate). The integrity of the records'
// non-payload fields (2.7, 3.2-3.4) is in cases_records_mac.go.

func init() {
	register(
		&Case{ID: "3.6", Title: "Agent does not accept TLS renegotiation for E2E message exchange",
			Features: []Feature{FeatSessionContext}, Run: run3_6},
		&Case{ID: "3.7", Title: "Use of X.509 Certificates", Features: []Feature{FeatSessionContext}, Run: run3_7},
		&Case{ID: "3.13", Title: "Agent Rejects Records with Different Payload Security than the Established Context",
			Features: []Feature{FeatSessionContext}, Run: run3_13},
	)
}

// tlsSession is the kit's end of a session context with TLS payload
// security: the TLS client, and the numbering of the records both ways.
type tlsSession struct {
	t        *T
	id       uint64
	seq      uint64 // the kit's next sequence_id
	expected uint64 // the agent's next sequence_id
	tls      *tlsrec.Endpoint
	protect  bool // sign or MAC every record, even without WithRecordSigning
	// last is the agent's record next returned last.
	last *usprecord.Record
}

// send sends TLS bytes in the session's next record.
func (s *tlsSession) send(payload []byte, security usprecord.Record_PayloadSecurity) {
	sc := &usprecord.SessionContextRecord{SessionId: s.id, SequenceId: s.seq, ExpectedId: s.expected, Payload: [][]byte{payload}}
	s.seq++
	rec := record.NewSessionContext(record.DefaultVersion, s.t.eq.AgentID(), s.t.eq.ControllerID(), sc)
	rec.PayloadSecurity = security
	if s.t.eq.signRecords || s.protect {
		if err := s.t.eq.protect(rec, s.tls); err != nil {
			s.t.Abortf("setup: %v", err)
		}
	}
	if err := s.t.eq.SendRecord(s.t.ctx, rec, ""); err != nil {
		s.t.Abortf("cannot send: %v", err)
	}
}

// next waits for the agent's next record of the session and feeds its
// payload to TLS; it returns what TLS decrypted and wrote back.
func (s *tlsSession) next(mark int) (plain [][]byte, out []byte, ok bool, err error) {
	ib, ok := s.nextRecord(mark)
	if !ok {
		return nil, nil, false, nil
	}
	sc := ib.Record.GetSessionContext()
	if ib.Record.GetPayloadSecurity() != usprecord.Record_TLS12 || len(sc.GetPayload()) != 1 {
		return nil, nil, true, nil
	}
	ctx, cancel := context.WithTimeout(s.t.ctx, s.t.cfg.responseTimeout())
	defer cancel()
	plain, out, err = s.tls.Receive(ctx, sc.GetPayload()[0])
	return plain, out, true, err
}

// nextRecord waits for the agent's next record of the session, in
// sequence, without feeding it to TLS.
func (s *tlsSession) nextRecord(mark int) (Inbound, bool) {
	ctx, cancel := context.WithTimeout(s.t.ctx, s.t.cfg.responseTimeout())
	defer cancel()
	ib, ok := s.t.eq.Await(ctx, mark, func(ib Inbound) bool {
		sc := ib.Record.GetSessionContext()
		return sc != nil && ib.Record.GetFromId() == s.t.eq.AgentID() && sc.GetSessionId() == s.id && sc.GetSequenceId() == s.expected
	})
	if ok {
		s.expected++
		s.last = ib.Record
	}
	return ib, ok
}

// handshake opens a session context carrying a TLS handshake, the kit as
// the TLS client, and reports whether it completed: each flight of the
// kit goes in one record, and the agent's records are fed to TLS until it
// has the next flight to send (TLS 1.2 takes two round trips).
func (s *tlsSession) handshake() (bool, error) {
	out, err := s.tls.Start(s.t.ctx)
	if err != nil {
		return false, err
	}
	for range 4 {
		mark := s.t.Mark()
		s.send(out, usprecord.Record_TLS12)
		out = nil
		for len(out) == 0 && !s.tls.Handshaken() {
			_, o, ok, err := s.next(mark)
			if err != nil || !ok {
				return false, err
			}
			out = o
		}
		if s.tls.Handshaken() {
			return true, nil
		}
	}
	return false, nil
}

// openTLS starts a TLS session context with the agent or ends the case.
func openTLS(t *T) *tlsSession { return openTLSWith(t, false) }

// openTLSWith is openTLS; with protect the kit signs or MACs each record
// of the session even without [WithRecordSigning].
func openTLSWith(t *T, protect bool) *tlsSession {
	ep := t.eq.payloadTLS()
	if ep == nil {
		t.Skipf("the test equipment has no certificate for TLS payload security (conformance.WithPayloadTLS)")
	}
	t.Cleanup("close the kit's TLS session", func(context.Context) error { return ep.Close() })
	endSession(t)
	s := &tlsSession{t: t, id: newSessionID(), seq: 1, expected: 1, tls: ep, protect: protect}
	if ok, err := s.handshake(); !ok {
		t.Abortf("setup: the TLS handshake in the session context did not complete: %v", err)
	}
	t.Notef("TLS 1.2 session established in session context %d", s.id)
	return s
}

// getIn returns a Get of the agent's endpoint ID and its msg_id.
func getIn(t *T) (string, []byte) {
	id := msg.NewID()
	b, err := msg.Encode(msg.Get{Paths: []string{agentEID}}.Build(id))
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	return id, b
}

// answers reports whether m answers msgID.
func answers(payload []byte, msgID string) bool {
	var m uspmsg.Msg
	return record.UnmarshalPayload(payload, &m) == nil && m.GetHeader().GetMsgId() == msgID
}

func run3_13(t *T) {
	s := openTLS(t)
	// The session works: an encrypted Get is answered, encrypted.
	id, get := getIn(t)
	sealed, err := s.tls.Seal(get)
	if err != nil {
		t.Abortf("setup: %v", err)
	}
	mark := t.Mark()
	s.send(sealed, usprecord.Record_TLS12)
	answered := false
	for !answered {
		plain, _, ok, err := s.next(mark)
		if !ok || err != nil {
			t.Abortf("setup: no encrypted GetResp in the TLS session (%v)", err)
		}
		for _, p := range plain {
			answered = answered || answers(p, id)
		}
	}
	// Now a Get in clear, PLAINTEXT, in the same session.
	id, get = getIn(t)
	mark = t.Mark()
	s.send(get, usprecord.Record_PLAINTEXT)
	wctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
	_, fresh := t.eq.Await(wctx, mark, func(ib Inbound) bool {
		sc := ib.Record.GetSessionContext()
		return sc != nil && ib.Record.GetFromId() == t.eq.AgentID() && sc.GetSessionId() != s.id
	})
	cancel()
	t.Sleep(t.cfg.quietPeriod())
	var resp []string
	for _, ib := range t.eq.Since(mark, func(ib Inbound) bool { return ib.Record.GetFromId() == t.eq.AgentID() }) {
		sc := ib.Record.GetSessionContext()
		if sc == nil || len(sc.GetPayload()) != 1 {
			continue
		}
		p := sc.GetPayload()[0]
		if answers(p, id) {
			resp = append(resp, "in clear")
			continue
		}
		if sc.GetSessionId() == s.id && sc.GetSequenceId() == s.expected && ib.Record.GetPayloadSecurity() == usprecord.Record_TLS12 {
			s.expected++
			ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
			plain, _, err := s.tls.Receive(ctx, p)
			cancel()
			for _, q := range plain {
				if answers(q, id) {
					resp = append(resp, "encrypted")
				}
			}
			if err != nil {
				t.Notef("the agent's TLS record after the PLAINTEXT one: %v", err)
			}
		}
	}
	t.Check(1, "the EUT does not send a GetResponse", len(resp) == 0, "GetResp sent %v", resp)
	t.Check(2, "the EUT starts a new session", fresh, "no SessionContext record with another session_id than %d within %v", s.id, t.cfg.responseTimeout())
}

// renegotiationHello is a TLS handshake record of the kind a client sends
// to renegotiate (a ClientHello, type 1, with an empty body): the kit
// cannot make crypto/tls renegotiate, and the agent must ignore the
// request whatever it holds (R-E2E.40).
var renegotiationHello = []byte{tlsrec.TypeHandshake, 3, 3, 0, 4, 1, 0, 0, 0}

func run3_6(t *T) {
	s := openTLS(t)
	mark := t.Mark()
	s.send(renegotiationHello, usprecord.Record_TLS12)
	t.Notef("renegotiation request sent in place of the payload: a ClientHello handshake record")
	id, get := getIn(t)
	sealed, err := s.tls.Seal(get)
	if err != nil {
		t.Abortf("setup: %v", err)
	}
	s.send(sealed, usprecord.Record_TLS12)
	// Read the agent's records of the session in order until the GetResp:
	// anything before it but a no_renegotiation alert or an empty record
	// breaks the metric.
	var others []string
	answered := false
	for !answered {
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
		ib, ok := t.eq.Await(ctx, mark, func(ib Inbound) bool {
			sc := ib.Record.GetSessionContext()
			return sc != nil && ib.Record.GetFromId() == t.eq.AgentID() && (sc.GetSessionId() != s.id || sc.GetSequenceId() == s.expected)
		})
		cancel()
		if !ok {
			break
		}
		mark = ib.Seq
		sc := ib.Record.GetSessionContext()
		if sc.GetSessionId() != s.id {
			others = append(others, "a record of another session context")
			break
		}
		s.expected++
		for _, p := range sc.GetPayload() {
			recs, _, err := tlsrec.SplitRecords(p)
			if err != nil {
				others = append(others, "bytes that are not TLS records")
				continue
			}
			for _, r := range recs {
				if r.Type != tlsrec.TypeApplicationData && r.Type != tlsrec.TypeAlert {
					others = append(others, fmt.Sprintf("a TLS record of content type %d", r.Type))
					continue
				}
				// A warning alert (no_renegotiation) passes through TLS
				// unseen; a fatal one ends the kit's session, and the
				// error names it.
				ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
				plain, _, err := s.tls.Receive(ctx, r.Raw)
				cancel()
				if err != nil {
					others = append(others, "a TLS record ending the session ("+err.Error()+")")
				}
				for _, q := range plain {
					if answers(q, id) {
						answered = true
					} else {
						others = append(others, "another message")
					}
				}
			}
		}
	}
	c := t.Metric(1, "between the renegotiation request and the GetResponse the EUT sends no records, or a TLS alert")
	c.Expect(answered, "no GetResp in the TLS session within %v", t.cfg.responseTimeout())
	c.Expect(len(others) == 0, "the EUT sent %v", others)
	c.End()
}

func run3_7(t *T) {
	ep := t.eq.payloadTLSWrongID()
	if ep == nil {
		t.Skipf("the test equipment has no certificate naming another endpoint ID (conformance.WithPayloadTLS and WithPayloadTLSWrongID)")
	}
	t.Cleanup("close the kit's TLS session", func(context.Context) error { return ep.Close() })
	endSession(t)
	s := &tlsSession{t: t, id: newSessionID(), seq: 1, expected: 1, tls: ep}
	mark := t.Mark()
	done, err := s.handshake()
	t.Notef("handshake with a certificate naming another endpoint ID: completed %v, %v", done, err)
	leaf := ep.PeerCertificate()
	c := t.Metric(1, "the EUT provides an X.509 certificate whose subjectAltName matches its endpoint ID")
	if c.Expect(leaf != nil, "no certificate from the EUT") {
		var uris []string
		for _, u := range leaf.URIs {
			uris = append(uris, u.String())
		}
		c.Expect(slices.Contains(uris, tlsrec.EndpointURI(t.eq.AgentID())), "subjectAltName URIs %v, endpoint ID %s", uris, t.eq.AgentID())
	}
	c.End()
	t.Check(2, "the EUT requests an X.509 certificate from the controller", ep.CertificateRequested(), "no CertificateRequest in the handshake")
	// Rejected: the handshake did not complete, and a Get sent anyway
	// (sealed with whatever the kit has, or refused by it) is not
	// answered.
	c = t.Metric(3, "the EUT rejects the controller's certificate")
	c.Expect(!done, "the EUT completed the TLS handshake")
	if done {
		id, get := getIn(t)
		if sealed, err := ep.Seal(get); err == nil {
			s.send(sealed, usprecord.Record_TLS12)
			t.Sleep(t.cfg.quietPeriod())
			c.Expect(len(sessionAnswers(t, mark, id)) == 0, "the EUT answered the Get")
		}
	}
	c.End()
}
