package usp_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// sessionLog is a SessionHooks that keeps the certificates it saw.
type sessionLog struct {
	usp.NopHooks
	mu     sync.Mutex
	opened map[string]*mtp.PeerCert
	closed int
}

func (h *sessionLog) SessionOpened(_ mtp.Kind, peerID string, cert *mtp.PeerCert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened == nil {
		h.opened = make(map[string]*mtp.PeerCert)
	}
	h.opened[peerID] = cert
}

func (h *sessionLog) SessionClosed(mtp.Kind, string, error) {
	h.mu.Lock()
	h.closed++
	h.mu.Unlock()
}

func (h *sessionLog) cert(id string) *mtp.PeerCert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opened[id]
}

func fingerprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return hex.EncodeToString(sum[:])
}

// TestCertificateIdentityServer: agents dial a controller that admits them
// by certificate. The agent's certificate is visible on AgentInfo and to
// the hooks, and a certificate whose common name merely equals the agent's
// ID cannot take its session over.
func TestCertificateIdentityServer(t *testing.T) {
	ca := testcert.NewCA(t)
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithTLS(ca.ServerConfig(t, nil)),
		websocket.WithClientCertificates(ca.Pool))
	if err != nil {
		t.Fatal(err)
	}
	hooks := &sessionLog{}
	c, err := usp.NewController(ctrlID, usp.WithTransport(srv), usp.WithHooks(hooks))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())

	const agentID = "os::012345-CERT00001"
	cert := ca.Issue(t, testcert.Spec{EndpointIDs: []string{agentID}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	cl, err := websocket.NewClient(srv.URL(), agentID, websocket.WithTLS(ca.ClientConfig(&cert)))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := usptest.NewAgent(agentID, usptest.WithTransport(cl), usptest.WithController(ctrlID, mtp.Address{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer agent.Close(context.Background())
	waitUntil(t, func() bool { info, _ := c.AgentInfo(agentID); return info.Connected })
	info, _ := c.AgentInfo(agentID)
	if pc := info.PeerCert; pc == nil || pc.Fingerprint != fingerprint(cert) || pc.EndpointID != agentID || !pc.Verified {
		t.Fatalf("AgentInfo.PeerCert = %+v", pc)
	}
	// The hook runs on the session's own path, which may finish after the
	// agent shows as connected.
	waitUntil(t, func() bool { return hooks.cert(agentID) != nil })
	if pc := hooks.cert(agentID); pc == nil || pc.Fingerprint != fingerprint(cert) {
		t.Fatalf("SessionOpened saw %+v", pc)
	}

	// A certificate from the same CA whose common name is the agent's ID
	// but which names no endpoint in a URI: refused, and the agent keeps
	// its session.
	impostorCert := ca.Issue(t, testcert.Spec{CommonName: agentID, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	impostor, err := websocket.NewClient(srv.URL(), agentID, websocket.WithTLS(ca.ClientConfig(&impostorCert)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := impostor.Start(ctx, mtp.HandlerFuncs{}); !errors.Is(err, websocket.ErrForbidden) {
		t.Fatalf("impostor Start = %v, want %v", err, websocket.ErrForbidden)
	}
	vals, err := c.Agent(agentID).GetValues(ctxT(t), "Device.DeviceInfo.SerialNumber")
	if err != nil || vals["Device.DeviceInfo.SerialNumber"] == "" {
		t.Fatalf("Get after the impostor: %v, %v", vals, err)
	}
	if info, _ := c.AgentInfo(agentID); info.PeerCert.Fingerprint != fingerprint(cert) {
		t.Fatalf("AgentInfo.PeerCert after the impostor = %+v", info.PeerCert)
	}
}

// TestCertificateIdentityClient: a controller dials an agent's WebSocket
// server whose certificate carries only its endpoint ID. The controller
// needs no WithAgent: the verified certificate names the agent.
func TestCertificateIdentityClient(t *testing.T) {
	ca := testcert.NewCA(t)
	const agentID = "os::012345-CERT00002"
	cert := ca.Issue(t, testcert.Spec{EndpointIDs: []string{agentID}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	if err != nil {
		t.Fatal(err)
	}
	startServingAgent(t, agentID, srv)

	t.Run("expected agent", func(t *testing.T) {
		cl, err := websocket.NewClient(srv.URL(), ctrlID, websocket.WithServerCertificate(ca.Pool))
		if err != nil {
			t.Fatal(err)
		}
		c, err := usp.NewController(ctrlID, usp.WithTransport(cl))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if _, err := c.Agent(agentID).GetValues(ctxT(t), "Device.DeviceInfo.SerialNumber"); err != nil {
			t.Fatal(err)
		}
		if info, _ := c.AgentInfo(agentID); info.PeerCert == nil || info.PeerCert.Fingerprint != fingerprint(cert) {
			t.Fatalf("AgentInfo.PeerCert = %+v", info.PeerCert)
		}
	})
	t.Run("another agent expected", func(t *testing.T) {
		cl, err := websocket.NewClient(srv.URL(), ctrlID, websocket.WithServerCertificate(ca.Pool), websocket.WithPeerID("os::012345-OTHER0001"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := usp.NewController(ctrlID, usp.WithTransport(cl))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Start(ctx); !errors.Is(err, websocket.ErrCertificate) || ctx.Err() != nil {
			t.Fatalf("Start = %v, want %v at once", err, websocket.ErrCertificate)
		}
	})
}
