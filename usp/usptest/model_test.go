package usptest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

func TestModelErrors(t *testing.T) {
	m := DefaultModel()
	tests := []struct {
		name string
		err  error
		want *msg.Error
	}{
		{"get unknown param", func() error { _, err := m.Get("Device.DeviceInfo.Nope"); return err }(), msg.ErrUnsupportedParam},
		{"get missing instance", func() error { _, err := m.Get("Device.WiFi.SSID.9.SSID"); return err }(), msg.ErrObjectNotFound},
		{"get outside schema", func() error { _, err := m.Get("Device.Nope.X"); return err }(), msg.ErrInvalidPath},
		{"get object", func() error { _, err := m.Get("Device.DeviceInfo."); return err }(), msg.ErrInvalidPath},
		{"get search", func() error { _, err := m.Get("Device.WiFi.SSID.*.SSID"); return err }(), msg.ErrInvalidPath},
		{"get syntax", func() error { _, err := m.Get("Device..X"); return err }(), msg.ErrInvalidPathSyntax},
		{"set wrong type", m.Set("Device.WiFi.Radio.1.Channel", "six"), msg.ErrInvalidType},
		{"set enum", m.Set("Device.WiFi.Radio.1.OperatingFrequencyBand", "1GHz"), msg.ErrInvalidValue},
		{"set list enum", m.Set("Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WEP"), msg.ErrInvalidValue},
		{"add to non-table", func() error { _, err := m.AddInstance("Device.DeviceInfo.", nil); return err }(), msg.ErrNotATable},
		{"add unknown param", func() error { _, err := m.AddInstance("Device.Hosts.Host.", map[string]string{"X": "1"}); return err }(), msg.ErrUnsupportedParam},
		{"add wrong type", func() error {
			_, err := m.AddInstance("Device.Hosts.Host.", map[string]string{"Active": "yes"})
			return err
		}(), msg.ErrInvalidType},
		{"add duplicate key", func() error {
			_, err := m.AddInstance("Device.Hosts.Host.", map[string]string{"PhysAddress": "02:00:00:00:aa:01"})
			return err
		}(), msg.ErrDuplicateKey},
		{"add under missing parent", func() error { _, err := m.AddInstance("Device.IP.Interface.9.IPv4Address.", nil); return err }(), msg.ErrObjectNotFound},
		{"delete single object", m.DeleteInstance("Device.DeviceInfo."), msg.ErrObjectNotFound},
		{"delete missing", m.DeleteInstance("Device.WiFi.SSID.9."), msg.ErrObjectNotFound},
		{"instances of non-table", func() error { _, err := m.Instances("Device.WiFi."); return err }(), msg.ErrNotATable},
		{"values of bad path", func() error { _, err := m.Values("Device.Nope."); return err }(), msg.ErrInvalidPath},
		{"load unknown", m.LoadValues(map[string]string{"Device.WiFi.SSID.1.Nope": "x"}), msg.ErrUnsupportedParam},
		{"load table without instance", m.LoadValues(map[string]string{"Device.WiFi.SSID.SSID": "x"}), msg.ErrInvalidPath},
		{"load wrong type", m.LoadValues(map[string]string{"Device.WiFi.SSID.1.Enable": "x"}), msg.ErrInvalidType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("error %v, want code %d", tc.err, tc.want.Code)
			}
		})
	}
}

func TestModelValues(t *testing.T) {
	m := DefaultModel()
	if err := m.LoadValues(map[string]string{
		"Device.WiFi.SSID.5.SSID":                       "loaded",
		"Device.IP.Interface.3.IPv4Address.2.IPAddress": "10.1.1.1",
	}); err != nil {
		t.Fatal(err)
	}
	insts, err := m.Instances("Device.WiFi.SSID.")
	if err != nil || !slices.Equal(insts, []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.5."}) {
		t.Errorf("instances %v %v", insts, err)
	}
	if v, _ := m.Get("Device.WiFi.SSID.5.Alias"); v != "cpe-5" {
		t.Errorf("Alias of a loaded instance %q", v)
	}
	// The next instance follows the highest number.
	p, err := m.AddInstance("Device.WiFi.SSID.", map[string]string{"SSID": "next"})
	if err != nil || p != "Device.WiFi.SSID.6." {
		t.Errorf("added %q %v", p, err)
	}
	vals, err := m.Values("Device.IP.Interface.3.")
	if err != nil || vals["Device.IP.Interface.3.IPv4Address.2.IPAddress"] != "10.1.1.1" || vals["Device.IP.Interface.3.IPv4AddressNumberOfEntries"] != "1" {
		t.Errorf("values %v %v", vals, err)
	}
	vals, err = m.Values(`Device.WiFi.SSID.[SSID=="next"].Alias`)
	if err != nil || !maps.Equal(vals, map[string]string{"Device.WiFi.SSID.6.Alias": "cpe-6"}) {
		t.Errorf("search values %v %v", vals, err)
	}
	if err := m.DeleteInstance("Device.IP.Interface.3."); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get("Device.IP.Interface.3.IPv4Address.2.IPAddress"); !errors.Is(err, msg.ErrObjectNotFound) {
		t.Errorf("nested instance survived its parent: %v", err)
	}
	// Tests may change read-only values; Set checks only the type.
	if err := m.Set("Device.DeviceInfo.SerialNumber", "SN-42"); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("Device.DeviceInfo.SerialNumber"); v != "SN-42" {
		t.Errorf("SerialNumber %q", v)
	}
	// Computed values cannot be set.
	if err := m.Set("Device.WiFi.SSIDNumberOfEntries", "99"); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("Device.WiFi.SSIDNumberOfEntries"); v != "4" {
		t.Errorf("SSIDNumberOfEntries %q", v)
	}
}

func TestDefine(t *testing.T) {
	m := NewModel()
	err := m.Define(`
# a vendor object
Device.X_Example.                       
  Mode        string       rw  enum=Eco,Fast  = Eco
  Temp        decimal      r   = 21.5
  Tags        string       rw  list enum=a,b,c
  Secret      string       w
  Empty       string       rw  =
  Reset()     sync   in=Level  out=Result
  Scan()      async
  Alarm!      args=Level,Text
Device.X_Example.Sensor.{i}.  add-delete  keys=Alias  keys=Bus,Address
  Alias       string       rw
  Bus         unsignedInt  rw  = 1
  Address     hexBinary    rw
  SensorNumberOfEntries unsignedInt r = 0
Device.X_Example.Sensor.{i}.Stats.
  Reads       unsignedLong r   = 0
`)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("Device.X_Example.Mode"); v != "Eco" {
		t.Errorf("default %q", v)
	}
	if err := m.Set("Device.X_Example.Tags", "a,c"); err != nil {
		t.Errorf("list: %v", err)
	}
	if err := m.Set("Device.X_Example.Tags", "a,d"); !errors.Is(err, msg.ErrInvalidValue) {
		t.Errorf("list item outside enum: %v", err)
	}
	if _, err := m.AddInstance("Device.X_Example.Sensor.", map[string]string{"Address": "0A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddInstance("Device.X_Example.Sensor.", map[string]string{"Address": "0A"}); !errors.Is(err, msg.ErrDuplicateKey) {
		t.Errorf("two-parameter key: %v", err)
	}
	if _, err := m.AddInstance("Device.X_Example.Sensor.", map[string]string{"Address": "0A", "Bus": "2"}); err != nil {
		t.Errorf("different bus: %v", err)
	}
	a := &Agent{model: m, cfg: config{versions: DefaultVersions}}
	resp := a.handleSupportedDM(&uspmsg.GetSupportedDM{ObjPaths: []string{"Device.X_Example."}, ReturnCommands: true,
		ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true}).(msg.GetSupportedDMResp)
	objs := resp.Results[0].Objects
	if len(objs) != 3 {
		t.Fatalf("objects %+v", objs)
	}
	root := objs[0]
	if len(root.Params) != 5 || root.Params[3].Access != msg.ParamWriteOnly || root.Params[1].Type != msg.TypeDecimal {
		t.Errorf("params %+v", root.Params)
	}
	if len(root.Commands) != 2 || root.Commands[0].Type != msg.CmdSync || root.Commands[1].Type != msg.CmdAsync ||
		!slices.Equal(root.Commands[0].Outputs, []string{"Result"}) {
		t.Errorf("commands %+v", root.Commands)
	}
	if len(root.Events) != 1 || !slices.Equal(root.Events[0].Args, []string{"Level", "Text"}) {
		t.Errorf("events %+v", root.Events)
	}
	if s := objs[1]; !s.MultiInstance || s.Access != msg.ObjAddDelete || len(s.UniqueKeySets) != 2 {
		t.Errorf("sensor %+v", s)
	}

	bad := []string{
		"  Orphan string r",
		"Device.X.\n  P strang r",
		"Device.X.\n  P string rx",
		"Device.X.\n  P string r bogus",
		"Device.X.\n  P string",
		"Device.X.\n  C() quick",
		"Device.X.\n  E! params=A",
		"Device.X. sideways",
		"Other.X.",
		"Device.X.{i}.  read-only\nDevice.X.Y.",
		"Device.T.\n  X unsignedInt r = minus",
		"Device.X.\n  Sub string r\nDevice.X.Sub.",
	}
	for _, s := range bad {
		if err := NewModel().Define(s); err == nil {
			t.Errorf("Define(%q) succeeded", s)
		}
	}
}

func TestDefineErrors(t *testing.T) {
	m := NewModel()
	tests := []error{
		m.DefineObject("Device.A.B", datamodel.ObjReadOnly),
		m.DefineObject("Device.A.", datamodel.ObjAddDelete),
		m.DefineObject("Device.A.1.", datamodel.ObjReadOnly),
		m.DefineParam("Device.A.", ParamDef{}),
		m.DefineParam("Device.A.{i}.P", ParamDef{}),
		m.DefineCommand("Device.A.C", CommandDef{}),
		m.DefineEvent("Device.A.E()"),
		m.HandleCommand("Device.Nope()", nil),
		m.HandleCommand("Device.Nope", nil),
		m.DefineObject("Device.A.Ref+.", datamodel.ObjReadOnly),
	}
	for i, err := range tests {
		if err == nil {
			t.Errorf("case %d succeeded", i)
		}
	}
}

// TestDefineSupportedDM loads OB-USP-A's supported data model from its
// GetSupportedDMResp and checks that the agent describes it back the same.
func TestDefineSupportedDM(t *testing.T) {
	caps := loadCaptures(t)
	theirs := caps["68-gsdm-device-full"].msg
	var resp msg.GetSupportedDMResp
	for _, r := range theirs.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults() {
		res := msg.SupportedDMResult{Requested: r.GetReqObjPath()}
		for _, o := range r.GetSupportedObjs() {
			so := msg.SupportedObject{Path: o.GetSupportedObjPath(), Access: msg.ObjAccess(o.GetAccess()), MultiInstance: o.GetIsMultiInstance()}
			for _, p := range o.GetSupportedParams() {
				so.Params = append(so.Params, msg.SupportedParam{Name: p.GetParamName(), Access: msg.ParamAccess(p.GetAccess()),
					Type: msg.ParamType(p.GetValueType()), ValueChange: msg.ValueChangeType(p.GetValueChange())})
			}
			for _, c := range o.GetSupportedCommands() {
				so.Commands = append(so.Commands, msg.SupportedCommand{Name: c.GetCommandName(), Inputs: c.GetInputArgNames(),
					Outputs: c.GetOutputArgNames(), Type: msg.CommandType(c.GetCommandType())})
			}
			for _, e := range o.GetSupportedEvents() {
				so.Events = append(so.Events, msg.SupportedEvent{Name: e.GetEventName(), Args: e.GetArgNames()})
			}
			for _, k := range o.GetUniqueKeySets() {
				so.UniqueKeySets = append(so.UniqueKeySets, k.GetKeyNames())
			}
			res.Objects = append(res.Objects, so)
		}
		resp.Results = append(resp.Results, res)
	}
	m := NewModel()
	m.SetDataModelURI(theirs.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults()[0].GetDataModelInstUri())
	if err := m.DefineSupportedDM(resp.Results[0].Objects); err != nil {
		t.Fatal(err)
	}
	a := &Agent{model: m}
	ours := a.handleSupportedDM(&uspmsg.GetSupportedDM{ObjPaths: []string{"Device."}, ReturnCommands: true,
		ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true}).(msg.GetSupportedDMResp).Build("gsdm-device-full")
	cmp := &comparer{t: t, theirs: supportedSet(theirs), ours: m}
	cmp.compare(ours, theirs)
	// Every object, in OB-USP-A's order.
	var o, w []string
	for _, so := range ours.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults()[0].GetSupportedObjs() {
		o = append(o, so.GetSupportedObjPath())
	}
	for _, so := range theirs.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults()[0].GetSupportedObjs() {
		w = append(w, so.GetSupportedObjPath())
	}
	if !slices.Equal(o, w) {
		t.Errorf("objects\n%s\nwant\n%s", strings.Join(o, "\n"), strings.Join(w, "\n"))
	}
}

func TestInstanceNumbers(t *testing.T) {
	m := DefaultModel()
	if err := m.LoadValues(map[string]string{"Device.Hosts.Host.4294967295.PhysAddress": "02:00:00:00:ff:ff"}); err != nil {
		t.Fatal(err)
	}
	p, err := m.AddInstance("Device.Hosts.Host.", map[string]string{"PhysAddress": "02:00:00:00:ff:fe"})
	if err != nil || p != "Device.Hosts.Host.3." {
		t.Errorf("after the last number: %q %v", p, err)
	}
}

// TestInstByPath checks the tree walk that replaced the path index: only
// concrete object paths, written canonically, name an instance.
func TestInstByPath(t *testing.T) {
	m := DefaultModel()
	for path, want := range map[string]string{
		"Device.":                   "Device.",
		"Device":                    "Device.",
		"Device.DeviceInfo":         "Device.DeviceInfo.",
		"Device.WiFi.SSID.1.":       "Device.WiFi.SSID.1.",
		"Device.WiFi.SSID.1":        "Device.WiFi.SSID.1.",
		"Device.WiFi.SSID.":         "", // a table
		"Device.WiFi.SSID.01.":      "",
		"Device.WiFi.SSID.+1.":      "",
		"Device.WiFi.SSID.999.":     "",
		"Device.WiFi.SSID.1.Nope.":  "",
		"Device..WiFi.":             "",
		"Device.DeviceInfo.Serial.": "",
		"Other.":                    "",
		"":                          "",
	} {
		got := ""
		if o := m.instByPath(path); o != nil {
			got = o.path
		}
		if got != want {
			t.Errorf("instByPath(%q) = %q, want %q", path, got, want)
		}
	}
	if _, err := m.AddInstance("Device.WiFi.SSID.", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteInstance("Device.WiFi.SSID.1."); err != nil {
		t.Fatal(err)
	}
	if o := m.instByPath("Device.WiFi.SSID.1."); o != nil {
		t.Errorf("deleted instance still found: %s", o.path)
	}
}

// TestTableOf: an instance's table is found from its path in the model
// that holds it (copied from the template or added since), and nowhere
// else: not for a single-instance object, not in another copy of the
// template, not once deleted.
func TestTableOf(t *testing.T) {
	m, other := DefaultModel(), DefaultModel()
	added, err := m.AddInstance("Device.WiFi.SSID.", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"Device.WiFi.SSID.1.", added} {
		o := m.instByPath(path)
		tb, n := m.tableOf(o)
		if tb == nil || tb.path != "Device.WiFi.SSID." || tb.inst.get(n) != o {
			t.Errorf("tableOf(%s) = %v, %d; want the model's Device.WiFi.SSID. holding it", path, tb, n)
		}
		if ot, _ := other.tableOf(o); ot == tb {
			t.Errorf("tableOf(%s) in another model gave this model's table", path)
		}
	}
	if tb, _ := m.tableOf(m.instByPath("Device.DeviceInfo.")); tb != nil {
		t.Errorf("a single-instance object has table %s", tb.path)
	}
	o := m.instByPath(added)
	if err := m.DeleteInstance(added); err != nil {
		t.Fatal(err)
	}
	if tb, n := m.tableOf(o); tb != nil && tb.inst.get(n) != nil {
		t.Errorf("deleted %s is still in its table", added)
	}
}

// TestSharedDefaults checks that new instances, which share their
// definition's default values until their first write, never see each
// other's writes, nor another model's, and pick up a redefined default.
func TestSharedDefaults(t *testing.T) {
	m1, m2 := DefaultModel(), DefaultModel()
	const table = "Device.LocalAgent.Controller.1.BootParameter."
	for i, m := range []*Model{m1, m2} {
		if _, err := m.AddInstance("Device.LocalAgent.Controller.", map[string]string{"EndpointID": fmt.Sprint("proto::c", i)}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := m1.AddInstance(table, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m1.AddInstance(table, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := m2.AddInstance(table, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Set(a+"ParameterName", "Device.DeviceInfo.SerialNumber"); err != nil {
		t.Fatal(err)
	}
	check := func(m *Model, path, want string) {
		t.Helper()
		if v, err := m.Get(path); err != nil || v != want {
			t.Errorf("%s = %q %v, want %q", path, v, err, want)
		}
	}
	check(m1, a+"ParameterName", "Device.DeviceInfo.SerialNumber")
	check(m1, b+"ParameterName", "")
	check(m2, c+"ParameterName", "")
	check(m1, b+"Alias", "cpe-2")
	// A redefined default applies to instances created afterwards (in the
	// model that redefined it only), not to existing ones.
	if err := m1.DefineParam("Device.LocalAgent.Controller.{i}.BootParameter.{i}.Enable", ParamDef{Type: datamodel.TypeBoolean, Default: "true", Access: datamodel.ParamReadWrite}); err != nil {
		t.Fatal(err)
	}
	d, err := m1.AddInstance(table, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := m2.AddInstance(table, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(m1, b+"Enable", "false")
	check(m1, d+"Enable", "true")
	check(m2, e+"Enable", "false")
	// Again, in the model that now has a schema of its own.
	if err := m1.DefineParam("Device.LocalAgent.Controller.{i}.BootParameter.{i}.ParameterName", ParamDef{Type: datamodel.TypeString, Default: "Device.", Access: datamodel.ParamReadWrite}); err != nil {
		t.Fatal(err)
	}
	f, err := m1.AddInstance(table, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(m1, f+"ParameterName", "Device.")
}

// TestInstSet checks a table's instance set: kept in number order whatever
// the order of insertion, replaced in place, deleted without a trace.
func TestInstSet(t *testing.T) {
	var s instSet
	a, b, c, d := &objInst{path: "a"}, &objInst{path: "b"}, &objInst{path: "c"}, &objInst{path: "d"}
	s.put(7, a)
	s.put(2, b)
	s.put(40, c)
	s.put(7, d) // replaces a
	s.del(3)    // absent: nothing happens
	var got []string
	for _, e := range s {
		got = append(got, fmt.Sprint(e.n, e.o.path))
	}
	if want := []string{"2b", "7d", "40c"}; !slices.Equal(got, want) {
		t.Errorf("set %v, want %v", got, want)
	}
	s.del(2)
	if s.get(2) != nil || s.get(7) != d || s.get(40) != c || len(s) != 2 {
		t.Errorf("after delete: %v", s)
	}
}

// TestDefaultModelConcurrent makes models from the shared template on
// several goroutines at once, as parallel tests and uspsim do: under -race
// it fails if copying the template writes to it.
func TestDefaultModelConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	models := make([]*Model, 8)
	for i := range models {
		wg.Go(func() { models[i] = DefaultModel() })
	}
	wg.Wait()
	for i, m := range models {
		if err := m.Set("Device.DeviceInfo.ProvisioningCode", fmt.Sprintf("model-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range models {
		if v, _ := m.Get("Device.DeviceInfo.ProvisioningCode"); v != fmt.Sprintf("model-%d", i) {
			t.Errorf("model %d reads %q: a write leaked between models", i, v)
		}
	}
}
