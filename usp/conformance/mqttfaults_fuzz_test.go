package conformance

import "testing"

// FuzzLoadTestCA: a CA file pair (uspctl conform --kit-ca) never panics
// the kit; what it accepts signs certificates.
func FuzzLoadTestCA(f *testing.F) {
	ca, err := NewTestCA()
	if err != nil {
		f.Fatal(err)
	}
	key, err := ca.KeyPEM()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.CertPEM(), key)
	f.Add(ca.CertPEM(), ca.CertPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), key)
	f.Fuzz(func(t *testing.T, cert, key []byte) {
		got, err := LoadTestCA(cert, key)
		if err != nil {
			return
		}
		if _, err := got.ServerCert(ca.cert.NotBefore, ca.cert.NotAfter); err != nil {
			t.Errorf("an accepted CA cannot sign: %v", err)
		}
	})
}
