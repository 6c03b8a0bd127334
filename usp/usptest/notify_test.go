package usptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
)

// subscribe adds a subscription through the agent and returns its path.
func subscribe(t *testing.T, c *testController, id, notifType, refs string, retry bool) string {
	t.Helper()
	params := map[string]string{"ID": id, "NotifType": notifType, "ReferenceList": refs, "Enable": "true"}
	if retry {
		params["NotifRetry"] = "true"
	}
	r := c.do(msg.AddParams("Device.LocalAgent.Subscription.", params))
	res := r.GetBody().GetResponse().GetAddResp().GetCreatedObjResults()
	if len(res) != 1 || res[0].GetOperStatus().GetOperSuccess() == nil {
		t.Fatalf("subscribing: %v", r)
	}
	ok := res[0].GetOperStatus().GetOperSuccess()
	if ok.GetUniqueKeys()["Recipient"] != "Device.LocalAgent.Controller.1" {
		t.Errorf("Recipient %q", ok.GetUniqueKeys()["Recipient"])
	}
	return ok.GetInstantiatedPath()
}

func notifyBody(r *usprecord.Record) *uspmsg.Notify {
	return payloadMsg(r).GetBody().GetRequest().GetNotify()
}

func TestBootEvent(t *testing.T) {
	a, c := newTestAgent(t, WithBootCause("LocalFactoryReset"))
	if err := a.Model().LoadValues(map[string]string{}); err != nil {
		t.Fatal(err)
	}
	r := c.take(time.Second, notifyOf("Event"))
	if r == nil {
		t.Fatal("no Boot!")
	}
	n := notifyBody(r)
	ev := n.GetEvent()
	if n.GetSubscriptionId() != "boot-1" || n.GetSendResp() || ev.GetObjPath() != "Device." || ev.GetEventName() != "Boot!" {
		t.Errorf("boot %v", n)
	}
	want := map[string]string{"Cause": "LocalFactoryReset", "CommandKey": "", "FirmwareUpdated": "false", "ParameterMap": "{}", "Reason": "Unknown"}
	if !maps.Equal(ev.GetParams(), want) {
		t.Errorf("params %v", ev.GetParams())
	}
	if r.GetVersion() != "1.3" || r.GetToId() != ctrlID || r.GetFromId() != agentID {
		t.Errorf("record %v", r)
	}
}

func TestValueChange(t *testing.T) {
	a, c := newTestAgent(t)
	subscribe(t, c, "vc", "ValueChange", "Device.WiFi.SSID.*.SSID,Device.DeviceInfo.ProvisioningCode", false)
	// Through the agent.
	c.do(msg.SetParams("Device.WiFi.SSID.2.", map[string]string{"SSID": "changed", "Enable": "false"}))
	r := c.take(time.Second, notifyOf("ValueChange"))
	if r == nil {
		t.Fatal("no ValueChange")
	}
	if vc := notifyBody(r).GetValueChange(); vc.GetParamPath() != "Device.WiFi.SSID.2.SSID" || vc.GetParamValue() != "changed" {
		t.Errorf("value change %v", vc)
	}
	// Through the model, as a test changes a value.
	if err := a.Model().Set("Device.DeviceInfo.ProvisioningCode", "abc"); err != nil {
		t.Fatal(err)
	}
	r = c.take(time.Second, notifyOf("ValueChange"))
	if vc := notifyBody(r).GetValueChange(); vc.GetParamPath() != "Device.DeviceInfo.ProvisioningCode" || vc.GetParamValue() != "abc" {
		t.Errorf("value change %v", vc)
	}
	// An unchanged value and parameters outside the ReferenceList say nothing.
	c.do(msg.SetParams("Device.WiFi.SSID.2.", map[string]string{"SSID": "changed", "Enable": "true"}))
	c.quiet(30*time.Millisecond, notifyOf("ValueChange"))
}

func TestObjectLifeNotifications(t *testing.T) {
	a, c := newTestAgent(t)
	subscribe(t, c, "oc", "ObjectCreation", "Device.Hosts.Host.", false)
	subscribe(t, c, "od", "ObjectDeletion", "Device.Hosts.Host.", false)
	path, err := a.Model().AddInstance("Device.Hosts.Host.", map[string]string{"PhysAddress": "02:00:00:00:dd:03", "HostName": "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if path != "Device.Hosts.Host.3." {
		t.Errorf("path %q", path)
	}
	r := c.take(time.Second, notifyOf("ObjectCreation"))
	if r == nil {
		t.Fatal("no ObjectCreation")
	}
	oc := notifyBody(r).GetObjCreation()
	if notifyBody(r).GetSubscriptionId() != "oc" || oc.GetObjPath() != path || oc.GetUniqueKeys()["PhysAddress"] != "02:00:00:00:dd:03" {
		t.Errorf("creation %v", notifyBody(r))
	}
	if err := a.Model().DeleteInstance(path); err != nil {
		t.Fatal(err)
	}
	r = c.take(time.Second, notifyOf("ObjectDeletion"))
	if r == nil || notifyBody(r).GetObjDeletion().GetObjPath() != path || notifyBody(r).GetSubscriptionId() != "od" {
		t.Fatalf("deletion %v", r)
	}
	// The Request objects of asynchronous commands are not Hosts.
	c.quiet(20*time.Millisecond, notifyOf("ObjectCreation"))
}

func TestNotifyRetry(t *testing.T) { synctest.Test(t, testNotifyRetry) }

func testNotifyRetry(t *testing.T) {
	// Intervals 50, 100, then 200 ms: wide enough that delivery jitter on
	// a loaded machine cannot hide the growth.
	a, c := newTestAgent(t, WithNotifyRetry(50*time.Millisecond, 200*time.Millisecond))
	subscribe(t, c, "vc", "ValueChange", "Device.DeviceInfo.ProvisioningCode", true)
	if err := a.Model().Set("Device.DeviceInfo.ProvisioningCode", "x"); err != nil {
		t.Fatal(err)
	}
	first := c.take(time.Second, notifyOf("ValueChange"))
	if first == nil || !notifyBody(first).GetSendResp() {
		t.Fatalf("first %v", first)
	}
	id := payloadMsg(first).GetHeader().GetMsgId()
	synctest.Wait() // nothing answers it: it stays pending
	if got := a.PendingNotifications(); !slices.Equal(got, []string{id}) {
		t.Errorf("pending %v", got)
	}
	// Resent byte for byte, at growing intervals.
	var times []time.Time
	for range 3 {
		r := c.take(time.Second, notifyOfID(id))
		if r == nil {
			t.Fatal("no retransmission")
		}
		times = append(times, time.Now())
	}
	c.mu.Lock()
	var copies [][]byte
	for _, raw := range c.raw {
		if bytes.Contains(raw, []byte(id)) {
			copies = append(copies, raw)
		}
	}
	c.mu.Unlock()
	if len(copies) < 4 {
		t.Fatalf("%d copies", len(copies))
	}
	for _, cp := range copies[1:] {
		if !bytes.Equal(cp, copies[0]) {
			t.Error("retransmission is not byte-identical")
		}
	}
	if gap := times[2].Sub(times[1]); gap < 120*time.Millisecond {
		t.Errorf("third retry %v after the second: the interval does not grow", gap)
	}
	// An ignored NotifyResp leaves it pending; the next one ends it.
	a.Faults().IgnoreNotifyResp(1)
	c.ack(first)
	if c.take(time.Second, notifyOfID(id)) == nil {
		t.Fatal("retries stopped after an ignored NotifyResp")
	}
	c.ack(first)
	waitUntil(t, func() bool { return len(a.PendingNotifications()) == 0 })
	c.take(100*time.Millisecond, notifyOfID(id))  // one may have been on its way
	c.quiet(300*time.Millisecond, notifyOfID(id)) // longer than the 200 ms interval
}

func TestNotifyExpiration(t *testing.T) { synctest.Test(t, testNotifyExpiration) }

func testNotifyExpiration(t *testing.T) {
	a, c := newTestAgent(t, WithNotifyRetry(10*time.Millisecond, 10*time.Millisecond))
	path := subscribe(t, c, "vc", "ValueChange", "Device.DeviceInfo.ProvisioningCode", true)
	// NotifExpiration is in seconds: one second bounds the retries.
	c.do(msg.SetParams(path, map[string]string{"NotifExpiration": "1"}))
	if err := a.Model().Set("Device.DeviceInfo.ProvisioningCode", "y"); err != nil {
		t.Fatal(err)
	}
	if c.take(time.Second, notifyOf("ValueChange")) == nil {
		t.Fatal("no notification")
	}
	waitUntil(t, func() bool { return len(a.PendingNotifications()) == 0 })
}

func TestSubscriptionTimeToLive(t *testing.T) { synctest.Test(t, testSubscriptionTimeToLive) }

func testSubscriptionTimeToLive(t *testing.T) {
	a, c := newTestAgent(t)
	r := c.do(msg.AddParams("Device.LocalAgent.Subscription.", map[string]string{"ID": "brief", "NotifType": "Event",
		"ReferenceList": "Device.Boot!", "TimeToLive": "1"}))
	path := r.GetBody().GetResponse().GetAddResp().GetCreatedObjResults()[0].GetOperStatus().GetOperSuccess().GetInstantiatedPath()
	if path == "" {
		t.Fatalf("add %v", r)
	}
	start := time.Now()
	waitUntil(t, func() bool {
		subs, _ := a.Model().Instances("Device.LocalAgent.Subscription.")
		return !slices.Contains(subs, path)
	})
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("deleted after %v, TimeToLive is 1s", d)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// opComplete waits for an OperationComplete and returns it.
func opComplete(t *testing.T, c *testController) *uspmsg.Notify_OperationComplete {
	t.Helper()
	r := c.take(5*time.Second, notifyOf("OperationComplete"))
	if r == nil {
		t.Fatal("no OperationComplete")
	}
	if notifyBody(r).GetSendResp() {
		c.ack(r)
	}
	return notifyBody(r).GetOperComplete()
}

func operate(t *testing.T, c *testController, cmd, key string, args map[string]string) *uspmsg.OperateResp_OperationResult {
	t.Helper()
	r := c.do(msg.Operate{Command: cmd, CommandKey: key, SendResp: true, Args: args})
	res := r.GetBody().GetResponse().GetOperateResp().GetOperationResults()
	if len(res) != 1 {
		t.Fatalf("operate %s: %v", cmd, r)
	}
	return res[0]
}

func TestAsyncCommands(t *testing.T) {
	a, c := newTestAgent(t)
	c.take(time.Second, notifyOf("Event")) // Boot!
	subscribe(t, c, "ops", "OperationComplete", "Device.IP.Diagnostics.IPPing(),Device.WiFi.,Device.SoftwareModules.InstallDU()", true)
	subscribe(t, c, "events", "Event", "Device.SoftwareModules.DUStateChange!", false)

	res := operate(t, c, "Device.IP.Diagnostics.IPPing()", "ping-1", map[string]string{"Host": "127.0.0.1", "NumberOfRepetitions": "4"})
	if res.GetReqObjPath() != "Device.LocalAgent.Request.1" {
		t.Errorf("req_obj_path %q", res.GetReqObjPath())
	}
	oc := opComplete(t, c)
	if oc.GetObjPath() != "Device.IP.Diagnostics." || oc.GetCommandName() != "IPPing()" || oc.GetCommandKey() != "ping-1" {
		t.Errorf("complete %v", oc)
	}
	out := oc.GetReqOutputArgs().GetOutputArgs()
	if out["Status"] != "Complete" || out["SuccessCount"] != "4" || out["IPAddressUsed"] != "127.0.0.1" {
		t.Errorf("outputs %v", out)
	}
	waitUntil(t, func() bool { i, _ := a.Model().Instances("Device.LocalAgent.Request."); return len(i) == 0 })

	// Check failures come in OperateResp; handler failures in OperationComplete.
	if f := operate(t, c, "Device.IP.Diagnostics.IPPing()", "", nil).GetCmdFailure(); f.GetErrCode() != uint32(msg.CodeInvalidCommandArgs) {
		t.Errorf("missing Host: %v", f)
	}
	// An argument the command does not know is ignored (TP-469 1.91).
	if r := operate(t, c, "Device.IP.Diagnostics.IPPing()", "color", map[string]string{"Host": "x", "Color": "red"}); r.GetReqObjPath() == "" {
		t.Errorf("unknown argument: %v", r)
	}
	if oc := opComplete(t, c); oc.GetCommandKey() != "color" || oc.GetCmdFailure() != nil {
		t.Errorf("ping with an unknown argument %v", oc)
	}
	operate(t, c, "Device.IP.Diagnostics.IPPing()", "bad", map[string]string{"Host": "x", "NumberOfRepetitions": "0"})
	if oc := opComplete(t, c); oc.GetCmdFailure().GetErrCode() != uint32(msg.CodeInvalidCommandArgs) || oc.GetCommandKey() != "bad" {
		t.Errorf("failed ping %v", oc)
	}

	// A WiFi scan, covered by the object path in the ReferenceList.
	operate(t, c, "Device.WiFi.NeighboringWiFiDiagnostic()", "scan", nil)
	if oc := opComplete(t, c); oc.GetReqOutputArgs().GetOutputArgs()["Result.2.SSID"] != "neighbour-5G" {
		t.Errorf("scan %v", oc)
	}

	// Software installation: a deployment unit, an event and a completion.
	operate(t, c, "Device.SoftwareModules.InstallDU()", "du", map[string]string{"URL": "http://example.com/app-2.1.tar"})
	if oc := opComplete(t, c); oc.GetCmdFailure() != nil {
		t.Errorf("install %v", oc)
	}
	ev := c.take(time.Second, notifyOf("Event"))
	if ev == nil {
		t.Fatal("no DUStateChange!")
	}
	if p := notifyBody(ev).GetEvent().GetParams(); p["DeploymentUnitRef"] != "Device.SoftwareModules.DeploymentUnit.1" || p["CurrentState"] != "Installed" {
		t.Errorf("DUStateChange! %v", p)
	}
	vals, err := a.Model().Values("Device.SoftwareModules.DeploymentUnit.1.")
	if err != nil || vals["Device.SoftwareModules.DeploymentUnit.1.Name"] != "app" || vals["Device.SoftwareModules.DeploymentUnit.1.Version"] != "2.1" {
		t.Errorf("deployment unit %v %v", vals, err)
	}
	c.quiet(20*time.Millisecond, notifyOf("OperationComplete")) // the Request deletions are not OperationCompletes
}

func TestOperateVariants(t *testing.T) {
	a, c := newTestAgent(t)
	subscribe(t, c, "all", "OperationComplete", "Device.", false)
	// send_resp=false: no OperateResp, but the completion still comes.
	c.sendMsg(msg.Operate{Command: "Device.SelfTestDiagnostics()", CommandKey: "quiet"}.Build("no-resp"))
	if oc := opComplete(t, c); oc.GetCommandKey() != "quiet" || oc.GetReqOutputArgs().GetOutputArgs()["Results"] != "PASS" {
		t.Errorf("complete %v", oc)
	}
	c.quiet(20*time.Millisecond, msgWithID("no-resp"))

	// Unknown command, missing instance: an Error message.
	for _, cmd := range []string{"Device.NoSuch()", "Device.LocalAgent.Controller.5.SendOnBoardRequest()", "Device.DeviceInfo.", "Device.["} {
		r := c.do(msg.Operate{Command: cmd, SendResp: true})
		if r.GetBody().GetError() == nil {
			t.Errorf("%s: %v", cmd, r)
		}
	}
	// A wildcard over no instance: no results.
	r := c.do(msg.Operate{Command: "Device.DeviceInfo.FirmwareImage.[Alias==\"none\"].Download()", SendResp: true})
	if res := r.GetBody().GetResponse().GetOperateResp(); res == nil || len(res.GetOperationResults()) != 0 {
		t.Errorf("empty wildcard %v", r)
	}
	// A handler that panics fails the command, not the agent.
	if err := a.Model().DefineCommand("Device.X_Test.Boom()", CommandDef{Run: func(context.Context, string, map[string]string) (map[string]string, error) {
		panic("boom")
	}}); err != nil {
		t.Fatal(err)
	}
	if f := operate(t, c, "Device.X_Test.Boom()", "", nil).GetCmdFailure(); f.GetErrCode() != uint32(msg.CodeInternal) {
		t.Errorf("panic: %v", f)
	}
	// A plain error is a command failure.
	if err := a.Model().HandleCommand("Device.X_Test.Boom()", func(context.Context, string, map[string]string) (map[string]string, error) {
		return nil, errors.New("no")
	}); err != nil {
		t.Fatal(err)
	}
	if f := operate(t, c, "Device.X_Test.Boom()", "", nil).GetCmdFailure(); f.GetErrCode() != uint32(msg.CodeCommandFailure) {
		t.Errorf("error: %v", f)
	}
	// Request numbers are reused once free, as OB-USP-A does.
	for range 2 {
		if res := operate(t, c, "Device.SelfTestDiagnostics()", "k", nil); res.GetReqObjPath() != "Device.LocalAgent.Request.1" {
			t.Errorf("req_obj_path %q", res.GetReqObjPath())
		}
		opComplete(t, c)
		waitUntil(t, func() bool { i, _ := a.Model().Instances("Device.LocalAgent.Request."); return len(i) == 0 })
	}
}

func TestRebootAndFactoryReset(t *testing.T) {
	a, c := newTestAgent(t, WithRebootDowntime(time.Millisecond))
	if c.take(time.Second, notifyOf("Event")) == nil {
		t.Fatal("no Boot! at start")
	}
	// A boot parameter of controller 1 travels in Boot!'s ParameterMap.
	r := c.do(msg.AddParams("Device.LocalAgent.Controller.1.BootParameter.", map[string]string{"ParameterName": "Device.DeviceInfo.SoftwareVersion", "Enable": "true"}))
	if len(addResults(r)) != 1 {
		t.Fatal(addResults(r))
	}
	volatile := subscribe(t, c, "volatile", "ValueChange", "Device.DeviceInfo.", false)
	operate(t, c, "Device.Reboot()", "rb-1", nil)
	boot := c.take(time.Second, notifyOf("Event"))
	if boot == nil {
		t.Fatal("no Boot! after Reboot()")
	}
	p := notifyBody(boot).GetEvent().GetParams()
	if p["Cause"] != "RemoteReboot" || p["CommandKey"] != "rb-1" {
		t.Errorf("Boot! %v", p)
	}
	subs, _ := a.Model().Instances("Device.LocalAgent.Subscription.")
	if slices.Contains(subs, volatile) || len(subs) != 1 {
		t.Errorf("subscriptions after reboot %v: only the persistent boot-1 should be left", subs)
	}
	var pm map[string]string
	if err := json.Unmarshal([]byte(p["ParameterMap"]), &pm); err != nil || pm["Device.DeviceInfo.SoftwareVersion"] != "1.0.0" {
		t.Errorf("ParameterMap %q (%v)", p["ParameterMap"], err)
	}

	// Firmware: download, then activate; the agent reboots into it.
	operate(t, c, "Device.DeviceInfo.FirmwareImage.2.Download()", "dl", map[string]string{"URL": "http://example.com/usptest-2.0.0.bin"})
	waitUntil(t, func() bool {
		s, _ := a.Model().Get("Device.DeviceInfo.FirmwareImage.2.Status")
		return s == "Available"
	})
	operate(t, c, "Device.DeviceInfo.FirmwareImage.2.Activate()", "act", nil)
	boot = c.take(time.Second, notifyOf("Event"))
	if boot == nil {
		t.Fatal("no Boot! after Activate()")
	}
	if p := notifyBody(boot).GetEvent().GetParams(); p["FirmwareUpdated"] != "true" || p["CommandKey"] != "act" {
		t.Errorf("Boot! %v", p)
	}
	if v, _ := a.Model().Get("Device.DeviceInfo.SoftwareVersion"); v != "2.0.0" {
		t.Errorf("SoftwareVersion %q", v)
	}

	// FactoryReset puts the model back as it was at Start.
	if err := a.Model().Set("Device.WiFi.SSID.1.SSID", "changed"); err != nil {
		t.Fatal(err)
	}
	operate(t, c, "Device.FactoryReset()", "fr", nil)
	boot = c.take(time.Second, notifyOf("Event"))
	if boot == nil || notifyBody(boot).GetEvent().GetParams()["Cause"] != "RemoteFactoryReset" {
		t.Fatalf("Boot! after FactoryReset(): %v", boot)
	}
	if v, _ := a.Model().Get("Device.WiFi.SSID.1.SSID"); v != "usptest" {
		t.Errorf("SSID after factory reset %q", v)
	}
	if v, _ := a.Model().Get("Device.DeviceInfo.SoftwareVersion"); v != "1.0.0" {
		t.Errorf("SoftwareVersion after factory reset %q", v)
	}
	if insts, _ := a.Model().Instances("Device.LocalAgent.Controller.1.BootParameter."); len(insts) != 0 {
		t.Errorf("boot parameters after factory reset %v", insts)
	}
}

func TestOnBoardRequest(t *testing.T) {
	_, c := newTestAgent(t, WithSupportedVersions("1.3"))
	r := c.do(msg.Operate{Command: "Device.LocalAgent.Controller.*.SendOnBoardRequest()", SendResp: true})
	if res := r.GetBody().GetResponse().GetOperateResp().GetOperationResults(); len(res) != 1 || res[0].GetReqOutputArgs() == nil {
		t.Fatalf("operate %v", r)
	}
	ob := c.take(time.Second, notifyOf("OnBoardRequest"))
	if ob == nil {
		t.Fatal("no OnBoardRequest")
	}
	n := notifyBody(ob)
	if n.GetSubscriptionId() != "" || !n.GetSendResp() || n.GetOnBoardReq().GetOui() != "00D09E" ||
		n.GetOnBoardReq().GetAgentSupportedProtocolVersions() != "1.3" {
		t.Errorf("OnBoardRequest %v", n)
	}
	// Retried until answered, with the same msg_id.
	again := c.take(time.Second, notifyOfID(payloadMsg(ob).GetHeader().GetMsgId()))
	if again == nil {
		t.Fatal("not retried")
	}
	c.ack(again)
}

func TestEmit(t *testing.T) {
	a, c := newTestAgent(t)
	c.take(time.Second, notifyOf("Event")) // Boot!
	ctx := context.Background()
	subscribe(t, c, "tc", "Event", "Device.LocalAgent.TransferComplete!", false)
	args := map[string]string{"Command": "Device.DeviceInfo.FirmwareImage.2.Download()", "FaultCode": "0"}
	if err := a.Emit(ctx, "Device.LocalAgent.TransferComplete!", args); err != nil {
		t.Fatal(err)
	}
	r := c.take(time.Second, notifyOf("Event"))
	if r == nil {
		t.Fatal("no event")
	}
	ev := notifyBody(r).GetEvent()
	if ev.GetObjPath() != "Device.LocalAgent." || ev.GetEventName() != "TransferComplete!" || !maps.Equal(ev.GetParams(), args) {
		t.Errorf("event %v", ev)
	}
	for _, bad := range []string{"Device.LocalAgent.Nope!", "Device.LocalAgent.", "Device.LocalAgent.Controller.*.X!", "Device.["} {
		if err := a.Emit(ctx, bad, nil); err == nil {
			t.Errorf("Emit(%q) succeeded", bad)
		}
	}
	// Not subscribed: nothing is sent.
	if err := a.Emit(ctx, "Device.LocalAgent.Periodic!", nil); err != nil {
		t.Fatal(err)
	}
	c.quiet(20*time.Millisecond, notifyOf("Event"))
}

// TestSubscriptionMatching checks what notifyChanges reads from the
// Subscription table on each change: matching subscriptions notify in
// instance order, disabled ones and other NotifTypes do not, and a changed
// ReferenceList takes effect at the next change (the parsed lists are
// shared across the process, keyed by their text).
func TestSubscriptionMatching(t *testing.T) {
	a, c := newTestAgent(t)
	const param = "Device.DeviceInfo.ProvisioningCode"
	var paths []string
	for i := range 5 {
		paths = append(paths, subscribe(t, c, fmt.Sprintf("vc%d", i+1), "ValueChange", param, false))
	}
	subscribe(t, c, "other-kind", "ObjectCreation", "Device.WiFi.SSID.", false)
	off := subscribe(t, c, "disabled", "ValueChange", param, false)
	c.do(msg.SetParams(off, map[string]string{"Enable": "false"}))
	// Moved away from param: this one says nothing from now on.
	c.do(msg.SetParams(paths[2], map[string]string{"ReferenceList": "Device.DeviceInfo.SoftwareVersion"}))

	if err := a.Model().Set(param, "one"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vc1", "vc2", "vc4", "vc5"} {
		r := c.take(time.Second, notifyOf("ValueChange"))
		if r == nil {
			t.Fatalf("no notification for %s", want)
		}
		if got := notifyBody(r).GetSubscriptionId(); got != want {
			t.Fatalf("notification of %s, want %s (instance order)", got, want)
		}
	}
	c.quiet(30*time.Millisecond, notifyOf("ValueChange"))

	if err := a.Model().Set("Device.DeviceInfo.SoftwareVersion", "2.0"); err != nil {
		t.Fatal(err)
	}
	r := c.take(time.Second, notifyOf("ValueChange"))
	if r == nil || notifyBody(r).GetSubscriptionId() != "vc3" {
		t.Fatalf("after the ReferenceList changed: %v", r)
	}
}
