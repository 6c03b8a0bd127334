package usptest

import (
	"context"
	"testing"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// Default models share their template's schema and values; each change
// stays in the model that made it.
func TestDefaultModelsShareOnlyWhatTheyDoNotChange(t *testing.T) {
	a, b := DefaultModel(), DefaultModel()
	if a.root != b.root {
		t.Fatal("two default models do not share the schema")
	}
	if err := a.Set("Device.WiFi.SSID.1.SSID", "changed"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddInstance("Device.WiFi.SSID.", map[string]string{"SSID": "third"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Model{b, DefaultModel()} {
		if v, _ := m.Get("Device.WiFi.SSID.1.SSID"); v != "usptest" {
			t.Errorf("another model's SSID is %q after a Set on the first", v)
		}
		if insts, _ := m.Instances("Device.WiFi.SSID."); len(insts) != 2 {
			t.Errorf("another model has SSIDs %v", insts)
		}
	}

	// A schema change copies the schema first.
	if err := a.DefineParam("Device.WiFi.SSID.{i}.X_Test", ParamDef{Type: datamodel.TypeString, Default: "x"}); err != nil {
		t.Fatal(err)
	}
	if a.root == b.root {
		t.Fatal("DefineParam changed the shared schema")
	}
	if v, err := a.Get("Device.WiFi.SSID.1.X_Test"); err != nil || v != "x" {
		t.Errorf("new parameter on the changed model: %q, %v", v, err)
	}
	if _, err := b.Get("Device.WiFi.SSID.1.X_Test"); err == nil {
		t.Error("new parameter appeared on another model")
	}
	if v, _ := a.Get("Device.WiFi.SSID.1.SSID"); v != "changed" {
		t.Errorf("the changed model lost its value with its own schema: %q", v)
	}
	if err := a.HandleCommand("Device.SelfTestDiagnostics()", func(context.Context, string, map[string]string) (map[string]string, error) {
		return nil, msg.Errorf(msg.CodeCommandFailure, "broken")
	}); err != nil {
		t.Fatal(err)
	}
	if b.defOf(datamodel.MustParse("Device.SelfTestDiagnostics()"), 1).command("SelfTestDiagnostics()").Run == nil {
		t.Fatal("test broken: no default handler")
	}
	got := b.defOf(datamodel.MustParse("Device.SelfTestDiagnostics()"), 1).command("SelfTestDiagnostics()").Run
	if _, err := got(context.Background(), "Device.SelfTestDiagnostics()", nil); err != nil {
		t.Errorf("HandleCommand on one model changed another's handler: %v", err)
	}
}

// A model that takes a schema of its own after Start still factory-resets
// into it, and the shared default handlers act on the model that runs them.
func TestOwnSchemaAfterStart(t *testing.T) {
	a, c := newTestAgent(t, WithRebootDowntime(time.Millisecond))
	if c.take(time.Second, notifyOf("Event")) == nil {
		t.Fatal("no Boot! at start")
	}
	other := DefaultModel()
	if err := a.Model().DefineParam("Device.DeviceInfo.X_Test", ParamDef{Type: datamodel.TypeString, Access: datamodel.ParamReadWrite, Default: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Model().Set("Device.DeviceInfo.X_Test", "changed"); err != nil {
		t.Fatal(err)
	}
	// Download runs on the agent's model, not the template's.
	operate(t, c, "Device.DeviceInfo.FirmwareImage.2.Download()", "dl", map[string]string{"URL": "http://example.com/usptest-2.0.0.bin"})
	waitUntil(t, func() bool {
		s, _ := a.Model().Get("Device.DeviceInfo.FirmwareImage.2.Status")
		return s == "Available"
	})
	if s, _ := other.Get("Device.DeviceInfo.FirmwareImage.2.Status"); s != "NoImage" {
		t.Errorf("another model's image status %q", s)
	}
	operate(t, c, "Device.FactoryReset()", "fr", nil)
	if c.take(time.Second, notifyOf("Event")) == nil {
		t.Fatal("no Boot! after FactoryReset()")
	}
	// The instances restored are those of Start, on the model's own
	// schema: the parameter is known (without the value it got later).
	if v, err := a.Model().Get("Device.DeviceInfo.X_Test"); err != nil || v == "changed" {
		t.Errorf("after factory reset X_Test = %q, %v", v, err)
	}
	if s, _ := a.Model().Get("Device.DeviceInfo.FirmwareImage.2.Status"); s != "NoImage" {
		t.Errorf("after factory reset image status %q", s)
	}
	if err := a.Model().Set("Device.WiFi.SSID.1.SSID", "again"); err != nil {
		t.Fatal(err)
	}
}
