package conformance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// Section 1: Set with search paths, Delete and Get (1.19-1.51).

func init() {
	register(
		&Case{ID: "1.19", Title: "Set message with wildcard search path, allow partial false, required parameters pass", Run: run1_19},
		&Case{ID: "1.20", Title: "Set message with wildcard search path, allow partial false, required parameters fail", Run: run1_20},
		&Case{ID: "1.21", Title: "Set message with wildcard search path, allow partial true, required parameters fail", Run: run1_21},
		&Case{ID: "1.22", Title: "Set message with search expression search path", Run: run1_22},
		&Case{ID: "1.23", Title: "Set message with path that matches no objects", Run: run1_23},
		&Case{ID: "1.24", Title: "Delete message with allow partial false, valid object instance", Run: deleteSubs(false, 1, "")},
		&Case{ID: "1.25", Title: "Delete message with allow partial false, object instance doesn't exist", Run: deleteMissing(false)},
		&Case{ID: "1.26", Title: "Delete message with allow partial false, invalid object", Run: run1_26},
		&Case{ID: "1.27", Title: "Delete message with allow partial false, multiple objects", Run: deleteSubs(false, 2, "")},
		&Case{ID: "1.28", Title: "Delete message with allow partial false, multiple objects, invalid object", Run: run1_28},
		&Case{ID: "1.29", Title: "Delete message with allow partial true, object instance doesn't exist", Run: deleteMissing(true)},
		&Case{ID: "1.30", Title: "Delete message with allow partial true, invalid object", Run: run1_30},
		&Case{ID: "1.31", Title: "Delete message with allow partial true, multiple objects, invalid object", Run: deleteSubs(true, 1, invalidObj)},
		&Case{ID: "1.32", Title: "Delete message with allow partial true, multiple objects, object doesn't exist", Run: deleteSubs(true, 1, "missing")},
		&Case{ID: "1.33", Title: "Delete message with unique key addressing", Run: run1_33},
		&Case{ID: "1.34", Title: "Delete message with wildcard search path, valid objects", Run: run1_34,
			Destructive: "deletes every Subscription of the agent, those of other controllers included"},
		&Case{ID: "1.35", Title: "Delete message with search expression search path", Run: run1_35},
		&Case{ID: "1.36", Title: "Get message with full parameter path", Run: run1_36},
		&Case{ID: "1.37", Title: "Get message with multiple full parameter paths, same object", Run: run1_37},
		&Case{ID: "1.38", Title: "Get message with multiple full parameter paths, different objects", Run: run1_38},
		&Case{ID: "1.39", Title: "Get message with object path", Run: run1_39},
		&Case{ID: "1.40", Title: "Get message with object instance path", Run: run1_40},
		&Case{ID: "1.41", Title: "Get message with invalid parameter", Run: run1_41},
		&Case{ID: "1.42", Title: "Get message with invalid parameter and valid parameter", Run: run1_42},
		&Case{ID: "1.43", Title: "Get message using unique key addressing", Run: run1_43},
		&Case{ID: "1.44", Title: "Get message using wildcard search path on full parameter", Run: run1_44},
		&Case{ID: "1.45", Title: "Get message using wildcard search path on object path", Run: run1_45},
		&Case{ID: "1.46", Title: "Get message using search expression search path (equivalence)", Run: searchGet("Enable==true", "Enable", func(v string) bool { return sameValue(v, "true") })},
		&Case{ID: "1.47", Title: "Get message using search expression search path (non-equivalence)", Run: searchGet("Enable!=true", "Enable", func(v string) bool { return !sameValue(v, "true") })},
		&Case{ID: "1.48", Title: "Get message using search expression search path (exclusive greater comparison)", Run: searchGet("NotifExpiration>10", "NotifExpiration", numPred(func(n int) bool { return n > 10 }))},
		&Case{ID: "1.49", Title: "Get message using search expression search path (exclusive lesser comparison)", Run: searchGet("NotifExpiration<10", "NotifExpiration", numPred(func(n int) bool { return n < 10 }))},
		&Case{ID: "1.50", Title: "Get message using search expression search path (inclusive greater comparison)", Run: searchGet("NotifExpiration>=10", "NotifExpiration", numPred(func(n int) bool { return n >= 10 }))},
		&Case{ID: "1.51", Title: "Get message using search expression search path (inclusive lesser comparison)", Run: searchGet("NotifExpiration<=10", "NotifExpiration", numPred(func(n int) bool { return n <= 10 }))},
	)
}

// allSubs reads every Subscription: instance path -> its parameters
// (relative names).
func allSubs(t *T) map[string]map[string]string {
	_, vals := read(t, subObj)
	out := map[string]map[string]string{}
	for p, v := range vals {
		rest := strings.TrimPrefix(p, subObj)
		n, name, ok := strings.Cut(rest, ".")
		if !ok || strings.Contains(name, ".") {
			continue
		}
		inst := subObj + n + "."
		if out[inst] == nil {
			out[inst] = map[string]string{}
		}
		out[inst][name] = v
	}
	return out
}

// restoreParam registers the restoration of one parameter of every
// existing Subscription, for cases whose search path reaches them all.
func restoreParam(t *T, subs map[string]map[string]string, name string) {
	vals := map[string]string{}
	for inst, ps := range subs {
		if v, ok := ps[name]; ok {
			vals[inst+name] = v
		}
	}
	t.SetLater(vals)
}

func isInstanceOf(obj, path string) bool {
	rest, ok := strings.CutPrefix(path, obj)
	if !ok {
		return false
	}
	n, tail, _ := strings.Cut(rest, ".")
	_, err := strconv.Atoi(n)
	return err == nil && tail == "" && strings.HasSuffix(rest, ".")
}

func run1_19(t *T) {
	subscription(t, "tp469-wild1", nil)
	subscription(t, "tp469-wild2", nil)
	before := allSubs(t)
	restoreParam(t, before, "NotifRetry")
	r := Expect[*msg.SetResp](t, 1, t.Send(msg.Set{Objects: []msg.SetObject{{Path: subObj + "*.",
		Params: []msg.Param{{Name: "NotifRetry", Value: "true", Required: true}}}}}))
	c := t.Metric(2, "the SetResp has a successful UpdatedObjectResult with at least two UpdatedInstanceResults, each for a Subscription instance, updating only NotifRetry")
	if c.Expect(len(r.Results) == 1, "%d UpdatedObjectResults", len(r.Results)) && c.Expect(r.Results[0].Err == nil, "the result failed: %v", r.Results[0].Err) {
		c.Expect(len(r.Results[0].Updated) >= 2, "%d UpdatedInstanceResults", len(r.Results[0].Updated))
		for _, u := range r.Results[0].Updated {
			c.Expect(isInstanceOf(subObj, u.Path), "affected_path %q is not a Subscription instance", u.Path)
			c.Expect(len(u.Params) == 1 && hasKey(u.Params, "NotifRetry"), "%s: updated_params %v", u.Path, keyNames(u.Params))
		}
	}
	c.End()
	after := allSubs(t)
	c = t.Metric(3, "every Subscription has the value set")
	for inst := range before {
		c.Expect(sameValue(after[inst]["NotifRetry"], "true"), "%sNotifRetry is %q", inst, after[inst]["NotifRetry"])
	}
	c.End()
}

func run1_20(t *T) {
	subscription(t, "tp469-wild1", nil)
	subscription(t, "tp469-wild2", nil)
	e := ExpectError(t, 1, t.Send(msg.Set{Objects: []msg.SetObject{{Path: subObj + "*.",
		Params: []msg.Param{{Name: "InvalidParameter", Value: "IrrelevantValue", Required: true}}}}}))
	c := t.Metric(2, "the Error has an error code and at least one ParamError naming Subscription.<instance>.InvalidParameter with an error code")
	c.Expect(e.Code != 0, "no error code")
	if c.Expect(len(e.ParamErrs) >= 1, "no param_errs") {
		for _, pe := range e.ParamErrs {
			inst, name := splitLeaf(pe.Path)
			c.Expect(isInstanceOf(subObj, inst) && name == "InvalidParameter", "param_path %q", pe.Path)
			c.Expect(pe.Code != 0, "%s has no error code", pe.Path)
		}
	}
	c.End()
	c = t.Metric(3, "no Subscription has an InvalidParameter parameter")
	for inst, ps := range allSubs(t) {
		c.Expect(!hasKey(ps, "InvalidParameter"), "%s has InvalidParameter", inst)
	}
	c.End()
}

func run1_21(t *T) {
	subscription(t, "tp469-wild1", nil)
	subscription(t, "tp469-wild2", nil)
	restoreParam(t, allSubs(t), "Enable")
	ex := t.Send(msg.Set{AllowPartial: true, Objects: []msg.SetObject{{Path: subObj + "*.",
		Params: []msg.Param{{Name: "Enable", Value: "InvalidValue", Required: true}}}}})
	Expect[*msg.SetResp](t, 1, ex)
	raw := ex.Response.GetBody().GetResponse().GetSetResp().GetUpdatedObjResults()
	t.Check(2, "the SetResp has an UpdatedObjectResults element", len(raw) == 1, "%d UpdatedObjectResults", len(raw))
	c := t.Metric(3, "the result is an OperationFailure with an error code and at least one UpdatedInstanceFailure per failed instance, each with a single ParameterError for Enable with an error code")
	if len(raw) == 1 {
		f := raw[0].GetOperStatus().GetOperFailure()
		if c.Expect(f != nil, "the result is not an OperationFailure") {
			c.Expect(f.GetErrCode() != 0, "no error code")
			c.Expect(len(f.GetUpdatedInstFailures()) >= 1, "no UpdatedInstanceFailure")
			for _, fi := range f.GetUpdatedInstFailures() {
				c.Expect(isInstanceOf(subObj, fi.GetAffectedPath()), "affected_path %q", fi.GetAffectedPath())
				if c.Expect(len(fi.GetParamErrs()) == 1, "%s: %d ParameterErrors", fi.GetAffectedPath(), len(fi.GetParamErrs())) {
					pe := fi.GetParamErrs()[0]
					c.Expect(pe.GetParam() == "Enable" || pe.GetParam() == fi.GetAffectedPath()+"Enable", "ParameterError param %q", pe.GetParam())
					c.Expect(pe.GetErrCode() != 0, "ParameterError without error code")
				}
			}
		}
	} else {
		c.Expect(false, "no result to check")
	}
	c.End()
	c = t.Metric(4, "no Subscription has Enable set to InvalidValue")
	for inst, ps := range allSubs(t) {
		c.Expect(ps["Enable"] != "InvalidValue", "%sEnable is InvalidValue", inst)
	}
	c.End()
}

func run1_22(t *T) {
	t.NeedParam(subTable + "NotifExpiration")
	sub := subscription(t, "tp469-search", map[string]string{"NotifExpiration": "3600"})
	before := allSubs(t)
	restoreParam(t, before, "NotifRetry")
	next := flip(before[sub]["NotifRetry"])
	r := Expect[*msg.SetResp](t, 1, t.Send(msg.Set{Objects: []msg.SetObject{{Path: subObj + "[NotifExpiration>0].",
		Params: []msg.Param{{Name: "NotifRetry", Value: next, Required: true}}}}}))
	c := t.Metric(2, "the SetResp has a successful UpdatedObjectResult whose UpdatedInstanceResults include the instance, each updating only NotifRetry")
	var found bool
	for _, res := range r.Results {
		if !c.Expect(res.Err == nil, "a result failed: %v", res.Err) {
			continue
		}
		for _, u := range res.Updated {
			found = found || u.Path == sub
			c.Expect(isInstanceOf(subObj, u.Path), "affected_path %q", u.Path)
			c.Expect(len(u.Params) == 1 && hasKey(u.Params, "NotifRetry"), "%s: updated_params %v", u.Path, keyNames(u.Params))
		}
	}
	c.Expect(found, "no UpdatedInstanceResult for %s", sub)
	c.End()
	_, vals := read(t, sub+"NotifRetry")
	t.Check(3, "the value read matches the value set", sameValue(vals[sub+"NotifRetry"], next), "NotifRetry is %q, set %q", vals[sub+"NotifRetry"], next)
}

func run1_23(t *T) {
	ex := t.Send(msg.Set{AllowPartial: true, Objects: []msg.SetObject{{Path: subObj + `[Recipient=="InvalidValue"].`,
		Params: []msg.Param{{Name: "NotifRetry", Value: "true", Required: true}}}}})
	Expect[*msg.SetResp](t, 1, ex)
	raw := ex.Response.GetBody().GetResponse().GetSetResp().GetUpdatedObjResults()
	c := t.Metric(2, "the SetResp has one UpdatedObjectResult with an empty oper_success")
	if c.Expect(len(raw) == 1, "%d UpdatedObjectResults", len(raw)) {
		s := raw[0].GetOperStatus().GetOperSuccess()
		c.Expect(s != nil, "the result is not an oper_success")
		c.Expect(len(s.GetUpdatedInstResults()) == 0, "oper_success lists %d instances", len(s.GetUpdatedInstResults()))
	}
	c.End()
}

// deleteResults returns the raw deleted_obj_results of a DeleteResp.
func deleteResults(ex *Exchange) []*uspmsg.DeleteResp_DeletedObjectResult {
	return ex.Response.GetBody().GetResponse().GetDeleteResp().GetDeletedObjResults()
}

// expectDeleted checks a DeletedObjectResult for requested whose
// oper_success lists exactly affected (none: an empty oper_success).
func expectDeleted(c *Metric, r *uspmsg.DeleteResp_DeletedObjectResult, requested string, affected ...string) {
	c.Expect(r.GetRequestedPath() == requested, "requested_path %q, want %q", r.GetRequestedPath(), requested)
	s := r.GetOperStatus().GetOperSuccess()
	if !c.Expect(s != nil, "%s: not an oper_success", requested) {
		return
	}
	got := slices.Clone(s.GetAffectedPaths())
	slices.Sort(got)
	want := slices.Sorted(slices.Values(affected))
	c.Expect(slices.Equal(got, want), "%s: affected_paths %v, want %v", requested, got, want)
	c.Expect(len(s.GetUnaffectedPathErrs()) == 0, "%s: unaffected_path_errs %v", requested, s.GetUnaffectedPathErrs())
}

// missingInstance returns a Subscription instance path that does not exist.
func missingInstance(t *T) string {
	high := 0
	for _, p := range t.Instances(subObj) {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, subObj), "."))
		high = max(high, n)
	}
	return fmt.Sprintf("%s%d.", subObj, high+1000)
}

// deleteSubs runs 1.24, 1.27, 1.31 and 1.32: delete n Subscriptions the
// case created, plus an extra path (an invalid object or, with "missing",
// an instance that does not exist).
func deleteSubs(allowPartial bool, n int, extra string) func(*T) {
	return func(t *T) {
		var subs []string
		for i := range n {
			subs = append(subs, subscription(t, fmt.Sprintf("tp469-del%d", i+1), nil))
		}
		paths := slices.Clone(subs)
		switch extra {
		case "":
		case "missing":
			extra = missingInstance(t)
			paths = append(paths, extra)
		default:
			paths = append(paths, extra)
		}
		ex := t.Send(msg.Delete{AllowPartial: allowPartial, Paths: paths})
		Expect[*msg.DeleteResp](t, 1, ex)
		res := deleteResults(ex)
		c := t.Metric(2, fmt.Sprintf("the DeleteResp has %d DeletedObjectResults, one per path, each an oper_success listing the instance deleted (an empty one for a missing instance, an oper_failure with an error code for an invalid object)", len(paths)))
		if c.Expect(len(res) == len(paths), "%d DeletedObjectResults", len(res)) {
			for i, p := range paths {
				switch {
				case p == invalidObj:
					c.Expect(res[i].GetRequestedPath() == p, "requested_path %q, want %q", res[i].GetRequestedPath(), p)
					f := res[i].GetOperStatus().GetOperFailure()
					c.Expect(f != nil && f.GetErrCode() != 0, "%s: not an oper_failure with an error code", p)
				case p == extra:
					expectDeleted(c, res[i], p)
				default:
					expectDeleted(c, res[i], p, p)
				}
			}
		}
		c.End()
		left := allSubs(t)
		c = t.Metric(3, "the GetResp does not have the Subscriptions deleted")
		for _, s := range subs {
			c.Expect(left[s] == nil, "%s still exists", s)
		}
		c.End()
	}
}

func deleteMissing(allowPartial bool) func(*T) {
	return func(t *T) {
		p := missingInstance(t)
		ex := t.Send(msg.Delete{AllowPartial: allowPartial, Paths: []string{p}})
		Expect[*msg.DeleteResp](t, 0, ex)
		c := t.Metric(1, "the EUT sends a DeleteResp with an empty oper_success")
		res := deleteResults(ex)
		if c.Expect(len(res) == 1, "%d DeletedObjectResults", len(res)) {
			expectDeleted(c, res[0], p)
		}
		c.End()
	}
}

func run1_26(t *T) {
	e := ExpectError(t, 1, t.Send(msg.Delete{Paths: []string{invalidObj}}))
	c := t.Metric(2, "the Error has an error code and a single param_errs entry for "+invalidObj+", with an error code")
	expectOneParamErr(c, e, invalidObj, equals(invalidObj))
	c.End()
}

func run1_28(t *T) {
	sub := subscription(t, "tp469-del1", nil)
	e := ExpectError(t, 1, t.Send(msg.Delete{Paths: []string{sub, invalidObj}}))
	c := t.Metric(2, "the Error has an error code and a single param_errs entry for "+invalidObj+", with an error code")
	expectOneParamErr(c, e, invalidObj, equals(invalidObj))
	c.End()
	t.Check(3, "the GetResp still has the Subscription", allSubs(t)[sub] != nil, "%s was deleted", sub)
}

func run1_30(t *T) {
	ex := t.Send(msg.Delete{AllowPartial: true, Paths: []string{invalidObj}})
	Expect[*msg.DeleteResp](t, 1, ex)
	res := deleteResults(ex)
	c := t.Metric(2, "the DeleteResp has a single DeletedObjectResult for "+invalidObj+" with an oper_failure carrying an error code")
	if c.Expect(len(res) == 1, "%d DeletedObjectResults", len(res)) {
		c.Expect(res[0].GetRequestedPath() == invalidObj, "requested_path %q", res[0].GetRequestedPath())
		f := res[0].GetOperStatus().GetOperFailure()
		c.Expect(f != nil && f.GetErrCode() != 0, "not an oper_failure with an error code")
	}
	c.End()
}

const bootParamObj = "Device.LocalAgent.Controller.{i}.BootParameter.{i}."

func bootParameter(t *T, ctrl, name, enable string) string {
	path, _ := t.Create(ctrl+"BootParameter.", map[string]string{"Enable": enable, "ParameterName": name})
	return path
}

func run1_33(t *T) {
	t.NeedParam(bootParamObj + "ParameterName")
	ctrl := t.Controller()
	bp := bootParameter(t, ctrl, swVer, "true")
	n := strings.TrimPrefix(bp, ctrl+"BootParameter.")
	keyed := controllerKeyPath(t) + "BootParameter." + n
	ex := t.Send(msg.Delete{Paths: []string{keyed}})
	Expect[*msg.DeleteResp](t, 1, ex)
	res := deleteResults(ex)
	c := t.Metric(2, "the DeleteResp has a single DeletedObjectResult for the path sent with an oper_success listing the BootParameter deleted")
	if c.Expect(len(res) == 1, "%d DeletedObjectResults", len(res)) {
		expectDeleted(c, res[0], keyed, bp)
	}
	c.End()
	c = t.Metric(3, "the affected_path uses instance numbers")
	for _, r := range res {
		for _, p := range r.GetOperStatus().GetOperSuccess().GetAffectedPaths() {
			c.Expect(!strings.ContainsAny(p, "[]*"), "affected_path %q", p)
		}
	}
	c.End()
	_, vals := read(t, ctrl+"BootParameter.")
	t.Check(4, "the GetResp does not have the BootParameter deleted", !hasPrefix(vals, bp), "%s still exists", bp)
}

// subWritable are the Subscription parameters 1.34's cleanup can give
// back to a re-created Subscription.
var subWritable = []string{"Alias", "Enable", "ID", "NotifType", "ReferenceList", "Persistent", "TimeToLive", "NotifRetry", "NotifExpiration"}

func run1_34(t *T) {
	subscription(t, "tp469-wild1", nil)
	subscription(t, "tp469-wild2", nil)
	before := allSubs(t)
	recreateLater(t, before)
	ex := t.Send(msg.Delete{Paths: []string{subObj + "*."}})
	Expect[*msg.DeleteResp](t, 1, ex)
	res := deleteResults(ex)
	c := t.Metric(2, "the DeleteResp has a single DeletedObjectResult for Subscription.*. with an oper_success listing the Subscriptions deleted")
	if c.Expect(len(res) == 1, "%d DeletedObjectResults", len(res)) {
		expectDeleted(c, res[0], subObj+"*.", slices.Collect(maps.Keys(before))...)
	}
	c.End()
	left := allSubs(t)
	c = t.Metric(3, "the GetResp has none of the Subscriptions deleted")
	for inst := range before {
		c.Expect(left[inst] == nil, "%s still exists", inst)
	}
	c.End()
}

func run1_35(t *T) {
	t.NeedParam(bootParamObj + "ParameterName")
	ctrl := t.Controller()
	bpOn := bootParameter(t, ctrl, swVer, "true")
	bpOff := bootParameter(t, ctrl, agentEID, "false")
	_, vals := read(t, ctrl+"BootParameter.")
	var enabled []string
	for p, v := range vals {
		if strings.HasSuffix(p, ".Enable") && sameValue(v, "true") {
			enabled = append(enabled, strings.TrimSuffix(p, "Enable"))
		}
	}
	// The agent's own enabled BootParameters are deleted too: restore them.
	for _, bp := range enabled {
		if bp == bpOn {
			continue
		}
		name := vals[bp+"ParameterName"]
		t.Cleanup("re-create "+bp, func(ctx context.Context) error {
			ex := t.eq.Send(ctx, msg.AddParams(ctrl+"BootParameter.", map[string]string{"Enable": "true", "ParameterName": name}))
			if ex.Err != nil {
				return ex.Err
			}
			r, err := msg.ParseAddResp(ex.Response)
			if err == nil {
				err = r.Err()
			}
			return err
		})
	}
	requested := ctrl + "BootParameter.[Enable==true]."
	ex := t.Send(msg.Delete{Paths: []string{requested}})
	Expect[*msg.DeleteResp](t, 1, ex)
	res := deleteResults(ex)
	c := t.Metric(2, "the DeleteResp has a single DeletedObjectResult for the search path with an oper_success listing the BootParameters deleted")
	if c.Expect(len(res) == 1, "%d DeletedObjectResults", len(res)) {
		expectDeleted(c, res[0], requested, enabled...)
	}
	c.End()
	_, after := read(t, ctrl+"BootParameter.")
	t.Check(3, "the BootParameter with Enable false was not deleted", hasPrefix(after, bpOff), "%s was deleted", bpOff)
	c = t.Metric(4, "the GetResp has no BootParameter with Enable true")
	for p, v := range after {
		c.Expect(!(strings.HasSuffix(p, ".Enable") && sameValue(v, "true")), "%s is true", p)
	}
	c.End()
}

// getResults returns the raw req_path_results of a GetResp.
func getResults(ex *Exchange) []*uspmsg.GetResp_RequestedPathResult {
	return ex.Response.GetBody().GetResponse().GetGetResp().GetReqPathResults()
}

// expectParamResult checks a RequestedPathResult for one parameter: no
// error, one resolved_path_result for obj with exactly the parameter name,
// whose value passes ok.
func expectParamResult(c *Metric, r *uspmsg.GetResp_RequestedPathResult, requested, obj, name string, ok func(string) bool, want string) {
	c.Expect(r.GetRequestedPath() == requested, "requested_path %q, want %q", r.GetRequestedPath(), requested)
	c.Expect(r.GetErrCode() == 0, "%s: error %d %s", requested, r.GetErrCode(), r.GetErrMsg())
	if !c.Expect(len(r.GetResolvedPathResults()) == 1, "%s: %d resolved_path_results", requested, len(r.GetResolvedPathResults())) {
		return
	}
	rp := r.GetResolvedPathResults()[0]
	c.Expect(rp.GetResolvedPath() == obj, "resolved_path %q, want %q", rp.GetResolvedPath(), obj)
	v, has := rp.GetResultParams()[name]
	c.Expect(len(rp.GetResultParams()) == 1 && has, "result_params keys %v, want only %s", keyNames(rp.GetResultParams()), name)
	c.Expect(!has || ok(v), "%s is %q, want %s", name, v, want)
}

func nonEmpty(v string) bool { return v != "" }

func isBool(v string) bool {
	switch v {
	case "true", "false", "1", "0":
		return true
	}
	return false
}

func run1_36(t *T) {
	ex := t.Send(msg.Get{Paths: []string{agentEID}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results without error, resolved to Device.LocalAgent. with only EndpointID, equal to the EUT's endpoint ID")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		expectParamResult(c, res[0], agentEID, "Device.LocalAgent.", "EndpointID", equals(t.eq.AgentID()), t.eq.AgentID())
	}
	c.End()
}

func run1_37(t *T) {
	ex := t.Send(msg.Get{Paths: []string{agentEID, swVer}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "two req_path_results without errors, each resolved to Device.LocalAgent. with only the parameter asked: EndpointID equal to the EUT's, SoftwareVersion with a value")
	if c.Expect(len(res) == 2, "%d req_path_results", len(res)) {
		expectParamResult(c, res[0], agentEID, "Device.LocalAgent.", "EndpointID", equals(t.eq.AgentID()), t.eq.AgentID())
		expectParamResult(c, res[1], swVer, "Device.LocalAgent.", "SoftwareVersion", nonEmpty, "a version")
	}
	c.End()
}

func run1_38(t *T) {
	sub := subscription(t, "tp469-get", nil)
	ex := t.Send(msg.Get{Paths: []string{agentEID, sub + "Enable"}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "two req_path_results without errors: EndpointID resolved to Device.LocalAgent. equal to the EUT's, Enable resolved to the Subscription instance with a boolean value")
	if c.Expect(len(res) == 2, "%d req_path_results", len(res)) {
		expectParamResult(c, res[0], agentEID, "Device.LocalAgent.", "EndpointID", equals(t.eq.AgentID()), t.eq.AgentID())
		expectParamResult(c, res[1], sub+"Enable", sub, "Enable", isBool, "a boolean")
	}
	c.End()
}

// expectRelative checks that every result_params key is a relative path.
func expectRelative(t *T, metric int, res []*uspmsg.GetResp_RequestedPathResult) {
	c := t.Metric(metric, "the keys of all result_params are relative paths")
	for _, r := range res {
		for _, rp := range r.GetResolvedPathResults() {
			for k := range rp.GetResultParams() {
				c.Expect(k != "" && !strings.HasPrefix(k, "Device."), "%s: key %q", rp.GetResolvedPath(), k)
			}
		}
	}
	c.End()
}

func resolvedPaths(r *uspmsg.GetResp_RequestedPathResult) []string {
	var out []string
	for _, rp := range r.GetResolvedPathResults() {
		out = append(out, rp.GetResolvedPath())
	}
	return out
}

func run1_39(t *T) {
	ex := t.Send(msg.Get{Paths: []string{"Device.LocalAgent."}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results without error for Device.LocalAgent., resolved to Device.LocalAgent. with its parameters (and its sub-objects)")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		r := res[0]
		c.Expect(r.GetRequestedPath() == "Device.LocalAgent.", "requested_path %q", r.GetRequestedPath())
		c.Expect(r.GetErrCode() == 0, "error %d %s", r.GetErrCode(), r.GetErrMsg())
		i := slices.IndexFunc(r.GetResolvedPathResults(), func(rp *uspmsg.GetResp_ResolvedPathResult) bool { return rp.GetResolvedPath() == "Device.LocalAgent." })
		if c.Expect(i >= 0, "no resolved_path Device.LocalAgent. among %v", resolvedPaths(r)) {
			c.Expect(hasKey(r.GetResolvedPathResults()[i].GetResultParams(), "EndpointID"), "Device.LocalAgent. has no EndpointID")
		}
		for _, p := range resolvedPaths(r) {
			c.Expect(strings.HasPrefix(p, "Device.LocalAgent."), "resolved_path %q is outside the path asked", p)
		}
	}
	c.End()
	expectRelative(t, 3, res)
}

func run1_40(t *T) {
	sub := subscription(t, "tp469-get", nil)
	ex := t.Send(msg.Get{Paths: []string{sub}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results without error, with a single resolved_path_results for the instance, with its parameters")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		r := res[0]
		c.Expect(r.GetRequestedPath() == sub, "requested_path %q", r.GetRequestedPath())
		c.Expect(r.GetErrCode() == 0, "error %d %s", r.GetErrCode(), r.GetErrMsg())
		if c.Expect(len(r.GetResolvedPathResults()) == 1, "resolved paths %v", resolvedPaths(r)) {
			rp := r.GetResolvedPathResults()[0]
			c.Expect(rp.GetResolvedPath() == sub, "resolved_path %q", rp.GetResolvedPath())
			c.Expect(rp.GetResultParams()["ID"] == "tp469-get", "result_params %v", rp.GetResultParams())
		}
	}
	c.End()
	expectRelative(t, 3, res)
}

const invalidParam = "Device.LocalAgent.InvalidParameter"

func expectPathErr(c *Metric, r *uspmsg.GetResp_RequestedPathResult, requested string) {
	c.Expect(r.GetRequestedPath() == requested, "requested_path %q, want %q", r.GetRequestedPath(), requested)
	c.Expect(r.GetErrCode() != 0, "%s has no error code", requested)
}

func run1_41(t *T) {
	ex := t.Send(msg.Get{Paths: []string{invalidParam}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results for "+invalidParam+" with an error code")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		expectPathErr(c, res[0], invalidParam)
	}
	c.End()
}

func run1_42(t *T) {
	ex := t.Send(msg.Get{Paths: []string{agentEID, invalidParam}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "two req_path_results: EndpointID without error resolved to Device.LocalAgent. equal to the EUT's, and "+invalidParam+" with an error code")
	if c.Expect(len(res) == 2, "%d req_path_results", len(res)) {
		expectParamResult(c, res[0], agentEID, "Device.LocalAgent.", "EndpointID", equals(t.eq.AgentID()), t.eq.AgentID())
		expectPathErr(c, res[1], invalidParam)
	}
	c.End()
}

func run1_43(t *T) {
	sub := subscription(t, "tp469-get", nil)
	keys := t.GetValues(sub+"ID", sub+"Recipient")
	requested := fmt.Sprintf(`%s[ID==%q&&Recipient==%q].Enable`, subObj, keys[sub+"ID"], keys[sub+"Recipient"])
	ex := t.Send(msg.Get{Paths: []string{requested}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results without error for the unique key path, resolved to the instance with Enable and a boolean value")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		expectParamResult(c, res[0], requested, sub, "Enable", isBool, "a boolean")
	}
	c.End()
}

func run1_44(t *T) {
	subscription(t, "tp469-get1", nil)
	subscription(t, "tp469-get2", nil)
	requested := subObj + "*.Enable"
	ex := t.Send(msg.Get{Paths: []string{requested}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results without error for the wildcard path, with at least two resolved_path_results, each a Subscription instance with Enable")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		r := res[0]
		c.Expect(r.GetRequestedPath() == requested, "requested_path %q", r.GetRequestedPath())
		c.Expect(r.GetErrCode() == 0, "error %d", r.GetErrCode())
		c.Expect(len(r.GetResolvedPathResults()) >= 2, "%d resolved_path_results", len(r.GetResolvedPathResults()))
		for _, rp := range r.GetResolvedPathResults() {
			c.Expect(isInstanceOf(subObj, rp.GetResolvedPath()), "resolved_path %q", rp.GetResolvedPath())
			v, ok := rp.GetResultParams()["Enable"]
			c.Expect(ok && isBool(v) && len(rp.GetResultParams()) == 1, "%s: result_params %v", rp.GetResolvedPath(), rp.GetResultParams())
		}
	}
	c.End()
}

func run1_45(t *T) {
	subscription(t, "tp469-get1", nil)
	subscription(t, "tp469-get2", nil)
	requested := subObj + "*."
	ex := t.Send(msg.Get{Paths: []string{requested}})
	Expect[*msg.GetResp](t, 1, ex)
	res := getResults(ex)
	c := t.Metric(2, "one req_path_results without error for the wildcard path, each resolved_path_results a Subscription instance with its parameters")
	if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
		r := res[0]
		c.Expect(r.GetRequestedPath() == requested, "requested_path %q", r.GetRequestedPath())
		c.Expect(r.GetErrCode() == 0, "error %d", r.GetErrCode())
		c.Expect(len(r.GetResolvedPathResults()) >= 2, "%d resolved_path_results", len(r.GetResolvedPathResults()))
		for _, rp := range r.GetResolvedPathResults() {
			c.Expect(strings.HasPrefix(rp.GetResolvedPath(), subObj) && rp.GetResolvedPath() != subObj, "resolved_path %q", rp.GetResolvedPath())
			if isInstanceOf(subObj, rp.GetResolvedPath()) {
				c.Expect(hasKey(rp.GetResultParams(), "ID"), "%s has no ID", rp.GetResolvedPath())
			}
		}
	}
	c.End()
	expectRelative(t, 3, res)
}

func numPred(f func(int) bool) func(string) bool {
	return func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && f(n)
	}
}

// searchGet runs 1.46-1.51: Subscriptions with chosen values of param
// (Enable true and false; NotifExpiration 5, 10 and 20), a Get with the
// search expression expr, and a check that exactly the Subscriptions
// whose value passes match were returned.
func searchGet(expr, param string, match func(string) bool) func(*T) {
	return func(t *T) {
		t.NeedParam(subTable + param)
		values := []string{"true", "false"}
		if param != "Enable" {
			values = []string{"5", "10", "20"}
		}
		for i, v := range values {
			subscription(t, fmt.Sprintf("tp469-search%d", i+1), map[string]string{param: v})
		}
		want := map[string]bool{}
		all := allSubs(t)
		for inst, ps := range all {
			if match(ps[param]) {
				want[inst] = true
			}
		}
		requested := subObj + "[" + expr + "]."
		ex := t.Send(msg.Get{Paths: []string{requested}})
		Expect[*msg.GetResp](t, 1, ex)
		res := getResults(ex)
		c := t.Metric(2, "one req_path_results without error for the search path, with a resolved_path_results for each Subscription that matches, with its parameters")
		got := map[string]bool{}
		if c.Expect(len(res) == 1, "%d req_path_results", len(res)) {
			r := res[0]
			c.Expect(r.GetRequestedPath() == requested, "requested_path %q", r.GetRequestedPath())
			c.Expect(r.GetErrCode() == 0, "error %d %s", r.GetErrCode(), r.GetErrMsg())
			for _, rp := range r.GetResolvedPathResults() {
				if isInstanceOf(subObj, rp.GetResolvedPath()) {
					got[rp.GetResolvedPath()] = true
				}
			}
			for inst := range want {
				c.Expect(got[inst], "%s (%s=%s) is missing", inst, param, all[inst][param])
			}
		}
		c.End()
		expectRelative(t, 3, res)
		c = t.Metric(4, "no parameters of Subscriptions that do not match are returned")
		for _, r := range res {
			for _, rp := range r.GetResolvedPathResults() {
				for inst := range all {
					if !want[inst] && strings.HasPrefix(rp.GetResolvedPath(), inst) {
						c.Expect(false, "%s returned, its %s is %s", rp.GetResolvedPath(), param, all[inst][param])
					}
				}
			}
		}
		c.End()
	}
}
