package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

func TestConform(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::conform-agent"
	ag := e.agent(id, usptest.WithController("proto::uspctl", mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/kit"}))
	dir := t.TempDir()
	junit, html := filepath.Join(dir, "tp469.xml"), filepath.Join(dir, "tp469.html")
	r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "1.1-1.5,1.36,1.63", "--junit", junit, "--html", html)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"1.1 ", "Add message with allow partial false, single object, required parameters succeed", "pass", "1.63", "skip", "7 cases: 6 pass"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "7/7 1.63") {
		t.Errorf("no progress on stderr:\n%s", r.stderr)
	}
	for _, f := range []string{junit, html} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "1.36") {
			t.Errorf("%s: %v", f, err)
		}
	}

	// A broken agent fails the run, with the failed criterion in the report.
	ag.Faults().FailNext(uspmsg.Header_GET, msg.CodeInternal)
	ag.Faults().FailNext(uspmsg.Header_GET, msg.CodeInternal)
	r = e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "1.37", "--no-progress")
	if r.code != exitFailed || !strings.Contains(r.stdout, "NOT MET") {
		t.Errorf("broken agent: exit %d\n%s", r.code, r.stdout)
	}

	if r := runCLI(t, nil, "", "conform", "--list", "--cases", "5"); r.code != exitUsage {
		t.Errorf("--cases 5 with no section 5 case: exit %d", r.code)
	}
	if r := runCLI(t, nil, "", "conform", "--list", "--cases", "1.1"); r.code != exitOK || !strings.Contains(r.stdout, "Mandatory") {
		t.Errorf("--list: %d %s", r.code, r.stdout)
	}
	if r := runCLI(t, nil, "", "conform", "--agent", id, "--serve-mqtt", "no-port"); r.code != exitUsage || !strings.Contains(r.stderr, "--serve-mqtt") {
		t.Errorf("--serve-mqtt without a port: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "", "conform", "--agent", id, "--serve-stomp", "127.0.0.1:0", "--broker", "no-port"); r.code != exitUsage || !strings.Contains(r.stderr, "--serve-stomp") {
		t.Errorf("--serve-stomp with a bad upstream: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "", "conform", "--broker", e.broker); r.code != exitUsage {
		t.Errorf("no agent: exit %d", r.code)
	}
}

// TestConformSecondController runs 1.78, which needs a second controller
// simulated by the test equipment: without --second-controller it needs
// an operator, with it the case passes, and the second endpoint's records
// are in the report.
func TestConformSecondController(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::conform-second-agent"
	e.agent(id, usptest.WithController("proto::uspctl", mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/kit"}))
	r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "1.78", "--no-progress")
	if r.code != exitOK || !strings.Contains(r.stdout, "needs-operator") {
		t.Fatalf("without a second controller: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "tp469.json")
	r = e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "1.78", "--no-progress",
		"--second-controller", "proto::uspctl-second=/usp/controller/kit-second", "--json", report)
	if r.code != exitOK || !strings.Contains(r.stdout, "1 pass") {
		t.Fatalf("with a second controller: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "second controller") {
		t.Errorf("the second controller's records are not in the report (%v)", err)
	}
	for _, bad := range []string{"proto::uspctl=/x", "no-topic", "=/x"} {
		if r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "1.78", "--second-controller", bad); r.code != exitUsage {
			t.Errorf("--second-controller %q: exit %d, want a usage error", bad, r.code)
		}
	}
}

// TestConformServeMQTT runs the section 11 cases through the kit's own
// MQTT broker (--serve-mqtt), with the agent connecting to it once it
// listens, as an operator would point a device at it.
func TestConformServeMQTT(t *testing.T) {
	const id = "proto::serve-mqtt-agent"
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(brokertest.FreePort(t)))
	done := make(chan cliRun, 1)
	go func() {
		done <- runCLI(t, nil, "", "conform", "--agent", id, "--serve-mqtt", addr, "--topic", "/usp/controller/kit",
			"--timeout", "20s", "--cases", "11.2,11.8,11.12", "--no-progress")
	}()
	var r cliRun
	finished := false
	// A failure below still waits (at most --timeout) for the command.
	t.Cleanup(func() {
		if !finished {
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kit's broker never listened at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// TP-469 11.2's setup gives the agent a user name and password.
	tr, err := mqtt.New("mqtt://"+addr, id, mqtt.WithTopic(expand(agentTopicPattern, id)), mqtt.WithCredentials("tp469", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	ag, err := usptest.NewAgent(id, usptest.WithTransport(tr),
		usptest.WithController("proto::uspctl", mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/kit"}))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ag.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ag.Close(context.Background()) }()
	// The agent may have connected before the kit subscribed to its own
	// topic: send the MQTTConnect record again until the kit talks to it.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case r = <-done:
			finished = true
			break wait
		case <-tick.C:
			if len(ag.Received()) == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = ag.SendConnect(ctx)
				cancel()
			}
		}
	}
	if r.code != exitOK || !strings.Contains(r.stdout, "3 cases: 3 pass") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "the kit's MQTT broker listens at mqtt://"+addr) {
		t.Errorf("stderr does not say where the broker listens:\n%s", r.stderr)
	}
}

// TestConformBulkData starts the kit's bulk data receivers and writes the
// HTTPS one's certificate for the agent's trust store.
func TestConformBulkData(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::conform-bulk-agent"
	e.agent(id, usptest.WithController("proto::uspctl", mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/kit"}))
	cert := filepath.Join(t.TempDir(), "bulk.pem")
	r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--cases", "10.2", "--max-slow", "1s", "--no-progress",
		"--serve-bulkdata", "127.0.0.1:0", "--serve-bulkdata-tls", "127.0.0.1:0", "--bulkdata-cert", cert)
	if r.code != exitOK || !strings.Contains(r.stderr, "bulk data receiver listens at https://127.0.0.1:") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(cert); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("certificate: %v %q", err, b)
	}
	if r := e.run(id, "conform", "--topic", "/usp/controller/kit", "--bulkdata-cert", cert); r.code != exitUsage || !strings.Contains(r.stderr, "--serve-bulkdata-tls") {
		t.Errorf("--bulkdata-cert alone: exit %d %s", r.code, r.stderr)
	}
}
