package usptest

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// ParamDef describes a parameter of the supported data model.
type ParamDef struct {
	// Type is the TR-106 type; Set and Add reject values not of this type
	// with error 7011.
	Type datamodel.ValueType
	// Access says whether controllers may write the parameter. The zero
	// value is read-only. Tests can change read-only parameters through
	// [Model.Set].
	Access datamodel.ParamAccess
	// Default is the value of the parameter in a new instance.
	Default string
	// Enum, when not empty, lists the values the parameter accepts (each
	// item of a list-valued parameter must be one of them); others fail with
	// error 7012.
	Enum []string
	// List marks a comma-separated list-valued parameter, for Enum checks.
	List bool
	// Validate, when set, checks a value of the right type and returns an
	// error to reject it (error 7012, or the code of a *msg.Error).
	Validate func(value string) error
	// ValueChange is reported in GetSupportedDM. The zero value
	// (VALUE_CHANGE_UNKNOWN) is reported as VALUE_CHANGE_ALLOWED, as
	// OB-USP-A does for every parameter.
	ValueChange datamodel.ValueChange
	// WriteOnce marks a writeOnceReadOnly parameter (TR-181): a controller
	// gives it a value in the Add that creates the object, and a Set of it
	// fails with error 7013 (TP-469 1.96, 1.104).
	WriteOnce bool
	// Secured marks a parameter with TR-181's secured attribute (a
	// password, a key). With access control on ([WithAccessControl]) a
	// controller none of whose roles is listed in
	// Device.LocalAgent.ControllerTrust.SecuredRoles reads it as an empty
	// string (TP-469 2.27); without access control everyone reads it.
	Secured bool
}

// CommandFunc runs a command. path is the concrete command path
// ("Device.IP.Diagnostics.IPPing()"), args its input arguments. It returns
// the output arguments, or an error: a *msg.Error keeps its code, any other
// error becomes 7022 (command failure). ctx ends when the agent closes;
// [CommandKey] and [Originator] read more about the call from it.
//
// Handlers may use the [Model] (to create instances, change values), but
// synchronous handlers must not wait on the agent's own traffic: the agent
// answers one request at a time.
type CommandFunc func(ctx context.Context, path string, args map[string]string) (map[string]string, error)

// CommandDef describes a command of the supported data model.
type CommandDef struct {
	// Async makes the command asynchronous: Operate answers at once with a
	// Device.LocalAgent.Request.{i} path and the result comes in an
	// OperationComplete notification.
	Async bool
	// Inputs and Outputs name the arguments, as reported in GetSupportedDM.
	// An Operate with an input argument not listed fails with 7027.
	Inputs  []string
	Outputs []string
	// Check, when set, validates the input arguments before the command
	// starts; its error is the Operate result (7027 when not a *msg.Error).
	// For asynchronous commands this is the only way to fail in OperateResp.
	Check func(path string, args map[string]string) error
	// Run does the work; nil succeeds at once with no output arguments.
	Run CommandFunc
}

// objDef is one object of the supported data model.
type objDef struct {
	name       string // last name, "" for the root's parent
	path       string // supported path, "Device.WiFi.SSID.{i}."
	multi      bool
	access     datamodel.ObjectAccess
	parent     *objDef
	children   []*objDef
	params     []*paramDef
	commands   []*cmdDef
	events     []*eventDef
	uniqueKeys [][]string
	// reuseNumbers gives new instances the lowest free number, as agents do
	// for Device.LocalAgent.Request.{i}.
	reuseNumbers bool
	// defaults is the values of a new instance, built on first use and
	// shared read-only by every instance created with them (copied on
	// write, see objInst.base), across the models sharing this
	// definition. Guarded by defaultsMu: definitions are shared between
	// models whose own locks do not exclude each other.
	defaults map[string]string
}

var defaultsMu sync.Mutex

// defaultValues returns the values of a new instance of d, shared: the
// caller must mark the instance's values shared.
func (d *objDef) defaultValues() map[string]string {
	defaultsMu.Lock()
	defer defaultsMu.Unlock()
	if d.defaults == nil {
		d.defaults = make(map[string]string, len(d.params))
		for _, p := range d.params {
			d.defaults[p.name] = p.Default
		}
	}
	return d.defaults
}

// forgetDefaults drops the shared defaults after a change to d's
// parameters; instances holding the old map keep it (they copy it before
// their first write).
func (d *objDef) forgetDefaults() {
	defaultsMu.Lock()
	d.defaults = nil
	defaultsMu.Unlock()
}

type paramDef struct {
	name string
	ParamDef
	compute func(m *Model, o *objInst) string // for UpTime and NumberOfEntries
}

type cmdDef struct {
	name string // with "()"
	CommandDef
}

type eventDef struct {
	name string // with "!"
	args []string
}

func (d *objDef) child(name string) *objDef {
	for _, c := range d.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (d *objDef) param(name string) *paramDef {
	for _, p := range d.params {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (d *objDef) command(name string) *cmdDef {
	for _, c := range d.commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (d *objDef) event(name string) *eventDef {
	for _, e := range d.events {
		if e.name == name {
			return e
		}
	}
	return nil
}

// keyParams returns the names of every parameter in a unique key set,
// in definition order.
func (d *objDef) keyParams() []string {
	var out []string
	for _, p := range d.params {
		for _, set := range d.uniqueKeys {
			if slices.Contains(set, p.name) {
				out = append(out, p.name)
				break
			}
		}
	}
	return out
}

// defineObject returns the definition of the object at supported path
// (ending in "."), creating it and its missing ancestors. Callers hold m.mu.
func (m *Model) defineObject(path string) (*objDef, error) {
	p, err := datamodel.Parse(path)
	if err != nil {
		return nil, err
	}
	if !p.Kind().IsPartial() {
		return nil, fmt.Errorf("usptest: %q is not an object path", path)
	}
	return m.defineSegs(p, p.Len())
}

// defineSegs walks the first n segments of a supported path, creating
// objects as needed.
func (m *Model) defineSegs(p datamodel.Path, n int) (*objDef, error) {
	if n == 0 || p.Segment(0).Kind != datamodel.SegName || p.Segment(0).Name != "Device" {
		return nil, fmt.Errorf("usptest: %q: a path must start with \"Device.\"", p)
	}
	d := m.root
	for i := 1; i < n; i++ {
		s := p.Segment(i)
		switch s.Kind {
		case datamodel.SegName:
			if s.Ref != datamodel.RefNone {
				return nil, fmt.Errorf("usptest: %q: reference following in a definition", p)
			}
			c := d.child(s.Name)
			if c == nil {
				if d.param(s.Name) != nil {
					return nil, fmt.Errorf("usptest: %q: %s is a parameter", p, s.Name)
				}
				c = &objDef{name: s.Name, parent: d, path: d.path + s.Name + "."}
				multi := i+1 < n && p.Segment(i+1).Kind == datamodel.SegPlaceholder
				if multi {
					c.multi = true
					c.path += "{i}."
				}
				d.children = append(d.children, c)
				m.materialize(c)
			}
			if i+1 < n && p.Segment(i+1).Kind == datamodel.SegPlaceholder {
				if !c.multi {
					return nil, fmt.Errorf("usptest: %q: %s is a single-instance object", p, s.Name)
				}
				i++
			} else if c.multi {
				return nil, fmt.Errorf("usptest: %q: %s is a table (write %s.{i}. for its instances)", p, s.Name, s.Name)
			}
			d = c
		default:
			return nil, fmt.Errorf("usptest: %q: only names and {i} are allowed in a supported path", p)
		}
	}
	return d, nil
}

// splitLeaf parses a supported parameter, command or event path and returns
// the definition of its object (created if needed) and the leaf name.
func (m *Model) splitLeaf(path string, want datamodel.PathKind) (*objDef, string, error) {
	p, err := datamodel.Parse(path)
	if err != nil {
		return nil, "", err
	}
	if p.Kind() != want {
		return nil, "", fmt.Errorf("usptest: %q is not a %s path", path, want)
	}
	d, err := m.defineSegs(p, p.Len()-1)
	if err != nil {
		return nil, "", err
	}
	return d, p.Leaf(), nil
}

// DefineObject adds an object to the supported data model, with its missing
// ancestors. path is a supported path: "Device.WiFi." for a single-instance
// object, "Device.WiFi.SSID.{i}." for a table. access says what controllers
// may do with a table's instances (tables defined implicitly, as ancestors,
// are read-only); uniqueKeys lists its unique key sets, each a list of
// parameter names. Defining an existing object updates its access and keys.
func (m *Model) DefineObject(path string, access datamodel.ObjectAccess, uniqueKeys ...[]string) error {
	m.lock()
	defer m.unlock()
	m.ownSchema()
	d, err := m.defineObject(path)
	if err != nil {
		return err
	}
	if !d.multi && access != datamodel.ObjReadOnly {
		return fmt.Errorf("usptest: %q: only tables have an access other than read-only", path)
	}
	d.access = access
	d.uniqueKeys = nil
	for _, set := range uniqueKeys {
		if len(set) > 0 {
			d.uniqueKeys = append(d.uniqueKeys, slices.Clone(set))
		}
	}
	m.computeDefaults(d.parent)
	return nil
}

// DefineParam adds a parameter to the supported data model ("Device.WiFi.
// SSID.{i}.SSID"), creating its object if needed. Existing instances get
// the default value. Defining an existing parameter replaces its
// definition.
func (m *Model) DefineParam(path string, def ParamDef) error {
	m.lock()
	defer m.unlock()
	m.ownSchema()
	d, name, err := m.splitLeaf(path, datamodel.KindParam)
	if err != nil {
		return err
	}
	if d.child(name) != nil {
		return fmt.Errorf("usptest: %q: %s is an object", path, name)
	}
	if err := datamodel.ValidateValue(def.Type, def.Default); err != nil && def.Default != "" {
		return fmt.Errorf("usptest: %q: default value: %w", path, err)
	}
	def.Enum = slices.Clone(def.Enum)
	pd := &paramDef{name: name, ParamDef: def}
	if old := d.param(name); old != nil {
		pd.compute = old.compute
		*old = *pd
	} else {
		d.params = append(d.params, pd)
	}
	d.forgetDefaults()
	m.beforeWrite()
	for _, o := range m.instancesOf(d) {
		if _, ok := o.lookup(name); !ok {
			m.setVal(o, name, def.Default)
		}
	}
	m.computeDefaults(d)
	return nil
}

// DefineCommand adds a command ("Device.IP.Diagnostics.IPPing()") to the
// supported data model, or replaces its definition.
func (m *Model) DefineCommand(path string, def CommandDef) error {
	m.lock()
	defer m.unlock()
	m.ownSchema()
	d, name, err := m.splitLeaf(path, datamodel.KindCommand)
	if err != nil {
		return err
	}
	def.Inputs, def.Outputs = slices.Clone(def.Inputs), slices.Clone(def.Outputs)
	if c := d.command(name); c != nil {
		c.CommandDef = def
		return nil
	}
	d.commands = append(d.commands, &cmdDef{name: name, CommandDef: def})
	return nil
}

// HandleCommand replaces the Run function of a defined command, e.g. to
// make Device.Reboot() fail in one test.
func (m *Model) HandleCommand(path string, run CommandFunc) error {
	m.lock()
	defer m.unlock()
	m.ownSchema()
	p, err := datamodel.Parse(path)
	if err != nil {
		return err
	}
	if p.Kind() != datamodel.KindCommand {
		return fmt.Errorf("usptest: %q is not a command path", path)
	}
	d := m.defOf(p, p.Len()-1)
	if d == nil || d.command(p.Leaf()) == nil {
		return fmt.Errorf("usptest: command %q is not defined", path)
	}
	d.command(p.Leaf()).Run = run
	return nil
}

// DefineEvent adds an event ("Device.LocalAgent.TransferComplete!") and the
// names of its arguments to the supported data model.
func (m *Model) DefineEvent(path string, args ...string) error {
	m.lock()
	defer m.unlock()
	m.ownSchema()
	d, name, err := m.splitLeaf(path, datamodel.KindEvent)
	if err != nil {
		return err
	}
	if e := d.event(name); e != nil {
		e.args = slices.Clone(args)
		return nil
	}
	d.events = append(d.events, &eventDef{name: name, args: slices.Clone(args)})
	return nil
}

// defOf returns the definition of the object addressed by the first n
// segments of p (instance identifiers of any kind allowed), or nil.
func (m *Model) defOf(p datamodel.Path, n int) *objDef {
	if n == 0 || p.Segment(0).Name != "Device" {
		return nil
	}
	d := m.root
	for i := 1; i < n; i++ {
		s := p.Segment(i)
		if s.Kind != datamodel.SegName {
			continue
		}
		if d = d.child(s.Name); d == nil {
			return nil
		}
	}
	return d
}

// DefineSupportedDM loads the objects of a GetSupportedDM response into the
// supported data model, so that a test agent can mimic a real device's
// schema. Commands get no handler: they succeed with no output arguments
// until [Model.HandleCommand] gives them one.
func (m *Model) DefineSupportedDM(objs []msg.SupportedObject) error {
	for _, o := range objs {
		var keys [][]string
		keys = append(keys, o.UniqueKeySets...)
		if err := m.DefineObject(o.Path, datamodel.ObjectAccess(o.Access), keys...); err != nil {
			return err
		}
		for _, p := range o.Params {
			err := m.DefineParam(o.Path+p.Name, ParamDef{
				Type:        datamodel.ValueType(p.Type),
				Access:      datamodel.ParamAccess(p.Access),
				ValueChange: datamodel.ValueChange(p.ValueChange),
			})
			if err != nil {
				return err
			}
		}
		for _, c := range o.Commands {
			err := m.DefineCommand(o.Path+c.Name, CommandDef{
				Async: c.Type == msg.CmdAsync, Inputs: c.Inputs, Outputs: c.Outputs,
			})
			if err != nil {
				return err
			}
		}
		for _, e := range o.Events {
			if err := m.DefineEvent(o.Path+e.Name, e.Args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Define adds objects, parameters, commands and events written in a small
// text format, one definition per line:
//
//	# a comment
//	Device.WiFi.SSID.{i}.  add-delete  keys=Alias  keys=Name
//	  Alias    string       rw
//	  Enable   boolean      rw  = false
//	  Status   string       r   enum=Up,Down,Error  = Down
//	  Reset()  sync   in=Mode  out=Result
//	  Scan()   async
//	  Moved!   args=From,To
//
// An unindented line names an object by its supported path, optionally
// followed by its access (read-only, add-delete, add-only, delete-only) and
// unique key sets (keys=A,B is one set of two parameters). Indented lines
// belong to the object above: parameters (name, TR-106 type, access r, rw
// or w, optional enum=, list and secured, and "= default" to the end of
// the line), commands (ending in "()", sync or async) and events (ending in
// "!").
// Command handlers are attached with [Model.HandleCommand].
func (m *Model) Define(schema string) error {
	sc := bufio.NewScanner(strings.NewReader(schema))
	var obj string
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		text := strings.TrimSpace(raw)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		var err error
		if !indented {
			obj, err = m.defineObjectLine(text)
		} else if obj == "" {
			err = fmt.Errorf("member outside an object")
		} else {
			err = m.defineMemberLine(obj, text)
		}
		if err != nil {
			return fmt.Errorf("usptest: schema line %d: %w", line, err)
		}
	}
	return sc.Err()
}

var accessNames = map[string]datamodel.ObjectAccess{
	"read-only":   datamodel.ObjReadOnly,
	"add-delete":  datamodel.ObjAddDelete,
	"add-only":    datamodel.ObjAddOnly,
	"delete-only": datamodel.ObjDeleteOnly,
}

func (m *Model) defineObjectLine(text string) (string, error) {
	f := strings.Fields(text)
	path := f[0]
	access := datamodel.ObjReadOnly
	var keys [][]string
	for _, w := range f[1:] {
		if v, ok := strings.CutPrefix(w, "keys="); ok {
			keys = append(keys, strings.Split(v, ","))
			continue
		}
		a, ok := accessNames[w]
		if !ok {
			return "", fmt.Errorf("unknown object attribute %q", w)
		}
		access = a
	}
	return path, m.DefineObject(path, access, keys...)
}

func (m *Model) defineMemberLine(obj, text string) error {
	def := ""
	if i := strings.Index(text, "= "); i >= 0 {
		def = strings.TrimSpace(text[i+2:])
		text = text[:i]
	} else if strings.HasSuffix(text, " =") {
		text = strings.TrimSuffix(text, "=")
	}
	f := strings.Fields(text)
	name := f[0]
	switch {
	case strings.HasSuffix(name, "()"):
		c := CommandDef{}
		for _, w := range f[1:] {
			switch {
			case w == "sync":
			case w == "async":
				c.Async = true
			case strings.HasPrefix(w, "in="):
				c.Inputs = strings.Split(w[3:], ",")
			case strings.HasPrefix(w, "out="):
				c.Outputs = strings.Split(w[4:], ",")
			default:
				return fmt.Errorf("unknown command attribute %q", w)
			}
		}
		return m.DefineCommand(obj+name, c)
	case strings.HasSuffix(name, "!"):
		var args []string
		for _, w := range f[1:] {
			v, ok := strings.CutPrefix(w, "args=")
			if !ok {
				return fmt.Errorf("unknown event attribute %q", w)
			}
			args = strings.Split(v, ",")
		}
		return m.DefineEvent(obj+name, args...)
	}
	if len(f) < 3 {
		return fmt.Errorf("parameter %s needs a type and an access", name)
	}
	t, ok := datamodel.ParseValueType(f[1])
	if !ok {
		return fmt.Errorf("unknown type %q", f[1])
	}
	p := ParamDef{Type: t, Default: def}
	switch f[2] {
	case "r":
		p.Access = datamodel.ParamReadOnly
	case "rw":
		p.Access = datamodel.ParamReadWrite
	case "w":
		p.Access = datamodel.ParamWriteOnly
	default:
		return fmt.Errorf("unknown access %q", f[2])
	}
	for _, w := range f[3:] {
		switch {
		case strings.HasPrefix(w, "enum="):
			p.Enum = strings.Split(w[5:], ",")
		case w == "list":
			p.List = true
		case w == "secured":
			p.Secured = true
		default:
			return fmt.Errorf("unknown parameter attribute %q", w)
		}
	}
	return m.DefineParam(obj+name, p)
}
