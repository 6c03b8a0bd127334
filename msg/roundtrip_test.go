package msg

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/testing/protocmp"
)

// roundTripCases holds one or more values of every message kind, filled so
// that each field would be noticed if it were dropped on the way.
func roundTripCases() []struct {
	name string
	m    Message
} {
	return []struct {
		name string
		m    Message
	}{
		{"get", &Get{Paths: []string{"Device.DeviceInfo.", "Device.LocalAgent.EndpointID"}, MaxDepth: 2}},
		{"get empty", &Get{}},
		{"get resp", &GetResp{Results: []GetResult{
			{Requested: "Device.LocalAgent.Controller.*.EndpointID", Resolved: []Resolved{
				{Path: "Device.LocalAgent.Controller.1.", Params: map[string]string{"EndpointID": "a"}},
				{Path: "Device.LocalAgent.Controller.2.", Params: map[string]string{"EndpointID": "b"}},
			}},
			{Requested: "Device.Nope.", Err: &Error{Code: CodeInvalidPath, Message: "no such path"}},
			{Requested: "Device.Empty."},
		}}},
		{"set", &Set{AllowPartial: true, Objects: []SetObject{
			{Path: "Device.LocalAgent.Controller.2.", Params: []Param{{Name: "A", Value: "1", Required: true}, {Name: "B", Value: ""}}},
			{Path: "Device.X."},
		}}},
		{"set resp", &SetResp{Results: []SetResult{
			{Requested: "Device.LocalAgent.Controller.*.", Updated: []UpdatedInstance{
				{Path: "Device.LocalAgent.Controller.1.", Params: map[string]string{"A": "1"},
					ParamErrs: []ParamError{{Path: "Device.LocalAgent.Controller.1.B", Code: CodeUnsupportedParam, Message: "no B"}}},
				{Path: "Device.LocalAgent.Controller.2.", Params: map[string]string{"A": "1", "C": "x"}},
			}},
			{Requested: "Device.DeviceInfo.", Err: &Error{Code: CodeRequiredParamFailed, Message: "failed"},
				Failed: []FailedInstance{{Path: "Device.DeviceInfo.", ParamErrs: []ParamError{
					{Path: "Device.DeviceInfo.SerialNumber", Code: CodeParamReadOnly, Message: "read-only"},
				}}}},
			{Requested: "Device.Gone.", Err: &Error{Code: CodeObjectNotFound}},
		}}},
		{"add", &Add{AllowPartial: true, Objects: []AddObject{
			{Path: "Device.LocalAgent.Subscription.", Params: []Param{{Name: "ID", Value: "s1", Required: true}, {Name: "Enable", Value: "true"}}},
		}}},
		{"add resp", &AddResp{Results: []AddResult{
			{Requested: "Device.LocalAgent.Subscription.", Path: "Device.LocalAgent.Subscription.3.",
				UniqueKeys: map[string]string{"ID": "s1", "Alias": "cpe-3"},
				ParamErrs:  []ParamError{{Path: "Device.LocalAgent.Subscription.3.Bogus", Code: CodeUnsupportedParam, Message: "bogus"}}},
			{Requested: "Device.DeviceInfo.", Err: &Error{Code: CodeNotATable, Message: "not a table"}},
		}}},
		{"delete", &Delete{AllowPartial: true, Paths: []string{"Device.LocalAgent.Subscription.3.", "Device.X.*."}}},
		{"delete resp", &DeleteResp{Results: []DeleteResult{
			{Requested: "Device.X.*.", Affected: []string{"Device.X.1.", "Device.X.2."},
				Unaffected: []ParamError{{Path: "Device.X.3.", Code: CodeDeleteFailure, Message: "busy"}}},
			{Requested: "Device.X.9."},
			{Requested: "Device.DeviceInfo.", Err: &Error{Code: CodeNotCreatable, Message: "no"}},
		}}},
		{"operate", &Operate{Command: "Device.ScheduleTimer()", CommandKey: "k1", SendResp: true, Args: map[string]string{"DelaySeconds": "2"}}},
		{"operate resp", &OperateResp{Results: []OperateResult{
			{ExecutedCommand: "Device.ScheduleTimer()", RequestObjPath: "Device.LocalAgent.Request.1"},
			{ExecutedCommand: "Device.Sync()", OutputArgs: map[string]string{"Out": "1"}},
			{ExecutedCommand: "Device.SyncEmpty()", OutputArgs: map[string]string{}},
			{ExecutedCommand: "Device.Fail()", Err: &Error{Code: CodeCommandFailure, Message: "broken"}},
		}}},
		{"get supported dm", &GetSupportedDM{Paths: []string{"Device."}, FirstLevelOnly: true, ReturnCommands: true,
			ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true}},
		{"get supported dm resp", &GetSupportedDMResp{Results: []SupportedDMResult{
			{Requested: "Device.", DataModelInstURI: "urn:broadband-forum-org:tr-181-2-12-0", Objects: []SupportedObject{
				{Path: "Device.", Commands: []SupportedCommand{{Name: "Reboot()", Inputs: []string{"Cause"}, Type: CmdSync}},
					Events: []SupportedEvent{{Name: "Boot!", Args: []string{"Cause", "CommandKey"}}}},
				{Path: "Device.LocalAgent.Controller.{i}.", Access: ObjAddDelete, MultiInstance: true,
					Params: []SupportedParam{
						{Name: "Alias", Access: ParamReadWrite, Type: TypeString, ValueChange: ValueChangeAllowed},
						{Name: "Secret", Access: ParamWriteOnly, Type: TypeBase64, ValueChange: ValueChangeWillIgnore},
					},
					Commands:       []SupportedCommand{{Name: "Send()", Inputs: []string{"A"}, Outputs: []string{"B"}, Type: CmdAsync}},
					DivergentPaths: []string{"Device.LocalAgent.Controller.1."},
					UniqueKeySets:  [][]string{{"Alias"}, {"EndpointID"}}},
			}},
			{Requested: "Device.Nope.", Err: &Error{Code: CodeInvalidPath, Message: "nope"}},
		}}},
		{"get instances", &GetInstances{Paths: []string{"Device.LocalAgent."}, FirstLevelOnly: true}},
		{"get instances resp", &GetInstancesResp{Results: []InstancesResult{
			{Requested: "Device.LocalAgent.Controller.", Instances: []Instance{
				{Path: "Device.LocalAgent.Controller.1.", UniqueKeys: map[string]string{"Alias": "cpe-1", "EndpointID": "x"}},
				{Path: "Device.LocalAgent.Controller.2."},
			}},
			{Requested: "Device.DeviceInfo."},
			{Requested: "Device.Nope.", Err: &Error{Code: CodeInvalidPath, Message: "nope"}},
		}}},
		{"get supported protocol", &GetSupportedProtocol{Versions: "1.3,1.4"}},
		{"get supported protocol resp", &GetSupportedProtocolResp{Versions: "1.0,1.1,1.2,1.3"}},
		{"register", &Register{AllowPartial: true, Paths: []string{"Device.Example.", "Device.Other."}}},
		{"register resp", &RegisterResp{Results: []RegisterResult{
			{Requested: "Device.Example.", Path: "Device.Example."},
			{Requested: "Device.Other.", Err: &Error{Code: CodeAlreadyInUse, Message: "taken"}},
		}}},
		{"deregister", &Deregister{Paths: []string{"Device.Example.", ""}}},
		{"deregister resp", &DeregisterResp{Results: []DeregisterResult{
			{Requested: "", Paths: []string{"Device.Example.", "Device.Other."}},
			{Requested: "Device.Foreign.", Err: &Error{Code: CodePathAlreadyRegistered, Message: "not yours"}},
		}}},
		{"notify event", &Notify{SubscriptionID: "boot-1", Notification: &Event{
			ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"Cause": "LocalReboot", "CommandKey": ""}}}},
		{"notify value change", &Notify{SubscriptionID: "vc-1", SendResp: true, Notification: &ValueChange{
			ParamPath: "Device.LocalAgent.Controller.1.ProvisioningCode", ParamValue: "x"}}},
		{"notify object creation", &Notify{SubscriptionID: "oc-1", Notification: &ObjectCreation{
			ObjPath: "Device.X.2.", UniqueKeys: map[string]string{"Alias": "cpe-2"}}}},
		{"notify object deletion", &Notify{SubscriptionID: "od-1", Notification: &ObjectDeletion{ObjPath: "Device.X.2."}}},
		{"notify operation complete", &Notify{SubscriptionID: "opc-1", SendResp: true, Notification: &OperationComplete{
			ObjPath: "Device.", CommandName: "SelfTestDiagnostics()", CommandKey: "k", OutputArgs: map[string]string{"Results": "PASS"}}}},
		{"notify operation complete empty", &Notify{SubscriptionID: "opc-1", Notification: &OperationComplete{
			ObjPath: "Device.", CommandName: "ScheduleTimer()", OutputArgs: map[string]string{}}}},
		{"notify operation failed", &Notify{SubscriptionID: "opc-1", Notification: &OperationComplete{
			ObjPath: "Device.", CommandName: "X()", CommandKey: "k", Err: &Error{Code: CodeCommandFailure, Message: "failed"}}}},
		{"notify onboard", &Notify{SendResp: true, Notification: &OnBoardRequest{
			OUI: "012345", ProductClass: "USP Agent", SerialNumber: "000000000000", AgentSupportedProtocolVersions: "1.3,1.4"}}},
		{"notify resp", &NotifyResp{SubscriptionID: "opc-1"}},
		{"notify resp empty", &NotifyResp{}},
		{"error", &Error{Code: CodeInvalidArguments, Message: "bad", ParamErrs: []ParamError{
			{Path: "Device.DeviceInfo.SerialNumber", Code: CodeParamReadOnly, Message: "ro"},
			{Path: "Device.X.{i}.ID", Code: CodeDuplicateKey},
		}}},
		{"error vendor", &Error{Code: 7801}},
	}
}

func TestRoundTrip(t *testing.T) {
	kinds := map[uspmsg.Header_MsgType]bool{}
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			id := NewID()
			built := tc.m.Build(id)
			if got := built.GetHeader().GetMsgId(); got != id {
				t.Fatalf("msg_id = %q, want %q", got, id)
			}
			if got := built.GetHeader().GetMsgType(); got != tc.m.MsgType() {
				t.Fatalf("msg_type = %v, want %v", got, tc.m.MsgType())
			}
			kinds[tc.m.MsgType()] = true
			b, err := Encode(built)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d := cmp.Diff(built, m, protocmp.Transform()); d != "" {
				t.Fatalf("wire round trip changed the message (-built +decoded):\n%s", d)
			}
			got, err := Parse(m)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("Parse(Build(v)) != v\n got: %#v\nwant: %#v", got, tc.m)
			}
			// Building the parsed value again gives the same message.
			if d := cmp.Diff(built, got.Build(id), protocmp.Transform()); d != "" {
				t.Fatalf("Build(Parse(m)) != m (-m +rebuilt):\n%s", d)
			}
		})
	}
	for name, v := range uspmsg.Header_MsgType_value {
		if !kinds[uspmsg.Header_MsgType(v)] {
			t.Errorf("no round-trip case for %s", name)
		}
	}
}
