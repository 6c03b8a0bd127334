package usptest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// DefaultDataModelURI is what GetSupportedDM reports as data_model_inst_uri
// unless [Model.SetDataModelURI] says otherwise (OB-USP-A's value).
const DefaultDataModelURI = "urn:broadband-forum-org:tr-181-2-12-0"

// Model is a data model: the supported objects, parameters, commands and
// events (its schema) and the instantiated objects with their values.
// An [Agent] serves one Model; tests read and change it through its methods,
// which are safe for concurrent use. Changes made through the Model reach
// the agent's subscribers as ValueChange, ObjectCreation and ObjectDeletion
// notifications, exactly as changes made by controllers do.
//
// Errors from its methods are *msg.Error values carrying the USP error code
// an agent would answer (7026 for a path not in the schema, 7011 for a value
// of the wrong type, ...), so errors.Is(err, msg.ErrInvalidPath) works.
type Model struct {
	mu       sync.RWMutex
	root     *objDef
	rootInst *objInst
	uri      string

	// pending collects what changed while mu is held; write hands it to
	// observer once mu is released.
	pending  []change
	observer func([]change)
	host     host
	owner    *Agent
	clock    func() time.Time
	started  time.Time

	// sharedSchema says that root (the supported data model) is shared
	// with other models, read-only: [DefaultModel] hands out copies of
	// one template that share its schema, so that a process simulating
	// thousands of agents keeps one. ownSchema copies it before a change.
	sharedSchema bool
	// factoryDue says that the agent started and its FactoryReset
	// snapshot is still the model itself: beforeWrite takes it before the
	// first change, which most simulated agents never make.
	factoryDue bool
	// access says that requests are checked against ControllerTrust
	// (WithAccessControl).
	access bool
	// writing says that mu is held for writing (see lock): the walks of
	// the instance tree then replace the shared instances they pass by
	// copies of the model's own (see Model.single).
	writing bool
}

// lock takes m.mu for writing; unlock releases it. Every write
// transaction takes the lock so, never with m.mu.Lock: the walks made
// under it must copy the instances shared with the template.
func (m *Model) lock() {
	m.mu.Lock()
	m.writing = true
}

func (m *Model) unlock() {
	m.writing = false
	m.mu.Unlock()
}

// beforeWrite takes the FactoryReset snapshot if it is due; every change
// to the instances calls it first, with m.mu held.
func (m *Model) beforeWrite() {
	if m.factoryDue && m.owner != nil {
		m.owner.factory = m.takeSnapshot()
		m.factoryDue = false
	}
}

// objInst is one object instance (or single-instance object).
type objInst struct {
	def  *objDef
	path string // "Device.WiFi.SSID.1."
	// A parameter's value is own's entry if it has one, else base's.
	// base is shared (the definition's defaults, or a copied instance's
	// base) and never written; own holds what was written since, which
	// for most instances of a simulated agent is nothing or a few
	// parameters: a copy of the whole map per written instance was a
	// tenth of an agent's memory. own is a slice, searched in turn: an
	// instance has a few dozen parameters at most, and a map of even one
	// entry costs some 300 bytes.
	base   map[string]string
	own    []ownVal
	single singles // by def name; slices, not maps: an agent holds many small ones
	tables tables
	// No pointer to the table holding the instance: [Model.tableOf] finds
	// it from the path, which keeps the struct in a smaller size class
	// (every agent has dozens) and leaves no parent pointer that a shared
	// subtree could not keep.
	// sharedOwn says that own is shared with a copy of this instance
	// (another model's, or a FactoryReset snapshot) and must be copied
	// before a write: see setVal.
	sharedOwn bool
	// shared says that the instance, and everything below it, belongs to
	// a tree other models read (the default template, or a FactoryReset
	// snapshot): it is never written. A model keeps such subtrees as they
	// are until it writes under them; the walks made under its write lock
	// then put a copy of its own in place of each shared instance they
	// pass (path copying: see Model.single), so that a pointer obtained in
	// a write transaction is always the model's own.
	shared bool
}

// singles are an instance's single-instance child objects.
type singles []*objInst

func (s singles) get(name string) *objInst {
	for _, c := range s {
		if c.def.name == name {
			return c
		}
	}
	return nil
}

// tables are an instance's child tables.
type tables []*table

func (ts tables) get(name string) *table {
	for _, t := range ts {
		if t.def.name == name {
			return t
		}
	}
	return nil
}

// setVal sets a parameter's value, copying own first if it is shared. o
// is the model's own (see objInst.shared): writers get it from
// [Model.mine].
func (o *objInst) setVal(name, value string) {
	if o.shared {
		panic("usptest: write to the shared instance " + o.path)
	}
	i := o.ownIndex(name)
	if i < 0 {
		if v, ok := o.base[name]; ok && v == value {
			return // what the instance reads already
		}
	}
	if o.sharedOwn {
		o.own, o.sharedOwn = slices.Clone(o.own), false
	}
	if i >= 0 {
		o.own[i].value = value
		return
	}
	o.own = append(o.own, ownVal{name, value})
}

// ownVal is a value an instance was given (see objInst.own).
type ownVal struct{ name, value string }

// ownIndex is where name is in own, -1 if it is not.
func (o *objInst) ownIndex(name string) int {
	for i := range o.own {
		if o.own[i].name == name {
			return i
		}
	}
	return -1
}

// val returns a parameter's value, "" if it has none.
func (o *objInst) val(name string) string {
	v, _ := o.lookup(name)
	return v
}

// lookup returns a parameter's value and whether it has one.
func (o *objInst) lookup(name string) (string, bool) {
	if i := o.ownIndex(name); i >= 0 {
		return o.own[i].value, true
	}
	v, ok := o.base[name]
	return v, ok
}

// table holds the instances of one multi-instance object under one parent.
type table struct {
	def  *objDef
	path string // "Device.WiFi.SSID."
	next uint32
	inst instSet // nil while empty: most tables of a simulated agent stay so
	// shared: the table belongs to a shared instance (see
	// objInst.shared); a table is copied with the instance holding it.
	shared bool
}

func (t *table) sorted() []*objInst {
	out := make([]*objInst, len(t.inst))
	for i, e := range t.inst {
		out[i] = e.o
	}
	return out
}

// instSet is a table's instances in instance-number order. A table holds
// a few instances, and every agent copies the template's tables: a sorted
// slice is a fraction of a map's size, and is iterated in order without
// sorting.
type instSet []instEntry

type instEntry struct {
	n uint32
	o *objInst
}

func (s instSet) find(n uint32) (int, bool) {
	return slices.BinarySearchFunc(s, n, func(e instEntry, n uint32) int { return cmp.Compare(e.n, n) })
}

// get returns instance n, nil if there is none.
func (s instSet) get(n uint32) *objInst {
	if i, ok := s.find(n); ok {
		return s[i].o
	}
	return nil
}

// put adds instance n, or replaces it.
func (s *instSet) put(n uint32, o *objInst) {
	i, ok := s.find(n)
	if ok {
		(*s)[i].o = o
		return
	}
	*s = slices.Insert(*s, i, instEntry{n: n, o: o})
}

// del removes instance n if it is there.
func (s *instSet) del(n uint32) {
	if i, ok := s.find(n); ok {
		*s = slices.Delete(*s, i, i+1)
	}
}

// changeKind says what a change reports.
type changeKind int

const (
	chValue changeKind = iota + 1
	chCreated
	chDeleted
	chEvent
	chOpComplete
)

// change is one thing subscribers may be told about.
type change struct {
	kind   changeKind
	path   string            // parameter, instance, event or command path
	value  string            // chValue
	keys   map[string]string // chCreated: unique keys; chEvent / chOpComplete: arguments
	cmdKey string            // chOpComplete
	err    *msg.Error        // chOpComplete failure
	to     string            // if set, only this controller is told (Periodic!)
}

// host is what the model needs from the agent serving it, for the commands
// that act on the agent itself (Reboot, FactoryReset, SendOnBoardRequest).
type host interface {
	reboot(cause, commandKey string, firmwareUpdated bool)
	factoryReset(commandKey string)
	onBoard(controllerPath string) error
	cancelRequest(requestPath string) error
}

// NewModel returns a model with the root object "Device." and nothing else.
func NewModel() *Model {
	m := &Model{uri: DefaultDataModelURI, clock: time.Now}
	m.root = &objDef{name: "Device", path: "Device."}
	m.rootInst = m.newInst(m.root, "Device.")
	m.started = m.clock()
	return m
}

// SetDataModelURI sets the data_model_inst_uri of GetSupportedDM responses.
func (m *Model) SetDataModelURI(uri string) {
	m.lock()
	m.uri = uri
	m.unlock()
}

// write runs f with the model locked for writing, then hands what changed to
// the observer, outside the lock.
func (m *Model) write(f func()) {
	m.lock()
	f()
	ch, obs := m.pending, m.observer
	m.pending = nil
	m.unlock()
	if obs != nil && len(ch) > 0 {
		obs(ch)
	}
}

func (m *Model) emit(c change) {
	if m.observer != nil {
		m.pending = append(m.pending, c)
	}
}

// newInst creates an instance of d at path with default values, its
// single-instance children and empty tables.
func (m *Model) newInst(d *objDef, path string) *objInst {
	o := &objInst{def: d, path: path, base: d.defaultValues()}
	// Sized once: grown by appends, the slices would keep their slack for
	// the instance's life.
	multi := 0
	for _, c := range d.children {
		if c.multi {
			multi++
		}
	}
	if multi > 0 {
		o.tables = make(tables, 0, multi)
	}
	if len(d.children) > multi {
		o.single = make(singles, 0, len(d.children)-multi)
	}
	for _, c := range d.children {
		m.addChild(o, c)
	}
	return o
}

func (m *Model) addChild(o *objInst, c *objDef) {
	o = m.mine(o)
	if c.multi {
		t := &table{def: c, path: o.path + c.name + ".", next: 1}
		if i := slices.IndexFunc(o.tables, func(x *table) bool { return x.def.name == c.name }); i >= 0 {
			o.tables[i] = t
		} else {
			o.tables = append(o.tables, t)
		}
		return
	}
	ci := m.newInst(c, o.path+c.name+".")
	if i := slices.IndexFunc(o.single, func(x *objInst) bool { return x.def.name == c.name }); i >= 0 {
		o.single[i] = ci
	} else {
		o.single = append(o.single, ci)
	}
}

// materialize adds a newly defined child object to every existing instance
// of its parent.
func (m *Model) materialize(c *objDef) {
	m.beforeWrite()
	if m.rootInst == nil {
		return
	}
	for _, o := range m.instancesOf(c.parent) {
		m.addChild(o, c)
	}
}

// instancesOf returns every instance of d.
func (m *Model) instancesOf(d *objDef) []*objInst {
	if d.parent == nil {
		return []*objInst{m.rootInst}
	}
	var out []*objInst
	for _, p := range m.instancesOf(d.parent) {
		if d.multi {
			if t := p.tables.get(d.name); t != nil {
				out = append(out, m.members(t)...)
			}
		} else if c := m.single(p, d.name); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// value returns the current value of parameter p of o.
func (m *Model) value(o *objInst, p *paramDef) string {
	if p.compute != nil {
		return p.compute(m, o)
	}
	if p.Access == datamodel.ParamWriteOnly {
		return "" // TR-369: write-only parameters read as empty
	}
	return o.val(p.name)
}

// computeDefaults attaches computed values: XNumberOfEntries counts the
// instances of table X, UpTime counts seconds since the agent started.
func (m *Model) computeDefaults(d *objDef) {
	if d == nil {
		return
	}
	for _, p := range d.params {
		if p.compute != nil {
			continue
		}
		if tname, ok := strings.CutSuffix(p.name, "NumberOfEntries"); ok {
			if c := d.child(tname); c != nil && c.multi {
				p.compute = func(_ *Model, o *objInst) string {
					if t := o.tables.get(tname); t != nil {
						return strconv.Itoa(len(t.inst))
					}
					return "0"
				}
			}
		}
		if p.name == "UpTime" && p.Type == datamodel.TypeUnsignedInt {
			p.compute = func(m *Model, _ *objInst) string {
				return strconv.FormatInt(int64(m.clock().Sub(m.started)/time.Second), 10)
			}
		}
	}
	for _, c := range d.children {
		m.computeDefaults(c)
	}
}

// instByPath returns the instance at a concrete object path, with or
// without its trailing dot; under the write lock, the model's own (see
// Model.single). It walks the tree rather than keeping an index
// of paths: a simulated agent's tree is a few levels deep, and an index
// would cost each of thousands of agents a map.
func (m *Model) instByPath(path string) *objInst {
	return m.walkPath(path, m.writing)
}

// peekPath is instByPath for a walk that only reads, which copies nothing
// even under the write lock: what it returns must not be written, nor
// compared with instances a write transaction holds.
func (m *Model) peekPath(path string) *objInst {
	return m.walkPath(path, false)
}

// walkPath is instByPath, copying the shared instances it passes if own
// is set (m.mu held for writing).
func (m *Model) walkPath(path string, own bool) *objInst {
	rest := strings.TrimSuffix(path, ".")
	o := m.rootInst
	seg, rest, more := strings.Cut(rest, ".")
	if o == nil || seg != o.def.name {
		return nil
	}
	for more {
		seg, rest, more = strings.Cut(rest, ".")
		if t := o.tables.get(seg); t != nil {
			if !more {
				return nil // a table, not an instance
			}
			seg, rest, more = strings.Cut(rest, ".")
			n, err := strconv.ParseUint(seg, 10, 32)
			if err != nil || seg[0] == '0' {
				return nil // instance numbers are written without leading zeros
			}
			if own {
				o = m.member(t, uint32(n))
			} else {
				o = t.inst.get(uint32(n))
			}
		} else if own {
			o = m.single(o, seg)
		} else {
			o = o.single.get(seg)
		}
		if o == nil {
			return nil
		}
	}
	return o
}

// lookupRel gives the value and type of a parameter named relative to an
// instance, as written in search expressions ("Enable", "Stats.Noise",
// "SSIDReference+.SSID").
func (m *Model) lookupRel(o *objInst, rel string) (string, datamodel.ValueType, bool) {
	parts := strings.Split(rel, ".")
	for _, name := range parts[:len(parts)-1] {
		if ref, ok := strings.CutSuffix(name, "+"); ok {
			p := o.def.param(ref)
			if p == nil {
				return "", 0, false
			}
			items := datamodel.ParseList(m.value(o, p))
			if len(items) == 0 {
				return "", 0, false
			}
			if o = m.peekPath(items[0]); o == nil {
				return "", 0, false
			}
			continue
		}
		if o = o.single.get(name); o == nil {
			return "", 0, false
		}
	}
	p := o.def.param(parts[len(parts)-1])
	if p == nil {
		return "", 0, false
	}
	return m.value(o, p), p.Type, true
}

// pathLess orders concrete paths as agents list instances: names by text,
// instance numbers by value.
func pathCompare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		if x == y {
			continue
		}
		xn, ex := strconv.ParseUint(x, 10, 32)
		yn, ey := strconv.ParseUint(y, 10, 32)
		if ex == nil && ey == nil {
			return cmp.Compare(xn, yn)
		}
		return strings.Compare(x, y)
	}
	return cmp.Compare(len(as), len(bs))
}

// leafErr builds the error for a path whose leaf or object is missing.
func invalidPath(format string, args ...any) *msg.Error {
	return msg.Errorf(msg.CodeInvalidPath, format, args...)
}

// parseConcrete parses a path that must consist only of names and
// instance numbers.
func parseConcrete(path string) (datamodel.Path, *msg.Error) {
	p, err := datamodel.Parse(path)
	if err != nil {
		return p, msg.Errorf(msg.CodeInvalidPathSyntax, "%v", err)
	}
	if !p.IsConcrete() {
		return p, invalidPath("%s: only names and instance numbers are allowed here", path)
	}
	return p, nil
}

// Get returns the value of a parameter given by its concrete path
// ("Device.DeviceInfo.SoftwareVersion").
func (m *Model) Get(path string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	o, p, err := m.concreteParam(path)
	if err != nil {
		return "", err
	}
	return m.value(o, p), nil
}

// concreteParam finds the instance and definition of a concrete parameter
// path.
func (m *Model) concreteParam(path string) (*objInst, *paramDef, *msg.Error) {
	p, err := parseConcrete(path)
	if err != nil {
		return nil, nil, err
	}
	if p.Kind() != datamodel.KindParam {
		return nil, nil, invalidPath("%s is not a parameter path", path)
	}
	obj, leaf := p.Split()
	o := m.instByPath(obj.String())
	if o == nil {
		if m.defOf(p, p.Len()-1) == nil {
			return nil, nil, invalidPath("%s is not in the supported data model", path)
		}
		return nil, nil, msg.Errorf(msg.CodeObjectNotFound, "object %s does not exist", obj)
	}
	pd := o.def.param(leaf)
	if pd == nil {
		return nil, nil, msg.Errorf(msg.CodeUnsupportedParam, "%s is not in the supported data model", path)
	}
	return o, pd, nil
}

// Values returns the parameters at and below a path as full path -> value.
// The path may be any path a Get accepts: a parameter, an object, a table,
// wildcards and search expressions.
func (m *Model) Values(path string) (map[string]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rs, err := m.getPath(path, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rs {
		for k, v := range r.Params {
			out[r.Path+k] = v
		}
	}
	return out, nil
}

// Set changes a parameter given by its concrete path. It checks the value
// against the parameter's type and allowed values but not its access, so
// tests can change read-only parameters (counters, statuses). A new value
// is reported to ValueChange subscribers. Computed parameters
// (XNumberOfEntries, UpTime) keep their computed value.
func (m *Model) Set(path, value string) error {
	var err *msg.Error
	m.write(func() {
		var o *objInst
		var p *paramDef
		if o, p, err = m.concreteParam(path); err != nil {
			return
		}
		if err = m.checkValue(o, p, value); err != nil {
			return
		}
		m.setValue(o, p, value)
	})
	if err != nil {
		return err
	}
	return nil
}

// setValue stores a value and reports it if it changed.
func (m *Model) setValue(o *objInst, p *paramDef, value string) {
	m.beforeWrite()
	if p.compute != nil {
		return
	}
	if old, ok := o.lookup(p.name); ok && old == value {
		return
	}
	m.setVal(o, p.name, value)
	m.emit(change{kind: chValue, path: o.path + p.name, value: value})
}

// checkValue checks a value against a parameter's type, allowed values and
// validation function.
func (m *Model) checkValue(o *objInst, p *paramDef, value string) *msg.Error {
	full := o.path + p.name
	if err := datamodel.ValidateValue(p.Type, value); err != nil {
		return msg.Errorf(msg.CodeInvalidType, "%s: expected %s (got %q)", full, p.Type, value)
	}
	if p.name == "Alias" && value != "" && !unicode.IsLetter(rune(value[0])) {
		// TR-181's Alias data type: the value starts with a letter.
		return msg.Errorf(msg.CodeInvalidValue, "%s: an Alias starts with a letter (got %q)", full, value)
	}
	if len(p.Enum) > 0 {
		items := []string{value}
		if p.List {
			items = datamodel.ParseList(value)
		}
		for _, it := range items {
			if !slices.Contains(p.Enum, it) {
				return msg.Errorf(msg.CodeInvalidValue, "%s: %q is not one of %s", full, it, strings.Join(p.Enum, ", "))
			}
		}
	}
	if p.Validate != nil {
		if err := p.Validate(value); err != nil {
			if c := msg.CodeOf(err); c != 0 {
				return &msg.Error{Code: c, Message: err.Error()}
			}
			return msg.Errorf(msg.CodeInvalidValue, "%s: %v", full, err)
		}
	}
	return nil
}

// AddInstance creates an instance of a table ("Device.Hosts.Host.") with
// the given parameter values (names relative to the instance; missing ones
// take their defaults) and returns its path ("Device.Hosts.Host.3.").
// Values are checked against their types and unique keys, but access rules
// are not applied. ObjectCreation subscribers are told.
func (m *Model) AddInstance(tablePath string, values map[string]string) (string, error) {
	var path string
	var err *msg.Error
	m.write(func() {
		var t *table
		if t, err = m.tableByPath(tablePath); err != nil {
			return
		}
		var o *objInst
		o, err = m.createChecked(t, 0, values)
		if o != nil {
			path = o.path
		}
	})
	if err != nil {
		return "", err
	}
	return path, nil
}

// tableByPath finds a table from its concrete path ("Device.Hosts.Host.").
func (m *Model) tableByPath(path string) (*table, *msg.Error) {
	p, err := parseConcrete(path)
	if err != nil {
		return nil, err
	}
	if p.Kind() != datamodel.KindObject {
		return nil, invalidPath("%s is not a table path", path)
	}
	parent, name := p.Parent(), p.Segment(p.Len()-1).Name
	if parent.IsZero() {
		return nil, msg.Errorf(msg.CodeNotATable, "%s is not a table", path)
	}
	o := m.instByPath(parent.String())
	if o == nil {
		if m.defOf(p, p.Len()) == nil {
			return nil, invalidPath("%s is not in the supported data model", path)
		}
		return nil, msg.Errorf(msg.CodeObjectNotFound, "object %s does not exist", parent)
	}
	t := o.tables.get(name)
	if t == nil {
		if o.def.child(name) != nil {
			return nil, msg.Errorf(msg.CodeNotATable, "%s is not a table", path)
		}
		return nil, invalidPath("%s is not in the supported data model", path)
	}
	return t, nil
}

// createChecked validates values and creates an instance numbered n (0: the
// next free number).
func (m *Model) createChecked(t *table, n uint32, values map[string]string) (*objInst, *msg.Error) {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		p := relParam(t.def, name)
		if p == nil {
			return nil, msg.Errorf(msg.CodeUnsupportedParam, "%s{i}.%s is not in the supported data model", t.path, name)
		}
		if err := datamodel.ValidateValue(p.Type, values[name]); err != nil {
			return nil, msg.Errorf(msg.CodeInvalidType, "%s{i}.%s: expected %s (got %q)", t.path, name, p.Type, values[name])
		}
	}
	if n != 0 && t.inst.get(n) != nil {
		return nil, msg.Errorf(msg.CodeObjectNotCreated, "%s%d. already exists", t.path, n)
	}
	if n == 0 {
		n = m.nextNumber(t)
	}
	if err := m.checkUnique(t, nil, n, values); err != nil {
		return nil, err
	}
	return m.create(t, n, values), nil
}

// nextNumber returns the number the next instance of t gets: one above
// the highest used so far, or the lowest free one for tables that reuse
// numbers (and once numbers run out at 2^32-1).
func (m *Model) nextNumber(t *table) uint32 {
	if !t.def.reuseNumbers && t.next != 0 && t.inst.get(t.next) == nil {
		return t.next
	}
	for n := uint32(1); n != 0; n++ {
		if t.inst.get(n) == nil {
			return n
		}
	}
	return 0 // 2^32-1 instances: unreachable in practice
}

// create makes instance n of t (0: the next number) with values (already checked), fills Alias
// with "cpe-N" when the table has one and none was given, and reports the
// creation.
func (m *Model) create(t *table, n uint32, values map[string]string) *objInst {
	m.beforeWrite()
	t = m.mineTable(t)
	if n == 0 {
		n = m.nextNumber(t)
	}
	if n == 0 { // instance numbers start at 1: 0 asks for the next one
		n = m.nextNumber(t)
	}
	o := m.newInst(t.def, t.path+strconv.FormatUint(uint64(n), 10)+".")
	// own sized once, room for Alias: appended one by one it grows by
	// doubling and keeps the slack for the instance's life.
	o.own = make([]ownVal, 0, len(values)+1)
	for k, v := range values {
		setRel(o, k, v)
	}
	if p := t.def.param("Alias"); p != nil && o.val("Alias") == "" {
		o.setVal("Alias", "cpe-"+strconv.FormatUint(uint64(n), 10))
	}
	t.inst.put(n, o)
	if n >= t.next {
		t.next = n + 1 // wraps to 0 after 2^32-1; nextNumber then searches
	}
	m.emit(change{kind: chCreated, path: o.path, keys: m.uniqueKeys(o)})
	return o
}

// uniqueKeys returns the values of o's unique key parameters.
func (m *Model) uniqueKeys(o *objInst) map[string]string {
	keys := o.def.keyParams()
	if len(keys) == 0 {
		return nil
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = m.value(o, o.def.param(k))
	}
	return out
}

// checkUnique fails with 7025 when an instance of t other than self would
// have the same values as another for every parameter of a unique key set.
// values are the new values (merged over self's, or over the defaults when
// self is nil).
func (m *Model) checkUnique(t *table, self *objInst, n uint32, values map[string]string) *msg.Error {
	return m.checkUniqueStaged(t, self, n, values, nil)
}

// checkUniqueStaged is checkUnique when other instances have values staged
// by the same request but not stored yet.
func (m *Model) checkUniqueStaged(t *table, self *objInst, n uint32, values map[string]string, staged map[*objInst]map[string]string) *msg.Error {
	get := func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		if self != nil {
			return self.val(name)
		}
		if name == "Alias" {
			return "cpe-" + strconv.FormatUint(uint64(n), 10)
		}
		if p := t.def.param(name); p != nil {
			return p.Default
		}
		return ""
	}
	for _, set := range t.def.uniqueKeys {
		mine := make([]string, len(set))
		empty := false
		for i, k := range set {
			mine[i] = get(k)
			empty = empty || mine[i] == ""
		}
		if empty {
			continue
		}
		for _, e := range t.inst {
			other := e.o
			if other == self {
				continue
			}
			same := true
			for i, k := range set {
				v, ok := staged[other][k]
				if !ok {
					v = other.val(k)
				}
				if v != mine[i] {
					same = false
					break
				}
			}
			if !same {
				continue
			}
			blame := blameKey(t.def, set, values)
			return &msg.Error{
				Code:      msg.CodeDuplicateKey,
				Message:   fmt.Sprintf("unique key %s is already used by %s", strings.Join(set, "+"), other.path),
				ParamErrs: []msg.ParamError{{Path: t.path + "{i}." + blame, Code: msg.CodeDuplicateKey}},
			}
		}
	}
	return nil
}

// blameKey picks the parameter of a unique key set to name in a 7025
// error: the first the request set that a controller may write (for a
// Subscription, ID rather than the agent-assigned Recipient).
func blameKey(d *objDef, set []string, values map[string]string) string {
	for _, k := range set {
		if _, given := values[k]; given {
			if p := d.param(k); p != nil && p.Access.Writable() {
				return k
			}
		}
	}
	for _, k := range set {
		if _, given := values[k]; given {
			return k
		}
	}
	return set[0]
}

// DeleteInstance deletes an instance ("Device.Hosts.Host.3.") and
// everything below it, whatever the table's access. ObjectDeletion
// subscribers are told.
func (m *Model) DeleteInstance(path string) error {
	var err *msg.Error
	m.write(func() {
		o := m.instByPath(path)
		if o == nil || !o.def.multi {
			err = msg.Errorf(msg.CodeObjectNotFound, "no instance %s", path)
			return
		}
		m.remove(o)
	})
	if err != nil {
		return err
	}
	return nil
}

// tableOf returns the table holding instance o and o's number, found from
// o's path in m's tree ("Device.WiFi.SSID.3." is instance 3 of the table
// "SSID" of "Device.WiFi."); nil for a single-instance object or a path
// m does not have.
func (m *Model) tableOf(o *objInst) (*table, uint32) {
	if !o.def.multi {
		return nil, 0
	}
	full := strings.TrimSuffix(o.path, ".")
	i := strings.LastIndexByte(full, '.')
	if i < 0 {
		return nil, 0
	}
	n, err := strconv.ParseUint(full[i+1:], 10, 32)
	if err != nil {
		return nil, 0
	}
	j := strings.LastIndexByte(full[:i], '.')
	if j < 0 {
		return nil, 0
	}
	parent := m.instByPath(full[:j+1])
	if parent == nil {
		return nil, 0
	}
	t := parent.tables.get(o.def.name)
	if t == nil {
		return nil, 0
	}
	return t, uint32(n)
}

// remove deletes instance o from its table.
func (m *Model) remove(o *objInst) {
	m.beforeWrite()
	t, n := m.tableOf(o)
	if t == nil {
		return
	}
	t = m.mineTable(t)
	t.inst.del(n)
	m.emit(change{kind: chDeleted, path: o.path})
	if o.def.path == "Device.LocalAgent.Controller.{i}." {
		m.removeSubscriptionsOf(o.path)
	}
}

// removeSubscriptionsOf deletes the Subscriptions whose Recipient is a
// deleted Controller: TR-181 has them go with it (TP-469 1.78).
func (m *Model) removeSubscriptionsOf(ctrl string) {
	la := m.instByPath("Device.LocalAgent.")
	if la == nil {
		return
	}
	subs := la.tables.get("Subscription")
	if subs == nil {
		return
	}
	for _, s := range subs.sorted() {
		if r := s.val("Recipient"); r != "" && strings.TrimSuffix(r, ".") == strings.TrimSuffix(ctrl, ".") {
			m.remove(s)
		}
	}
}

// Instances returns the paths of the instances of a table
// ("Device.WiFi.SSID."), in instance number order.
func (m *Model) Instances(tablePath string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, err := m.tableByPath(tablePath)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range t.sorted() {
		out = append(out, o.path)
	}
	return out, nil
}

// LoadValues sets parameters given by concrete paths, creating the
// instances they name ("Device.WiFi.SSID.3.SSID" creates SSID.3 if
// needed). Values are checked against their types; nothing is reported to
// subscribers, so LoadValues suits seeding a model before the agent starts.
func (m *Model) LoadValues(values map[string]string) error {
	m.lock()
	defer m.unlock()
	// Sorted so that instances are created in a predictable order.
	for _, path := range slices.SortedFunc(maps.Keys(values), pathCompare) {
		if err := m.load(path, values[path]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Model) load(path, value string) error {
	m.beforeWrite()
	p, err := parseConcrete(path)
	if err != nil {
		return err
	}
	if p.Kind() != datamodel.KindParam {
		return invalidPath("%s is not a parameter path", path)
	}
	o := m.rootInst
	if p.Segment(0).Name != "Device" {
		return invalidPath("%s does not start with Device.", path)
	}
	for i := 1; i < p.Len()-1; i++ {
		s := p.Segment(i)
		if t := o.tables.get(s.Name); t != nil {
			if i+1 >= p.Len()-1 || p.Segment(i+1).Kind != datamodel.SegInstance {
				return invalidPath("%s: %s needs an instance number", path, s.Name)
			}
			i++
			n := p.Segment(i).Instance
			c := m.member(t, n)
			if c == nil {
				obs := m.observer
				m.observer = nil // seeding is not news
				c = m.create(t, n, nil)
				m.observer = obs
			}
			o = c
			continue
		}
		c := m.single(o, s.Name)
		if c == nil {
			return invalidPath("%s is not in the supported data model", path)
		}
		o = c
	}
	pd := o.def.param(p.Leaf())
	if pd == nil {
		return msg.Errorf(msg.CodeUnsupportedParam, "%s is not in the supported data model", path)
	}
	if err := m.checkValue(o, pd, value); err != nil {
		return err
	}
	m.setVal(o, pd.name, value)
	return nil
}

// snapshot is the instances as they were, for FactoryReset: a shared
// tree (see objInst.shared), which keeps the model's shared subtrees as
// they are.
type snapshot struct {
	root *objInst
}

func (m *Model) takeSnapshot() snapshot {
	return snapshot{root: frozenCopy(m.rootInst)}
}

// restore replaces the instances with s's, silently.
func (m *Model) restore(s snapshot) {
	m.rootInst = thaw(s.root)
}

// cloneShared returns a new model with m's instances and values, sharing
// m's schema (read-only until [Model.ownSchema]) and instance tree (see
// objInst.shared). m must have been frozen, and must not change any more:
// it is a template.
func (m *Model) cloneShared() *Model {
	c := &Model{root: m.root, uri: m.uri, clock: time.Now, sharedSchema: true}
	c.rootInst = thaw(m.rootInst)
	c.started = c.clock()
	return c
}

// ownSchema gives the model a schema of its own before it changes it, if
// it shares one; callers hold m.mu for writing. Instances (and the agent's
// FactoryReset snapshot) are moved to the copy: none of them is shared with
// the template afterwards.
func (m *Model) ownSchema() {
	if !m.sharedSchema {
		return
	}
	m.sharedSchema = false
	moved := map[*objDef]*objDef{}
	m.root = copyDef(m.root, nil, moved)
	m.rootInst = remapLive(m.rootInst, moved)
	if m.owner != nil && m.owner.factory.root != nil {
		m.owner.factory.root = remapCopy(m.owner.factory.root, moved, true)
	}
}

// copyDef deep-copies the object definition d and everything below it,
// recording which copy replaces which definition in moved.
func copyDef(d, parent *objDef, moved map[*objDef]*objDef) *objDef {
	defaultsMu.Lock() // d.defaults may be being built for another model
	c := *d
	defaultsMu.Unlock()
	c.parent = parent
	c.defaults = nil // built again for the copy, which may change
	c.children = make([]*objDef, len(d.children))
	c.params = make([]*paramDef, len(d.params))
	c.commands = make([]*cmdDef, len(d.commands))
	c.events = make([]*eventDef, len(d.events))
	moved[d] = &c
	for i, p := range d.params {
		cp := *p
		c.params[i] = &cp
	}
	for i, cmd := range d.commands {
		cc := *cmd
		c.commands[i] = &cc
	}
	for i, e := range d.events {
		ce := *e
		c.events[i] = &ce
	}
	for i, ch := range d.children {
		c.children[i] = copyDef(ch, &c, moved)
	}
	return &c
}
