package usptest

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// child is the test's way down a tree ("WiFi.SSID.1"), copying nothing.
func child(o *objInst, path string) *objInst {
	segs := strings.Split(path, ".")
	for i := 0; i < len(segs) && o != nil; i++ {
		if t := o.tables.get(segs[i]); t != nil && i+1 < len(segs) {
			n, err := datamodel.ParseUnsignedInt(segs[i+1])
			if err != nil {
				return nil
			}
			o, i = t.inst.get(uint32(n)), i+1
			continue
		}
		o = o.single.get(segs[i])
	}
	return o
}

// A default model starts with the template's subtrees, not copies of
// them, and copies only those it writes under.
func TestDefaultModelSharesUnwrittenSubtrees(t *testing.T) {
	tmpl := defaultTemplate().rootInst
	m := DefaultModel()
	if m.rootInst == tmpl || m.rootInst.shared {
		t.Fatal("the model's root is the template's")
	}
	for _, p := range []string{"DeviceInfo", "WiFi", "WiFi.SSID.1", "Hosts.Host.1", "LocalAgent"} {
		if got, want := child(m.rootInst, p), child(tmpl, p); got == nil || got != want {
			t.Errorf("a new model's %s is not the template's", p)
		}
	}
	if err := m.Set("Device.WiFi.SSID.1.SSID", "mine"); err != nil {
		t.Fatal(err)
	}
	for p, shared := range map[string]bool{
		"WiFi": false, "WiFi.SSID.1": false, // copied, from the root down
		"WiFi.SSID.2": true, "WiFi.SSID.1.Stats": true, "WiFi.Radio.1": true, "DeviceInfo": true, "Hosts.Host.1": true,
	} {
		got, tv := child(m.rootInst, p), child(tmpl, p)
		if got == nil || (got == tv) != shared || got.shared != shared {
			t.Errorf("after a Set under WiFi.SSID.1, %s shared = %v, want %v", p, got == tv, shared)
		}
	}
	if v := child(tmpl, "WiFi.SSID.1").val("SSID"); v != "usptest" {
		t.Errorf("the template's SSID is %q", v)
	}
}

// stable is a model's values without those that move with the clock.
func stable(t *testing.T, m *Model) map[string]string {
	t.Helper()
	v, err := m.Values("Device.")
	if err != nil {
		t.Fatal(err)
	}
	maps.DeleteFunc(v, func(k, _ string) bool { return strings.HasSuffix(k, "UpTime") })
	return v
}

// Writes, additions and deletions in one default model, at every depth,
// are seen neither by a model made before, nor by one made after, nor by
// the template; the model itself sees them all.
func TestCopyOnWriteKeepsModelsApart(t *testing.T) {
	before := stable(t, defaultTemplate())
	a, b := DefaultModel(), DefaultModel()
	writes := []func() error{
		func() error { return a.Set("Device.DeviceInfo.ProvisioningCode", "a-code") },
		func() error { return a.Set("Device.WiFi.SSID.1.SSID", "a-ssid") },
		func() error { return a.Set("Device.WiFi.SSID.1.Stats.BytesSent", "7") },
		func() error {
			_, err := a.AddInstance("Device.Hosts.Host.", map[string]string{"PhysAddress": "02:00:00:00:aa:09"})
			return err
		},
		func() error { return a.DeleteInstance("Device.WiFi.SSID.2.") },
		func() error { return a.LoadValues(map[string]string{"Device.WiFi.SSID.5.SSID": "loaded"}) },
		func() error { return a.DeleteInstance("Device.Hosts.Host.1.") },
	}
	for i, w := range writes {
		if err := w(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	got := stable(t, a)
	for k, want := range map[string]string{
		"Device.DeviceInfo.ProvisioningCode": "a-code", "Device.WiFi.SSID.1.SSID": "a-ssid",
		"Device.WiFi.SSID.1.Stats.BytesSent": "7", "Device.Hosts.Host.3.PhysAddress": "02:00:00:00:aa:09",
		"Device.WiFi.SSID.5.SSID": "loaded",
	} {
		if got[k] != want {
			t.Errorf("the writing model reads %s = %q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"Device.WiFi.SSID.2.SSID", "Device.Hosts.Host.1.PhysAddress"} {
		if _, ok := got[k]; ok {
			t.Errorf("the writing model still has %s", k)
		}
	}
	c := DefaultModel()
	for name, m := range map[string]*Model{"made before": b, "made after": c, "template": defaultTemplate()} {
		if v := stable(t, m); !maps.Equal(v, before) {
			for k := range v {
				if v[k] != before[k] {
					t.Errorf("model %s: %s = %q, was %q", name, k, v[k], before[k])
				}
			}
			for k := range before {
				if _, ok := v[k]; !ok {
					t.Errorf("model %s lost %s", name, k)
				}
			}
		}
	}
	// A FactoryReset snapshot taken now keeps a's state through later writes.
	a.lock()
	snap := a.takeSnapshot()
	a.unlock()
	if err := a.Set("Device.WiFi.SSID.1.SSID", "later"); err != nil {
		t.Fatal(err)
	}
	a.lock()
	a.restore(snap)
	a.unlock()
	if v, _ := a.Get("Device.WiFi.SSID.1.SSID"); v != "a-ssid" {
		t.Errorf("restored SSID %q", v)
	}
	// A schema of its own takes the shared subtrees along, unchanged.
	if err := b.DefineParam("Device.WiFi.SSID.{i}.X_Test", ParamDef{Type: datamodel.TypeString, Default: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("Device.WiFi.SSID.2.X_Test", "y"); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("Device.WiFi.SSID.2.SSID"); v != "usptest-5G" {
		t.Errorf("after its own schema, b's SSID.2 is %q", v)
	}
	if v := stable(t, defaultTemplate()); !maps.Equal(v, before) {
		t.Error("a schema change or a snapshot changed the template")
	}
}

// Default models written in parallel, at the same paths, read their own
// values only; run with -race, a write to a shared instance shows as a race
// (and, in this package's tests, as a panic: see strictShare).
func TestCopyOnWriteParallel(t *testing.T) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			m := DefaultModel()
			me := fmt.Sprintf("m%d", i)
			for round := range 20 {
				if err := m.Set("Device.WiFi.SSID.1.SSID", fmt.Sprintf("%s-%d", me, round)); err != nil {
					errs <- err
					return
				}
				path, err := m.AddInstance("Device.Hosts.Host.", map[string]string{"PhysAddress": fmt.Sprintf("02:00:00:%02x:00:%02x", i, round)})
				if err != nil {
					errs <- err
					return
				}
				if round%2 == 0 {
					if err := m.DeleteInstance(path); err != nil {
						errs <- err
						return
					}
				}
				if v, _ := m.Get("Device.WiFi.SSID.1.SSID"); v != fmt.Sprintf("%s-%d", me, round) {
					errs <- fmt.Errorf("model %d reads SSID %q in round %d", i, v, round)
					return
				}
				if _, err := DefaultModel().Values("Device.WiFi."); err != nil { // a reader of the template
					errs <- err
					return
				}
			}
			hosts, _ := m.Instances("Device.Hosts.Host.")
			if len(hosts) != 2+10 {
				errs <- fmt.Errorf("model %d has %d hosts, want 12", i, len(hosts))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v, _ := DefaultModel().Get("Device.WiFi.SSID.1.SSID"); v != "usptest" {
		t.Errorf("a new model's SSID is %q", v)
	}
}

// Two agents on default models: a controller's Set (with a wildcard), Add
// and Delete on one change nothing in the other, nor in an agent started
// afterwards; a FactoryReset brings back the first one's start.
func TestCopyOnWriteAgents(t *testing.T) {
	a1, c1 := newTestAgent(t, WithRebootDowntime(time.Millisecond))
	a2, _ := newTestAgent(t)
	if code, _ := errorOf(c1.do(msg.Set{Objects: []msg.SetObject{{Path: "Device.WiFi.SSID.*.", Params: []msg.Param{{Name: "SSID", Value: "one", Required: true}}}}})); code != 0 {
		t.Fatalf("Set: error %d", code)
	}
	if code, _ := errorOf(c1.do(msg.Add{Objects: []msg.AddObject{{Path: "Device.WiFi.SSID.", Params: msg.Params(map[string]string{"SSID": "nine"})}}})); code != 0 {
		t.Fatalf("Add: error %d", code)
	}
	if code, _ := errorOf(c1.do(msg.Delete{Paths: []string{"Device.WiFi.AccessPoint.2."}})); code != 0 {
		t.Fatalf("Delete: error %d", code)
	}
	// Unique keys are checked across the instances one Set changes: two
	// SSIDs may not both be named the same.
	if code, _ := errorOf(c1.do(msg.Set{Objects: []msg.SetObject{{Path: "Device.WiFi.SSID.*.", Params: []msg.Param{{Name: "Alias", Value: "same", Required: true}}}}})); code == 0 {
		t.Error("a Set gave two SSIDs the same Alias")
	}
	if ssids, _ := a1.Model().Instances("Device.WiFi.SSID."); len(ssids) != 3 {
		t.Errorf("agent 1 has SSIDs %v", ssids)
	}
	a3, _ := newTestAgent(t)
	for i, a := range []*Agent{a2, a3} {
		m := a.Model()
		if v, _ := m.Get("Device.WiFi.SSID.1.SSID"); v != "usptest" {
			t.Errorf("agent %d: SSID %q", i+2, v)
		}
		if ssids, _ := m.Instances("Device.WiFi.SSID."); len(ssids) != 2 {
			t.Errorf("agent %d: SSIDs %v", i+2, ssids)
		}
		if aps, _ := m.Instances("Device.WiFi.AccessPoint."); len(aps) != 2 {
			t.Errorf("agent %d: access points %v", i+2, aps)
		}
	}
	operate(t, c1, "Device.FactoryReset()", "fr", nil)
	waitUntil(t, func() bool {
		v, _ := a1.Model().Get("Device.WiFi.SSID.1.SSID")
		return v == "usptest"
	})
	if aps, _ := a1.Model().Instances("Device.WiFi.AccessPoint."); len(aps) != 2 {
		t.Errorf("after FactoryReset agent 1 has access points %v", aps)
	}
	if err := a1.Model().Set("Device.WiFi.SSID.2.SSID", "after"); err != nil {
		t.Fatal(err)
	}
	if v, _ := a2.Model().Get("Device.WiFi.SSID.2.SSID"); v != "usptest-5G" {
		t.Errorf("agent 2's SSID.2 is %q", v)
	}
}
