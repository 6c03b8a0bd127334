package main

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/examples/internal/extest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp/usptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ctrlID = "proto::ws-example"

// TestWebSocketController lets two usptest agents dial the example and checks
// that it printed each one's own Device.DeviceInfo. and stopped after two.
func TestWebSocketController(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := &extest.Output{}
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--listen", "127.0.0.1:0", "--controller-id", ctrlID, "--agents", "2", "--for", "15s"}, out)
	}()
	base := out.WaitFor(ctx, t, `listening on ws://(\S+)/usp\n`)[1]

	// Only the mounted path upgrades to WebSocket.
	resp, err := http.Get("http://" + base + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %s, want 404", resp.Status)
	}

	agents := map[string]string{ // endpoint ID -> serial number
		"os::012345-WSEX000001": "WSEX000001",
		"os::012345-WSEX000002": "WSEX000002",
	}
	for id, serial := range agents {
		tr, err := websocket.NewClient("ws://"+base+"/usp", id, websocket.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		agent, err := usptest.NewAgent(id, usptest.WithTransport(tr), usptest.WithController(ctrlID, mtp.Address{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := agent.Model().Set("Device.DeviceInfo.SerialNumber", serial); err != nil {
			t.Fatal(err)
		}
		if err := agent.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer agent.Close(context.Background())
	}

	if err := <-errc; err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	want := []string{`\nserved 2 agents\n$`}
	for id, serial := range agents {
		// Each agent's report is one block: its header, then its values.
		want = append(want, `\nagent `+regexp.QuoteMeta(id)+` connected \(websocket:`+regexp.QuoteMeta(id)+`\)\n(  .*\n)*?  Device\.DeviceInfo\.SerialNumber\s+`+serial+`\n`)
	}
	extest.Check(t, out.String(), want...)
}

// TestWebSocketControllerTimeout checks that --for ends a run that no agent
// joined.
func TestWebSocketControllerTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := &extest.Output{}
	start := time.Now()
	if err := run(ctx, []string{"--listen", "127.0.0.1:0", "--for", "200ms"}, out); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("run took %v with --for 200ms", d)
	}
	extest.Check(t, out.String(), `\nserved 0 agents\n$`)
}
