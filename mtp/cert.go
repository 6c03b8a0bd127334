package mtp

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
)

// EndpointURIPrefix starts the URI subjectAltName by which a certificate
// names a USP endpoint: "urn:bbf:usp:id:" followed by the endpoint ID
// (TR-369, R-SEC.*).
const EndpointURIPrefix = "urn:bbf:usp:id:"

// PeerCert is the TLS certificate a peer presented when its session
// opened, for logs, audits and access decisions above the transport.
type PeerCert struct {
	// Leaf is the peer's own certificate.
	Leaf *x509.Certificate
	// Fingerprint is the SHA-256 digest of Leaf in lower-case hex, the
	// usual way to name one certificate in a log or an allow list.
	Fingerprint string
	// EndpointID is the endpoint ID the transport took from the
	// certificate: its urn:bbf:usp:id: URI subjectAltName, or its subject
	// common name where the transport was told to fall back to it. Empty
	// when the certificate names no endpoint, or names several and none
	// was asked for.
	EndpointID string
	// Verified reports that the chain was verified against trusted roots
	// (by the transport's certificate option or by the TLS configuration).
	Verified bool
}

// NewPeerCert describes leaf; it returns nil for a nil leaf.
func NewPeerCert(leaf *x509.Certificate, endpointID string, verified bool) *PeerCert {
	if leaf == nil {
		return nil
	}
	sum := sha256.Sum256(leaf.Raw)
	return &PeerCert{Leaf: leaf, Fingerprint: hex.EncodeToString(sum[:]), EndpointID: endpointID, Verified: verified}
}

// CertEndpointIDs returns the endpoint IDs a certificate names in URI
// subjectAltNames of the form urn:bbf:usp:id:<id>, the only place TR-369
// puts them. The subject common name is not read: see [CertCommonNameID].
func CertEndpointIDs(cert *x509.Certificate) []string {
	if cert == nil {
		return nil
	}
	var ids []string
	for _, u := range cert.URIs {
		if s := u.String(); strings.HasPrefix(s, EndpointURIPrefix) && len(s) > len(EndpointURIPrefix) {
			ids = append(ids, s[len(EndpointURIPrefix):])
		}
	}
	return ids
}

// CertCommonNameID returns the subject common name of a certificate that
// has no urn:bbf:usp:id: URI, for deployments whose certificates predate
// the URI form. It is a weaker identity: a certificate authority issues
// common names for many purposes, and any certificate it signed whose
// common name happens to equal an endpoint ID would pass for that
// endpoint. A certificate with a URI is named by its URI only.
func CertCommonNameID(cert *x509.Certificate) string {
	if cert == nil || len(CertEndpointIDs(cert)) > 0 {
		return ""
	}
	return cert.Subject.CommonName
}
