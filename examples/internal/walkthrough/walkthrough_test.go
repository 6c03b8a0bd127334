package walkthrough

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/examples/internal/extest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/usp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ctrlID  = "proto::walkthrough"
	agentID = "os::012345-WALK000001"
)

// TestRun walks through an agent on a memory network whose address is
// given, and checks the output and that the agent is left clean.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	net := memory.NewNetwork()
	ctrlTr, err := net.Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	agentTr, err := net.Endpoint(agentID)
	if err != nil {
		t.Fatal(err)
	}
	agent := extest.StartAgent(ctx, t, agentID, agentTr, ctrlID, mtp.Address{MTP: mtp.Memory, To: ctrlID})

	var specs []usp.SubscriptionSpec
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.Func("subscribe", "", AppendSpec(&specs))
	if err := fs.Parse([]string{"--subscribe", "ValueChange:Device.DeviceInfo.ProvisioningCode"}); err != nil {
		t.Fatal(err)
	}
	out := &extest.Output{}
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{
			ControllerID: ctrlID, Transport: ctrlTr, Where: "in memory",
			AgentID: agentID, AgentAddr: mtp.Address{MTP: mtp.Memory, To: agentID},
			Subscribe: specs, Listen: 15 * time.Second, Count: 1,
		}, out)
	}()
	out.WaitFor(ctx, t, `listening for notifications`)
	if err := agent.Model().Set("Device.DeviceInfo.ProvisioningCode", "walk-1"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	serial, _ := agent.Model().Get("Device.DeviceInfo.SerialNumber")
	extest.Check(t, out.String(),
		`^controller `+ctrlID+` in memory\n\nDevice\.DeviceInfo\.\n`,
		`\n  Device\.DeviceInfo\.SerialNumber\s+`+serial+`\n`,
		`subscribed to ValueChange \[Device\.DeviceInfo\.ProvisioningCode\] as Device\.LocalAgent\.Subscription\.\d+\.`,
		`\d\d:\d\d:\d\d  `+agentID+`  ValueChange Device\.DeviceInfo\.ProvisioningCode = "walk-1"\n`,
		`\n1 notifications\n$`)
	if strings.Contains(out.String(), "waiting for") {
		t.Error("waited for an agent whose address was given")
	}
	extest.CheckCleanedUp(t, agent)
}

// TestRunNoAgent checks that an agent that never announces itself ends the
// walkthrough with an error in the binding's words.
func TestRunNoAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := memory.NewNetwork().Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	out := &extest.Output{}
	err = Run(ctx, Config{
		ControllerID: ctrlID, Transport: tr, Where: "in memory", AgentID: agentID, Wait: 50 * time.Millisecond,
		Connect: Connect{Record: "MemoryConnect", Address: "name", Flag: "--agent-name"},
	}, out)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want a deadline", err)
	}
	extest.Check(t, err.Error(), `^no MemoryConnect record from `+agentID+` \(give --agent-name for an agent already online\): `)
	extest.Check(t, out.String(), `waiting for `+agentID+` to connect\.\.\.\n$`)
}

func TestAppendSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		kind    string
		refs    []string
		wantErr bool
	}{
		{in: "ValueChange:Device.A", kind: "ValueChange", refs: []string{"Device.A"}},
		{in: "Event:Device.Boot!,Device.X.Y!", kind: "Event", refs: []string{"Device.Boot!", "Device.X.Y!"}},
		{in: "ValueChange", wantErr: true},
		{in: ":Device.A", wantErr: true},
		{in: "Event:", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var specs []usp.SubscriptionSpec
			err := AppendSpec(&specs)(tc.in)
			if tc.wantErr {
				if err == nil || len(specs) != 0 {
					t.Fatalf("got %v, %v; want an error and no spec", specs, err)
				}
				return
			}
			if err != nil || len(specs) != 1 {
				t.Fatalf("got %v, %v", specs, err)
			}
			s := specs[0]
			if s.NotifType != tc.kind || fmt.Sprint(s.ReferenceList) != fmt.Sprint(tc.refs) || !s.NotifRetry {
				t.Errorf("spec = %+v", s)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		n    msg.Notification
		want string
	}{
		{&msg.ValueChange{ParamPath: "Device.A", ParamValue: "x y"}, `ValueChange Device.A = "x y"`},
		{&msg.Event{ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"Cause": "LocalReboot"}}, `Event Device.Boot! map[Cause:LocalReboot]`},
		{&msg.ObjectDeletion{ObjPath: "Device.X.3."}, `ObjectDeletion Device.X.3.`},
	} {
		if got := Describe(tc.n); got != tc.want {
			t.Errorf("Describe(%T) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestAppendSpecForms: --subscribe takes uspctl's TYPE=PATH and the older
// TYPE:PATH alike.
func TestAppendSpecForms(t *testing.T) {
	for _, arg := range []string{"ValueChange=Device.A.B,Device.C.", "ValueChange:Device.A.B,Device.C."} {
		var specs []usp.SubscriptionSpec
		if err := AppendSpec(&specs)(arg); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if len(specs) != 1 || specs[0].NotifType != "ValueChange" || len(specs[0].ReferenceList) != 2 || specs[0].ReferenceList[1] != "Device.C." {
			t.Errorf("%s: %+v", arg, specs)
		}
	}
	for _, bad := range []string{"ValueChange", "ValueChange=", "=Device.A.", ":Device.A."} {
		var specs []usp.SubscriptionSpec
		if err := AppendSpec(&specs)(bad); err == nil {
			t.Errorf("%s: accepted as %+v", bad, specs)
		}
	}
}
