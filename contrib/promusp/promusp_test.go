package promusp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/gousp/gousp/contrib/promusp"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOutcomesAndLint(t *testing.T) {
	m, err := promusp.New(promusp.WithNamespace("acs"), promusp.WithConstLabels(prometheus.Labels{"controller": "c1"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx, usptest.WithControllerOptions(usp.WithHooks(m)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	m.Watch(p.Controller)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	// A Get of a wrong path: the agent answers with an Error message.
	if _, err := p.Agent.GetValue(ctx, "Device.NoSuch.Param"); err == nil {
		t.Fatal("Get of a wrong path succeeded")
	}
	// A call whose context is already over: canceled.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := p.Agent.GetValue(cctx, "Device.DeviceInfo.Manufacturer"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Get: %v", err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
	want := `
# HELP acs_agents Agents in the controller's inventory, by state (unknown, online, offline).
# TYPE acs_agents gauge
acs_agents{controller="c1",state="offline"} 0
acs_agents{controller="c1",state="online"} 1
acs_agents{controller="c1",state="unknown"} 0
`
	if err := testutil.GatherAndCompare(reg, stringsReader(want), "acs_agents"); err != nil {
		t.Error(err)
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range mf {
		if f.GetName() != "acs_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			var typ, outcome string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "type":
					typ = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			got[typ+"/"+outcome] = s.GetCounter().GetValue()
		}
	}
	// A wrong path in a Get is reported per path inside a GetResp: the
	// request succeeded. The canceled call never left.
	if len(got) != 2 || got["GET/ok"] != 1 || got["GET/send_failed"] != 1 {
		t.Errorf("requests by outcome %v, want GET/ok 1 and GET/send_failed 1", got)
	}
}
