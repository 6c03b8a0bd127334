package conformance

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
)

func init() {
	register(&Case{ID: "9.2", Title: "Use of Device.LocalAgent.AddCertificate()",
		Features: []Feature{FeatAddCertificate}, Run: run9_2})
}

// newCertificate makes the plan's "alternate certificate that the EUT
// hasn't seen": a self-signed CA certificate with a fresh key and a random
// serial number, so that no earlier run's certificate can match it. It
// returns the PEM text and the certificate.
func newCertificate(controllerID string) (string, *x509.Certificate, error) {
	ca, err := newCA(pkix.Name{CommonName: "TP-469 9.2 " + controllerID, Organization: []string{"gousp conformance kit"}}, 24*time.Hour)
	if err != nil {
		return "", nil, err
	}
	return string(ca.CertPEM()), ca.cert, nil
}

// certificateByAlias returns the Device.LocalAgent.Certificate instance
// with the given Alias ("Device.LocalAgent.Certificate.3."), or "".
func certificateByAlias(ctx context.Context, eq *Equipment, alias string) (string, error) {
	ex := eq.Send(ctx, msg.Get{Paths: []string{"Device.LocalAgent.Certificate.*.Alias"}})
	if ex.Err != nil {
		return "", ex.Err
	}
	g, err := msg.ParseGetResp(ex.Response)
	if err != nil {
		return "", err
	}
	if err := g.Err(); err != nil {
		return "", err
	}
	for p, v := range g.Values() {
		if v == alias {
			return strings.TrimSuffix(p, "Alias"), nil
		}
	}
	return "", nil
}

// sameSerial compares serial numbers however the agent writes them
// (colons, case, leading zeros).
func sameSerial(shown string, want *big.Int) bool {
	var n big.Int
	_, ok := n.SetString(strings.ReplaceAll(shown, ":", ""), 16)
	return ok && n.Cmp(want) == 0
}

// 9.2: AddCertificate() adds a certificate the agent has not seen, the
// agent lists it under its Alias, and Delete() removes it.
func run9_2(t *T) {
	pemText, cert, err := newCertificate(t.eq.ControllerID())
	if err != nil {
		t.Abortf("setup: making a certificate: %v", err)
	}
	alias := "addedCert"
	if p, err := certificateByAlias(t.ctx, t.eq, alias); err != nil {
		t.Abortf("setup: Get Device.LocalAgent.Certificate.*.Alias: %v", err)
	} else if p != "" {
		// A certificate the kit did not add keeps its Alias: the case
		// uses another rather than deleting it.
		old := alias
		alias = fmt.Sprintf("addedCert-%x", cert.SerialNumber.Uint64()&0xffffff)
		t.Notef("%s already has the Alias %q: the kit adds its certificate as %q", p, old, alias)
	}
	t.Cleanup("delete the certificate with Alias "+alias, func(ctx context.Context) error {
		p, err := certificateByAlias(ctx, t.eq, alias)
		if err != nil || p == "" {
			return err
		}
		ex := t.eq.Send(ctx, msg.Operate{Command: p + "Delete()", SendResp: true})
		if ex.Err != nil {
			return ex.Err
		}
		r, err := msg.ParseOperateResp(ex.Response)
		if err != nil {
			return err
		}
		return r.Err()
	})

	// Step 1.
	ex := t.Send(msg.Operate{Command: "Device.LocalAgent.AddCertificate()", SendResp: true,
		Args: map[string]string{"Alias": alias, "Certificate": pemText}})
	c := t.Metric(1, "The EUT sends an OperateResponse after step 1")
	expectCommandDone(c, ex, "Device.LocalAgent.AddCertificate()")
	c.Must()

	// Steps 2 and 3 need the controller to present the certificate (see
	// the end); step 4 follows at once.
	ex = t.Send(msg.Get{Paths: []string{"Device.LocalAgent.Certificate."}})
	g := Expect[*msg.GetResp](t, 3, ex)
	inst := ""
	values := g.Values()
	for p, v := range values {
		if strings.HasSuffix(p, ".Alias") && v == alias {
			inst = strings.TrimSuffix(p, "Alias")
		}
	}
	c = t.Metric(3, "The EUT returns a GetResponse which contains an instance with an Alias which matches the certificate added in step 1")
	if err := g.Err(); err != nil {
		c.Expect(false, "the Get failed: %v", err)
	} else {
		c.Expect(inst != "", "no Device.LocalAgent.Certificate instance has Alias %q (%d parameters returned)", alias, len(values))
	}
	c.Must()
	if sn := values[inst+"SerialNumber"]; !sameSerial(sn, cert.SerialNumber) {
		t.Notef("%sSerialNumber is %q; the certificate's serial number is %X", inst, sn, cert.SerialNumber)
	}
	t.Notef("%s: SerialNumber %q, Issuer %q (the certificate's issuer: %q)", inst, values[inst+"SerialNumber"], values[inst+"Issuer"], cert.Issuer.String())

	// Step 5.
	ex = t.Send(msg.Operate{Command: inst + "Delete()", SendResp: true})
	c = t.Metric(4, "The EUT sends an OperateResponse after step 5")
	expectCommandDone(c, ex, inst+"Delete()")
	if c.End() {
		p, err := certificateByAlias(t.ctx, t.eq, alias)
		t.Check(0, "the certificate is gone after Delete()", err == nil && p == "",
			"after Delete(): %s, error %v", p, err)
	}

	t.NeedsOperatorf("metric 2 (the EUT accepts a connection from the Controller using the new certificate) needs the " +
		"test equipment to authenticate with that certificate on a TLS connection the agent checks: the kit's transports " +
		"use the certificates the caller configured")
}

// expectCommandDone checks that ex got an OperateResponse whose one
// result is cmd's success (output arguments or none).
func expectCommandDone(c *Metric, ex *Exchange, cmd string) {
	if !c.Expect(ex.Err == nil, "%v", ex.Err) {
		return
	}
	r, err := msg.ParseOperateResp(ex.Response)
	if !c.Expect(err == nil, "got %s: %v", responseKind(ex.Response), err) {
		return
	}
	if !c.Expect(len(r.Results) == 1, "%d operation results, want 1", len(r.Results)) {
		return
	}
	res := r.Results[0]
	c.Expect(res.Err == nil, "cmd_failure %v", res.Err)
	c.Expect(res.ExecutedCommand == cmd, "executed_command %q, want %q", res.ExecutedCommand, cmd)
}
