package recmac

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"testing"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/proto/usprecord"
)

const (
	agentID = "os::012345-recmac"
	ctrlID  = "self::recmac-controller"
)

func sessionRecord() *usprecord.Record {
	return &usprecord.Record{
		Version: "1.3", ToId: agentID, FromId: ctrlID, PayloadSecurity: usprecord.Record_TLS12,
		RecordType: &usprecord.Record_SessionContext{SessionContext: &usprecord.SessionContextRecord{
			SessionId: 0x0102030405060708, SequenceId: 2, ExpectedId: 3, RetransmitId: 0,
			PayloadSarState: usprecord.SessionContextRecord_BEGIN, PayloadrecSarState: usprecord.SessionContextRecord_COMPLETE,
			Payload: [][]byte{{23, 3, 3, 0, 1, 0}},
		}},
	}
}

// TestInput checks the byte string against one written out by hand from
// R-E2E.32: strings as UTF-8, the enum as 4 bytes and the uint64s as 8,
// big endian, in field-number order, the payload and mac_signature left
// out.
func TestInput(t *testing.T) {
	rec := sessionRecord()
	rec.SenderCert = []byte("PEM")
	rec.MacSignature = []byte("ignored")
	var want []byte
	want = append(want, "1.3"...)
	want = append(want, agentID...)
	want = append(want, ctrlID...)
	want = append(want, 0, 0, 0, 1) // TLS12
	want = append(want, "PEM"...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8) // session_id
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 2) // sequence_id
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 3) // expected_id
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 0) // retransmit_id
	want = append(want, 0, 0, 0, 1)             // payload_sar_state BEGIN
	want = append(want, 0, 0, 0, 3)             // payloadrec_sar_state COMPLETE
	if got := Input(rec); !bytes.Equal(got, want) {
		t.Fatalf("Input\n got %x\nwant %x", got, want)
	}
	plain := &usprecord.Record{Version: "1.4", ToId: "a", FromId: "b",
		RecordType: &usprecord.Record_NoSessionContext{NoSessionContext: &usprecord.NoSessionContextRecord{Payload: []byte("x")}}}
	if got, want := Input(plain), []byte("1.4ab\x00\x00\x00\x00"); !bytes.Equal(got, want) {
		t.Fatalf("NoSessionContext Input %q, want %q", got, want)
	}
}

func TestMAC(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	rec := sessionRecord()
	rec.SenderCert = []byte("dropped by SetMAC")
	SetMAC(rec, key)
	if rec.SenderCert != nil || len(rec.MacSignature) != MACSize {
		t.Fatalf("sender_cert %q, mac %d bytes", rec.SenderCert, len(rec.MacSignature))
	}
	h := hmac.New(sha256.New, key)
	h.Write(Input(rec))
	if !bytes.Equal(rec.MacSignature, h.Sum(nil)) {
		t.Fatal("the MAC is not HMAC-SHA256 of Input")
	}
	if err := VerifyMAC(rec, key); err != nil {
		t.Fatal(err)
	}
	if err := VerifyMAC(rec, bytes.Repeat([]byte{8}, 32)); !errors.Is(err, ErrMAC) {
		t.Fatalf("other key: %v", err)
	}
	rec.GetSessionContext().SequenceId++
	if err := VerifyMAC(rec, key); !errors.Is(err, ErrMAC) {
		t.Fatalf("changed sequence_id: %v", err)
	}
	// The payload is not covered.
	rec.GetSessionContext().SequenceId--
	rec.GetSessionContext().Payload = [][]byte{[]byte("other")}
	if err := VerifyMAC(rec, key); err != nil {
		t.Fatalf("changed payload: %v", err)
	}
	rec.MacSignature = nil
	if err := VerifyMAC(rec, key); !errors.Is(err, ErrMissing) {
		t.Fatalf("no MAC: %v", err)
	}
}

func TestSignature(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, testcert.Spec{CommonName: ctrlID, EndpointIDs: []string{ctrlID}})
	rec := sessionRecord()
	if err := Sign(rec, cert); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(rec.SenderCert, []byte("-----BEGIN CERTIFICATE-----")) || rec.MacSignature[0] != 0x30 {
		t.Fatalf("sender_cert %.30q, signature %x", rec.SenderCert, rec.MacSignature)
	}
	if err := VerifySignature(rec, ca.Pool, nil); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		change func(*usprecord.Record)
		want   error
	}{
		"to_id":            {func(r *usprecord.Record) { r.ToId = "os::someone" }, ErrSignature},
		"payload_security": {func(r *usprecord.Record) { r.PayloadSecurity = usprecord.Record_PLAINTEXT }, ErrSignature},
		"expected_id":      {func(r *usprecord.Record) { r.GetSessionContext().ExpectedId = 9 }, ErrSignature},
		"signature":        {func(r *usprecord.Record) { r.MacSignature[len(r.MacSignature)-1] ^= 1 }, ErrSignature},
		"from_id":          {func(r *usprecord.Record) { r.FromId = "self::other" }, ErrCertificate},
		"garbage cert":     {func(r *usprecord.Record) { r.SenderCert = []byte("junk") }, ErrCertificate},
		"no signature":     {func(r *usprecord.Record) { r.MacSignature = nil }, ErrMissing},
	} {
		r := sessionRecord()
		if err := Sign(r, cert); err != nil {
			t.Fatal(err)
		}
		tc.change(r)
		if err := VerifySignature(r, ca.Pool, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s changed: %v, want %v", name, err, tc.want)
		}
	}
	// Another authority's roots refuse the chain.
	if err := VerifySignature(rec, testcert.NewCA(t).Pool, nil); !errors.Is(err, ErrCertificate) {
		t.Errorf("untrusted chain: %v", err)
	}
	// Without sender_cert the session's certificate verifies.
	leaf := cert.Leaf
	r := sessionRecord()
	if err := Sign(r, cert); err != nil {
		t.Fatal(err)
	}
	r.SenderCert = nil
	sum := sha256.Sum256(Input(r))
	r.MacSignature, _ = ecdsa.SignASN1(rand.Reader, cert.PrivateKey.(*ecdsa.PrivateKey), sum[:])
	if err := VerifySignature(r, ca.Pool, leaf); err != nil {
		t.Errorf("with the session certificate: %v", err)
	}
	if err := VerifySignature(r, ca.Pool, nil); !errors.Is(err, ErrCertificate) {
		t.Errorf("without any certificate: %v", err)
	}
	// Only P-256 keys sign.
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err := Sign(sessionRecord(), tls.Certificate{Certificate: cert.Certificate, PrivateKey: k384}); !errors.Is(err, ErrCertificate) {
		t.Errorf("P-384 key: %v", err)
	}
}

func TestUsesMAC(t *testing.T) {
	rec := func(sec usprecord.Record_PayloadSecurity, payloads ...[]byte) *usprecord.Record {
		r := sessionRecord()
		r.PayloadSecurity = sec
		r.GetSessionContext().Payload = payloads
		return r
	}
	app := []byte{tlsrec.TypeApplicationData, 3, 3, 0, 1, 0}
	hs := []byte{tlsrec.TypeHandshake, 3, 3, 0, 1, 0}
	ccs := []byte{tlsrec.TypeChangeCipherSpec, 3, 3, 0, 1, 1}
	alert := []byte{tlsrec.TypeAlert, 3, 3, 0, 2, 1, 0}
	for _, tc := range []struct {
		name       string
		r          *usprecord.Record
		handshaken bool
		want       bool
	}{
		{"application data after the handshake", rec(usprecord.Record_TLS12, app), true, true},
		{"empty payload after the handshake", rec(usprecord.Record_TLS12, []byte{}), true, true},
		{"alert after the handshake", rec(usprecord.Record_TLS12, alert), true, true},
		{"before the handshake", rec(usprecord.Record_TLS12, app), false, false},
		{"final flight", rec(usprecord.Record_TLS12, append(slicesClone(ccs), hs...)), true, false},
		{"renegotiation", rec(usprecord.Record_TLS12, hs), true, false},
		{"plaintext", rec(usprecord.Record_PLAINTEXT, app), true, false},
		{"not TLS records", rec(usprecord.Record_TLS12, []byte{1, 2, 3, 4, 5, 6}), true, false},
		{"no session context", &usprecord.Record{PayloadSecurity: usprecord.Record_TLS12}, true, false},
	} {
		if got := UsesMAC(tc.r, tc.handshaken); got != tc.want {
			t.Errorf("%s: UsesMAC %v, want %v", tc.name, got, tc.want)
		}
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }
