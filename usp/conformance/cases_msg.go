package conformance

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gousp/gousp/msg"
)

// Section 1, Messages and Path Names. The plan works on
// Device.LocalAgent.Subscription. throughout; the kit creates the
// subscriptions each case's setup asks for (so that it never depends on,
// or changes, the agent's own) and deletes them afterwards.

const (
	subObj   = "Device.LocalAgent.Subscription."
	subTable = "Device.LocalAgent.Subscription.{i}."
	swVer    = "Device.LocalAgent.SoftwareVersion"
	agentEID = "Device.LocalAgent.EndpointID"
)

func init() { register(section1...) }

var section1 = []*Case{
	{ID: "1.1", Title: "Add message with allow partial false, single object, required parameters succeed", Run: addOne(false, "add1")},
	{ID: "1.2", Title: "Add message with allow partial true, single object, required parameters succeed", Run: addOne(true, "add2")},
	{ID: "1.3", Title: "Add message with allow partial false, single object, required parameters fail", Run: run1_3},
	{ID: "1.4", Title: "Add message with allow partial false, single invalid object", Run: run1_4},
	{ID: "1.5", Title: "Add message with allow partial false, multiple objects", Run: run1_5},
	{ID: "1.6", Title: "Add message with allow partial false, multiple objects with an invalid object", Run: run1_6},
	{ID: "1.7", Title: "Add message with allow partial false, multiple objects, required parameters fail in single object", Run: run1_7},
	{ID: "1.8", Title: "Add message with allow partial true, required parameters fail, invalid type, single object", Run: run1_8},
	{ID: "1.9", Title: "Add message with allow partial true, required parameters fail, multiple objects", Run: run1_9},
	{ID: "1.10", Title: "Add message with unique key addressing in path", Features: []Feature{FeatNestedMultiInstance}, Run: run1_10},
	{ID: "1.11", Title: "Set message with allow partial false, required parameters pass", Run: setOne(false, false)},
	{ID: "1.12", Title: "Set message with allow partial true, required parameters pass", Run: setOne(true, false)},
	{ID: "1.13", Title: "Set message with allow partial false, multiple objects", Run: run1_13},
	{ID: "1.14", Title: "Set message with allow partial false, required parameters fail", Run: run1_14},
	{ID: "1.15", Title: "Set message with allow partial false, multiple objects, required parameters fail in single object", Run: run1_15},
	{ID: "1.16", Title: "Set message with allow partial true, required parameter fails, multiple objects", Run: run1_16},
	{ID: "1.17", Title: "Set message with allow partial true, non-required parameter fails, multiple parameters", Run: run1_17},
	{ID: "1.18", Title: "Set message with unique key addressing in path", Run: setOne(false, true)},
}

// subParams are the parameters the plan gives a new Subscription, in its
// order, with ReferenceList required when refRequired.
func subParams(id, notifType, ref string, refRequired bool) []msg.Param {
	ps := []msg.Param{{Name: "Enable", Value: "true"}}
	if id != "" {
		ps = append(ps, msg.Param{Name: "ID", Value: id})
	}
	return append(ps, msg.Param{Name: "NotifType", Value: notifType},
		msg.Param{Name: "ReferenceList", Value: ref, Required: refRequired})
}

// subscription creates a Subscription the case's setup needs and returns
// its instance path; it is deleted after the case.
func subscription(t *T, id string, extra map[string]string) string {
	p := map[string]string{"Enable": "true", "ID": id, "NotifType": "ValueChange", "ReferenceList": swVer}
	maps.Copy(p, extra)
	path, _ := t.Create(subObj, p)
	return path
}

// subKeys are the unique keys TP-469 expects of a new Subscription: Alias,
// Recipient and ID, or Recipient and ID when the agent has no Alias.
func subKeys(t *T) [][]string {
	if t.env.Objects != nil && !t.env.HasParam(subTable+"Alias") {
		return [][]string{{"ID", "Recipient"}}
	}
	if t.env.Objects != nil {
		return [][]string{{"Alias", "ID", "Recipient"}}
	}
	return [][]string{{"Alias", "ID", "Recipient"}, {"ID", "Recipient"}}
}

func keyNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// expectCreated checks one successful CreatedObjectResult: no parameter
// errors and exactly the expected unique keys.
func expectCreated(c *Metric, r msg.AddResult, keys [][]string) {
	if !c.Expect(r.Err == nil, "creation of %s failed: %v", r.Requested, r.Err) {
		return
	}
	c.Expect(len(r.ParamErrs) == 0, "OperationSuccess has parameter errors: %v", r.ParamErrs)
	got := keyNames(r.UniqueKeys)
	c.Expect(slices.ContainsFunc(keys, func(k []string) bool { return slices.Equal(k, got) }),
		"unique keys are %v, want %v", got, keys)
}

// sameValue compares TR-106 values, booleans by meaning.
func sameValue(got, want string) bool {
	norm := func(s string) string {
		switch strings.ToLower(s) {
		case "1", "true":
			return "true"
		case "0", "false":
			return "false"
		}
		return s
	}
	return got == want || norm(got) == norm(want)
}

// expectValues checks that the values read match the parameters set.
func expectValues(c *Metric, got map[string]string, obj string, params []msg.Param) {
	for _, p := range params {
		v, ok := got[obj+p.Name]
		if c.Expect(ok, "%s%s missing from the GetResp", obj, p.Name) {
			c.Expect(sameValue(v, p.Value), "%s%s is %q, set %q", obj, p.Name, v, p.Value)
		}
	}
}

// read gets paths as part of a procedure; it ends the case without a
// conclusion when the Get itself fails.
func read(t *T, paths ...string) (*msg.GetResp, map[string]string) {
	ex := t.Send(msg.Get{Paths: paths})
	if ex.Err != nil {
		t.Abortf("Get %s: %v", strings.Join(paths, ", "), ex.Err)
	}
	r, err := msg.ParseGetResp(ex.Response)
	if err != nil {
		t.Abortf("Get %s: %v", strings.Join(paths, ", "), err)
	}
	return r, r.Values()
}

// subscriptionsWithID returns the Subscription instances whose ID is id.
func subscriptionsWithID(t *T, id string) []string {
	_, vals := read(t, subObj)
	var out []string
	for p, v := range vals {
		if strings.HasSuffix(p, ".ID") && v == id {
			out = append(out, strings.TrimSuffix(p, "ID"))
		}
	}
	return out
}

// trackCreated registers the deletion of everything an Add created.
func trackCreated(t *T, r *msg.AddResp) {
	for _, res := range r.Succeeded() {
		t.DeleteLater(res.Path)
	}
}

func addOne(allowPartial bool, id string) func(*T) {
	return func(t *T) {
		params := subParams(id, "ValueChange", swVer, true)
		r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{AllowPartial: allowPartial, Objects: []msg.AddObject{{Path: subObj, Params: params}}}))
		trackCreated(t, r)
		c := t.Metric(2, "the AddResp has a single successful CreatedObjectResult without parameter errors, with the unique keys Alias, Recipient and ID (Recipient and ID without Alias)")
		if c.Expect(len(r.Results) == 1, "%d CreatedObjectResults", len(r.Results)) {
			expectCreated(c, r.Results[0], subKeys(t))
		}
		c.Must()
		path := r.Results[0].Path
		_, vals := read(t, path)
		t.Check(3, "the EUT created the Subscription object", len(vals) > 0, "Get %s returned nothing", path)
		c = t.Metric(4, "the Subscription's values match those of the Add")
		expectValues(c, vals, path, params)
		c.End()
	}
}

// expectOneParamErr checks an Error message's param_errs: exactly one,
// whose path satisfies pathOK, with an error code.
func expectOneParamErr(c *Metric, e *msg.Error, what string, pathOK func(string) bool) {
	c.Expect(e.Code != 0, "the Error has no error code")
	if !c.Expect(len(e.ParamErrs) == 1, "param_errs has %d entries, want 1: %v", len(e.ParamErrs), e.ParamErrs) {
		return
	}
	pe := e.ParamErrs[0]
	c.Expect(pathOK(pe.Path), "param_path is %q, want %s", pe.Path, what)
	c.Expect(pe.Code != 0, "the parameter error has no error code")
}

func endsWith(suffix string) func(string) bool {
	return func(p string) bool { return strings.HasSuffix(p, suffix) }
}

func equals(want string) func(string) bool { return func(p string) bool { return p == want } }

// noneWithID checks that no Subscription with one of the ids exists.
func noneWithID(t *T, metric int, text string, ids ...string) {
	c := t.Metric(metric, text)
	for _, id := range ids {
		found := subscriptionsWithID(t, id)
		for _, p := range found {
			t.DeleteLater(p)
		}
		c.Expect(len(found) == 0, "Subscription %v has ID %q", found, id)
	}
	c.End()
}

func run1_3(t *T) {
	params := subParams("add3", "ValueChange", swVer, false)
	params[0] = msg.Param{Name: "Enable", Value: "InvalidValue", Required: true}
	e := ExpectError(t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: params}}}))
	c := t.Metric(2, "the Error has an error code and a single param_errs entry for the Enable parameter, with an error code")
	expectOneParamErr(c, e, "the Enable parameter", endsWith("Enable"))
	c.End()
	noneWithID(t, 3, "the EUT did not create a Subscription", "add3")
}

const invalidObj = "Device.LocalAgent.InvalidObject."

func run1_4(t *T) {
	params := subParams("add4", "ValueChange", swVer, false)
	e := ExpectError(t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: invalidObj, Params: params}}}))
	c := t.Metric(2, "the Error has an error code and a single param_errs entry for "+invalidObj+", with an error code")
	expectOneParamErr(c, e, invalidObj, equals(invalidObj))
	c.End()
	noneWithID(t, 3, "the EUT did not create a Subscription", "add4")
}

func run1_5(t *T) {
	p1 := subParams("add51", "ValueChange", swVer, true)
	p2 := subParams("add52", "ValueChange", agentEID, true)
	r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: p1}, {Path: subObj, Params: p2}}}))
	trackCreated(t, r)
	c := t.Metric(2, "the AddResp has two successful CreatedObjectResults without parameter errors, with the expected unique keys")
	if c.Expect(len(r.Results) == 2, "%d CreatedObjectResults", len(r.Results)) {
		expectCreated(c, r.Results[0], subKeys(t))
		expectCreated(c, r.Results[1], subKeys(t))
	}
	c.Must()
	_, vals := read(t, r.Results[0].Path, r.Results[1].Path)
	t.Check(3, "the EUT created both Subscription objects", hasPrefix(vals, r.Results[0].Path) && hasPrefix(vals, r.Results[1].Path), "Get returned %d values", len(vals))
	c = t.Metric(4, "the first Subscription's values match the Add")
	expectValues(c, vals, r.Results[0].Path, p1)
	c.End()
	c = t.Metric(5, "the second Subscription's values match the Add")
	expectValues(c, vals, r.Results[1].Path, p2)
	c.End()
}

func hasPrefix(vals map[string]string, prefix string) bool {
	for p := range vals {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func run1_6(t *T) {
	p1 := subParams("add61", "ValueChange", swVer, true)
	p2 := subParams("add62", "ValueChange", agentEID, true)
	e := ExpectError(t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: p1}, {Path: invalidObj, Params: p2}}}))
	c := t.Metric(2, "the Error has an error code and a single param_errs entry for "+invalidObj+", with an error code")
	expectOneParamErr(c, e, invalidObj, equals(invalidObj))
	c.End()
	noneWithID(t, 3, "the EUT did not create a Subscription", "add61", "add62")
}

func run1_7(t *T) {
	p1 := subParams("add71", "ValueChange", swVer, true)
	p1[0] = msg.Param{Name: "Enable", Value: "InvalidValue", Required: true}
	p2 := subParams("add72", "ValueChange", "", false)[:3]
	e := ExpectError(t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: p1}, {Path: subObj, Params: p2}}}))
	c := t.Metric(2, "the Error has an error code and a single param_errs entry for the Enable parameter, with an error code")
	expectOneParamErr(c, e, "the Enable parameter", endsWith("Enable"))
	c.End()
	noneWithID(t, 3, "the GetResp has no Subscription with ID add71 or add72", "add71", "add72")
}

func run1_8(t *T) {
	params := subParams("add8", "ValueChange", swVer, true)
	params[0] = msg.Param{Name: "Enable", Value: "InvalidValue", Required: true}
	r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{AllowPartial: true, Objects: []msg.AddObject{{Path: subObj, Params: params}}}))
	trackCreated(t, r)
	c := t.Metric(2, "the AddResp has a single CreatedObjectResult with an OperationFailure carrying an error code")
	if c.Expect(len(r.Results) == 1, "%d CreatedObjectResults", len(r.Results)) {
		c.Expect(r.Results[0].Err != nil && r.Results[0].Err.Code != 0, "the result is not an OperationFailure with a code: %+v", r.Results[0])
	}
	c.End()
	noneWithID(t, 3, "the GetResp has no Subscription with ID add8", "add8")
}

func run1_9(t *T) {
	p1 := subParams("add91", "ValueChange", swVer, false)
	p2 := append(subParams("add91", "ValueChange", swVer, false), msg.Param{Name: "InvalidParameter", Value: "IrrelevantValue", Required: true})
	r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{AllowPartial: true, Objects: []msg.AddObject{{Path: subObj, Params: p1}, {Path: subObj, Params: p2}}}))
	trackCreated(t, r)
	c := t.Metric(2, "the AddResp has two CreatedObjectResults: one OperationSuccess (no parameter errors, the expected unique keys) and one OperationFailure with an error code")
	var created string
	if c.Expect(len(r.Results) == 2, "%d CreatedObjectResults", len(r.Results)) {
		expectCreated(c, r.Results[0], subKeys(t))
		created = r.Results[0].Path
		c.Expect(r.Results[1].Err != nil && r.Results[1].Err.Code != 0, "the second result is not an OperationFailure with a code: %+v", r.Results[1])
	}
	c.Must()
	found := subscriptionsWithID(t, "add91")
	t.Check(3, "the EUT created the first Subscription and not the second", len(found) == 1 && found[0] == created,
		"Subscriptions with ID add91: %v (created %s)", found, created)
	_, vals := read(t, created)
	c = t.Metric(4, "the Subscription's values match those of the Add")
	expectValues(c, vals, created, p1)
	c.End()
}

// controllerKeyPath addresses the test equipment's Controller entry by its
// unique keys, as 1.10 and 1.33 ask.
func controllerKeyPath(t *T) string {
	ctrl := t.Controller()
	vals := t.GetValues(ctrl)
	expr := fmt.Sprintf(`EndpointID==%q`, t.eq.ControllerID())
	if a, ok := vals[ctrl+"Alias"]; ok && a != "" {
		expr += fmt.Sprintf(`&&Alias==%q`, a)
	}
	return "Device.LocalAgent.Controller.[" + expr + "]."
}

func run1_10(t *T) {
	t.NeedParam("Device.LocalAgent.Controller.{i}.BootParameter.{i}.ParameterName")
	ctrl := t.Controller()
	params := []msg.Param{{Name: "Enable", Value: "true"}, {Name: "ParameterName", Value: swVer}}
	keyed := controllerKeyPath(t) + "BootParameter."
	r := Expect[*msg.AddResp](t, 1, t.Send(msg.Add{Objects: []msg.AddObject{{Path: keyed, Params: params}}}))
	trackCreated(t, r)
	keys := [][]string{{"Alias", "ParameterName"}, {"ParameterName"}}
	if t.env.HasParam("Device.LocalAgent.Controller.{i}.BootParameter.{i}.Alias") {
		keys = keys[:1]
	}
	c := t.Metric(2, "the AddResp has a single successful CreatedObjectResult without parameter errors, with the unique keys Alias and ParameterName (ParameterName without Alias)")
	if c.Expect(len(r.Results) == 1, "%d CreatedObjectResults", len(r.Results)) {
		expectCreated(c, r.Results[0], keys)
		c.Expect(strings.HasPrefix(r.Results[0].Path, ctrl+"BootParameter."), "created %s, not under %s", r.Results[0].Path, ctrl)
	}
	c.Must()
	path := r.Results[0].Path
	_, vals := read(t, path)
	t.Check(3, "the EUT created the BootParameter object", len(vals) > 0, "Get %s returned nothing", path)
	c = t.Metric(4, "the BootParameter's values match those of the Add")
	expectValues(c, vals, path, params)
	c.End()
}

// flip returns the other boolean value, so that a Set changes something.
func flip(v string) string {
	if sameValue(v, "true") {
		return "false"
	}
	return "true"
}

// retryValue reads a Subscription's NotifRetry and returns the value a Set
// should write (the other one).
func retryValue(t *T, sub string) (old, next string) {
	old = t.GetValues(sub + "NotifRetry")[sub+"NotifRetry"]
	return old, flip(old)
}

// expectUpdated checks one successful UpdatedObjectResult: a single
// UpdatedInstanceResult for instance, with only name among updated_params.
func expectUpdated(c *Metric, r msg.SetResult, instance, name string) {
	if !c.Expect(r.Err == nil, "the UpdatedObjectResult for %s failed: %v", r.Requested, r.Err) {
		return
	}
	if !c.Expect(len(r.Updated) == 1, "%d UpdatedInstanceResults, want 1", len(r.Updated)) {
		return
	}
	u := r.Updated[0]
	c.Expect(u.Path == instance, "affected_path is %q, want %q", u.Path, instance)
	c.Expect(len(u.Params) == 1 && hasKey(u.Params, name), "updated_params has %v, want only %s", keyNames(u.Params), name)
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func setOne(allowPartial, byKey bool) func(*T) {
	return func(t *T) {
		sub := subscription(t, "tp469-set", nil)
		_, next := retryValue(t, sub)
		target := sub
		if byKey {
			keys := t.GetValues(sub+"ID", sub+"Recipient")
			target = fmt.Sprintf(`%s[ID==%q&&Recipient==%q].`, subObj, keys[sub+"ID"], keys[sub+"Recipient"])
			t.Notef("unique key path used: %s", target)
		}
		r := Expect[*msg.SetResp](t, 1, t.Send(msg.Set{AllowPartial: allowPartial, Objects: []msg.SetObject{{Path: target,
			Params: []msg.Param{{Name: "NotifRetry", Value: next, Required: true}}}}}))
		c := t.Metric(2, "the SetResp has a single successful UpdatedObjectResult with one UpdatedInstanceResult for the instance, updating only NotifRetry")
		if c.Expect(len(r.Results) == 1, "%d UpdatedObjectResults", len(r.Results)) {
			expectUpdated(c, r.Results[0], sub, "NotifRetry")
		}
		c.End()
		_, vals := read(t, sub+"NotifRetry")
		t.Check(3, "the value read matches the value set", sameValue(vals[sub+"NotifRetry"], next), "NotifRetry is %q, set %q", vals[sub+"NotifRetry"], next)
	}
}

func run1_13(t *T) {
	s1, s2 := subscription(t, "tp469-set1", nil), subscription(t, "tp469-set2", nil)
	_, n1 := retryValue(t, s1)
	_, n2 := retryValue(t, s2)
	r := Expect[*msg.SetResp](t, 1, t.Send(msg.Set{Objects: []msg.SetObject{
		{Path: s1, Params: []msg.Param{{Name: "NotifRetry", Value: n1, Required: true}}},
		{Path: s2, Params: []msg.Param{{Name: "NotifRetry", Value: n2, Required: true}}}}}))
	c := t.Metric(2, "the SetResp has two successful UpdatedObjectResults, each with one UpdatedInstanceResult for its instance, updating only NotifRetry")
	if c.Expect(len(r.Results) == 2, "%d UpdatedObjectResults", len(r.Results)) {
		expectUpdated(c, r.Results[0], s1, "NotifRetry")
		expectUpdated(c, r.Results[1], s2, "NotifRetry")
	}
	c.End()
	_, vals := read(t, s1+"NotifRetry", s2+"NotifRetry")
	t.Check(3, "the values read match the values set", sameValue(vals[s1+"NotifRetry"], n1) && sameValue(vals[s2+"NotifRetry"], n2),
		"read %v, set %s and %s", vals, n1, n2)
}

func run1_14(t *T) {
	sub := subscription(t, "tp469-set", nil)
	e := ExpectError(t, 1, t.Send(msg.Set{Objects: []msg.SetObject{{Path: sub,
		Params: []msg.Param{{Name: "InvalidParameter", Value: "IrrelevantValue", Required: true}}}}}))
	c := t.Metric(2, "the Error has an error code and a single ParamError for "+sub+"InvalidParameter, with an error code")
	expectOneParamErr(c, e, sub+"InvalidParameter", equals(sub+"InvalidParameter"))
	c.End()
	_, vals := read(t, sub)
	t.Check(3, "the GetResp has the Subscription, without an InvalidParameter parameter", hasPrefix(vals, sub) && !hasKey(vals, sub+"InvalidParameter"),
		"read %d values, InvalidParameter present: %v", len(vals), hasKey(vals, sub+"InvalidParameter"))
}

func run1_15(t *T) {
	s1, s2 := subscription(t, "tp469-set1", nil), subscription(t, "tp469-set2", nil)
	old, n1 := retryValue(t, s1)
	e := ExpectError(t, 1, t.Send(msg.Set{Objects: []msg.SetObject{
		{Path: s1, Params: []msg.Param{{Name: "NotifRetry", Value: n1, Required: true}}},
		{Path: s2, Params: []msg.Param{{Name: "InvalidParameter", Value: "IrrelevantValue", Required: true}}}}}))
	c := t.Metric(2, "the Error has an error code and a single ParamError for "+s2+"InvalidParameter, with an error code")
	expectOneParamErr(c, e, s2+"InvalidParameter", equals(s2+"InvalidParameter"))
	c.End()
	_, vals := read(t, subObj)
	c = t.Metric(3, "the GetResp has both Subscriptions, neither with InvalidParameter, and the first one's NotifRetry unchanged")
	c.Expect(hasPrefix(vals, s1) && hasPrefix(vals, s2), "a Subscription is missing")
	c.Expect(!hasKey(vals, s1+"InvalidParameter") && !hasKey(vals, s2+"InvalidParameter"), "an InvalidParameter parameter exists")
	c.Expect(sameValue(vals[s1+"NotifRetry"], old), "NotifRetry of %s changed from %q to %q", s1, old, vals[s1+"NotifRetry"])
	c.End()
}

func run1_16(t *T) {
	s1, s2 := subscription(t, "tp469-set1", nil), subscription(t, "tp469-set2", nil)
	_, n1 := retryValue(t, s1)
	ex := t.Send(msg.Set{AllowPartial: true, Objects: []msg.SetObject{
		{Path: s1, Params: []msg.Param{{Name: "NotifRetry", Value: n1, Required: true}}},
		{Path: s2, Params: []msg.Param{{Name: "InvalidParameter", Value: "IrrelevantValue", Required: true}}}}})
	r := Expect[*msg.SetResp](t, 1, ex)
	c := t.Metric(2, "the SetResp has two UpdatedObjectResults: the first a success for the first instance updating only NotifRetry; the second an OperationFailure with an error code and one UpdatedInstanceFailure for the second instance whose single ParameterError names InvalidParameter with an error code")
	if c.Expect(len(r.Results) == 2, "%d UpdatedObjectResults", len(r.Results)) {
		expectUpdated(c, r.Results[0], s1, "NotifRetry")
		f := r.Results[1]
		if c.Expect(f.Err != nil && f.Err.Code != 0, "the second result is not an OperationFailure with a code") &&
			c.Expect(len(f.Failed) == 1, "%d UpdatedInstanceFailures, want 1", len(f.Failed)) {
			c.Expect(f.Failed[0].Path == s2, "affected_path is %q, want %q", f.Failed[0].Path, s2)
			// The wire carries the relative name; check it there.
			raw := ex.Response.GetBody().GetResponse().GetSetResp().GetUpdatedObjResults()[1].GetOperStatus().GetOperFailure().GetUpdatedInstFailures()
			if c.Expect(len(raw) == 1 && len(raw[0].GetParamErrs()) == 1, "want one ParameterError") {
				pe := raw[0].GetParamErrs()[0]
				c.Expect(pe.GetParam() == "InvalidParameter", "ParameterError param is %q", pe.GetParam())
				c.Expect(pe.GetErrCode() != 0, "ParameterError has no error code")
			}
		}
	}
	c.End()
	_, vals := read(t, s1+"NotifRetry")
	t.Check(3, "the first object's value matches the value set", sameValue(vals[s1+"NotifRetry"], n1), "NotifRetry is %q, set %q", vals[s1+"NotifRetry"], n1)
}

func run1_17(t *T) {
	sub := subscription(t, "tp469-set", nil)
	_, next := retryValue(t, sub)
	ex := t.Send(msg.Set{AllowPartial: true, Objects: []msg.SetObject{{Path: sub, Params: []msg.Param{
		{Name: "NotifRetry", Value: next}, {Name: "InvalidParameter", Value: "IrrelevantValue"}}}}})
	r := Expect[*msg.SetResp](t, 1, ex)
	c := t.Metric(2, "the SetResp has one successful UpdatedObjectResult with one UpdatedInstanceResult for the instance, updating NotifRetry and with one ParameterError for InvalidParameter with an error code")
	if c.Expect(len(r.Results) == 1, "%d UpdatedObjectResults", len(r.Results)) {
		res := r.Results[0]
		if c.Expect(res.Err == nil, "the result failed: %v", res.Err) && c.Expect(len(res.Updated) == 1, "%d UpdatedInstanceResults", len(res.Updated)) {
			u := res.Updated[0]
			c.Expect(u.Path == sub, "affected_path is %q, want %q", u.Path, sub)
			c.Expect(len(u.Params) == 1 && hasKey(u.Params, "NotifRetry"), "updated_params has %v, want only NotifRetry", keyNames(u.Params))
			raw := ex.Response.GetBody().GetResponse().GetSetResp().GetUpdatedObjResults()[0].GetOperStatus().GetOperSuccess().GetUpdatedInstResults()[0].GetParamErrs()
			if c.Expect(len(raw) == 1, "%d ParameterErrors, want 1", len(raw)) {
				c.Expect(raw[0].GetParam() == "InvalidParameter", "ParameterError param is %q", raw[0].GetParam())
				c.Expect(raw[0].GetErrCode() != 0, "ParameterError has no error code")
			}
		}
	}
	c.End()
	_, vals := read(t, sub+"NotifRetry")
	t.Check(3, "the value of NotifRetry read matches the value set", sameValue(vals[sub+"NotifRetry"], next), "NotifRetry is %q, set %q", vals[sub+"NotifRetry"], next)
}
