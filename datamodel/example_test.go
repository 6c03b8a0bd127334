package datamodel_test

import (
	"errors"
	"fmt"

	"github.com/gousp/gousp/datamodel"
)

// Every path form of TR-369 parses; Kind tells which one it is.
func ExampleParse() {
	for _, s := range []string{
		"Device.WiFi.SSID.",                      // object (a table)
		"Device.WiFi.SSID.2.",                    // object instance
		"Device.WiFi.SSID.2.SSID",                // parameter
		"Device.Reboot()",                        // command
		"Device.Boot!",                           // event
		"Device.WiFi.SSID.*.SSID",                // wildcard
		`Device.WiFi.SSID.[Alias=="cpe-1"].SSID`, // unique key
		`Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`, // multi-parameter key
		`Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].Status`,            // search
		"Device.NAT.PortMapping.1.Interface+.Name",                                   // reference following
		"Device.WiFi.SSID.1.LowerLayers#1+.Name",                                     // one reference of a list
		"Device.WiFi.SSID.1.LowerLayers#*+.Name",                                     // every reference of a list
		"Device.WiFi.SSID.{i}.SSID",                                                  // supported data model
	} {
		p, err := datamodel.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-15s search=%-5v %s\n", p.Kind(), p.IsSearch(), p)
	}
	// Output:
	// object          search=false Device.WiFi.SSID.
	// object instance search=false Device.WiFi.SSID.2.
	// parameter       search=false Device.WiFi.SSID.2.SSID
	// command         search=false Device.Reboot()
	// event           search=false Device.Boot!
	// parameter       search=true  Device.WiFi.SSID.*.SSID
	// parameter       search=true  Device.WiFi.SSID.[Alias=="cpe-1"].SSID
	// object instance search=true  Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].
	// parameter       search=true  Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].Status
	// parameter       search=false Device.NAT.PortMapping.1.Interface+.Name
	// parameter       search=false Device.WiFi.SSID.1.LowerLayers#1+.Name
	// parameter       search=false Device.WiFi.SSID.1.LowerLayers#*+.Name
	// parameter       search=false Device.WiFi.SSID.{i}.SSID
}

// Syntax errors say what is wrong, where, and which USP error code an Agent
// would answer.
func ExampleParse_error() {
	_, err := datamodel.Parse("Device.LocalAgent.Controller.[Enable==true.EndpointID")
	fmt.Println(err)
	var pe *datamodel.PathError
	if errors.As(err, &pe) {
		fmt.Println(uint32(pe.Code), pe.Pos, errors.Is(err, datamodel.ErrInvalidPathSyntax))
	}
	// Output:
	// datamodel: invalid path syntax at offset 29 in "Device.LocalAgent.Controller.[Enable==true.EndpointID": unterminated search expression: no ']'
	// 7008 29 true
}

// A Builder makes paths in code and cannot make an invalid one.
func ExampleBuilder() {
	ssid := datamodel.Obj("Device", "WiFi", "SSID")
	p1, _ := ssid.Instance(2).Param("SSID")
	p2, _ := ssid.Key("Alias", "cpe-1").Param("SSID")
	p3, _ := datamodel.Obj("Device", "IP", "Interface").
		Where(datamodel.Eq("Type", "Normal"), datamodel.Gt("Stats.ErrorsSent", 0)).
		Obj("IPv4Address").All().Param("IPAddress")
	p4, _ := datamodel.Obj("Device", "NAT", "PortMapping").Instance(1).Follow("Interface").Param("Name")
	_, err := ssid.Instance(0).Param("SSID")
	fmt.Println(p1)
	fmt.Println(p2)
	fmt.Println(p3)
	fmt.Println(p4)
	fmt.Println(err)
	// Output:
	// Device.WiFi.SSID.2.SSID
	// Device.WiFi.SSID.[Alias=="cpe-1"].SSID
	// Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].IPv4Address.*.IPAddress
	// Device.NAT.PortMapping.1.Interface+.Name
	// datamodel: invalid path syntax at offset 17 in "Device.WiFi.SSID.0": instance numbers start at 1
}

// Split a concrete path into its object, instance and parameter parts.
func ExamplePath_Split() {
	p := datamodel.MustParse("Device.LocalAgent.Controller.2.MTP.1.Enable")
	obj, leaf := p.Split()
	table, inst, _ := p.LastInstance()
	nums, _ := p.InstanceNumbers()
	fmt.Println(obj, leaf)
	fmt.Println(table, inst.Instance)
	fmt.Println(nums, p.SupportedPath())
	// Output:
	// Device.LocalAgent.Controller.2.MTP.1. Enable
	// Device.LocalAgent.Controller.2.MTP. 1
	// [2 1] Device.LocalAgent.Controller.{i}.MTP.{i}.Enable
}

// Match tells whether a path from a response is addressed by a pattern;
// search expressions read the instance's values through a lookup function.
func ExamplePath_Match() {
	enabled := map[string]string{"Device.WiFi.Radio.1.": "true", "Device.WiFi.Radio.2.": "false"}
	lookup := func(instance, param string) (string, datamodel.ValueType, bool) {
		if param != "Enable" {
			return "", datamodel.TypeUnknown, false
		}
		v, ok := enabled[instance]
		return v, datamodel.TypeBoolean, ok
	}
	for _, pattern := range []string{"Device.WiFi.Radio.*.Channel", "Device.WiFi.Radio.{i}.Channel", "Device.WiFi.Radio.[Enable==true].Channel"} {
		p := datamodel.MustParse(pattern)
		for _, c := range []string{"Device.WiFi.Radio.1.Channel", "Device.WiFi.Radio.2.Channel"} {
			ok, _ := p.Match(datamodel.MustParse(c), lookup)
			fmt.Println(pattern, c, ok)
		}
	}
	// Output:
	// Device.WiFi.Radio.*.Channel Device.WiFi.Radio.1.Channel true
	// Device.WiFi.Radio.*.Channel Device.WiFi.Radio.2.Channel true
	// Device.WiFi.Radio.{i}.Channel Device.WiFi.Radio.1.Channel true
	// Device.WiFi.Radio.{i}.Channel Device.WiFi.Radio.2.Channel true
	// Device.WiFi.Radio.[Enable==true].Channel Device.WiFi.Radio.1.Channel true
	// Device.WiFi.Radio.[Enable==true].Channel Device.WiFi.Radio.2.Channel false
}

// An Agent (or a fake one in tests) resolves a search path by evaluating the
// expression against each instance of the table.
func ExampleExpr_Eval() {
	p := datamodel.MustParse("Device.LocalAgent.Controller.[Enable==true&&PeriodicNotifInterval>=60].EndpointID")
	expr := p.Segment(3).Expr

	controllers := []map[string]string{
		{"Enable": "true", "PeriodicNotifInterval": "3600", "EndpointID": "proto::ctrl-1"},
		{"Enable": "false", "PeriodicNotifInterval": "3600", "EndpointID": "proto::ctrl-2"},
		{"Enable": "1", "PeriodicNotifInterval": "30", "EndpointID": "proto::ctrl-3"},
	}
	types := map[string]datamodel.ValueType{"Enable": datamodel.TypeBoolean, "PeriodicNotifInterval": datamodel.TypeUnsignedInt}
	for i, c := range controllers {
		ok, err := expr.Eval(func(param string) (string, datamodel.ValueType, bool) {
			v, found := c[param]
			return v, types[param], found
		})
		fmt.Println(i+1, ok, err)
	}
	// Output:
	// 1 true <nil>
	// 2 false <nil>
	// 3 false <nil>
}

// Values convert between their TR-106 text and Go.
func ExampleParseValue() {
	for _, v := range []struct {
		t datamodel.ValueType
		s string
	}{
		{datamodel.TypeBoolean, "1"},
		{datamodel.TypeUnsignedInt, "+0042"},
		{datamodel.TypeInt, "-2147483649"},
		{datamodel.TypeDateTime, "2026-11-27T09:25:19+01:00"},
		{datamodel.TypeHexBinary, "0aff"},
	} {
		x, err := datamodel.ParseValue(v.t, v.s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		canon, _ := datamodel.FormatValue(v.t, x)
		fmt.Printf("%s %q -> %T %q\n", v.t, v.s, x, canon)
	}
	// Output:
	// boolean "1" -> bool "true"
	// unsignedInt "+0042" -> uint32 "42"
	// datamodel: invalid int "-2147483649": out of range [-2147483648, 2147483647]
	// dateTime "2026-11-27T09:25:19+01:00" -> time.Time "2026-11-27T08:25:19Z"
	// hexBinary "0aff" -> []uint8 "0AFF"
}

// A Schema built from a GetSupportedDM response finds the supported entry of
// any path and checks requests before they are sent.
func ExampleSchema() {
	schema, err := datamodel.NewSchema([]datamodel.SupportedObject{
		{Path: "Device.LocalAgent.", Params: []datamodel.SupportedParam{
			{Name: "EndpointID", Type: datamodel.TypeString},
		}},
		{Path: "Device.LocalAgent.Controller.{i}.", MultiInstance: true, Access: datamodel.ObjAddDelete,
			UniqueKeySets: [][]string{{"Alias"}, {"EndpointID"}},
			Params: []datamodel.SupportedParam{
				{Name: "Alias", Access: datamodel.ParamReadWrite, Type: datamodel.TypeString},
				{Name: "EndpointID", Access: datamodel.ParamReadWrite, Type: datamodel.TypeString},
				{Name: "Enable", Access: datamodel.ParamReadWrite, Type: datamodel.TypeBoolean},
			},
			Commands: []datamodel.SupportedCommand{{Name: "SendOnBoardRequest()", Type: datamodel.CmdSync}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	e, _ := schema.LookupString("Device.LocalAgent.Controller.2.Enable")
	fmt.Println(e.Path, e.Param.Type, e.Param.Access)

	_, err = schema.LookupString("Device.LocalAgent.Controller.[Enable<true].Alias")
	fmt.Println(err)

	err = schema.CheckSet(datamodel.MustParse("Device.LocalAgent.Controller.1."), map[string]string{"Enable": "yes"})
	fmt.Println(err)

	missing, _ := schema.CheckAdd(datamodel.MustParse("Device.LocalAgent.Controller."), map[string]string{"EndpointID": "proto::c"})
	fmt.Println("agent will choose:", missing)
	// Output:
	// Device.LocalAgent.Controller.{i}.Enable boolean PARAM_READ_WRITE
	// datamodel: invalid path syntax at offset 30 in "Device.LocalAgent.Controller.[Enable<true].Alias": operator < is not valid for boolean parameter Enable
	// datamodel: invalid type at offset 31 in "Device.LocalAgent.Controller.1.Enable": invalid boolean "yes": want "true", "false", "1" or "0"
	// agent will choose: [Alias]
}
