package usptest

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
)

// tlsClientBench starts an agent with TLS payload security whose
// SessionRetryMinimumWaitInterval is 1 s, and returns a TLS server
// configuration for the test controller.
func tlsClientBench(t *testing.T) (*Agent, *testController, tlsrec.Config) {
	t.Helper()
	return tlsClientBenchTimeout(t, 0)
}

// tlsClientBenchTimeout is tlsClientBench with the agent's
// PayloadTLS.HandshakeTimeout.
func tlsClientBenchTimeout(t *testing.T, hs time.Duration) (*Agent, *testController, tlsrec.Config) {
	t.Helper()
	ca := testcert.NewCA(t)
	issue := func(id string) tls.Certificate {
		return ca.Issue(t, testcert.Spec{CommonName: id, EndpointIDs: []string{id}})
	}
	a, c := newTestAgent(t, WithSessionContext(SessionConfig{TLS: &PayloadTLS{Certificate: issue(agentID), Roots: ca.Pool, HandshakeTimeout: hs}}))
	ctrls, err := a.Model().Instances("Device.LocalAgent.Controller.")
	if err != nil || len(ctrls) == 0 {
		t.Fatalf("controllers %v %v", ctrls, err)
	}
	if err := a.Model().Set(ctrls[0]+"E2ESession.SessionRetryMinimumWaitInterval", "1"); err != nil {
		t.Fatal(err)
	}
	return a, c, tlsrec.Config{Certificate: issue(ctrlID), Roots: ca.Pool, PeerID: agentID}
}

// takeHello waits for a SessionContext record of the agent's carrying a
// ClientHello in another session than not.
func takeHello(t *testing.T, c *testController, not uint64, d time.Duration) *usprecord.Record {
	t.Helper()
	r := c.take(d, func(r *usprecord.Record) bool {
		sc := r.GetSessionContext()
		if sc == nil || sc.GetSessionId() == not || len(sc.GetPayload()) != 1 {
			return false
		}
		recs, _, err := tlsrec.SplitRecords(sc.GetPayload()[0])
		return err == nil && len(recs) > 0 && recs[0].Type == tlsrec.TypeHandshake && recs[0].Fragment()[0] == 1
	})
	if r == nil {
		t.Fatalf("no ClientHello from the agent within %v", d)
	}
	if r.GetPayloadSecurity() != usprecord.Record_TLS12 || r.GetSessionContext().GetSequenceId() != 1 {
		t.Errorf("ClientHello in a record with payload_security %v, sequence_id %d", r.GetPayloadSecurity(), r.GetSessionContext().GetSequenceId())
	}
	return r
}

// tlsRecord is a record of the test controller in session sid carrying
// TLS bytes.
func tlsRecord(sid, seq, exp uint64, b []byte) *usprecord.Record {
	r := refRecord(sid, seq, exp, 0, [][]byte{b})
	r.PayloadSecurity = usprecord.Record_TLS12
	return r
}

// nextInSession returns the agent's record seq of session sid.
func nextInSession(t *testing.T, c *testController, sid, seq uint64) []byte {
	t.Helper()
	r := c.take(2*time.Second, func(r *usprecord.Record) bool {
		sc := r.GetSessionContext()
		return sc != nil && sc.GetSessionId() == sid && sc.GetSequenceId() == seq
	})
	if r == nil {
		t.Fatalf("no record %d of session %d", seq, sid)
	}
	return r.GetSessionContext().GetPayload()[0]
}

// TestTLSClientRetry checks the agent as TLS client of payload security:
// its Boot! opens a session context with a ClientHello; a TLS alert
// against its second flight ends it, and the agent opens a new one 1-2 s
// later (R-E2E.10's first window for m 1 s, k 2000), whose handshake
// completes and carries the Boot! Notify. With Faults.RetrySessionAtOnce
// the new session comes at once.
func TestTLSClientRetry(t *testing.T) {
	t.Parallel()
	for _, atOnce := range []bool{false, true} {
		name := "conformant"
		if atOnce {
			name = "retry at once"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, c, cfg := tlsClientBench(t)
			a.Faults().RetrySessionAtOnce(atOnce)
			ctx := context.Background()
			hello := takeHello(t, c, 0, 2*time.Second)
			sid := hello.GetSessionContext().GetSessionId()
			srv := tlsrec.Server(cfg)
			defer srv.Close()
			_, out, err := srv.Receive(ctx, hello.GetSessionContext().GetPayload()[0])
			if err != nil {
				t.Fatal(err)
			}
			c.sendRecord(tlsRecord(sid, 1, 2, out))
			nextInSession(t, c, sid, 2) // Certificate ... Finished
			c.sendRecord(tlsRecord(sid, 2, 3, []byte{tlsrec.TypeAlert, 3, 3, 0, 2, 2, 40}))
			alert := time.Now()
			retry := takeHello(t, c, sid, 3*time.Second)
			d := time.Since(alert)
			if lo, hi := time.Second, 2*time.Second; !atOnce && (d < lo || d > hi+250*time.Millisecond) {
				t.Errorf("retry %v after the alert, want %v to %v", d, lo, hi)
			}
			if atOnce && d > 500*time.Millisecond {
				t.Errorf("retry %v after the alert with RetrySessionAtOnce", d)
			}
			// This time the handshake completes and carries the Boot!.
			completeWithBoot(t, c, cfg, retry)
		})
	}
}

// TestTLSClientHandshakeTimeout checks that a handshake of the agent's
// that the controller never answers counts as failed after
// PayloadTLS.HandshakeTimeout: the agent opens a new session context with
// a new ClientHello after the timeout and R-E2E.10's wait (1-2 s here),
// and still delivers its Boot! once a handshake completes.
func TestTLSClientHandshakeTimeout(t *testing.T) {
	t.Parallel()
	const hs = 300 * time.Millisecond
	_, c, cfg := tlsClientBenchTimeout(t, hs)
	first := takeHello(t, c, 0, 2*time.Second)
	sent := time.Now()
	sid := first.GetSessionContext().GetSessionId()
	retry := takeHello(t, c, sid, 4*time.Second) // left unanswered
	d := time.Since(sent)
	if lo, hi := hs+time.Second, hs+2*time.Second+250*time.Millisecond; d < lo-50*time.Millisecond || d > hi {
		t.Errorf("second ClientHello %v after the first, want %v to %v", d, lo, hi)
	}
	completeWithBoot(t, c, cfg, retry)
}

// completeWithBoot answers the agent's ClientHello record hello as the
// TLS server, completes the handshake and checks that the first message
// in the session is the agent's Boot! Notify.
func completeWithBoot(t *testing.T, c *testController, cfg tlsrec.Config, hello *usprecord.Record) {
	t.Helper()
	ctx := context.Background()
	sid := hello.GetSessionContext().GetSessionId()
	srv := tlsrec.Server(cfg)
	defer srv.Close()
	_, out, err := srv.Receive(ctx, hello.GetSessionContext().GetPayload()[0])
	if err != nil {
		t.Fatal(err)
	}
	c.sendRecord(tlsRecord(sid, 1, 2, out))
	if _, out, err = srv.Receive(ctx, nextInSession(t, c, sid, 2)); err != nil || !srv.Handshaken() {
		t.Fatalf("handshake: %v", err)
	}
	c.sendRecord(tlsRecord(sid, 2, 3, out))
	plain, _, err := srv.Receive(ctx, nextInSession(t, c, sid, 3))
	if err != nil || len(plain) != 1 {
		t.Fatalf("%d messages, %v", len(plain), err)
	}
	var m uspmsg.Msg
	if err := proto.Unmarshal(plain[0], &m); err != nil || m.GetBody().GetRequest().GetNotify().GetEvent().GetEventName() != "Boot!" {
		t.Errorf("first message in the TLS session: %v %v", &m, err)
	}
}
