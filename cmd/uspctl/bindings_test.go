package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp/usptest"
)

// startAgent starts a usptest agent on t, in the background when the
// transport has to wait for uspctl (an agent dialling in).
func startAgent(t *testing.T, id string, tr mtp.Transport, background bool, opts ...usptest.Option) *usptest.Agent {
	t.Helper()
	ag, err := usptest.NewAgent(id, append([]usptest.Option{usptest.WithTransport(tr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- ag.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-started
		if err := ag.Close(context.Background()); err != nil {
			t.Errorf("closing agent: %v", err)
		}
	})
	if !background {
		select {
		case err := <-started:
			started <- err
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("agent did not start")
		}
	}
	return ag
}

func TestWebSocketServerRole(t *testing.T) {
	const id = "proto::agent-ws-dialer"
	addr := fmt.Sprintf("127.0.0.1:%d", brokertest.FreePort(t))
	// The agent dials uspctl, retrying until uspctl listens.
	tr, err := websocket.NewClient("ws://"+addr+"/usp", id, websocket.WithBackoff(20*time.Millisecond, 100*time.Millisecond))
	must(t, err)
	ag := startAgent(t, id, tr, true, usptest.WithController(defaultController, mtp.Address{}))
	want, _ := ag.Model().Get("Device.DeviceInfo.SerialNumber")

	r := runCLI(t, nil, "", "get", "--mtp", "websocket", "--listen", addr, "--agent", id, "--timeout", "10s", "Device.DeviceInfo.SerialNumber")
	r.wantCode(t, exitOK)
	if r.stdout != "Device.DeviceInfo.SerialNumber  "+want+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}

	// An agent that never dials in is a connection failure.
	r = runCLI(t, nil, "", "proto", "--mtp", "websocket", "--listen", fmt.Sprintf("127.0.0.1:%d", brokertest.FreePort(t)),
		"--agent", "proto::never", "--timeout", "300ms")
	r.wantCode(t, exitConnection)
	if !strings.Contains(r.stderr, "did not connect") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestWebSocketClientRole(t *testing.T) {
	const id = "proto::agent-ws-server"
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(id))
	must(t, err)
	ag := startAgent(t, id, srv, false)
	r := runCLI(t, nil, "", "set", "--mtp", "websocket", "--ws-url", srv.URL(), "--agent", id, "--timeout", "10s",
		"Device.DeviceInfo.", "ProvisioningCode=over-ws")
	r.wantCode(t, exitOK)
	if v, _ := ag.Model().Get("Device.DeviceInfo.ProvisioningCode"); v != "over-ws" {
		t.Errorf("model has %q", v)
	}
	r = runCLI(t, nil, "", "proto", "--mtp", "websocket", "--ws-url", srv.URL(), "--agent", id, "--agent", "proto::other")
	r.wantCode(t, exitUsage)
}

func TestUDS(t *testing.T) {
	const id = "proto::agent-uds"
	path := filepath.Join(t.TempDir(), "agent.sock")
	srv, err := uds.NewServer(path, id)
	must(t, err)
	startAgent(t, id, srv, false)
	r := runCLI(t, nil, "", "proto", "--mtp", "uds", "--socket", path, "--agent", id, "--timeout", "10s")
	r.wantCode(t, exitOK)
	if r.stdout != usptest.DefaultVersions+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	r = runCLI(t, nil, "", "proto", "--mtp", "uds", "--socket", filepath.Join(t.TempDir(), "none.sock"), "--agent", id, "--timeout", "300ms")
	r.wantCode(t, exitConnection)
}

func TestSTOMP(t *testing.T) {
	addr := brokertest.StartStompServer(t)
	const id = "proto::agent-stomp"
	const ctlDest = "/queue/controller-listen"
	tr, err := stomp.New(addr, id, stomp.WithDestination("/queue/agent-"+id))
	must(t, err)
	ag := startAgent(t, id, tr, false, usptest.WithController(defaultController, mtp.Address{MTP: mtp.STOMP, To: ctlDest}))
	conn := []string{"--mtp", "stomp", "--broker", addr, "--agent-destination", "/queue/agent-{id}", "--timeout", "10s"}

	r := runCLI(t, nil, "", append([]string{"add", "--agent", id, "Device.LocalAgent.Controller.", "Alias=over-stomp", "EndpointID=proto::s"}, conn...)...)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "Alias=over-stomp") {
		t.Errorf("stdout %q", r.stdout)
	}
	r = runCLI(t, nil, "", append([]string{"get", "--agent", id, `Device.LocalAgent.Controller.[Alias=="over-stomp"].EndpointID`}, conn...)...)
	r.wantCode(t, exitOK)
	if !strings.HasSuffix(r.stdout, ".EndpointID  proto::s\n") {
		t.Errorf("stdout %q", r.stdout)
	}

	// listen on the destination the agent has for this controller.
	ready := func(a *app) {
		a.onReady = func() {
			go func() {
				if err := ag.Emit(context.Background(), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	r = runCLICtx(context.Background(), t, nil, "", ready, append([]string{"listen", "--destination", ctlDest, "--count", "1", "--for", "10s"}, conn...)...)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "  "+id+"  Event  ") || !strings.Contains(r.stdout, "Device.Boot! Cause=LocalReboot") {
		t.Errorf("stdout %q", r.stdout)
	}

	// An unreachable STOMP broker.
	r = runCLI(t, nil, "", "proto", "--mtp", "stomp", "--broker", fmt.Sprintf("127.0.0.1:%d", brokertest.FreePort(t)), "--agent", id, "--agent-destination", "/q", "--timeout", "500ms")
	r.wantCode(t, exitConnection)
}
