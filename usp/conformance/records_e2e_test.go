package conformance

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/usp/usptest"
)

// runSession runs one section 3 case against a usptest agent with the
// session context on (feature 24 declared); broken, when set, breaks the
// agent after the kit read its data model.
func runSession(t *testing.T, id string, broken func(*usptest.Agent)) *Result {
	t.Helper()
	eq, agent := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{}))
	cs, err := Select(All(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Equipment: eq, Config: sessionConfig(broken != nil)}
	env := r.Env(t.Context())
	if broken != nil {
		broken(agent)
	}
	return r.RunCase(t.Context(), env, cs[0])
}

// TestSessionExpiration runs 3.10, which waits for six Periodic! events
// 10 s apart: against usptest it passes, and against a usptest that keeps
// using an expired session it fails metric 2. It takes a minute, so it
// runs only with GOUSP_CONFORMANCE_SLOW=1, to keep CI short.
func TestSessionExpiration(t *testing.T) {
	if testing.Short() || os.Getenv("GOUSP_CONFORMANCE_SLOW") != "1" {
		t.Skip("3.10 waits a minute by design: set GOUSP_CONFORMANCE_SLOW=1")
	}
	t.Parallel()
	t.Run("conformant", func(t *testing.T) {
		t.Parallel()
		res := runSession(t, "3.10", nil)
		if res.Verdict != Pass {
			t.Fatalf("verdict %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
		}
	})
	t.Run("session kept past its expiration", func(t *testing.T) {
		t.Parallel()
		res := runSession(t, "3.10", func(a *usptest.Agent) { a.Faults().IgnoreE2ESettings(true) })
		expectFail(t, res, 2, "session_ids", "")
		sessionEvidence(t, res)
	})
}

// TestRetransmitLimitFault checks that 3.14 fails, with the records as
// evidence, against a usptest that resends a record on every request
// (MaxRetransmitTries ignored), and against one that never resends
// (retransmit_id ignored, as on OB-USP-A).
func TestRetransmitLimitFault(t *testing.T) {
	t.Parallel()
	t.Run("unbounded", func(t *testing.T) {
		t.Parallel()
		res := runSession(t, "3.14", func(a *usptest.Agent) { a.Faults().IgnoreE2ESettings(true) })
		expectFail(t, res, 2, "sent the SetResp 1 more time", "")
		sessionEvidence(t, res)
	})
	t.Run("no retransmission", func(t *testing.T) {
		t.Parallel()
		eq, _ := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{Reference: true, Allow: true}))
		res := runOn(t, eq, "3.14", true)
		expectFail(t, res, 1, "no SetResp after retransmit request 1", "")
		sessionEvidence(t, res)
	})
}

// sessionEvidence checks that the evidence of a failed section 3 case
// shows the agent's SessionContext records.
func sessionEvidence(t *testing.T, res *Result) {
	t.Helper()
	if ev := TextEvidence(res); !strings.Contains(ev, "<- session_context") {
		t.Errorf("%s: the evidence lacks the SessionContext records:\n%s", res.ID, ev)
	}
}

// sessionConfig declares feature 24; against a broken agent the kit
// waits less for answers that will not come (the memory transport
// answers in milliseconds), to keep the fault tests short.
func sessionConfig(broken bool) Config {
	cfg := quickConfig
	cfg.Features = map[string]bool{"23": true, "24": true}
	if broken {
		cfg.ResponseTimeout = Duration(4 * time.Second)
	}
	return cfg
}

// tlsBench is a memory bench whose agent and equipment run TLS payload
// security with certificates from a test authority.
func tlsBench(t *testing.T) (*Equipment, *usptest.Agent) {
	t.Helper()
	ca := testcert.NewCA(t)
	issue := func(id string) tls.Certificate {
		return ca.Issue(t, testcert.Spec{CommonName: id, EndpointIDs: []string{id}})
	}
	agentCert, eqCert := issue(testAgent), issue(testController)
	eq, agent := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{TLS: &usptest.PayloadTLS{Certificate: agentCert, Roots: ca.Pool}}))
	for _, o := range []Option{WithPayloadTLS(eqCert, ca.Pool), WithPayloadTLSWrongID(issue("proto::someone-else"))} {
		if err := o(eq); err != nil {
			t.Fatal(err)
		}
	}
	return eq, agent
}

// TestPayloadTLSCases runs 3.6, 3.7 and 3.13 against usptest with TLS
// payload security: each passes, and each fails on its metric, with the
// agent's session records as evidence, against a usptest that breaks the
// rule the case checks; without the kit's certificate they are skipped.
func TestPayloadTLSCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id     string
		fault  func(*usptest.Faults)
		metric int
		detail string
	}{
		{"3.6", func(f *usptest.Faults) { f.PassRenegotiation(true) }, 1, "a TLS record ending the session"},
		{"3.7", func(f *usptest.Faults) { f.TrustAnyEndpointID(true) }, 3, "the EUT completed the TLS handshake"},
		{"3.13", func(f *usptest.Faults) { f.AcceptPlaintextInTLS(true) }, 1, "GetResp sent [encrypted]"},
	} {
		t.Run(tc.id+" conformant", func(t *testing.T) {
			t.Parallel()
			eq, _ := tlsBench(t)
			if res := runOn(t, eq, tc.id, false); res.Verdict != Pass {
				t.Fatalf("verdict %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
			}
		})
		t.Run(tc.id+" broken", func(t *testing.T) {
			t.Parallel()
			eq, agent := tlsBench(t)
			tc.fault(agent.Faults())
			res := runOn(t, eq, tc.id, true)
			expectFail(t, res, tc.metric, tc.detail, "")
			sessionEvidence(t, res)
			if f := res.Failed(); tc.id == "3.13" && (len(f) != 2 || f[1].Metric != 2) {
				t.Errorf("failed criteria %+v, want metrics 1 and 2", f)
			}
		})
	}
	t.Run("no certificate", func(t *testing.T) {
		t.Parallel()
		eq, _ := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{}))
		for _, id := range []string{"3.6", "3.7", "3.13"} {
			if res := runOn(t, eq, id, false); res.Verdict != Skip || !strings.Contains(res.Reason, "WithPayloadTLS") {
				t.Errorf("%s: verdict %s (%s), want skip", id, res.Verdict, res.Reason)
			}
		}
	})
}

// runOn runs one case against the agent behind eq, with feature 24.
func runOn(t *testing.T, eq *Equipment, id string, broken bool) *Result {
	t.Helper()
	cs, err := Select(All(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Equipment: eq, Config: sessionConfig(broken)}
	return r.RunCase(t.Context(), r.Env(t.Context()), cs[0])
}

// quickE2ERetry sets the shortest session retry wait TR-181 allows (1 s;
// the multiplier stays 2000) in usptest's E2ESession entries, so that 3.5
// sees the agent's retry within seconds.
func quickE2ERetry(t *testing.T, agent *usptest.Agent) {
	t.Helper()
	m := agent.Model()
	ctrls, err := m.Instances("Device.LocalAgent.Controller.")
	if err != nil || len(ctrls) == 0 {
		t.Fatalf("controllers %v %v", ctrls, err)
	}
	for _, c := range ctrls {
		if err := m.Set(c+"E2ESession.SessionRetryMinimumWaitInterval", "1"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailureToEstablishTLS runs 3.5 against usptest with TLS payload
// security, a 1 s SessionRetryMinimumWaitInterval and a 1 s
// PeriodicNotifInterval: it passes, and it fails on metric 2, with the
// agent's session records as evidence, against a usptest that opens its
// next session at once after the kit's TLS alert, and on metric 1 against
// one that sends its Notify in clear after the alert. Without the kit's
// certificate it is skipped.
func TestFailureToEstablishTLS(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, eq *Equipment, broken bool) *Result {
		cs, err := Select(All(), "3.5")
		if err != nil {
			t.Fatal(err)
		}
		cfg := sessionConfig(broken)
		cfg.PeriodicNotifInterval = 1
		r := &Runner{Equipment: eq, Config: cfg}
		return r.RunCase(t.Context(), r.Env(t.Context()), cs[0])
	}
	t.Run("conformant", func(t *testing.T) {
		t.Parallel()
		eq, agent := tlsBench(t)
		quickE2ERetry(t, agent)
		res := run(t, eq, false)
		if res.Verdict != Pass {
			t.Fatalf("verdict %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
		}
		notes := strings.Join(res.Notes, "\n")
		for _, want := range []string{"retry 1 came", "Certificate", "it carried the Periodic! Notify"} {
			if !strings.Contains(notes, want) {
				t.Errorf("the notes lack %q:\n%s", want, notes)
			}
		}
		if len(res.Cleanup) > 0 {
			t.Errorf("cleanup failed: %v", res.Cleanup)
		}
	})
	t.Run("retry at once", func(t *testing.T) {
		t.Parallel()
		eq, agent := tlsBench(t)
		quickE2ERetry(t, agent)
		agent.Faults().RetrySessionAtOnce(true)
		res := run(t, eq, true)
		expectFail(t, res, 2, "retry 1 came", "")
		if f := res.Failed(); !strings.Contains(f[0].Detail, "want 1s to 2s") {
			t.Errorf("detail %q lacks the window", f[0].Detail)
		}
		sessionEvidence(t, res)
	})
	t.Run("in clear after the alert", func(t *testing.T) {
		t.Parallel()
		eq, agent := tlsBench(t)
		quickE2ERetry(t, agent)
		agent.Faults().ClearAfterTLSFailure(true)
		res := run(t, eq, true)
		expectFail(t, res, 1, "in clear, outside TLS payload security", "received NOTIFY")
	})
	t.Run("no certificate", func(t *testing.T) {
		t.Parallel()
		eq, _ := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{}))
		if res := run(t, eq, false); res.Verdict != Skip || !strings.Contains(res.Reason, "WithPayloadTLS") {
			t.Errorf("verdict %s (%s), want skip", res.Verdict, res.Reason)
		}
	})
}
