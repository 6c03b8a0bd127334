package msg_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gousp/gousp/msg"
)

func ExampleGet() {
	m := msg.Get{Paths: []string{"Device.DeviceInfo.", "Device.LocalAgent.EndpointID"}, MaxDepth: 1}.Build("get-1")
	fmt.Println(m.GetHeader().GetMsgId(), m.GetHeader().GetMsgType())
	fmt.Println(m.GetBody().GetRequest().GetGet().GetParamPaths())
	// Output:
	// get-1 GET
	// [Device.DeviceInfo. Device.LocalAgent.EndpointID]
}

func ExampleSetParams() {
	set := msg.SetParams("Device.LocalAgent.Controller.2.", map[string]string{
		"ProvisioningCode": "abc", "PeriodicNotifInterval": "3600",
	})
	set.AllowPartial = true
	for _, p := range set.Objects[0].Params {
		fmt.Printf("%s=%s required=%t\n", p.Name, p.Value, p.Required)
	}
	m := set.Build(msg.NewID())
	fmt.Println(m.GetHeader().GetMsgType(), m.GetBody().GetRequest().GetSet().GetAllowPartial())
	// Output:
	// PeriodicNotifInterval=3600 required=true
	// ProvisioningCode=abc required=true
	// SET true
}

func ExampleAddParams() {
	add := msg.AddParams("Device.LocalAgent.Subscription.", map[string]string{
		"ID": "vc-1", "NotifType": "ValueChange", "ReferenceList": "Device.DeviceInfo.SoftwareVersion", "Enable": "true",
	})
	m := add.Build("add-1")
	for _, p := range m.GetBody().GetRequest().GetAdd().GetCreateObjs()[0].GetParamSettings() {
		fmt.Print(p.GetParam(), " ")
	}
	fmt.Println()
	// Output:
	// Enable ID NotifType ReferenceList
}

func ExampleOperate() {
	op := msg.Operate{Command: "Device.SelfTestDiagnostics()", CommandKey: "selftest-1", SendResp: true}
	m := op.Build("op-1")
	fmt.Println(m.GetHeader().GetMsgType(), msg.ResponseType(op.MsgType()))

	// The agent answers that the command runs asynchronously.
	answer := msg.OperateResp{Results: []msg.OperateResult{
		{ExecutedCommand: "Device.SelfTestDiagnostics()", RequestObjPath: "Device.LocalAgent.Request.1"},
	}}.Build("op-1")
	resp, err := msg.ParseOperateResp(answer)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range resp.Results {
		fmt.Println(r.ExecutedCommand, r.Outcome(), r.RequestObjPath)
	}
	// Output:
	// OPERATE OPERATE_RESP
	// Device.SelfTestDiagnostics() async Device.LocalAgent.Request.1
}

func ExampleParseGetResp() {
	// What an agent sends back for a Get of two paths, one of them wrong.
	answer := msg.GetResp{Results: []msg.GetResult{
		{Requested: "Device.DeviceInfo.", Resolved: []msg.Resolved{
			{Path: "Device.DeviceInfo.", Params: map[string]string{"Manufacturer": "ACME", "ModelName": "R1"}},
		}},
		{Requested: "Device.DeviceInfo.NoSuchParam", Err: &msg.Error{Code: msg.CodeInvalidPath, Message: "not in schema"}},
	}}.Build("get-1")

	resp, err := msg.ParseGetResp(answer)
	if err != nil {
		fmt.Println(err)
		return
	}
	vals := resp.Values()
	fmt.Println(vals["Device.DeviceInfo.Manufacturer"], vals["Device.DeviceInfo.ModelName"])
	fmt.Println(errors.Is(resp.Err(), msg.ErrInvalidPath))
	fmt.Println(resp.Err())
	// Output:
	// ACME R1
	// true
	// "Device.DeviceInfo.NoSuchParam": usp error 7026 (invalid path): not in schema
}

func ExampleError() {
	// An agent refused a Set outright.
	answer := (&msg.Error{Code: msg.CodeInvalidArguments, Message: "read-only", ParamErrs: []msg.ParamError{
		{Path: "Device.DeviceInfo.SerialNumber", Code: msg.CodeParamReadOnly},
	}}).Build("set-1")

	_, err := msg.ParseSetResp(answer)
	fmt.Println(errors.Is(err, msg.ErrInvalidArguments), msg.CodeOf(err))
	var e *msg.Error
	if errors.As(err, &e) {
		fmt.Println(e.ParamErrs[0].Path, e.ParamErrs[0].Code.String())
	}
	// Output:
	// true invalid arguments
	// Device.DeviceInfo.SerialNumber attempt to update non-writeable parameter
}

func ExampleNotify() {
	// A fake agent reports a boot; the controller reads it and answers.
	n := msg.Notify{SubscriptionID: "boot-1", SendResp: true, Notification: &msg.Event{
		ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"Cause": "LocalReboot"},
	}}
	m := n.Build(msg.NewID())

	got, err := msg.ParseNotify(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch ev := got.Notification.(type) {
	case *msg.Event:
		fmt.Println(ev.Path(), ev.Params["Cause"])
	case *msg.ValueChange:
		fmt.Println(ev.ParamPath, ev.ParamValue)
	}
	if got.SendResp {
		ack := got.Resp().Build(m.GetHeader().GetMsgId())
		fmt.Println(ack.GetHeader().GetMsgType(), ack.GetBody().GetResponse().GetNotifyResp().GetSubscriptionId())
	}
	// Output:
	// Device.Boot! LocalReboot
	// NOTIFY_RESP boot-1
}

func ExampleDecode() {
	payload, _ := msg.Encode(msg.GetInstances{Paths: []string{"Device.LocalAgent.Controller."}}.Build("gi-1"))
	m, err := msg.Decode(payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := msg.Parse(m)
	fmt.Printf("%T %v\n", v, v.(*msg.GetInstances).Paths)

	// A message whose header disagrees with its body is rejected.
	bad := msg.Get{}.Build("x")
	bad.Header.MsgType = msg.Set{}.MsgType()
	fmt.Println(msg.Validate(bad))
	// Output:
	// *msg.GetInstances [Device.LocalAgent.Controller.]
	// msg: invalid message "x": header msg_type SET does not match body GET
}

func ExampleNewID() {
	a, b := msg.NewID(), msg.NewID()
	fmt.Println(a != b, len(a), len(b))
	// Output:
	// true 16 16
}

func ExampleJSONIndent() {
	out, _ := msg.JSONIndent(msg.NotifyResp{SubscriptionID: "vc-1"}.Build("n-1"))
	// protojson varies its spacing on purpose; normalise it for the example.
	fmt.Println(strings.Join(strings.Fields(string(out)), " "))
	// Output:
	// { "header": { "msg_id": "n-1", "msg_type": "NOTIFY_RESP" }, "body": { "response": { "notify_resp": { "subscription_id": "vc-1" } } } }
}
