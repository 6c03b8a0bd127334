package usptest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// resolvedPaths lists the resolved paths of each result of a GetResp, or
// "ERR <code>" for failed ones.
func resolvedPaths(m *uspmsg.Msg) [][]string {
	var out [][]string
	for _, r := range m.GetBody().GetResponse().GetGetResp().GetReqPathResults() {
		if r.GetErrCode() != 0 {
			out = append(out, []string{"ERR " + fmt.Sprint(r.GetErrCode())})
			continue
		}
		var ps []string
		for _, rp := range r.GetResolvedPathResults() {
			for k := range rp.GetResultParams() {
				ps = append(ps, rp.GetResolvedPath()+k)
			}
		}
		slices.Sort(ps)
		out = append(out, ps)
	}
	return out
}

func TestGet(t *testing.T) {
	_, c := newTestAgent(t)
	tests := []struct {
		name     string
		path     string
		maxDepth uint32
		want     []string // full parameter paths, or "ERR <text>"
		count    int      // when want is nil: number of parameters
	}{
		{name: "param", path: "Device.DeviceInfo.Manufacturer", want: []string{"Device.DeviceInfo.Manufacturer"}},
		{name: "wildcard", path: "Device.WiFi.SSID.*.SSID", want: []string{"Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.SSID"}},
		{name: "numeric search", path: "Device.WiFi.Radio.[Channel>10].Name", want: []string{"Device.WiFi.Radio.2.Name"}},
		{name: "string search", path: `Device.WiFi.SSID.[SSID=="usptest-5G"].Name`, want: []string{"Device.WiFi.SSID.2.Name"}},
		{name: "unique key", path: `Device.Hosts.Host.[PhysAddress=="02:00:00:00:bb:02"].HostName`, want: []string{"Device.Hosts.Host.2.HostName"}},
		{name: "search on sub-object", path: "Device.WiFi.Radio.[Stats.Noise<-93].Name", want: []string{"Device.WiFi.Radio.1.Name"}},
		{name: "search with && ", path: `Device.IP.Interface.[Enable==true&&Type=="Loopback"].Name`, want: []string{"Device.IP.Interface.1.Name"}},
		{name: "search through reference", path: `Device.WiFi.AccessPoint.[SSIDReference+.SSID=="usptest"].Alias`, want: []string{"Device.WiFi.AccessPoint.1.Alias"}},
		{name: "search matching nothing", path: "Device.WiFi.Radio.[Channel>500].Name", want: []string{}},
		{name: "reference following", path: "Device.WiFi.AccessPoint.2.SSIDReference+.SSID", want: []string{"Device.WiFi.SSID.2.SSID"}},
		{name: "reference of every instance", path: "Device.WiFi.SSID.*.LowerLayers#1+.Name", want: []string{"Device.WiFi.Radio.1.Name", "Device.WiFi.Radio.2.Name"}},
		{name: "dangling reference", path: "Device.DeviceInfo.ActiveFirmwareImage+.Nothing", want: []string{"ERR 7026"}},
		{name: "max depth 1", path: "Device.WiFi.AccessPoint.1.", maxDepth: 1, count: 6},
		{name: "max depth 2", path: "Device.WiFi.AccessPoint.1.", maxDepth: 2, count: 6 + 3 + 3},
		{name: "unlimited depth", path: "Device.WiFi.AccessPoint.1.", count: 6 + 3 + 3},
		{name: "table path", path: "Device.WiFi.SSID.", maxDepth: 1, count: 2 * 8},
		{name: "empty table", path: "Device.LocalAgent.Request.", want: []string{}},
		{name: "write-only reads empty", path: "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", want: []string{"Device.WiFi.AccessPoint.1.Security.KeyPassphrase"}},
		{name: "missing instance", path: "Device.WiFi.SSID.9.SSID", want: []string{"ERR 7026"}},
		{name: "missing instance object", path: "Device.WiFi.SSID.9.", want: []string{"ERR 7026"}},
		{name: "missing instance after wildcard", path: "Device.WiFi.AccessPoint.*.AssociatedDevice.7.", want: []string{}},
		{name: "not in schema", path: "Device.WiFi.NoSuch", want: []string{"ERR 7026"}},
		{name: "object without dot", path: "Device.WiFi.Radio.1.Stats", want: []string{"ERR 7026"}},
		{name: "table without instance", path: "Device.WiFi.Radio.Name", want: []string{"ERR 7026"}},
		{name: "instance on single object", path: "Device.DeviceInfo.1.", want: []string{"ERR 7026"}},
		{name: "command", path: "Device.Reboot()", want: []string{"ERR 7026"}},
		{name: "placeholder", path: "Device.WiFi.SSID.{i}.SSID", want: []string{"ERR 7008"}},
		{name: "syntax", path: "Device.WiFi.SSID.[SSID==", want: []string{"ERR 7008"}},
		{name: "ordering a string", path: `Device.WiFi.SSID.[SSID>"a"].Name`, want: []string{"ERR 7008"}},
		{name: "other root", path: "Other.Thing", want: []string{"ERR 7026"}},
		{name: "empty", path: "", want: []string{"ERR 7026"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			r := c.do(msg.Get{Paths: []string{tc.path}, MaxDepth: tc.maxDepth})
			got := resolvedPaths(r)
			if len(got) != 1 {
				t.Fatalf("results %v", got)
			}
			if tc.want == nil {
				if len(got[0]) != tc.count {
					t.Errorf("%d parameters, want %d: %v", len(got[0]), tc.count, got[0])
				}
				return
			}
			if !slices.Equal(got[0], tc.want) && !(len(got[0]) == 0 && len(tc.want) == 0) {
				t.Errorf("got %v, want %v", got[0], tc.want)
			}
		})
	}
	c.t = t
	// A Get with no paths gets an empty GetResp, as from OB-USP-A.
	if r := c.do(msg.Get{}); r.GetBody().GetResponse().GetGetResp() == nil || len(resolvedPaths(r)) != 0 {
		t.Errorf("empty Get: %v", r)
	}
}

func TestGetValues(t *testing.T) {
	a, c := newTestAgent(t)
	r := c.do(msg.Get{Paths: []string{"Device.LocalAgent.Controller.1.EndpointID", "Device.WiFi.SSID.1.Stats.", "Device.LocalAgent.ControllerNumberOfEntries"}})
	v := msg.GetResp{}
	for _, res := range r.GetBody().GetResponse().GetGetResp().GetReqPathResults() {
		gr := msg.GetResult{Requested: res.GetRequestedPath()}
		for _, rp := range res.GetResolvedPathResults() {
			gr.Resolved = append(gr.Resolved, msg.Resolved{Path: rp.GetResolvedPath(), Params: rp.GetResultParams()})
		}
		v.Results = append(v.Results, gr)
	}
	vals := v.Values()
	if vals["Device.LocalAgent.Controller.1.EndpointID"] != ctrlID {
		t.Errorf("controller endpoint: %v", vals)
	}
	if vals["Device.LocalAgent.ControllerNumberOfEntries"] != "1" {
		t.Errorf("ControllerNumberOfEntries %q", vals["Device.LocalAgent.ControllerNumberOfEntries"])
	}
	if err := a.Model().Set("Device.WiFi.SSID.1.Stats.BytesSent", "1234"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Model().Get("Device.WiFi.SSID.1.Stats.BytesSent"); got != "1234" {
		t.Errorf("BytesSent %q", got)
	}
}

// setResult summarises one updated_obj_result.
func setResults(m *uspmsg.Msg) []string {
	if e := m.GetBody().GetError(); e != nil {
		s := "ERROR " + fmt.Sprint(e.GetErrCode())
		for _, p := range e.GetParamErrs() {
			s += " " + p.GetParamPath() + ":" + fmt.Sprint(p.GetErrCode())
		}
		return []string{s}
	}
	var out []string
	for _, r := range m.GetBody().GetResponse().GetSetResp().GetUpdatedObjResults() {
		st := r.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			s := "FAIL " + fmt.Sprint(f.GetErrCode())
			for _, fi := range f.GetUpdatedInstFailures() {
				for _, p := range fi.GetParamErrs() {
					s += " " + fi.GetAffectedPath() + p.GetParam() + ":" + fmt.Sprint(p.GetErrCode())
				}
			}
			out = append(out, s)
			continue
		}
		s := "OK"
		for _, u := range st.GetOperSuccess().GetUpdatedInstResults() {
			s += " " + u.GetAffectedPath() + strings.Join(keysOf(u.GetUpdatedParams()), ",")
			for _, p := range u.GetParamErrs() {
				s += " !" + p.GetParam() + ":" + fmt.Sprint(p.GetErrCode())
			}
		}
		out = append(out, s)
	}
	return out
}

func TestSet(t *testing.T) {
	a, c := newTestAgent(t)
	m := a.Model()
	tests := []struct {
		name  string
		set   msg.Set
		want  []string
		check map[string]string // values afterwards
	}{
		{
			name:  "one param",
			set:   msg.SetParams("Device.WiFi.SSID.1.", map[string]string{"SSID": "new"}),
			want:  []string{"OK Device.WiFi.SSID.1.SSID"},
			check: map[string]string{"Device.WiFi.SSID.1.SSID": "new"},
		},
		{
			name:  "wildcard",
			set:   msg.SetParams("Device.WiFi.Radio.*.", map[string]string{"TransmitPower": "50"}),
			want:  []string{"OK Device.WiFi.Radio.1.TransmitPower Device.WiFi.Radio.2.TransmitPower"},
			check: map[string]string{"Device.WiFi.Radio.1.TransmitPower": "50", "Device.WiFi.Radio.2.TransmitPower": "50"},
		},
		{
			name:  "search matching nothing",
			set:   msg.SetParams("Device.WiFi.Radio.[Channel==99].", map[string]string{"TransmitPower": "1"}),
			want:  []string{"OK"},
			check: map[string]string{"Device.WiFi.Radio.1.TransmitPower": "50"},
		},
		{
			name: "optional param fails",
			set: msg.Set{Objects: []msg.SetObject{{Path: "Device.WiFi.SSID.2.", Params: []msg.Param{
				{Name: "SSID", Value: "five", Required: true}, {Name: "Nope", Value: "x"},
			}}}},
			want:  []string{"OK Device.WiFi.SSID.2.SSID !Nope:7010"},
			check: map[string]string{"Device.WiFi.SSID.2.SSID": "five"},
		},
		{
			name:  "read-only strict",
			set:   msg.SetParams("Device.DeviceInfo.", map[string]string{"SerialNumber": "x", "ProvisioningCode": "p"}),
			want:  []string{"ERROR 7004 Device.DeviceInfo.SerialNumber:7013"},
			check: map[string]string{"Device.DeviceInfo.ProvisioningCode": ""},
		},
		{
			name:  "wrong type strict",
			set:   msg.SetParams("Device.WiFi.Radio.1.", map[string]string{"Channel": "six"}),
			want:  []string{"ERROR 7004 Device.WiFi.Radio.1.Channel:7011"},
			check: map[string]string{"Device.WiFi.Radio.1.Channel": "6"},
		},
		{
			name: "enum strict",
			set:  msg.SetParams("Device.WiFi.Radio.1.", map[string]string{"OperatingFrequencyBand": "60GHz"}),
			want: []string{"ERROR 7004 Device.WiFi.Radio.1.OperatingFrequencyBand:7012"},
		},
		{
			name: "7025",
			set:  msg.SetParams("Device.WiFi.SSID.2.", map[string]string{"Alias": "cpe-1"}),
			want: []string{"ERROR 7004 Device.WiFi.SSID.2.Alias:7025"},
		},
		{
			name: "partial: one object fails, one succeeds",
			set: msg.Set{AllowPartial: true, Objects: []msg.SetObject{
				{Path: "Device.WiFi.Radio.1.", Params: []msg.Param{{Name: "Channel", Value: "11", Required: true}}},
				{Path: "Device.WiFi.Radio.2.", Params: []msg.Param{{Name: "Channel", Value: "-1", Required: true}}},
				{Path: "Device.WiFi.Radio.7.", Params: []msg.Param{{Name: "Channel", Value: "1", Required: true}}},
				{Path: "Device.Nope.", Params: []msg.Param{{Name: "X", Value: "1", Required: true}}},
			}},
			want: []string{
				"OK Device.WiFi.Radio.1.Channel",
				"FAIL 7021 Device.WiFi.Radio.2.Channel:7011",
				"FAIL 7016",
				"FAIL 7026",
			},
			check: map[string]string{"Device.WiFi.Radio.1.Channel": "11", "Device.WiFi.Radio.2.Channel": "36"},
		},
		{
			name: "partial wildcard is atomic per object",
			set: msg.Set{AllowPartial: true, Objects: []msg.SetObject{
				{Path: "Device.WiFi.SSID.*.", Params: []msg.Param{{Name: "Alias", Value: "same", Required: true}}},
			}},
			want: []string{"FAIL 7021 Device.WiFi.SSID.2.Alias:7025"},
		},
		{
			name: "missing instance strict",
			set:  msg.SetParams("Device.WiFi.SSID.9.", map[string]string{"SSID": "x"}),
			want: []string{"ERROR 7016"},
		},
		{
			name: "table path",
			set:  msg.SetParams("Device.WiFi.SSID.", map[string]string{"SSID": "x"}),
			want: []string{"ERROR 7026"},
		},
		{
			name: "parameter path",
			set:  msg.SetParams("Device.WiFi.SSID.1.SSID", map[string]string{"SSID": "x"}),
			want: []string{"ERROR 7026"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			got := setResults(c.do(tc.set))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			for p, want := range tc.check {
				if v, err := m.Get(p); err != nil || v != want {
					t.Errorf("%s = %q (%v), want %q", p, v, err, want)
				}
			}
		})
	}
}

// addResults summarises an AddResp or Error.
func addResults(m *uspmsg.Msg) []string {
	if e := m.GetBody().GetError(); e != nil {
		s := "ERROR " + fmt.Sprint(e.GetErrCode())
		for _, p := range e.GetParamErrs() {
			s += " " + p.GetParamPath() + ":" + fmt.Sprint(p.GetErrCode())
		}
		return []string{s}
	}
	var out []string
	for _, r := range m.GetBody().GetResponse().GetAddResp().GetCreatedObjResults() {
		st := r.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			out = append(out, "FAIL "+fmt.Sprint(f.GetErrCode()))
			continue
		}
		s := st.GetOperSuccess()
		line := s.GetInstantiatedPath() + " " + strings.Join(keysOf(s.GetUniqueKeys()), ",")
		for _, p := range s.GetParamErrs() {
			line += " !" + p.GetParam() + ":" + fmt.Sprint(p.GetErrCode())
		}
		out = append(out, line)
	}
	return out
}

func TestAdd(t *testing.T) {
	a, c := newTestAgent(t)
	m := a.Model()
	host := func(mac string) msg.AddObject {
		return msg.AddObject{Path: "Device.WiFi.SSID.", Params: []msg.Param{{Name: "SSID", Value: mac, Required: true}}}
	}
	tests := []struct {
		name string
		add  msg.Add
		want []string
		// instances of Device.WiFi.SSID. afterwards
		ssids int
	}{
		{name: "one", add: msg.Add{Objects: []msg.AddObject{host("a")}}, want: []string{"Device.WiFi.SSID.3. Alias,Name"}, ssids: 3},
		{
			name: "strict failure undoes earlier objects",
			add: msg.Add{Objects: []msg.AddObject{host("b"), {Path: "Device.WiFi.SSID.", Params: []msg.Param{
				{Name: "Enable", Value: "maybe", Required: true}}}}},
			want:  []string{"ERROR 7004 Device.WiFi.SSID.{i}.Enable:7011"},
			ssids: 3,
		},
		{
			name:  "numbers are not consumed by failures",
			add:   msg.Add{Objects: []msg.AddObject{host("c")}},
			want:  []string{"Device.WiFi.SSID.4. Alias,Name"},
			ssids: 4,
		},
		{
			name: "partial",
			add: msg.Add{AllowPartial: true, Objects: []msg.AddObject{
				{Path: "Device.WiFi.SSID.", Params: []msg.Param{{Name: "Alias", Value: "cpe-1", Required: true}}},
				host("d"),
				{Path: "Device.DeviceInfo."},
				{Path: "Device.WiFi.Radio."},
				{Path: "Device.Nope."},
			}},
			want:  []string{"FAIL 7025", "Device.WiFi.SSID.5. Alias,Name", "FAIL 7018", "FAIL 7019", "FAIL 7026"},
			ssids: 5,
		},
		{
			name: "optional param errors",
			add: msg.Add{Objects: []msg.AddObject{{Path: "Device.WiFi.SSID.", Params: []msg.Param{
				{Name: "Nope", Value: "x"}, {Name: "Name", Value: "x"}, {Name: "SSID", Value: "e", Required: true}}}}},
			want:  []string{"Device.WiFi.SSID.6. Alias,Name !Nope:7010 !Name:7013"},
			ssids: 6,
		},
		{
			name:  "not a table strict",
			add:   msg.Add{Objects: []msg.AddObject{{Path: "Device.DeviceInfo."}}},
			want:  []string{"ERROR 7004 Device.DeviceInfo.:7018"},
			ssids: 6,
		},
		{
			name:  "nested table under search",
			add:   msg.Add{Objects: []msg.AddObject{{Path: `Device.IP.Interface.[Name=="br-lan"].IPv4Address.`, Params: []msg.Param{{Name: "IPAddress", Value: "10.0.0.1", Required: true}}}}},
			want:  []string{"Device.IP.Interface.2.IPv4Address.2. Alias,IPAddress,SubnetMask"},
			ssids: 6,
		},
		{
			name: "nested table of a missing parent",
			add:  msg.Add{Objects: []msg.AddObject{{Path: "Device.IP.Interface.9.IPv4Address."}}},
			// TP-469 1.4: the failed object path is in param_errs.
			want:  []string{"ERROR 7016 Device.IP.Interface.9.IPv4Address.:7016"},
			ssids: 6,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			got := addResults(c.do(tc.add))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if insts, _ := m.Instances("Device.WiFi.SSID."); len(insts) != tc.ssids {
				t.Errorf("%d SSIDs: %v", len(insts), insts)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	a, c := newTestAgent(t)
	m := a.Model()
	del := func(partial bool, paths ...string) []string {
		r := c.do(msg.Delete{AllowPartial: partial, Paths: paths})
		if e := r.GetBody().GetError(); e != nil {
			s := "ERROR " + fmt.Sprint(e.GetErrCode())
			for _, p := range e.GetParamErrs() {
				s += " " + p.GetParamPath() + ":" + fmt.Sprint(p.GetErrCode())
			}
			return []string{s}
		}
		var out []string
		for _, res := range r.GetBody().GetResponse().GetDeleteResp().GetDeletedObjResults() {
			if f := res.GetOperStatus().GetOperFailure(); f != nil {
				out = append(out, "FAIL "+fmt.Sprint(f.GetErrCode()))
				continue
			}
			out = append(out, "OK "+strings.Join(res.GetOperStatus().GetOperSuccess().GetAffectedPaths(), ","))
		}
		return out
	}
	tests := []struct {
		name    string
		partial bool
		paths   []string
		want    []string
	}{
		{name: "missing instance", paths: []string{"Device.WiFi.SSID.9."}, want: []string{"OK "}},
		{name: "strict failure deletes nothing", paths: []string{"Device.WiFi.SSID.1.", "Device.DeviceInfo."},
			want: []string{"ERROR 7004 Device.DeviceInfo.:7019"}},
		{name: "read-only table", paths: []string{"Device.Hosts.Host.1."},
			want: []string{"ERROR 7004 Device.Hosts.Host.1.:7024"}},
		{name: "partial", partial: true, paths: []string{"Device.Nope.1.", "Device.DeviceInfo.", "Device.WiFi.SSID.[Name==\"ssid1\"]."},
			want: []string{"FAIL 7026", "FAIL 7019", "OK Device.WiFi.SSID.2."}},
		{name: "nested instance and its parent", paths: []string{"Device.IP.Interface.2.IPv4Address.1.", "Device.IP.Interface.*."},
			want: []string{"OK Device.IP.Interface.2.IPv4Address.1.", "OK Device.IP.Interface.1.,Device.IP.Interface.2."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			if got := del(tc.partial, tc.paths...); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	c.t = t
	if insts, _ := m.Instances("Device.WiFi.SSID."); !slices.Equal(insts, []string{"Device.WiFi.SSID.1."}) {
		t.Errorf("SSIDs %v", insts)
	}
	if _, err := m.Get("Device.IP.Interface.2.IPv4Address.1.IPAddress"); !msg.ErrObjectNotFound.Is(err.(*msg.Error)) {
		t.Errorf("deleted nested instance: %v", err)
	}
}

func TestGetInstances(t *testing.T) {
	_, c := newTestAgent(t)
	tests := []struct {
		path  string
		first bool
		want  []string
	}{
		{path: "Device.WiFi.SSID.", first: true, want: []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.2."}},
		{path: "Device.WiFi.AccessPoint.", want: []string{"Device.WiFi.AccessPoint.1.", "Device.WiFi.AccessPoint.1.AssociatedDevice.1.", "Device.WiFi.AccessPoint.2."}},
		{path: "Device.WiFi.AccessPoint.", first: true, want: []string{"Device.WiFi.AccessPoint.1.", "Device.WiFi.AccessPoint.2."}},
		{path: "Device.WiFi.AccessPoint.1.", first: true, want: []string{"Device.WiFi.AccessPoint.1.", "Device.WiFi.AccessPoint.1.AssociatedDevice.1."}},
		{path: "Device.IP.", first: true, want: []string{"Device.IP.Interface.1.", "Device.IP.Interface.2."}},
		{path: "Device.DeviceInfo.FirmwareImage.*.", want: []string{"Device.DeviceInfo.FirmwareImage.1.", "Device.DeviceInfo.FirmwareImage.2."}},
		{path: "Device.LocalAgent.Request.", want: nil},
		{path: "Device.Nope.", want: []string{"ERR 7026"}},
		{path: "Device.WiFi.SSID.3.", want: []string{"ERR 7026"}},
		{path: "Device.WiFi.SSID.1.SSID", want: []string{"ERR 7026"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			c.t = t
			r := c.do(msg.GetInstances{Paths: []string{tc.path}, FirstLevelOnly: tc.first})
			res := r.GetBody().GetResponse().GetGetInstancesResp().GetReqPathResults()
			if len(res) != 1 {
				t.Fatalf("%v", r)
			}
			var got []string
			if res[0].GetErrCode() != 0 {
				got = []string{fmt.Sprintf("ERR %d", res[0].GetErrCode())}
			}
			for _, in := range res[0].GetCurrInsts() {
				got = append(got, in.GetInstantiatedObjPath())
				if len(in.GetUniqueKeys()) == 0 {
					t.Errorf("%s has no unique keys", in.GetInstantiatedObjPath())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGetSupportedDM(t *testing.T) {
	_, c := newTestAgent(t)
	r := c.do(msg.GetSupportedDM{Paths: []string{"Device.WiFi.", "Device.IP.Interface.2.", "Device.WiFi.SSID.1.SSID", "Device.Nope.", ""},
		ReturnCommands: true, ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true})
	res := r.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults()
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	var wifi []string
	for _, o := range res[0].GetSupportedObjs() {
		wifi = append(wifi, o.GetSupportedObjPath())
	}
	want := []string{"Device.WiFi.", "Device.WiFi.Radio.{i}.", "Device.WiFi.Radio.{i}.Stats.", "Device.WiFi.SSID.{i}.", "Device.WiFi.SSID.{i}.Stats.",
		"Device.WiFi.AccessPoint.{i}.", "Device.WiFi.AccessPoint.{i}.Security.", "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}."}
	if !slices.Equal(wifi, want) {
		t.Errorf("objects %v", wifi)
	}
	root := res[0].GetSupportedObjs()[0]
	if len(root.GetSupportedCommands()) != 1 || root.GetSupportedCommands()[0].GetCommandType() != uspmsg.GetSupportedDMResp_CMD_ASYNC {
		t.Errorf("WiFi commands %v", root.GetSupportedCommands())
	}
	ssid := res[0].GetSupportedObjs()[3]
	if !ssid.GetIsMultiInstance() || ssid.GetAccess() != uspmsg.GetSupportedDMResp_OBJ_ADD_DELETE || len(ssid.GetUniqueKeySets()) != 2 {
		t.Errorf("SSID %v", ssid)
	}
	if o := res[1].GetSupportedObjs(); len(o) != 2 || o[0].GetSupportedObjPath() != "Device.IP.Interface.{i}." {
		t.Errorf("instance path: %v", o)
	}
	// USP 1.4 (TP-469 1.107): a parameter path gives its object with only
	// that parameter.
	if o := res[2].GetSupportedObjs(); res[2].GetErrCode() != 0 || len(o) != 1 || o[0].GetSupportedObjPath() != "Device.WiFi.SSID.{i}." ||
		len(o[0].GetSupportedParams()) != 1 || o[0].GetSupportedParams()[0].GetParamName() != "SSID" || len(o[0].GetUniqueKeySets()) != 0 {
		t.Errorf("parameter path: %d %v", res[2].GetErrCode(), o)
	}
	for i, code := range []uint32{7026, 7026} {
		if res[3+i].GetErrCode() != code {
			t.Errorf("result %d: %d", 3+i, res[3+i].GetErrCode())
		}
	}
	// Flags off: objects only.
	r = c.do(msg.GetSupportedDM{Paths: []string{"Device.LocalAgent."}, FirstLevelOnly: true})
	objs := r.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults()[0].GetSupportedObjs()
	// LocalAgent. itself and its five tables (Certificate. among them).
	if len(objs) != 6 {
		t.Errorf("first level of LocalAgent: %d objects", len(objs))
	}
	for _, o := range objs {
		if len(o.GetSupportedParams())+len(o.GetSupportedCommands())+len(o.GetSupportedEvents())+len(o.GetUniqueKeySets()) != 0 {
			t.Errorf("%s has details without flags", o.GetSupportedObjPath())
		}
	}
}

func TestGetSupportedProtocolAndRefusals(t *testing.T) {
	_, c := newTestAgent(t, WithSupportedVersions("1.2,1.3,1.4"))
	r := c.do(msg.GetSupportedProtocol{Versions: "1.3,1.4"})
	if v := r.GetBody().GetResponse().GetGetSupportedProtocolResp().GetAgentSupportedProtocolVersions(); v != "1.2,1.3,1.4" {
		t.Errorf("versions %q", v)
	}
	for _, req := range []msg.Request{
		msg.Notify{SubscriptionID: "x", Notification: &msg.ValueChange{ParamPath: "Device.X", ParamValue: "1"}},
		msg.Register{Paths: []string{"Device.Service."}},
		msg.Deregister{Paths: []string{""}},
	} {
		r := c.do(req)
		if code := r.GetBody().GetError().GetErrCode(); code != uint32(msg.CodeRequestDenied) {
			t.Errorf("%v: error %d", req.MsgType(), code)
		}
	}
	// A header that disagrees with the body.
	m := msg.Get{Paths: []string{"Device."}}.Build("mismatch")
	m.Header.MsgType = uspmsg.Header_ADD
	if code := c.doID("mismatch", m).GetBody().GetError().GetErrCode(); code != uint32(msg.CodeNotSupported) {
		t.Errorf("mismatch: %d", code)
	}
}
