package usptest

import (
	"strings"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// resolved is what a request path addresses in the model.
type resolved struct {
	kind datamodel.PathKind
	// def is the definition of the objects reached (of the table's
	// instances when table is set); nil when a followed reference led
	// nowhere, which leaves nothing to address.
	def *objDef
	// objs are the object instances reached, in order. For a path ending
	// with a table name they are the table's instances.
	objs []*objInst
	// table is set for a path that ends with the name of a multi-instance
	// object ("Device.LocalAgent.Subscription."); tables are those reached.
	table  bool
	tables []*table
	// leaf is the parameter, command ("X()") or event ("X!") name.
	leaf string
	// missing reports that an instance number named without any wildcard
	// or search before it does not exist.
	missing bool
	// search reports a wildcard, expression or reference in the path.
	search bool
}

// resolve parses and resolves a request path. Syntax errors give 7008,
// paths outside the supported data model 7026; a missing instance is not an
// error (see resolved.missing) because each message answers it differently.
// Callers hold m.mu.
func (m *Model) resolve(path string) (*resolved, *msg.Error) {
	if path == "" {
		return nil, invalidPath("empty path: a path starts with Device.")
	}
	p, perr := datamodel.Parse(path)
	if perr != nil {
		return nil, msg.Errorf(msg.CodeInvalidPathSyntax, "%v", perr)
	}
	if p.HasPlaceholder() {
		return nil, msg.Errorf(msg.CodeInvalidPathSyntax, "%s: {i} is only for the supported data model", path)
	}
	segs := p.Segments()
	if segs[0].Kind != datamodel.SegName || segs[0].Name != "Device" || segs[0].Ref != datamodel.RefNone {
		return nil, invalidPath("%s does not start with Device.", path)
	}
	r := &resolved{kind: p.Kind(), def: m.root, objs: []*objInst{m.rootInst}}
	last := len(segs)
	if !r.kind.IsPartial() {
		last--
	}
	inTable := false
	for i := 1; i < last; i++ {
		s := segs[i]
		if r.def == nil {
			break // a reference led nowhere
		}
		switch s.Kind {
		case datamodel.SegName:
			if inTable {
				return nil, invalidPath("%s: instance of %s missing", path, strings.TrimSuffix(r.tables0Path(), "."))
			}
			if s.Ref != datamodel.RefNone {
				if err := m.follow(r, s, path); err != nil {
					return nil, err
				}
				continue
			}
			c := r.def.child(s.Name)
			if c == nil {
				return nil, invalidPath("%s does not exist in the supported data model", path)
			}
			r.def = c
			if c.multi {
				inTable = true
				r.tables = r.tables[:0]
				for _, o := range r.objs {
					if t := o.tables.get(c.name); t != nil {
						r.tables = append(r.tables, t)
					}
				}
				r.objs = nil
				continue
			}
			objs := r.objs[:0:0]
			for _, o := range r.objs {
				if ci := o.single.get(c.name); ci != nil {
					objs = append(objs, ci)
				}
			}
			r.objs = objs
		case datamodel.SegInstance, datamodel.SegWildcard, datamodel.SegExpr:
			if !inTable {
				return nil, invalidPath("%s: %s is not a table", path, strings.TrimSuffix(r.def.path, "."))
			}
			inTable = false
			if err := m.pick(r, s, path); err != nil {
				return nil, err
			}
		default:
			return nil, msg.Errorf(msg.CodeInvalidPathSyntax, "%s: unexpected %s", path, s)
		}
	}
	if r.def == nil {
		r.objs, r.tables, r.table = nil, nil, false
		return r, nil
	}
	if inTable {
		if !r.kind.IsPartial() {
			return nil, invalidPath("%s: instance of %s missing", path, r.tables0Path())
		}
		r.table = true
		for _, t := range r.tables {
			r.objs = append(r.objs, t.sorted()...)
		}
	}
	if !r.kind.IsPartial() {
		r.leaf = p.Leaf()
		switch r.kind {
		case datamodel.KindParam:
			if r.def.param(r.leaf) == nil {
				if r.def.child(r.leaf) != nil {
					return nil, invalidPath("%s names an object: end it with a dot", path)
				}
				return nil, invalidPath("%s does not exist in the supported data model", path)
			}
		case datamodel.KindCommand:
			if r.def.command(r.leaf) == nil {
				return nil, invalidPath("%s does not exist in the supported data model", path)
			}
		case datamodel.KindEvent:
			if r.def.event(r.leaf) == nil {
				return nil, invalidPath("%s does not exist in the supported data model", path)
			}
		}
	}
	return r, nil
}

func (r *resolved) tables0Path() string {
	if r.def != nil {
		return strings.TrimSuffix(r.def.path, "{i}.")
	}
	return ""
}

// pick narrows the tables reached so far to the instances an instance
// number, wildcard or expression selects.
func (m *Model) pick(r *resolved, s datamodel.Segment, path string) *msg.Error {
	var objs []*objInst
	for _, t := range r.tables {
		switch s.Kind {
		case datamodel.SegInstance:
			if o := t.inst[s.Instance]; o != nil {
				objs = append(objs, o)
			}
		case datamodel.SegWildcard:
			objs = append(objs, t.sorted()...)
		case datamodel.SegExpr:
			for _, o := range t.sorted() {
				ok, err := s.Expr.Eval(func(param string) (string, datamodel.ValueType, bool) {
					return m.lookupRel(o, param)
				})
				if err != nil {
					return msg.Errorf(msg.CodeInvalidPathSyntax, "%s: %v", path, err)
				}
				if ok {
					objs = append(objs, o)
				}
			}
		}
	}
	if s.Kind != datamodel.SegInstance {
		r.search = true
	} else if len(objs) == 0 && !r.search {
		r.missing = true
	}
	r.objs, r.tables = objs, nil
	return nil
}

// follow replaces the objects reached so far by the objects their reference
// parameter s.Name points to ("Interface+", "LowerLayers#1+",
// "LowerLayers#*+").
func (m *Model) follow(r *resolved, s datamodel.Segment, path string) *msg.Error {
	pd := r.def.param(s.Name)
	if pd == nil {
		return invalidPath("%s: %s is not a parameter of %s", path, s.Name, r.def.path)
	}
	r.search = true
	var objs []*objInst
	var def *objDef
	for _, o := range r.objs {
		items := datamodel.ParseList(m.value(o, pd))
		switch s.Ref {
		case datamodel.RefFirst:
			items = items[:min(len(items), 1)]
		case datamodel.RefIndex:
			if int(s.RefIndex) > len(items) {
				items = nil
			} else {
				items = items[s.RefIndex-1 : s.RefIndex]
			}
		}
		for _, it := range items {
			t := m.instByPath(it)
			if t == nil {
				continue
			}
			if def == nil {
				def = t.def
			}
			if t.def == def {
				objs = append(objs, t)
			}
		}
	}
	r.def, r.objs = def, objs
	return nil
}

// getPath resolves a Get path and returns its resolved objects with their
// parameters, to maxDepth (0: no limit). Callers hold m.mu.
func (m *Model) getPath(path string, maxDepth uint32) ([]msg.Resolved, *msg.Error) {
	r, err := m.resolve(path)
	if err != nil {
		return nil, err
	}
	if r.missing {
		return nil, invalidPath("%s: instance does not exist", path)
	}
	var out []msg.Resolved
	switch r.kind {
	case datamodel.KindParam:
		for _, o := range r.objs {
			out = append(out, msg.Resolved{Path: o.path, Params: map[string]string{r.leaf: m.value(o, o.def.param(r.leaf))}})
		}
	case datamodel.KindObject, datamodel.KindInstance:
		for _, o := range r.objs {
			m.collect(o, 1, maxDepth, &out)
		}
	default:
		return nil, invalidPath("%s: Get takes parameter and object paths", path)
	}
	return out, nil
}

// collect appends o's parameters and, within maxDepth, its sub-objects'.
// Objects without parameters are left out, as OB-USP-A does.
func (m *Model) collect(o *objInst, depth, maxDepth uint32, out *[]msg.Resolved) {
	if len(o.def.params) > 0 {
		params := make(map[string]string, len(o.def.params))
		for _, p := range o.def.params {
			params[p.name] = m.value(o, p)
		}
		*out = append(*out, msg.Resolved{Path: o.path, Params: params})
	}
	if maxDepth != 0 && depth >= maxDepth {
		return
	}
	for _, c := range o.def.children {
		if c.multi {
			if t := o.tables.get(c.name); t != nil {
				for _, ci := range t.sorted() {
					m.collect(ci, depth+1, maxDepth, out)
				}
			}
		} else if ci := o.single.get(c.name); ci != nil {
			m.collect(ci, depth+1, maxDepth, out)
		}
	}
}
