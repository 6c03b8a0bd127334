package conformance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
)

// WithPayloadTLS gives the test equipment what TLS payload security
// (payload_security TLS12, TR-369 "Secure Message Exchange") needs: its
// certificate, an ECDSA P-256 key naming the equipment's endpoint ID in a
// subjectAltName URI (urn:bbf:usp:id:...), and the authorities of the
// agent's certificate, which must name the agent's endpoint ID the same
// way. Without it the cases of TLS payload security are skipped.
func WithPayloadTLS(cert tls.Certificate, roots *x509.CertPool) Option {
	return func(e *Equipment) error {
		if len(cert.Certificate) == 0 || roots == nil {
			return fmt.Errorf("%w: WithPayloadTLS needs a certificate and roots", ErrInvalidOption)
		}
		e.e2eTLS = &tlsrec.Config{Certificate: cert, Roots: roots}
		return nil
	}
}

// payloadTLS returns a TLS client for a session context with the agent,
// or nil when the equipment has no certificate.
func (e *Equipment) payloadTLS() *tlsrec.Endpoint {
	if e.e2eTLS == nil {
		return nil
	}
	cfg := *e.e2eTLS
	cfg.PeerID = e.agentID
	return tlsrec.Client(cfg)
}

// payloadTLSServer returns a TLS server for a session context the agent
// opened, the agent being the TLS client (3.5), or nil when the equipment
// has no certificate.
func (e *Equipment) payloadTLSServer() *tlsrec.Endpoint {
	if e.e2eTLS == nil {
		return nil
	}
	cfg := *e.e2eTLS
	cfg.PeerID = e.agentID
	return tlsrec.Server(cfg)
}

// WithPayloadTLSWrongID gives the test equipment, for 3.7, a certificate
// the agent trusts (from the authority of its [WithPayloadTLS] one) whose
// subjectAltName names another endpoint ID than the equipment's.
func WithPayloadTLSWrongID(cert tls.Certificate) Option {
	return func(e *Equipment) error {
		if len(cert.Certificate) == 0 {
			return fmt.Errorf("%w: WithPayloadTLSWrongID needs a certificate", ErrInvalidOption)
		}
		e.e2eWrongID = &cert
		return nil
	}
}

// payloadTLSWrongID returns a TLS client presenting the certificate of
// WithPayloadTLSWrongID, or nil.
func (e *Equipment) payloadTLSWrongID() *tlsrec.Endpoint {
	if e.e2eTLS == nil || e.e2eWrongID == nil {
		return nil
	}
	cfg := *e.e2eTLS
	cfg.PeerID = e.agentID
	cfg.Certificate = *e.e2eWrongID
	return tlsrec.Client(cfg)
}
