package conformance

import (
	"strings"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// 2.27: a parameter with TR-181's secured attribute reads as an empty
// string for a controller none of whose roles is listed in
// Device.LocalAgent.ControllerTrust.SecuredRoles, and as it is once one is.
//
// GetSupportedDM carries no secured attribute (a supported parameter has
// only its name, access, type and value change), so the kit cannot find
// such a parameter on its own: the operator names one with
// Config.SecuredParameter. The secondary controller gets a Role of the
// kit's that may read it (a new Role with one Permission, added to its
// AssignedRole), so that an empty value can only come from the secured
// attribute, not from a missing read permission; the kit then adds that
// Role to SecuredRoles, and puts everything back afterwards.

func run2_27(t *T) {
	param := t.cfg.SecuredParameter
	if param == "" {
		t.NeedsOperatorf("needs a parameter with the secured attribute and a value, named by secured_parameter in the configuration: GetSupportedDM does not carry TR-181's secured attribute, so the kit cannot find one in the supported data model")
	}
	if p, err := datamodel.Parse(param); err != nil || p.Kind() != datamodel.KindParam || strings.ContainsAny(param, "*[{") {
		t.Skipf("secured_parameter %q is not the path of one parameter instance", param)
	}
	t.NeedParam(trustObj + "SecuredRoles")
	t.NeedParam("Device.LocalAgent.Controller.{i}.AssignedRole")
	second := t.Secondary()
	ctrl := secondaryEntry(t, second)

	role, _ := t.Create(roleObj, map[string]string{"Enable": "true", "Name": "tp469-2.27-" + strings.ReplaceAll(t.eq.ControllerID(), ":", "-")})
	t.Create(role+"Permission.", map[string]string{"Enable": "true", "Order": "1", "Targets": param, "Param": "r---"})
	ref := strings.TrimSuffix(role, ".")
	assigned := t.GetValues(ctrl + "AssignedRole")[ctrl+"AssignedRole"]
	t.SetValues(map[string]string{ctrl + "AssignedRole": withRef(assigned, ref)})
	secured := t.GetValues(trustObj + "SecuredRoles")[trustObj+"SecuredRoles"]
	t.Notef("the secondary controller %s (%s) gets the Role %s, which may read %s and is not in SecuredRoles %q",
		second.ControllerID(), ctrl, ref, param, secured)

	read := func(metric int) (string, bool, error) {
		r := Expect[*msg.GetResp](t, metric, second.Send(t.ctx, msg.Get{Paths: []string{param}}))
		v, ok := r.Values()[param]
		return v, ok, r.Err()
	}
	c := t.Metric(1, "the GetResp has an empty string in place of the secured parameter's value while the Controller's Role is not in SecuredRoles")
	v, ok, err := read(1)
	if c.Expect(ok, "the GetResp has no %s (%v)", param, err) {
		c.Expect(v == "", "the secondary controller, whose Role is not in SecuredRoles, read %s = %q", param, v)
	}
	c.End()

	t.SetLater(map[string]string{trustObj + "SecuredRoles": secured})
	set := msg.Set{Objects: []msg.SetObject{{Path: trustObj, Params: []msg.Param{{Name: "SecuredRoles", Value: withRef(secured, ref), Required: true}}}}}
	if err := Expect[*msg.SetResp](t, 2, t.Send(set)).Err(); err != nil {
		t.Require(2, "the EUT accepts the Set of SecuredRoles", false, "%v", err)
	}
	t.Notef("the kit adds the Role to SecuredRoles rather than replacing the list, so that roles already there keep their access")

	v, ok, err = read(2)
	if ok && v == "" {
		t.Skipf("%s reads as an empty string also with the Role in SecuredRoles: either its value is empty or the EUT withholds it; name a secured parameter that has a value", param)
	}
	c = t.Metric(2, "the GetResp has the secured parameter's value once the Controller's Role is in SecuredRoles")
	c.Expect(ok, "the GetResp has no %s (%v)", param, err)
	c.End()
}

// secondaryEntry returns the Device.LocalAgent.Controller. instance of the
// secondary controller ("...Controller.2."). When the agent has none, the
// secondary controller sends a Get so that an agent that admits unknown
// controllers adds one, which the kit deletes afterwards.
func secondaryEntry(t *T, second *Equipment) string {
	find := func() string {
		for p, v := range t.GetValues("Device.LocalAgent.Controller.") {
			if strings.HasSuffix(p, ".EndpointID") && v == second.ControllerID() {
				return strings.TrimSuffix(p, "EndpointID")
			}
		}
		return ""
	}
	if ctrl := find(); ctrl != "" {
		return ctrl
	}
	if ex := second.Send(t.ctx, msg.Get{Paths: []string{agentEID}}); ex.Err != nil {
		t.Notef("the secondary controller's Get got no answer: %v", ex.Err)
	}
	ctrl := find()
	if ctrl == "" {
		t.Skipf("the EUT has no Controller instance for the secondary controller %s: the plan's setup needs two, both simulated by the test equipment", second.ControllerID())
	}
	t.DeleteLater(ctrl)
	return ctrl
}

// withRef appends a reference to a comma-separated list of references.
func withRef(list, ref string) string {
	if list == "" {
		return ref
	}
	return list + "," + ref
}
