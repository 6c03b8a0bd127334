package conformance

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// 3.5: a TLS session of payload security that the agent opens itself, the
// agent as TLS client (TR-369 "Session Handshake": the endpoint that opened
// the session context is the client), the kit as TLS server answering its
// handshake with an alert. The agent must end that session context and
// try again after the wait R-E2E.10 gives from its
// Controller.{i}.E2ESession.SessionRetryMinimumWaitInterval (m) and
// SessionRetryIntervalMultiplier (k): the first retry between m and
// m·k/1000 seconds.
//
// TP-469's first metric reads "After sending the client certificate to
// the EUT, the EUT sends a TLS alert, terminating the session", with the
// roles the other way round from its own procedure (the controller sends
// the alert, step 5). The kit checks what the procedure makes of it: the
// EUT, as TLS client, sends its certificate; at the kit's alert the
// session context ends (nothing more in it but a TLS alert, an empty
// record or a DisconnectRecord, and no message in clear).

func init() {
	register(&Case{ID: "3.5", Title: "Failure to Establish TLS", Features: []Feature{FeatSecureMessage, FeatSessionContext},
		Slow: 80 * time.Second, Run: run3_5})
}

const (
	e2eRetryMin  = "Device.LocalAgent.Controller.{i}.E2ESession.SessionRetryMinimumWaitInterval"
	e2eRetryMult = "Device.LocalAgent.Controller.{i}.E2ESession.SessionRetryIntervalMultiplier"
)

// fatalHandshakeFailure is the TLS alert the kit sends in place of its
// ChangeCipherSpec and Finished: level fatal (2), handshake_failure (40),
// in clear, since the kit's side has not changed cipher spec.
var fatalHandshakeFailure = []byte{tlsrec.TypeAlert, 3, 3, 0, 2, 2, 40}

// handshakeNames names TLS 1.2 handshake message types (RFC 5246 7.4).
var handshakeNames = map[byte]string{1: "ClientHello", 2: "ServerHello", 11: "Certificate", 12: "ServerKeyExchange",
	13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished"}

// tlsFlight lists what TLS bytes carry: the content type of each record
// and the handshake messages before the first ChangeCipherSpec (the
// handshake is encrypted after it).
type tlsFlight struct {
	records   []byte
	handshake []byte
	err       error
}

func readFlight(payloads [][]byte) tlsFlight {
	var f tlsFlight
	changed := false
	for _, p := range payloads {
		recs, _, err := tlsrec.SplitRecords(p)
		if err != nil {
			f.err = err
		}
		for _, r := range recs {
			f.records = append(f.records, r.Type)
			if r.Type == tlsrec.TypeChangeCipherSpec {
				changed = true
			}
			if r.Type != tlsrec.TypeHandshake || changed {
				continue
			}
			for b := r.Fragment(); len(b) >= 4; {
				f.handshake = append(f.handshake, b[0])
				n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
				if len(b) < 4+n {
					break
				}
				b = b[4+n:]
			}
		}
	}
	return f
}

func (f tlsFlight) has(handshakeType byte) bool {
	for _, h := range f.handshake {
		if h == handshakeType {
			return true
		}
	}
	return false
}

// onlyAlerts reports whether the bytes hold TLS alerts and nothing else
// (no bytes at all included).
func (f tlsFlight) onlyAlerts() bool {
	for _, r := range f.records {
		if r != tlsrec.TypeAlert {
			return false
		}
	}
	return f.err == nil
}

func (f tlsFlight) String() string {
	var parts []string
	for _, h := range f.handshake {
		if n, ok := handshakeNames[h]; ok {
			parts = append(parts, n)
		} else {
			parts = append(parts, fmt.Sprintf("handshake type %d", h))
		}
	}
	for _, r := range f.records {
		switch r {
		case tlsrec.TypeChangeCipherSpec:
			parts = append(parts, "ChangeCipherSpec")
		case tlsrec.TypeAlert:
			parts = append(parts, "alert")
		case tlsrec.TypeApplicationData:
			parts = append(parts, "application data")
		}
	}
	if f.err != nil {
		parts = append(parts, f.err.Error())
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// awaitClientHello waits up to d after mark for a SessionContext record
// of the agent's, outside session not, whose payload starts a TLS
// handshake (a ClientHello).
func awaitClientHello(t *T, mark int, not uint64, d time.Duration) (Inbound, bool) {
	ctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	return t.eq.Await(ctx, mark, func(ib Inbound) bool {
		sc := ib.Record.GetSessionContext()
		return sc != nil && ib.Record.GetFromId() == t.eq.AgentID() && sc.GetSessionId() != not &&
			readFlight(sc.GetPayload()).has(1)
	})
}

// answerHello starts the kit's end, TLS server, of the session the
// agent's ClientHello record opened, and sends the server's first flight;
// mark is taken before it.
func answerHello(t *T, hello Inbound) (s *tlsSession, mark int) {
	srv := t.eq.payloadTLSServer()
	t.Cleanup("close the kit's TLS server", func(context.Context) error { return srv.Close() })
	sc := hello.Record.GetSessionContext()
	s = &tlsSession{t: t, id: sc.GetSessionId(), seq: 1, expected: sc.GetSequenceId() + 1, tls: srv}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
	_, out, err := srv.Receive(ctx, bytes.Join(sc.GetPayload(), nil))
	cancel()
	if err != nil || len(out) == 0 {
		t.Require(1, "the EUT opens a session context with a TLS handshake the kit can answer", false,
			"the kit's TLS server refused the EUT's ClientHello: %v", err)
	}
	mark = t.Mark()
	s.send(out, usprecord.Record_TLS12)
	return s, mark
}

func run3_5(t *T) {
	t.NeedParam(e2eRetryMin)
	t.NeedParam(e2eRetryMult)
	if !t.env.HasEvent("Device.LocalAgent.Periodic!") {
		t.Skipf("the agent has no Device.LocalAgent.Periodic! event")
	}
	if t.eq.e2eTLS == nil {
		t.Skipf("the test equipment has no certificate for TLS payload security (conformance.WithPayloadTLS)")
	}
	ctrl := t.Controller()
	interval := t.cfg.periodicInterval()

	// Setup: the subscription now, PeriodicNotifInterval after step 2, so
	// that the agent's first Periodic! comes when the kit waits for it.
	t.SetLater(t.GetValues(ctrl + "PeriodicNotifInterval"))
	subID := fmt.Sprintf("tp469-3-5-%d", time.Now().UnixNano()%1e6)
	ar := setup[*msg.AddResp](t, "Add a Periodic! subscription", msg.Add{Objects: []msg.AddObject{{Path: subObj,
		Params: subParams(subID, "Event", "Device.LocalAgent.Periodic!", false)}}})
	if ar.Err() != nil || len(ar.Results) != 1 {
		t.Abortf("setup: Add subscription: %v", ar.Err())
	}
	trackCreated(t, ar)

	// Step 1: the retry parameters.
	vals := t.GetValues(ctrl + "E2ESession.")
	mv, kv := vals[ctrl+"E2ESession.SessionRetryMinimumWaitInterval"], vals[ctrl+"E2ESession.SessionRetryIntervalMultiplier"]
	m, err1 := strconv.ParseUint(mv, 10, 32)
	k, err2 := strconv.ParseUint(kv, 10, 32)
	if err1 != nil || err2 != nil {
		t.Abortf("setup: step 1: the Get of %sE2ESession. gave SessionRetryMinimumWaitInterval %q and SessionRetryIntervalMultiplier %q", ctrl, mv, kv)
	}
	// The E2ESession parameters have the WebSocket ones' names.
	rule := retryRule{min: time.Duration(m) * time.Second, mult: float64(k), names: wsRetryNames}
	t.Notef("step 1: %s", rule)

	// Step 2: TLS payload security works with the kit as TLS client; the
	// session then ends, so that the agent's next message needs one of
	// its own.
	kitSession := openTLS(t)
	if err := disconnectAndSettle(t.ctx, t.eq, t.cfg); err != nil {
		t.Abortf("setup: ending the kit's session context %d: %v", kitSession.id, err)
	}
	r := setup[*msg.SetResp](t, "Set PeriodicNotifInterval", msg.Set{Objects: []msg.SetObject{{Path: ctrl,
		Params: []msg.Param{{Name: "PeriodicNotifInterval", Value: strconv.Itoa(interval), Required: true}}}}})
	if r.Err() != nil {
		t.Abortf("setup: Set PeriodicNotifInterval: %v", r.Err())
	}
	if interval != 60 {
		t.Notef("PeriodicNotifInterval %d s instead of the plan's 60 (configuration periodic_notif_interval)", interval)
	}

	// Steps 3-5: the agent opens a session context for its Periodic!
	// Notify; the kit answers its ClientHello, and its second flight
	// (with the client certificate) with a fatal alert.
	mark := t.Mark()
	firstWait := time.Duration(interval)*time.Second + t.cfg.notifyTimeout()
	hello, ok := awaitClientHello(t, mark, kitSession.id, firstWait)
	if !ok {
		t.Require(1, "the EUT attempts to start a session with the controller", false,
			"no SessionContext record with a TLS ClientHello from the EUT within %v of setting PeriodicNotifInterval to %d", firstWait, interval)
	}
	s, mark := answerHello(t, hello)
	t.Notef("step 4: the EUT opened session context %d with a ClientHello; the kit answered as TLS server", s.id)
	flightRec, ok := s.nextRecord(mark)
	if !ok {
		t.Require(1, "the EUT continues its handshake with its client certificate", false,
			"no record from the EUT in session context %d within %v of the kit's ServerHello flight", s.id, t.cfg.responseTimeout())
	}
	flight := readFlight(flightRec.Record.GetSessionContext().GetPayload())
	_ = s.tls.Close()
	mark = t.Mark()
	s.send(fatalHandshakeFailure, usprecord.Record_TLS12)
	alertAt := time.Now()
	t.Notef("step 5: the EUT sent %s; the kit answered with a fatal handshake_failure alert in place of its ChangeCipherSpec and Finished", flight)

	// Steps 6-7: the next attempt, in a new session context.
	lo, hi := rule.window(1)
	wait := hi + retrySlack + t.cfg.responseTimeout()
	retry, retried := awaitClientHello(t, mark, s.id, wait)
	end := retry.Seq
	if !retried {
		end = t.Mark()
	}

	c := t.Metric(1, "the EUT sends its client certificate and, at the TLS alert, the session terminates")
	c.Expect(flight.has(11), "the EUT's flight after the kit's CertificateRequest carried %s, no Certificate", flight)
	for _, ib := range t.eq.Since(mark, func(ib Inbound) bool {
		return ib.Seq < end && ib.Record.GetFromId() == t.eq.AgentID()
	}) {
		if ib.Msg != nil {
			c.Expect(false, "the EUT sent %s in clear, outside TLS payload security", responseKind(ib.Msg))
			continue
		}
		sc := ib.Record.GetSessionContext()
		switch {
		case ib.Record.GetDisconnect() != nil:
			t.Notef("after the alert the EUT sent a DisconnectRecord (%s)", ib.Record.GetDisconnect().GetReason())
		case sc == nil:
		case sc.GetSessionId() == s.id:
			if f := readFlight(sc.GetPayload()); !f.onlyAlerts() {
				c.Expect(false, "after the alert the EUT went on in session context %d: %s", s.id, f)
			}
		case ib.Record.GetPayloadSecurity() == usprecord.Record_PLAINTEXT && plainMessage(sc):
			c.Expect(false, "the EUT sent a message in clear in session context %d", sc.GetSessionId())
		}
	}
	c.End()

	m2 := t.Metric(2, "after step 5 the EUT waits before retrying the session as its SessionRetry parameters say")
	if m2.Expect(retried, "no new session context with a ClientHello from the EUT within %v of the kit's TLS alert, want one %v to %v after it (%s)",
		wait, lo, hi, rule) {
		ok, ev := checkRetry(1, retry.Time.Sub(alertAt), "the kit's TLS alert", lo, hi, 0, rule)
		m2.Expect(ok, "%s", ev)
		if ok {
			t.Notef("%s", ev)
		}
	}
	m2.End()
	if retried {
		completeRetry(t, retry, subID)
	}
}

// plainMessage reports whether a SessionContext record carries a USP
// message in clear.
func plainMessage(sc *usprecord.SessionContextRecord) bool {
	for _, p := range sc.GetPayload() {
		var m uspmsg.Msg
		if len(p) > 0 && record.UnmarshalPayload(p, &m) == nil && m.GetHeader() != nil {
			return true
		}
	}
	return false
}

// completeRetry is step 6: the kit sends no alert this time and completes
// the handshake of the agent's retry; what the session then carries is
// noted (the plan's metrics end with the retry).
func completeRetry(t *T, hello Inbound, subID string) {
	s, mark := answerHello(t, hello)
	for range 3 {
		_, out, ok, err := s.next(mark)
		if !ok || err != nil {
			t.Notef("step 7: the handshake of session context %d did not complete (%v)", s.id, err)
			return
		}
		if len(out) > 0 {
			s.send(out, usprecord.Record_TLS12)
		}
		if s.tls.Handshaken() {
			break
		}
	}
	if !s.tls.Handshaken() {
		t.Notef("step 7: the handshake of session context %d did not complete", s.id)
		return
	}
	for range 4 {
		plain, _, ok, _ := s.next(mark)
		if !ok {
			t.Notef("step 7: TLS session established in session context %d; no Notify in it within %v", s.id, t.cfg.responseTimeout())
			return
		}
		for _, p := range plain {
			var m uspmsg.Msg
			if record.UnmarshalPayload(p, &m) != nil {
				continue
			}
			if n, err := msg.ParseNotify(&m); err == nil && n.SubscriptionID == subID {
				t.Notef("step 7: TLS session established in session context %d; it carried the Periodic! Notify", s.id)
				return
			}
		}
	}
}
