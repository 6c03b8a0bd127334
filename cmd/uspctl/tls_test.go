package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp/usptest"
)

// writePEM writes one PEM block to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return p
}

func TestMQTTMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	broker := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{TLS: ca.ServerConfig(t, ca)}).URL()

	const id = "proto::agent-tls"
	agentCert := ca.Client(t, id)
	tr, err := mqtt.New(broker, id, mqtt.WithTopic("/usp/agent/tls"), mqtt.WithTLS(ca.ClientConfig(&agentCert)))
	must(t, err)
	ag, err := usptest.NewAgent(id, usptest.WithTransport(tr))
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, ag.Start(ctx))
	t.Cleanup(func() { must(t, ag.Close(context.Background())) })

	dir := t.TempDir()
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Cert.Raw)
	cert := ca.Client(t, defaultController)
	certFile := writePEM(t, dir, "cert.pem", "CERTIFICATE", cert.Certificate[0])
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	must(t, err)
	keyFile := writePEM(t, dir, "key.pem", "PRIVATE KEY", keyDER)

	base := []string{"proto", "--agent", id, "--agent-topic", "/usp/agent/tls", "--broker", broker}
	r := runCLI(t, nil, "", append(base, "--timeout", "10s", "--tls-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile)...)
	r.wantCode(t, exitOK)
	if r.stdout != usptest.DefaultVersions+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	// Without a client certificate the broker refuses us.
	r = runCLI(t, nil, "", append(base, "--timeout", "1s", "--tls-ca", caFile)...)
	r.wantCode(t, exitConnection)
	// A CA file that holds no certificate is a usage error.
	r = runCLI(t, nil, "", append(base, "--tls-ca", keyFile)...)
	r.wantCode(t, exitUsage)
}

// TestWebSocketAgentCertificate: an agent's WebSocket server whose
// certificate names only its endpoint ID is reached with --tls-agent-id,
// and fails the host name check without it.
func TestWebSocketAgentCertificate(t *testing.T) {
	ca := testcert.NewCA(t)
	const id = "proto::agent-ws-cert"
	cert := ca.Issue(t, testcert.Spec{EndpointIDs: []string{id}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	must(t, err)
	startAgent(t, id, srv, false)
	caFile := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", ca.Cert.Raw)
	base := []string{"proto", "--mtp", "websocket", "--ws-url", srv.URL(), "--tls-ca", caFile, "--timeout", "10s"}

	r := runCLI(t, nil, "", append(base, "--agent", id, "--tls-agent-id")...)
	r.wantCode(t, exitOK)
	if r.stdout != usptest.DefaultVersions+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	// The host name check cannot pass: the certificate has no IP address.
	r = runCLI(t, nil, "", append(base, "--agent", id, "--timeout", "2s")...)
	r.wantCode(t, exitConnection)
	// A certificate naming another agent is refused at once.
	r = runCLI(t, nil, "", append(base, "--agent", "proto::someone-else", "--tls-agent-id")...)
	r.wantCode(t, exitConnection)
	if !strings.Contains(r.stderr, "certificate") {
		t.Errorf("stderr %q", r.stderr)
	}
	r = runCLI(t, nil, "", "proto", "--mtp", "websocket", "--ws-url", srv.URL(), "--agent", id, "--tls-agent-id")
	r.wantCode(t, exitUsage)
}
