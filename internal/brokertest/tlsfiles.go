package brokertest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// TLS describes a broker's TLS listener: the certificate it presents and,
// for mutual TLS, the authorities whose client certificates it accepts.
type TLS struct {
	// Cert is the server certificate chain with its private key.
	Cert tls.Certificate
	// ClientCAs, when not empty, makes the broker require a client
	// certificate issued by one of them.
	ClientCAs []*x509.Certificate
	// CA is the authority that issued Cert; some brokers (RabbitMQ) want
	// it as a file even without client certificates. Optional.
	CA *x509.Certificate
}

// pemFiles writes the certificate chain, key and CA bundle as PEM into dir
// and returns their paths (caFile is empty when there is no CA to write).
func (c *TLS) pemFiles(t testing.TB, dir string) (certFile, keyFile, caFile string) {
	t.Helper()
	var chain []byte
	for _, der := range c.Cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.Cert.PrivateKey)
	if err != nil {
		t.Fatalf("brokertest: marshal TLS key: %v", err)
	}
	certFile = writeFile(t, dir, "server-cert.pem", string(chain))
	keyFile = writeFile(t, dir, "server-key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})))
	var cas []byte
	for _, ca := range c.ClientCAs {
		cas = append(cas, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	}
	if c.CA != nil {
		cas = append(cas, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CA.Raw})...)
	}
	if len(cas) > 0 {
		caFile = writeFile(t, dir, "ca.pem", string(cas))
	}
	return certFile, keyFile, caFile
}
