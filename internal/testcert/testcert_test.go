package testcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"

	"github.com/gousp/gousp/internal/testcert"
)

// handshake runs one TLS handshake over loopback and returns the server's
// view of the peer certificates and the client's error.
func handshake(t *testing.T, serverTLS, clientTLS *tls.Config) (peerCN, peerURI string, clientErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct{ cn, uri string }
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil {
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			r.cn = certs[0].Subject.CommonName
			if len(certs[0].URIs) > 0 {
				r.uri = certs[0].URIs[0].String()
			}
		}
		_, _ = tc.Write([]byte("ok"))
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	if err == nil {
		// TLS 1.3 reports a rejected client certificate only on the first read.
		_, err = io.ReadFull(c, make([]byte, 2))
		c.Close()
	}
	r := <-done
	return r.cn, r.uri, err
}

func TestConfigs(t *testing.T) {
	other := testcert.NewCA(t)
	otherCert := other.Client(t, "proto::intruder")
	tests := []struct {
		name    string
		configs func(t *testing.T) (*tls.Config, *tls.Config)
		wantErr bool
		wantCN  string
		wantURI string
	}{
		{"tls", func(t *testing.T) (*tls.Config, *tls.Config) { return testcert.New(t) }, false, "", ""},
		{"mtls", func(t *testing.T) (*tls.Config, *tls.Config) { return testcert.NewMutual(t, "proto::agent-1") },
			false, "proto::agent-1", "urn:bbf:usp:id:proto::agent-1"},
		{"untrusted server", func(t *testing.T) (*tls.Config, *tls.Config) {
			s, _ := testcert.New(t)
			_, c := testcert.New(t)
			return s, c
		}, true, "", ""},
		{"mtls without client cert", func(t *testing.T) (*tls.Config, *tls.Config) {
			ca := testcert.NewCA(t)
			return ca.ServerConfig(t, ca), ca.ClientConfig(nil)
		}, true, "", ""},
		{"mtls client from another CA", func(t *testing.T) (*tls.Config, *tls.Config) {
			ca := testcert.NewCA(t)
			return ca.ServerConfig(t, ca), ca.ClientConfig(&otherCert)
		}, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := tt.configs(t)
			cn, uri, err := handshake(t, s, c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("client error = %v, want error %v", err, tt.wantErr)
			}
			if cn != tt.wantCN || uri != tt.wantURI {
				t.Errorf("peer = (%q, %q), want (%q, %q)", cn, uri, tt.wantCN, tt.wantURI)
			}
		})
	}
}

func TestEndpointURI(t *testing.T) {
	for in, want := range map[string]string{
		"proto::a":                 "urn:bbf:usp:id:proto::a",
		"urn:bbf:usp:id:os::1-2-3": "urn:bbf:usp:id:os::1-2-3",
	} {
		if got := testcert.EndpointURI(in); got != want {
			t.Errorf("EndpointURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMinVersion(t *testing.T) {
	s, c := testcert.New(t)
	c.MaxVersion = tls.VersionTLS11
	_, _, err := handshake(t, s, c)
	if err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}
}

func TestIssue(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, testcert.Spec{CommonName: "cn", EndpointIDs: []string{"proto::a", "proto::b"}, IPs: testcert.Loopback, Expired: true})
	leaf := cert.Leaf
	if leaf.Subject.CommonName != "cn" || len(leaf.URIs) != 2 || leaf.URIs[1].String() != "urn:bbf:usp:id:proto::b" || len(leaf.IPAddresses) != 2 {
		t.Fatalf("certificate = %+v", leaf)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool}); err == nil {
		t.Fatal("an expired certificate verified")
	}
	fresh := ca.Issue(t, testcert.Spec{DNSNames: []string{"agent.example"}})
	if _, err := fresh.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "agent.example"}); err != nil {
		t.Fatalf("fresh certificate: %v", err)
	}
	if _, err := fresh.Leaf.Verify(x509.VerifyOptions{Roots: testcert.NewCA(t).Pool}); err == nil {
		t.Fatal("verified against another CA")
	}
}
