package tlsrec

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	agentID = "os::012345-tlsrec"
	ctrlID  = "self::tlsrec-controller"
)

// pki is a test authority and the certificates it signs.
type pki struct {
	ca    *testcert.CA
	roots *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := testcert.NewCA(t)
	return &pki{ca, ca.Pool}
}

// cert issues a P-256 certificate naming endpointID, for both TLS roles.
func (p *pki) cert(t *testing.T, endpointID string) tls.Certificate {
	t.Helper()
	return p.ca.Issue(t, testcert.Spec{CommonName: endpointID, EndpointIDs: []string{endpointID}})
}

// handshake runs the handshake between a controller (client) and an agent
// (server), carrying each flight as one payload, and returns the last
// error and the bytes each side sent.
func handshake(t *testing.T, ctrl, agent *Endpoint) (flights int, err error) {
	t.Helper()
	ctx := t.Context()
	out, err := ctrl.Start(ctx)
	if err != nil || len(out) == 0 {
		t.Fatalf("Start: %d bytes, %v", len(out), err)
	}
	from, to := ctrl, agent
	for len(out) > 0 && flights < 8 {
		flights++
		from, to = to, from
		var plain [][]byte
		plain, out, err = from.Receive(ctx, out)
		if len(plain) > 0 {
			t.Fatalf("application data during the handshake: %q", plain)
		}
		if err != nil {
			return flights, err
		}
	}
	return flights, nil
}

func pair(t *testing.T, ctrlCert, agentCert tls.Certificate, roots *x509.CertPool) (*Endpoint, *Endpoint) {
	ctrl := Client(Config{Certificate: ctrlCert, Roots: roots, PeerID: agentID})
	agent := Server(Config{Certificate: agentCert, Roots: roots, PeerID: ctrlID})
	t.Cleanup(func() { ctrl.Close(); agent.Close() })
	return ctrl, agent
}

func TestHandshakeAndData(t *testing.T) {
	p := newPKI(t)
	ctrl, agent := pair(t, p.cert(t, ctrlID), p.cert(t, agentID), p.roots)
	if flights, err := handshake(t, ctrl, agent); err != nil || !ctrl.Handshaken() || !agent.Handshaken() {
		t.Fatalf("handshake after %d flights: %v (client %v, server %v)", flights, err, ctrl.Handshaken(), agent.Handshaken())
	}
	if leaf := ctrl.PeerCertificate(); leaf == nil || len(leaf.URIs) != 1 || leaf.URIs[0].String() != EndpointURI(agentID) {
		t.Errorf("the agent's certificate as seen: %v", leaf)
	}
	if !ctrl.CertificateRequested() {
		t.Error("the server did not ask for the client's certificate")
	}
	cs := agent.ConnectionState()
	if cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || len(cs.PeerCertificates) == 0 {
		t.Fatalf("version %x, suite %x, %d peer certificates", cs.Version, cs.CipherSuite, len(cs.PeerCertificates))
	}
	ctx := t.Context()
	for _, dir := range []struct {
		from, to *Endpoint
		msg      string
	}{{ctrl, agent, "a Get"}, {agent, ctrl, "its GetResp"}, {ctrl, agent, "a Set"}} {
		sealed, err := dir.from.Seal([]byte(dir.msg))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(dir.msg)) {
			t.Fatal("the message travels in clear")
		}
		// Cut the TLS record between two payloads: the first half waits.
		half := len(sealed) / 2
		plain, out, err := dir.to.Receive(ctx, sealed[:half])
		if err != nil || len(plain) != 0 || len(out) != 0 {
			t.Fatalf("half a record: %q %x %v", plain, out, err)
		}
		plain, out, err = dir.to.Receive(ctx, sealed[half:])
		if err != nil || len(plain) != 1 || string(plain[0]) != dir.msg || len(out) != 0 {
			t.Fatalf("got %q, sent back %x, %v; want %q", plain, out, err, dir.msg)
		}
	}
}

func TestWrongEndpointID(t *testing.T) {
	// TP-469 3.7: a controller certificate naming another endpoint ID is
	// refused, with an alert for the controller.
	p := newPKI(t)
	ctrl, agent := pair(t, p.cert(t, "self::someone-else"), p.cert(t, agentID), p.roots)
	_, err := handshake(t, ctrl, agent)
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, ErrEndpointID) {
		t.Fatalf("err = %v, want ErrHandshake and ErrEndpointID", err)
	}
	if agent.Handshaken() {
		t.Fatal("the agent completed the handshake")
	}
	if _, err := agent.Seal([]byte("x")); err == nil {
		t.Fatal("Seal works after a failed handshake")
	}
}

func TestAlertSent(t *testing.T) {
	// A certificate from another CA: the refusing side returns the alert
	// TLS wrote, and the peer fed it fails too.
	p, other := newPKI(t), newPKI(t)
	ctrl, agent := pair(t, p.cert(t, ctrlID), other.cert(t, agentID), p.roots)
	ctx := t.Context()
	hello, _ := ctrl.Start(ctx)
	_, flight, err := agent.Receive(ctx, hello)
	if err != nil {
		t.Fatal(err)
	}
	_, alert, err := ctrl.Receive(ctx, flight)
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("err = %v, want ErrHandshake", err)
	}
	recs, _, perr := SplitRecords(alert)
	if perr != nil || len(recs) != 1 || recs[0].Type != TypeAlert {
		t.Fatalf("sent back %x (%v), want one alert record", alert, perr)
	}
	if _, _, err := agent.Receive(ctx, alert); !errors.Is(err, ErrHandshake) {
		t.Fatalf("the agent fed the alert: %v", err)
	}
}

func TestRenegotiationIgnored(t *testing.T) {
	// TP-469 3.6: a handshake record after the handshake is dropped; the
	// session carries on.
	p := newPKI(t)
	ctrl, agent := pair(t, p.cert(t, ctrlID), p.cert(t, agentID), p.roots)
	if _, err := handshake(t, ctrl, agent); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	hello := []byte{TypeHandshake, 3, 3, 0, 4, 1, 0, 0, 0}
	plain, out, err := agent.Receive(ctx, hello)
	if err != nil || len(plain) != 0 || len(out) != 0 || agent.Ignored() != 1 {
		t.Fatalf("renegotiation: %q %x %v, ignored %d", plain, out, err, agent.Ignored())
	}
	sealed, err := ctrl.Seal([]byte("Get Device.DeviceInfo."))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _, err := agent.Receive(ctx, sealed); err != nil || len(plain) != 1 {
		t.Fatalf("after the renegotiation attempt: %q %v", plain, err)
	}
}

func TestRenegotiationPassed(t *testing.T) {
	// With PassRenegotiation (a broken endpoint) crypto/tls sees the
	// record and the session ends: what R-E2E.40 avoids.
	p := newPKI(t)
	ctrl := Client(Config{Certificate: p.cert(t, ctrlID), Roots: p.roots, PeerID: agentID})
	agent := Server(Config{Certificate: p.cert(t, agentID), Roots: p.roots, PeerID: ctrlID, PassRenegotiation: true})
	t.Cleanup(func() { ctrl.Close(); agent.Close() })
	if _, err := handshake(t, ctrl, agent); err != nil {
		t.Fatal(err)
	}
	_, out, err := agent.Receive(t.Context(), []byte{TypeHandshake, 3, 3, 0, 4, 1, 0, 0, 0})
	if !errors.Is(err, ErrClosed) || agent.Ignored() != 0 {
		t.Fatalf("err = %v (ignored %d), want the session ended", err, agent.Ignored())
	}
	if recs, _, _ := SplitRecords(out); len(recs) != 1 || recs[0].Type != TypeAlert {
		t.Fatalf("sent back %x, want an alert", out)
	}
}

func TestSealBeforeHandshake(t *testing.T) {
	p := newPKI(t)
	ctrl, _ := pair(t, p.cert(t, ctrlID), p.cert(t, agentID), p.roots)
	if _, err := ctrl.Seal([]byte("x")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
}

func TestGarbageRefused(t *testing.T) {
	p := newPKI(t)
	_, agent := pair(t, p.cert(t, ctrlID), p.cert(t, agentID), p.roots)
	if _, _, err := agent.Receive(t.Context(), []byte("not TLS at all")); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("err = %v, want ErrBadRecord", err)
	}
}

func TestReceiveHonoursContext(t *testing.T) {
	p := newPKI(t)
	ctrl, _ := pair(t, p.cert(t, ctrlID), p.cert(t, agentID), p.roots)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// Either idle already or cancelled: never blocked.
	_, _ = ctrl.Start(ctx)
}

func TestSplitRecords(t *testing.T) {
	rec := func(typ byte, body string) []byte {
		return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
	}
	two := append(rec(TypeHandshake, "hello"), rec(TypeApplicationData, "data")...)
	tests := []struct {
		name  string
		in    []byte
		n     int
		rest  int
		isErr bool
	}{
		{"empty", nil, 0, 0, false},
		{"two", two, 2, 0, false},
		{"cut body", two[:len(two)-1], 1, 8, false},
		{"cut header", two[:3], 0, 3, false},
		{"bad type", []byte{99, 3, 3, 0, 0}, 0, 0, true},
		{"bad version", []byte{TypeAlert, 2, 0, 0, 2, 1, 0}, 0, 0, true},
		{"too long", []byte{TypeAlert, 3, 3, 0xff, 0xff}, 0, 0, true},
	}
	for _, tt := range tests {
		recs, rest, err := SplitRecords(tt.in)
		if (err != nil) != tt.isErr || len(recs) != tt.n || len(rest) != tt.rest {
			t.Errorf("%s: %d records, %d left, %v", tt.name, len(recs), len(rest), err)
		}
		if err != nil && !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v is not ErrBadRecord", tt.name, err)
		}
	}
	recs, _, _ := SplitRecords(two)
	if string(recs[1].Fragment()) != "data" || recs[0].Type != TypeHandshake || recs[0].Version != 0x0303 {
		t.Errorf("records %+v", recs)
	}
}

func FuzzSplitRecords(f *testing.F) {
	f.Add([]byte{TypeHandshake, 3, 3, 0, 1, 1})
	f.Add([]byte{TypeAlert, 3, 3, 0, 2, 2, 40, TypeApplicationData, 3})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, rest, err := SplitRecords(b)
		total := len(rest)
		for _, r := range recs {
			if len(r.Raw) < headerLen || len(r.Fragment()) != int(r.Raw[3])<<8|int(r.Raw[4]) {
				t.Fatalf("record %x has a wrong length", r.Raw)
			}
			total += len(r.Raw)
		}
		if err == nil && total != len(b) {
			t.Fatalf("%d bytes in records and rest, %d given", total, len(b))
		}
		if err != nil && !errors.Is(err, ErrBadRecord) {
			t.Fatalf("error %v is not ErrBadRecord", err)
		}
	})
}

// TestIntegrityKeys checks the record MAC keys: none before the handshake,
// then 32 bytes each, the client's own key being the server's peer key and
// the other way round, and the two keys different.
func TestIntegrityKeys(t *testing.T) {
	p := newPKI(t)
	ctrl, agent := pair(t, p.cert(t, ctrlID), p.cert(t, agentID), p.roots)
	if _, _, ok := ctrl.IntegrityKeys(); ok {
		t.Fatal("keys before the handshake")
	}
	if _, err := handshake(t, ctrl, agent); err != nil {
		t.Fatal(err)
	}
	cOwn, cPeer, ok1 := ctrl.IntegrityKeys()
	sOwn, sPeer, ok2 := agent.IntegrityKeys()
	if !ok1 || !ok2 || len(cOwn) != 32 || len(sOwn) != 32 {
		t.Fatalf("keys: client %v %d, server %v %d", ok1, len(cOwn), ok2, len(sOwn))
	}
	if !bytes.Equal(cOwn, sPeer) || !bytes.Equal(sOwn, cPeer) || bytes.Equal(cOwn, sOwn) {
		t.Fatalf("client own %x peer %x; server own %x peer %x", cOwn, cPeer, sOwn, sPeer)
	}
}
