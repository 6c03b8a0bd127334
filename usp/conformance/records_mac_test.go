package conformance

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/usp/usptest"
)

// integrityBench is a memory bench whose agent requires the integrity of
// records' non-payload fields (as over an MTP without TLS), with TLS
// payload security in its session contexts when payloadTLS is set, and
// whose equipment signs every record it sends.
func integrityBench(t *testing.T, payloadTLS bool) (*Equipment, *usptest.Agent) {
	t.Helper()
	ca := testcert.NewCA(t)
	issue := func(id string) tls.Certificate {
		return ca.Issue(t, testcert.Spec{CommonName: id, EndpointIDs: []string{id}})
	}
	agentCert, eqCert := issue(testAgent), issue(testController)
	// The kit signs from its first record on (its NotifyResp to the
	// agent's Boot!): the options go to NewEquipment.
	sc := usptest.SessionConfig{}
	if payloadTLS {
		sc.TLS = &usptest.PayloadTLS{Certificate: agentCert, Roots: ca.Pool}
	}
	return benchFaulty(t, "memory",
		wireFaults{eq: []Option{WithPayloadTLS(eqCert, ca.Pool), WithRecordSigning(), WithPayloadTLSWrongID(issue("proto::someone-else"))}},
		usptest.WithSessionContext(sc),
		usptest.WithRecordIntegrity(usptest.RecordIntegrity{Certificate: agentCert, Roots: ca.Pool, Require: true}),
	)
}

// TestRecordIntegrityCases runs 2.7 and 3.2-3.4 against a usptest that
// requires and checks mac_signature: each passes; each fails on its metric,
// with the records as evidence, against a usptest that skips the check
// (2.7, 3.2, 3.3) or MACs with the wrong key (3.4).
func TestRecordIntegrityCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id     string
		fault  func(*usptest.Faults)
		metric int
		detail string
	}{
		{"2.7", func(f *usptest.Faults) { f.SkipIntegrityCheck(true) }, 1, "the EUT answered the Get whose signature does not verify"},
		{"3.2", func(f *usptest.Faults) { f.SkipIntegrityCheck(true) }, 1, "answered the Get whose record carries no mac_signature"},
		{"3.3", func(f *usptest.Faults) { f.SkipIntegrityCheck(true) }, 1, "answered the ClientHello with TLS handshake messages"},
		{"3.4", func(f *usptest.Faults) { f.WrongRecordMAC(true) }, 2, "recmac: mac_signature is not the HMAC"},
	} {
		t.Run(tc.id+" conformant", func(t *testing.T) {
			t.Parallel()
			eq, _ := integrityBench(t, true)
			if res := runOn(t, eq, tc.id, false); res.Verdict != Pass {
				t.Fatalf("verdict %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
			}
		})
		t.Run(tc.id+" broken", func(t *testing.T) {
			t.Parallel()
			eq, agent := integrityBench(t, true)
			tc.fault(agent.Faults())
			res := runOn(t, eq, tc.id, true)
			expectFail(t, res, tc.metric, tc.detail, "")
			if ev := TextEvidence(res); !strings.Contains(ev, "mac_signature") {
				t.Errorf("the evidence does not show the records' mac_signature:\n%s", ev)
			}
		})
	}
	t.Run("3.4 agent without integrity", func(t *testing.T) {
		t.Parallel()
		eq, _ := tlsBench(t)
		res := runOn(t, eq, "3.4", true)
		expectFail(t, res, 1, "mac_signature of 0 bytes", "")
	})
	t.Run("no certificate", func(t *testing.T) {
		t.Parallel()
		eq, _ := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{}))
		for _, id := range []string{"2.7", "3.2", "3.3", "3.4"} {
			if res := runOn(t, eq, id, false); res.Verdict != Skip || !strings.Contains(res.Reason, "WithPayloadTLS") {
				t.Errorf("%s: verdict %s (%s), want skip", id, res.Verdict, res.Reason)
			}
		}
	})
}

// TestSection3WithIntegrity runs section 3 and 2.7 against usptest
// agents that require signed records, the kit signing everything it
// sends: the cases of session contexts in clear against one without TLS
// payload security, those of TLS payload security against one with it.
// (3.5 with a 1 s SessionRetryMinimumWaitInterval and PeriodicNotifInterval.)
// Every case passes, so the kit's signing reaches each of its ways of
// sending, and usptest's checks accept what the kit signs.
func TestSection3WithIntegrity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tls   bool
		cases []string
	}{
		{false, []string{"2.7", "3.1", "3.2", "3.8", "3.9", "3.11", "3.14", "3.15"}},
		{true, []string{"3.3", "3.4", "3.5", "3.6", "3.7", "3.13"}},
	} {
		t.Run(fmt.Sprintf("payload TLS %v", tc.tls), func(t *testing.T) {
			t.Parallel()
			eq, agent := integrityBench(t, tc.tls)
			quickE2ERetry(t, agent)
			cfg := quickConfig
			cfg.Features = map[string]bool{"23": true, "24": true}
			cfg.PeriodicNotifInterval = 1
			cs, err := Select(All(), tc.cases...)
			if err != nil {
				t.Fatal(err)
			}
			rep := RunTests(t, eq, cfg, cs)
			if rep.Count(Pass) != len(cs) {
				t.Errorf("%d of %d passed", rep.Count(Pass), len(cs))
			}
		})
	}
}
