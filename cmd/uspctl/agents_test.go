package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp/usptest"
)

// TestAgentsWatch: --watch prints an agent coming online, then going
// offline when it stops answering the probes, as JSON lines.
func TestAgentsWatch(t *testing.T) {
	e := newMQTTEnv(t)
	const id, ctlTopic = "proto::agent-watch", "/usp/controller/watch-test"
	ag := e.agent(id, usptest.WithController(defaultController, mtp.Address{MTP: mtp.MQTT, To: ctlTopic}))
	ready := func(a *app) {
		a.onReady = func() {
			go func() {
				if err := ag.SendConnect(context.Background()); err != nil {
					t.Error(err)
				}
				time.Sleep(300 * time.Millisecond)
				ag.Faults().Mute(true) // alive on the broker, but silent
			}()
		}
	}
	args := append([]string{"agents", "--topic", ctlTopic, "--watch", "--probe", "200ms", "--for", "4s", "-o", "json"}, e.conn()...)
	r := runCLICtx(context.Background(), t, nil, "", ready, args...)
	r.wantCode(t, exitOK)
	var got []changeJSON
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ch changeJSON
		if err := json.Unmarshal([]byte(line), &ch); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, ch)
	}
	if len(got) != 2 || got[0].Agent != id || got[0].To != "online" || got[1].To != "offline" ||
		!strings.Contains(got[1].Reason, "probes") {
		t.Fatalf("changes %+v", got)
	}
}

// TestAgentsList: the text listing shows each agent's state.
func TestAgentsList(t *testing.T) {
	e := newMQTTEnv(t)
	const id, ctlTopic = "proto::agent-list", "/usp/controller/list-test"
	ag := e.agent(id, usptest.WithController(defaultController, mtp.Address{MTP: mtp.MQTT, To: ctlTopic}))
	ready := func(a *app) {
		a.onReady = func() {
			go func() {
				if err := ag.SendConnect(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	args := append([]string{"agents", "--topic", ctlTopic, "--for", "1s", "--agent", "proto::never-seen"}, e.conn()...)
	r := runCLICtx(context.Background(), t, nil, "", ready, args...)
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ENDPOINT ID") {
		t.Fatalf("listing:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != id || f[1] != "online" {
		t.Fatalf("line %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "proto::never-seen" || f[1] != "unknown" {
		t.Fatalf("line %q", lines[2])
	}
	r = runCLICtx(context.Background(), t, nil, "", ready, append(args, "--state", "online")...)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 {
		t.Fatalf("--state online:\n%s", r.stdout)
	}
}
