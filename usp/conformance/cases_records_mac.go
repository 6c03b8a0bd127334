package conformance

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/e2e/recmac"
	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// The integrity of a record's non-payload fields (TR-369 R-E2E.29-39):
// mac_signature holds a signature (ECDSA P-256 over SHA-256, with
// sender_cert) or, in a TLS session of payload security after its
// handshake, an HMAC keyed from the session (internal/e2e/recmac has the
// byte string and the choice of method). 2.7 and 3.2-3.4 check the agent
// verifies the first and sends the second. 3.5, a TLS session the agent
// opens itself, is in cases_records_tlsfail.go.
func init() {
	register(
		&Case{ID: "2.7", Title: "Agent ignores unsigned or invalid Record signatures", Features: []Feature{FeatSessionContext}, Run: run2_7},
		&Case{ID: "3.2", Title: "Agent Verifies Non-Payload Field Integrity", Features: []Feature{FeatSecureMessage}, Run: run3_2},
		&Case{ID: "3.3", Title: "Agent rejects invalid signature starting a session context", Features: []Feature{FeatSecureMessage}, Run: run3_3},
		&Case{ID: "3.4", Title: "Using TLS for USP Record Integrity", Features: []Feature{FeatSecureMessage}, Run: run3_4},
	)
}

// needSigning ends the case as skipped when the kit has no certificate to
// sign records with.
func needSigning(t *T) {
	if _, ok := t.eq.signingCert(); !ok {
		t.Skipf("the test equipment has no certificate to sign records with (conformance.WithPayloadTLS; uspctl conform --e2e-tls-cert, --e2e-tls-key, --e2e-tls-ca)")
	}
}

// signedGetAnswered sends a PLAINTEXT Get in a record the kit signed and
// aborts the case unless the EUT answers it: the setup that lets silence
// afterwards mean a refusal.
func signedGetAnswered(t *T) {
	id, b := plainGet(t, true)
	mark := t.Mark()
	if err := t.eq.SendBytes(t.ctx, b, "signed by the test equipment"); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
	_, ok := t.eq.Await(ctx, mark, func(ib Inbound) bool { return answersMsg(ib, id) })
	cancel()
	if !ok {
		t.Abortf("setup: the EUT did not answer a signed PLAINTEXT Get (mac_signature, sender_cert) within %v", t.cfg.responseTimeout())
	}
}

func run2_7(t *T) {
	needSigning(t)
	// Setup: a Get with a valid signature is answered, so that silence
	// below means the signature was refused. Both go in NoSessionContext
	// records, PLAINTEXT: an agent with TLS payload security refuses
	// PLAINTEXT inside its session contexts (3.13), whatever the signature.
	signedGetAnswered(t)
	id, b := plainGet(t, true)
	rec, err := record.Decode(b)
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	rec.MacSignature[len(rec.MacSignature)-1] ^= 0xff
	if b, err = proto.Marshal(rec); err != nil {
		t.Abortf("kit bug: %v", err)
	}
	mark := t.Mark()
	if err := t.eq.SendBytes(t.ctx, b, "mac_signature corrupted on purpose"); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	t.Sleep(t.cfg.quietPeriod())
	got := t.eq.Since(mark, func(ib Inbound) bool { return answersMsg(ib, id) })
	t.Check(1, "The EUT does not respond to the Get message", len(got) == 0, "the EUT answered the Get whose signature does not verify (%d records)", len(got))
}

// badRequestOnly checks, over the quiet period after mark, that the agent
// sent nothing but record errors, and nothing that answers match (TR-369's
// 'bad request' behaviour for a record: ignore it or report a record error).
func badRequestOnly(t *T, mark int, metric int, text string, answers func(Inbound) string) {
	t.Sleep(t.cfg.quietPeriod())
	c := t.Metric(metric, text)
	for _, ib := range t.eq.Since(mark, func(ib Inbound) bool { return ib.Record != nil && ib.Record.GetFromId() == t.eq.AgentID() }) {
		if ok, what := isRecordError(ib); ok {
			t.Notef("the EUT reported a record error: %s", what)
			continue
		}
		if what := answers(ib); what != "" {
			c.Expect(false, "the EUT %s", what)
		}
	}
	c.End()
}

// answersMsg reports whether an agent's record answers msgID, in a
// NoSessionContext record or in the one payload of a SessionContext one.
func answersMsg(ib Inbound, msgID string) bool {
	if ib.Msg != nil && ib.Msg.GetHeader().GetMsgId() == msgID {
		return true
	}
	sc := ib.Record.GetSessionContext()
	return sc != nil && len(sc.GetPayload()) == 1 && answers(sc.GetPayload()[0], msgID)
}

// plainGet returns a Get of the agent's endpoint ID in a NoSessionContext
// record, PLAINTEXT, signed by the kit when sign is set.
func plainGet(t *T, sign bool) (string, []byte) {
	id := msg.NewID()
	payload, err := msg.Encode(msg.Get{Paths: []string{agentEID}}.Build(id))
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	rec := record.NewNoSessionContext(record.DefaultVersion, t.eq.AgentID(), t.eq.ControllerID(), payload)
	if sign {
		if err := t.eq.protect(rec, nil); err != nil {
			t.Abortf("setup: %v", err)
		}
	}
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	return id, b
}

func run3_2(t *T) {
	needSigning(t)
	t.Notef("setup: the MTP between the EUT and the test equipment must not protect the records' integrity (TR-369 R-E2E.28: no TLS naming the endpoints), which the operator ensures")
	// Setup: a signed Get is answered, so that what follows tells a
	// refusal from an agent that answers nothing.
	signedGetAnswered(t)
	id, b := plainGet(t, false)
	mark := t.Mark()
	if err := t.eq.sendUnsigned(t.ctx, b, "PLAINTEXT, no mac_signature, on purpose"); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	badRequestOnly(t, mark, 1, "After the EUT receives the USP record, it exhibits the expected 'bad request' behavior for the applicable MTP",
		func(ib Inbound) string {
			if answersMsg(ib, id) {
				return "answered the Get whose record carries no mac_signature"
			}
			return ""
		})
}

func run3_3(t *T) {
	needSigning(t)
	// Setup: a ClientHello whose record is correctly signed opens a TLS
	// session, so that silence below is the refusal of the signature.
	openTLSWith(t, true)
	t.Notef("setup: a ClientHello in a correctly signed record opened a TLS session; the session is ended and another one tried with a corrupted signature")
	endSession(t)
	ep := t.eq.payloadTLS()
	t.Cleanup("close the kit's second TLS session", func(context.Context) error { return ep.Close() })
	hello, err := ep.Start(t.ctx)
	if err != nil || len(hello) == 0 {
		t.Abortf("kit bug: no ClientHello from TLS (%v)", err)
	}
	session := newSessionID()
	sc := &usprecord.SessionContextRecord{SessionId: session, SequenceId: 1, ExpectedId: 1, Payload: [][]byte{hello}}
	rec := record.NewSessionContext(record.DefaultVersion, t.eq.AgentID(), t.eq.ControllerID(), sc)
	rec.PayloadSecurity = usprecord.Record_TLS12
	if err := t.eq.protect(rec, nil); err != nil {
		t.Abortf("setup: %v", err)
	}
	rec.MacSignature[len(rec.MacSignature)-1] ^= 0xff
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Abortf("kit bug: %v", err)
	}
	mark := t.Mark()
	if err := t.eq.SendBytes(t.ctx, b, "ClientHello opening a session context, mac_signature corrupted on purpose"); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	badRequestOnly(t, mark, 1, "After the EUT receives the USP record, it exhibits the expected 'bad request' behavior for the applicable MTP",
		func(ib Inbound) string {
			sc := ib.Record.GetSessionContext()
			if sc == nil || sc.GetSessionId() != session {
				return ""
			}
			for _, p := range sc.GetPayload() {
				recs, _, _ := tlsrec.SplitRecords(p)
				for _, r := range recs {
					if r.Type == tlsrec.TypeHandshake {
						return fmt.Sprintf("answered the ClientHello with TLS handshake messages in session context %d", session)
					}
				}
			}
			return fmt.Sprintf("sent a SessionContext record in session context %d", session)
		})
}

func run3_4(t *T) {
	needSigning(t)
	s := openTLSWith(t, true)
	id, get := getIn(t)
	sealed, err := s.tls.Seal(get)
	if err != nil {
		t.Abortf("setup: %v", err)
	}
	mark := t.Mark()
	s.send(sealed, usprecord.Record_TLS12)
	// The agent's records of the session up to the GetResp: each must
	// carry the MAC.
	var recs []*usprecord.Record
	for answered := false; !answered; {
		plain, _, ok, err := s.next(mark)
		if !ok || err != nil {
			t.Abortf("setup: no encrypted GetResp in the TLS session (%v)", err)
		}
		recs = append(recs, s.last)
		for _, p := range plain {
			answered = answered || answers(p, id)
		}
	}
	_, peer, keyed := s.tls.IntegrityKeys()
	if !keyed {
		t.Abortf("kit bug: no keys exported from the TLS session")
	}
	c1 := t.Metric(1, "the mac_signature of the GetResponse's USP Record secures the non-payload fields via the MAC mechanism")
	c2 := t.Metric(2, "the mac_signature validates the integrity of the non-payload fields")
	for _, r := range recs {
		seq := r.GetSessionContext().GetSequenceId()
		mac := r.GetMacSignature()
		c1.Expect(len(mac) == recmac.MACSize && len(r.GetSenderCert()) == 0,
			"record sequence_id %d: mac_signature of %d bytes (an HMAC-SHA256 has %d), sender_cert of %d bytes", seq, len(mac), recmac.MACSize, len(r.GetSenderCert()))
		if err := recmac.VerifyMAC(r, peer); err != nil {
			c2.Expect(false, "record sequence_id %d: %v (mac_signature %x, expected %x)", seq, err, mac, recmac.MAC(r, peer))
		}
	}
	c1.End()
	c2.End()
}
