package datamodel

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBuilder(t *testing.T) {
	ssid := Obj("Device", "WiFi", "SSID")
	must := func(p Path, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		// Every built path parses back to itself.
		if q, err := Parse(p.String()); err != nil || q.String() != p.String() || q.Kind() != p.Kind() {
			t.Fatalf("built %q does not reparse: %v %v", p, err, q.Kind())
		}
		return p.String()
	}
	tests := []struct {
		got, want string
	}{
		{must(ssid.Instance(2).Param("SSID")), "Device.WiFi.SSID.2.SSID"},
		{must(ssid.Key("Alias", "cpe-1").Param("SSID")), `Device.WiFi.SSID.[Alias=="cpe-1"].SSID`},
		{must(ssid.Path()), "Device.WiFi.SSID."},
		{must(ssid.All().Path()), "Device.WiFi.SSID.*."},
		{must(ssid.Placeholder().Param("SSID")), "Device.WiFi.SSID.{i}.SSID"},
		{must(Obj("Device", "NAT", "PortMapping").Key("RemoteHost", "").Key("ExternalPort", 0).Key("Protocol", "TCP").Path()),
			`Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`},
		{must(Obj("Device", "IP", "Interface").Where(Eq("Type", "Normal"), Gt("Stats.ErrorsSent", 0)).Obj("IPv4Address").Where(Eq("AddressingType", "Static")).Param("IPAddress")),
			`Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].IPv4Address.[AddressingType=="Static"].IPAddress`},
		{must(Obj("Device", "DSL", "Line").Where(Eq("Enable", true)).Param("CurrentProfile")), "Device.DSL.Line.[Enable==true].CurrentProfile"},
		{must(Obj("Device", "X").Where(Lt("T", time.Date(2021, 6, 6, 8, 0, 0, 0, time.UTC)), Ne("U", uint64(1)<<63), Le("D", 1.5), Ge("N", -3), Contains("L", 5)).Path()),
			"Device.X.[T<2021-06-06T08:00:00Z&&U!=9223372036854775808&&D<=1.5&&N>=-3&&L~=5]."},
		{must(Obj("Device", "X").Key("A", `say "hi" 100%`).Path()), `Device.X.[A=="say %22hi%22 100%25"].`},
		{must(Obj("Device", "NAT", "PortMapping").Instance(1).Follow("Interface").Param("Name")), "Device.NAT.PortMapping.1.Interface+.Name"},
		{must(ssid.Instance(1).FollowItem("LowerLayers", 1).Param("Name")), "Device.WiFi.SSID.1.LowerLayers#1+.Name"},
		{must(ssid.Instance(1).FollowAll("LowerLayers").Path()), "Device.WiFi.SSID.1.LowerLayers#*+."},
		{must(Obj("Device").Command("Reboot")), "Device.Reboot()"},
		{must(Obj("Device").Command("Reboot()")), "Device.Reboot()"},
		{must(Obj("Device").Event("Boot!")), "Device.Boot!"},
		{must(MustParse("Device.LocalAgent.Controller.").Extend().Instance(3).Param("Alias")), "Device.LocalAgent.Controller.3.Alias"},
		{must(Obj("Device", "SelfTestDiagnostics").Param("X_ARRIS-COM_TestNumber")), "Device.SelfTestDiagnostics.X_ARRIS-COM_TestNumber"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("built %q, want %q", tt.got, tt.want)
		}
	}

	// A Builder can be extended in several directions without interference.
	base := Obj("Device", "WiFi")
	a, _ := base.Obj("SSID").Instance(1).Path()
	b, _ := base.Obj("Radio").Instance(2).Path()
	c, _ := base.Path()
	if a.String() != "Device.WiFi.SSID.1." || b.String() != "Device.WiFi.Radio.2." || c.String() != "Device.WiFi." {
		t.Errorf("branches interfere: %q %q %q", a, b, c)
	}
	k := ssid.Key("A", "1")
	k1, _ := k.Key("B", "2").Path()
	k2, _ := k.Key("C", "3").Path()
	if k1.String() != `Device.WiFi.SSID.[A=="1"&&B=="2"].` || k2.String() != `Device.WiFi.SSID.[A=="1"&&C=="3"].` {
		t.Errorf("expression branches interfere: %q %q", k1, k2)
	}
}

func TestBuilderErrors(t *testing.T) {
	tests := []struct {
		name string
		b    func() (Path, error)
		msg  string
	}{
		{"empty", func() (Path, error) { return Builder{}.Path() }, "empty path"},
		{"bad name", func() (Path, error) { return Obj("Device", "Wi Fi").Path() }, "unexpected ' '"},
		{"empty name", func() (Path, error) { return Obj("Device", "").Path() }, "empty name"},
		{"digit name", func() (Path, error) { return Obj("Device", "1x").Path() }, "must start with a letter"},
		{"instance 0", func() (Path, error) { return Obj("Device", "X").Instance(0).Path() }, "start at 1"},
		{"root instance", func() (Path, error) { return Obj("Device").Instance(1).Path() }, "root object is not a table"},
		{"start instance", func() (Path, error) { return Builder{}.All().Path() }, "must start with a name"},
		{"double instance", func() (Path, error) { return Obj("Device", "X").Instance(1).All().Path() }, "two instance identifiers"},
		{"instance after ref", func() (Path, error) { return Obj("Device", "X").Instance(1).Follow("R").Instance(1).Path() }, "cannot follow a reference"},
		{"bad value type", func() (Path, error) { return Obj("Device", "X").Key("A", struct{}{}).Path() }, "cannot format"},
		{"bad key param", func() (Path, error) { return Obj("Device", "X").Key("A.*.B", 1).Path() }, "descend into a table"},
		{"empty where", func() (Path, error) { return Obj("Device", "X").Where().Path() }, "empty search expression"},
		{"bad op", func() (Path, error) { return Obj("Device", "X").Where(Cond{Param: "A", Value: "1"}).Path() }, "no valid operator"},
		{"bare value", func() (Path, error) {
			return Obj("Device", "X").Where(Cond{Param: "A", Op: OpEq, Value: "a b"}).Path()
		}, "quote strings"},
		{"constant joins operator", func() (Path, error) {
			return Obj("Device", "X").Where(Cond{Param: "A", Op: OpLt, Value: "=5"}).Path()
		}, "starts with '='"},
		{"bad param", func() (Path, error) { return Obj("Device").Param("a.b") }, "unexpected '.'"},
		{"bad command", func() (Path, error) { return Obj("Device").Command("Re boot()") }, "unexpected ' '"},
		{"leaf only", func() (Path, error) { return Builder{}.Param("X") }, "must start with an object name"},
		{"list 0", func() (Path, error) { return Obj("Device", "X").Instance(1).FollowItem("L", 0).Path() }, "start at 1"},
		{"extend param", func() (Path, error) { return MustParse("Device.X").Extend().Path() }, "cannot extend a parameter path"},
		{"extend zero", func() (Path, error) { return Path{}.Extend().Path() }, "cannot extend the empty path"},
		{"first error wins", func() (Path, error) { return Obj("Device", "X").Instance(0).Obj("?").Path() }, "start at 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.b()
			if err == nil {
				t.Fatalf("built %q, want error", p)
			}
			if !errors.Is(err, ErrInvalidPathSyntax) {
				t.Errorf("error %v is not ErrInvalidPathSyntax", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if !p.IsZero() {
				t.Errorf("failed build returned %q", p)
			}
		})
	}
	if err := Obj("Device", "X").Instance(0).Err(); err == nil {
		t.Error("Err() = nil after a bad step")
	}
}

func TestBuilderFollowErrors(t *testing.T) {
	for name, b := range map[string]Builder{
		"bad name":     Obj("Device", "X").Instance(1).Follow("1R"),
		"at the start": Builder{}.Follow("R"),
		"after error":  Obj("Device", "").FollowAll("R"),
		"placeholder":  Obj("Device").Placeholder(),
	} {
		if _, err := b.Path(); !errors.Is(err, ErrInvalidPathSyntax) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
