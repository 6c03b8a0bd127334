package usptest

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/gousp/gousp/internal/e2e/recmac"
	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// RecordIntegrity is the agent's side of the integrity of records'
// non-payload fields (TR-369 R-E2E.29 to R-E2E.39, TP-469 2.7 and 3.2 to
// 3.4).
//
// With it the agent protects every record it sends: an HMAC of the
// non-payload fields in mac_signature inside a TLS session of payload
// security ([SessionConfig].TLS) once its handshake completed, an ECDSA
// signature with Certificate otherwise (sender_cert then carries the
// certificate). It checks every received record that carries a
// mac_signature, the same two ways (a signature against Roots, its
// certificate naming the record's from_id), and ignores, unanswered, one
// that does not verify. See package internal/e2e/recmac for the exact
// byte string and the choice of method around the end of a handshake.
type RecordIntegrity struct {
	// Certificate signs the agent's records: an ECDSA P-256 key, its
	// endpoint ID in a subjectAltName URI (urn:bbf:usp:id:...).
	Certificate tls.Certificate
	// Roots are the authorities of the controllers' certificates, which
	// verify the sender_cert of a signed record.
	Roots *x509.CertPool
	// Require makes the agent ignore records without a mac_signature, as
	// R-E2E.30 asks when the MTP does not protect them (TP-469 3.2): set
	// it when the agent's transports carry no TLS to the controllers.
	Require bool
}

// WithRecordIntegrity turns on the integrity of records' non-payload
// fields (see [RecordIntegrity]).
func WithRecordIntegrity(ri RecordIntegrity) Option {
	return func(c *config) error {
		if len(ri.Certificate.Certificate) == 0 || ri.Roots == nil {
			return optErr("RecordIntegrity needs a Certificate and Roots")
		}
		c.integrity = &ri
		return nil
	}
}

// sessionTLS returns the TLS endpoint of payload security with a
// controller, nil when none is up.
func (a *Agent) sessionTLS(peer string) *tlsrec.Endpoint {
	a.mu.Lock()
	s := a.sessions[peer]
	a.mu.Unlock()
	fs, ok := s.(fullSession)
	if !ok || fs.tls == nil {
		return nil
	}
	fs.tls.mu.Lock()
	defer fs.tls.mu.Unlock()
	return fs.tls.ep
}

// intact reports whether a received record passes the integrity check.
func (a *Agent) intact(rec *usprecord.Record) bool {
	ri := a.cfg.integrity
	if ri == nil || a.faults.ignoringIntegrity() {
		return true
	}
	if len(rec.GetMacSignature()) == 0 {
		if ri.Require {
			a.log.Debug("ignoring a record without mac_signature", "from_id", rec.GetFromId())
			return false
		}
		return true
	}
	var err error
	var peerKey []byte
	keyed := false
	if ep := a.sessionTLS(rec.GetFromId()); ep != nil {
		_, peerKey, keyed = ep.IntegrityKeys()
	}
	if recmac.UsesMAC(rec, keyed) {
		err = recmac.VerifyMAC(rec, peerKey)
	} else {
		err = recmac.VerifySignature(rec, ri.Roots, nil)
	}
	if err != nil {
		a.log.Debug("ignoring a record whose mac_signature does not verify", "from_id", rec.GetFromId(), "err", err)
		return false
	}
	return true
}

// protect adds the mac_signature to a record the agent sends, encoded as
// data; it returns data unchanged without RecordIntegrity.
func (a *Agent) protect(data []byte) []byte {
	ri := a.cfg.integrity
	if ri == nil {
		return data
	}
	rec, err := record.Decode(data)
	if err != nil {
		return data
	}
	var ownKey []byte
	keyed := false
	if ep := a.sessionTLS(rec.GetToId()); ep != nil {
		ownKey, _, keyed = ep.IntegrityKeys()
	}
	switch {
	case recmac.UsesMAC(rec, keyed):
		if a.faults.wrongIntegrity() {
			ownKey = []byte("not the session's key")
		}
		recmac.SetMAC(rec, ownKey)
	default:
		if err := recmac.Sign(rec, ri.Certificate); err != nil {
			a.log.Error("cannot sign a record", "err", err)
			return data
		}
	}
	out, err := record.Encode(rec)
	if err != nil {
		a.log.Error("encoding a protected record", "err", err)
		return data
	}
	return out
}

// SkipIntegrityCheck makes the agent (with [WithRecordIntegrity]) accept
// records whose mac_signature does not verify, or that have none although
// it is required (TP-469 2.7, 3.2, 3.3).
func (f *Faults) SkipIntegrityCheck(on bool) {
	f.mu.Lock()
	f.s.noIntegrityCheck = on
	f.mu.Unlock()
}

// WrongRecordMAC makes the agent (with [WithRecordIntegrity]) compute the
// MAC of its records in a TLS session with a key that is not the
// session's (TP-469 3.4).
func (f *Faults) WrongRecordMAC(on bool) {
	f.mu.Lock()
	f.s.wrongMAC = on
	f.mu.Unlock()
}

func (f *Faults) ignoringIntegrity() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.noIntegrityCheck
}

func (f *Faults) wrongIntegrity() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.wrongMAC
}
