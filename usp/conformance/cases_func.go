package conformance

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
)

// Section 9, Functionality: the cases usptest can play (9.4-9.8 are in
// cases_firmware.go, 9.9 in cases_onboard.go, 9.2 in cases_cert.go).

func init() {
	register(
		&Case{ID: "9.1", Title: "Use of the Timer! Event (DEPRECATED by 9.11)", Run: retired("deprecated by TP-469; 9.11 replaces it")},
		&Case{ID: "9.3", Title: "Upgraded the Agent's Firmware - Autoactivate enabled", Features: []Feature{FeatFirmware}, Run: run9_3,
			Destructive: "installs a firmware image and reboots the agent"},
		&Case{ID: "9.10", Title: "Use of the Boot! event and BootParameters", Features: []Feature{FeatReboot, FeatBootFirmwareImage}, Run: run9_10,
			Destructive: "reboots the agent"},
		&Case{ID: "9.11", Title: "Use of the Timer! Event", Features: []Feature{FeatScheduleTimer}, Slow: 70 * time.Second, Run: run9_11},
	)
}

func run9_10(t *T) {
	ctrl := t.Controller()
	const bootFW = "Device.DeviceInfo.BootFirmwareImage"
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{
		{Path: subObj, Params: []msg.Param{{Name: "NotifType", Value: "Event"}, {Name: "ReferenceList", Value: "Device.Boot!"}, {Name: "Enable", Value: "true"}}},
		{Path: ctrl + "BootParameter.", Params: []msg.Param{{Name: "Enable", Value: "true"}, {Name: "ParameterName", Value: bootFW}}},
	}}))
	trackCreated(t, r)
	if r.Err() != nil {
		t.Abortf("the Add failed: %v", r.Err())
	}
	mark := t.Mark()
	ex := t.Post(msg.Operate{Command: "Device.Reboot()"})
	if ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	// The Boot! may come through the Subscription the case added or, as
	// non-persistent Subscriptions do not survive a reboot, through the
	// controller's own.
	_, n, ok := t.AwaitNotify(mark, t.cfg.rebootTimeout(), func(n *msg.Notify) bool {
		ev, isEv := n.Notification.(*msg.Event)
		return isEv && ev.EventName == "Boot!"
	})
	c := t.Metric(1, "after the reboot the EUT sends a Boot! event whose ParameterMap has "+bootFW)
	if c.Expect(ok, "no Boot! within %v", t.cfg.rebootTimeout()) {
		pm := n.Notification.(*msg.Event).Params["ParameterMap"]
		var m map[string]string
		err := json.Unmarshal([]byte(pm), &m)
		_, has := m[bootFW]
		c.Expect(err == nil && has, "ParameterMap %q", pm)
	}
	c.End()
}

func run9_11(t *T) {
	scheduleTimerSub(t)
	mark := t.Mark()
	r := Expect[*msg.OperateResp](t, 0, t.Send(msg.Operate{Command: "Device.ScheduleTimer()", SendResp: true, CommandKey: "test911",
		Args: map[string]string{"DelaySeconds": "60"}}))
	c := t.Metric(1, "the EUT sends an OperateResp with ScheduleTimer() in executed_command")
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		c.Expect(strings.Contains(r.Results[0].ExecutedCommand, "ScheduleTimer()"), "executed_command %q", r.Results[0].ExecutedCommand)
	}
	c.End()
	_, _, ok := t.AwaitNotify(mark, 60*time.Second+t.cfg.notifyTimeout(), isTimerDone)
	t.Check(2, "the EUT sends an OperationComplete for ScheduleTimer()", ok, "none within %v", 60*time.Second+t.cfg.notifyTimeout())
}

func eventNamed(name string) func(*msg.Notify) bool {
	return func(n *msg.Notify) bool {
		ev, ok := n.Notification.(*msg.Event)
		return ok && ev.EventName == name
	}
}

func run9_3(t *T) {
	if t.cfg.FirmwareURL == "" || t.cfg.FirmwareVersion == "" {
		t.NeedsOperatorf("needs a firmware image for the agent: set firmware_url and firmware_version in the configuration")
	}
	const info = "Device.DeviceInfo."
	active := strings.TrimSuffix(t.GetValues(info + "ActiveFirmwareImage")[info+"ActiveFirmwareImage"], ".") + "."
	var spare string
	for _, img := range t.Instances(info + "FirmwareImage.") {
		if img != active {
			spare = img
			break
		}
	}
	if spare == "" {
		t.Skipf("precondition not met: no FirmwareImage besides the active %s", active)
	}
	reactivateLater(t, active)
	for _, ev := range []string{"Device.LocalAgent.TransferComplete!", "Device.Boot!"} {
		// Persistent, so that the Boot! Subscription outlives the reboot.
		subscription(t, "tp469-"+strings.TrimSuffix(ev[strings.LastIndexByte(ev, '.')+1:], "!"),
			map[string]string{"NotifType": "Event", "ReferenceList": ev, "Persistent": "true"})
	}
	download := spare + "Download()"
	subscription(t, "tp469-download", map[string]string{"NotifType": "OperationComplete", "ReferenceList": download, "Persistent": "true"})
	args := map[string]string{"AutoActivate": "true", "URL": t.cfg.FirmwareURL}
	if t.cfg.FirmwareSize != "" {
		args["FileSize"] = t.cfg.FirmwareSize
	}
	mark := t.Mark()
	if ex := t.Post(msg.Operate{Command: download, Args: args}); ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	wait := t.cfg.rebootTimeout()
	_, n, ok := t.AwaitNotify(mark, wait, func(n *msg.Notify) bool {
		oc, is := n.Notification.(*msg.OperationComplete)
		return is && oc.CommandName == "Download()"
	})
	c := t.Metric(1, "the EUT sends an OperationComplete for Download()")
	if c.Expect(ok, "none within %v", wait) {
		c.Expect(n.Notification.(*msg.OperationComplete).Err == nil, "the download failed: %v", n.Notification.(*msg.OperationComplete).Err)
	}
	c.End()
	_, _, ok = t.AwaitNotify(mark, wait, eventNamed("TransferComplete!"))
	t.Check(2, "the EUT sends a TransferComplete! event", ok, "none within %v", wait)
	_, n, ok = t.AwaitNotify(mark, wait, eventNamed("Boot!"))
	c = t.Metric(3, "the EUT sends a Boot! event with FirmwareUpdated true")
	if c.Expect(ok, "none within %v", wait) {
		c.Expect(sameValue(n.Notification.(*msg.Event).Params["FirmwareUpdated"], "true"), "FirmwareUpdated is %q", n.Notification.(*msg.Event).Params["FirmwareUpdated"])
	}
	c.End()
	_, vals := read(t, info)
	c = t.Metric(4, "the GetResp shows the downloaded image active and the expected SoftwareVersion")
	c.Expect(strings.TrimSuffix(vals[info+"ActiveFirmwareImage"], ".")+"." == spare, "ActiveFirmwareImage is %q, downloaded into %s", vals[info+"ActiveFirmwareImage"], spare)
	c.Expect(vals[info+"SoftwareVersion"] == t.cfg.FirmwareVersion, "SoftwareVersion is %q, want %q", vals[info+"SoftwareVersion"], t.cfg.FirmwareVersion)
	c.End()
}

// reactivateLater registers a cleanup that gives the agent its firmware
// back, as far as it can: the image that was active is activated again.
func reactivateLater(t *T, active string) {
	t.Cleanup("activate "+active+" again", func(ctx context.Context) error {
		ex := t.eq.Send(ctx, msg.Operate{Command: active + "Activate()", SendResp: true})
		if ex.Err != nil {
			return ex.Err
		}
		r, err := msg.ParseOperateResp(ex.Response)
		if err == nil {
			err = r.Err()
		}
		return err
	})
}
