package main

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/gousp/gousp/internal/testcert"
)

// writePair writes a certificate and its key as PEM files.
func writePair(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	must(t, err)
	return writePEM(t, dir, name+".crt", "CERTIFICATE", c.Certificate[0]), writePEM(t, dir, name+".key", "PRIVATE KEY", key)
}

func TestPayloadTLSOptions(t *testing.T) {
	authority := testcert.NewCA(t)
	issue := func(id string) tls.Certificate {
		return authority.Issue(t, testcert.Spec{CommonName: id, EndpointIDs: []string{id}})
	}
	dir := t.TempDir()
	cert, key := writePair(t, dir, "kit", issue("proto::uspctl"))
	wcert, wkey := writePair(t, dir, "wrong", issue("proto::someone-else"))
	ca := writePEM(t, dir, "ca.pem", "CERTIFICATE", authority.Cert.Raw)
	caKeyless := key // a file without a certificate
	tests := []struct {
		name string
		f    conformFlags
		n    int
		bad  bool
	}{
		{"none", conformFlags{}, 0, false},
		{"key missing", conformFlags{e2eCert: cert, e2eCA: ca}, 0, true},
		{"CA without certificate", conformFlags{e2eCert: cert, e2eKey: key, e2eCA: caKeyless}, 0, true},
		{"wrong key for the wrong cert", conformFlags{e2eCert: cert, e2eKey: key, e2eCA: cert, e2eWrongCert: wcert, e2eWrongKey: key}, 0, true},
		{"kit certificate", conformFlags{e2eCert: cert, e2eKey: key, e2eCA: ca}, 1, false},
		{"and the wrong one", conformFlags{e2eCert: cert, e2eKey: key, e2eCA: ca, e2eWrongCert: wcert, e2eWrongKey: wkey}, 2, false},
	}
	for _, tt := range tests {
		opts, err := payloadTLSOptions(tt.f)
		if (err != nil) != tt.bad || len(opts) != tt.n {
			t.Errorf("%s: %d options, %v", tt.name, len(opts), err)
		}
	}
}
