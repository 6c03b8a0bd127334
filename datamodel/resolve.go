package datamodel

import (
	"slices"
	"strings"
)

// InstanceTree is what Path.Resolve needs to know of an instantiated data
// model, such as the in-memory model of a fake Agent.
type InstanceTree interface {
	// Instances returns the instance numbers of the table at the concrete
	// object path table (e.g. "Device.LocalAgent.Controller."), in the order
	// they should be reported. ok is false if there is no such table.
	Instances(table string) (nums []uint32, ok bool)
	// Value returns the value and type of the parameter at the concrete path
	// param (e.g. "Device.LocalAgent.Controller.1.Enable"). ok is false if
	// there is no such parameter.
	Value(param string) (value string, typ ValueType, ok bool)
}

// maxRefDepth bounds reference following, which may loop in a bad data model.
const maxRefDepth = 8

// Resolve expands a path into the concrete paths it addresses in tree, the way
// an Agent resolves the paths of a request: wildcards become every instance,
// expressions the instances that match, instance numbers and unique keys the
// instance if it exists, and references are followed to the objects their
// values name ("+" the first, "#N+" the N-th, "#*+" every one). Names are not
// checked (a Schema does that); only instances and reference values are read
// from tree. The result keeps tree order and has no duplicates; it is empty
// when nothing matches.
//
// In expressions, a parameter reached through a reference
// ("SSIDReference+.SSID") follows the first (or N-th) reference; "#*+" is
// not supported there and makes the condition false. An expression that does
// not suit a parameter's type gives a *PathError with Code 7008 located in p.
// Dangling or malformed reference values resolve to nothing, as weak
// references may.
func (p Path) Resolve(tree InstanceTree) ([]Path, error) {
	if p.IsZero() {
		return nil, nil
	}
	r := resolver{tree: tree, p: p, seen: map[string]bool{}}
	if err := r.walk(0, "", 0); err != nil {
		return nil, err
	}
	return r.out, nil
}

type resolver struct {
	tree InstanceTree
	p    Path
	out  []Path
	seen map[string]bool
}

// walk resolves segments from i on, below the concrete partial path prefix
// ("" or ending with '.'). depth counts followed references.
func (r *resolver) walk(i int, prefix string, depth int) error {
	segs := r.p.segs
	if i == len(segs) {
		return r.emit(prefix, r.p.kind)
	}
	seg := segs[i]
	last := i == len(segs)-1
	switch {
	case seg.Kind == SegName && seg.Ref == RefNone:
		if last && !r.p.kind.IsPartial() {
			return r.emit(prefix+r.p.Leaf(), r.p.kind)
		}
		return r.walk(i+1, prefix+seg.Name+".", depth)
	case seg.Kind == SegName:
		if depth >= maxRefDepth {
			return nil
		}
		for _, target := range r.follow(prefix+seg.Name, seg.Ref, seg.RefIndex) {
			ps, err := r.targets(target, depth+1)
			if err != nil {
				return err
			}
			for _, t := range ps {
				if err := r.walk(i+1, t, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	nums, ok := r.tree.Instances(prefix)
	if !ok {
		return nil
	}
	for _, n := range nums {
		inst := prefix + FormatUnsignedInt(n) + "."
		switch seg.Kind {
		case SegInstance:
			if n != seg.Instance {
				continue
			}
		case SegExpr:
			match, err := seg.Expr.Eval(func(param string) (string, ValueType, bool) {
				return r.relValue(inst, param, depth)
			})
			if err != nil {
				return r.p.exprErr(i, err)
			}
			if !match {
				continue
			}
		}
		if err := r.walk(i+1, inst, depth); err != nil {
			return err
		}
	}
	return nil
}

func (r *resolver) emit(s string, kind PathKind) error {
	if r.seen[s] {
		return nil
	}
	p, err := Parse(s)
	if err != nil || p.kind != kind && !(kind.IsPartial() && p.kind.IsPartial()) {
		return nil // a reference value that made no sense; nothing to report
	}
	r.seen[s] = true
	r.out = append(r.out, p)
	return nil
}

// follow reads the reference parameter at param and returns the references
// selected by ref.
func (r *resolver) follow(param string, ref RefKind, idx uint32) []string {
	v, _, ok := r.tree.Value(param)
	if !ok {
		return nil
	}
	items := ParseList(v)
	items = slices.DeleteFunc(items, func(s string) bool { return s == "" })
	switch ref {
	case RefFirst:
		if len(items) > 0 {
			return items[:1]
		}
	case RefIndex:
		if int(idx) <= len(items) {
			return items[idx-1 : idx]
		}
	case RefAll:
		return items
	}
	return nil
}

// targets resolves a reference value (a path, possibly without its final '.'
// and possibly using unique keys) to the concrete object paths it names.
func (r *resolver) targets(ref string, depth int) ([]string, error) {
	if !strings.HasSuffix(ref, ".") {
		ref += "."
	}
	p, err := Parse(ref)
	if err != nil || p.IsSearch() && !onlyKeys(p) {
		return nil, nil
	}
	if p.IsConcrete() {
		if !r.exists(p) {
			return nil, nil
		}
		return []string{p.s}, nil
	}
	sub := resolver{tree: r.tree, p: p, seen: map[string]bool{}}
	if err := sub.walk(0, "", depth); err != nil {
		return nil, nil // a bad key in a stored reference is not the requester's fault
	}
	out := make([]string, 0, len(sub.out))
	for _, q := range sub.out {
		out = append(out, q.s)
	}
	return out, nil
}

// onlyKeys reports whether every expression of p is a conjunction of ==, the
// form of unique-key references (R-ARC.11); references never hold searches.
func onlyKeys(p Path) bool {
	for _, s := range p.segs {
		if s.Kind == SegWildcard {
			return false
		}
		if s.Kind == SegExpr {
			for _, c := range s.Expr.Conds {
				if c.Op != OpEq {
					return false
				}
			}
		}
	}
	return true
}

// exists checks that every instance number of a concrete path exists in tree.
func (r *resolver) exists(p Path) bool {
	for i, s := range p.segs {
		if s.Kind != SegInstance {
			continue
		}
		nums, ok := r.tree.Instances(p.prefix(i).s)
		if !ok || !slices.Contains(nums, s.Instance) {
			return false
		}
	}
	return true
}

// relValue reads an expression parameter relative to instance inst, following
// references in it.
func (r *resolver) relValue(inst, rel string, depth int) (string, ValueType, bool) {
	if !strings.ContainsAny(rel, "+#") {
		return r.tree.Value(inst + rel)
	}
	pr := pathParser{s: rel}
	base := inst
	for {
		start := pr.i
		if _, err := pr.name(); err != nil {
			return "", TypeUnknown, false
		}
		name := rel[start:pr.i]
		ref, idx, err := pr.refFollow()
		if err != nil {
			return "", TypeUnknown, false
		}
		if pr.i == len(rel) {
			return r.tree.Value(base + name)
		}
		pr.i++ // '.'
		if ref == RefNone {
			base += name + "."
			continue
		}
		if ref == RefAll || depth >= maxRefDepth {
			return "", TypeUnknown, false
		}
		refs := r.follow(base+name, ref, idx)
		if len(refs) == 0 {
			return "", TypeUnknown, false
		}
		ts, _ := r.targets(refs[0], depth+1)
		if len(ts) == 0 {
			return "", TypeUnknown, false
		}
		base, depth = ts[0], depth+1
	}
}
