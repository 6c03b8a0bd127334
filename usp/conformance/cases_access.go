package conformance

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
)

// Section 2: Authentication and Access Control. 2.1 and 2.2 send records
// the agent must not answer; 2.9 to 2.26 work on
// Device.LocalAgent.ControllerTrust.: a Permission added to the test
// equipment's own role, then the request it allows or refuses.
//
// Where the plan leaves out a Permission's Order, the kit gives each new
// Permission an Order above every one the role already has: the plan means
// the new Permission to decide, and under TR-181 the highest Order among
// the Permissions covering an element does. Where the plan gives two
// Permissions of one role the same Order (2.23), the kit gives them
// consecutive ones, since Order is a unique key of the table.

const (
	trustObj = "Device.LocalAgent.ControllerTrust."
	roleObj  = trustObj + "Role."
	permObj  = trustObj + "Role.{i}.Permission.{i}."
)

func init() {
	const deprecated = "deprecated by TP-469 (certificate handling moved to the MTP layer); the number is kept"
	trustW := []Feature{FeatControllerTrust, FeatControllerTrustWrite}
	register(
		&Case{ID: "2.1", Title: "Agent does not accept messages from its own Endpoint ID", Run: run2_1},
		&Case{ID: "2.2", Title: "Agent rejects messages that do not contain its to_id in the USP Record", Run: run2_2},
		&Case{ID: "2.3", Title: "Agent does not process messages without the Controller's certificate information (DEPRECATED)", Run: retired(deprecated)},
		&Case{ID: "2.4", Title: "Agent rejects messages from Endpoint IDs that are not in subjectAltName (DEPRECATED)", Run: retired(deprecated)},
		&Case{ID: "2.5", Title: "Agent use of self-signed certificates (DEPRECATED)", Run: retired(deprecated)},
		&Case{ID: "2.6", Title: "Connecting without absolute time", Features: []Feature{FeatSessionContext}, Run: func(t *T) {
			t.NeedsOperatorf("needs the agent booted where it cannot obtain absolute time, and the test equipment presenting an expired TLS certificate on the MTP connection: the kit's transports use the certificates the caller configured")
		}},
		&Case{ID: "2.8", Title: "Agent ignores invalid TLS certificate", Features: []Feature{FeatSessionContext}, Run: run2_8},
		&Case{ID: "2.9", Title: "Use of the Untrusted role", Features: []Feature{FeatControllerTrust}, Run: run2_9},
		&Case{ID: "2.10", Title: "Adding a Role", Features: []Feature{FeatControllerTrust}, Run: run2_10},
		&Case{ID: "2.11", Title: "Permissions - Object Creation Allowed", Features: trustW, Run: run2_11},
		&Case{ID: "2.12", Title: "Permissions - Object Creation Not Allowed", Features: trustW, Run: run2_12},
		&Case{ID: "2.13", Title: "Permissions - Object Deletion Allowed", Features: trustW, Run: deletion(true)},
		&Case{ID: "2.14", Title: "Permissions - Object Deletion Not Allowed", Features: trustW, Run: deletion(false)},
		&Case{ID: "2.15", Title: "Permissions - Parameter Update Allowed", Features: trustW, Run: update(true)},
		&Case{ID: "2.16", Title: "Permissions - Parameter Update Not Allowed", Features: trustW, Run: update(false)},
		&Case{ID: "2.17", Title: "Permissions - Operation Allowed", Features: append([]Feature{FeatReboot}, trustW...), Run: run2_17,
			Destructive: "reboots the agent"},
		&Case{ID: "2.18", Title: "Permissions - Operation Not Allowed", Features: append([]Feature{FeatReboot}, trustW...), Run: run2_18},
		&Case{ID: "2.19", Title: "Permissions - Value Change Notification Allowed on Parameter", Features: trustW, Run: valueChangeACL(true)},
		&Case{ID: "2.20", Title: "Permissions - Value Change Notification Not Allowed on Parameter", Features: trustW, Slow: 30 * time.Second, Run: valueChangeACL(false)},
		&Case{ID: "2.21", Title: "Permissions - Overlapping Permissions", Features: trustW, Run: run2_21},
		&Case{ID: "2.22", Title: "Using Get when no read permissions are available on some parameters", Features: trustW, Run: run2_22},
		&Case{ID: "2.23", Title: "Permissions - Add message with search path, allow partial true, required parameters fail", Features: append([]Feature{FeatControllerWritable}, trustW...), Run: searchAdd(true)},
		&Case{ID: "2.24", Title: "Permissions - Add message with search path, allow partial false, required parameters fail", Features: append([]Feature{FeatControllerWritable}, trustW...), Run: searchAdd(false)},
		&Case{ID: "2.25", Title: "Permissions - Parameter within added object not allowed, omitted", Features: trustW, Run: run2_25},
		&Case{ID: "2.26", Title: "Permissions - Parameter within added object not allowed, included", Features: trustW, Run: run2_26},
		&Case{ID: "2.27", Title: "Use of SecuredRole", Features: []Feature{FeatControllerTrust}, Run: run2_27},
	)
}

// unanswered sends a Get in a record with the given to_id and from_id and
// checks that the agent answers nothing within the quiet period.
func unanswered(t *T, metric int, to, from, text, note string) {
	id := fmt.Sprintf("tp469-%s-%d", strings.ReplaceAll(t.c.ID, ".", "-"), time.Now().UnixNano())
	m := msg.Get{Paths: []string{agentEID}}.Build(id)
	b, err := record.EncodeMsg(t.eq.version, to, from, m)
	if err != nil {
		t.Abortf("cannot build the record: %v", err)
	}
	mark := t.Mark()
	if err := t.eq.SendBytes(t.ctx, b, note); err != nil {
		t.Abortf("cannot send: %v", err)
	}
	t.Sleep(t.cfg.quietPeriod())
	got := t.eq.Since(mark, func(ib Inbound) bool {
		return ib.Msg != nil && ib.Msg.GetHeader().GetMsgId() == id
	})
	t.Check(metric, text, len(got) == 0, "the EUT answered with %s", func() string {
		if len(got) == 0 {
			return ""
		}
		return responseKind(got[0].Msg)
	}())
}

func run2_1(t *T) {
	agent := t.eq.AgentID()
	unanswered(t, 1, agent, agent, "the EUT does not respond to the message", "from_id set to the EUT's own endpoint ID on purpose")
	t.Notef("the record is a NoSessionContext record (the plan shows session_context): the check is the from_id, which both carry")
}

func run2_2(t *T) {
	unanswered(t, 1, "proto::tp469-not-the-eut", t.eq.ControllerID(), "the EUT does not respond to the USP message",
		"to_id set to another endpoint on purpose")
	t.Notef("from_id is the test equipment's endpoint ID (the plan's '<EUT_ID>' would make this case 2.1's), so that only the to_id is wrong")
}

func run2_9(t *T) {
	t.NeedParam(trustObj + "UntrustedRole")
	t.NeedParam("Device.LocalAgent.Controller.{i}.AssignedRole")
	second := t.Secondary()
	if ex := second.Send(t.ctx, msg.Get{Paths: []string{agentEID}}); ex.Err != nil {
		t.Notef("the secondary controller's Get got no answer: %v", ex.Err)
	}
	ex := t.Send(msg.Get{Paths: []string{"Device.LocalAgent.Controller."}})
	r := Expect[*msg.GetResp](t, 0, ex)
	vals := r.Values()
	var inst string
	for p, v := range vals {
		if strings.HasSuffix(p, ".EndpointID") && v == second.ControllerID() {
			inst = strings.TrimSuffix(p, "EndpointID")
		}
	}
	if inst != "" {
		t.DeleteLater(inst)
	}
	untrusted := t.GetValues(trustObj + "UntrustedRole")[trustObj+"UntrustedRole"]
	c := t.Metric(1, "the secondary controller's AssignedRole matches Device.LocalAgent.ControllerTrust.UntrustedRole")
	if c.Expect(inst != "", "no Controller entry with EndpointID %s", second.ControllerID()) {
		c.Expect(untrusted != "", "UntrustedRole is empty")
		got := vals[inst+"AssignedRole"]
		c.Expect(sameRef(got, untrusted), "AssignedRole %q, UntrustedRole %q", got, untrusted)
	}
	c.End()
}

// sameRef compares two references, with or without their trailing dot.
func sameRef(a, b string) bool {
	return strings.TrimSuffix(a, ".") == strings.TrimSuffix(b, ".")
}

func run2_10(t *T) {
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{Objects: []msg.AddObject{{Path: roleObj, Params: []msg.Param{
		{Name: "Enable", Value: "true"}, {Name: "Name", Value: "Trusted"}}}}}))
	trackCreated(t, r)
	c := t.Metric(1, "the EUT sends an AddResp with a new Role instance")
	if c.Expect(len(r.Results) == 1, "%d CreatedObjectResults", len(r.Results)) {
		res := r.Results[0]
		if c.Expect(res.Err == nil, "oper_failure %v", res.Err) {
			c.Expect(strings.HasPrefix(res.Path, roleObj) && isInstance(strings.TrimPrefix(res.Path, roleObj)),
				"instantiated_path %q is not an instance of %s", res.Path, roleObj)
		}
	}
	c.End()
}

func isInstance(s string) bool {
	n, err := strconv.ParseUint(strings.TrimSuffix(s, "."), 10, 32)
	return err == nil && n > 0 && strings.HasSuffix(s, ".")
}

// ownRole returns the Role instance path ("...Role.1.") that gives the
// test equipment its rights: its AssignedRole, else its InheritedRole.
func ownRole(t *T) string {
	ctrl := t.Controller()
	t.NeedParam("Device.LocalAgent.Controller.{i}.AssignedRole")
	if role := roleOfController(t, ctrl); role != "" {
		return role + "."
	}
	t.Skipf("the test equipment's Controller entry %s has neither an AssignedRole nor an InheritedRole", ctrl)
	return ""
}

// nextOrder returns an Order above every Permission of role.
func nextOrder(t *T, role string) uint64 {
	var top uint64
	for p, v := range t.GetValues(role + "Permission.") {
		if strings.HasSuffix(p, ".Order") {
			if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > top {
				top = n
			}
		}
	}
	return top + 1
}

// perm is one Permission the plan adds: Targets and the rights it gives
// ("" leaves a right parameter out, as the plan does).
type perm struct {
	targets, param, obj, inst, cmd string
}

func (p perm) params(order uint64) []msg.Param {
	ps := []msg.Param{{Name: "Enable", Value: "true"}, {Name: "Targets", Value: p.targets}}
	for _, kv := range [][2]string{{"Param", p.param}, {"Obj", p.obj}, {"InstantiatedObj", p.inst}, {"CommandEvent", p.cmd}} {
		if kv[1] != "" {
			ps = append(ps, msg.Param{Name: kv[0], Value: kv[1]})
		}
	}
	return append(ps, msg.Param{Name: "Order", Value: strconv.FormatUint(order, 10)})
}

// addPerms adds Permissions to role in one Add (allow_partial false) and
// checks metric: one oper_success with a new Permission per object. Their
// Orders rise from above the role's highest. It returns their paths.
func addPerms(t *T, metric int, role string, perms ...perm) []string {
	order := nextOrder(t, role)
	req := msg.Add{}
	for i, p := range perms {
		req.Objects = append(req.Objects, msg.AddObject{Path: role + "Permission.", Params: p.params(order + uint64(i))})
	}
	t.Notef("the Permissions get Order %d and up (above the role's own), so that they decide", order)
	r := Expect[*msg.AddResp](t, metric, t.Send(req))
	trackCreated(t, r)
	c := t.Metric(metric, fmt.Sprintf("the AddResp has %d oper_success element(s), each with a new %sPermission. instance", len(perms), role))
	var out []string
	if c.Expect(len(r.Results) == len(perms), "%d CreatedObjectResults", len(r.Results)) {
		for _, res := range r.Results {
			if c.Expect(res.Err == nil, "oper_failure %v", res.Err) &&
				c.Expect(isInstance(strings.TrimPrefix(res.Path, role+"Permission.")), "instantiated_path %q", res.Path) {
				out = append(out, res.Path)
			}
		}
	}
	c.Must()
	return out
}

// liftFirst deletes the Permissions before the cleanup steps registered
// so far: what a case created under a restriction may need the restriction
// gone to be removed. Deleting them twice is harmless: a Delete of an
// instance that no longer exists succeeds.
func liftFirst(t *T, perms []string) {
	for _, p := range perms {
		t.DeleteLater(p)
	}
}

// expectDenied checks that the exchange was answered with an Error 7006.
func expectDenied(t *T, metric int, ex *Exchange) *msg.Error {
	text := "the EUT sends an Error with err_code 7006 (Permission Denied)"
	if ex.Err != nil {
		t.Require(metric, text, false, "%v", ex.Err)
	}
	e := ex.Response.GetBody().GetError()
	t.Check(metric, text, e != nil && e.GetErrCode() == uint32(msg.CodePermissionDenied), "got %s", responseKind(ex.Response))
	if e == nil {
		return nil
	}
	m, _ := msg.Parse(ex.Response)
	me, _ := m.(*msg.Error)
	return me
}

func run2_11(t *T) {
	role := ownRole(t)
	perms := addPerms(t, 1, role, perm{targets: subObj, obj: "rw--"})
	r := Expect[*msg.AddResp](t, 2, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj}}}))
	trackCreated(t, r)
	liftFirst(t, perms)
	c := t.Metric(2, "the AddResp has an oper_success with a new "+subObj+" instance")
	if c.Expect(len(r.Results) == 1, "%d CreatedObjectResults", len(r.Results)) {
		res := r.Results[0]
		if c.Expect(res.Err == nil, "oper_failure %v", res.Err) {
			c.Expect(isInstance(strings.TrimPrefix(res.Path, subObj)), "instantiated_path %q", res.Path)
		}
	}
	c.End()
}

func run2_12(t *T) {
	role := ownRole(t)
	addPerms(t, 1, role, perm{targets: subObj, obj: "r---"})
	ex := t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj}}})
	if r, err := msg.ParseAddResp(ex.Response); err == nil {
		trackCreated(t, r)
	}
	expectDenied(t, 2, ex)
}

func deletion(allowed bool) func(*T) {
	return func(t *T) {
		role := ownRole(t)
		sub := subscription(t, "tp469-"+strings.ReplaceAll(t.c.ID, ".", "-"), nil)
		rights := "r---"
		if allowed {
			rights = "rw--"
		}
		addPerms(t, 1, role, perm{targets: subObj, inst: rights})
		ex := t.Send(msg.Delete{Paths: []string{sub}})
		if !allowed {
			expectDenied(t, 2, ex)
			t.Check(0, "the Subscription still exists", slices.Contains(t.Instances(subObj), sub), "%s was deleted", sub)
			return
		}
		r := Expect[*msg.DeleteResp](t, 2, ex)
		c := t.Metric(2, "the DeleteResp has an oper_success listing "+sub)
		if c.Expect(len(r.Results) == 1, "%d DeletedObjectResults", len(r.Results)) {
			res := r.Results[0]
			if c.Expect(res.Err == nil, "oper_failure %v", res.Err) {
				c.Expect(slices.Contains(res.Affected, sub), "affected_paths %v", res.Affected)
			}
		}
		c.End()
	}
}

func update(allowed bool) func(*T) {
	return func(t *T) {
		role := ownRole(t)
		sub := subscription(t, "tp469-"+strings.ReplaceAll(t.c.ID, ".", "-"), map[string]string{"Enable": "false"})
		param := "r---"
		if allowed {
			param = "rw--"
		}
		addPerms(t, 1, role, perm{targets: sub, param: param, obj: "rwxn", inst: "rwxn", cmd: "rwxn"})
		ex := t.Send(msg.Set{Objects: []msg.SetObject{{Path: sub, Params: []msg.Param{{Name: "Enable", Value: "true", Required: true}}}}})
		if !allowed {
			expectDenied(t, 2, ex)
			return
		}
		r := Expect[*msg.SetResp](t, 2, ex)
		c := t.Metric(2, "the SetResp has an oper_success with "+sub+"Enable")
		if c.Expect(len(r.Results) == 1, "%d UpdatedObjectResults", len(r.Results)) {
			res := r.Results[0]
			if c.Expect(res.Err == nil && len(res.Updated) == 1, "oper_failure %v", res.Err) {
				u := res.Updated[0]
				_, ok := u.Params["Enable"]
				c.Expect(u.Path == sub && ok, "updated %s with %v", u.Path, slices.Collect(maps.Keys(u.Params)))
			}
		}
		c.End()
	}
}

func run2_17(t *T) {
	role := ownRole(t)
	addPerms(t, 1, role, perm{targets: "Device.Reboot()", param: "rwxn", obj: "rwxn", inst: "rwxn", cmd: "r-x-"})
	mark := t.Mark()
	r := Expect[*msg.OperateResp](t, 2, t.Send(msg.Operate{Command: "Device.Reboot()", SendResp: true}))
	c := t.Metric(2, "the OperateResp has a req_output_args element")
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		c.Expect(r.Results[0].Outcome() == msg.OutcomeSync, "the result is %v, not req_output_args", r.Results[0].Outcome())
	}
	c.End()
	awaitReboot(t, mark, 0) // so that the cleanup finds the agent back
}

func run2_18(t *T) {
	role := ownRole(t)
	addPerms(t, 1, role, perm{targets: "Device.Reboot()", param: "rwxn", obj: "rwxn", inst: "rwxn", cmd: "r---"})
	ex := t.Send(msg.Operate{Command: "Device.Reboot()", SendResp: true})
	text := "the EUT sends an OperateResp with a cmd_failure with an appropriate error code"
	if ex.Err != nil {
		t.Require(2, text, false, "%v", ex.Err)
	}
	if e := ex.Response.GetBody().GetError(); e != nil {
		// The plan lets an agent of USP 1.3 or earlier answer with an
		// Error instead, whatever its code; USP 1.4 wants cmd_failure.
		v := t.responseVersion(ex.Response.GetHeader().GetMsgId())
		t.Notef("the EUT answered with an Error %d (%s) in a USP %s record", e.GetErrCode(), e.GetErrMsg(), v)
		t.Check(2, text+" (an Error is accepted from a USP 1.3 agent)", v != "" && order(v, "1.4") < 0,
			"an Error %d in a USP %q record: USP 1.4 agents report a refused command as cmd_failure", e.GetErrCode(), v)
		return
	}
	r := Expect[*msg.OperateResp](t, 2, ex)
	c := t.Metric(2, text)
	if c.Expect(len(r.Results) == 1, "%d operation_results", len(r.Results)) {
		res := r.Results[0]
		if c.Expect(res.Outcome() == msg.OutcomeFailed, "the result is %v, not cmd_failure", res.Outcome()) {
			c.Expect(res.Err.Code >= 7000 && res.Err.Code < 8000, "err_code %d is not a USP error code", res.Err.Code)
			if res.Err.Code != msg.CodePermissionDenied {
				t.Notef("err_code %d, not 7006 (Permission Denied)", res.Err.Code)
			}
		}
	}
	c.End()
}

// responseVersion returns the USP version of the record that brought the
// agent's message with msgID, as the case's trace has it.
func (t *T) responseVersion(msgID string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, te := range t.res.Trace {
		if te.Dir == Received && te.MsgID == msgID {
			return te.Version
		}
	}
	return ""
}

func valueChangeACL(allowed bool) func(*T) {
	return func(t *T) {
		ctrl := t.Controller()
		t.NeedParam("Device.LocalAgent.Controller.{i}.PeriodicNotifInterval")
		pni := ctrl + "PeriodicNotifInterval"
		role := ownRole(t)
		param := "rw--"
		if allowed {
			param = "rw-n"
		}
		addPerms(t, 1, role, perm{targets: pni, param: param, obj: "rwxn", inst: "rwxn", cmd: "rwxn"})
		id := "tp469-" + strings.ReplaceAll(t.c.ID, ".", "-")
		r := Expect[*msg.AddResp](t, 2, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: subParams(id, "ValueChange", pni, false)}}}))
		trackCreated(t, r)
		t.Require(2, "the AddResp has an oper_success with a new Subscription", len(r.Results) == 1 && r.Results[0].Err == nil, "AddResp: %v", r.Err())
		old := t.GetValues(pni)[pni]
		value := "86401"
		if old == value {
			value = "86402"
		}
		t.SetLater(map[string]string{pni: old})
		mark := t.Mark()
		obj, name := splitLeaf(pni)
		s := Expect[*msg.SetResp](t, 3, t.Send(msg.Set{Objects: []msg.SetObject{{Path: obj, Params: []msg.Param{{Name: name, Value: value, Required: true}}}}}))
		c := t.Metric(3, "the SetResp has an oper_success with "+pni)
		if c.Expect(len(s.Results) == 1 && s.Results[0].Err == nil && len(s.Results[0].Updated) == 1, "SetResp: %v", s.Err()) {
			_, ok := s.Results[0].Updated[0].Params[name]
			c.Expect(ok, "the updated parameters do not include %s", name)
		}
		c.End()
		isVC := func(n *msg.Notify) bool {
			vc, ok := n.Notification.(*msg.ValueChange)
			return ok && vc.ParamPath == pni
		}
		if allowed {
			_, n, ok := t.AwaitNotify(mark, t.cfg.notifyTimeout(), isVC)
			c := t.Metric(4, "the EUT sends a Notify with a value_change of "+pni)
			if c.Expect(ok, "no Notify within %v", t.cfg.notifyTimeout()) {
				expectValueChange(c, n, id, pni, value)
			}
			c.End()
			return
		}
		t.Sleep(30 * time.Second)
		got := t.Notifies(mark, isVC)
		t.Check(4, "the EUT sends no Notify with a value_change of "+pni+" within 30 s", len(got) == 0, "%d Notify messages", len(got))
	}
}

// resolvedParams returns the parameters a GetResp gives for one object
// instance, and whether it has a resolved_path_result for it.
func resolvedParams(r *msg.GetResp, inst string) (map[string]string, bool) {
	for _, res := range r.Results {
		for _, rs := range res.Resolved {
			if rs.Path == inst {
				return rs.Params, true
			}
		}
	}
	return nil, false
}

func run2_21(t *T) {
	t.NeedParam(bootParamObj + "ParameterName")
	ctrl := t.Controller()
	role := ownRole(t)
	bp := bootParameter(t, ctrl, swVer, "false")
	deny := perm{targets: bp, param: "----", obj: "rwxn", inst: "rwxn", cmd: "rwxn"}
	allow := deny
	allow.param = "rw--"
	perms := addPerms(t, 1, role, deny, allow)
	get := func() *msg.GetResp {
		return Expect[*msg.GetResp](t, 0, t.Send(msg.Get{Paths: []string{ctrl + "BootParameter."}}))
	}
	params, _ := resolvedParams(get(), bp)
	t.Check(2, "the GetResp has result_params of "+bp, len(params) > 0, "no parameters of %s", bp)
	perms = append(perms, addPerms(t, 3, role, deny)...)
	liftFirst(t, perms)
	params, found := resolvedParams(get(), bp)
	t.Check(4, "the GetResp does not contain "+bp, len(params) == 0, "it has %v", slices.Sorted(maps.Keys(params)))
	if found {
		t.Notef("the GetResp has a resolved_path_result for %s with no parameters", bp)
	}
}

func run2_22(t *T) {
	t.NeedParam(bootParamObj + "ParameterName")
	ctrl := t.Controller()
	role := ownRole(t)
	bp := bootParameter(t, ctrl, swVer, "false")
	perms := addPerms(t, 1, role,
		perm{targets: bp, param: "rw--", obj: "rwxn", inst: "rwxn", cmd: "rwxn"},
		perm{targets: bp + "ParameterName", param: "----", obj: "rwxn", inst: "rwxn", cmd: "rwxn"})
	liftFirst(t, perms)
	r := Expect[*msg.GetResp](t, 0, t.Send(msg.Get{Paths: []string{bp}}))
	params, _ := resolvedParams(r, bp)
	c := t.Metric(2, "the GetResp has the parameters of "+bp+" except ParameterName")
	c.Expect(len(params) > 0, "no parameters of %s", bp)
	_, leaked := params["ParameterName"]
	c.Expect(!leaked, "ParameterName is in the result")
	c.End()
}

// bootParamCount counts the BootParameter instances of every controller.
func bootParamCount(t *T) int {
	n := 0
	for p := range t.GetValues("Device.LocalAgent.Controller.*.BootParameter.") {
		if strings.HasSuffix(p, ".ParameterName") {
			n++
		}
	}
	return n
}

func searchAdd(partial bool) func(*T) {
	return func(t *T) {
		t.NeedParam(bootParamObj + "ParameterName")
		ctrl := t.Controller()
		role := ownRole(t)
		other, _ := t.Create("Device.LocalAgent.Controller.", map[string]string{"EndpointID": "proto::tp469-other-" + strings.ReplaceAll(t.c.ID, ".", "-")})
		t.Notef("the second Controller instance %s was created for the case", other)
		perms := addPerms(t, 1, role,
			perm{targets: ctrl + "BootParameter.", param: "rw--", obj: "rwxn", inst: "rwxn", cmd: "rwxn"},
			perm{targets: other + "BootParameter.", param: "r---", obj: "rwxn", inst: "rwxn", cmd: "rwxn"})
		before := bootParamCount(t)
		t.Notef("the Add's obj_path ends in a dot (Device.LocalAgent.Controller.*.BootParameter.), as an object path must")
		ex := t.Send(msg.Add{AllowPartial: partial, Objects: []msg.AddObject{{Path: "Device.LocalAgent.Controller.*.BootParameter.",
			Params: []msg.Param{{Name: "Enable", Value: "false", Required: true}}}}})
		if r, err := msg.ParseAddResp(ex.Response); err == nil {
			trackCreated(t, r)
		}
		liftFirst(t, perms)
		if !partial {
			e := expectDenied(t, 2, ex)
			c := t.Metric(2, "the Error has a single param_errs entry for "+other+"BootParameter with err_code 7006")
			if c.Expect(e != nil && len(e.ParamErrs) == 1, "param_errs %v", e) {
				pe := e.ParamErrs[0]
				c.Expect(strings.HasPrefix(pe.Path, strings.TrimSuffix(other+"BootParameter", ".")), "param_path %q", pe.Path)
				c.Expect(pe.Code == msg.CodePermissionDenied, "err_code %d", pe.Code)
			}
			c.End()
			after := bootParamCount(t)
			t.Check(3, "the EUT created no BootParameter object", after == before, "%d BootParameter instances before, %d after", before, after)
			return
		}
		r := Expect[*msg.AddResp](t, 0, ex)
		var mine, denied []msg.AddResult
		for _, res := range r.Results {
			switch {
			case res.Err == nil && strings.HasPrefix(res.Path, ctrl+"BootParameter."):
				mine = append(mine, res)
			case res.Err != nil && res.Err.Code == msg.CodePermissionDenied:
				denied = append(denied, res)
			}
		}
		t.Check(2, "the AddResp has an OperationSuccess whose instantiated_path is a new BootParameter of "+ctrl, len(mine) == 1,
			"%d CreatedObjectResults: %d such successes", len(r.Results), len(mine))
		t.Check(3, "the other CreatedObjectResult is an OperationFailure with err_code 7006", len(denied) == 1 && len(r.Results) == 2,
			"%d CreatedObjectResults, %d failing with 7006", len(r.Results), len(denied))
	}
}

func run2_25(t *T) {
	role := ownRole(t)
	perms := addPerms(t, 1, role, perm{targets: "Device.LocalAgent.Subscription.*.Enable", param: "r---", obj: "rwxn", inst: "rwxn", cmd: "rwxn"})
	r := Expect[*msg.AddResp](t, 2, t.Send(msg.Add{Objects: []msg.AddObject{{Path: subObj, Params: []msg.Param{
		{Name: "ID", Value: "add1"}, {Name: "NotifType", Value: "ValueChange"}, {Name: "ReferenceList", Value: swVer, Required: true}}}}}))
	trackCreated(t, r)
	liftFirst(t, perms)
	c := t.Metric(2, "the AddResp has an oper_success with a new Subscription")
	c.Expect(len(r.Results) == 1 && r.Results[0].Err == nil, "AddResp: %v", r.Err())
	c.Must()
	en := r.Results[0].Path + "Enable"
	v := Expect[*msg.GetResp](t, 0, t.Send(msg.Get{Paths: []string{en}})).Values()
	got, ok := v[en]
	t.Check(3, "the GetResp gives Enable \"false\" for the new Subscription", ok && got == "false", "Enable %q (present %v)", got, ok)
}

func run2_26(t *T) {
	role := ownRole(t)
	perms := addPerms(t, 1, role, perm{targets: "Device.LocalAgent.Subscription.*.Enable", param: "r---", obj: "rwxn", inst: "rwxn", cmd: "rwxn"})
	r := Expect[*msg.AddResp](t, 0, t.Send(msg.Add{AllowPartial: true, Objects: []msg.AddObject{{Path: subObj, Params: []msg.Param{
		{Name: "ID", Value: "add26"}, {Name: "NotifType", Value: "ValueChange"}, {Name: "ReferenceList", Value: swVer, Required: true},
		{Name: "Enable", Value: "true", Required: true}}}}}))
	trackCreated(t, r)
	liftFirst(t, perms)
	c := t.Metric(2, "the AddResp has a single CreatedObjectResult, an OperationFailure with err_code 7006")
	if c.Expect(len(r.Results) == 1, "%d CreatedObjectResults", len(r.Results)) {
		res := r.Results[0]
		if c.Expect(res.Err != nil, "the Subscription was created: %s", res.Path) {
			c.Expect(res.Err.Code == msg.CodePermissionDenied, "err_code %d", res.Err.Code)
		}
	}
	c.End()
	vals := Expect[*msg.GetResp](t, 0, t.Send(msg.Get{Paths: []string{subObj}})).Values()
	var found []string
	for p, v := range vals {
		if strings.HasSuffix(p, ".ID") && v == "add26" {
			found = append(found, strings.TrimSuffix(p, "ID"))
		}
	}
	t.Check(3, "the GetResp has no Subscription with ID add26", len(found) == 0, "found %v", found)
}
