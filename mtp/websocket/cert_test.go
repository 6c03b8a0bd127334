package websocket_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

// certCase is one certificate a peer presents, and whether it is let in.
type certCase struct {
	name string
	ca   string // "good" or "other"
	spec testcert.Spec
	cn   bool   // WithCommonNameIdentity on the verifying side
	eid  string // the endpoint the peer claims ("" for none)
	want string // the endpoint ID let in, "" if refused
}

// certCases are the certificates of the issue: CN-only, URI-only,
// IP-only, wrong CA, expired, wrong endpoint. usage is the key usage the
// verifying side asks of the peer.
func certCases(usage x509.ExtKeyUsage) []certCase {
	u := []x509.ExtKeyUsage{usage}
	const id = "proto::cert-agent"
	return []certCase{
		{"URI only", "good", testcert.Spec{EndpointIDs: []string{id}, Usage: u}, false, id, id},
		{"URI only, no eid", "good", testcert.Spec{EndpointIDs: []string{id}, Usage: u}, false, "", id},
		{"URI and CN of another", "good", testcert.Spec{CommonName: "proto::other", EndpointIDs: []string{id}, Usage: u}, true, id, id},
		{"CN only", "good", testcert.Spec{CommonName: id, Usage: u}, false, id, ""},
		{"CN only, CN allowed", "good", testcert.Spec{CommonName: id, Usage: u}, true, id, id},
		{"IP only", "good", testcert.Spec{IPs: testcert.Loopback, Usage: u}, false, id, ""},
		{"wrong CA", "other", testcert.Spec{EndpointIDs: []string{id}, Usage: u}, false, id, ""},
		{"expired", "good", testcert.Spec{EndpointIDs: []string{id}, Usage: u, Expired: true}, false, id, ""},
		{"wrong endpoint", "good", testcert.Spec{EndpointIDs: []string{"proto::someone-else"}, Usage: u}, false, id, ""},
		{"wrong usage", "good", testcert.Spec{EndpointIDs: []string{id}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, false, id, ""},
	}
}

// TestClientCertificates: a server with WithClientCertificates admits only
// clients whose certificate verifies and names their endpoint.
func TestClientCertificates(t *testing.T) {
	good, other := testcert.NewCA(t), testcert.NewCA(t)
	cas := map[string]*testcert.CA{"good": good, "other": other}
	for _, tc := range certCases(x509.ExtKeyUsageClientAuth) {
		t.Run(tc.name, func(t *testing.T) {
			opts := []websocket.Option{websocket.WithTLS(good.ServerConfig(t, nil)), websocket.WithClientCertificates(good.Pool)}
			if tc.cn {
				opts = append(opts, websocket.WithCommonNameIdentity())
			}
			srv, rs := startServer(t, opts...)
			cert := cas[tc.ca].Issue(t, tc.spec)
			if tc.eid == "" {
				// An agent that relies on its certificate alone sends no
				// ?eid=, which the Client always adds: dial by hand.
				d := gorilla.Dialer{TLSClientConfig: good.ClientConfig(&cert), Subprotocols: []string{websocket.Subprotocol}}
				ws, _, err := d.Dial(srv.URL(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer ws.Close()
				if up := rs.WaitEvent(mtp.PeerUp, 0); up.PeerID != tc.want || up.PeerCert.EndpointID != tc.want {
					t.Fatalf("PeerUp = %+v", up)
				}
				return
			}
			c, err := websocket.NewClient(srv.URL(), tc.eid, websocket.WithTLS(good.ClientConfig(&cert)), fastBackoff)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = c.Start(ctx, peerconntest.NewRecorder(t))
			defer c.Close(context.Background())
			if tc.want == "" {
				// Refused, at once and saying why: not after 20 s of retries.
				if !errors.Is(err, websocket.ErrForbidden) || ctx.Err() != nil {
					t.Fatalf("Start = %v, want %v", err, websocket.ErrForbidden)
				}
				if ids := srv.Peers(); len(ids) != 0 {
					t.Fatalf("server peers = %v", ids)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			up := rs.WaitEvent(mtp.PeerUp, 0)
			if up.PeerID != tc.want || up.PeerCert == nil || up.PeerCert.EndpointID != tc.want || !up.PeerCert.Verified ||
				up.PeerCert.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 || len(up.PeerCert.Fingerprint) != 64 {
				t.Fatalf("PeerUp = %+v, cert %+v", up, up.PeerCert)
			}
			if err := c.Send(ctx, mtp.Address{}, []byte("r")); err != nil {
				t.Fatal(err)
			}
			if in := rs.WaitRecords(1); in[0].PeerCert != up.PeerCert {
				t.Errorf("record's PeerCert = %+v", in[0].PeerCert)
			}
		})
	}
}

// TestServerCertificate: a client with WithServerCertificate reaches only
// a server whose certificate verifies and names the expected endpoint, IP
// address or host name aside.
func TestServerCertificate(t *testing.T) {
	good, other := testcert.NewCA(t), testcert.NewCA(t)
	cas := map[string]*testcert.CA{"good": good, "other": other}
	for _, tc := range certCases(x509.ExtKeyUsageServerAuth) {
		t.Run(tc.name, func(t *testing.T) {
			cert := cas[tc.ca].Issue(t, tc.spec)
			srv, _ := startServer(t, websocket.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
			opts := []websocket.Option{websocket.WithServerCertificate(good.Pool), fastBackoff}
			if tc.eid != "" {
				opts = append(opts, websocket.WithPeerID(tc.eid))
			}
			if tc.cn {
				opts = append(opts, websocket.WithCommonNameIdentity())
			}
			c, err := websocket.NewClient(srv.URL(), ctrlID, opts...)
			if err != nil {
				t.Fatal(err)
			}
			rc := peerconntest.NewRecorder(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = c.Start(ctx, rc)
			defer c.Close(context.Background())
			if tc.want == "" {
				if !errors.Is(err, websocket.ErrCertificate) || ctx.Err() != nil {
					t.Fatalf("Start = %v, want %v", err, websocket.ErrCertificate)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			up := rc.WaitEvent(mtp.PeerUp, 0)
			if up.PeerID != tc.want || c.PeerID() != tc.want || up.PeerCert == nil || up.PeerCert.EndpointID != tc.want || !up.PeerCert.Verified {
				t.Fatalf("PeerUp = %+v, cert %+v", up, up.PeerCert)
			}
		})
	}
}

// TestClientCertificateRefusedByTLS: a server whose TLS configuration
// verifies client certificates refuses an untrusted one in the handshake;
// the client says so at once.
func TestClientCertificateRefusedByTLS(t *testing.T) {
	good, other := testcert.NewCA(t), testcert.NewCA(t)
	srv, _ := startServer(t, websocket.WithTLS(good.ServerConfig(t, good)))
	cert := other.Client(t, agentID)
	c, err := websocket.NewClient(srv.URL(), agentID, websocket.WithTLS(good.ClientConfig(&cert)), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.Start(ctx, peerconntest.NewRecorder(t))
	if !errors.Is(err, websocket.ErrCertificate) || ctx.Err() != nil {
		t.Fatalf("Start = %v, want %v", err, websocket.ErrCertificate)
	}
}

// TestDuplicateRefusedFast: a 409 ends Start at once with ErrDuplicate.
func TestDuplicateRefusedFast(t *testing.T) {
	srv, rs := startServer(t, websocket.WithRejectDuplicates())
	startClient(t, srv.URL(), agentID)
	rs.WaitEvent(mtp.PeerUp, 0)
	c, err := websocket.NewClient(srv.URL(), agentID, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx, peerconntest.NewRecorder(t)); !errors.Is(err, websocket.ErrDuplicate) || ctx.Err() != nil {
		t.Fatalf("Start = %v, want %v", err, websocket.ErrDuplicate)
	}
}
