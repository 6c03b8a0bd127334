package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp/usptest"
)

// TestConformSignRecords runs 3.2 against an agent that requires signed
// records: with --sign-records and the equipment's certificate the kit
// reaches the agent and the case passes; --sign-records without a
// certificate is a usage error.
func TestConformSignRecords(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::conform-signed-agent"
	ca := testcert.NewCA(t)
	eqCert := ca.Issue(t, testcert.Spec{CommonName: "proto::uspctl", EndpointIDs: []string{"proto::uspctl"}})
	agentCert := ca.Issue(t, testcert.Spec{CommonName: id, EndpointIDs: []string{id}})
	e.agent(id, usptest.WithController("proto::uspctl", mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/kit"}),
		usptest.WithRecordIntegrity(usptest.RecordIntegrity{Certificate: agentCert, Roots: ca.Pool, Require: true}))
	dir := t.TempDir()
	keyDER, err := x509.MarshalECPrivateKey(eqCert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	cert := writePEM(t, dir, "eq.pem", "CERTIFICATE", eqCert.Certificate[0])
	key := writePEM(t, dir, "eq.key", "EC PRIVATE KEY", keyDER)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Cert.Raw)
	plan := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(plan, []byte(`{"features": {"23": true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "3.2", "--no-progress", "--plan-config", plan,
		"--e2e-tls-cert", cert, "--e2e-tls-key", key, "--e2e-tls-ca", caFile, "--sign-records")
	if r.code != exitOK || !strings.Contains(r.stdout, "1 pass") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "3.2", "--sign-records"); r.code != exitUsage || !strings.Contains(r.stderr, "--sign-records") {
		t.Errorf("--sign-records without a certificate: exit %d %s", r.code, r.stderr)
	}
}
