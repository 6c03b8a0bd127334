package usptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
)

// testCertPEM makes a self-signed certificate with the given serial.
func testCertPEM(t testing.TB, cn string, serial int64) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"gousp"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// syncOperate runs a synchronous command and returns its one result.
func syncOperate(t *testing.T, c *testController, cmd string, args map[string]string) msg.OperateResult {
	t.Helper()
	r, err := msg.ParseOperateResp(c.do(msg.Operate{Command: cmd, Args: args, SendResp: true}))
	if err != nil || len(r.Results) != 1 {
		t.Fatalf("%s: %v %+v", cmd, err, r)
	}
	return r.Results[0]
}

func TestAddCertificate(t *testing.T) {
	a, c := newTestAgent(t, WithAccessControl())
	m := a.Model()
	certA := testCertPEM(t, "controller A", 0x1a2b3c)

	res := syncOperate(t, c, "Device.LocalAgent.AddCertificate()", map[string]string{"Alias": "addedCert", "Certificate": certA})
	if res.Err != nil {
		t.Fatalf("AddCertificate: %v", res.Err)
	}
	v, err := m.Values("Device.LocalAgent.Certificate.1.")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Alias": "addedCert", "Enable": "true", "SerialNumber": "1A:2B:3C", "Issuer": "CN=controller A,O=gousp"}
	for k, w := range want {
		if got := v["Device.LocalAgent.Certificate.1."+k]; got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	if n, _ := m.Get("Device.LocalAgent.CertificateNumberOfEntries"); n != "1" {
		t.Errorf("CertificateNumberOfEntries = %q", n)
	}

	// Bad input: each fails with the code a controller can act on, and
	// adds nothing.
	oneLine := strings.ReplaceAll(testCertPEM(t, "controller B", 2), "\n", `\n`)
	for _, tc := range []struct {
		name string
		args map[string]string
		code msg.Code
	}{
		{"no certificate", map[string]string{"Alias": "x"}, msg.CodeInvalidCommandArgs},
		{"not PEM", map[string]string{"Certificate": "hello"}, msg.CodeInvalidCommandArgs},
		{"a key, not a certificate", map[string]string{"Certificate": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, msg.CodeInvalidCommandArgs},
		{"bad DER", map[string]string{"Certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, msg.CodeInvalidCommandArgs},
		{"two blocks", map[string]string{"Certificate": certA + certA}, msg.CodeInvalidCommandArgs},
		{"same certificate again", map[string]string{"Alias": "other", "Certificate": certA}, msg.CodeDuplicateKey},
		{"alias in use", map[string]string{"Alias": "addedCert", "Certificate": oneLine}, msg.CodeDuplicateKey},
	} {
		res := syncOperate(t, c, "Device.LocalAgent.AddCertificate()", tc.args)
		if res.Err == nil || res.Err.Code != tc.code {
			t.Errorf("%s: got %+v, want error %d", tc.name, res.Err, tc.code)
		}
	}
	if ins, _ := m.Instances("Device.LocalAgent.Certificate."); len(ins) != 1 {
		t.Fatalf("instances after bad input: %v", ins)
	}

	// A one-line PEM (backslash-n for line feeds) is accepted, and gets
	// a default Alias.
	if res := syncOperate(t, c, "Device.LocalAgent.AddCertificate()", map[string]string{"Certificate": oneLine}); res.Err != nil {
		t.Fatalf("one-line PEM: %v", res.Err)
	}
	if al, _ := m.Get("Device.LocalAgent.Certificate.2.Alias"); al != "cpe-2" {
		t.Errorf("default Alias %q", al)
	}

	// The table is read-only to Add; Delete() removes an entry and the
	// Credential that referred to it is left with an empty reference.
	if r := c.do(msg.Add{Objects: []msg.AddObject{{Path: "Device.LocalAgent.Certificate."}}}); r.GetBody().GetError() == nil {
		t.Error("Add to Device.LocalAgent.Certificate. succeeded")
	}
	cred, err := m.AddInstance("Device.LocalAgent.ControllerTrust.Credential.", map[string]string{
		"Enable": "true", "Role": fullAccessRole, "Credential": "Device.LocalAgent.Certificate.1"})
	if err != nil {
		t.Fatal(err)
	}
	if res := syncOperate(t, c, "Device.LocalAgent.Certificate.1.Delete()", nil); res.Err != nil {
		t.Fatalf("Delete(): %v", res.Err)
	}
	if ins, _ := m.Instances("Device.LocalAgent.Certificate."); len(ins) != 1 || ins[0] != "Device.LocalAgent.Certificate.2." {
		t.Errorf("instances after Delete(): %v", ins)
	}
	if ref, _ := m.Get(cred + "Credential"); ref != "" {
		t.Errorf("Credential still refers to %q", ref)
	}
	if e := c.do(msg.Operate{Command: "Device.LocalAgent.Certificate.1.Delete()", SendResp: true}).GetBody().GetError(); e.GetErrCode() != uint32(msg.CodeInvalidPath) {
		t.Errorf("Delete() of a deleted certificate: %v, want Error 7026", e)
	}
}

func FuzzParseCertificate(f *testing.F) {
	f.Add(testCertPEM(f, "seed", 7))
	f.Add("-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCertificate(s)
		if err != nil {
			if msg.CodeOf(err) != msg.CodeInvalidCommandArgs {
				t.Fatalf("error %v has code %d", err, msg.CodeOf(err))
			}
			return
		}
		if serial := certSerial(c); len(serial) < 5 {
			t.Fatalf("serial %q", serial)
		}
	})
}
