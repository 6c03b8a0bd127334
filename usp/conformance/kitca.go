package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TestCA is a certificate authority the kit makes: give the agent its
// certificate (CertPEM) as one to trust. It is the kit's one maker of
// certificates: its TLS MQTT broker ([StartMQTTBrokerTLS], uspctl's
// --serve-mqtts and --kit-ca), its WebSocket server ([KitCertificates],
// --serve-ws-tls), its HTTPS bulk data receiver and 9.2's alternate
// certificate all come from one. It signs server certificates, valid or
// already expired.
type TestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte

	mu     sync.Mutex
	serial int64
}

// NewTestCA makes a CA valid from an hour ago for ten years.
func NewTestCA() (*TestCA, error) {
	return newCA(pkix.Name{CommonName: "gousp TP-469 test CA"}, 10*365*24*time.Hour)
}

// newCA makes a self-signed CA named subject, valid from an hour ago for
// validity, with a fresh key and a random serial number, so that no CA of
// an earlier run matches it.
func newCA(subject pkix.Name, validity time.Duration) (*TestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("conformance: CA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("conformance: CA serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: subject,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	cert, err := sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("conformance: CA: %w", err)
	}
	return &TestCA{cert: cert, key: key, serial: 1,
		pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// sign makes the certificate tmpl describes for pub, signed by parent's
// key.
func sign(tmpl, parent *x509.Certificate, pub, parentKey crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// CertPEM returns the CA's certificate, PEM encoded.
func (ca *TestCA) CertPEM() []byte { return append([]byte(nil), ca.pem...) }

// Pool returns a pool holding the CA's certificate, for a client's
// tls.Config RootCAs.
func (ca *TestCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ServerCert signs a certificate for localhost, 127.0.0.1 and ::1 valid
// from notBefore to notAfter (2.8 asks for one that has expired).
func (ca *TestCA) ServerCert(notBefore, notAfter time.Time) (tls.Certificate, error) {
	return ca.ServerCertFor(notBefore, notAfter, "localhost", "127.0.0.1", "::1")
}

// ServerCertFor signs a server certificate for hosts (IP addresses or DNS
// names) valid from notBefore to notAfter.
func (ca *TestCA) ServerCertFor(notBefore, notAfter time.Time, hosts ...string) (tls.Certificate, error) {
	if len(hosts) == 0 || hosts[0] == "" {
		return tls.Certificate{}, fmt.Errorf("%w: the server certificate needs a host", ErrInvalidOption)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("conformance: server key: %w", err)
	}
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		ip := net.ParseIP(h)
		switch {
		case ip == nil:
			if h != "" {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		case ip.To4() != nil:
			// An IPv4 address as a DNS name too: agents that check the
			// server's address as a host name (OB-USP-A through
			// OpenSSL's X509_check_host) see no IP SANs.
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		default:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	leaf, err := sign(tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("conformance: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// KeyPEM returns the CA's private key, PEM encoded, for [LoadTestCA] in a
// later run: an agent told once to trust the CA keeps trusting the kit.
func (ca *TestCA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("conformance: CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// LoadTestCA reads a CA that [NewTestCA] made, from its CertPEM and
// KeyPEM.
func LoadTestCA(certPEM, keyPEM []byte) (*TestCA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%w: CA: no PEM certificate or key", ErrInvalidOption)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA: %w", ErrInvalidOption, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA key: %w", ErrInvalidOption, err)
	}
	if !cert.IsCA || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: CA: not a CA certificate with that key", ErrInvalidOption)
	}
	// Serial numbers of this run's certificates: above any of a former
	// run's with this CA (they need only differ within the CA).
	return &TestCA{cert: cert, key: key, pem: pem.EncodeToMemory(cb), serial: time.Now().UnixNano()}, nil
}

// KitCertificates makes a [TestCA] and a server certificate it signs for
// hosts (IP addresses or DNS names), valid for a day, for the kit's
// WebSocket server (7.9). It writes the authority's certificate as ca.pem
// into dir when dir is not "", for the agent's trust store, and returns
// the server's TLS configuration and a pool with the authority for
// clients.
func KitCertificates(dir string, hosts ...string) (*tls.Config, *x509.CertPool, error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("conformance: the server certificate needs a host")
	}
	ca, err := NewTestCA()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	cert, err := ca.ServerCertFor(now.Add(-time.Hour), now.Add(24*time.Hour), hosts...)
	if err != nil {
		return nil, nil, err
	}
	if dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o644); err != nil {
			return nil, nil, fmt.Errorf("conformance: writing the kit's CA: %w", err)
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, ca.Pool(), nil
}
