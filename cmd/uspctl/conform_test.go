package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
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
