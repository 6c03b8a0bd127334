package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

// TestSessionContext runs a get inside an end-to-end session context with
// segmented messages, against an agent that has session context enabled.
func TestSessionContext(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-session"
	ag := e.agent(id, usptest.WithSessionContext(usptest.SessionConfig{MaxSegment: 64}))
	want, err := ag.Model().Get("Device.DeviceInfo.ModelName")
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(id, "get", "--session-context", "--max-segment", "64", "Device.DeviceInfo.")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "Device.DeviceInfo.ModelName") || !strings.Contains(r.stdout, want) {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	got := ag.Received()
	if len(got) == 0 || got[len(got)-1].Msg.GetHeader().GetMsgType() != uspmsg.Header_GET {
		t.Fatalf("the agent did not receive the Get: %d messages", len(got))
	}

	// Without the flag the same agent still answers, outside a session.
	e.run(id, "get", "Device.DeviceInfo.ModelName").wantCode(t, exitOK)
	// An agent without session context refuses the session (Disconnect
	// 7106), so the same command fails: the flag really changes the wire.
	const plain = "proto::agent-no-session"
	e.agent(plain)
	if r := e.run(plain, "get", "--session-context", "--timeout", "2s", "Device.DeviceInfo.ModelName"); r.code == exitOK {
		t.Fatalf("a session-context get succeeded against an agent without session context:\n%s", r.stdout)
	}
	if r := e.run(plain, "get", "--session-context", "--timeout", "2s", "Device.DeviceInfo.ModelName"); !strings.Contains(r.stderr, "refused the session context") {
		t.Fatalf("the refusal is not said:\n%s", r.stderr)
	}
	// With --session-fallback the refused request goes again without
	// session context.
	if r := e.run(plain, "get", "--session-context", "--session-fallback", "--timeout", "5s", "Device.DeviceInfo.ModelName"); r.code != exitOK {
		t.Fatalf("with --session-fallback: exit %d\n%s", r.code, r.stderr)
	}
	// --max-segment or --session-fallback alone is a usage error.
	e.run(id, "get", "--max-segment", "64", "Device.DeviceInfo.ModelName").wantCode(t, exitUsage)
	e.run(id, "get", "--session-fallback", "Device.DeviceInfo.ModelName").wantCode(t, exitUsage)
}

// TestAgentNotOnBroker: an agent whose topic nobody subscribes to is
// reported at once as a connection problem (exit 3), not after --timeout.
func TestAgentNotOnBroker(t *testing.T) {
	// mosquitto answers PUBACK 0x10 (No matching subscribers); the
	// embedded broker does not.
	e := &mqttEnv{t: t, broker: brokertest.StartMosquitto(t)}
	start := time.Now()
	r := e.run("proto::agent-absent", "get", "Device.DeviceInfo.ModelName")
	r.wantCode(t, exitConnection)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v: the broker's answer was not used", d)
	}
	if !strings.Contains(r.stderr, "no subscriber") {
		t.Fatalf("stderr does not say why:\n%s", r.stderr)
	}
}
