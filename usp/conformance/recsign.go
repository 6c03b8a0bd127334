package conformance

import (
	"crypto/tls"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/e2e/recmac"
	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// WithRecordSigning makes the test equipment protect the integrity of
// every record it sends (TR-369 R-E2E.29): a signature of the non-payload
// fields with the certificate of [WithPayloadTLS], or, inside a TLS
// session of payload security that completed its handshake, an HMAC with
// the session's key. Use it against an agent that requires integrity
// protection because its MTP gives none (TP-469 3.2): such an agent
// ignores every unsigned record, the kit's setup included. Cases 2.7 and
// 3.2-3.4 sign the records they need signed without it.
func WithRecordSigning() Option {
	return func(e *Equipment) error {
		e.signRecords = true
		return nil
	}
}

// signingCert returns the certificate the kit signs records with.
func (e *Equipment) signingCert() (tls.Certificate, bool) {
	if e.e2eTLS == nil {
		return tls.Certificate{}, false
	}
	return e.e2eTLS.Certificate, true
}

// protect sets the mac_signature of a record the kit sends: the MAC of
// ep's TLS session where recmac.UsesMAC says so, a signature otherwise.
func (e *Equipment) protect(rec *usprecord.Record, ep *tlsrec.Endpoint) error {
	var own []byte
	keyed := false
	if ep != nil {
		own, _, keyed = ep.IntegrityKeys()
	}
	if recmac.UsesMAC(rec, keyed) {
		recmac.SetMAC(rec, own)
		return nil
	}
	cert, ok := e.signingCert()
	if !ok {
		return fmt.Errorf("%w: signing records needs the certificate of WithPayloadTLS", ErrInvalidOption)
	}
	return recmac.Sign(rec, cert)
}

// signBytes signs an encoded record with [WithRecordSigning]; bytes that
// do not decode as a record, or a record that already has a
// mac_signature, go as they are.
func (e *Equipment) signBytes(b []byte) ([]byte, error) {
	if !e.signRecords {
		return b, nil
	}
	rec, err := record.Decode(b)
	if err != nil || len(rec.GetMacSignature()) > 0 {
		return b, nil
	}
	if err := e.protect(rec, nil); err != nil {
		return nil, err
	}
	return proto.Marshal(rec)
}
