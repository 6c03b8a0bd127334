package conformance

import (
	"fmt"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
)

// Section 1: notifications (1.52-1.60), operations (1.61-1.65) and the
// other notification and command cases.

func init() {
	register(
		&Case{ID: "1.52", Title: "Notify - Subscription creation using Value Change", Run: run1_52},
		&Case{ID: "1.53", Title: "Notify - Subscription Deletion Using Value Change", Slow: 20 * time.Second, Run: run1_53},
		&Case{ID: "1.54", Title: "Notification Retry using Value Change", Slow: 30 * time.Second, Run: run1_54},
		&Case{ID: "1.55", Title: "Subscription Expiration using Value Change", Features: []Feature{FeatTimeToLive}, Slow: 31 * time.Second, Run: run1_55},
		&Case{ID: "1.56", Title: "Notification Retry Expiration using Value Change", Features: []Feature{FeatNotifExpiration}, Slow: 60 * time.Second, Run: run1_56},
		&Case{ID: "1.57", Title: "ObjectCreation Notification", Run: run1_57},
		&Case{ID: "1.58", Title: "ObjectDeletion Notification", Run: run1_58},
		&Case{ID: "1.60", Title: "OnBoardRequest Notification", Features: []Feature{FeatSendOnBoardRequest}, Run: run1_60},
		&Case{ID: "1.64", Title: "Asynchronous operation with send_resp true", Features: []Feature{FeatAsyncCommand}, Run: asyncOperate(true, "test64")},
		&Case{ID: "1.65", Title: "Asynchronous operation with send_resp false", Features: []Feature{FeatAsyncCommand}, Run: asyncOperate(false, "test65")},
		&Case{ID: "1.84", Title: "Notification - Subscription using search paths", Run: run1_84},
	)
}

// provisioning prepares the ValueChange cases: the test equipment's
// Controller.{i}.ProvisioningCode, set to a value other than avoid (and
// restored afterwards).
func provisioning(t *T, avoid string) string {
	ctrl := t.Controller()
	t.NeedParam("Device.LocalAgent.Controller.{i}.ProvisioningCode")
	p := ctrl + "ProvisioningCode"
	if t.GetValues(p)[p] == avoid {
		t.SetValues(map[string]string{p: "tp469-" + avoid})
	} else {
		t.SetValues(map[string]string{p: t.GetValues(p)[p]})
	}
	return p
}

// notifySub adds the Subscription a notification case watches and checks
// metric's "the EUT sends a successful AddResp"; it returns the instance.
func notifySub(t *T, metric int, id, notifType, ref string, extra ...msg.Param) string {
	params := append(subParams(id, notifType, ref, true), msg.Param{Name: "NotifRetry", Value: "true"})
	params = append(params, extra...)
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: params}}}))
	trackCreated(t, r)
	t.Require(metric, "the EUT sends a successful AddResp", len(r.Results) == 1 && r.Results[0].Err == nil, "AddResp: %v", r.Err())
	return r.Results[0].Path
}

func setParam(t *T, path, value string) {
	obj, name := splitLeaf(path)
	r := setup[*msg.SetResp](t, "Set "+path, msg.Set{Objects: []msg.SetObject{{Path: obj,
		Params: []msg.Param{{Name: name, Value: value, Required: true}}}}})
	if err := r.Err(); err != nil {
		t.Abortf("Set %s: %v", path, err)
	}
}

func bySubID(id string) func(*msg.Notify) bool {
	return func(n *msg.Notify) bool { return n.SubscriptionID == id }
}

// expectValueChange checks a ValueChange notification of subscription id.
func expectValueChange(c *Metric, n *msg.Notify, id, path, value string) {
	c.Expect(n.SubscriptionID == id, "subscription_id %q, want %q", n.SubscriptionID, id)
	vc, ok := n.Notification.(*msg.ValueChange)
	if c.Expect(ok, "the notification is %T, not a value_change", n.Notification) {
		c.Expect(vc.ParamPath == path, "param_path %q, want %q", vc.ParamPath, path)
		c.Expect(vc.ParamValue == value, "param_value %q, want %q", vc.ParamValue, value)
	}
}

func run1_52(t *T) {
	pc := provisioning(t, "TestValue52")
	mark := t.Mark()
	notifySub(t, 1, "notify52", "ValueChange", pc)
	setParam(t, pc, "TestValue52")
	_, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify52"))
	c := t.Metric(2, "the EUT sends a Notify for subscription notify52 with a value_change of "+pc+" to TestValue52")
	if c.Expect(ok, "no Notify for notify52 within %v", t.cfg.notifyTimeout()) {
		expectValueChange(c, n, "notify52", pc, "TestValue52")
	}
	c.End()
}

func run1_53(t *T) {
	pc := provisioning(t, "TestValue53")
	mark := t.Mark()
	sub := notifySub(t, 0, "notify53", "ValueChange", pc)
	setParam(t, pc, "TestValue53")
	if _, _, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify53")); !ok {
		t.Abortf("setup: no Notify for notify53 after the first change, so its absence later would prove nothing")
	}
	r := Expect[*msg.DeleteResp](t, 0, t.Send(msg.Delete{Paths: []string{sub}}))
	t.Check(1, "the EUT sends a successful DeleteResp", r.Err() == nil && len(r.Results) == 1, "DeleteResp: %v", r.Err())
	t.Sleep(time.Second) // let a retry of the first Notify's answer settle
	mark = t.Mark()
	setParam(t, pc, "notify53-2")
	t.Sleep(20 * time.Second)
	got := t.Notifies(mark, func(n *msg.Notify) bool {
		vc, ok := n.Notification.(*msg.ValueChange)
		return ok && vc.ParamPath == pc
	})
	t.Check(2, "the EUT sends no Notify for the change of ProvisioningCode after the Subscription was deleted", len(got) == 0, "%d Notify messages", len(got))
}

func run1_54(t *T) {
	pc := provisioning(t, "TestValue54")
	ctrl := t.Controller()
	if t.env.HasParam("Device.LocalAgent.Controller.{i}.USPNotifRetryMinimumWaitInterval") {
		t.SetValues(map[string]string{ctrl + "USPNotifRetryMinimumWaitInterval": "5"})
	}
	t.HoldNotifyResp("notify54")
	mark := t.Mark()
	notifySub(t, 0, "notify54", "ValueChange", pc)
	setParam(t, pc, "TestValue54")
	first, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify54"))
	if !ok {
		t.Abortf("no Notify for notify54 within %v", t.cfg.notifyTimeout())
	}
	sameMsg := func(n2 *msg.Notify) bool { return n2.SubscriptionID == "notify54" }
	second, _, ok2 := t.AwaitNotify(first.Seq, 10*time.Second+time.Second, sameMsg)
	var third Inbound
	var ok3 bool
	if ok2 {
		third, _, ok3 = t.AwaitNotify(second.Seq, 20*time.Second+time.Second, sameMsg)
	}
	last := first
	for _, ib := range []Inbound{third, second} {
		if ib.Msg != nil {
			last = ib
			break
		}
	}
	if err := t.eq.NotifyResp(t.ctx, last.Msg, last.ReplyTo); err != nil {
		t.Notef("NotifyResp could not be sent: %v", err)
	}
	_ = n
	id := first.Msg.GetHeader().GetMsgId()
	c := t.Metric(1, "the EUT retries the Notify message (same msg_id)")
	c.Expect(ok2, "no retry within 11 s of the first Notify")
	c.Expect(!ok2 || second.Msg.GetHeader().GetMsgId() == id, "the retry has msg_id %q, the Notify %q", second.Msg.GetHeader().GetMsgId(), id)
	c.End()
	c = t.Metric(2, "the first retry comes 5-10 s after the Notify, the second 10-20 s after the first retry")
	if c.Expect(ok2 && ok3, "retries seen: first %v, second %v", ok2, ok3) {
		// The times are those at which the kit saw each record, not those at
		// which the agent sent it: an agent that waits exactly the bound
		// (usptest waits 5 s, then 10 s) is seen a few milliseconds off it
		// either way, so each bound is widened by retrySlack.
		d1, d2 := second.Time.Sub(first.Time), third.Time.Sub(second.Time)
		c.Expect(within(d1, 5*time.Second, 10*time.Second, retrySlack), "first retry after %v", d1.Round(time.Millisecond))
		c.Expect(within(d2, 10*time.Second, 20*time.Second, retrySlack), "second retry after %v", d2.Round(time.Millisecond))
	}
	c.End()
}

func run1_55(t *T) {
	pc := provisioning(t, "TestValue55")
	mark := t.Mark()
	sub := notifySub(t, 0, "notify55", "ValueChange", pc, msg.Param{Name: "TimeToLive", Value: "20"})
	setParam(t, pc, "TestValue55")
	_, _, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify55"))
	t.Check(1, "the EUT sends a Notify after the change", ok, "no Notify for notify55 within %v", t.cfg.notifyTimeout())
	// The plan waits 20 s from the NotifyResp, the TimeToLive counts from
	// the Add: a second more keeps an agent that rounds to whole seconds
	// from failing by a few milliseconds.
	t.Sleep(21 * time.Second)
	r := Expect[*msg.GetInstancesResp](t, 0, t.Send(msg.GetInstances{Paths: []string{subObj}}))
	c := t.Metric(2, "the GetInstancesResp does not list the Subscription")
	for _, res := range r.Results {
		for _, in := range res.Instances {
			c.Expect(in.Path != sub, "%s still exists", sub)
		}
	}
	c.End()
	mark = t.Mark()
	setParam(t, pc, "TestValue55-2")
	t.Sleep(10 * time.Second)
	got := t.Notifies(mark, bySubID("notify55"))
	t.Check(3, "the EUT sends no Notify after the second change", len(got) == 0, "%d Notify messages for notify55", len(got))
}

func run1_56(t *T) {
	pc := provisioning(t, "TestValue56")
	ctrl := t.Controller()
	if t.env.HasParam("Device.LocalAgent.Controller.{i}.USPNotifRetryMinimumWaitInterval") {
		t.SetValues(map[string]string{ctrl + "USPNotifRetryMinimumWaitInterval": "5"})
	}
	t.HoldNotifyResp("notify56")
	mark := t.Mark()
	notifySub(t, 0, "notify56", "ValueChange", pc, msg.Param{Name: "NotifExpiration", Value: "20"})
	setParam(t, pc, "TestValue56")
	first, _, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify56"))
	if !ok {
		t.Abortf("no Notify for notify56 within %v", t.cfg.notifyTimeout())
	}
	t.Sleep(time.Until(first.Time.Add(60 * time.Second)))
	all := t.Notifies(first.Seq, bySubID("notify56"))
	var early, late int
	for _, ib := range all {
		if ib.Time.Sub(first.Time) <= 20*time.Second {
			early++
		} else {
			late++
		}
	}
	t.Check(1, "the EUT retries the Notify within 20 s", early > 0, "no retry within 20 s of the Notify")
	t.Check(2, "the EUT does not retry the Notify after 20 s", late == 0, "%d retries after 20 s", late)
}

func run1_57(t *T) {
	ctrl := t.Controller()
	mark := t.Mark()
	notifySub(t, 1, "notify57", "ObjectCreation", subObj)
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj,
		Params: append(subParams("notify57-2", "ValueChange", ctrl+"ProvisioningCode", true), msg.Param{Name: "NotifRetry", Value: "true"})}}}))
	trackCreated(t, r)
	if len(r.Succeeded()) != 1 {
		t.Abortf("the second Add failed: %v", r.Err())
	}
	created := r.Results[0].Path
	// Other creations may be notified too (an agent may report notify57's
	// own); the plan asks for the one of the second Subscription.
	_, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), func(n *msg.Notify) bool {
		oc, isOC := n.Notification.(*msg.ObjectCreation)
		return n.SubscriptionID == "notify57" && isOC && oc.ObjPath == created
	})
	c := t.Metric(2, "the EUT sends a Notify for notify57 with an obj_creation of the new Subscription, whose unique_keys have ID notify57-2 and Recipient the test equipment's Controller")
	if c.Expect(ok, "no Notify for notify57 within %v", t.cfg.notifyTimeout()) {
		oc, isOC := n.Notification.(*msg.ObjectCreation)
		if c.Expect(isOC, "the notification is %T", n.Notification) {
			c.Expect(oc.ObjPath == created, "obj_path %q, want %q", oc.ObjPath, created)
			c.Expect(oc.UniqueKeys["ID"] == "notify57-2", "unique_keys ID %q", oc.UniqueKeys["ID"])
			rcp := oc.UniqueKeys["Recipient"]
			c.Expect(rcp == ctrl || rcp+"." == ctrl, "unique_keys Recipient %q, want %s", rcp, ctrl)
		}
	}
	c.End()
}

func run1_58(t *T) {
	victim := subscription(t, "tp469-victim", nil)
	mark := t.Mark()
	notifySub(t, 1, "notify58", "ObjectDeletion", subObj)
	r := Expect[*msg.DeleteResp](t, 0, t.Send(msg.Delete{Paths: []string{victim}}))
	if r.Err() != nil {
		t.Abortf("Delete %s: %v", victim, r.Err())
	}
	_, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify58"))
	c := t.Metric(2, "the EUT sends a Notify for notify58 with an obj_deletion of "+victim)
	if c.Expect(ok, "no Notify for notify58 within %v", t.cfg.notifyTimeout()) {
		od, isOD := n.Notification.(*msg.ObjectDeletion)
		if c.Expect(isOD, "the notification is %T", n.Notification) {
			c.Expect(od.ObjPath == victim, "obj_path %q, want %q", od.ObjPath, victim)
		}
	}
	c.End()
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func run1_60(t *T) {
	ctrl := t.Controller()
	mark := t.Mark()
	ex := t.Post(msg.Operate{Command: ctrl + "SendOnBoardRequest()", CommandKey: "test60"})
	if ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	_, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), func(n *msg.Notify) bool {
		_, is := n.Notification.(*msg.OnBoardRequest)
		return is
	})
	c := t.Metric(1, "the EUT sends a Notify with an empty subscription_id and an on_board_req with a valid oui, product_class, serial_number and agent_supported_protocol_versions")
	if c.Expect(ok, "no OnBoardRequest within %v", t.cfg.notifyTimeout()) {
		ob := n.Notification.(*msg.OnBoardRequest)
		c.Expect(n.SubscriptionID == "", "subscription_id %q", n.SubscriptionID)
		c.Expect(isHex(ob.OUI, 6), "oui %q is not 6 hexadecimal digits", ob.OUI)
		c.Expect(ob.ProductClass != "", "empty product_class")
		c.Expect(ob.SerialNumber != "", "empty serial_number")
		vs := msg.VersionList(ob.AgentSupportedProtocolVersions)
		c.Expect(len(vs) > 0, "empty agent_supported_protocol_versions")
		for _, v := range vs {
			c.Expect(record.ValidVersion(v), "version %q in agent_supported_protocol_versions", v)
		}
	}
	c.End()
}

// asyncCommand picks the asynchronous command of 1.64 and 1.65: the one
// configured, else one whose input arguments are all given (or that has
// none), preferring commands outside tables.
func asyncCommand(t *T) (string, map[string]string) {
	if c := t.cfg.AsyncCommand; c != "" {
		return c, t.cfg.AsyncCommandArgs
	}
	var best string
	for path, o := range t.env.Objects {
		for _, cmd := range o.Commands {
			if cmd.Type != msg.CmdAsync || len(cmd.Inputs) > 0 {
				continue
			}
			p := path + cmd.Name
			if best == "" || strings.Count(p, "{i}") < strings.Count(best, "{i}") ||
				(strings.Count(p, "{i}") == strings.Count(best, "{i}") && p < best) {
				best = p
			}
		}
	}
	if best == "" {
		t.Skipf("no asynchronous command without input arguments in the data model; set async_command and async_command_args")
	}
	if strings.Contains(best, "{i}") {
		obj, name := splitLeaf(strings.TrimSuffix(best, "()"))
		first := strings.Index(obj, "{i}")
		ins := t.Instances(obj[:first])
		if len(ins) == 0 {
			t.Skipf("%s has no instance to run %s on", obj[:first], name)
		}
		best = ins[0] + strings.TrimPrefix(best, obj[:first+4])
	}
	t.Notef("asynchronous command used: %s", best)
	return best, nil
}

func asyncOperate(sendResp bool, key string) func(*T) {
	return func(t *T) {
		cmd, args := asyncCommand(t)
		subscription(t, "tp469-opcomplete", map[string]string{"NotifType": "OperationComplete", "ReferenceList": cmd})
		mark := t.Mark()
		ex := t.Post(msg.Operate{Command: cmd, CommandKey: key, SendResp: sendResp, Args: args})
		if ex.Err != nil {
			t.Abortf("Operate: %v", ex.Err)
		}
		isDone := func(n *msg.Notify) bool {
			oc, ok := n.Notification.(*msg.OperationComplete)
			return ok && oc.ObjPath+oc.CommandName == cmd
		}
		_, n, ok := t.AwaitNotify(mark, 2*t.cfg.notifyTimeout(), isDone)
		notifyMetric := 2
		if sendResp {
			t.Wait(ex, t.cfg.responseTimeout())
			r := Expect[*msg.OperateResp](t, 0, ex)
			c := t.Metric(1, "the OperateResp has a single operation_results for the command with a req_obj_path naming the Request object")
			if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
				res := r.Results[0]
				c.Expect(res.ExecutedCommand == cmd, "executed_command %q, want %q", res.ExecutedCommand, cmd)
				c.Expect(strings.HasPrefix(res.RequestObjPath, "Device.LocalAgent.Request."), "req_obj_path %q (error %v)", res.RequestObjPath, res.Err)
			}
			c.End()
		} else {
			t.Wait(ex, t.cfg.quietPeriod())
			t.Check(1, "the EUT does not send an OperateResp", ex.Response == nil, "got %s", responseKind(ex.Response))
		}
		c := t.Metric(notifyMetric, "the EUT sends a Notify with an OperationComplete for the command, with command_key "+key)
		if c.Expect(ok, "no OperationComplete for %s within %v", cmd, 2*t.cfg.notifyTimeout()) {
			oc := n.Notification.(*msg.OperationComplete)
			c.Expect(oc.CommandKey == key, "command_key %q", oc.CommandKey)
		}
		c.End()
	}
}

func run1_84(t *T) {
	t.NeedParam(bootParamObj + "Enable")
	ctrl := t.Controller()
	bp1 := bootParameter(t, ctrl, swVer, "true")
	bootParameter(t, ctrl, agentEID, "true")
	mark := t.Mark()
	params := subParams("notify84", "ValueChange", ctrl+"BootParameter.*.Enable", true)
	r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: params}}}))
	trackCreated(t, r)
	if r.Err() != nil {
		t.Abortf("Add: %v", r.Err())
	}
	setParam(t, bp1+"Enable", "false")
	_, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID("notify84"))
	c := t.Metric(2, "the EUT sends a notification for the Subscription with the BootParameter changed")
	if c.Expect(ok, "no Notify for notify84 within %v", t.cfg.notifyTimeout()) {
		vc, isVC := n.Notification.(*msg.ValueChange)
		if c.Expect(isVC, "the notification is %T", n.Notification) {
			c.Expect(vc.ParamPath == bp1+"Enable", "param_path %q, want %q", vc.ParamPath, bp1+"Enable")
			c.Expect(sameValue(vc.ParamValue, "false"), "param_value %q", vc.ParamValue)
		}
	}
	c.End()
}

var _ = fmt.Sprint

// retrySlack is how far an observed retry interval may lie outside the
// plan's window: the kit timestamps a record where it sees it, so the
// broker hop and the scheduling of both ends blur each bound a little.
const retrySlack = 250 * time.Millisecond

// within reports whether d lies in [lo-slack, hi+slack].
func within(d, lo, hi, slack time.Duration) bool {
	return d >= lo-slack && d <= hi+slack
}
