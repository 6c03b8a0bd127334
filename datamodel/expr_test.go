package datamodel

import (
	"errors"
	"strings"
	"testing"
)

func TestParseExpr(t *testing.T) {
	e, err := ParseExpr(`[Type == "Normal" && Stats.ErrorsSent>0&&SSIDReference+.SSID=="My%22Home%25"&&Refs#2+.X~=5]`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Cond{
		{Param: "Type", Op: OpEq, Value: "Normal", Quoted: true},
		{Param: "Stats.ErrorsSent", Op: OpGt, Value: "0"},
		{Param: "SSIDReference+.SSID", Op: OpEq, Value: `My"Home%`, Quoted: true},
		{Param: "Refs#2+.X", Op: OpContains, Value: "5"},
	}
	if len(e.Conds) != len(want) {
		t.Fatalf("conds = %+v", e.Conds)
	}
	for i := range want {
		if e.Conds[i] != want[i] {
			t.Errorf("cond %d = %+v, want %+v", i, e.Conds[i], want[i])
		}
	}
	if s := e.String(); s != `[Type=="Normal"&&Stats.ErrorsSent>0&&SSIDReference+.SSID=="My%22Home%25"&&Refs#2+.X~=5]` {
		t.Errorf("String = %s", s)
	}
	for _, op := range []struct {
		text string
		op   Op
	}{{"==", OpEq}, {"!=", OpNe}, {"~=", OpContains}, {"<", OpLt}, {">", OpGt}, {"<=", OpLe}, {">=", OpGe}} {
		e, err := ParseExpr("[A" + op.text + "1]")
		if err != nil || e.Conds[0].Op != op.op || op.op.String() != op.text {
			t.Errorf("operator %s: %v %+v", op.text, err, e)
		}
	}
	for _, bad := range []string{"", "A==1", "[A==1", "[A==1]x", "[]", "[A==1&&]", "[&&A==1]"} {
		if _, err := ParseExpr(bad); !errors.Is(err, ErrInvalidPathSyntax) {
			t.Errorf("ParseExpr(%q) error = %v", bad, err)
		}
	}
}

// TestParseExprSpaceAfterOperator pins the rule for whitespace between an
// operator and its constant: TR-369 allows it (R-ARC.9a), so "A > 5" is A>5,
// but a constant never starts with '=', so "A> =" and "A< =5" are refused
// rather than read as conditions whose canonical text means something else.
func TestParseExprSpaceAfterOperator(t *testing.T) {
	for in, want := range map[string]string{
		"[A > 5]":       "[A>5]",
		"[A <= 5]":      "[A<=5]",
		"[A\t>=\t5]":    "[A>=5]",
		`[A == "=x"]`:   `[A=="=x"]`,
		"[B==Zm8=]":     "[B==Zm8=]",
		"[A~= 5&&B!=1]": "[A~=5&&B!=1]",
	} {
		e, err := ParseExpr(in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", in, err)
			continue
		}
		if got := e.String(); got != want {
			t.Errorf("ParseExpr(%q).String() = %q, want %q", in, got, want)
		}
		if _, err := ParseExpr(e.String()); err != nil {
			t.Errorf("canonical %q of %q does not parse: %v", e.String(), in, err)
		}
	}
	for _, bad := range []string{"[A> =]", "[A< =5]", "[A>==5]", "[A== =1]", "[A!= =]", "[A<==]"} {
		_, err := ParseExpr(bad)
		if !errors.Is(err, ErrInvalidPathSyntax) || !strings.Contains(err.Error(), "cannot start with '='") {
			t.Errorf("ParseExpr(%q) error = %v, want a constant starting with '=' refused", bad, err)
		}
		if _, err := Parse("Device.X." + bad + ".Y"); !errors.Is(err, ErrInvalidPathSyntax) {
			t.Errorf("Parse of a path with %q: error = %v", bad, err)
		}
	}
}

// values is an instance for Eval tests: parameter name to value and type.
type values map[string]struct {
	v string
	t ValueType
}

func (vs values) lookup(p string) (string, ValueType, bool) {
	x, ok := vs[p]
	return x.v, x.t, ok
}

func TestEval(t *testing.T) {
	inst := values{
		"Enable":        {"true", TypeBoolean},
		"EnableNum":     {"0", TypeBoolean},
		"Alias":         {"cpe-1", TypeString},
		"Quote":         {`a"b%c`, TypeString},
		"Port":          {"8080", TypeUnsignedInt},
		"Offset":        {"-5", TypeInt},
		"Big":           {"18446744073709551615", TypeUnsignedLong},
		"Ratio":         {"0.30000000000000000001", TypeDecimal},
		"When":          {"2021-06-01T00:00:00Z", TypeDateTime},
		"Never":         {"0001-01-01T00:00:00Z", TypeDateTime},
		"Caps":          {"IPv4, IPv6Firewall,PCP", TypeString},
		"Samples":       {"5,10, 15", TypeUnsignedInt},
		"Class":         {"0a", TypeHexBinary},
		"Blob":          {"aGk=", TypeBase64},
		"Stats.Errors":  {"3", TypeUnsignedInt},
		"Mystery":       {"42", TypeUnknown},
		"MysteryText":   {"hello", TypeUnknown},
		"MysteryTime":   {"2021-01-01T00:00:00Z", TypeUnknown},
		"MysteryBool":   {"true", TypeUnknown},
		"BadPort":       {"eighty", TypeUnsignedInt},
		"NotABool":      {"maybe", TypeBoolean},
		"SSIDRef+.SSID": {"MyHome", TypeString},
	}
	tests := []struct {
		expr string
		want bool
		err  string // substring of the error, "" for none
	}{
		{`[Enable==true]`, true, ""},
		{`[Enable==1]`, true, ""},
		{`[Enable!=false]`, true, ""},
		{`[Enable==0]`, false, ""},
		{`[EnableNum==false]`, true, ""},
		{`[Alias=="cpe-1"]`, true, ""},
		{`[Alias!="cpe-1"]`, false, ""},
		{`[Alias=="CPE-1"]`, false, ""},
		{`[Quote=="a%22b%25c"]`, true, ""},
		{`[Port==8080]`, true, ""},
		{`[Port==08080]`, true, ""},
		{`[Port==+8080]`, true, ""},
		{`[Port>8000&&Port<9000]`, true, ""},
		{`[Port>=8080&&Port<=8080]`, true, ""},
		{`[Port>8080]`, false, ""},
		{`[Offset<0]`, true, ""},
		{`[Offset>-6]`, true, ""},
		{`[Big>18446744073709551614]`, true, ""},
		{`[Ratio>0.3]`, true, ""},
		{`[Ratio>=0.30000000000000000002]`, false, ""},
		{`[When<2021-06-06T08:00:00Z]`, true, ""},
		{`[When>2021-06-01T01:00:00+02:00]`, true, ""},
		{`[When==2021-06-01T00:00:00.000Z]`, true, ""},
		{`[Never==0001-01-01T00:00:00Z]`, true, ""},
		{`[Never<2021-06-06T08:00:00Z]`, false, ""}, // Unknown Time has no order: no match
		{`[Caps~="IPv6Firewall"]`, true, ""},
		{`[Caps~="IPv6"]`, false, ""},
		{`[Caps~="IPv4"]`, true, ""},
		{`[Samples~=5]`, true, ""},
		{`[Samples~=15]`, true, ""},
		{`[Samples~=05]`, true, ""},
		{`[Samples~=7]`, false, ""},
		{`[Class==0A]`, true, ""},
		{`[Class=="0a"]`, true, ""},
		{`[Blob=="aGk="]`, true, ""},
		{`[Stats.Errors>0]`, true, ""},
		{`[SSIDRef+.SSID=="MyHome"]`, true, ""},
		{`[Mystery==42.0]`, true, ""},
		{`[Mystery>41]`, true, ""},
		{`[MysteryText=="hello"]`, true, ""},
		{`[MysteryText==hello]`, true, ""},
		{`[MysteryText>hello]`, false, ""},
		{`[MysteryTime<2022-01-01T00:00:00Z]`, true, ""},
		{`[MysteryBool==1]`, true, ""},
		{`[NoSuchParam==1]`, false, ""},
		{`[Enable==true&&NoSuchParam==1]`, false, ""},
		{`[BadPort==80]`, false, ""},
		{`[BadPort!=80]`, false, ""},
		{`[NotABool==true]`, false, ""},
		// Invalid for the parameter's type: errors as Agents give (7008).
		{`[Enable=="true"]`, false, "unquoted constant"},
		{`[Enable<true]`, false, "not valid for boolean"},
		{`[Enable==yes]`, false, "not a boolean"},
		{`[Alias==cpe]`, false, "must be double-quoted"},
		{`[Alias<"x"]`, false, "not valid for string"},
		{`[Port=="8080"]`, false, "unquoted number"},
		{`[Port==-1]`, false, "not a valid unsignedInt"},
		{`[Port==1.5]`, false, "not a valid unsignedInt"},
		{`[Offset==2147483648]`, false, "not a valid int"},
		{`[Ratio==1e3]`, false, "not a valid decimal"},
		{`[When<"2021-06-06T08:00:00Z"]`, false, "unquoted dateTime"},
		{`[When<2021-06-06]`, false, "not a dateTime"},
		{`[When>0001-01-01T00:00:00Z]`, false, "Unknown Time"},
		{`[Class<0A]`, false, "not valid for hexBinary"},
		{`[Class==0G]`, false, "not a hexBinary"},
		// A failing condition does not hide an invalid one after it.
		{`[Enable==false&&Alias<"x"]`, false, "not valid for string"},
	}
	for _, tt := range tests {
		e, err := ParseExpr(tt.expr)
		if err != nil {
			t.Fatalf("ParseExpr(%s): %v", tt.expr, err)
		}
		got, err := e.Eval(inst.lookup)
		if tt.err != "" {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Code != CodeInvalidPathSyntax || !strings.Contains(pe.Msg, tt.err) {
				t.Errorf("%s: error = %v, want 7008 mentioning %q", tt.expr, err, tt.err)
			} else if pe.Path != e.String() || pe.Pos < 1 || pe.Pos >= len(pe.Path) {
				t.Errorf("%s: error location %q %d", tt.expr, pe.Path, pe.Pos)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.expr, got, err, tt.want)
		}
	}
}

func TestCondEvalAndCheck(t *testing.T) {
	c := Eq("Enable", true)
	if ok, err := c.Eval("1", TypeBoolean); !ok || err != nil {
		t.Errorf("Eval = %v, %v", ok, err)
	}
	if err := c.Check(TypeBoolean); err != nil {
		t.Error(err)
	}
	if err := c.Check(TypeString); !errors.Is(err, ErrInvalidPathSyntax) {
		t.Errorf("Check(string) = %v", err)
	}
	if _, err := Lt("Alias", "x").Eval("a", TypeString); !errors.Is(err, ErrInvalidPathSyntax) {
		t.Errorf("Eval ordering on string = %v", err)
	}
	if err := Eq("X", struct{}{}).Check(TypeString); err == nil {
		t.Error("Check accepted an unformattable value")
	}
	if err := (Cond{Param: "X", Value: "1"}).Check(TypeInt); err == nil {
		t.Error("Check accepted a condition without an operator")
	}
}

func TestMatch(t *testing.T) {
	radios := map[string]values{
		"Device.WiFi.Radio.1.": {"Enable": {"true", TypeBoolean}, "Channel": {"6", TypeUnsignedInt}},
		"Device.WiFi.Radio.2.": {"Enable": {"false", TypeBoolean}, "Channel": {"36", TypeUnsignedInt}},
	}
	lookup := func(inst, param string) (string, ValueType, bool) {
		return radios[inst].lookup(param)
	}
	tests := []struct {
		pattern, concrete string
		match, covers     bool
		err               string
	}{
		{"Device.WiFi.Radio.*.Channel", "Device.WiFi.Radio.2.Channel", true, true, ""},
		{"Device.WiFi.Radio.{i}.Channel", "Device.WiFi.Radio.2.Channel", true, true, ""},
		{"Device.WiFi.Radio.2.Channel", "Device.WiFi.Radio.2.Channel", true, true, ""},
		{"Device.WiFi.Radio.1.Channel", "Device.WiFi.Radio.2.Channel", false, false, ""},
		{"Device.WiFi.Radio.*.Enable", "Device.WiFi.Radio.2.Channel", false, false, ""},
		{"Device.WiFi.Radio.[Enable==true].Channel", "Device.WiFi.Radio.1.Channel", true, true, ""},
		{"Device.WiFi.Radio.[Enable==true].Channel", "Device.WiFi.Radio.2.Channel", false, false, ""},
		{"Device.WiFi.Radio.[Channel>11].", "Device.WiFi.Radio.2.", true, true, ""},
		{"Device.WiFi.Radio.[Channel>11].", "Device.WiFi.Radio.2.Channel", false, true, ""},
		{"Device.WiFi.Radio.[Channel>11].", "Device.WiFi.Radio.1.Channel", false, false, ""},
		{"Device.WiFi.Radio.*.", "Device.WiFi.Radio.2.Stats.Noise", false, true, ""},
		{"Device.WiFi.", "Device.WiFi.Radio.2.Channel", false, true, ""},
		{"Device.WiFi.Radio.", "Device.WiFi.Radio.2.", false, true, ""},
		{"Device.WiFi.Radio.*.", "Device.WiFi.Radio.", false, false, ""},
		{"Device.WiFi.Radio.*.Channel", "Device.WiFi.Radio.2.Channel.", false, false, ""},
		{"Device.Reboot()", "Device.Reboot()", true, true, ""},
		{"Device.Reboot()", "Device.Reboot", false, false, ""},
		{"Device.Boot!", "Device.Boot!", true, true, ""},
		{"Device.WiFi.Radio.*.Channel", "Device.WiFi.SSID.2.Channel", false, false, ""},
		{"Device.WiFi.Radio.1.", "Device.WiFi.Radio.1.", true, true, ""},
		{"Device.WiFi.Radio.*.Channel", "Device.WiFi.Radio.*.Channel", false, false, "only a path of names and instance numbers"},
		{"Device.WiFi.Radio.[Enable<1].Channel", "Device.WiFi.Radio.1.Channel", false, false, "not valid for boolean"},
		{"Device.X.1.Ref+.Name", "Device.X.1.Ref", false, false, "must be resolved"},
	}
	for _, tt := range tests {
		p, c := MustParse(tt.pattern), MustParse(tt.concrete)
		m, err := p.Match(c, lookup)
		cv, err2 := p.Covers(c, lookup)
		if tt.err != "" {
			if err == nil || err2 == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s vs %s: errors %v, %v; want %q", tt.pattern, tt.concrete, err, err2, tt.err)
			}
			continue
		}
		if err != nil || err2 != nil || m != tt.match || cv != tt.covers {
			t.Errorf("%s vs %s: Match %v %v, Covers %v %v; want %v %v", tt.pattern, tt.concrete, m, err, cv, err2, tt.match, tt.covers)
		}
	}

	// Expression errors are placed in the pattern.
	_, err := MustParse("Device.WiFi.Radio.[Enable<1].Channel").Match(MustParse("Device.WiFi.Radio.1.Channel"), lookup)
	var pe *PathError
	if !errors.As(err, &pe) || pe.Pos != 19 || pe.Path != "Device.WiFi.Radio.[Enable<1].Channel" {
		t.Errorf("expression error = %#v", err)
	}
	// Without values, expressions cannot be matched.
	if _, err := MustParse("Device.WiFi.Radio.[Enable==true].").Match(MustParse("Device.WiFi.Radio.1."), nil); !errors.Is(err, ErrNeedValues) {
		t.Errorf("nil lookup: %v", err)
	}
	if ok, err := (Path{}).Match(MustParse("Device."), nil); ok || err != nil {
		t.Errorf("zero pattern matched: %v %v", ok, err)
	}

	ok, err := Match("Device.WiFi.Radio.*.Channel", "Device.WiFi.Radio.2.Channel")
	if !ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
	if _, err := Match("Device..", "Device."); err == nil {
		t.Error("Match accepted a bad pattern")
	}
	if _, err := Match("Device.", "Device.."); err == nil {
		t.Error("Match accepted a bad concrete path")
	}
}
