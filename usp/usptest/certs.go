package usptest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/gousp/gousp/msg"
)

// certSchema is TR-181's Device.LocalAgent.Certificate. table (the
// certificates the agent trusts to authenticate controllers) with the
// commands that add and remove its entries. The table is read-only to
// Add and Delete messages: entries come and go through AddCertificate()
// and Certificate.{i}.Delete() only, as TR-181 has it.
const certSchema = `
Device.LocalAgent.
  CertificateNumberOfEntries unsignedInt r = 0
  AddCertificate()           sync in=Alias,Certificate
Device.LocalAgent.Certificate.{i}.  read-only  keys=Alias  keys=SerialNumber,Issuer
  Alias                      string r
  Enable                     boolean rw = true
  SerialNumber               string r
  Issuer                     string r
  Delete()                   sync
`

// credentialSchema is ControllerTrust.Credential.{i}., which gives the
// controllers authenticated by a certificate of the table above a role;
// [WithAccessControl] adds it with the rest of ControllerTrust.
const credentialSchema = `
Device.LocalAgent.ControllerTrust.
  CredentialNumberOfEntries  unsignedInt r = 0
Device.LocalAgent.ControllerTrust.Credential.{i}.  add-delete  keys=Alias  keys=Credential
  Alias                      string rw
  Enable                     boolean rw = false
  Role                       string rw list
  Credential                 string rw
  AllowedUses                string rw enum=MTP-only,MTP-and-USP,MTP-and-broker = MTP-only
`

const (
	certTable       = "Device.LocalAgent.Certificate."
	credentialTable = "Device.LocalAgent.ControllerTrust.Credential."
)

// defineCertificates adds certSchema and its command handlers to m.
func defineCertificates(m *Model) error {
	if err := m.Define(certSchema); err != nil {
		return err
	}
	if err := m.HandleCommand("Device.LocalAgent.AddCertificate()", onModel((*Model).addCertificate)); err != nil {
		return err
	}
	return m.HandleCommand("Device.LocalAgent.Certificate.{i}.Delete()", onModel((*Model).deleteCertificate))
}

// parseCertificate reads the one PEM "CERTIFICATE" block of an
// AddCertificate() argument. Some controllers can only send one-line
// strings, so a literal backslash-n stands for a line feed, as agents
// commonly accept.
func parseCertificate(s string) (*x509.Certificate, error) {
	if !strings.Contains(s, "\n") {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, argError("Certificate is not a PEM encoded certificate")
	}
	if block.Type != "CERTIFICATE" {
		return nil, argError("Certificate holds a PEM %q block, not a CERTIFICATE", block.Type)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, argError("Certificate holds more than one PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, argError("Certificate does not parse as X.509: %v", err)
	}
	return cert, nil
}

// certSerial formats a certificate's serial number as TR-181 agents
// commonly show it: upper-case hexadecimal octets separated by colons
// ("01:A2:FF"), at least two octets.
func certSerial(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	for len(b) < 2 {
		b = append([]byte{0}, b...)
	}
	parts := make([]string, len(b))
	for i, o := range b {
		parts[i] = fmt.Sprintf("%02X", o)
	}
	return strings.Join(parts, ":")
}

// addCertificate is Device.LocalAgent.AddCertificate(): it parses the PEM
// certificate and adds an entry with its serial number and issuer. A
// missing or unparsable certificate fails with 7027 (invalid command
// arguments); one already present (same SerialNumber and Issuer) or an
// Alias already used fails with 7025, as either is a unique key of the
// table.
func (m *Model) addCertificate(_ context.Context, _ string, args map[string]string) (map[string]string, error) {
	pemText, ok := args["Certificate"]
	if !ok || strings.TrimSpace(pemText) == "" {
		return nil, argError("Certificate argument not specified")
	}
	cert, err := parseCertificate(pemText)
	if err != nil {
		return nil, err
	}
	values := map[string]string{"Enable": "true", "SerialNumber": certSerial(cert), "Issuer": cert.Issuer.String()}
	if a := args["Alias"]; a != "" {
		values["Alias"] = a
	}
	have, err := m.Instances(certTable)
	if err != nil {
		return nil, err
	}
	for _, p := range have {
		v, _ := m.Values(p)
		if v[p+"SerialNumber"] == values["SerialNumber"] && v[p+"Issuer"] == values["Issuer"] {
			return nil, msg.Errorf(msg.CodeDuplicateKey, "the certificate is already present at %s", strings.TrimSuffix(p, "."))
		}
		if a := values["Alias"]; a != "" && v[p+"Alias"] == a {
			return nil, msg.Errorf(msg.CodeDuplicateKey, "Alias %q is already used by %s", a, strings.TrimSuffix(p, "."))
		}
	}
	if _, err := m.AddInstance(certTable, values); err != nil {
		return nil, err
	}
	return nil, nil
}

// deleteCertificate is Device.LocalAgent.Certificate.{i}.Delete(): the
// entry goes, and ControllerTrust.Credential entries that referred to it
// are left with an empty reference, as TR-181 asks of references to a
// deleted object.
func (m *Model) deleteCertificate(_ context.Context, cmd string, _ map[string]string) (map[string]string, error) {
	inst := instanceOf(cmd)
	if err := m.DeleteInstance(inst); err != nil {
		return nil, msg.Errorf(msg.CodeCommandFailure, "%s is gone", strings.TrimSuffix(inst, "."))
	}
	creds, err := m.Instances(credentialTable)
	if err != nil {
		return nil, nil // no ControllerTrust.Credential in this model
	}
	ref := strings.TrimSuffix(inst, ".")
	for _, c := range creds {
		if v, _ := m.Get(c + "Credential"); v == ref {
			if err := m.Set(c+"Credential", ""); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}
