package usptest

import (
	"slices"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

func TestTargetCovers(t *testing.T) {
	for _, tc := range []struct {
		target, path string
		want         bool
	}{
		{"Device.", "Device.WiFi.SSID.1.SSID", true},
		{"Device.WiFi.SSID.", "Device.WiFi.SSID.", true},
		{"Device.WiFi.SSID.", "Device.WiFi.SSID.3.Enable", true},
		{"Device.WiFi.SSID.", "Device.WiFi.SSIDNumberOfEntries", false},
		{"Device.WiFi.SSID.*.SSID", "Device.WiFi.SSID.3.SSID", true},
		{"Device.WiFi.SSID.*.SSID", "Device.WiFi.SSID.3.Enable", false},
		{"Device.WiFi.SSID.*.SSID", "Device.WiFi.SSID.3.", false},
		{"Device.WiFi.SSID.2.", "Device.WiFi.SSID.3.SSID", false},
		{"Device.WiFi.SSID.2.", "Device.WiFi.SSID.", false},
		{"Device.WiFi.SSID.*.", "Device.WiFi.SSID.alias.SSID", false},
		{"Device.Reboot()", "Device.Reboot()", true},
		{"Device.Reboot()", "Device.FactoryReset()", false},
		{"Device.LocalAgent.Subscription.*.Enable", "Device.LocalAgent.Subscription.{i}.Enable", true},
	} {
		if got := targetCovers(tc.target, tc.path); got != tc.want {
			t.Errorf("targetCovers(%q, %q) = %v, want %v", tc.target, tc.path, got, tc.want)
		}
	}
}

func TestACLOrderAndUnion(t *testing.T) {
	all := [4]string{"rwxn", "rwxn", "rwxn", "rwxn"}
	none := [4]string{"----", "----", "----", "----"}
	l := &acl{roles: [][]permission{{
		{order: 1, targets: []string{"Device."}, rights: all},
		{order: 5, targets: []string{"Device.WiFi."}, rights: none},
		{order: 3, targets: []string{"Device.WiFi.SSID.1."}, rights: all}, // lower than 5: loses
	}}}
	if !l.allows(permParam, rightRead, "Device.DeviceInfo.SerialNumber") {
		t.Error("Device. rwxn does not allow reading")
	}
	if l.allows(permParam, rightRead, "Device.WiFi.SSID.1.SSID") {
		t.Error("the highest Order (----) does not decide")
	}
	// A second role granting the right: the union wins.
	l.roles = append(l.roles, []permission{{order: 0, targets: []string{"Device.WiFi.SSID.*.SSID"}, rights: [4]string{"r---", "----", "----", "----"}}})
	if !l.allows(permParam, rightRead, "Device.WiFi.SSID.1.SSID") || l.allows(permParam, rightWrite, "Device.WiFi.SSID.1.SSID") {
		t.Error("the second role's r--- is not added to the first's ----")
	}
	if (&acl{}).allows(permParam, rightRead, "Device.DeviceInfo.SerialNumber") {
		t.Error("a controller without roles may read")
	}
	var off *acl
	if !off.allows(permCmd, rightExec, "Device.Reboot()") {
		t.Error("access control off denies")
	}
}

// restrict adds a Permission to the full access role.
func restrict(t *testing.T, a *Agent, order, target, param, obj, inst, cmd string) {
	t.Helper()
	if _, err := a.Model().AddInstance(fullAccessRole+".Permission.", map[string]string{"Enable": "true", "Order": order,
		"Targets": target, "Param": param, "Obj": obj, "InstantiatedObj": inst, "CommandEvent": cmd}); err != nil {
		t.Fatal(err)
	}
}

func errorOf(m *uspmsg.Msg) (uint32, []string) {
	e := m.GetBody().GetError()
	if e == nil {
		return 0, nil
	}
	var pe []string
	for _, p := range e.GetParamErrs() {
		pe = append(pe, p.GetParamPath())
	}
	return uint32(e.GetErrCode()), pe
}

func TestAccessControlEnforced(t *testing.T) {
	a, c := newTestAgent(t, WithAccessControl())
	m := a.Model()
	if v, _ := m.Get("Device.LocalAgent.Controller.1.InheritedRole"); v != fullAccessRole {
		t.Fatalf("InheritedRole %q, want %q", v, fullAccessRole)
	}
	if v, _ := m.Get("Device.LocalAgent.ControllerTrust.UntrustedRole"); v != untrustedRole {
		t.Fatalf("UntrustedRole %q", v)
	}
	// Full access: a Set works.
	if r := c.do(msg.SetParams("Device.WiFi.SSID.1.", map[string]string{"SSID": "full"})); r.GetBody().GetError() != nil {
		t.Fatalf("Set with full access: %v", r)
	}

	restrict(t, a, "2", "Device.WiFi.SSID.", "r---", "r---", "r---", "r---")
	set := msg.Set{Objects: []msg.SetObject{{Path: "Device.WiFi.SSID.1.", Params: []msg.Param{{Name: "SSID", Value: "x", Required: true}}}}}
	if code, pe := errorOf(c.do(set)); code != 7006 || !slices.Equal(pe, []string{"Device.WiFi.SSID.1.SSID"}) {
		t.Errorf("Set without w: error %d %v, want 7006 naming the parameter", code, pe)
	}
	if v, _ := m.Get("Device.WiFi.SSID.1.SSID"); v != "full" {
		t.Errorf("the refused Set changed SSID to %q", v)
	}
	if code, pe := errorOf(c.do(msg.Add{Objects: []msg.AddObject{{Path: "Device.WiFi.SSID."}}})); code != 7006 || len(pe) != 1 {
		t.Errorf("Add without Obj w: error %d %v, want 7006", code, pe)
	}
	if code, _ := errorOf(c.do(msg.Delete{Paths: []string{"Device.WiFi.SSID.1."}})); code != 7006 {
		t.Errorf("Delete without InstantiatedObj w: error %d, want 7006", code)
	}
	if ins, _ := m.Instances("Device.WiFi.SSID."); len(ins) == 0 {
		t.Error("the refused Delete deleted")
	}
	// Reading is still allowed; then one parameter is hidden.
	if got := resolvedPaths(c.do(msg.Get{Paths: []string{"Device.WiFi.SSID.1.SSID"}})); len(got) != 1 || !slices.Equal(got[0], []string{"Device.WiFi.SSID.1.SSID"}) {
		t.Errorf("Get with r: %v", got)
	}
	restrict(t, a, "3", "Device.WiFi.SSID.*.SSID", "----", "----", "----", "----")
	got := resolvedPaths(c.do(msg.Get{Paths: []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID"}}))
	if len(got) != 2 || slices.Contains(got[0], "Device.WiFi.SSID.1.SSID") || !slices.Contains(got[0], "Device.WiFi.SSID.1.Enable") {
		t.Errorf("Get of the object: %v, want every parameter but SSID", got)
	} else if !slices.Equal(got[1], []string{"ERR 7006"}) {
		t.Errorf("Get of the hidden parameter: %v, want 7006", got[1])
	}
	// GetInstances hides instances without InstantiatedObj r.
	restrict(t, a, "4", "Device.WiFi.SSID.2.", "----", "----", "----", "----")
	gi := c.do(msg.GetInstances{Paths: []string{"Device.WiFi.SSID."}, FirstLevelOnly: true})
	for _, r := range gi.GetBody().GetResponse().GetGetInstancesResp().GetReqPathResults() {
		for _, in := range r.GetCurrInsts() {
			if in.GetInstantiatedObjPath() == "Device.WiFi.SSID.2." {
				t.Error("GetInstances shows an instance without InstantiatedObj r")
			}
		}
	}

	// Operate without x: a cmd_failure 7006, and the command does not run.
	restrict(t, a, "5", "Device.Reboot()", "rwxn", "rwxn", "rwxn", "r---")
	op := c.do(msg.Operate{Command: "Device.Reboot()", SendResp: true})
	res := op.GetBody().GetResponse().GetOperateResp().GetOperationResults()
	if len(res) != 1 || res[0].GetCmdFailure().GetErrCode() != 7006 {
		t.Errorf("Operate without x: %v", op)
	}

	// A disabled role grants nothing.
	if err := m.Set(fullAccessRole+".Enable", "false"); err != nil {
		t.Fatal(err)
	}
	if got := resolvedPaths(c.do(msg.Get{Paths: []string{"Device.DeviceInfo."}})); len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("Get with the role disabled: %v", got)
	}
}

func TestAccessControlAdd(t *testing.T) {
	a, c := newTestAgent(t, WithAccessControl())
	restrict(t, a, "2", "Device.LocalAgent.Subscription.*.Enable", "r---", "rwxn", "rwxn", "rwxn")
	add := func(partial bool, enable bool) *uspmsg.Msg {
		params := []msg.Param{{Name: "ID", Value: "acl"}, {Name: "ReferenceList", Value: "Device.LocalAgent.SoftwareVersion", Required: true}}
		if enable {
			params = append(params, msg.Param{Name: "Enable", Value: "true", Required: true})
		}
		return c.do(msg.Add{AllowPartial: partial, Objects: []msg.AddObject{{Path: "Device.LocalAgent.Subscription.", Params: params}}})
	}
	// The refused parameter left out: created, with its default.
	r := add(false, false)
	created := r.GetBody().GetResponse().GetAddResp().GetCreatedObjResults()
	if len(created) != 1 || created[0].GetOperStatus().GetOperSuccess() == nil {
		t.Fatalf("Add without the refused parameter: %v", r)
	}
	path := created[0].GetOperStatus().GetOperSuccess().GetInstantiatedPath()
	if v, _ := a.Model().Get(path + "Enable"); v != "false" {
		t.Errorf("Enable %q", v)
	}
	if err := a.Model().DeleteInstance(path); err != nil {
		t.Fatal(err)
	}
	// Included and required: the object fails with 7006.
	r = add(true, true)
	created = r.GetBody().GetResponse().GetAddResp().GetCreatedObjResults()
	if len(created) != 1 || created[0].GetOperStatus().GetOperFailure().GetErrCode() != 7006 {
		t.Errorf("Add with the refused parameter: %v", r)
	}
	if ins, _ := a.Model().Instances("Device.LocalAgent.Subscription."); len(ins) != 1 { // the Boot! subscription
		t.Errorf("subscriptions %v", ins)
	}
}

func TestAccessControlNotify(t *testing.T) {
	a, c := newTestAgent(t, WithAccessControl())
	const pc = "Device.DeviceInfo.ProvisioningCode"
	restrict(t, a, "2", pc, "rw--", "rwxn", "rwxn", "rwxn")
	r := c.do(msg.Add{Objects: []msg.AddObject{{Path: "Device.LocalAgent.Subscription.", Params: msg.Params(map[string]string{
		"ID": "vc", "Enable": "true", "NotifType": "ValueChange", "ReferenceList": pc})}}})
	if r.GetBody().GetError() != nil {
		t.Fatal(r)
	}
	vc := func(rec *usprecord.Record) bool {
		n := payloadMsg(rec).GetBody().GetRequest().GetNotify()
		return n.GetSubscriptionId() == "vc" && n.GetValueChange() != nil
	}
	if err := a.Model().Set(pc, "one"); err != nil {
		t.Fatal(err)
	}
	c.quiet(300*time.Millisecond, vc)
	// Allow notify on the parameter: the next change is told.
	restrict(t, a, "3", pc, "rw-n", "rwxn", "rwxn", "rwxn")
	if err := a.Model().Set(pc, "two"); err != nil {
		t.Fatal(err)
	}
	if c.take(5*time.Second, vc) == nil {
		t.Error("no ValueChange with Param n")
	}
}

func TestUntrustedController(t *testing.T) {
	a, _ := newTestAgent(t, WithAccessControl())
	m := a.Model()
	m.lock()
	o := m.addController("proto::stranger", mtp.Address{MTP: mtp.Memory, To: "proto::stranger"})
	m.untrust(o)
	l := m.aclFor("proto::stranger")
	m.unlock()
	if o.val("AssignedRole") != untrustedRole {
		t.Errorf("AssignedRole %q", o.val("AssignedRole"))
	}
	if !l.allows(permParam, rightRead, "Device.DeviceInfo.SerialNumber") || l.allows(permParam, rightWrite, "Device.DeviceInfo.ProvisioningCode") ||
		l.allows(permParam, rightRead, "Device.LocalAgent.EndpointID") {
		t.Error("the untrusted role is not read-only access to Device.DeviceInfo.")
	}
}

func TestAccessControlOff(t *testing.T) {
	a, c := newTestAgent(t)
	if got := resolvedPaths(c.do(msg.Get{Paths: []string{"Device.LocalAgent.ControllerTrust."}})); len(got) != 1 || !slices.Equal(got[0], []string{"ERR 7026"}) {
		t.Errorf("ControllerTrust without WithAccessControl: %v", got)
	}
	a.Model().mu.RLock()
	defer a.Model().mu.RUnlock()
	if a.Model().aclFor(ctrlID) != nil {
		t.Error("an acl without WithAccessControl")
	}
}

// TestIgnoresOwnEndpointID: a record whose from_id is the agent's own
// endpoint ID is not answered, and adds no Controller entry (TP-469 2.1).
func TestIgnoresOwnEndpointID(t *testing.T) {
	a, c := newTestAgent(t)
	m := msg.Get{Paths: []string{"Device.LocalAgent.EndpointID"}}.Build("own-1")
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c.sendRecord(record.NewNoSessionContext("1.3", agentID, agentID, payload))
	c.quiet(300*time.Millisecond, msgWithID("own-1"))
	if ins, _ := a.Model().Instances("Device.LocalAgent.Controller."); len(ins) != 1 {
		t.Errorf("controllers %v", ins)
	}
}

// TestSecuredParameter: Users.User.1.Password reads as an empty string
// until one of the controller's roles is in ControllerTrust.SecuredRoles,
// and as it is without access control.
func TestSecuredParameter(t *testing.T) {
	a, c := newTestAgent(t, WithAccessControl())
	read := func() (string, bool) {
		r, err := msg.ParseGetResp(c.do(msg.Get{Paths: []string{adminUser}}))
		if err != nil {
			t.Fatal(err)
		}
		v, ok := r.Values()[adminUser+"Password"]
		return v, ok
	}
	if v, ok := read(); !ok || v != "" {
		t.Errorf("Password outside SecuredRoles: %q (present %v), want an empty string", v, ok)
	}
	if v, _ := a.Model().Get(adminUser + "Password"); v != adminPassword {
		t.Fatalf("the model's Password %q", v)
	}
	if r := c.do(msg.SetParams("Device.LocalAgent.ControllerTrust.", map[string]string{"SecuredRoles": untrustedRole + "," + fullAccessRole + "."})); r.GetBody().GetError() != nil {
		t.Fatalf("Set SecuredRoles: %v", r)
	}
	if v, _ := read(); v != adminPassword {
		t.Errorf("Password with a secured role: %q, want %q", v, adminPassword)
	}
	b, c2 := newTestAgent(t)
	if err := b.Model().Define("Device.WiFi.\n  Key  string rw secured = k\n"); err != nil {
		t.Fatal(err)
	}
	r, err := msg.ParseGetResp(c2.do(msg.Get{Paths: []string{"Device.WiFi.Key"}}))
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Values()["Device.WiFi.Key"]; v != "k" {
		t.Errorf("a secured parameter without access control: %q, want it as it is", v)
	}
}

// TestSecuredValueChange: a ValueChange of a secured parameter reads as
// empty to a subscriber without a secured role, as a Get does, and as
// the value once one of its roles is in SecuredRoles.
func TestSecuredValueChange(t *testing.T) {
	a, c := newTestAgent(t, WithAccessControl())
	const pw = adminUser + "Password"
	r := c.do(msg.Add{Objects: []msg.AddObject{{Path: "Device.LocalAgent.Subscription.", Params: msg.Params(map[string]string{
		"ID": "pw", "Enable": "true", "NotifType": "ValueChange", "ReferenceList": pw})}}})
	if r.GetBody().GetError() != nil {
		t.Fatal(r)
	}
	changed := func(rec *usprecord.Record) bool {
		n := payloadMsg(rec).GetBody().GetRequest().GetNotify()
		return n.GetSubscriptionId() == "pw" && n.GetValueChange() != nil
	}
	for _, step := range []struct {
		secured bool
		value   string
	}{{false, "first-secret"}, {true, "second-secret"}} {
		if step.secured {
			if r := c.do(msg.SetParams("Device.LocalAgent.ControllerTrust.", map[string]string{"SecuredRoles": fullAccessRole})); r.GetBody().GetError() != nil {
				t.Fatalf("Set SecuredRoles: %v", r)
			}
		}
		if err := a.Model().Set(pw, step.value); err != nil {
			t.Fatal(err)
		}
		rec := c.take(5*time.Second, changed)
		if rec == nil {
			t.Fatalf("no ValueChange of %s (secured role %v)", pw, step.secured)
		}
		vc := payloadMsg(rec).GetBody().GetRequest().GetNotify().GetValueChange()
		want := ""
		if step.secured {
			want = step.value
		}
		if vc.GetParamPath() != pw || vc.GetParamValue() != want {
			t.Errorf("secured role %v: ValueChange %s = %q, want %q", step.secured, vc.GetParamPath(), vc.GetParamValue(), want)
		}
	}
}
