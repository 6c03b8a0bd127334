package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/usp/usptest"
)

const (
	testController = "proto::tp469-equipment"
	testAgent      = "proto::tp469-agent"
)

// memoryBench starts a usptest agent and the test equipment on one memory
// network and closes both when the test ends.
func memoryBench(t *testing.T, opts ...usptest.Option) (*Equipment, *usptest.Agent) {
	t.Helper()
	net := memory.NewNetwork()
	aep, err := net.Endpoint(testAgent)
	if err != nil {
		t.Fatal(err)
	}
	cep, err := net.Endpoint(testController)
	if err != nil {
		t.Fatal(err)
	}
	eq, err := NewEquipment(cep, testController, testAgent,
		WithAgentAddress(mtp.Address{MTP: mtp.Memory, To: testAgent}), WithResponseTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eq.Start(ctx); err != nil {
		t.Fatal(err)
	}
	agent, err := usptest.NewAgent(testAgent, append([]usptest.Option{usptest.WithTransport(aep),
		usptest.WithController(testController, mtp.Address{MTP: mtp.Memory, To: testController})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	seedMTPs(t, agent)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = agent.Close(ctx)
		_ = eq.Close(ctx)
	})
	return eq, agent
}

// quickConfig keeps the kit's own waits short for tests.
var quickConfig = Config{QuietPeriod: Duration(500 * time.Millisecond), NotifyTimeout: Duration(5 * time.Second)}

// TestUSPTestConforms runs every implemented case against usptest over the
// memory transport: each case that applies must pass.
func TestUSPTestConforms(t *testing.T) {
	eq, _ := memoryBench(t)
	cfg := quickConfig
	if testing.Short() {
		cfg.MaxSlow = Duration(time.Second)
	}
	rep := RunTests(t, eq, cfg, All())
	if rep.Count(Pass) == 0 {
		t.Fatal("no case passed")
	}
}

// snapshot reads the agent's whole instantiated data model.
func snapshot(t *testing.T, eq *Equipment) map[string]string {
	t.Helper()
	ex := eq.Send(t.Context(), msg.Get{Paths: []string{"Device."}})
	if ex.Err != nil {
		t.Fatal(ex.Err)
	}
	r, err := msg.ParseGetResp(ex.Response)
	if err != nil {
		t.Fatal(err)
	}
	return r.Values()
}

// TestLeavesAgentAsFound checks the kit's cleanup: after every case that
// changes nothing it cannot restore, the agent's data model is what it was.
func TestLeavesAgentAsFound(t *testing.T) {
	eq, _ := memoryBench(t)
	before := snapshot(t, eq)
	cfg := quickConfig
	cfg.MaxSlow = Duration(time.Second)
	r := &Runner{Equipment: eq, Config: cfg}
	rep := r.Run(t.Context(), All())
	for _, res := range rep.Results {
		if len(res.Cleanup) > 0 {
			t.Errorf("%s: cleanup failed: %v", res.ID, res.Cleanup)
		}
	}
	after := snapshot(t, eq)
	volatile := func(p string) bool {
		return strings.HasSuffix(p, ".UpTime") || strings.HasSuffix(p, "CurrentLocalTime")
	}
	for p, v := range before {
		if w, ok := after[p]; !ok {
			t.Errorf("%s (%q) is gone", p, v)
		} else if w != v && !volatile(p) {
			t.Errorf("%s changed from %q to %q", p, v, w)
		}
	}
	for p, v := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s = %q was left behind", p, v)
		}
	}
}

// seedMTPs gives usptest the MTP entries a real agent has (its own, and
// the one it reaches the controller by), which 1.66-1.70 look for.
func seedMTPs(t *testing.T, agent *usptest.Agent) {
	t.Helper()
	m := agent.Model()
	if _, err := m.AddInstance("Device.LocalAgent.MTP.", map[string]string{"Enable": "true", "Protocol": "MQTT"}); err != nil {
		t.Fatal(err)
	}
	ctrls, err := m.Instances("Device.LocalAgent.Controller.")
	if err != nil || len(ctrls) == 0 {
		t.Fatalf("controllers %v %v", ctrls, err)
	}
	if _, err := m.AddInstance(ctrls[0]+"MTP.", map[string]string{"Enable": "true", "Protocol": "MQTT"}); err != nil {
		t.Fatal(err)
	}
}
