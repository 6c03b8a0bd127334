package usptest

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// handleGet answers a Get: one result per path, each failing on its own
// (7008 bad syntax, 7026 not in the schema or no such instance).
func (a *Agent) handleGet(g *uspmsg.Get) msg.Message {
	m := a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	var resp msg.GetResp
	for _, p := range g.GetParamPaths() {
		rs, err := m.getPath(p, g.GetMaxDepth())
		resp.Results = append(resp.Results, msg.GetResult{Requested: p, Err: err, Resolved: rs})
	}
	return resp
}

// messageErr turns a failure of a whole request path into the Error
// message of a request without allow_partial, as OB-USP-A does: path errors
// (7008, 7026) and missing objects as they are, others as 7004 naming the
// path in a parameter error.
func messageErr(path string, err *msg.Error) *msg.Error {
	switch err.Code {
	case msg.CodeInvalidPathSyntax, msg.CodeInvalidPath, msg.CodeObjectNotFound:
		return err
	case msg.CodePermissionDenied:
		// A refusal keeps its code (TP-469 2.24), naming the path.
		return &msg.Error{Code: err.Code, Message: err.Message,
			ParamErrs: []msg.ParamError{{Path: path, Code: err.Code, Message: err.Message}}}
	}
	return &msg.Error{
		Code: msg.CodeInvalidArguments, Message: err.Message,
		ParamErrs: []msg.ParamError{{Path: path, Code: err.Code, Message: err.Message}},
	}
}

// objectErr is the Error message for an Add or Delete (without
// allow_partial) whose object path fails: TP-469 (1.4, 1.6, 1.26, 1.28)
// wants the failed path in param_errs whatever the code. Set keeps
// messageErr, which is what OB-USP-A answers (capture 30).
func objectErr(path string, err *msg.Error) *msg.Error {
	e := messageErr(path, err)
	if len(e.ParamErrs) == 0 {
		e = &msg.Error{Code: e.Code, Message: e.Message,
			ParamErrs: []msg.ParamError{{Path: path, Code: e.Code, Message: e.Message}}}
	}
	return e
}

// paramsErr is the Error message for required parameters that failed
// without allow_partial.
func paramsErr(pes []msg.ParamError) *msg.Error {
	code := msg.CodePermissionDenied // when every failure is a refusal (TP-469 2.16, 2.24)
	for _, pe := range pes {
		if pe.Code != msg.CodePermissionDenied {
			code = msg.CodeInvalidArguments
		}
	}
	return &msg.Error{Code: code, Message: pes[0].Message, ParamErrs: pes}
}

type setPlan struct {
	o     *objInst
	p     *paramDef
	value string
}

// checkSet checks that a controller may set parameter name of o to value.
func (m *Model) checkSet(o *objInst, name, value string) (*paramDef, *msg.Error) {
	p := o.def.param(name)
	if p == nil {
		return nil, msg.Errorf(msg.CodeUnsupportedParam, "path is invalid: %s%s", o.path, name)
	}
	if !p.Access.Writable() {
		return nil, msg.Errorf(msg.CodeParamReadOnly, "parameter %s%s is read-only", o.path, name)
	}
	if p.WriteOnce {
		return nil, msg.Errorf(msg.CodeParamReadOnly, "parameter %s%s is set only when the object is created", o.path, name)
	}
	if err := m.checkValue(o, p, value); err != nil {
		return nil, err
	}
	return p, nil
}

// handleSet answers a Set. Every check runs before anything changes; then
// the values are stored and ValueChange notifications follow the response.
func (a *Agent) handleSet(from string, s *uspmsg.Set) msg.Message {
	m := a.model
	partial := s.GetAllowPartial()
	var resp msg.SetResp
	var fail *msg.Error
	m.write(func() {
		l := m.aclFor(from)
		var plans []setPlan
		var strict []msg.ParamError
		// Unique keys are checked against the values other objects of this
		// request will get, not only against the stored ones.
		reqStaged := map[*objInst]map[string]string{}
		for _, uo := range s.GetUpdateObjs() {
			res := msg.SetResult{Requested: uo.GetObjPath()}
			r, err := m.resolve(uo.GetObjPath())
			switch {
			case err != nil:
			case !r.kind.IsPartial():
				err = invalidPath("%s is not an object path", uo.GetObjPath())
			case r.table:
				err = invalidPath("%s is a table: Set needs its instances", uo.GetObjPath())
			case r.missing:
				err = msg.Errorf(msg.CodeObjectNotFound, "object exists in the schema, but not this instance: %s", uo.GetObjPath())
			}
			if err != nil {
				if !partial {
					fail = messageErr(uo.GetObjPath(), err)
					return
				}
				res.Err = err
				resp.Results = append(resp.Results, res)
				continue
			}
			var objPlans []setPlan
			staged := maps.Clone(reqStaged)
			for _, o := range r.objs {
				var required, optional []msg.ParamError
				var instPlans []setPlan
				params := map[string]string{}
				for _, ps := range uo.GetParamSettings() {
					p, perr := m.checkSet(o, ps.GetParam(), ps.GetValue())
					if perr == nil && !l.allows(permParam, rightWrite, o.path+ps.GetParam()) {
						perr = permissionDenied("writing", o.path+ps.GetParam())
					}
					if perr != nil {
						pe := msg.ParamError{Path: o.path + ps.GetParam(), Code: perr.Code, Message: perr.Message}
						if ps.GetRequired() {
							required = append(required, pe)
						} else {
							optional = append(optional, pe)
						}
						continue
					}
					instPlans = append(instPlans, setPlan{o: o, p: p, value: ps.GetValue()})
					params[p.name] = ps.GetValue()
				}
				if t, _ := m.tableOf(o); len(required) == 0 && t != nil {
					if uerr := m.checkUniqueStaged(t, o, 0, params, staged); uerr != nil {
						name := uerr.ParamErrs[0].Path[len(t.path)+len("{i}."):]
						required = append(required, msg.ParamError{Path: o.path + name, Code: uerr.Code, Message: uerr.Message})
					}
				}
				if len(required) > 0 {
					res.Failed = append(res.Failed, msg.FailedInstance{Path: o.path, ParamErrs: required})
					continue
				}
				staged[o] = params
				objPlans = append(objPlans, instPlans...)
				res.Updated = append(res.Updated, msg.UpdatedInstance{Path: o.path, Params: params, ParamErrs: optional})
			}
			if len(res.Failed) > 0 {
				if !partial {
					for _, f := range res.Failed {
						strict = append(strict, f.ParamErrs...)
					}
					continue
				}
				res.Err = &msg.Error{Code: msg.CodeRequiredParamFailed, Message: "failed to set required parameters"}
				res.Updated = nil
			} else {
				plans = append(plans, objPlans...)
				reqStaged = staged
			}
			resp.Results = append(resp.Results, res)
		}
		if len(strict) > 0 {
			fail = paramsErr(strict)
			return
		}
		for _, pl := range plans {
			m.setValue(pl.o, pl.p, pl.value)
		}
	})
	if fail != nil {
		return fail
	}
	return resp
}

// addPlan remembers an instance created by an Add, to undo it when a later
// object of the same Add fails without allow_partial.
type addUndo struct {
	t    *table
	n    uint32
	next uint32
}

// handleAdd answers an Add. Without allow_partial the creations are undone
// if any object fails.
func (a *Agent) handleAdd(orig origin, ad *uspmsg.Add) msg.Message {
	m := a.model
	from := orig.from
	partial := ad.GetAllowPartial()
	var resp msg.AddResp
	var fail *msg.Error
	m.write(func() {
		l := m.aclFor(from)
		var undo []addUndo
		mark := len(m.pending)
		defer func() {
			if fail == nil {
				return
			}
			for i := len(undo) - 1; i >= 0; i-- {
				u := undo[i]
				u.t.inst.del(u.n)
				u.t.next = u.next
			}
			m.pending = m.pending[:mark]
		}()
		for _, co := range ad.GetCreateObjs() {
			res := msg.AddResult{Requested: co.GetObjPath()}
			tables, err := m.addTargets(co.GetObjPath())
			if err != nil {
				if !partial {
					fail = objectErr(co.GetObjPath(), err)
					return
				}
				res.Err = err
				resp.Results = append(resp.Results, res)
				continue
			}
			for _, t := range tables {
				n := m.nextNumber(t)
				var values map[string]string
				var optional []msg.ParamError
				var ferr *msg.ParamError
				if !l.allows(permObj, rightWrite, t.path) {
					e := permissionDenied("creating instances of", t.path)
					ferr = &msg.ParamError{Path: t.path, Code: e.Code, Message: e.Message}
				} else {
					var mayWrite func(string) bool // nil: access control is off
					if l != nil {
						inst := fmt.Sprintf("%s%d.", t.path, n)
						mayWrite = func(name string) bool { return l.allows(permParam, rightWrite, inst+name) }
					}
					values, optional, ferr = a.addValues(from, t, co.GetParamSettings(), mayWrite)
				}
				if ferr == nil {
					if uerr := m.checkUnique(t, nil, n, values); uerr != nil {
						ferr = &msg.ParamError{Path: uerr.ParamErrs[0].Path, Code: uerr.Code, Message: uerr.Message}
					}
				}
				if ferr != nil {
					if !partial {
						fail = paramsErr([]msg.ParamError{*ferr})
						return
					}
					res.Err = &msg.Error{Code: ferr.Code, Message: ferr.Message}
					resp.Results = append(resp.Results, res)
					continue
				}
				undo = append(undo, addUndo{t: t, n: n, next: t.next})
				o := m.create(t, n, values)
				if t.def.path == subscriptionPath && orig.ok {
					a.mu.Lock()
					lazyMap(&a.subRoutes)[o.path] = orig.r
					a.mu.Unlock()
				}
				ok := res
				ok.Path = o.path
				ok.UniqueKeys = m.uniqueKeys(o)
				for _, pe := range optional {
					ok.ParamErrs = append(ok.ParamErrs, msg.ParamError{Path: o.path + pe.Path, Code: pe.Code, Message: pe.Message})
				}
				resp.Results = append(resp.Results, ok)
			}
		}
	})
	if fail != nil {
		return fail
	}
	return resp
}

// addTargets resolves the path of an Add to the tables to create in.
func (m *Model) addTargets(path string) ([]*table, *msg.Error) {
	r, err := m.resolve(path)
	switch {
	case err != nil:
		return nil, err
	case r.kind != datamodel.KindObject && r.kind != datamodel.KindInstance:
		return nil, invalidPath("%s is not an object path", path)
	case !r.table:
		return nil, msg.Errorf(msg.CodeNotATable, "%s is not a multi-instance object", path)
	case !r.def.access.CanAdd():
		return nil, msg.Errorf(msg.CodeNotCreatable, "instances of %s cannot be added", path)
	case len(r.tables) == 0:
		return nil, msg.Errorf(msg.CodeObjectNotFound, "%s: the object holding the table does not exist", path)
	}
	return r.tables, nil
}

// addValues checks the parameter settings of an Add for table t. It
// returns the values to create the instance with, the failures of optional
// parameters (Path relative), and the first failure of a required one (Path
// in the supported form, "Device.LocalAgent.Subscription.{i}.ID", as
// OB-USP-A writes it). mayWrite, when not nil, says which parameters the
// controller may set (access control).
func (a *Agent) addValues(from string, t *table, settings []*uspmsg.Add_CreateParamSetting, mayWrite func(name string) bool) (map[string]string, []msg.ParamError, *msg.ParamError) {
	m := a.model
	values := map[string]string{}
	var optional []msg.ParamError
	for _, ps := range settings {
		name, value := ps.GetParam(), ps.GetValue()
		var perr *msg.Error
		p := relParam(t.def, name)
		switch {
		case p == nil:
			perr = msg.Errorf(msg.CodeUnsupportedParam, "path is invalid: %s{i}.%s", t.path, name)
		case !p.Access.Writable():
			perr = msg.Errorf(msg.CodeParamReadOnly, "parameter %s{i}.%s is read-only", t.path, name)
		case mayWrite != nil && !mayWrite(name):
			perr = permissionDenied("writing", t.path+"{i}."+name)
		default:
			perr = m.checkValue(&objInst{path: t.path + "{i}."}, p, value)
		}
		if perr != nil {
			// A writable unique key given a bad value fails the creation
			// even when not required (TP-469 1.88).
			badKey := p != nil && p.Access.Writable() && slices.ContainsFunc(t.def.uniqueKeys, func(k []string) bool { return slices.Contains(k, name) })
			if ps.GetRequired() || badKey {
				return nil, nil, &msg.ParamError{Path: t.path + "{i}." + name, Code: perr.Code, Message: perr.Message}
			}
			optional = append(optional, msg.ParamError{Path: name, Code: perr.Code, Message: perr.Message})
			continue
		}
		values[name] = value
	}
	if t.def.path == subscriptionPath {
		a.subscriptionDefaults(from, t, values)
	}
	return values, optional, nil
}

// subscriptionDefaults fills what the agent decides for a new Subscription:
// its Recipient (the requesting controller), its ID when none is given,
// and its creation time.
func (a *Agent) subscriptionDefaults(from string, t *table, values map[string]string) {
	m := a.model
	if ctrl := m.controllerByID(from); ctrl != nil && t.def.param("Recipient") != nil {
		values["Recipient"] = refPath(ctrl)
	}
	if values["ID"] == "" && t.def.param("ID") != nil {
		values["ID"] = fmt.Sprintf("%d-%s", m.nextNumber(t), a.cfg.clock().UTC().Format("20060102T150405Z"))
	}
	if t.def.param("CreationDate") != nil {
		if s, err := datamodel.FormatDateTime(a.cfg.clock().UTC().Truncate(1e9)); err == nil {
			values["CreationDate"] = s
		}
	}
}

// handleDelete answers a Delete. A path that matches no instance succeeds
// with nothing deleted; without allow_partial any failing path fails the
// whole message and nothing is deleted.
func (a *Agent) handleDelete(from string, d *uspmsg.Delete) msg.Message {
	m := a.model
	partial := d.GetAllowPartial()
	var resp msg.DeleteResp
	var fail *msg.Error
	m.write(func() {
		l := m.aclFor(from)
		var doomed []*objInst
		for _, path := range d.GetObjPaths() {
			res := msg.DeleteResult{Requested: path}
			r, err := m.resolve(path)
			switch {
			case err != nil:
			case r.kind == datamodel.KindObject:
				err = msg.Errorf(msg.CodeNotCreatable, "cannot delete %s: not an instance of a multi-instance object", path)
			case r.kind != datamodel.KindInstance:
				err = invalidPath("%s is not an object instance path", path)
			case r.def != nil && !r.def.access.CanDelete():
				err = msg.Errorf(msg.CodeDeleteFailure, "instances of %s cannot be deleted", r.def.path)
			}
			if err == nil {
				for _, o := range r.objs {
					if !l.allows(permInst, rightWrite, o.path) {
						err = permissionDenied("deleting", o.path)
						break
					}
				}
			}
			if err != nil {
				if !partial {
					fail = objectErr(path, err)
					return
				}
				res.Err = err
				resp.Results = append(resp.Results, res)
				continue
			}
			for _, o := range r.objs {
				res.Affected = append(res.Affected, o.path)
				doomed = append(doomed, o)
			}
			resp.Results = append(resp.Results, res)
		}
		for _, o := range doomed {
			if m.instByPath(o.path) == o { // not already gone with an ancestor
				m.remove(o)
			}
		}
	})
	if fail != nil {
		return fail
	}
	return resp
}

// handleInstances answers a GetInstances.
func (a *Agent) handleInstances(g *uspmsg.GetInstances) msg.Message {
	m := a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	first := g.GetFirstLevelOnly()
	var resp msg.GetInstancesResp
	for _, path := range g.GetObjPaths() {
		res := msg.InstancesResult{Requested: path}
		r, err := m.resolve(path)
		switch {
		case err != nil:
		case !r.kind.IsPartial():
			err = invalidPath("%s is not an object path", path)
		case r.missing:
			err = invalidPath("%s: instance does not exist", path)
		}
		if err != nil {
			res.Err = err
			resp.Results = append(resp.Results, res)
			continue
		}
		found := map[string]*objInst{}
		for _, o := range r.objs {
			if o.def.multi {
				found[o.path] = o
			}
			if r.table && first {
				continue
			}
			m.nested(o, first, found)
		}
		for _, p := range slices.SortedFunc(maps.Keys(found), pathCompare) {
			o := found[p]
			res.Instances = append(res.Instances, msg.Instance{Path: o.path, UniqueKeys: m.uniqueKeys(o)})
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// nested adds the instances of the tables below o: only those of its own
// tables when first is set, every one at any depth otherwise.
func (m *Model) nested(o *objInst, first bool, found map[string]*objInst) {
	for _, c := range o.def.children {
		if c.multi {
			t := o.tables.get(c.name)
			if t == nil {
				continue
			}
			for _, ci := range t.sorted() {
				found[ci.path] = ci
				if !first {
					m.nested(ci, false, found)
				}
			}
		} else if ci := o.single.get(c.name); ci != nil && !first {
			m.nested(ci, false, found)
		}
	}
}

// handleSupportedDM answers a GetSupportedDM from the schema.
func (a *Agent) handleSupportedDM(g *uspmsg.GetSupportedDM) msg.Message {
	m := a.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	var resp msg.GetSupportedDMResp
	for _, path := range g.GetObjPaths() {
		res := msg.SupportedDMResult{Requested: path, DataModelInstURI: m.uri}
		d, err := m.supportedDef(path)
		if err != nil {
			if o, ok := m.supportedElement(path, g); ok {
				res.Objects = append(res.Objects, o)
				resp.Results = append(resp.Results, res)
				continue
			}
			res.Err = err
			resp.Results = append(resp.Results, res)
			continue
		}
		res.Objects = append(res.Objects, describe(d, g))
		if g.GetFirstLevelOnly() {
			for _, c := range d.children {
				res.Objects = append(res.Objects, describe(c, &uspmsg.GetSupportedDM{}))
			}
		} else {
			var walk func(d *objDef)
			walk = func(d *objDef) {
				for _, c := range d.children {
					res.Objects = append(res.Objects, describe(c, g))
					walk(c)
				}
			}
			walk(d)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// supportedDef finds the object a GetSupportedDM path names; instance
// numbers, wildcards, expressions and {i} all stand for "an instance".
func (m *Model) supportedDef(path string) (*objDef, *msg.Error) {
	if path == "" {
		return nil, invalidPath("empty path: a path starts with Device.")
	}
	p, err := datamodel.Parse(path)
	if err != nil {
		return nil, msg.Errorf(msg.CodeInvalidPathSyntax, "%v", err)
	}
	if !p.Kind().IsPartial() || p.HasRefFollow() {
		return nil, invalidPath("%s is not an object path", path)
	}
	d := m.defOf(p, p.Len())
	if d == nil {
		return nil, invalidPath("path is invalid: %s", path)
	}
	return d, nil
}

// supportedElement answers a GetSupportedDM on one parameter, command or
// event (USP 1.4; TP-469 1.105-1.107): its object's entry with only that
// element.
func (m *Model) supportedElement(path string, g *uspmsg.GetSupportedDM) (msg.SupportedObject, bool) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 || i == len(path)-1 {
		return msg.SupportedObject{}, false
	}
	d, err := m.supportedDef(path[:i+1])
	if err != nil {
		return msg.SupportedObject{}, false
	}
	name := path[i+1:]
	o := describe(d, g)
	o.Params = slices.DeleteFunc(o.Params, func(p msg.SupportedParam) bool { return p.Name != name })
	o.Commands = slices.DeleteFunc(o.Commands, func(c msg.SupportedCommand) bool { return c.Name != name })
	o.Events = slices.DeleteFunc(o.Events, func(e msg.SupportedEvent) bool { return e.Name != name })
	o.UniqueKeySets = nil
	return o, len(o.Params)+len(o.Commands)+len(o.Events) == 1
}

// describe gives the GetSupportedDM entry of one object, with what the
// request's flags ask for.
func describe(d *objDef, g *uspmsg.GetSupportedDM) msg.SupportedObject {
	o := msg.SupportedObject{Path: d.path, MultiInstance: d.multi}
	if d.multi {
		o.Access = msg.ObjAccess(d.access)
	}
	if g.GetReturnCommands() {
		for _, c := range d.commands {
			t := msg.CmdSync
			if c.Async {
				t = msg.CmdAsync
			}
			o.Commands = append(o.Commands, msg.SupportedCommand{Name: c.name, Inputs: c.Inputs, Outputs: c.Outputs, Type: t})
		}
	}
	if g.GetReturnEvents() {
		for _, e := range d.events {
			o.Events = append(o.Events, msg.SupportedEvent{Name: e.name, Args: e.args})
		}
	}
	if g.GetReturnParams() {
		for _, p := range d.params {
			vc := msg.ValueChangeType(p.ValueChange)
			if vc == msg.ValueChangeUnknown {
				vc = msg.ValueChangeAllowed
			}
			o.Params = append(o.Params, msg.SupportedParam{
				Name: p.name, Access: msg.ParamAccess(p.Access), Type: msg.ParamType(p.Type), ValueChange: vc,
			})
		}
	}
	if g.GetReturnUniqueKeySets() && d.multi {
		o.UniqueKeySets = slices.Clone(d.uniqueKeys)
	}
	return o
}
