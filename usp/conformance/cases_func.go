package conformance

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
)

// Section 9, Functionality: the cases usptest can play. 9.2 (certificates),
// 9.3-9.8 (firmware images) and 9.9 (a new controller) are not
// implemented yet.

func init() {
	register(
		&Case{ID: "9.1", Title: "Use of the Timer! Event (DEPRECATED by 9.11)", Run: retired("deprecated by TP-469; 9.11 replaces it")},
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
