package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp/usptest"
)

// TestConformServeWS runs section 7 with uspctl as the agent's WebSocket
// server (--serve-ws, with the kit's own certificate authority from
// --serve-ws-tls): usptest dials it over wss:// trusting DIR/ca.pem, and
// listens itself for 7.2; every case passes.
func TestConformServeWS(t *testing.T) {
	const id = "proto::serve-ws-agent"
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(brokertest.FreePort(t)))
	dir := t.TempDir()
	done := make(chan cliRun, 1)
	go func() {
		done <- runCLI(t, nil, "", "conform", "--agent", id, "--serve-ws", addr, "--serve-ws-tls", dir,
			"--timeout", "20s", "--cases", "7", "--no-progress")
	}()
	finished := false
	t.Cleanup(func() {
		if !finished {
			<-done
		}
	})
	var pem []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			if pem, err = os.ReadFile(filepath.Join(dir, "ca.pem")); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kit's WebSocket server never listened at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	c, err := websocket.NewClient("wss://"+addr+"/usp", id, websocket.WithPeerID("proto::uspctl"), websocket.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ag, err := usptest.NewAgent(id, usptest.WithTransport(c), usptest.WithTransport(srv),
		usptest.WithController("proto::uspctl", mtp.Address{MTP: mtp.WebSocket}))
	if err != nil {
		t.Fatal(err)
	}
	// The shortest retry wait TR-181 allows, so that 7.8 and 7.11 take
	// seconds.
	m := ag.Model()
	ctrls, _ := m.Instances("Device.LocalAgent.Controller.")
	mtps, _ := m.Instances(ctrls[0] + "MTP.")
	if err := m.Set(mtps[0]+"WebSocket.SessionRetryMinimumWaitInterval", "1"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ag.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ag.Close(context.Background()) }()
	r := <-done
	finished = true
	if r.code != exitOK || !strings.Contains(r.stdout, "10 cases: 10 pass") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"the kit's WebSocket server listens at ws://" + addr, "and at wss://" + addr} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
