package recmac

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/proto/usprecord"
)

// Errors a check returns; errors.Is matches them.
var (
	// ErrMissing: the record has no mac_signature.
	ErrMissing = errors.New("recmac: record without mac_signature")
	// ErrSignature: the signature does not verify with the sender's key.
	ErrSignature = errors.New("recmac: mac_signature is not a valid signature of the non-payload fields")
	// ErrMAC: the HMAC does not match the non-payload fields.
	ErrMAC = errors.New("recmac: mac_signature is not the HMAC of the non-payload fields")
	// ErrCertificate: no usable certificate to verify a signature with.
	ErrCertificate = errors.New("recmac: sender certificate")
)

// MACSize is the length of an HMAC-SHA256 mac_signature.
const MACSize = sha256.Size

// Input returns the bytes TR-369 R-E2E.32 feeds to the MAC or signature:
// the Record's fields other than mac_signature and the record type, in
// field-number order (version, to_id, from_id, payload_security,
// sender_cert), then, for a SessionContext record, its fields other than
// payload (session_id, sequence_id, expected_id, retransmit_id,
// payload_sar_state, payloadrec_sar_state). Strings and bytes go as they
// are, uint64 as 8 bytes and enums as 4 bytes, big endian. A field left
// at its default contributes its default (an empty string, zeros): proto3
// cannot tell it from a field sent with that value. Other record types
// contribute nothing of their own (the rule names only
// SessionContextRecord).
func Input(rec *usprecord.Record) []byte {
	var b []byte
	b = append(b, rec.GetVersion()...)
	b = append(b, rec.GetToId()...)
	b = append(b, rec.GetFromId()...)
	b = binary.BigEndian.AppendUint32(b, uint32(rec.GetPayloadSecurity()))
	b = append(b, rec.GetSenderCert()...)
	if sc := rec.GetSessionContext(); sc != nil {
		b = binary.BigEndian.AppendUint64(b, sc.GetSessionId())
		b = binary.BigEndian.AppendUint64(b, sc.GetSequenceId())
		b = binary.BigEndian.AppendUint64(b, sc.GetExpectedId())
		b = binary.BigEndian.AppendUint64(b, sc.GetRetransmitId())
		b = binary.BigEndian.AppendUint32(b, uint32(sc.GetPayloadSarState()))
		b = binary.BigEndian.AppendUint32(b, uint32(sc.GetPayloadrecSarState()))
	}
	return b
}

// UsesMAC reports which method protects a record (R-E2E.30): the TLS MAC
// once the TLS session of its session context has completed its
// handshake, the signature otherwise. Both ends decide from their own
// state before the record's payload is processed, and a payload that
// carries handshake or change_cipher_spec records (the last flight of the
// handshake, a renegotiation attempt) is signed: the sender of the final
// flight has completed its handshake when it sends it, its peer has not
// yet when it checks it.
func UsesMAC(rec *usprecord.Record, handshaken bool) bool {
	if !handshaken || rec.GetPayloadSecurity() != usprecord.Record_TLS12 {
		return false
	}
	sc := rec.GetSessionContext()
	if sc == nil {
		return false
	}
	for _, p := range sc.GetPayload() {
		recs, _, err := tlsrec.SplitRecords(p)
		if err != nil {
			return false
		}
		for _, r := range recs {
			if r.Type == tlsrec.TypeHandshake || r.Type == tlsrec.TypeChangeCipherSpec {
				return false
			}
		}
	}
	return true
}

// MAC returns the HMAC-SHA256 of the record's non-payload fields with key
// (R-E2E.33).
func MAC(rec *usprecord.Record, key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(Input(rec))
	return h.Sum(nil)
}

// SetMAC protects the record with the TLS MAC method: sender_cert is
// cleared (the TLS session authenticates the sender) and mac_signature
// set to the HMAC keyed with the sender's key of the TLS session.
func SetMAC(rec *usprecord.Record, key []byte) {
	rec.SenderCert = nil
	rec.MacSignature = MAC(rec, key)
}

// VerifyMAC checks a mac_signature made with the TLS MAC method; key is the
// peer's key of the TLS session.
func VerifyMAC(rec *usprecord.Record, key []byte) error {
	got := rec.GetMacSignature()
	if len(got) == 0 {
		return ErrMissing
	}
	if !hmac.Equal(got, MAC(rec, key)) {
		return ErrMAC
	}
	return nil
}

// Sign protects the record with the signature method
// (ECDSA_P256_SHA256_ASN1, R-E2E.31): sender_cert carries cert's chain in
// PEM, and mac_signature the ASN.1 DER ECDSA signature, with cert's P-256
// key, of the SHA-256 hash of the non-payload fields (sender_cert
// included).
func Sign(rec *usprecord.Record, cert tls.Certificate) error {
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return fmt.Errorf("%w: the signing key must be ECDSA P-256", ErrCertificate)
	}
	var chain bytes.Buffer
	for _, der := range cert.Certificate {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	rec.SenderCert = chain.Bytes()
	sum := sha256.Sum256(Input(rec))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return fmt.Errorf("recmac: signing: %w", err)
	}
	rec.MacSignature = sig
	return nil
}

// VerifySignature checks a mac_signature made with the signature method.
// The key is that of the certificate in sender_cert, whose chain must
// lead to roots and which must name the record's from_id as a
// subjectAltName URI (as the certificates of TLS payload security do,
// R-E2E.41); without sender_cert, known (the certificate of the secure
// message exchange, already verified) is used, and nil fails.
func VerifySignature(rec *usprecord.Record, roots *x509.CertPool, known *x509.Certificate) error {
	sig := rec.GetMacSignature()
	if len(sig) == 0 {
		return ErrMissing
	}
	leaf := known
	if pemChain := rec.GetSenderCert(); len(pemChain) > 0 {
		var err error
		if leaf, err = senderLeaf(pemChain, roots, rec.GetFromId()); err != nil {
			return err
		}
	}
	if leaf == nil {
		return fmt.Errorf("%w: none in the record (sender_cert) and no session certificate", ErrCertificate)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return fmt.Errorf("%w: the key is not ECDSA P-256", ErrCertificate)
	}
	sum := sha256.Sum256(Input(rec))
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return ErrSignature
	}
	return nil
}

// senderLeaf parses a PEM chain, verifies it against roots and checks that
// the leaf names endpointID.
func senderLeaf(pemChain []byte, roots *x509.CertPool, endpointID string) (*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := pemChain; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: sender_cert: %w", ErrCertificate, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: sender_cert holds no PEM certificate", ErrCertificate)
	}
	if roots == nil {
		return nil, fmt.Errorf("%w: no trusted roots to verify sender_cert with", ErrCertificate)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: sender_cert: %w", ErrCertificate, err)
	}
	for _, u := range leaf.URIs {
		if u.String() == tlsrec.EndpointURI(endpointID) {
			return leaf, nil
		}
	}
	return nil, fmt.Errorf("%w: sender_cert does not name from_id %q", ErrCertificate, endpointID)
}
