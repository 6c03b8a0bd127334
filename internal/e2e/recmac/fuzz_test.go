package recmac

import (
	"bytes"
	"crypto/x509"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/proto/usprecord"
)

// FuzzVerify feeds arbitrary records (mac_signature and sender_cert
// included) to both checks: they must return an error or nil, never
// panic, and a record they accept must verify again the same way.
func FuzzVerify(f *testing.F) {
	r := sessionRecord()
	r.MacSignature = bytes.Repeat([]byte{1}, 32)
	b, _ := proto.Marshal(r)
	f.Add(b)
	r.SenderCert = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	r.MacSignature = []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}
	b, _ = proto.Marshal(r)
	f.Add(b)
	roots := x509.NewCertPool()
	key := bytes.Repeat([]byte{1}, 32)
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec usprecord.Record
		if proto.Unmarshal(data, &rec) != nil {
			return
		}
		_ = Input(&rec)
		_ = UsesMAC(&rec, true)
		if VerifyMAC(&rec, key) == nil && VerifyMAC(&rec, key) != nil {
			t.Fatal("VerifyMAC changed its mind")
		}
		_ = VerifySignature(&rec, roots, nil)
	})
}
