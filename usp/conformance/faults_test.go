package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

// runOne runs one case against an agent, after the kit has read the
// agent's data model (so that a fault set in between hits the case).
func runOne(t *testing.T, eq *Equipment, id string, fault func()) *Result {
	t.Helper()
	cs, err := Select(All(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Equipment: eq, Config: quickConfig}
	env := r.Env(t.Context())
	if fault != nil {
		fault()
	}
	return r.RunCase(t.Context(), env, cs[0])
}

// expectFail checks that a result failed on metric with detail saying
// what was seen, and that the evidence has the records exchanged.
func expectFail(t *testing.T, res *Result, metric int, detail, traced string) {
	t.Helper()
	if res.Verdict != Fail {
		t.Fatalf("%s: verdict %s (%s), want fail\n%s", res.ID, res.Verdict, res.Reason, TextEvidence(res))
	}
	f := res.Failed()
	if len(f) == 0 || f[0].Metric != metric || !strings.Contains(f[0].Detail, detail) {
		t.Errorf("%s: failed criteria %+v, want metric %d with %q", res.ID, f, metric, detail)
	}
	var types []string
	for _, e := range res.Trace {
		types = append(types, string(e.Dir)+" "+e.MsgType)
	}
	if !strings.Contains(strings.Join(types, ","), traced) {
		t.Errorf("%s: trace %v lacks %q", res.ID, types, traced)
	}
}

// TestBrokenAgentFails injects faults into usptest and checks that the
// matching cases fail, on the right criterion, with evidence.
func TestBrokenAgentFails(t *testing.T) {
	t.Parallel()
	t.Run("Error instead of GetResp", func(t *testing.T) {
		eq, agent := memoryBench(t)
		res := runOne(t, eq, "1.36", func() { agent.Faults().FailNext(uspmsg.Header_GET, msg.CodeInternal) })
		expectFail(t, res, 1, "Error 7003", "received ERROR")
	})
	t.Run("wrong error code in a failed Add", func(t *testing.T) {
		eq, agent := memoryBench(t)
		// An Error without param_errs where 1.4 wants the bad path in them.
		res := runOne(t, eq, "1.4", func() { agent.Faults().FailNext(uspmsg.Header_ADD, msg.CodeInvalidPath) })
		expectFail(t, res, 2, "param_errs has 0 entries", "received ERROR")
	})
	t.Run("lost request", func(t *testing.T) {
		eq, agent := memoryBench(t)
		res := runOne(t, eq, "1.80", func() { agent.Faults().DropNext(1) })
		expectFail(t, res, 1, "no response", "sent GET_SUPPORTED_PROTO")
	})
	t.Run("no Notify retry", func(t *testing.T) {
		eq, _ := memoryBench(t, usptest.WithNotifyRetry(time.Hour, time.Hour))
		res := runOne(t, eq, "1.54", nil)
		expectFail(t, res, 1, "no retry", "received NOTIFY")
	})
	t.Run("firmware not validated", func(t *testing.T) {
		// A Download() that installs whatever it fetched, checksum or not.
		m := usptest.DefaultModel()
		var agent *usptest.Agent
		if err := m.HandleCommand("Device.DeviceInfo.FirmwareImage.{i}.Download()", func(ctx context.Context, cmd string, args map[string]string) (map[string]string, error) {
			img := strings.TrimSuffix(cmd, "Download()")
			if err := m.Set(img+"Status", "Available"); err != nil {
				return nil, err
			}
			return nil, agent.Emit(ctx, "Device.LocalAgent.TransferComplete!", map[string]string{"Command": cmd, "FaultCode": "0"})
		}); err != nil {
			t.Fatal(err)
		}
		eq, a := memoryBench(t, usptest.WithModel(m))
		agent = a
		cs, _ := Select(All(), "9.6")
		cfg := quickConfig
		cfg.AllowDestructive = true
		cfg.FirmwareURL, cfg.FirmwareVersion = "http://192.0.2.1/fw/usptest-2.0.bin", "2.0"
		r := &Runner{Equipment: eq, Config: cfg}
		res := r.RunCase(t.Context(), r.Env(t.Context()), cs[0])
		expectFail(t, res, 2, `Status is "Available"`, "received NOTIFY")
	})
	t.Run("Notify retried too early", func(t *testing.T) {
		eq, _ := memoryBench(t, usptest.WithNotifyRetry(time.Second, time.Minute))
		res := runOne(t, eq, "1.54", nil)
		// The agent retries after 1 s; timestamps taken at receipt may
		// put that a few ms either side, so only the criterion is matched.
		expectFail(t, res, 2, "first retry after ", "received NOTIFY")
	})
}

// TestVerdicts checks the kit's own rules: no pass without a criterion,
// a panic is a kit error, setup failures are errors, cleanup failures are
// reported.
func TestVerdicts(t *testing.T) {
	eq, _ := memoryBench(t)
	r := &Runner{Equipment: eq, Config: quickConfig}
	env := r.Env(t.Context())
	cases := []struct {
		c      Case
		want   Verdict
		reason string
	}{
		{Case{ID: "0.1", Run: func(*T) {}}, Error, "checked no criterion"},
		{Case{ID: "0.2", Run: func(*T) { panic("boom") }}, Error, "kit bug: panic: boom"},
		{Case{ID: "0.3", Run: func(t *T) { t.Check(1, "x", true, ""); t.Skipf("later") }}, Skip, "later"},
		{Case{ID: "0.4", Run: func(t *T) { t.Check(1, "x", false, "seen %d", 3); t.Check(2, "y", true, "") }}, Fail, "metric 1: x: seen 3"},
		{Case{ID: "0.5", Run: func(t *T) { t.GetValues("Device.NoSuchThing.") }}, Error, "setup"},
		{Case{ID: "0.6", Features: []Feature{FeatSessionContext}, Run: func(t *T) { t.Check(1, "x", true, "") }}, Skip, "feature 24"},
		{Case{ID: "0.7", Destructive: "breaks things", Run: func(t *T) { t.Check(1, "x", true, "") }}, Skip, "allow_destructive"},
		{Case{ID: "0.8", Run: func(t *T) {
			t.Cleanup("undo", func(context.Context) error { return errors.New("refused") })
			t.Check(1, "x", true, "")
		}}, Pass, ""},
	}
	for _, tc := range cases {
		res := r.RunCase(t.Context(), env, &tc.c)
		if res.Verdict != tc.want || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%s: %s %q, want %s %q", tc.c.ID, res.Verdict, res.Reason, tc.want, tc.reason)
		}
		if tc.c.ID == "0.8" && (len(res.Cleanup) != 1 || !strings.Contains(res.Cleanup[0], "undo: refused")) {
			t.Errorf("cleanup failures %v", res.Cleanup)
		}
	}
}

// TestReports renders a run with a failed case in every format.
func TestReports(t *testing.T) {
	eq, agent := memoryBench(t)
	cs, _ := Select(All(), "1.36", "1.37", "1.63")
	r := &Runner{Equipment: eq, Config: quickConfig}
	r.Env(t.Context())
	agent.Faults().FailNext(uspmsg.Header_GET, msg.CodeInternal)
	rep := r.Run(t.Context(), cs)
	if rep.OK() || rep.Count(Fail) != 1 || rep.Count(Pass) != 1 || rep.Count(Skip) != 1 {
		t.Fatalf("counts: %d pass %d fail %d skip", rep.Count(Pass), rep.Count(Fail), rep.Count(Skip))
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.36", "Get message with full parameter path", "fail", "Messages and Path Names", "metric 1 NOT MET", "ERROR"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != 3 || back.Results[0].Verdict != Fail || len(back.Results[0].Trace) == 0 {
		t.Errorf("JSON round trip: %v %+v", err, back.Results)
	}
	var ju bytes.Buffer
	if err := rep.WriteJUnit(&ju); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(ju.Bytes(), &suites); err != nil || suites.Tests != 3 || suites.Failures != 1 || suites.Skipped != 1 {
		t.Errorf("JUnit: %v %+v", err, suites)
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	for _, want := range []string{"<!DOCTYPE html>", "1.36", "GET_RESP", "metric 1 NOT met"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script src", "<link", "http://", "https://", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("HTML refers outside itself: %q", bad)
		}
	}
}

func TestSelect(t *testing.T) {
	all := All()
	for _, tc := range []struct {
		pats []string
		n    int
		err  bool
	}{
		{nil, len(all), false},
		{[]string{"1.9"}, 1, false},
		{[]string{"1.9-1.11"}, 3, false},
		{[]string{"1.36", "1.36"}, 1, false},
		{[]string{"42"}, 0, true},
	} {
		got, err := Select(all, tc.pats...)
		if (err != nil) != tc.err || (err == nil && len(got) != tc.n) {
			t.Errorf("%v: %d cases, %v", tc.pats, len(got), err)
		}
	}
	for i := 1; i < len(all); i++ {
		if order(all[i-1].ID, all[i].ID) >= 0 {
			t.Errorf("%s before %s", all[i-1].ID, all[i].ID)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"response_timeout":"2s","features":{"24":true},"skip":{"1.5":"flaky lab"},"async_command":"Device.X()"}`))
	if err != nil || c.responseTimeout() != 2*time.Second || !c.Features["24"] || c.Skip["1.5"] == "" {
		t.Errorf("%+v %v", c, err)
	}
	for _, bad := range []string{`{"respons_timeout":"2s"}`, `{"features":{"x":true}}`, `{"quiet_period":"soon"}`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
