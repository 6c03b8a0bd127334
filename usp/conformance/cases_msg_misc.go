package conformance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// Section 1: GetInstances (1.66-1.71, 1.83), operations (1.61-1.63,
// 1.79, 1.91, 1.92, 1.100), and the remaining Add, Get, Set and Delete
// cases.

func init() {
	register(
		&Case{ID: "1.59", Title: "Event Notification using Periodic!", Features: []Feature{FeatControllerProfile}, Slow: 130 * time.Second, Run: run1_59},
		&Case{ID: "1.61", Title: "Operate message using Reboot() with send_resp true", Features: []Feature{FeatReboot}, Run: reboot(true),
			Destructive: "reboots the agent"},
		&Case{ID: "1.62", Title: "Operate message using Reboot() with send_resp false", Features: []Feature{FeatReboot}, Run: reboot(false),
			Destructive: "reboots the agent"},
		&Case{ID: "1.63", Title: "Operate message using input arguments (DEPRECATED by 1.79)", Run: retired("deprecated by TP-469; 1.79 replaces it")},
		&Case{ID: "1.66", Title: "GetInstances using a single object, first_level_only true", Run: run1_66},
		&Case{ID: "1.67", Title: "GetInstances using a single object, first_level_only false", Run: run1_67},
		&Case{ID: "1.68", Title: "GetInstances with multiple objects", Run: run1_68},
		&Case{ID: "1.69", Title: "DELETED", Run: retired("deleted from TP-469; the number is kept as a placeholder")},
		&Case{ID: "1.70", Title: "GetInstances with wildcard search path", Run: run1_70},
		&Case{ID: "1.71", Title: "GetInstances with search expression search path", Features: []Feature{FeatNestedMultiInstance}, Run: run1_71},
		&Case{ID: "1.78", Title: "Removal of subscriptions that have no associated controller", Features: []Feature{FeatControllerWritable}, Run: run1_78},
		&Case{ID: "1.79", Title: "Operate message using input arguments", Features: []Feature{FeatScheduleTimer}, Slow: 40 * time.Second, Run: run1_79},
		&Case{ID: "1.81", Title: "Automatic unique key generation", Run: run1_81},
		&Case{ID: "1.82", Title: "Get message with unmatched search expression", Run: unmatchedGet(82)},
		&Case{ID: "1.83", Title: "GetInstances message with unmatched search expression", Features: []Feature{FeatNestedMultiInstance}, Run: run1_83},
		&Case{ID: "1.85", Title: "(For future work) Get message with unresolved instances - addressing by instance number", Run: retired("left for future work by TP-469; it has no procedure")},
		&Case{ID: "1.86", Title: "Get message with unresolved instances - using a search path", Run: unmatchedGet(86)},
		&Case{ID: "1.87", Title: "Get message with unresolved instances - using an object path", Run: run1_87,
			Destructive: "deletes every Subscription of the agent, those of other controllers included"},
		&Case{ID: "1.88", Title: "Add message fails when unique key is invalid", Run: run1_88},
		&Case{ID: "1.89", Title: "Get message using max_depth", Run: run1_89},
		&Case{ID: "1.90", Title: "Delete message with search expression that matches no objects", Run: run1_90},
		&Case{ID: "1.91", Title: "Unknown arguments in an Operate message", Features: []Feature{FeatScheduleTimer}, Run: run1_91},
		&Case{ID: "1.92", Title: "Agent uses default values for Operate arguments", Features: []Feature{FeatAsyncCommand}, Run: run1_92},
		&Case{ID: "1.93", Title: "Subscription using TriggerAction Config", Features: []Feature{FeatTriggerAction}, Run: trigger("Config", 93)},
		&Case{ID: "1.94", Title: "Subscription using TriggerAction NotifyAndConfig", Features: []Feature{FeatTriggerAction}, Run: trigger("NotifyAndConfig", 94)},
		&Case{ID: "1.95", Title: "Add message with search expression", Run: run1_95},
		&Case{ID: "1.96", Title: "Non-functional Unique Key Immutability", Run: run1_96},
		&Case{ID: "1.100", Title: "Command with missing mandatory input_args", Features: []Feature{FeatScheduleTimer}, Slow: 120 * time.Second, Run: run1_100},
		&Case{ID: "1.101", Title: "OnBoardRequest Notification - OnBoardingComplete set to false", Features: []Feature{FeatOnBoarding}, Run: run1_101},
		&Case{ID: "1.102", Title: "OnBoardRequest Notification - OnBoardingRestartTime", Features: []Feature{FeatOnBoarding}, Slow: 130 * time.Second, Run: run1_102},
		&Case{ID: "1.103", Title: "OnBoardRequest Notification - OnBoardingRestartTime disabled", Features: []Feature{FeatOnBoarding}, Slow: 65 * time.Second, Run: run1_103},
		&Case{ID: "1.104", Title: "Set message on WriteOnceReadOnly parameter", Run: run1_104},
	)
}

// retired reports a case number the plan keeps without a test.
func retired(why string) func(*T) {
	return func(t *T) { t.Skipf("%s", why) }
}

func instResults(ex *Exchange) []*uspmsg.GetInstancesResp_RequestedPathResult {
	return ex.Response.GetBody().GetResponse().GetGetInstancesResp().GetReqPathResults()
}

func run1_66(t *T) {
	obj := "Device.LocalAgent.Controller."
	ex := t.Send(msg.GetInstances{Paths: []string{obj}, FirstLevelOnly: true})
	Expect[*msg.GetInstancesResp](t, 0, ex)
	res := instResults(ex)
	c := t.Metric(1, "the GetInstancesResp has one req_path_results for "+obj+" with at least one curr_insts")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		c.Expect(res[0].GetRequestedPath() == obj, "requested_path %q", res[0].GetRequestedPath())
		c.Expect(res[0].GetErrCode() == 0, "error %d %s", res[0].GetErrCode(), res[0].GetErrMsg())
		c.Expect(len(res[0].GetCurrInsts()) >= 1, "no curr_insts")
	}
	c.End()
	c = t.Metric(2, "every instantiated_obj_path is a Controller instance")
	for _, r := range res {
		for _, in := range r.GetCurrInsts() {
			c.Expect(isInstanceOf(obj, in.GetInstantiatedObjPath()), "%q", in.GetInstantiatedObjPath())
		}
	}
	c.End()
}

// instancesUnder lists the instance paths below obj, from a Get.
func instancesUnder(t *T, obj string) []string {
	_, vals := read(t, obj)
	seen := map[string]bool{}
	for p := range vals {
		obj, _ := splitLeaf(p)
		for q := obj; strings.HasPrefix(q, obj[:0]) && len(q) > 0; {
			trimmed := strings.TrimSuffix(q, ".")
			i := strings.LastIndexByte(trimmed, '.')
			if i < 0 {
				break
			}
			if _, err := strconv.Atoi(trimmed[i+1:]); err == nil {
				seen[q] = true
			}
			q = trimmed[:i+1]
		}
	}
	var out []string
	for p := range seen {
		if strings.HasPrefix(p, obj) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func run1_67(t *T) {
	obj := "Device.LocalAgent.Controller."
	want := instancesUnder(t, obj)
	ex := t.Send(msg.GetInstances{Paths: []string{obj}})
	Expect[*msg.GetInstancesResp](t, 0, ex)
	res := instResults(ex)
	c := t.Metric(1, "the GetInstancesResp has one req_path_results for "+obj+" listing every Controller instance and every instance of its sub-objects")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		c.Expect(res[0].GetRequestedPath() == obj, "requested_path %q", res[0].GetRequestedPath())
		c.Expect(res[0].GetErrCode() == 0, "error %d %s", res[0].GetErrCode(), res[0].GetErrMsg())
		var got []string
		for _, in := range res[0].GetCurrInsts() {
			got = append(got, in.GetInstantiatedObjPath())
		}
		slices.Sort(got)
		c.Expect(slices.Equal(got, want), "instances %v, a Get shows %v", got, want)
	}
	c.End()
}

func run1_68(t *T) {
	objs := []string{"Device.LocalAgent.Controller.", "Device.LocalAgent.MTP."}
	ex := t.Send(msg.GetInstances{Paths: objs, FirstLevelOnly: true})
	Expect[*msg.GetInstancesResp](t, 0, ex)
	res := instResults(ex)
	t.Check(1, "two req_path_results, for "+objs[0]+" and "+objs[1], len(res) == 2 && res[0].GetRequestedPath() == objs[0] && res[1].GetRequestedPath() == objs[1],
		"%d req_path_results", len(res))
	c := t.Metric(2, "each has at least one curr_insts")
	for _, r := range res {
		c.Expect(r.GetErrCode() == 0 && len(r.GetCurrInsts()) >= 1, "%s: error %d, %d instances", r.GetRequestedPath(), r.GetErrCode(), len(r.GetCurrInsts()))
	}
	c.End()
}

func run1_70(t *T) {
	ex := t.Send(msg.GetInstances{Paths: []string{"Device.LocalAgent.Controller.*.MTP."}, FirstLevelOnly: true})
	Expect[*msg.GetInstancesResp](t, 0, ex)
	c := t.Metric(1, "at least one req_path_results has a Device.LocalAgent.Controller.{i}.MTP. instance")
	var found bool
	for _, r := range instResults(ex) {
		for _, in := range r.GetCurrInsts() {
			p := in.GetInstantiatedObjPath()
			rest, ok := strings.CutPrefix(p, "Device.LocalAgent.Controller.")
			n, tail, _ := strings.Cut(rest, ".")
			_, err := strconv.Atoi(n)
			found = found || (ok && err == nil && isInstanceOf("MTP.", tail))
		}
	}
	c.Expect(found, "no Controller.{i}.MTP.{i}. instance listed")
	c.End()
}

func run1_71(t *T) {
	t.NeedParam(bootParamObj + "ParameterName")
	ctrl := t.Controller()
	alias := t.GetValues(ctrl)[ctrl+"Alias"]
	if alias == "" {
		t.Skipf("the test equipment's Controller entry has no Alias")
	}
	bp := bootParameter(t, ctrl, swVer, "true")
	ex := t.Send(msg.GetInstances{Paths: []string{fmt.Sprintf(`Device.LocalAgent.Controller.[Alias==%q].BootParameter.`, alias)}})
	Expect[*msg.GetInstancesResp](t, 0, ex)
	c := t.Metric(1, "a req_path_results lists the Controller's BootParameter instance")
	var found bool
	for _, r := range instResults(ex) {
		for _, in := range r.GetCurrInsts() {
			found = found || in.GetInstantiatedObjPath() == bp
		}
	}
	c.Expect(found, "%s not listed", bp)
	c.End()
}

func run1_83(t *T) {
	requested := `Device.LocalAgent.Controller.[Alias=="tp469-no-such-alias"].BootParameter.`
	ex := t.Send(msg.GetInstances{Paths: []string{requested}})
	Expect[*msg.GetInstancesResp](t, 1, ex)
	res := instResults(ex)
	c := t.Metric(2, "a single req_path_results without error for the path, with no curr_insts")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		c.Expect(res[0].GetRequestedPath() == requested, "requested_path %q", res[0].GetRequestedPath())
		c.Expect(res[0].GetErrCode() == 0, "error %d %s", res[0].GetErrCode(), res[0].GetErrMsg())
		c.Expect(len(res[0].GetCurrInsts()) == 0, "%d curr_insts", len(res[0].GetCurrInsts()))
	}
	c.End()
}

func run1_78(t *T) {
	second := t.Secondary()
	params := map[string]string{"EndpointID": second.ControllerID(), "Enable": "true"}
	// A Controller entry without a role has no rights on an agent that
	// enforces access control (OB-USP-A refuses the second controller's Add
	// with 7006): the second controller gets the test equipment's own role.
	if role := roleOfController(t, t.Controller()); role != "" {
		params["AssignedRole"] = role
	}
	ctrl, _ := t.Create("Device.LocalAgent.Controller.", params)
	// The secondary controller creates a Subscription of its own.
	ex := second.Send(t.ctx, msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: subParams("tp469-secondary", "ValueChange", swVer, false)}}})
	if ex.Err != nil {
		t.Abortf("setup: the second controller's Add: %v", ex.Err)
	}
	r, err := msg.ParseAddResp(ex.Response)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		t.Abortf("setup: the second controller's Add: %v", err)
	}
	sub := r.Results[0].Path
	t.DeleteLater(sub)
	rcp := t.GetValues(sub + "Recipient")[sub+"Recipient"]
	if strings.TrimSuffix(rcp, ".") != strings.TrimSuffix(ctrl, ".") {
		t.Abortf("setup: the Subscription's Recipient is %q, not the second controller %s", rcp, ctrl)
	}
	d := Expect[*msg.DeleteResp](t, 0, t.Send(msg.Delete{Paths: []string{ctrl}}))
	if d.Err() != nil {
		t.Abortf("Delete %s: %v", ctrl, d.Err())
	}
	t.Check(1, "the Subscription table no longer has the second controller's Subscription", allSubs(t)[sub] == nil, "%s still exists", sub)
}

// roleOfController returns the first role reference of a Controller entry
// (its AssignedRole, else its InheritedRole), without the trailing dot as
// references are written, or "" where the agent has no such parameters.
func roleOfController(t *T, ctrl string) string {
	if !t.env.HasParam("Device.LocalAgent.Controller.{i}.AssignedRole") {
		return ""
	}
	vals := t.GetValues(ctrl)
	for _, name := range []string{"AssignedRole", "InheritedRole"} {
		for _, ref := range datamodel.ParseList(vals[ctrl+name]) {
			if strings.HasPrefix(ref, roleObj) {
				return strings.TrimSuffix(ref, ".")
			}
		}
	}
	return ""
}

// awaitReboot waits for the agent to come back after a reboot: a connect
// record or a Boot! event from it, then an answer to a Get.
func awaitReboot(t *T, mark int, metric int) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.rebootTimeout())
	defer cancel()
	ib, ok := t.eq.Await(ctx, mark, func(ib Inbound) bool {
		if ib.Record == nil || ib.Record.GetFromId() != t.eq.AgentID() {
			return false
		}
		if isConnectRecord(ib) {
			return true
		}
		if n := ib.Notify(); n != nil {
			ev, isEv := n.Notification.(*msg.Event)
			return isEv && ev.EventName == "Boot!"
		}
		return false
	})
	c := t.Metric(metric, "the EUT reboots and resumes connectivity with the test equipment")
	if c.Expect(ok, "neither a connect record nor Boot! within %v", t.cfg.rebootTimeout()) {
		t.Notef("the agent came back at %s", ib.Time.Format(time.RFC3339))
		ex := t.Send(msg.Get{Paths: []string{agentEID}})
		c.Expect(ex.Err == nil, "no answer to a Get after the reboot: %v", ex.Err)
	}
	c.End()
}

func reboot(sendResp bool) func(*T) {
	return func(t *T) {
		mark := t.Mark()
		key := "test62"
		if sendResp {
			key = "test61"
		}
		ex := t.Post(msg.Operate{Command: "Device.Reboot()", CommandKey: key, SendResp: sendResp})
		if ex.Err != nil {
			t.Abortf("Operate: %v", ex.Err)
		}
		if sendResp {
			t.Wait(ex, t.cfg.responseTimeout())
			Expect[*msg.OperateResp](t, 0, ex)
			raw := ex.Response.GetBody().GetResponse().GetOperateResp().GetOperationResults()
			c := t.Metric(1, "the OperateResp has a single operation_results for Device.Reboot() with req_output_args holding empty output_args")
			if c.Expect(len(raw) == 1, "%d operation_results", len(raw)) {
				c.Expect(raw[0].GetExecutedCommand() == "Device.Reboot()", "executed_command %q", raw[0].GetExecutedCommand())
				out := raw[0].GetReqOutputArgs()
				c.Expect(out != nil && len(out.GetOutputArgs()) == 0, "req_output_args %v", out)
			}
			c.End()
			awaitReboot(t, mark, 2)
			return
		}
		awaitReboot(t, mark, 1)
	}
}

// scheduleTimerSub subscribes to the OperationComplete of
// Device.ScheduleTimer(), as 1.79 and 1.100 set up.
func scheduleTimerSub(t *T) {
	subscription(t, "tp469-timer", map[string]string{"NotifType": "OperationComplete", "ReferenceList": "Device.ScheduleTimer()"})
}

func isTimerDone(n *msg.Notify) bool {
	oc, ok := n.Notification.(*msg.OperationComplete)
	return ok && oc.CommandName == "ScheduleTimer()"
}

func run1_79(t *T) {
	scheduleTimerSub(t)
	mark := t.Mark()
	r := Expect[*msg.OperateResp](t, 0, t.Send(msg.Operate{Command: "Device.ScheduleTimer()", CommandKey: "test79", SendResp: true,
		Args: map[string]string{"DelaySeconds": "30"}}))
	c := t.Metric(1, "the OperateResp has a req_obj_path naming the Request object of the operation")
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		c.Expect(isInstanceOf("Device.LocalAgent.Request.", strings.TrimSuffix(r.Results[0].RequestObjPath, ".")+"."),
			"req_obj_path %q (error %v)", r.Results[0].RequestObjPath, r.Results[0].Err)
	}
	c.End()
	_, n, ok := t.AwaitNotify(mark, 30*time.Second+t.cfg.notifyTimeout(), isTimerDone)
	c = t.Metric(2, "the EUT sends an OperationComplete with command_name ScheduleTimer(), obj_path Device. and command_key test79, without error")
	if c.Expect(ok, "no OperationComplete within %v", 30*time.Second+t.cfg.notifyTimeout()) {
		oc := n.Notification.(*msg.OperationComplete)
		c.Expect(oc.ObjPath == "Device.", "obj_path %q", oc.ObjPath)
		c.Expect(oc.CommandKey == "test79", "command_key %q", oc.CommandKey)
		c.Expect(oc.Err == nil, "the operation failed: %v", oc.Err)
	}
	c.End()
}

func run1_81(t *T) {
	p := func() []msg.Param {
		return []msg.Param{{Name: "Enable", Value: "true"}, {Name: "NotifType", Value: "ValueChange"}, {Name: "ReferenceList", Value: swVer}}
	}
	r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: p()}, {Path: subObj, Params: p()}}}))
	trackCreated(t, r)
	c := t.Metric(2, "two successful CreatedObjectResults without parameter errors, whose unique keys differ in Alias and ID and agree in Recipient")
	if c.Expect(len(r.Results) == 2, "%d CreatedObjectResults", len(r.Results)) {
		a, b := r.Results[0], r.Results[1]
		expectCreated(c, a, subKeys(t))
		expectCreated(c, b, subKeys(t))
		c.Expect(a.UniqueKeys["ID"] != "" && a.UniqueKeys["ID"] != b.UniqueKeys["ID"], "IDs %q and %q", a.UniqueKeys["ID"], b.UniqueKeys["ID"])
		if _, alias := a.UniqueKeys["Alias"]; alias {
			c.Expect(a.UniqueKeys["Alias"] != b.UniqueKeys["Alias"], "Aliases %q and %q", a.UniqueKeys["Alias"], b.UniqueKeys["Alias"])
		}
		c.Expect(a.UniqueKeys["Recipient"] == b.UniqueKeys["Recipient"], "Recipients %q and %q", a.UniqueKeys["Recipient"], b.UniqueKeys["Recipient"])
	}
	c.End()
}

// disableAll sets Enable to false on every enabled Subscription for the
// length of the case, so that a search on Enable==true matches nothing.
func disableAll(t *T) {
	vals := map[string]string{}
	for inst, ps := range allSubs(t) {
		if sameValue(ps["Enable"], "true") {
			vals[inst+"Enable"] = "false"
		}
	}
	if len(vals) > 0 {
		t.Notef("%d enabled Subscriptions disabled for the case and enabled again after", len(vals))
		t.SetValues(vals)
	}
}

func unmatchedGet(n int) func(*T) {
	return func(t *T) {
		disableAll(t)
		requested := subObj + "[Enable==true]."
		ex := t.Send(msg.Get{Paths: []string{requested}})
		Expect[*msg.GetResp](t, 1, ex)
		res := getResults(ex)
		if n == 86 {
			t.Check(2, "the GetResp has no errors", len(res) == 1 && res[0].GetErrCode() == 0, "error %d", res[0].GetErrCode())
		}
		c := t.Metric(map[int]int{82: 2, 86: 3}[n], "a single req_path_results without error for the path, with no resolved_path_results")
		if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
			c.Expect(res[0].GetRequestedPath() == requested, "requested_path %q", res[0].GetRequestedPath())
			c.Expect(res[0].GetErrCode() == 0, "error %d %s", res[0].GetErrCode(), res[0].GetErrMsg())
			c.Expect(len(res[0].GetResolvedPathResults()) == 0, "resolved %v", resolvedPaths(res[0]))
		}
		c.End()
	}
}

// withoutSubscriptions deletes every Subscription for the case and
// re-creates those the kit did not make afterwards (with the test
// equipment as Recipient, which the cleanup reports when it differs).
func withoutSubscriptions(t *T) {
	before := allSubs(t)
	recreateLater(t, before)
	if len(before) > 0 {
		r := setup[*msg.DeleteResp](t, "Delete every Subscription", msg.Delete{Paths: slices.Sorted(maps.Keys(before))})
		if err := r.Err(); err != nil {
			t.Abortf("setup: Delete: %v", err)
		}
	}
}

// recreateLater registers the re-creation of the Subscriptions in before
// that the kit did not make, as far as a controller can: their Recipient
// becomes the test equipment's Controller and their instance numbers
// change; the first is reported as a cleanup failure when it differs.
func recreateLater(t *T, before map[string]map[string]string) {
	t.Cleanup("re-create the agent's own Subscriptions", func(ctx context.Context) error {
		var lost []string
		for _, inst := range slices.Sorted(maps.Keys(before)) {
			ps := before[inst]
			if strings.HasPrefix(ps["ID"], "tp469-") {
				continue
			}
			params := map[string]string{}
			for _, n := range subWritable {
				if v, ok := ps[n]; ok && v != "" {
					params[n] = v
				}
			}
			ex := t.eq.Send(ctx, msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: msg.Params(params)}}})
			var r *msg.AddResp
			err := ex.Err
			if err == nil {
				r, err = msg.ParseAddResp(ex.Response)
			}
			if err == nil {
				err = r.Err()
			}
			switch {
			case err != nil:
				lost = append(lost, inst+": "+err.Error())
			case ps["Recipient"] != "" && strings.TrimSuffix(ps["Recipient"], ".") != strings.TrimSuffix(t.env.Controller, "."):
				lost = append(lost, fmt.Sprintf("%s re-created as %s with Recipient %s instead of %s", inst, strings.Join(r.Paths(), ""), t.env.Controller, ps["Recipient"]))
			default:
				t.Notef("%s re-created as %s", inst, strings.Join(r.Paths(), ""))
			}
		}
		if len(lost) > 0 {
			return fmt.Errorf("%s", strings.Join(lost, "; "))
		}
		return nil
	})
}

func run1_87(t *T) {
	withoutSubscriptions(t)
	ex := t.Send(msg.Get{Paths: []string{subObj}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	t.Check(2, "the GetResp has no errors", len(res) == 1 && res[0].GetErrCode() == 0, "%d results", len(res))
	c := t.Metric(3, "a single req_path_results with nothing resolved")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		c.Expect(len(res[0].GetResolvedPathResults()) == 0, "resolved %v", resolvedPaths(res[0]))
	}
	c.End()
}

func run1_88(t *T) {
	before := allSubs(t)
	params := []msg.Param{{Name: "Enable", Value: "True"}, {Name: "Alias", Value: "88InvalidAlias"}, {Name: "NotifType", Value: "ValueChange"}, {Name: "ReferenceList", Value: swVer}}
	e := ExpectError(t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: params}}}))
	t.Check(1, "the EUT sends an Error with an error code", e.Code != 0, "no error code")
	c := t.Metric(2, "the EUT did not create the Subscription")
	for inst := range allSubs(t) {
		if !c.Expect(before[inst] != nil, "%s was created", inst) {
			t.DeleteLater(inst)
		}
	}
	c.End()
}

// depth counts the object levels of a path below Device.LocalAgent.,
// an instance number belonging to its table's level.
func depth(p string) int {
	rest := strings.TrimPrefix(p, "Device.LocalAgent.")
	n := 0
	for _, seg := range strings.Split(strings.TrimSuffix(rest, "."), ".") {
		if _, err := strconv.Atoi(seg); err != nil && seg != "" {
			n++
		}
	}
	return n
}

func run1_89(t *T) {
	results := map[uint32][]*uspmsg.GetResp_RequestedPathResult{}
	for _, d := range []uint32{1, 2, 0} {
		ex := t.Send(msg.Get{Paths: []string{"Device.LocalAgent."}, MaxDepth: d})
		Expect[*msg.GetResp](t, 0, ex)
		results[d] = getResults(ex)
	}
	base := func(c *Metric, res []*uspmsg.GetResp_RequestedPathResult) bool {
		return c.Expect(len(res) == 1, "%d req_path_results", len(res)) &&
			c.Expect(res[0].GetRequestedPath() == "Device.LocalAgent." && res[0].GetErrCode() == 0, "requested_path %q, error %d", res[0].GetRequestedPath(), res[0].GetErrCode()) &&
			c.Expect(slices.Contains(resolvedPaths(res[0]), "Device.LocalAgent."), "no resolved_path Device.LocalAgent.")
	}
	c := t.Metric(1, "max_depth 1: only Device.LocalAgent. with its own parameters")
	if base(c, results[1]) {
		c.Expect(len(results[1][0].GetResolvedPathResults()) == 1, "resolved %v", resolvedPaths(results[1][0]))
	}
	c.End()
	c = t.Metric(2, "max_depth 2: Device.LocalAgent. and its immediate child objects, nothing deeper")
	if base(c, results[2]) {
		c.Expect(len(results[2][0].GetResolvedPathResults()) > 1, "no child object resolved")
		for _, p := range resolvedPaths(results[2][0]) {
			c.Expect(depth(p) <= 1, "%s is deeper than a child", p)
		}
	}
	c.End()
	c = t.Metric(3, "max_depth 0: Device.LocalAgent. and all its sub-objects")
	if base(c, results[0]) {
		want := instancesUnder(t, "Device.LocalAgent.")
		got := resolvedPaths(results[0][0])
		for _, p := range want {
			c.Expect(slices.Contains(got, p), "%s missing", p)
		}
		c.Expect(len(got) >= len(resolvedPaths(results[2][0])), "fewer objects than with max_depth 2")
	}
	c.End()
	var all []*uspmsg.GetResp_RequestedPathResult
	for _, r := range results {
		all = append(all, r...)
	}
	expectRelative(t, 4, all)
}

func run1_90(t *T) {
	for inst, ps := range allSubs(t) {
		if sameValue(ps["Enable"], "false") {
			t.Skipf("precondition not met: %s has Enable false, and enabling another controller's Subscription would change what it receives", inst)
		}
	}
	requested := subObj + "[Enable==false]."
	ex := t.Send(msg.Delete{Paths: []string{requested}})
	Expect[*msg.DeleteResp](t, 0, ex)
	c := t.Metric(1, "the EUT sends a DeleteResp with an empty oper_success")
	res := deleteResults(ex)
	if c.Expect(len(res) == 1, "%d DeletedObjectResults", len(res)) {
		expectDeleted(c, res[0], requested)
	}
	c.End()
}

func run1_91(t *T) {
	r := Expect[*msg.OperateResp](t, 0, t.Send(msg.Operate{Command: "Device.ScheduleTimer()", SendResp: true,
		Args: map[string]string{"DelaySeconds": "10", "InvalidArgument": "2"}}))
	c := t.Metric(1, "the EUT sends a successful OperateResp with ScheduleTimer() in executed_command")
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		c.Expect(r.Results[0].Err == nil, "the command failed: %v", r.Results[0].Err)
		c.Expect(strings.Contains(r.Results[0].ExecutedCommand, "ScheduleTimer()"), "executed_command %q", r.Results[0].ExecutedCommand)
		if p := r.Results[0].RequestObjPath; p != "" {
			requestGone(t, p, 10*time.Second)
		}
	}
	c.End()
}

func run1_92(t *T) {
	const cmd = "Device.IP.Diagnostics.TraceRoute()"
	if _, ok := t.env.Command(cmd); !ok {
		t.Skipf("the agent has no %s, whose default arguments the case observes", cmd)
	}
	r := Expect[*msg.OperateResp](t, 0, t.Send(msg.Operate{Command: cmd, CommandKey: "test92", SendResp: true,
		Args: map[string]string{"Host": "192.0.2.1", "ProtocolVersion": "Any"}}))
	c := t.Metric(1, "the OperateResp has a single operation_results for "+cmd+" with a req_obj_path naming the Request object")
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		c.Expect(r.Results[0].ExecutedCommand == cmd, "executed_command %q", r.Results[0].ExecutedCommand)
		c.Expect(strings.HasPrefix(r.Results[0].RequestObjPath, "Device.LocalAgent.Request."), "req_obj_path %q", r.Results[0].RequestObjPath)
	}
	c.End()
	t.NeedsOperatorf("metric 2 (3 tries 5000 ms apart toward 192.0.2.1) needs a capture of the agent's ICMP traffic")
}

func trigger(action string, n int) func(*T) {
	return func(t *T) {
		id := fmt.Sprintf("notify%d", n)
		value := fmt.Sprintf("TestValue%d", n)
		pc := provisioning(t, value)
		mark := t.Mark()
		sub := notifySub(t, 1, id, "ValueChange", pc, msg.Param{Name: "TriggerAction", Value: action})
		setParam(t, sub+"TriggerConfigSettings", sub+"Enable=false")
		setParam(t, pc, value)
		metric := 2
		if action == "NotifyAndConfig" {
			_, nt, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), bySubID(id))
			c := t.Metric(2, "the EUT sends a Notify for "+id+" with a value_change of "+pc+" to "+value)
			if c.Expect(ok, "no Notify for %s", id) {
				expectValueChange(c, nt, id, pc, value)
			}
			c.End()
			metric = 3
		}
		_, vals := read(t, sub+"Enable")
		t.Check(metric, "the Subscription's Enable is false", sameValue(vals[sub+"Enable"], "false"), "Enable is %q", vals[sub+"Enable"])
	}
}

func run1_95(t *T) {
	t.NeedParam(bootParamObj + "ParameterName")
	ctrls := t.Instances("Device.LocalAgent.Controller.")
	if len(ctrls) < 2 {
		if !t.env.Supports(FeatControllerWritable) {
			t.Skipf("precondition not met: the agent has %d Controller entries and cannot add one", len(ctrls))
		}
		t.Create("Device.LocalAgent.Controller.", map[string]string{"EndpointID": "proto::tp469-second-controller", "Enable": "true"})
	}
	req := msg.Add{Objects: []msg.AddObject{{Path: "Device.LocalAgent.Controller.[Enable==true].BootParameter.",
		Params: []msg.Param{{Name: "Enable", Value: "true"}, {Name: "ParameterName", Value: swVer}}}}}
	r := Expect[*msg.AddResp](t, 0, t.Send(req))
	trackCreated(t, r)
	t.Check(1, "at least one CreatedObjectResult is an OperationSuccess", len(r.Succeeded()) >= 1, "%v", r.Err())
	_, vals := read(t, "Device.LocalAgent.Controller.*.BootParameter.")
	c := t.Metric(2, "the GetResp has the new BootParameter")
	for _, p := range r.Paths() {
		c.Expect(hasPrefix(vals, p), "%s missing", p)
	}
	c.Expect(len(r.Paths()) > 0, "nothing created")
	c.End()
}

func run1_96(t *T) {
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: []msg.Param{{Name: "ID", Value: "add96"}}}}}))
	trackCreated(t, r)
	if len(r.Succeeded()) != 1 {
		t.Abortf("the Add failed: %v", r.Err())
	}
	sub := r.Results[0].Path
	read(t, sub)
	ex := t.Send(msg.Set{Objects: []msg.SetObject{{Path: sub, Params: []msg.Param{{Name: "ID", Value: "add96-NEW", Required: true}}}}})
	e := ExpectError(t, 0, ex)
	t.Check(1, "the EUT sends an Error: a non-functional unique key cannot be changed", e.Code != 0, "no error code")
}

func run1_100(t *T) {
	scheduleTimerSub(t)
	mark := t.Mark()
	ex := t.Send(msg.Operate{Command: "Device.ScheduleTimer()", CommandKey: "test100", SendResp: true})
	Expect[*msg.OperateResp](t, 0, ex)
	raw := ex.Response.GetBody().GetResponse().GetOperateResp().GetOperationResults()
	c := t.Metric(1, "the OperateResp has a cmd_failure with err_code 7027")
	if c.Expect(len(raw) == 1, "%d operation_results", len(raw)) {
		f := raw[0].GetCmdFailure()
		c.Expect(f != nil && f.GetErrCode() == uint32(msg.CodeInvalidCommandArgs), "cmd_failure %v", f)
	}
	c.End()
	t.Sleep(120 * time.Second)
	// Only this Operate's completion counts: a timer another case started
	// may end meanwhile.
	got := t.Notifies(mark, func(n *msg.Notify) bool {
		return isTimerDone(n) && n.Notification.(*msg.OperationComplete).CommandKey == "test100"
	})
	t.Check(2, "the EUT sends no OperationComplete for this ScheduleTimer()", len(got) == 0, "%d OperationComplete notifications", len(got))
}

func isOnBoard(n *msg.Notify) bool {
	_, ok := n.Notification.(*msg.OnBoardRequest)
	return ok
}

// onBoard runs SendOnBoardRequest() for the test equipment's Controller
// with send_resp false and returns where the inbox stood before it.
func onBoard(t *T, key string) (ctrl string, mark int) {
	ctrl = t.Controller()
	mark = t.Mark()
	if ex := t.Post(msg.Operate{Command: ctrl + "SendOnBoardRequest()", CommandKey: key}); ex.Err != nil {
		t.Abortf("Operate: %v", ex.Err)
	}
	return ctrl, mark
}

func restoreOnBoarding(t *T, ctrl string) {
	t.SetLater(t.GetValues(ctrl+"OnBoardingComplete", ctrl+"OnBoardingRestartTime"))
}

func run1_101(t *T) {
	ctrl := t.Controller()
	restoreOnBoarding(t, ctrl)
	_, mark := onBoard(t, "test101")
	_, _, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), isOnBoard)
	t.Check(1, "the EUT sends an OnBoardRequest", ok, "none within %v", t.cfg.notifyTimeout())
	_, vals := read(t, ctrl+"OnBoardingComplete")
	t.Check(2, "OnBoardingComplete is false", sameValue(vals[ctrl+"OnBoardingComplete"], "false"), "it is %q", vals[ctrl+"OnBoardingComplete"])
	setParam(t, ctrl+"OnBoardingComplete", "true")
}

func run1_102(t *T) {
	ctrl := t.Controller()
	restoreOnBoarding(t, ctrl)
	setParam(t, ctrl+"OnBoardingRestartTime", "60")
	_, mark := onBoard(t, "test102")
	first, _, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), isOnBoard)
	t.Require(1, "the EUT sends an OnBoardRequest", ok, "none within %v", t.cfg.notifyTimeout())
	second, _, ok := t.AwaitNotify(first.Seq, 60*time.Second+t.cfg.notifyTimeout(), isOnBoard)
	c := t.Metric(2, "the EUT sends another OnBoardRequest 60 s after the NotifyResp")
	if c.Expect(ok, "none within %v", 60*time.Second+t.cfg.notifyTimeout()) {
		d := second.Time.Sub(first.Time)
		c.Expect(d >= 59*time.Second && d <= 60*time.Second+t.cfg.notifyTimeout(), "it came %v after the first", d.Round(time.Millisecond))
	}
	c.End()
	mark = t.Mark()
	setParam(t, ctrl+"OnBoardingComplete", "true")
	t.Sleep(60 * time.Second)
	got := t.Notifies(mark, isOnBoard)
	t.Check(3, "no OnBoardRequest after OnBoardingComplete is set to true", len(got) == 0, "%d OnBoardRequests", len(got))
}

func run1_103(t *T) {
	ctrl := t.Controller()
	restoreOnBoarding(t, ctrl)
	setParam(t, ctrl+"OnBoardingRestartTime", "0")
	_, mark := onBoard(t, "test103")
	first, _, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), isOnBoard)
	t.Require(1, "the EUT sends an OnBoardRequest", ok, "none within %v", t.cfg.notifyTimeout())
	t.Sleep(60 * time.Second)
	got := t.Notifies(first.Seq, isOnBoard)
	t.Check(2, "no further OnBoardRequest with OnBoardingRestartTime 0", len(got) == 0, "%d more OnBoardRequests", len(got))
}

func run1_104(t *T) {
	t.NeedParam(subTable + "Alias")
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: []msg.Param{{Name: "Alias", Value: "test-1-104"}}}}}))
	trackCreated(t, r)
	if len(r.Succeeded()) != 1 {
		t.Abortf("the Add failed: %v", r.Err())
	}
	sub := r.Results[0].Path
	ex := t.Send(msg.Set{Objects: []msg.SetObject{{Path: sub, Params: []msg.Param{{Name: "Alias", Value: "test-1-104-new-alias", Required: true}}}}})
	ExpectError(t, 1, ex)
	_, vals := read(t, sub+"Alias")
	t.Check(2, "the Alias is still the one the Add gave", vals[sub+"Alias"] == "test-1-104", "Alias is %q", vals[sub+"Alias"])
}

// run1_59 is 1.59: the Periodic! event every PeriodicNotifInterval.
func run1_59(t *T) {
	if !t.env.HasEvent("Device.LocalAgent.Periodic!") {
		t.Skipf("the agent has no Device.LocalAgent.Periodic! event")
	}
	ctrl := t.Controller()
	vals := t.GetValues(ctrl+"PeriodicNotifInterval", ctrl+"PeriodicNotifTime")
	t.SetLater(vals)
	r := Expect[*msg.SetResp](t, 0, t.Send(msg.Set{Objects: []msg.SetObject{{Path: ctrl, Params: []msg.Param{
		{Name: "PeriodicNotifInterval", Value: "60"}, {Name: "PeriodicNotifTime", Value: "2019-01-01T00:00:00Z"}}}}}))
	t.Check(1, "the EUT sends a SetResp with an oper_success", r.Err() == nil, "%v", r.Err())
	mark := t.Mark()
	ar := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj,
		Params: subParams("sub-103", "Event", "Device.LocalAgent.Periodic!", false)}}}))
	trackCreated(t, ar)
	t.Check(2, "the EUT sends an AddResp with an oper_success", ar.Err() == nil && len(ar.Results) == 1, "%v", ar.Err())
	isPeriodic := func(n *msg.Notify) bool {
		ev, ok := n.Notification.(*msg.Event)
		return ok && n.SubscriptionID == "sub-103" && ev.EventName == "Periodic!"
	}
	first, _, ok := t.AwaitNotify(mark, 64*time.Second, isPeriodic)
	t.Require(3, "the EUT sends a Periodic! event", ok, "none within 64 s")
	second, _, ok := t.AwaitNotify(first.Seq, 64*time.Second, isPeriodic)
	c := t.Metric(4, "a second Periodic! comes 60 (+/- 4) s after the first")
	if c.Expect(ok, "none within 64 s of the first") {
		d := second.Time.Sub(first.Time)
		c.Expect(d >= 56*time.Second && d <= 64*time.Second, "it came %v after the first", d.Round(time.Millisecond))
	}
	c.End()
}

// requestGone registers a cleanup that waits for an asynchronous
// operation the case started to end (its Request object to go), up to
// its expected run time, cancelling it first where the agent can.
func requestGone(t *T, request string, run time.Duration) {
	request = strings.TrimSuffix(request, ".") + "."
	t.Cleanup("wait for "+request+" to end", func(ctx context.Context) error {
		if _, ok := t.env.Command("Device.LocalAgent.Request.{i}.Cancel()"); ok {
			t.eq.Send(ctx, msg.Operate{Command: request + "Cancel()", SendResp: true})
		}
		deadline := time.Now().Add(run + t.cfg.responseTimeout())
		for {
			ex := t.eq.Send(ctx, msg.GetInstances{Paths: []string{"Device.LocalAgent.Request."}, FirstLevelOnly: true})
			r, err := msg.ParseGetInstancesResp(ex.Response)
			if ex.Err != nil || err != nil {
				return fmt.Errorf("cannot read the Request table: %v %v", ex.Err, err)
			}
			found := false
			for _, res := range r.Results {
				for _, in := range res.Instances {
					found = found || in.Path == request
				}
			}
			if !found {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still runs", request)
			}
			select {
			case <-time.After(250 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}
