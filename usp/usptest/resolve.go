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
//
// The names are checked here against the model's schema; which instances
// a path addresses (instance numbers, wildcards, search expressions,
// references) is datamodel's Path.Resolve over the model's instances, the
// one implementation of those rules in gousp.
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
	tree := modelTree{m}
	r := &resolved{kind: p.Kind(), def: m.root, search: p.IsSearch() || p.HasRefFollow()}
	last := len(segs)
	if !r.kind.IsPartial() {
		last--
	}
	// The schema walk: names and tables, and the definition reached.
	inTable := false
	for i := 1; i < last && r.def != nil; i++ {
		s := segs[i]
		switch s.Kind {
		case datamodel.SegName:
			if inTable {
				return nil, invalidPath("%s: instance of %s missing", path, strings.TrimSuffix(r.tables0Path(), "."))
			}
			if s.Ref != datamodel.RefNone {
				if r.def.param(s.Name) == nil {
					return nil, invalidPath("%s: %s is not a parameter of %s", path, s.Name, r.def.path)
				}
				// What follows a reference is defined by the objects it
				// points to: those the path reaches so far.
				prefix, err := datamodel.Parse(prefixText(segs[:i+1]))
				if err != nil {
					return nil, msg.Errorf(msg.CodeInvalidPathSyntax, "%v", err)
				}
				targets, err := prefix.Resolve(tree)
				if err != nil {
					return nil, pathErr(path, err)
				}
				r.def = nil
				if len(targets) > 0 {
					if o := m.peekPath(targets[0].String()); o != nil {
						r.def = o.def
					}
				}
				continue
			}
			c := r.def.child(s.Name)
			if c == nil {
				return nil, invalidPath("%s does not exist in the supported data model", path)
			}
			r.def = c
			inTable = c.multi
		case datamodel.SegInstance, datamodel.SegWildcard, datamodel.SegExpr:
			if !inTable {
				return nil, invalidPath("%s: %s is not a table", path, strings.TrimSuffix(r.def.path, "."))
			}
			inTable = false
		default:
			return nil, msg.Errorf(msg.CodeInvalidPathSyntax, "%s: unexpected %s", path, s)
		}
	}
	if r.def == nil {
		return r, nil // a reference led nowhere: nothing to address
	}
	if inTable && !r.kind.IsPartial() {
		return nil, invalidPath("%s: instance of %s missing", path, r.tables0Path())
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
	// The instances: the object part of the path, resolved by datamodel.
	objPath := p
	if !r.kind.IsPartial() {
		objPath = p.Object()
	}
	var found []datamodel.Path
	if r.search {
		var err error
		if found, err = objPath.Resolve(tree); err != nil {
			return nil, pathErr(path, err)
		}
	} else {
		// A path without wildcards, searches or references names at most
		// one object: no rules to apply, only a lookup (and the common
		// case stays cheap).
		found = []datamodel.Path{objPath}
	}
	r.table = inTable
	for _, f := range found {
		if inTable {
			// A path ending with a table's name reaches the table.
			parent, name := f.Parent(), segs[len(segs)-1].Name
			if po := m.instByPath(parent.String()); po != nil {
				if t := po.tables.get(name); t != nil && t.def == r.def {
					r.tables = append(r.tables, t)
					// Read only: no request writes the instances of a
					// path that ends with a table (Add creates new ones).
					r.objs = append(r.objs, t.sorted()...)
				}
			}
			continue
		}
		// A reference may point at objects of another kind than the first
		// one it reached; only those of the first kind count.
		if o := m.instByPath(f.String()); o != nil && o.def == r.def {
			r.objs = append(r.objs, o)
		}
	}
	r.missing = len(r.objs) == 0 && !r.search && !inTable
	return r, nil
}

// prefixText writes the partial path made of segs.
func prefixText(segs []datamodel.Segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.String())
		b.WriteByte('.')
	}
	return b.String()
}

// pathErr turns an error of Path.Resolve (an expression that does not suit
// a parameter's type) into the 7008 the agent answers.
func pathErr(path string, err error) *msg.Error {
	return msg.Errorf(msg.CodeInvalidPathSyntax, "%s: %v", path, err)
}

func (r *resolved) tables0Path() string {
	if r.def != nil {
		return strings.TrimSuffix(r.def.path, "{i}.")
	}
	return ""
}

// modelTree shows a Model's instances to datamodel's Path.Resolve. Callers
// hold m.mu.
type modelTree struct{ m *Model }

func (t modelTree) Instances(table string) ([]uint32, bool) {
	parent, name, ok := cutLastName(table)
	if !ok {
		return nil, false
	}
	po := t.m.peekPath(parent) // reads only: copies nothing under the write lock
	if po == nil {
		return nil, false
	}
	tb := po.tables.get(name)
	if tb == nil {
		if c := po.def.child(name); c != nil && c.multi {
			return nil, true // a table without instances yet
		}
		return nil, false
	}
	nums := make([]uint32, len(tb.inst))
	for i, e := range tb.inst {
		nums[i] = e.n
	}
	return nums, true
}

func (t modelTree) Value(param string) (string, datamodel.ValueType, bool) {
	i := strings.LastIndexByte(param, '.')
	if i < 0 {
		return "", datamodel.TypeUnknown, false
	}
	o := t.m.peekPath(param[:i+1])
	if o == nil {
		return "", datamodel.TypeUnknown, false
	}
	pd := o.def.param(param[i+1:])
	if pd == nil {
		return "", datamodel.TypeUnknown, false
	}
	return t.m.value(o, pd), pd.Type, true
}

// cutLastName splits "Device.WiFi.SSID." into "Device.WiFi." and "SSID".
func cutLastName(table string) (parent, name string, ok bool) {
	s := strings.TrimSuffix(table, ".")
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", "", false
	}
	return s[:i+1], s[i+1:], true
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
