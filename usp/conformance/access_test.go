package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

// accessBench starts a usptest agent that enforces access control, the
// test equipment, and a second controller, on a memory network.
func accessBench(t *testing.T, opts ...usptest.Option) (primary, second *Equipment, agent *usptest.Agent) {
	t.Helper()
	net := memory.NewNetwork()
	ctx := t.Context()
	endpoint := func(name string) *memory.Endpoint {
		ep, err := net.Endpoint(name)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	equipment := func(name string) *Equipment {
		eq, err := NewEquipment(endpoint(name), name, testAgent, WithAgentAddress(mtp.Address{MTP: mtp.Memory, To: testAgent}),
			WithResponseTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := eq.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = eq.Close(context.Background()) })
		return eq
	}
	primary, second = equipment(testController), equipment("proto::tp469-second")
	agent, err := usptest.NewAgent(testAgent, append([]usptest.Option{usptest.WithTransport(endpoint(testAgent)),
		usptest.WithController(testController, mtp.Address{MTP: mtp.Memory, To: testController}), usptest.WithAccessControl()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close(context.Background()) })
	return primary, second, agent
}

// TestAccessControlCases runs section 2 against usptest with access control
// on: every case that applies passes, and the agent is left as found.
func TestAccessControlCases(t *testing.T) {
	t.Parallel()
	primary, second, _ := accessBench(t)
	before := snapshot(t, primary)
	cfg := quickConfig
	cfg.AllowDestructive = true
	cfg.RebootTimeout = Duration(20 * time.Second)
	cfg.SecuredParameter = "Device.Users.User.1.Password"
	if testing.Short() {
		cfg.MaxSlow = Duration(time.Second)
	}
	cs, err := Select(All(), "2")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Equipment: primary, Secondary: second, Config: cfg}
	rep := r.Tests(t, cs)
	want := 20 // 2.1, 2.2, 2.9-2.19, 2.21-2.27
	if !testing.Short() {
		want++ // 2.20 waits 30 s
	}
	if rep.Count(Pass) != want || !rep.OK() {
		t.Errorf("%d cases passed, want %d", rep.Count(Pass), want)
	}
	for _, res := range rep.Results {
		if len(res.Cleanup) > 0 {
			t.Errorf("%s: cleanup failed: %v", res.ID, res.Cleanup)
		}
	}
	sameModel(t, before, snapshot(t, primary))
}

// TestAccessControlCasesCatchGrantingAgent runs the "not allowed" cases
// against an agent that still grants what the kit's Permission refuses:
// the test equipment also holds a second full access role, so the
// Permission added to its AssignedRole changes nothing. Each case fails,
// naming the metric.
func TestAccessControlCasesCatchGrantingAgent(t *testing.T) {
	t.Parallel()
	primary, second, agent := accessBench(t)
	m := agent.Model()
	role, err := m.AddInstance("Device.LocalAgent.ControllerTrust.Role.", map[string]string{"Enable": "true", "Name": "Also Full"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddInstance(role+"Permission.", map[string]string{"Enable": "true", "Order": "1", "Targets": "Device.",
		"Param": "rwxn", "Obj": "rwxn", "InstantiatedObj": "rwxn", "CommandEvent": "rwxn"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("Device.LocalAgent.Controller.1.AssignedRole", strings.TrimSuffix(role, ".")); err != nil {
		t.Fatal(err)
	}
	cs, err := Select(All(), "2.12", "2.14", "2.16", "2.22", "2.26")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Equipment: primary, Secondary: second, Config: quickConfig}
	rep := r.Run(t.Context(), cs)
	for _, res := range rep.Results {
		if res.Verdict != Fail {
			t.Errorf("%s: %s (%s), want fail", res.ID, res.Verdict, res.Reason)
			continue
		}
		f := res.Failed()
		if len(f) == 0 || f[0].Metric < 2 {
			t.Errorf("%s: failed criteria %v, want a metric of the refused request", res.ID, f)
		}
	}
}

// TestOperationRefusedAsError: 2.18 takes an Error for a refused command
// from a USP 1.3 agent (the plan's note), as OB-USP-A v11 answers (7022),
// and fails it from a USP 1.4 agent, which must answer with cmd_failure.
func TestOperationRefusedAsError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		want    Verdict
	}{{"1.3", Pass}, {"1.4", Fail}} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			primary, second, agent := accessBench(t, usptest.WithRecordVersion(tc.version))
			agent.Intercept(uspmsg.Header_OPERATE).Fail(msg.CodeCommandFailure, "no permission to perform operation Device.Reboot()")
			cs, _ := Select(All(), "2.18")
			r := &Runner{Equipment: primary, Secondary: second, Config: quickConfig}
			res := r.Run(t.Context(), cs).Results[0]
			if res.Verdict != tc.want {
				t.Errorf("2.18 from a USP %s agent: %s (%s %v), want %s", tc.version, res.Verdict, res.Reason, res.Failed(), tc.want)
			}
		})
	}
}

// TestSecuredRoleCatchesLeak runs 2.27 against an agent whose
// Users.User.1.Password lost its secured attribute: the secondary
// controller reads the password before its Role is in SecuredRoles, and
// the case fails metric 1, quoting the leaked value. Without
// secured_parameter the case needs an operator, saying why.
func TestSecuredRoleCatchesLeak(t *testing.T) {
	t.Parallel()
	cs, err := Select(All(), "2.27")
	if err != nil {
		t.Fatal(err)
	}
	primary, second, agent := accessBench(t)
	r := &Runner{Equipment: primary, Secondary: second, Config: quickConfig}
	if res := r.Run(t.Context(), cs).Results[0]; res.Verdict != NeedsOperator || !strings.Contains(res.Reason, "secured_parameter") {
		t.Errorf("2.27 without secured_parameter: %s (%s), want needs-operator naming the setting", res.Verdict, res.Reason)
	}
	if err := agent.Model().DefineParam("Device.Users.User.{i}.Password", usptest.ParamDef{Access: datamodel.ParamReadWrite}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, primary)
	cfg := quickConfig
	cfg.SecuredParameter = "Device.Users.User.1.Password"
	r = &Runner{Equipment: primary, Secondary: second, Config: cfg}
	res := r.Run(t.Context(), cs).Results[0]
	f := res.Failed()
	if res.Verdict != Fail || len(f) == 0 || f[0].Metric != 1 || !strings.Contains(f[0].Detail, "usptest-admin-secret") {
		t.Errorf("2.27 against a leaking agent: %s (%s), failed %v; want metric 1 failed with the leaked value", res.Verdict, res.Reason, f)
	}
	if len(res.Cleanup) > 0 {
		t.Errorf("cleanup failed: %v", res.Cleanup)
	}
	sameModel(t, before, snapshot(t, primary))
}
