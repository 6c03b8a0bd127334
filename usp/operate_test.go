package usp_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// countAdds counts the Add requests an agent received.
func countAdds(a *usptest.Agent) int {
	n := 0
	for _, r := range a.Received() {
		if r.Msg.GetHeader().GetMsgType() == uspmsg.Header_ADD {
			n++
		}
	}
	return n
}

func TestCallUsesKnownSchema(t *testing.T) {
	c, agent := startPair(t, bindingNamed("memory"))
	ag := c.Agent(agent.EndpointID())
	// Without the schema the controller cannot tell: it subscribes first.
	before := countAdds(agent)
	if _, err := ag.Call(ctxT(t), "Device.LocalAgent.Controller.1.SendOnBoardRequest()", nil); err != nil {
		t.Fatal(err)
	}
	if countAdds(agent) != before+1 {
		t.Fatalf("%d Adds for a call without schema, want 1 (the completion subscription)", countAdds(agent)-before)
	}
	if _, err := ag.Schema(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	before = countAdds(agent)
	if _, err := ag.Call(ctxT(t), "Device.LocalAgent.Controller.1.SendOnBoardRequest()", nil); err != nil {
		t.Fatal(err)
	}
	if n := countAdds(agent) - before; n != 0 {
		t.Fatalf("%d Adds for a command the schema says is synchronous", n)
	}
	// Asynchronous ones still subscribe, with NotifRetry.
	before = countAdds(agent)
	if _, err := ag.Call(ctxT(t), "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"}); err != nil {
		t.Fatal(err)
	}
	if countAdds(agent) != before+1 {
		t.Fatal("no completion subscription for an asynchronous command")
	}
	for _, r := range agent.Received() {
		for _, o := range r.Msg.GetBody().GetRequest().GetAdd().GetCreateObjs() {
			for _, p := range o.GetParamSettings() {
				if p.GetParam() == "NotifRetry" && p.GetValue() != "true" {
					t.Fatal("completion subscription without NotifRetry")
				}
			}
		}
	}
}

// TestCloseLetsOperationsCleanUp: a program that calls a command and
// closes at once leaves no subscription behind on the agent.
func TestCloseLetsOperationsCleanUp(t *testing.T) {
	c, agent := startPair(t, bindingNamed("memory"))
	if _, err := c.Agent(agent.EndpointID()).Call(ctxT(t), "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	subs, err := agent.Model().Instances("Device.LocalAgent.Subscription.")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		id, _ := agent.Model().Get(s + "ID")
		if strings.HasPrefix(id, "gousp-") {
			t.Fatalf("subscription %s (%s) left on the agent after Close", s, id)
		}
	}
}

// TestProtocolNegotiation: with WithProtocolNegotiation the controller asks
// every agent that appears for its versions and writes the highest common
// one.
func TestProtocolNegotiation(t *testing.T) {
	c, agent := startPair(t, bindingNamed("memory"), usp.WithProtocolNegotiation(), usp.WithRecordVersion("1.2"))
	waitUntil(t, func() bool {
		info, _ := c.AgentInfo(agent.EndpointID())
		return info.SupportedVersions != ""
	})
	info, _ := c.AgentInfo(agent.EndpointID())
	if info.SupportedVersions != usptest.DefaultVersions || info.Version != "1.3" {
		t.Fatalf("agent info after negotiation = %+v", info)
	}
	asked := false
	for _, r := range agent.Received() {
		if r.Msg.GetHeader().GetMsgType() == uspmsg.Header_GET_SUPPORTED_PROTO {
			asked = true
		}
	}
	if !asked {
		t.Fatal("the controller never sent GetSupportedProtocol")
	}
}

func TestOperateOptionsAndAbandon(t *testing.T) {
	c, agent := startPair(t, bindingNamed("memory"), usp.WithIntake(usp.IntakeConfig{Workers: 2, MaxRecords: 32}), usp.WithDuplicateWindow(8), usp.WithLogger(slog.New(slog.DiscardHandler)))
	ag := c.Agent(agent.EndpointID())

	// send_resp=false: nothing comes back, Operate returns once sent.
	resp, err := ag.Operate(ctxT(t), msg.Operate{Command: "Device.ScheduleTimer()", Args: map[string]string{"DelaySeconds": "0"}})
	if err != nil || resp != nil {
		t.Fatalf("Operate without response: %v, %v", resp, err)
	}

	// Do returns the typed response of any request.
	v, err := ag.Do(ctxT(t), msg.GetInstances{Paths: []string{"Device.WiFi.SSID."}, FirstLevelOnly: true})
	if r, ok := v.(*msg.GetInstancesResp); err != nil || !ok || len(r.Paths()) == 0 {
		t.Fatalf("Do: %#v, %v", v, err)
	}

	// A command key of our own, no completion subscription of ours: the
	// agent has no subscription for it, so the operation never completes
	// and Abandon ends it.
	before := countAdds(agent)
	op, err := ag.StartOperation(ctxT(t), "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"},
		usp.WithCommandKey("my-key"), usp.WithoutCompletionSubscription())
	if err != nil {
		t.Fatal(err)
	}
	if op.CommandKey() != "my-key" || op.Command() != "Device.ScheduleTimer()" || countAdds(agent) != before {
		t.Fatalf("operation %s/%s, %d Adds", op.Command(), op.CommandKey(), countAdds(agent)-before)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := op.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline: no completion can come", err)
	}
	op.Abandon()
	<-op.Done()
	if _, err := op.Wait(ctxT(t)); err == nil {
		t.Fatal("an abandoned operation reported success")
	}
	// The key is free again.
	if _, err := ag.StartOperation(ctxT(t), "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"}, usp.WithCommandKey("my-key")); err != nil {
		t.Fatal(err)
	}
}

// TestCloseRemovesRunningOperationsSubscriptions: closing while an
// asynchronous command still runs removes its completion subscription, so
// the agent does not retry the completion to a controller that is gone
// (found against OB-USP-A).
func TestCloseRemovesRunningOperationsSubscriptions(t *testing.T) {
	c, agent := startPair(t, bindingNamed("memory"))
	if _, err := c.Agent(agent.EndpointID()).StartOperation(ctxT(t), "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "3600"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	subs, _ := agent.Model().Instances("Device.LocalAgent.Subscription.")
	for _, s := range subs {
		if id, _ := agent.Model().Get(s + "ID"); strings.HasPrefix(id, "gousp-") {
			t.Fatalf("subscription %s (%s) left on the agent", s, id)
		}
	}
}
