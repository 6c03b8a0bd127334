package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKitCA checks that --kit-ca makes the kit's CA once and reuses it,
// so that an agent told to trust it keeps trusting the kit, and that
// --serve-mqtt and --serve-mqtts exclude each other.
func TestKitCA(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ca.pem")
	first, err := kitCA(file)
	if err != nil {
		t.Fatal(err)
	}
	again, err := kitCA(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CertPEM(), again.CertPEM()) {
		t.Error("a second run made another CA")
	}
	onDisk, _ := os.ReadFile(file)
	if !bytes.Equal(onDisk, first.CertPEM()) {
		t.Error("the certificate file is not the CA's")
	}
	// A server certificate of the reloaded CA verifies against the
	// certificate the agent was given.
	cert, err := again.ServerCert(time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(onDisk)
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Errorf("server certificate does not verify: %v", err)
	}
	if err := os.WriteFile(file+".key", []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kitCA(file); err == nil {
		t.Error("a broken key file was accepted")
	}
	if r := runCLI(t, nil, "", "conform", "--agent", "proto::x", "--serve-mqtt", "127.0.0.1:0", "--serve-mqtts", "127.0.0.1:0"); r.code != exitUsage || !strings.Contains(r.stderr, "exclude") {
		t.Errorf("--serve-mqtt with --serve-mqtts: exit %d %s", r.code, r.stderr)
	}
}
