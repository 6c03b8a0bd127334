package usptest

import (
	"maps"
	"slices"
)

// The instance trees of models made by [DefaultModel] share what they have
// not changed with the template (objInst.shared): a model starts with a
// copy of the template's root alone, and copies an instance when it first
// walks through it under its write lock (path copying). Everything below a
// shared instance is shared too, so a copy is made from the root down and
// the subtrees an agent never writes under cost it nothing.
//
// The walks go through single, member and members (and instByPath, which
// uses them): under the write lock (m.writing) they copy the shared
// instances they pass into their (already copied) parents, so a pointer a
// write transaction obtains is the model's own, and stays the same for the
// rest of the transaction. Reads under the read lock copy nothing. A table
// is copied with the instance holding it (it has no owner of its own).

// strictShare makes a write to a shared instance panic instead of being
// redirected to the model's own copy (see Model.mine): the package's tests
// set it, so that a walk that missed a copy shows.
var strictShare bool

// thaw returns a copy of the shared instance o that its model may write:
// its children and its tables' instances are still o's (shared), the
// slices and tables holding them are new. o's values are shared with the
// copy until either is written (see setVal).
func thaw(o *objInst) *objInst {
	c := &objInst{def: o.def, path: o.path, base: o.base, own: o.own, sharedOwn: o.own != nil}
	c.single = slices.Clone(o.single)
	if o.tables != nil {
		c.tables = make(tables, len(o.tables))
		for i, t := range o.tables {
			c.tables[i] = &table{def: t.def, path: t.path, next: t.next, inst: slices.Clone(t.inst)}
		}
	}
	return c
}

// freeze marks o and everything below it shared, values included. Only a
// tree nobody else reads yet may be frozen (the template, while it is
// built). The values an instance was given are folded into its base, so
// that a model writing one of its parameters starts an own slice of one
// value rather than copying the template's.
func freeze(o *objInst) {
	if o.shared {
		return
	}
	o.shared = true
	if len(o.own) > 0 {
		b := make(map[string]string, len(o.base)+len(o.own))
		maps.Copy(b, o.base)
		for _, v := range o.own {
			b[v.name] = v.value
		}
		o.base = b
	}
	o.own, o.sharedOwn = nil, false
	for _, c := range o.single {
		freeze(c)
	}
	for _, t := range o.tables {
		t.shared = true
		for _, e := range t.inst {
			freeze(e.o)
		}
	}
}

// frozenCopy returns a shared copy of the tree under o (a FactoryReset
// snapshot): the model's own instances are copied, the shared subtrees
// kept as they are. Callers hold m.mu for writing; the values of o's
// instances are marked shared with the copy.
func frozenCopy(o *objInst) *objInst {
	if o.shared {
		return o
	}
	o.sharedOwn = o.own != nil
	c := &objInst{def: o.def, path: o.path, base: o.base, own: o.own, sharedOwn: o.own != nil, shared: true}
	if o.single != nil {
		c.single = make(singles, len(o.single))
		for i, s := range o.single {
			c.single[i] = frozenCopy(s)
		}
	}
	if o.tables != nil {
		c.tables = make(tables, len(o.tables))
		for i, t := range o.tables {
			nt := &table{def: t.def, path: t.path, next: t.next, shared: true}
			if len(t.inst) > 0 {
				nt.inst = make(instSet, len(t.inst))
			}
			for j, e := range t.inst {
				nt.inst[j] = instEntry{n: e.n, o: frozenCopy(e.o)}
			}
			c.tables[i] = nt
		}
	}
	return c
}

// remapCopy deep-copies the tree under o onto the definitions moved gives
// (see Model.ownSchema), every instance a new one, shared or not as said.
// Callers hold m.mu for writing.
func remapCopy(o *objInst, moved map[*objDef]*objDef, shared bool) *objInst {
	if !o.shared {
		o.sharedOwn = o.own != nil
	}
	c := &objInst{def: moved[o.def], path: o.path, base: o.base, own: o.own, sharedOwn: o.own != nil, shared: shared}
	if o.single != nil {
		c.single = make(singles, len(o.single))
		for i, s := range o.single {
			c.single[i] = remapCopy(s, moved, shared)
		}
	}
	if o.tables != nil {
		c.tables = make(tables, len(o.tables))
		for i, t := range o.tables {
			nt := &table{def: moved[t.def], path: t.path, next: t.next, shared: shared}
			if len(t.inst) > 0 {
				nt.inst = make(instSet, len(t.inst))
			}
			for j, e := range t.inst {
				nt.inst[j] = instEntry{n: e.n, o: remapCopy(e.o, moved, shared)}
			}
			c.tables[i] = nt
		}
	}
	return c
}

// remapLive moves the model's tree under o onto the definitions moved gives
// (see Model.ownSchema): its own instances in place, so that pointers to
// them stay good, and copies of the shared ones.
func remapLive(o *objInst, moved map[*objDef]*objDef) *objInst {
	if o.shared {
		return remapCopy(o, moved, false)
	}
	o.def = moved[o.def]
	for i, c := range o.single {
		o.single[i] = remapLive(c, moved)
	}
	for _, t := range o.tables {
		t.def = moved[t.def]
		for i, e := range t.inst {
			t.inst[i].o = remapLive(e.o, moved)
		}
	}
	return o
}

// single returns o's single-instance child object name, nil if it has
// none. Under the write lock a shared child of o is first replaced by a
// copy, so that the caller may write it.
func (m *Model) single(o *objInst, name string) *objInst {
	for i, c := range o.single {
		if c.def.name != name {
			continue
		}
		if c.shared && m.writing && !o.shared {
			c = thaw(c)
			o.single[i] = c
		}
		return c
	}
	return nil
}

// member returns instance n of t, nil if there is none; under the write
// lock, the model's own (see single).
func (m *Model) member(t *table, n uint32) *objInst {
	i, ok := t.inst.find(n)
	if !ok {
		return nil
	}
	return m.entry(t, i)
}

// entry returns t's i-th instance; under the write lock, the model's own.
func (m *Model) entry(t *table, i int) *objInst {
	o := t.inst[i].o
	if o.shared && m.writing && !t.shared {
		o = thaw(o)
		t.inst[i].o = o
	}
	return o
}

// members returns t's instances in instance number order; under the write
// lock, the model's own (copying those still shared: walks that only read
// use table.sorted).
func (m *Model) members(t *table) []*objInst {
	out := make([]*objInst, len(t.inst))
	for i := range t.inst {
		out[i] = m.entry(t, i)
	}
	return out
}

// mine returns the instance a write to o must go to: o itself, which a
// walk under the write lock gave, or else the model's own copy at o's
// path (a throwaway copy if the model no longer has it). Callers hold
// m.mu for writing.
func (m *Model) mine(o *objInst) *objInst {
	if !o.shared {
		return o
	}
	if strictShare {
		panic("usptest: a write transaction holds the shared instance " + o.path)
	}
	if c := m.instByPath(o.path); c != nil && !c.shared {
		return c
	}
	return thaw(o)
}

// mineTable is mine for a table.
func (m *Model) mineTable(t *table) *table {
	if !t.shared {
		return t
	}
	if strictShare {
		panic("usptest: a write transaction holds the shared table " + t.path)
	}
	if parent, name, ok := cutLastName(t.path); ok {
		if o := m.instByPath(parent); o != nil && !o.shared {
			if own := o.tables.get(name); own != nil {
				return own
			}
		}
	}
	return &table{def: t.def, path: t.path, next: t.next, inst: slices.Clone(t.inst)}
}

// setVal sets a parameter of o in the model's own copy of o (see mine).
func (m *Model) setVal(o *objInst, name, value string) {
	m.mine(o).setVal(name, value)
}
