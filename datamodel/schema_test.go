package datamodel

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gousp/gousp/usperr"
)

func TestObuspaSchemaLoads(t *testing.T) {
	s, objs := loadObuspaSchema(t, "68-gsdm-device-full")
	// The manifest says: 47 supported_objs, 242 params, 11 commands, 3 events.
	var params, cmds, events, tables int
	for _, o := range s.Objects() {
		params += len(o.Params)
		cmds += len(o.Commands)
		events += len(o.Events)
		if o.MultiInstance {
			tables++
		}
	}
	if len(objs) != 47 || len(s.Objects()) != 47 || params != 242 || cmds != 11 || events != 3 {
		t.Errorf("got %d/%d objects, %d params, %d commands, %d events; want 47, 242, 11, 3",
			len(objs), len(s.Objects()), params, cmds, events)
	}
	if tables != 22 {
		t.Errorf("%d multi-instance objects, want 22", tables)
	}
	if !slices.IsSortedFunc(s.Objects(), func(a, b *SupportedObject) int { return strings.Compare(a.Path, b.Path) }) {
		t.Error("Objects() not sorted")
	}
}

func TestObuspaSchemaLookup(t *testing.T) {
	s, _ := loadObuspaSchema(t, "68-gsdm-device-full")
	tests := []struct {
		path   string
		kind   PathKind
		sup    string
		typ    ValueType
		access ParamAccess
	}{
		{"Device.LocalAgent.Controller.2.EndpointID", KindParam, "Device.LocalAgent.Controller.{i}.EndpointID", TypeString, ParamReadWrite},
		{"Device.LocalAgent.Controller.*.EndpointID", KindParam, "Device.LocalAgent.Controller.{i}.EndpointID", TypeString, ParamReadWrite},
		{`Device.LocalAgent.Controller.[EndpointID=="proto::other-controller"].Alias`, KindParam, "Device.LocalAgent.Controller.{i}.Alias", TypeString, ParamReadWrite},
		{"Device.LocalAgent.Controller.[Enable==true].EndpointID", KindParam, "Device.LocalAgent.Controller.{i}.EndpointID", TypeString, ParamReadWrite},
		{"Device.LocalAgent.Controller.{i}.Enable", KindParam, "Device.LocalAgent.Controller.{i}.Enable", TypeBoolean, ParamReadWrite},
		{"Device.LocalAgent.Controller.2.PeriodicNotifInterval", KindParam, "Device.LocalAgent.Controller.{i}.PeriodicNotifInterval", TypeUnsignedInt, ParamReadWrite},
		{"Device.LocalAgent.Controller.2.PeriodicNotifTime", KindParam, "Device.LocalAgent.Controller.{i}.PeriodicNotifTime", TypeDateTime, ParamReadWrite},
		{"Device.LocalAgent.Controller.1.InheritedRole", KindParam, "Device.LocalAgent.Controller.{i}.InheritedRole", TypeString, ParamReadOnly},
		{"Device.LocalAgent.MTP.1.MQTT.PublishQoS", KindParam, "Device.LocalAgent.MTP.{i}.MQTT.PublishQoS", TypeUnsignedInt, ParamReadWrite},
		{"Device.LocalAgent.UpTime", KindParam, "Device.LocalAgent.UpTime", TypeUnsignedInt, ParamReadOnly},
		{"Device.DeviceInfo.SerialNumber", KindParam, "Device.DeviceInfo.SerialNumber", TypeString, ParamReadOnly},
		{"Device.LocalAgent.Controller.1.MTP.1.", KindInstance, "Device.LocalAgent.Controller.{i}.MTP.{i}.", 0, 0},
		{"Device.LocalAgent.Controller.", KindObject, "Device.LocalAgent.Controller.", 0, 0},
		{"Device.DeviceInfo.", KindObject, "Device.DeviceInfo.", 0, 0},
		{"Device.", KindObject, "Device.", 0, 0},
		{"Device.ScheduleTimer()", KindCommand, "Device.ScheduleTimer()", 0, 0},
		{"Device.LocalAgent.Controller.*.SendOnBoardRequest()", KindCommand, "Device.LocalAgent.Controller.{i}.SendOnBoardRequest()", 0, 0},
		{"Device.Boot!", KindEvent, "Device.Boot!", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			e, err := s.LookupString(tt.path)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if e.Kind != tt.kind || e.Path != tt.sup {
				t.Errorf("got %v %q, want %v %q", e.Kind, e.Path, tt.kind, tt.sup)
			}
			if tt.kind == KindParam {
				if e.Param == nil || e.Param.Type != tt.typ || e.Param.Access != tt.access || e.Param.ValueChange != ValueChangeAllowed {
					t.Errorf("param = %+v, want type %v access %v", e.Param, tt.typ, tt.access)
				}
			}
			if e.Object == nil {
				t.Fatal("no object")
			}
			if tt.kind.IsPartial() && tt.kind == KindInstance && !e.Object.MultiInstance {
				t.Errorf("instance of a single-instance object %q", e.Object.Path)
			}
		})
	}

	e, _ := s.LookupString("Device.LocalAgent.Controller.")
	if !e.IsTable() || e.Object.Path != "Device.LocalAgent.Controller.{i}." || e.Object.Access != ObjAddDelete {
		t.Errorf("table entry = %+v", e)
	}
	if e, _ := s.LookupString("Device.DeviceInfo."); e.IsTable() {
		t.Error("Device.DeviceInfo. is a table?")
	}
}

func TestObuspaCommandsAndEvents(t *testing.T) {
	s, _ := loadObuspaSchema(t, "68-gsdm-device-full")
	cmds := []struct {
		path  string
		async bool
		in    []string
		out   []string
	}{
		{"Device.ScheduleTimer()", true, []string{"DelaySeconds"}, nil},
		{"Device.Reboot()", false, []string{"Cause", "Reason"}, nil},
		{"Device.FactoryReset()", false, []string{"Cause", "Reason"}, nil},
		{"Device.SelfTestDiagnostics()", true, []string{"X_ARRIS-COM_TestNumber"}, []string{"Results"}},
		{"Device.LocalAgent.AddCertificate()", false, []string{"Alias", "Certificate"}, nil},
		{"Device.LocalAgent.Controller.1.SendOnBoardRequest()", false, nil, nil},
		{"Device.LocalAgent.ControllerTrust.RequestChallenge()", false, []string{"ChallengeRef", "RequestExpiration"}, []string{"Instruction", "InstructionType", "ValueType", "ChallengeID"}},
		{"Device.LocalAgent.ControllerTrust.ChallengeResponse()", false, []string{"ChallengeID", "Value"}, nil},
	}
	for _, tt := range cmds {
		e, err := s.LookupString(tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		c := e.Command
		if c.Async() != tt.async || !slices.Equal(c.InputArgs, tt.in) || !slices.Equal(c.OutputArgs, tt.out) {
			t.Errorf("%s = %+v, want async=%v in=%v out=%v", tt.path, *c, tt.async, tt.in, tt.out)
		}
	}
	e, err := s.LookupString("Device.Boot!")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CommandKey", "Cause", "Reason", "FirmwareUpdated", "ParameterMap"}; !slices.Equal(e.Event.Args, want) {
		t.Errorf("Boot! args = %v, want %v", e.Event.Args, want)
	}
	if _, err := s.LookupString("Device.LocalAgent.Periodic!"); err != nil {
		t.Errorf("Periodic!: %v", err)
	}
}

func TestObuspaUniqueKeys(t *testing.T) {
	s, _ := loadObuspaSchema(t, "68-gsdm-device-full")
	ctrl, ok := s.Object("Device.LocalAgent.Controller.{i}.")
	if !ok {
		t.Fatal("no controller table")
	}
	if want := [][]string{{"Alias"}, {"EndpointID"}}; !slices.EqualFunc(ctrl.UniqueKeySets, want, slices.Equal) {
		t.Errorf("controller keys = %v, want %v", ctrl.UniqueKeySets, want)
	}
	sub, _ := s.Object("Device.LocalAgent.Subscription.{i}.")
	tests := []struct {
		obj  *SupportedObject
		expr string
		want bool
	}{
		{ctrl, `[EndpointID=="proto::other-controller"]`, true},
		{ctrl, `[Alias=="cpe-1"]`, true},
		{ctrl, `[Enable==true]`, false},
		{ctrl, `[Alias!="cpe-1"]`, false},
		{ctrl, `[Alias=="a"&&EndpointID=="b"]`, false}, // two keys, but no key set has both
		{sub, `[ID=="vc-1"&&Recipient=="Device.LocalAgent.Controller.1"]`, true},
		{sub, `[Recipient=="Device.LocalAgent.Controller.1"&&ID=="vc-1"]`, true},
		{sub, `[ID=="vc-1"]`, false}, // part of a key: a search
	}
	for _, tt := range tests {
		e, err := ParseExpr(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := tt.obj.IsUniqueKey(e); got != tt.want {
			t.Errorf("%s IsUniqueKey(%s) = %v", tt.obj.Path, tt.expr, got)
		}
	}
}

// The errors of the schema checks are those OB-USP-A answered in the captures
// (and the spec's where the agent differs).
func TestObuspaSchemaErrors(t *testing.T) {
	s, _ := loadObuspaSchema(t, "68-gsdm-device-full")
	tests := []struct {
		path string
		code usperr.Code
		pos  int
		msg  string
	}{
		{"Device.NoSuchObject.Foo", CodeInvalidPath, 7, "no object Device.NoSuchObject."},        // capture 09
		{"Device.DeviceInfo.NoSuchParam", CodeInvalidPath, 18, "no parameter NoSuchParam"},       // capture 10
		{"Device.NoSuchCommand()", CodeInvalidPath, 7, "no command NoSuchCommand()"},             // capture 60
		{"Device.NoSuchObject.", CodeInvalidPath, 7, "no object"},                                // capture 71
		{"Device.LocalAgent.Controller.[Enable==true.EndpointID", CodeInvalidPathSyntax, 29, ""}, // capture 12
		{"Device.DeviceInfo.1.Manufacturer", CodeInvalidPath, 18, "not a multi-instance object"},
		{"Device.LocalAgent.Controller.Alias", CodeInvalidPath, 29, "instance identifier must come first"},
		{"Device.LocalAgent.Controller.MTP.", CodeInvalidPath, 29, "instance identifier must come first"},
		{"Device.LocalAgent.Controller.1.NoSuch!", CodeInvalidPath, 31, "no event"},
		{"Other.X", CodeInvalidPath, 0, "no object Other."},
		{"Device.LocalAgent.Controller.[NoSuch==1].Alias", CodeInvalidPath, 30, "search parameter NoSuch"},
		{"Device.LocalAgent.Controller.[Alias==\"a\"&&NoSuch==1].Alias", CodeInvalidPath, 42, "search parameter NoSuch"},
		{`Device.LocalAgent.Controller.[Enable=="true"].Alias`, CodeInvalidPathSyntax, 30, "unquoted"},
		{`Device.LocalAgent.Controller.[Enable<true].Alias`, CodeInvalidPathSyntax, 30, "not valid for boolean"},
		{`Device.LocalAgent.Controller.[EndpointID>"a"].Alias`, CodeInvalidPathSyntax, 30, "not valid for string"},
		{`Device.LocalAgent.Controller.[PeriodicNotifInterval==-1].Alias`, CodeInvalidPathSyntax, 30, "not a valid unsignedInt"},
		{`Device.LocalAgent.Controller.[PeriodicNotifTime<0001-01-01T00:00:00Z].Alias`, CodeInvalidPathSyntax, 30, "Unknown Time"},
		{"Device.LocalAgent.Controller.1.Alias+.Name", CodeInvalidPath, 31, "reference following"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := s.LookupString(tt.path)
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want *PathError", err)
			}
			if pe.Code != tt.code || pe.Pos != tt.pos || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got code %d pos %d %q, want %d %d %q", pe.Code, pe.Pos, pe.Msg, tt.code, tt.pos, tt.msg)
			}
		})
	}
	if _, err := s.LookupString("Device.LocalAgent.Controller.1.Alias+.Name"); !errors.Is(err, ErrNeedValues) {
		t.Errorf("reference following error %v does not wrap ErrNeedValues", err)
	}
}

func TestObuspaSchemaChecks(t *testing.T) {
	s, _ := loadObuspaSchema(t, "68-gsdm-device-full")
	p := MustParse
	codes := func(err error) []usperr.Code {
		var out []usperr.Code
		var walk func(error)
		walk = func(err error) {
			if pe, ok := err.(*PathError); ok {
				out = append(out, pe.Code)
				return
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
			}
		}
		walk(err)
		return out
	}
	tests := []struct {
		name string
		err  error
		want []usperr.Code
	}{
		{"set ok (capture 19)", s.CheckSet(p("Device.LocalAgent.Controller.2."), map[string]string{"ProvisioningCode": "probe-prov-1", "PeriodicNotifInterval": "3600"}), nil},
		{"set wildcard (capture 20)", s.CheckSet(p("Device.LocalAgent.Controller.*."), map[string]string{"ProvisioningCode": "x"}), nil},
		{"set search (capture 21)", s.CheckSet(p(`Device.LocalAgent.Controller.[EndpointID=="proto::other-controller"].`), map[string]string{"ProvisioningCode": "x"}), nil},
		{"set read-only (capture 24)", s.CheckSet(p("Device.DeviceInfo."), map[string]string{"SerialNumber": "x"}), []usperr.Code{7013}},
		{"set wrong type (capture 25)", s.CheckSet(p("Device.LocalAgent.Controller.2."), map[string]string{"PeriodicNotifInterval": "not-a-number"}), []usperr.Code{7011}},
		{"set unknown (capture 26)", s.CheckSet(p("Device.LocalAgent.Controller.2."), map[string]string{"NoSuchParam": "x"}), []usperr.Code{7010}},
		{"set several faults in name order", s.CheckSet(p("Device.LocalAgent.Controller.2."), map[string]string{"Enable": "yes", "InheritedRole": "x", "Zzz": "1", "Alias": "ok"}), []usperr.Code{7011, 7013, 7010}},
		{"set nonexistent object (capture 30)", s.CheckSet(p("Device.NoSuchObject."), map[string]string{"Foo": "x"}), []usperr.Code{7026}},
		{"set sub-object param", s.CheckSet(p("Device.LocalAgent.MTP.1."), map[string]string{"MQTT.PublishQoS": "1"}), nil},
		{"set on table", s.CheckSet(p("Device.LocalAgent.Controller."), map[string]string{"Alias": "x"}), []usperr.Code{7026}},
		{"set on param path", s.CheckSet(p("Device.LocalAgent.Controller.1.Alias"), map[string]string{"Alias": "x"}), []usperr.Code{7008}},
		{"delete ok (capture 86)", s.CheckDelete(p("Device.LocalAgent.Controller.2.")), nil},
		{"delete search (capture 48)", s.CheckDelete(p(`Device.LocalAgent.Subscription.[ID=="vc-1"].`)), nil},
		{"delete single-instance (capture 45)", s.CheckDelete(p("Device.DeviceInfo.")), []usperr.Code{7018}},
		{"delete table path", s.CheckDelete(p("Device.LocalAgent.Controller.")), []usperr.Code{7026}},
		{"delete read-only table", s.CheckDelete(p("Device.LocalAgent.Request.1.")), []usperr.Code{7024}},
		{"delete unknown", s.CheckDelete(p("Device.NoSuchObject.1.")), []usperr.Code{7026}},
	}
	for _, tt := range tests {
		if got := codes(tt.err); !slices.Equal(got, tt.want) {
			t.Errorf("%s: codes %v, want %v (%v)", tt.name, got, tt.want, tt.err)
		}
	}

	// Add (captures 04, 34-38).
	missing, err := s.CheckAdd(p("Device.LocalAgent.Controller."), map[string]string{"Alias": "probe-ctrl-2", "EndpointID": "proto::other-controller", "Enable": "false"})
	if err != nil || len(missing) != 0 {
		t.Errorf("add controller: %v, missing %v", err, missing)
	}
	missing, err = s.CheckAdd(p("Device.LocalAgent.Subscription."), map[string]string{"ID": "vc-1", "NotifType": "ValueChange", "ReferenceList": "Device.LocalAgent.Controller.1.ProvisioningCode", "Enable": "true"})
	if err != nil || !slices.Equal(missing, []string{"Alias", "Recipient"}) {
		t.Errorf("add subscription: %v, missing %v; want [Alias Recipient]", err, missing)
	}
	addErrs := []struct {
		name string
		path string
		prm  map[string]string
		want []usperr.Code
	}{
		{"not a table (capture 37)", "Device.DeviceInfo.", nil, []usperr.Code{7018}},
		{"read-only table", "Device.LocalAgent.Request.", nil, []usperr.Code{7019}},
		{"unknown param", "Device.LocalAgent.Controller.1.BootParameter.", map[string]string{"NoSuchParam": "x"}, []usperr.Code{7010}},
		{"read-only param", "Device.LocalAgent.Subscription.", map[string]string{"Recipient": "x"}, []usperr.Code{7013}},
		{"bad type", "Device.LocalAgent.Subscription.", map[string]string{"Enable": "maybe"}, []usperr.Code{7011}},
		{"instance path", "Device.LocalAgent.Controller.1.", nil, []usperr.Code{7026}},
	}
	for _, tt := range addErrs {
		_, err := s.CheckAdd(p(tt.path), tt.prm)
		if got := codes(err); !slices.Equal(got, tt.want) {
			t.Errorf("add %s: codes %v, want %v (%v)", tt.name, got, tt.want, err)
		}
	}

	// Operate (captures 50, 57, 60, 65).
	cmd, err := s.CheckOperate(p("Device.ScheduleTimer()"), map[string]string{"DelaySeconds": "2"})
	if err != nil || !cmd.Async() {
		t.Errorf("operate ScheduleTimer: %v %+v", err, cmd)
	}
	if _, err := s.CheckOperate(p("Device.ScheduleTimer()"), map[string]string{"Delay": "2"}); !errors.Is(err, ErrInvalidCommandArgs) {
		t.Errorf("unknown argument: %v", err)
	}
	if _, err := s.CheckOperate(p("Device.NoSuchCommand()"), nil); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("unknown command: %v", err)
	}
	if _, err := s.CheckOperate(p("Device.Boot!"), nil); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("event as command: %v", err)
	}
}

func TestSchemaMergeAndSubtrees(t *testing.T) {
	full, objs := loadObuspaSchema(t, "68-gsdm-device-full")
	_, first := loadObuspaSchema(t, "69-gsdm-localagent-first-level")
	_, inst := loadObuspaSchema(t, "71-gsdm-instance-and-bad")
	merged, err := NewSchema(append(append(slices.Clone(objs), first...), inst...))
	if err != nil {
		t.Fatalf("merging overlapping responses: %v", err)
	}
	if len(merged.Objects()) != len(full.Objects()) {
		t.Errorf("merged has %d objects, want %d", len(merged.Objects()), len(full.Objects()))
	}
	for _, o := range full.Objects() {
		m, _ := merged.Object(o.Path)
		if len(m.Params) != len(o.Params) || len(m.Commands) != len(o.Commands) || len(m.Events) != len(o.Events) {
			t.Errorf("%s changed by merging", o.Path)
		}
	}

	// A schema of a sub-tree accepts the undescribed ancestors on the way.
	sub, err := NewSchema(inst)
	if err != nil {
		t.Fatal(err)
	}
	e, err := sub.LookupString("Device.LocalAgent.Controller.3.EndpointID")
	if err != nil || e.Param == nil || e.Param.Type != TypeString {
		t.Errorf("sub-tree lookup: %v %+v", err, e)
	}
	e, err = sub.LookupString("Device.LocalAgent.")
	if err != nil || e.Object != nil {
		t.Errorf("undescribed ancestor: %v %+v", err, e)
	}
	if _, err := sub.LookupString("Device.LocalAgent.UpTime"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("param of undescribed ancestor: %v", err)
	}
	if _, err := sub.LookupString("Device.DeviceInfo."); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("object outside the sub-tree: %v", err)
	}
}

func TestNewSchemaErrors(t *testing.T) {
	tests := []struct {
		name string
		objs []SupportedObject
		msg  string
	}{
		{"bad path", []SupportedObject{{Path: "Device..X."}}, "empty name"},
		{"param path", []SupportedObject{{Path: "Device.X"}}, "ends with '.'"},
		{"search path", []SupportedObject{{Path: "Device.X.*."}}, "names and {i} only"},
		{"table flag missing", []SupportedObject{{Path: "Device.X.{i}."}}, "not multi-instance"},
		{"table path missing", []SupportedObject{{Path: "Device.X.", MultiInstance: true}}, "does not end with"},
		{"bad param name", []SupportedObject{{Path: "Device.", Params: []SupportedParam{{Name: "a.b"}}}}, "parameter"},
		{"bad command name", []SupportedObject{{Path: "Device.", Commands: []SupportedCommand{{Name: "1()"}}}}, "command"},
		{"bad event name", []SupportedObject{{Path: "Device.", Events: []SupportedEvent{{Name: "x y!"}}}}, "event"},
		{"conflict", []SupportedObject{
			{Path: "Device.", Params: []SupportedParam{{Name: "A", Type: TypeInt}}},
			{Path: "Device.", Params: []SupportedParam{{Name: "A", Type: TypeString}}},
		}, "different definitions"},
		{"access conflict", []SupportedObject{
			{Path: "Device.X.{i}.", MultiInstance: true, Access: ObjAddDelete},
			{Path: "Device.X.{i}.", MultiInstance: true},
		}, "different multi-instance flag or access"},
	}
	for _, tt := range tests {
		s, err := NewSchema(tt.objs)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: NewSchema = %v, %v; want error mentioning %q", tt.name, s, err, tt.msg)
		}
	}
	// Names without "()" and "!" are normalised; instance numbers become {i}.
	s, err := NewSchema([]SupportedObject{{Path: "Device.X.1.", MultiInstance: true,
		Commands: []SupportedCommand{{Name: "Go", Type: CmdAsync}}, Events: []SupportedEvent{{Name: "Done"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupString("Device.X.7.Go()"); err != nil {
		t.Error(err)
	}
	if _, err := s.LookupString("Device.X.*.Done!"); err != nil {
		t.Error(err)
	}
}
