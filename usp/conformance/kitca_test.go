package conformance

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKitCertificatesOneCA: the WebSocket server's certificates
// (KitCertificates), the TLS broker's (ServerCert) and the bulk data
// receiver's all verify against the CA the kit hands out with them, for
// the names and addresses asked for, and an IPv4 address is also a DNS
// name for agents that check it as a host name.
func TestKitCertificatesOneCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, pool, err := KitCertificates(dir, "localhost", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	fromDisk := x509.NewCertPool()
	if !fromDisk.AppendCertsFromPEM(onDisk) {
		t.Fatal("ca.pem holds no certificate")
	}
	leaf := cfg.Certificates[0].Leaf
	for _, p := range []*x509.CertPool{pool, fromDisk} {
		for _, host := range []string{"localhost", "192.0.2.7"} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: p, DNSName: host}); err != nil {
				t.Errorf("WebSocket server certificate for %s: %v", host, err)
			}
		}
	}
	if !leaf.NotAfter.Before(time.Now().Add(25 * time.Hour)) {
		t.Errorf("WebSocket server certificate valid until %v, want a day", leaf.NotAfter)
	}
	if _, _, err := KitCertificates(""); err == nil {
		t.Error("KitCertificates without a host: no error")
	}

	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	broker, err := ca.ServerCert(now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := broker.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("broker certificate for %s: %v", host, err)
		}
	}
	if !slices.Contains(broker.Leaf.DNSNames, "127.0.0.1") {
		t.Errorf("broker certificate DNS names %v, want localhost and 127.0.0.1", broker.Leaf.DNSNames)
	}
	if _, err := ca.ServerCertFor(now, now.Add(time.Hour)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("ServerCertFor without a host: %v", err)
	}

	r, err := StartBulkReceiver("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(r.CertPEM()) {
		t.Fatal("bulk data receiver CertPEM holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := hc.Post(r.URL(r.NewPath("ca")), "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("HTTPS to the bulk data receiver, trusting its CertPEM: %v", err)
	}
	_ = resp.Body.Close()
}
