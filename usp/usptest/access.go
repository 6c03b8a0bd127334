package usptest

import (
	"strings"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// controllerTrust is the part of TR-181's Device.LocalAgent.ControllerTrust.
// object that [WithAccessControl] adds to the model: the roles, their
// permissions, and the role given to controllers the agent does not know.
const controllerTrust = `
Device.LocalAgent.ControllerTrust.
  UntrustedRole              string rw
  BannedRole                 string rw
  SecuredRoles               string rw list
  RoleNumberOfEntries        unsignedInt r = 0
Device.LocalAgent.ControllerTrust.Role.{i}.  add-delete  keys=Alias  keys=Name
  Alias                      string rw
  Enable                     boolean rw = false
  Name                       string rw
  PermissionNumberOfEntries  unsignedInt r = 0
Device.LocalAgent.ControllerTrust.Role.{i}.Permission.{i}.  add-delete  keys=Alias  keys=Order
  Alias                      string rw
  Enable                     boolean rw = false
  Order                      unsignedInt rw = 0
  Targets                    string rw list
  Param                      string rw = ----
  Obj                        string rw = ----
  InstantiatedObj            string rw = ----
  CommandEvent               string rw = ----
`

// usersSchema is TR-181's Device.Users., which [WithAccessControl] adds
// with one account so that the model holds a parameter with the secured
// attribute that is always there (Password; MQTT and STOMP passwords exist
// only with those transports).
const usersSchema = `
Device.Users.
  UserNumberOfEntries        unsignedInt r = 0
Device.Users.User.{i}.  add-delete  keys=Alias  keys=Username
  Alias                      string rw
  Enable                     boolean rw = false
  Username                   string rw
  Password                   string rw secured
  Language                   string rw
`

// The account WithAccessControl creates, and its password: a secret only
// controllers holding one of ControllerTrust.SecuredRoles may read.
const (
	adminUser     = "Device.Users.User.1."
	adminPassword = "usptest-admin-secret"
)

// The roles WithAccessControl creates, by instance number.
const (
	fullAccessRole = "Device.LocalAgent.ControllerTrust.Role.1"
	untrustedRole  = "Device.LocalAgent.ControllerTrust.Role.2"
)

// WithAccessControl makes the agent enforce TR-369 access control. It adds
// Device.LocalAgent.ControllerTrust. to the model with two roles: Role.1
// "Full Access" (one Permission: Targets "Device.", every right) and Role.2
// "Untrusted" (read-only access to Device.DeviceInfo.), which is the
// ControllerTrust.UntrustedRole. The controllers given by [WithController]
// inherit the full access role (InheritedRole, as a real agent gives the
// controllers it was provisioned with); a controller the agent admits later
// gets the untrusted role as its AssignedRole.
//
// Each request is then checked against the union of the requesting
// controller's roles (AssignedRole and InheritedRole). Within one role the
// enabled Permission with the highest Order among those whose Targets cover
// an element decides: Param governs reading (r), setting (w) and
// ValueChange notifications (n) of a parameter; Obj creating instances of a
// table (w) and ObjectCreation notifications (n); InstantiatedObj seeing
// (r) and deleting (w) instances and ObjectDeletion notifications (n);
// CommandEvent running a command (x) and its OperationComplete or an
// event's notifications (n). Get leaves out what may not be read, Set, Add
// and Delete fail with 7006, Operate reports 7006 as the command's failure,
// and notifications that may not be sent are not sent. GetSupportedDM is
// not filtered. Without this option everything is allowed.
//
// It also adds Device.Users.User.1 ("admin"), whose Password has TR-181's
// secured attribute ([ParamDef.Secured]): a Get from a controller none of
// whose roles is listed in ControllerTrust.SecuredRoles (empty at first)
// returns it as an empty string.
func WithAccessControl() Option {
	return func(c *config) error {
		c.access = true
		return nil
	}
}

// setupAccess adds ControllerTrust to the model with its default roles.
func (m *Model) setupAccess() error {
	if err := m.Define(controllerTrust); err != nil {
		return err
	}
	if err := m.Define(credentialSchema); err != nil {
		return err
	}
	if err := m.Define(usersSchema); err != nil {
		return err
	}
	if _, err := m.AddInstance("Device.Users.User.", map[string]string{"Enable": "true", "Username": "admin", "Password": adminPassword}); err != nil {
		return err
	}
	roles := "Device.LocalAgent.ControllerTrust.Role."
	for _, r := range []struct {
		name, target, rights string
	}{
		{"Full Access", "Device.", "rwxn"},
		{"Untrusted", "Device.DeviceInfo.", "r---"},
	} {
		role, err := m.AddInstance(roles, map[string]string{"Enable": "true", "Name": r.name})
		if err != nil {
			return err
		}
		if _, err := m.AddInstance(role+"Permission.", map[string]string{"Enable": "true", "Order": "1",
			"Targets": r.target, "Param": r.rights, "Obj": r.rights, "InstantiatedObj": r.rights, "CommandEvent": r.rights}); err != nil {
			return err
		}
	}
	if err := m.Set("Device.LocalAgent.ControllerTrust.UntrustedRole", untrustedRole); err != nil {
		return err
	}
	m.lock()
	m.access = true
	m.unlock()
	return nil
}

// The four permission parameters of a Permission, and the four rights of
// each, in TR-181's order.
const (
	permParam = iota
	permObj
	permInst
	permCmd
)

const (
	rightRead = iota
	rightWrite
	rightExec
	rightNotify
)

var permNames = [4]string{"Param", "Obj", "InstantiatedObj", "CommandEvent"}

type permission struct {
	order   uint64
	targets []string
	rights  [4]string
}

// acl is what one controller may do: the permissions of each of its
// enabled roles. A nil acl allows everything (access control is off).
type acl struct {
	roles [][]permission
	// secured: one of the roles is listed in ControllerTrust.SecuredRoles,
	// so secured parameters read as they are.
	secured bool
}

// aclFor reads the rights of the controller with endpoint ID from. Callers
// hold m.mu.
func (m *Model) aclFor(from string) *acl {
	if !m.access {
		return nil
	}
	l := &acl{}
	ctrl := m.controllerByID(from)
	if ctrl == nil {
		return l // a stranger may do nothing
	}
	seen := map[string]bool{}
	securedRoles := map[string]bool{}
	if ct := m.peekPath("Device.LocalAgent.ControllerTrust."); ct != nil {
		for _, r := range datamodel.ParseList(ct.val("SecuredRoles")) {
			securedRoles[strings.TrimSuffix(r, ".")+"."] = true
		}
	}
	for _, list := range []string{ctrl.val("AssignedRole"), ctrl.val("InheritedRole")} {
		for _, ref := range datamodel.ParseList(list) {
			ref = strings.TrimSuffix(ref, ".") + "."
			if seen[ref] {
				continue
			}
			seen[ref] = true
			role := m.peekPath(ref)
			if role == nil || role.def.path != "Device.LocalAgent.ControllerTrust.Role.{i}." {
				continue
			}
			if en, _ := datamodel.ParseBool(role.val("Enable")); !en {
				continue
			}
			l.secured = l.secured || securedRoles[ref]
			var perms []permission
			if t := role.tables.get("Permission"); t != nil {
				for _, p := range t.sorted() {
					if en, _ := datamodel.ParseBool(p.val("Enable")); !en {
						continue
					}
					order, _ := datamodel.ParseUnsignedInt(p.val("Order"))
					pm := permission{order: uint64(order), targets: datamodel.ParseList(p.val("Targets"))}
					for i, n := range permNames {
						pm.rights[i] = p.val(n)
					}
					perms = append(perms, pm)
				}
			}
			l.roles = append(l.roles, perms)
		}
	}
	return l
}

// allows reports whether the controller has right (rightRead...) of kind
// (permParam...) on path: an instantiated path of a parameter, object,
// table ("Device.LocalAgent.Subscription."), command or event.
func (l *acl) allows(kind, right int, path string) bool {
	if l == nil {
		return true
	}
	for _, perms := range l.roles {
		var best *permission
		for i := range perms {
			p := &perms[i]
			if (best == nil || p.order > best.order) && p.covers(path) {
				best = p
			}
		}
		if best != nil && len(best.rights[kind]) == 4 && best.rights[kind][right] == "rwxn"[right] {
			return true
		}
	}
	return false
}

// covers reports whether one of the permission's Targets selects path. A
// target ending in "." is a partial path: it covers the object and
// everything below it; any other target names one parameter, command or
// event. "*" (and "{i}") stands for any instance number.
func (p *permission) covers(path string) bool {
	for _, t := range p.targets {
		if targetCovers(t, path) {
			return true
		}
	}
	return false
}

func targetCovers(target, path string) bool {
	partial := strings.HasSuffix(target, ".")
	ts := strings.Split(strings.TrimSuffix(target, "."), ".")
	ps := strings.Split(strings.TrimSuffix(path, "."), ".")
	if len(ts) > len(ps) || (!partial && len(ts) != len(ps)) {
		return false
	}
	for i, t := range ts {
		p := ps[i]
		switch {
		case t == p:
		case (t == "*" || t == "{i}") && (isInstanceNumber(p) || p == "{i}"):
		default:
			return false
		}
	}
	return true
}

func isInstanceNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// permissionDenied is the error of an element a controller may not use.
func permissionDenied(what, path string) *msg.Error {
	return msg.Errorf(msg.CodePermissionDenied, "permission denied: %s %s", what, path)
}

// guardGet drops from a GetResp what the controller may not read: the
// parameters without Param read permission, and the objects left with none
// of their parameters. A parameter path asked for by name that may not be
// read fails with 7006.
func guardGet(l *acl, resp msg.GetResp) msg.GetResp {
	if l == nil {
		return resp
	}
	for i, res := range resp.Results {
		if res.Err != nil {
			continue
		}
		var kept []msg.Resolved
		for _, rs := range res.Resolved {
			before := len(rs.Params)
			params := make(map[string]string, before)
			for name, v := range rs.Params {
				if l.allows(permParam, rightRead, rs.Path+name) {
					params[name] = v
				}
			}
			if before > 0 && len(params) == 0 {
				continue
			}
			rs.Params = params
			kept = append(kept, rs)
		}
		if len(kept) == 0 && len(res.Resolved) > 0 && !strings.HasSuffix(res.Requested, ".") && !strings.ContainsAny(res.Requested, "*[") {
			resp.Results[i].Err = permissionDenied("reading", res.Requested)
			resp.Results[i].Resolved = nil
			continue
		}
		resp.Results[i].Resolved = kept
	}
	return resp
}

// hidesSecured reports whether the controller must see secured parameters
// as empty strings, in responses and notifications alike: TR-369's
// "Special Roles" has the agent return them blank to a controller without
// one of ControllerTrust.SecuredRoles, "regardless of the actual value".
func (l *acl) hidesSecured() bool { return l != nil && !l.secured }

// securedParam reports whether the parameter at path has the secured
// attribute. Callers hold m.mu.
func (m *Model) securedParam(path string) bool {
	obj, name := splitLeafText(path)
	inst := m.peekPath(obj)
	if inst == nil {
		return false
	}
	pd := inst.def.param(name)
	return pd != nil && pd.Secured
}

// blankSecured empties, in params (values of an instance of def by
// name), those of secured parameters.
func blankSecured(def *objDef, params map[string]string) {
	for name := range params {
		if pd := def.param(name); pd != nil && pd.Secured {
			params[name] = ""
		}
	}
}

// maskSecured blanks, in a GetResp guardGet has filtered, the parameters
// with the secured attribute when none of the controller's roles is in
// ControllerTrust.SecuredRoles: TR-181 has the agent return them as empty
// strings, not leave them out.
func (a *Agent) maskSecured(l *acl, resp msg.GetResp) msg.GetResp {
	if !l.hidesSecured() {
		return resp
	}
	m := a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, res := range resp.Results {
		for _, rs := range res.Resolved {
			if inst := m.instByPath(rs.Path); inst != nil {
				blankSecured(inst.def, rs.Params)
			}
		}
	}
	return resp
}

// guardInstances drops from a GetInstancesResp the instances the controller
// may not see (InstantiatedObj read).
func guardInstances(l *acl, resp msg.GetInstancesResp) msg.GetInstancesResp {
	if l == nil {
		return resp
	}
	for i, res := range resp.Results {
		var kept []msg.Instance
		for _, in := range res.Instances {
			if l.allows(permInst, rightRead, in.Path) {
				kept = append(kept, in)
			}
		}
		resp.Results[i].Instances = kept
	}
	return resp
}

// notifyAllowed reports whether the controller may be told about a change:
// the notify right of the element the change is about.
func (l *acl) notifyAllowed(c change) bool {
	switch c.kind {
	case chValue:
		return l.allows(permParam, rightNotify, c.path)
	case chCreated:
		return l.allows(permObj, rightNotify, tableOf(c.path))
	case chDeleted:
		return l.allows(permInst, rightNotify, c.path)
	}
	return l.allows(permCmd, rightNotify, c.path)
}

// tableOf returns the table path of an instance path:
// "Device.X.3." -> "Device.X.".
func tableOf(inst string) string {
	s := strings.TrimSuffix(inst, ".")
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i+1]
	}
	return inst
}

// aclOf reads the rights of a controller.
func (a *Agent) aclOf(from string) *acl {
	m := a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.aclFor(from)
}

// untrust gives a controller the agent admitted on its own the
// ControllerTrust.UntrustedRole, when access control is on. Callers hold
// m.mu.
func (m *Model) untrust(ctrl *objInst) {
	if !m.access || ctrl == nil {
		return
	}
	ct := m.instByPath("Device.LocalAgent.ControllerTrust.")
	if ct == nil {
		return
	}
	if r := ct.val("UntrustedRole"); r != "" && ctrl.def.param("AssignedRole") != nil {
		m.setVal(ctrl, "AssignedRole", r)
	}
}

// trust gives a provisioned controller the full access role. Callers hold
// m.mu.
func (m *Model) trust(ctrl *objInst) {
	if !m.access || ctrl == nil || ctrl.def.param("InheritedRole") == nil {
		return
	}
	m.setVal(ctrl, "InheritedRole", fullAccessRole)
}
