package datamodel

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// mapTree is a small instantiated data model for Resolve tests.
type mapTree struct {
	tables map[string][]uint32
	params map[string]string
	types  map[string]ValueType // by parameter name
}

func (m mapTree) Instances(table string) ([]uint32, bool) {
	n, ok := m.tables[table]
	return n, ok
}

func (m mapTree) Value(param string) (string, ValueType, bool) {
	v, ok := m.params[param]
	name := param[strings.LastIndexByte(param, '.')+1:]
	return v, m.types[name], ok
}

var testTree = mapTree{
	tables: map[string][]uint32{
		"Device.LocalAgent.Controller.":       {1, 2, 3},
		"Device.LocalAgent.Controller.1.MTP.": {1, 2},
		"Device.LocalAgent.Controller.2.MTP.": {1},
		"Device.LocalAgent.Controller.3.MTP.": {},
		"Device.WiFi.Radio.":                  {1, 2},
		"Device.WiFi.SSID.":                   {1, 2},
		"Device.WiFi.AccessPoint.":            {1, 2, 3},
	},
	params: map[string]string{
		"Device.LocalAgent.Controller.1.Enable": "true", "Device.LocalAgent.Controller.1.Alias": "cpe-1", "Device.LocalAgent.Controller.1.EndpointID": "proto::a",
		"Device.LocalAgent.Controller.2.Enable": "false", "Device.LocalAgent.Controller.2.Alias": "cpe-2", "Device.LocalAgent.Controller.2.EndpointID": "proto::b",
		"Device.LocalAgent.Controller.3.Enable": "1", "Device.LocalAgent.Controller.3.Alias": "cpe-3", "Device.LocalAgent.Controller.3.EndpointID": "proto::c",
		"Device.WiFi.Radio.1.Name": "wifi0", "Device.WiFi.Radio.2.Name": "wifi1",
		"Device.WiFi.SSID.1.SSID": "home", "Device.WiFi.SSID.1.LowerLayers": "Device.WiFi.Radio.1, Device.WiFi.Radio.2",
		"Device.WiFi.SSID.2.SSID": "guest", "Device.WiFi.SSID.2.LowerLayers": "Device.WiFi.Radio.2",
		"Device.WiFi.AccessPoint.1.SSIDReference": "Device.WiFi.SSID.1",
		"Device.WiFi.AccessPoint.2.SSIDReference": `Device.WiFi.SSID.[SSID=="guest"]`,
		"Device.WiFi.AccessPoint.3.SSIDReference": "Device.WiFi.SSID.9", // dangling
	},
	types: map[string]ValueType{"Enable": TypeBoolean, "Alias": TypeString, "EndpointID": TypeString, "SSID": TypeString, "Name": TypeString},
}

func TestResolve(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"Device.LocalAgent.Controller.[Enable==true].EndpointID", []string{"Device.LocalAgent.Controller.1.EndpointID", "Device.LocalAgent.Controller.3.EndpointID"}},
		{`Device.LocalAgent.Controller.[EndpointID=="proto::b"].Alias`, []string{"Device.LocalAgent.Controller.2.Alias"}},
		{`Device.LocalAgent.Controller.[Enable==true&&Alias!="cpe-1"].`, []string{"Device.LocalAgent.Controller.3."}},
		{"Device.LocalAgent.Controller.*.MTP.*.", []string{"Device.LocalAgent.Controller.1.MTP.1.", "Device.LocalAgent.Controller.1.MTP.2.", "Device.LocalAgent.Controller.2.MTP.1."}},
		{"Device.LocalAgent.Controller.*.", []string{"Device.LocalAgent.Controller.1.", "Device.LocalAgent.Controller.2.", "Device.LocalAgent.Controller.3."}},
		{"Device.LocalAgent.Controller.2.Alias", []string{"Device.LocalAgent.Controller.2.Alias"}},
		{"Device.LocalAgent.Controller.9.Alias", nil},
		{"Device.LocalAgent.Controller.", []string{"Device.LocalAgent.Controller."}},
		{"Device.NoSuch.*.X", nil},
		{"Device.LocalAgent.Controller.*.SendOnBoardRequest()", []string{"Device.LocalAgent.Controller.1.SendOnBoardRequest()", "Device.LocalAgent.Controller.2.SendOnBoardRequest()", "Device.LocalAgent.Controller.3.SendOnBoardRequest()"}},
		{"Device.WiFi.SSID.1.LowerLayers+.Name", []string{"Device.WiFi.Radio.1.Name"}},
		{"Device.WiFi.SSID.1.LowerLayers#2+.Name", []string{"Device.WiFi.Radio.2.Name"}},
		{"Device.WiFi.SSID.1.LowerLayers#3+.Name", nil},
		{"Device.WiFi.SSID.*.LowerLayers#*+.Name", []string{"Device.WiFi.Radio.1.Name", "Device.WiFi.Radio.2.Name"}},
		{"Device.WiFi.SSID.1.LowerLayers#*+.", []string{"Device.WiFi.Radio.1.", "Device.WiFi.Radio.2."}},
		{"Device.WiFi.AccessPoint.*.SSIDReference+.", []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.2."}},
		{`Device.WiFi.AccessPoint.[SSIDReference+.SSID=="guest"].`, []string{"Device.WiFi.AccessPoint.2."}},
		{`Device.WiFi.AccessPoint.[SSIDReference+.LowerLayers+.Name=="wifi0"].`, []string{"Device.WiFi.AccessPoint.1."}},
		{`Device.WiFi.AccessPoint.[SSIDReference#*+.SSID=="home"].`, nil},
		{"Device.WiFi.AccessPoint.3.SSIDReference+.SSID", nil},
	}
	for _, tt := range tests {
		got, err := MustParse(tt.path).Resolve(testTree)
		if err != nil {
			t.Errorf("Resolve(%s): %v", tt.path, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, tt.want) {
			t.Errorf("Resolve(%s) = %q, want %q", tt.path, s, tt.want)
		}
	}

	_, err := MustParse("Device.LocalAgent.Controller.[Enable<1].Alias").Resolve(testTree)
	var pe *PathError
	if !errors.As(err, &pe) || pe.Code != CodeInvalidPathSyntax || pe.Pos != 30 {
		t.Errorf("bad expression: %v", err)
	}
	if got, err := (Path{}).Resolve(testTree); got != nil || err != nil {
		t.Errorf("zero path: %v %v", got, err)
	}
}

// A reference that points back to itself ends instead of looping.
func TestResolveReferenceLoop(t *testing.T) {
	tree := mapTree{
		tables: map[string][]uint32{"Device.X.": {1}},
		params: map[string]string{"Device.X.1.Next": "Device.X.[Next+.Y==\"a\"]", "Device.X.1.Y": "a"},
		types:  map[string]ValueType{"Y": TypeString, "Next": TypeString},
	}
	got, err := MustParse("Device.X.1.Next+.Next+.Y").Resolve(tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 1 {
		t.Errorf("got %v", got)
	}
}
