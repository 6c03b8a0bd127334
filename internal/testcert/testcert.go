// Package testcert makes throw-away TLS certificates for tests: a private
// certificate authority, a server certificate for the loopback addresses,
// and client certificates that carry a USP endpoint ID.
//
// # Use
//
//	serverTLS, clientTLS := testcert.New(t)          // server-authenticated TLS
//	serverTLS, clientTLS := testcert.NewMutual(t, id) // mutual TLS, client named id
//
// Server configs require a client certificate only in the mutual variant.
// Every config sets MinVersion to TLS 1.2, as TR-369 requires.
//
// # Client identity
//
// TR-369 puts an endpoint ID in a certificate as the URI subjectAltName
// "urn:bbf:usp:id:<endpoint id>". Client certificates made here carry that
// URI and also the bare endpoint ID as the subject common name, so code that
// reads either can be tested. [EndpointURI] builds the URI.
//
// # Any certificate
//
// [CA.Issue] makes a certificate from a [Spec]: common name, endpoint URIs,
// IP addresses, host names, key usage and validity are each chosen, so that
// tests can present the certificates a deployment meets (CN-only, URI-only,
// IP-only, expired, from another CA) and check who is let in.
//
// Keys are ECDSA P-256: quick to generate, so each test can have its own CA.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// URNPrefix starts the URI subjectAltName that names a USP endpoint.
const URNPrefix = "urn:bbf:usp:id:"

// EndpointURI returns the URI subjectAltName for an endpoint ID, adding
// [URNPrefix] unless id already has it.
func EndpointURI(id string) string {
	if strings.HasPrefix(id, URNPrefix) {
		return id
	}
	return URNPrefix + id
}

// CA is a certificate authority that lives for one test.
type CA struct {
	// Cert is the CA certificate; Pool holds only it.
	Cert *x509.Certificate
	Pool *x509.CertPool
	key  *ecdsa.PrivateKey
}

// NewCA makes a fresh certificate authority.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "gousp test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testcert: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testcert: parse CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}
}

// Server issues a server certificate valid for 127.0.0.1, ::1 and localhost.
func (ca *CA) Server(t testing.TB) tls.Certificate {
	t.Helper()
	return ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate for a USP endpoint: common name
// endpointID and URI subjectAltName [EndpointURI](endpointID). An empty
// endpointID gives a certificate with neither.
func (ca *CA) Client(t testing.TB, endpointID string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: endpointID},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if endpointID != "" {
		u, err := url.Parse(EndpointURI(endpointID))
		if err != nil {
			t.Fatalf("testcert: endpoint ID %q does not make a URI: %v", endpointID, err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	return ca.issue(t, tmpl)
}

// ServerConfig returns a server config presenting a certificate from ca. If
// clientCAs is not nil, the server requires and verifies a client
// certificate issued by it.
func (ca *CA) ServerConfig(t testing.TB, clientCAs *CA) *tls.Config {
	t.Helper()
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{ca.Server(t)},
	}
	if clientCAs != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCAs.Pool
	}
	return cfg
}

// ClientConfig returns a client config that trusts servers issued by ca.
// If cert is not nil, the client presents it.
func (ca *CA) ClientConfig(cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    ca.Pool,
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// New returns a matching pair of configs for server-authenticated TLS: the
// server presents a certificate for the loopback addresses and the client
// trusts only its fresh CA.
func New(t testing.TB) (serverTLS, clientTLS *tls.Config) {
	t.Helper()
	ca := NewCA(t)
	return ca.ServerConfig(t, nil), ca.ClientConfig(nil)
}

// NewMutual returns configs for mutual TLS: the server requires a client
// certificate from the same CA, and the client presents one naming
// endpointID (see [CA.Client]).
func NewMutual(t testing.TB, endpointID string) (serverTLS, clientTLS *tls.Config) {
	t.Helper()
	ca := NewCA(t)
	cert := ca.Client(t, endpointID)
	return ca.ServerConfig(t, ca), ca.ClientConfig(&cert)
}

// Spec says what a certificate made by [CA.Issue] holds.
type Spec struct {
	// CommonName is the subject common name.
	CommonName string
	// EndpointIDs become URI subjectAltNames [EndpointURI](id).
	EndpointIDs []string
	// IPs and DNSNames become IP and DNS subjectAltNames.
	IPs      []net.IP
	DNSNames []string
	// Usage is the extended key usage; empty means none, which Go's
	// verifier accepts for any purpose.
	Usage []x509.ExtKeyUsage
	// Expired makes a certificate whose validity ended an hour ago.
	Expired bool
}

// Loopback is the IP addresses of the loopback interface, for a Spec.
var Loopback = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// Issue issues a certificate as spec says.
func (ca *CA) Issue(t testing.TB, spec Spec) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: spec.CommonName},
		IPAddresses: spec.IPs,
		DNSNames:    spec.DNSNames,
		ExtKeyUsage: spec.Usage,
	}
	for _, id := range spec.EndpointIDs {
		u, err := url.Parse(EndpointURI(id))
		if err != nil {
			t.Fatalf("testcert: endpoint ID %q does not make a URI: %v", id, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	if spec.Expired {
		tmpl.NotBefore = time.Now().Add(-48 * time.Hour)
		tmpl.NotAfter = time.Now().Add(-time.Hour)
	}
	return ca.issue(t, tmpl)
}

func (ca *CA) issue(t testing.TB, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testcert: issue certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testcert: parse certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testcert: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("testcert: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}
