package websocket

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/gousp/gousp/mtp"
)

// refusal is a dial error that retrying cannot fix; internal/peerconn's
// client ends Start with it instead of retrying.
type refusal struct {
	kind error // ErrForbidden, ErrDuplicate or ErrCertificate
	err  error
}

func (r *refusal) Error() string   { return r.kind.Error() + ": " + r.err.Error() }
func (r *refusal) Unwrap() []error { return []error{r.kind, r.err} }
func (r *refusal) Permanent() bool { return true }

// classifyDial marks the dial errors that say the server will not take us
// as we are: HTTP 401, 403 and 409, and certificate failures on either side.
func classifyDial(resp *http.Response, err error) error {
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &refusal{ErrForbidden, fmt.Errorf("%w: HTTP %s: %w", ErrHandshake, resp.Status, err)}
		case http.StatusConflict:
			return &refusal{ErrDuplicate, fmt.Errorf("%w: HTTP %s: %w", ErrHandshake, resp.Status, err)}
		}
		return fmt.Errorf("%w: HTTP %s: %w", ErrHandshake, resp.Status, err)
	}
	var (
		verr  *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		ci    x509.CertificateInvalidError
		he    x509.HostnameError
		alert tls.AlertError
	)
	switch {
	case errors.Is(err, ErrCertificate):
		return &refusal{ErrCertificate, err}
	case errors.As(err, &verr), errors.As(err, &ua), errors.As(err, &ci), errors.As(err, &he):
		return &refusal{ErrCertificate, err}
	case errors.As(err, &alert) && certAlert(uint8(alert)), remoteCertAlert(err):
		// The server refused our certificate.
		return &refusal{ErrCertificate, err}
	}
	return err
}

// certAlert reports whether a TLS alert is about a certificate (RFC 8446
// section 6.2): bad, unsupported, revoked, expired or unknown certificate,
// unknown CA, certificate required.
func certAlert(a uint8) bool {
	switch a {
	case 42, 43, 44, 45, 46, 48, 116:
		return true
	}
	return false
}

// remoteCertAlert recognises an alert about our certificate received over
// TCP: crypto/tls reports it as a *net.OpError "remote error" whose alert
// type is not exported, so only its text tells which alert it is.
func remoteCertAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && strings.Contains(op.Err.Error(), "certificate")
}

// certIDs returns the endpoint IDs a certificate names: its
// urn:bbf:usp:id: URIs, or its common name if allowed and there is no URI.
func certIDs(leaf *x509.Certificate, commonName bool) []string {
	ids := mtp.CertEndpointIDs(leaf)
	if len(ids) == 0 && commonName {
		if cn := mtp.CertCommonNameID(leaf); cn != "" {
			ids = []string{cn}
		}
	}
	return ids
}

// pickID matches the endpoint ID a peer claims (or "" for none) with those
// its certificate names, and returns the peer's endpoint ID.
func pickID(claimed string, ids []string) (string, error) {
	switch {
	case len(ids) == 0:
		return "", errors.New("certificate names no endpoint (no urn:bbf:usp:id: URI subjectAltName)")
	case claimed != "" && !slices.Contains(ids, claimed):
		return "", fmt.Errorf("certificate names endpoint %q, not %q", ids, claimed)
	case claimed != "":
		return claimed, nil
	case len(ids) > 1:
		return "", fmt.Errorf("certificate names several endpoints %q and none was given", ids)
	}
	return ids[0], nil
}

// verifyChain verifies a peer's certificate chain against roots for usage.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// clientIdentity checks a client's certificate at the opening handshake:
// with [WithClientCertificates] or [WithCertificateIdentity] it must be
// verified and name the endpoint the client claims (eid, or "" when it
// gave none); otherwise a certificate, if any, is only reported. It
// returns the client's endpoint ID and certificate, or why it is refused.
func (s *Server) clientIdentity(cs *tls.ConnectionState, eid string) (string, *mtp.PeerCert, error) {
	required := s.cfg.clientRoots != nil || s.cfg.certIdentity
	if cs == nil || len(cs.PeerCertificates) == 0 {
		if required {
			return "", nil, errors.New("no client certificate")
		}
		return eid, nil, nil
	}
	leaf := cs.PeerCertificates[0]
	verified := len(cs.VerifiedChains) > 0
	var verr error
	if s.cfg.clientRoots != nil {
		verr = verifyChain(cs.PeerCertificates, s.cfg.clientRoots, x509.ExtKeyUsageClientAuth)
		verified = verr == nil
	}
	id, idErr := pickID(eid, certIDs(leaf, s.cfg.commonName))
	if !required {
		certID := ""
		if idErr == nil {
			certID = id
		}
		return eid, mtp.NewPeerCert(leaf, certID, verified), nil
	}
	switch {
	case verr != nil:
		return "", nil, fmt.Errorf("client certificate not trusted: %w", verr)
	case !verified:
		return "", nil, errors.New("client certificate not verified by the TLS configuration")
	case idErr != nil:
		return "", nil, idErr
	}
	return id, mtp.NewPeerCert(leaf, id, true), nil
}

// verifyServer is the client's VerifyConnection with
// [WithServerCertificate]: the server's chain must verify against the
// roots, and its certificate must name the server's endpoint ID (the one
// from [WithPeerID], or exactly one). The host name is not checked: TR-369
// names agents by endpoint ID, and their certificates often carry no IP
// address or DNS name.
func (c *Client) verifyServer(cs tls.ConnectionState) error {
	if err := verifyChain(cs.PeerCertificates, c.cfg.serverRoots, x509.ExtKeyUsageServerAuth); err != nil {
		return fmt.Errorf("%w: server certificate: %w", ErrCertificate, err)
	}
	if _, err := pickID(c.cfg.peerID, certIDs(cs.PeerCertificates[0], c.cfg.commonName)); err != nil {
		return fmt.Errorf("%w: server %w", ErrCertificate, err)
	}
	return nil
}

// serverCert describes the certificate of the server a client reached.
func (c *Client) serverCert(cs *tls.ConnectionState) (id string, pc *mtp.PeerCert) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return "", nil
	}
	leaf := cs.PeerCertificates[0]
	if c.cfg.serverRoots != nil {
		// verifyServer passed, or there would be no connection.
		id, _ = pickID(c.cfg.peerID, certIDs(leaf, c.cfg.commonName))
		return id, mtp.NewPeerCert(leaf, id, true)
	}
	if ids := certIDs(leaf, c.cfg.commonName); len(ids) == 1 {
		id = ids[0]
	}
	return "", mtp.NewPeerCert(leaf, id, len(cs.VerifiedChains) > 0)
}
