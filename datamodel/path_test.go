package datamodel

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gousp/gousp/usperr"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in    string
		kind  PathKind
		segs  []string // segment texts
		leaf  string
		obj   string
		canon string // "" means in == canonical
	}{
		{"Device.", KindObject, []string{"Device"}, "", "Device.", ""},
		{"Device.WiFi.SSID.", KindObject, []string{"Device", "WiFi", "SSID"}, "", "Device.WiFi.SSID.", ""},
		{"Device.WiFi.SSID.2.", KindInstance, []string{"Device", "WiFi", "SSID", "2"}, "", "Device.WiFi.SSID.2.", ""},
		{"Device.WiFi.SSID.2.SSID", KindParam, []string{"Device", "WiFi", "SSID", "2", "SSID"}, "SSID", "Device.WiFi.SSID.2.", ""},
		{"Device.Reboot()", KindCommand, []string{"Device", "Reboot"}, "Reboot()", "Device.", ""},
		{"Device.Boot!", KindEvent, []string{"Device", "Boot"}, "Boot!", "Device.", ""},
		{"Device.IP.Interface.*.Type", KindParam, []string{"Device", "IP", "Interface", "*", "Type"}, "Type", "Device.IP.Interface.*.", ""},
		{"Device.IP.Interface.*.", KindInstance, []string{"Device", "IP", "Interface", "*"}, "", "Device.IP.Interface.*.", ""},
		{"Device.LocalAgent.Controller.{i}.", KindInstance, []string{"Device", "LocalAgent", "Controller", "{i}"}, "", "Device.LocalAgent.Controller.{i}.", ""},
		{"Device.LocalAgent.Controller.{i}.EndpointID", KindParam, []string{"Device", "LocalAgent", "Controller", "{i}", "EndpointID"}, "EndpointID", "Device.LocalAgent.Controller.{i}.", ""},
		{`Device.WiFi.SSID.[Alias=="cpe-1"].SSID`, KindParam, []string{"Device", "WiFi", "SSID", `[Alias=="cpe-1"]`, "SSID"}, "SSID", `Device.WiFi.SSID.[Alias=="cpe-1"].`, ""},
		{`Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`, KindInstance, []string{"Device", "NAT", "PortMapping", `[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"]`}, "", "", ""},
		{`Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].IPv4Address.[AddressingType=="Static"].IPAddress`, KindParam, nil, "IPAddress", "", ""},
		{`Device.IP.Interface.*.IPv6Address.[ValidLifetime<2021-06-06T08:00:00Z].IPAddress`, KindParam, nil, "IPAddress", "", ""},
		{`Device.USB.USBHosts.Host.*.Device.[DeviceClass==08].`, KindInstance, nil, "", "", ""},
		{`Device.PCP.Client.*.Server.[Capabilities~="IPv6Firewall"].`, KindInstance, nil, "", "", ""},
		{`Device.PeriodicStatistics.SampleSet.[SampleSeconds~=5].`, KindInstance, nil, "", "", ""},
		{`Device.DSL.Line.[Enable==1].CurrentProfile`, KindParam, nil, "CurrentProfile", "", ""},
		{"Device.NAT.PortMapping.1.Interface+.Name", KindParam, []string{"Device", "NAT", "PortMapping", "1", "Interface+", "Name"}, "Name", "Device.NAT.PortMapping.1.Interface+.", ""},
		{"Device.WiFi.SSID.1.LowerLayers#1+.Name", KindParam, []string{"Device", "WiFi", "SSID", "1", "LowerLayers#1+", "Name"}, "Name", "", ""},
		{"Device.WiFi.SSID.1.LowerLayers#*+.", KindObject, []string{"Device", "WiFi", "SSID", "1", "LowerLayers#*+"}, "", "", ""},
		{`Device.WiFi.AccessPoint.[SSIDReference+.SSID=="MyHome"].AssociatedDevice.[OperatingStandard=="ac"].SignalStrength`, KindParam, nil, "SignalStrength", "", ""},
		{`Device.IP.Interface.[Name=="eth0"].Reset()`, KindCommand, nil, "Reset()", `Device.IP.Interface.[Name=="eth0"].`, ""},
		{"Device.SelfTestDiagnostics.X_ARRIS-COM_TestNumber", KindParam, nil, "X_ARRIS-COM_TestNumber", "", ""},
		{"Device.LocalAgent.Controller.4294967295.", KindInstance, nil, "", "", ""},
		// Whitespace around operators is tolerated and dropped.
		{`Device.IP.Interface.[ Type == "Normal" && Enable==true ].Status`, KindParam, nil, "Status", "", `Device.IP.Interface.[Type=="Normal"&&Enable==true].Status`},
		// Escapes: %22 and %25 stay, other escapes are decoded.
		{`Device.X.[A=="a%22b%25c"].`, KindInstance, nil, "", "", ""},
		{`Device.X.[A=="%41"].`, KindInstance, nil, "", "", `Device.X.[A=="A"].`},
		{`Device.X.[A=="]."].B`, KindParam, nil, "B", `Device.X.[A=="]."].`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := tt.canon
			if want == "" {
				want = tt.in
			}
			if p.String() != want {
				t.Errorf("String = %q, want %q", p.String(), want)
			}
			if p.Kind() != tt.kind {
				t.Errorf("Kind = %v, want %v", p.Kind(), tt.kind)
			}
			if tt.segs != nil {
				var got []string
				for _, s := range p.Segments() {
					got = append(got, s.String())
				}
				if !slices.Equal(got, tt.segs) {
					t.Errorf("segments = %q, want %q", got, tt.segs)
				}
			}
			if p.Leaf() != tt.leaf {
				t.Errorf("Leaf = %q, want %q", p.Leaf(), tt.leaf)
			}
			if tt.obj != "" && p.Object().String() != tt.obj {
				t.Errorf("Object = %q, want %q", p.Object(), tt.obj)
			}
			// The canonical form parses to the same canonical form.
			q, err := Parse(p.String())
			if err != nil || q.String() != p.String() {
				t.Errorf("reparse of %q: %v, %q", p, err, q)
			}
			checkOffsets(t, p)
		})
	}
}

// checkOffsets verifies the recorded segment ends against a fresh formatting.
func checkOffsets(t *testing.T, p Path) {
	t.Helper()
	segs := p.Segments()
	if s := format(segs, p.Kind()); s != p.String() {
		t.Errorf("format = %q, String = %q", s, p.String())
	}
	for i := range segs {
		if segs[i].end != p.segs[i].end {
			t.Errorf("segment %d end = %d, want %d", i, p.segs[i].end, segs[i].end)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		in  string
		pos int
		msg string // substring of the error message
	}{
		{"", 0, "empty path"},
		{".Device", 0, "cannot start with '.'"},
		{"Device..WiFi", 7, "empty name"},
		{"Device.WiFi..", 12, "empty name"},
		{"1.Device", 0, "must start with a name"},
		{"Device.1.", 7, ""},
		{"Device.WiFi.SSID.0.", 17, "positive number"},
		{"Device.WiFi.SSID.01.", 17, "positive number"},
		{"Device.WiFi.SSID.4294967296.", 17, "too large"},
		{"Device.WiFi.SSID.1.2.", 19, "two instance identifiers"},
		{"Device.WiFi.SSID.1", 18, "followed by '.'"},
		{"Device.WiFi.SSID.*", 18, "followed by '.'"},
		{"Device.WiFi.SSID.1a.", 18, "after an instance identifier"},
		{"Device.WiFi.SSID.{j}.", 17, "{i}"},
		{"Device.Reboot(", 13, "\"()\""},
		{"Device.Reboot().", 15, "after \"()\""},
		{"Device.Boot!.", 12, "after '!'"},
		{"Device.Wi Fi.", 9, "in a name"},
		{"Device.WiFi/SSID", 11, "in a name"},
		{"Device.X+", 9, "followed by '.'"},
		{"Device.X+Y", 9, "followed by '.'"},
		{"Device.X#2.", 10, "'+'"},
		{"Device.X#0+.", 9, "positive number"},
		{"Device.X#*.", 10, "'+' after '#*'"},
		{"Device.X+.1.", 10, "cannot follow a reference"},
		{"Device.X+()", 9, "command"},
		{"Device.LocalAgent.Controller.[Enable==true.EndpointID", 29, "unterminated"},
		{"Device.X.[].", 9, "empty search expression"},
		{"Device.X.[A=1].", 11, "'=='"},
		{"Device.X.[A==].", 13, "missing constant"},
		{"Device.X.[A==\"x].", 13, "unterminated string"},
		{"Device.X.[A==\"a%2\"].", 15, "escape"},
		{"Device.X.[A==\"%zz\"].", 14, "escape"},
		{"Device.X.[A==1||B==2].", 14, "'||'"},
		{"Device.X.[A==1&B==2].", 14, "'&&' or ']'"},
		{"Device.X.[A==x y].", 15, "'&&' or ']'"},
		{"Device.X.[==1].", 10, "parameter name"},
		{"Device.X.[A==a(b)].", 14, "double-quoted"},
		{"Device.X.[Y.*.Z==1].", 12, "descend into a table"},
		{"Device.X.[Y+==1].", 12, "must end with a parameter name"},
		{"Device.X.[A==1]Y.", 15, "after an instance identifier"},
		{"Device.IP.Interface.{Type==\"Normal\"}.Status", 20, "{i}"},
		{"Device.X.[A==1].[B==1].", 16, "two instance identifiers"},
		{"Device.X.\x00", 9, "byte 0x0"},
		{"A", 1, "object name followed by '.'"},
		{"Reboot()", 6, "object name followed by '.'"},
		{"Boot!", 4, "object name followed by '.'"},
		{"Device+.X", 6, "object name followed by '.'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error", tt.in, p)
			}
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *PathError", err)
			}
			if pe.Code != CodeInvalidPathSyntax || !errors.Is(err, ErrInvalidPathSyntax) {
				t.Errorf("code = %d, want 7008", pe.Code)
			}
			if pe.Pos != tt.pos {
				t.Errorf("Pos = %d, want %d (%v)", pe.Pos, tt.pos, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if !p.IsZero() {
				t.Errorf("failed Parse returned non-zero Path %q", p)
			}
		})
	}
}

func TestPathErrorMessage(t *testing.T) {
	_, err := Parse("Device..X")
	want := `datamodel: invalid path syntax at offset 7 in "Device..X": empty name between two dots`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestPathParts(t *testing.T) {
	p := MustParse("Device.LocalAgent.Controller.2.MTP.1.MQTT.Topic")
	obj, leaf := p.Split()
	if obj.String() != "Device.LocalAgent.Controller.2.MTP.1.MQTT." || leaf != "Topic" {
		t.Errorf("Split = %q, %q", obj, leaf)
	}
	if obj.Kind() != KindObject {
		t.Errorf("object kind = %v", obj.Kind())
	}
	table, inst, ok := p.LastInstance()
	if !ok || table.String() != "Device.LocalAgent.Controller.2.MTP." || inst.Kind != SegInstance || inst.Instance != 1 {
		t.Errorf("LastInstance = %q, %v, %v", table, inst, ok)
	}
	nums, ok := p.InstanceNumbers()
	if !ok || !slices.Equal(nums, []uint32{2, 1}) {
		t.Errorf("InstanceNumbers = %v, %v", nums, ok)
	}
	if got := p.SupportedPath(); got != "Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.Topic" {
		t.Errorf("SupportedPath = %q", got)
	}
	if !p.IsConcrete() || p.IsSearch() || p.HasRefFollow() || p.HasPlaceholder() {
		t.Errorf("classification wrong for %q", p)
	}
	var chain []string
	for q := p; !q.IsZero(); q = q.Parent() {
		chain = append(chain, q.String())
	}
	want := []string{
		"Device.LocalAgent.Controller.2.MTP.1.MQTT.Topic",
		"Device.LocalAgent.Controller.2.MTP.1.MQTT.",
		"Device.LocalAgent.Controller.2.MTP.1.",
		"Device.LocalAgent.Controller.2.MTP.",
		"Device.LocalAgent.Controller.2.",
		"Device.LocalAgent.Controller.",
		"Device.LocalAgent.",
		"Device.",
	}
	if !slices.Equal(chain, want) {
		t.Errorf("Parent chain = %q", chain)
	}
	if k := MustParse("Device.LocalAgent.Controller.2.").Kind(); k != KindInstance {
		t.Errorf("kind = %v", k)
	}
	if _, _, ok := MustParse("Device.DeviceInfo.").LastInstance(); ok {
		t.Error("LastInstance found an instance in Device.DeviceInfo.")
	}

	s := MustParse(`Device.WiFi.SSID.[Alias=="a"].LowerLayers#2+.Name`)
	if s.IsConcrete() || !s.IsSearch() || !s.HasRefFollow() {
		t.Errorf("classification wrong for %q", s)
	}
	if got := s.SupportedPath(); got != "Device.WiFi.SSID.{i}.LowerLayers#2+.Name" {
		t.Errorf("SupportedPath = %q", got)
	}
	if _, ok := s.InstanceNumbers(); ok {
		t.Error("InstanceNumbers ok for a search path")
	}
	if seg := s.Segment(4); seg.Ref != RefIndex || seg.RefIndex != 2 || seg.Name != "LowerLayers" {
		t.Errorf("segment 4 = %+v", seg)
	}
	sup := MustParse("Device.WiFi.SSID.{i}.SSID")
	if !sup.HasPlaceholder() || sup.SupportedPath() != sup.String() {
		t.Errorf("placeholder path %q", sup)
	}
}

func TestPathText(t *testing.T) {
	var p Path
	if err := p.UnmarshalText([]byte("Device.WiFi.")); err != nil {
		t.Fatal(err)
	}
	b, _ := p.MarshalText()
	if string(b) != "Device.WiFi." || !p.Equal(MustParse("Device.WiFi.")) {
		t.Errorf("text round trip = %q", b)
	}
	if err := p.UnmarshalText([]byte("Device..")); err == nil {
		t.Error("UnmarshalText accepted a bad path")
	}
}

func TestErrorCode(t *testing.T) {
	_, perr := Parse("Device..")
	_, verr := ParseInt("x")
	tests := []struct {
		err  error
		code usperr.Code
		ok   bool
	}{
		{perr, 7008, true},
		{verr, 7011, true},
		{errors.Join(errors.New("other"), verr), 7011, true},
		{ErrInvalidPath, 7026, true},
		{&PathError{Code: 7013, Err: verr}, 7013, true},
		{errors.New("other"), 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		if code, ok := ErrorCode(tt.err); code != tt.code || ok != tt.ok {
			t.Errorf("ErrorCode(%v) = %d, %v; want %d, %v", tt.err, code, ok, tt.code, tt.ok)
		}
	}
	pe := &PathError{Path: "Device.X", Pos: -1, Code: 7999, Msg: "vendor"}
	if pe.Error() != `datamodel: error 7999 in "Device.X": vendor` || len(pe.Unwrap()) != 0 {
		t.Errorf("unknown code: %q", pe.Error())
	}
	if !errors.Is(&PathError{Code: 7013, Err: verr}, ErrInvalidType) || !errors.Is(&PathError{Code: 7013}, ErrParamReadOnly) {
		t.Error("PathError does not unwrap to its sentinel and its cause")
	}
}

func TestStringers(t *testing.T) {
	got := []string{
		SegName.String(), SegInstance.String(), SegWildcard.String(), SegExpr.String(), SegPlaceholder.String(), SegmentKind(9).String(),
		KindObject.String(), KindInstance.String(), KindParam.String(), KindCommand.String(), KindEvent.String(), PathKind(9).String(),
		Op(9).String(), ObjectAccess(9).String(), ParamAccess(9).String(), ValueChange(9).String(), CommandType(9).String(),
		ErrInvalidPathSyntax.Error(), ErrDeleteFailure.Error(),
	}
	want := []string{
		"name", "instance", "wildcard", "expression", "placeholder", "SegmentKind(9)",
		"object", "object instance", "parameter", "command", "event", "PathKind(9)",
		"Op(9)", "ObjectAccess(9)", "ParamAccess(9)", "ValueChange(9)", "CommandType(9)",
		"datamodel: invalid path syntax", "datamodel: object cannot be deleted",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, s := range sentinels {
		if code, ok := ErrorCode(s); !ok || code != s.code || sentinelFor(code) != s {
			t.Errorf("sentinel %v: code %d", s, code)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse did not panic on a bad path")
		}
	}()
	MustParse("Device..")
}
