package conformance

import (
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
)

// Section 9's firmware cases after 9.3: activation in a time window,
// validation of a download, download to the active bank.
func init() {
	register(
		&Case{ID: "9.4", Title: "Upgrading the Agent's Firmware - Using TimeWindow, Immediate", Features: []Feature{FeatFirmwareActivate},
			Destructive: "activates another firmware image and reboots the agent", Run: run9_4},
		&Case{ID: "9.5", Title: "Upgrading the Agent's Firmware - Using TimeWindow, AnyTime", Features: []Feature{FeatFirmwareActivate},
			Destructive: "activates another firmware image and reboots the agent", Run: run9_5},
		&Case{ID: "9.6", Title: "Upgrading the Agent's Firmware - Validated Firmware", Features: []Feature{FeatFirmware},
			Destructive: "downloads into an inactive firmware image slot, losing what it held", Run: run9_6},
		&Case{ID: "9.7", Title: "Upgrading the Agent's Firmware - Download to Active Bank", Features: []Feature{FeatFirmware},
			Destructive: "replaces the active firmware and reboots the agent", Run: run9_7},
		&Case{ID: "9.8", Title: "Upgrading the Agent's Firmware - Cancelling a request using the Cancel() command",
			Features: []Feature{FeatFirmwareActivate, FeatFirmwareCancel}, Slow: 500 * time.Second,
			Destructive: "activates another firmware image and reboots the agent if the cancel fails", Run: run9_8},
	)
}

const fwInfo = "Device.DeviceInfo."

// firmwareSlots returns the active FirmwareImage instance and the others,
// with the values of all.
func firmwareSlots(t *T) (active string, others []string, vals map[string]string) {
	active = strings.TrimSuffix(t.GetValues(fwInfo + "ActiveFirmwareImage")[fwInfo+"ActiveFirmwareImage"], ".") + "."
	_, vals = read(t, fwInfo+"FirmwareImage.")
	for _, img := range t.Instances(fwInfo + "FirmwareImage.") {
		if img != active {
			others = append(others, img)
		}
	}
	return active, others, vals
}

// needFirmware ends the case unless the configuration names an image.
func needFirmware(t *T) {
	if t.cfg.FirmwareURL == "" || t.cfg.FirmwareVersion == "" {
		t.NeedsOperatorf("needs a firmware image for the agent: set firmware_url and firmware_version in the configuration")
	}
}

// inactiveFirmware returns an inactive FirmwareImage holding a valid
// image, and its version (setup 2 of 9.4 and 9.5). Without one, it
// downloads the configured image into a spare slot (without activating
// it). It also registers the activation of the image active now, to give
// the agent its firmware back.
func inactiveFirmware(t *T) (active, img, version string) {
	active, others, vals := firmwareSlots(t)
	if len(others) == 0 {
		t.Skipf("precondition not met: the agent has one firmware image slot (%s)", active)
	}
	for _, o := range others {
		if vals[o+"Status"] == "Available" && vals[o+"Version"] != "" {
			img, version = o, vals[o+"Version"]
			break
		}
	}
	reactivateLater(t, active)
	if img != "" {
		t.Notef("inactive firmware: %s, version %s", img, version)
		return active, img, version
	}
	needFirmware(t)
	img = others[0]
	subscription(t, "tp469-fw-download", map[string]string{"NotifType": "OperationComplete", "ReferenceList": img + "Download()"})
	mark := t.Mark()
	if ex := t.Post(msg.Operate{Command: img + "Download()", Args: map[string]string{"URL": t.cfg.FirmwareURL}}); ex.Err != nil {
		t.Abortf("setup: Download(): %v", ex.Err)
	}
	_, n, ok := t.AwaitNotify(mark, t.cfg.rebootTimeout(), func(n *msg.Notify) bool {
		oc, is := n.Notification.(*msg.OperationComplete)
		return is && oc.CommandName == "Download()"
	})
	if !ok || n.Notification.(*msg.OperationComplete).Err != nil {
		t.Abortf("setup: no inactive firmware and the download of %s into %s did not complete", t.cfg.FirmwareURL, img)
	}
	t.Notef("setup: downloaded %s into %s", t.cfg.FirmwareURL, img)
	return active, img, t.cfg.FirmwareVersion
}

// activateInWindow runs 9.4 and 9.5: Activate() with one TimeWindow, then
// the OperationComplete, the Boot! and the new SoftwareVersion.
func activateInWindow(t *T, start, end, mode string, notifyWithin time.Duration, nine5 bool) {
	_, img, version := inactiveFirmware(t)
	// Persistent, so that they outlive the reboot.
	subscription(t, "tp469-boot", map[string]string{"NotifType": "Event", "ReferenceList": "Device.Boot!", "Persistent": "true"})
	subscription(t, "tp469-activate", map[string]string{"NotifType": "OperationComplete", "ReferenceList": img + "Activate()", "Persistent": "true"})
	mark := t.Mark()
	ex := t.Post(msg.Operate{Command: img + "Activate()", Args: map[string]string{
		"TimeWindow.1.Start": start, "TimeWindow.1.End": end, "TimeWindow.1.Mode": mode}})
	if ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	isActivate := func(n *msg.Notify) bool {
		oc, is := n.Notification.(*msg.OperationComplete)
		return is && oc.CommandName == "Activate()"
	}
	// The wait leaves room past the plan's bound, so that a late
	// notification is reported as late rather than as missing.
	wait := notifyWithin + t.cfg.notifyTimeout()
	if nine5 {
		first, n, ok := t.AwaitNotify(mark, wait, nil)
		d := first.Time.Sub(ex.Sent)
		t.Check(1, "The EUT sends a Notify message within 2 minutes", ok && within(d, 0, notifyWithin, retrySlack),
			"Notify seen %t, %v after the Operate", ok, d.Round(time.Millisecond))
		if !ok || !isActivate(n) {
			_, n, ok = t.AwaitNotify(mark, wait, isActivate)
		}
		t.Check(2, "The Notify message has an OperationComplete element", ok && isActivate(n), "no OperationComplete for Activate() within %v", wait)
	} else {
		in, _, ok := t.AwaitNotify(mark, wait, isActivate)
		d := in.Time.Sub(ex.Sent)
		t.Check(1, "The EUT sends a Notify within 5 seconds with an OperationComplete whose command_name is Activate()",
			ok && within(d, 0, notifyWithin, retrySlack), "OperationComplete for Activate() seen %t, %v after the Operate", ok, d.Round(time.Millisecond))
	}
	metric := 2
	if nine5 {
		metric = 3
	}
	_, n, ok := t.AwaitNotify(mark, t.cfg.rebootTimeout(), eventNamed("Boot!"))
	c := t.Metric(metric, "The EUT sends a Notify with a Boot! event whose FirmwareUpdated argument is true")
	if c.Expect(ok, "no Boot! within %v", t.cfg.rebootTimeout()) {
		fu := n.Notification.(*msg.Event).Params["FirmwareUpdated"]
		c.Expect(sameValue(fu, "true"), "FirmwareUpdated is %q", fu)
	}
	c.End()
	got := t.GetValues(fwInfo + "SoftwareVersion")[fwInfo+"SoftwareVersion"]
	t.Check(metric+1, "The GetResponse has the expected SoftwareVersion", got == version,
		"SoftwareVersion %q, the activated image %s has %q", got, img, version)
}

func run9_4(t *T) { activateInWindow(t, "1", "100", "Immediately", 5*time.Second, false) }

func run9_5(t *T) { activateInWindow(t, "0", "120", "AnyTime", 2*time.Minute, true) }

// 9.6: a download whose checksum does not match ends in ValidationFailed.
func run9_6(t *T) {
	needFirmware(t)
	_, others, vals := firmwareSlots(t)
	if len(others) == 0 {
		t.Skipf("precondition not met: the agent has no inactive firmware image slot")
	}
	// An empty slot if there is one: its image is not lost.
	img := others[0]
	for _, o := range others {
		if vals[o+"Status"] != "Available" {
			img = o
			break
		}
	}
	subscription(t, "tp469-transfer", map[string]string{"NotifType": "Event", "ReferenceList": "Device.LocalAgent.TransferComplete!"})
	mark := t.Mark()
	const badSHA1 = "0000000000000000000000000000000000000000"
	if ex := t.Post(msg.Operate{Command: img + "Download()", Args: map[string]string{
		"URL": t.cfg.FirmwareURL, "CheckSumAlgorithm": "SHA-1", "CheckSum": badSHA1}}); ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	wait := t.cfg.rebootTimeout()
	_, n, ok := t.AwaitNotify(mark, wait, eventNamed("TransferComplete!"))
	if ok {
		t.Notef("TransferComplete! arguments %q", n.Notification.(*msg.Event).Params)
	}
	t.Check(1, "The EUT sends a Notify message with a TransferComplete! event", ok, "none within %v", wait)
	status := t.GetValues(img)[img+"Status"]
	t.Check(2, "The GetResponse has a Status of ValidationFailed", status == "ValidationFailed", "%sStatus is %q", img, status)
}

// 9.7: a download into the active slot with AutoActivate: the agent may
// refuse it when it has other slots; else it installs and reboots.
func run9_7(t *T) {
	needFirmware(t)
	active, others, _ := firmwareSlots(t)
	banks := 1 + len(others)
	t.Notef("the agent has %d firmware image slot(s); active: %s", banks, active)
	for _, ev := range []string{"Device.LocalAgent.TransferComplete!", "Device.Boot!"} {
		subscription(t, "tp469-"+strings.TrimSuffix(ev[strings.LastIndexByte(ev, '.')+1:], "!"),
			map[string]string{"NotifType": "Event", "ReferenceList": ev, "Persistent": "true"})
	}
	download := active + "Download()"
	subscription(t, "tp469-download", map[string]string{"NotifType": "OperationComplete", "ReferenceList": download, "Persistent": "true"})
	mark := t.Mark()
	ex := t.Send(msg.Operate{Command: download, SendResp: true, Args: map[string]string{"URL": t.cfg.FirmwareURL, "AutoActivate": "true"}})
	if ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	wait := t.cfg.rebootTimeout()
	refused := ""
	if r, err := msg.ParseOperateResp(ex.Response); err != nil {
		refused = "the agent answered " + responseKind(ex.Response)
	} else if err := r.Err(); err != nil {
		refused = err.Error()
	} else {
		// A refusal comes as a failed OperationComplete before any
		// TransferComplete!.
		_, n, ok := t.AwaitNotify(mark, wait, func(n *msg.Notify) bool {
			oc, is := n.Notification.(*msg.OperationComplete)
			return is && oc.CommandName == "Download()" && oc.Err != nil || eventNamed("TransferComplete!")(n)
		})
		if oc, is := n.Notification.(*msg.OperationComplete); ok && is {
			refused = "OperationComplete: " + oc.Err.Error()
		}
	}
	transfer, boot := 1, 2
	if banks > 1 {
		if refused != "" {
			t.Check(3, "The EUT may send an error saying that downloading to the active slot is not allowed", true, "")
			t.Notef("the agent refused: %s", refused)
			return
		}
		t.Notef("metric 3 does not apply: the agent accepted the download")
		transfer, boot = 4, 5
	} else if refused != "" {
		t.Check(transfer, "The EUT sends a Notify message with a TransferComplete! event", false,
			"the agent, which has one slot, refused the download: %s", refused)
		return
	}
	_, _, ok := t.AwaitNotify(mark, wait, eventNamed("TransferComplete!"))
	t.Check(transfer, "The EUT sends a Notify message with a TransferComplete! event", ok, "none within %v", wait)
	_, n, ok := t.AwaitNotify(mark, wait, eventNamed("Boot!"))
	c := t.Metric(boot, "The EUT sends a Notify message with a Boot! event and FirmwareUpdated true")
	if c.Expect(ok, "none within %v", wait) {
		fu := n.Notification.(*msg.Event).Params["FirmwareUpdated"]
		c.Expect(sameValue(fu, "true"), "FirmwareUpdated is %q", fu)
	}
	c.End()
}

// 9.8: an activation waiting for its time window is canceled through its
// Request object; no Boot! comes until the window has closed.
func run9_8(t *T) {
	_, img, _ := inactiveFirmware(t)
	subscription(t, "tp469-boot", map[string]string{"NotifType": "Event", "ReferenceList": "Device.Boot!", "Persistent": "true"})
	mark := t.Mark()
	ex := t.Send(msg.Operate{Command: img + "Activate()", SendResp: true, Args: map[string]string{
		"TimeWindow.1.Start": "120", "TimeWindow.1.End": "500", "TimeWindow.1.Mode": "AnyTime"}})
	windowEnd := ex.Sent.Add(500 * time.Second)
	r := Expect[*msg.OperateResp](t, 1, ex)
	c := t.Metric(1, "The EUT sends an OperateResponse whose executed_command is Activate() and whose req_obj_path is a Device.LocalAgent.Request entry")
	var req string
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		res := r.Results[0]
		req = strings.TrimSuffix(res.RequestObjPath, ".") + "."
		c.Expect(res.Err == nil, "the Activate() failed: %v", res.Err)
		c.Expect(strings.HasSuffix(res.ExecutedCommand, "Activate()"), "executed_command %q", res.ExecutedCommand)
		c.Expect(strings.HasPrefix(req, "Device.LocalAgent.Request."), "req_obj_path %q", res.RequestObjPath)
	}
	if !c.End() {
		return
	}
	cancel := t.Send(msg.Operate{Command: req + "Cancel()", SendResp: true})
	t.Notef("Cancel(): %s", outcome(cancel))
	// The plan waits up to 500 s: the window may open any time before.
	wait := time.Until(windowEnd) + retrySlack + t.cfg.notifyTimeout()
	in, _, booted := t.AwaitNotify(mark, wait, eventNamed("Boot!"))
	t.Check(2, "The EUT never sends a Boot! event", !booted, "Boot! %v after the Operate", in.Time.Sub(ex.Sent).Round(time.Second))
	vals := t.GetValues("Device.LocalAgent.Request.")
	st, exists := vals[req+"Status"]
	t.Check(3, "The Request instance is gone, or its Status is Canceled or Canceling",
		!exists || st == "Canceled" || st == "Canceling", "%sStatus is %q", req, st)
}
