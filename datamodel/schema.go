package datamodel

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gousp/gousp/usperr"
)

// SupportedObject describes one object of an Agent's supported data model, as
// in a GetSupportedDMResp.SupportedObjectResult. The enum fields hold the wire
// numbers, so a converter from the protobuf types only casts.
type SupportedObject struct {
	// Path is the supported path, with "{i}" for instance numbers and a
	// trailing ".": "Device.LocalAgent.Controller.{i}.".
	Path          string
	MultiInstance bool
	Access        ObjectAccess
	// UniqueKeySets lists the object's unique keys; each inner slice is one key
	// made of one or more parameters.
	UniqueKeySets  [][]string
	Params         []SupportedParam
	Commands       []SupportedCommand
	Events         []SupportedEvent
	DivergentPaths []string
}

// SupportedParam describes a parameter of a supported object.
type SupportedParam struct {
	Name        string // relative name: "EndpointID"
	Access      ParamAccess
	Type        ValueType
	ValueChange ValueChange
}

// SupportedCommand describes a command of a supported object.
type SupportedCommand struct {
	Name       string // with "()", as GetSupportedDM reports it: "Reboot()"
	Type       CommandType
	InputArgs  []string
	OutputArgs []string
}

// Async reports whether the command runs asynchronously (CMD_ASYNC).
func (c *SupportedCommand) Async() bool { return c.Type == CmdAsync }

// SupportedEvent describes an event of a supported object.
type SupportedEvent struct {
	Name string // with "!", as GetSupportedDM reports it: "Boot!"
	Args []string
}

// Param returns the parameter called name, if the object has it.
func (o *SupportedObject) Param(name string) (*SupportedParam, bool) {
	for i := range o.Params {
		if o.Params[i].Name == name {
			return &o.Params[i], true
		}
	}
	return nil, false
}

// Command returns the command called name ("Reboot()" or "Reboot").
func (o *SupportedObject) Command(name string) (*SupportedCommand, bool) {
	name = strings.TrimSuffix(name, "()") + "()"
	for i := range o.Commands {
		if o.Commands[i].Name == name {
			return &o.Commands[i], true
		}
	}
	return nil, false
}

// Event returns the event called name ("Boot!" or "Boot").
func (o *SupportedObject) Event(name string) (*SupportedEvent, bool) {
	name = strings.TrimSuffix(name, "!") + "!"
	for i := range o.Events {
		if o.Events[i].Name == name {
			return &o.Events[i], true
		}
	}
	return nil, false
}

// IsUniqueKey reports whether e addresses one instance by one of the object's
// unique keys: every condition is "==" on a plain parameter and together they
// name exactly the parameters of one key set. Otherwise e is a search, which
// may match any number of instances.
func (o *SupportedObject) IsUniqueKey(e *Expr) bool {
	if e == nil {
		return false
	}
	for _, c := range e.Conds {
		if c.Op != OpEq {
			return false
		}
	}
	for _, set := range o.UniqueKeySets {
		if len(set) != len(e.Conds) {
			continue
		}
		all := true
		for _, k := range set {
			if !slices.ContainsFunc(e.Conds, func(c Cond) bool { return c.Param == k }) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// Schema is an Agent's supported data model, built from GetSupportedDM
// results with NewSchema. It answers which supported entry a path names and
// whether a Set, Add, Delete or Operate would be accepted. A Schema is
// immutable and safe for concurrent use; the objects it returns must not be
// modified.
type Schema struct {
	objs      map[string]*SupportedObject // by supported path
	ancestors map[string]bool             // every partial prefix of an object path
	sorted    []*SupportedObject
}

// NewSchema builds a Schema from supported objects, typically the
// supported_objs of every req_obj_result of one or more GetSupportedDM
// responses. Objects listed more than once (overlapping requests) are merged:
// their parameters, commands, events and key sets are united, and conflicting
// definitions are an error. The input is copied.
//
// It fails on paths that are not supported-object paths, on multi-instance
// flags that disagree with the path ("{i}." ends a table's path exactly when
// MultiInstance is set) and on invalid names.
func NewSchema(objs []SupportedObject) (*Schema, error) {
	s := &Schema{objs: make(map[string]*SupportedObject, len(objs)), ancestors: make(map[string]bool)}
	var errs []error
	for i := range objs {
		o, err := normalizeObject(&objs[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := s.objs[o.Path]; ok {
			if err := mergeObject(prev, o); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		s.objs[o.Path] = o
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for p := range s.objs {
		for i := 0; i < len(p)-1; i++ {
			if p[i] == '.' {
				s.ancestors[p[:i+1]] = true
			}
		}
		s.ancestors[p] = true
	}
	s.sorted = slices.SortedFunc(maps.Values(s.objs), func(a, b *SupportedObject) int { return strings.Compare(a.Path, b.Path) })
	return s, nil
}

func schemaErr(path string, msg string) error {
	return &PathError{Path: path, Pos: -1, Msg: msg, Code: CodeInvalidPath}
}

// normalizeObject validates one input object and returns a deep copy.
func normalizeObject(in *SupportedObject) (*SupportedObject, error) {
	p, err := Parse(in.Path)
	if err != nil {
		return nil, err
	}
	if !p.kind.IsPartial() || p.IsSearch() || p.HasRefFollow() {
		return nil, schemaErr(in.Path, "a supported object path has names and {i} only and ends with '.'")
	}
	o := &SupportedObject{
		Path:           p.SupportedPath(),
		MultiInstance:  in.MultiInstance,
		Access:         in.Access,
		UniqueKeySets:  make([][]string, 0, len(in.UniqueKeySets)),
		Params:         slices.Clone(in.Params),
		Commands:       make([]SupportedCommand, 0, len(in.Commands)),
		Events:         make([]SupportedEvent, 0, len(in.Events)),
		DivergentPaths: slices.Clone(in.DivergentPaths),
	}
	if table := p.kind == KindInstance; table != in.MultiInstance {
		if table {
			return nil, schemaErr(in.Path, "path ends with an instance placeholder but the object is not multi-instance")
		}
		return nil, schemaErr(in.Path, "multi-instance object whose path does not end with \"{i}.\"")
	}
	for _, set := range in.UniqueKeySets {
		o.UniqueKeySets = append(o.UniqueKeySets, slices.Clone(set))
	}
	for _, prm := range o.Params {
		if msg := validName(prm.Name); msg != "" {
			return nil, schemaErr(o.Path+prm.Name, "parameter: "+msg)
		}
	}
	for _, c := range in.Commands {
		c.Name = strings.TrimSuffix(c.Name, "()")
		if msg := validName(c.Name); msg != "" {
			return nil, schemaErr(o.Path+c.Name+"()", "command: "+msg)
		}
		c.Name += "()"
		c.InputArgs, c.OutputArgs = slices.Clone(c.InputArgs), slices.Clone(c.OutputArgs)
		o.Commands = append(o.Commands, c)
	}
	for _, e := range in.Events {
		e.Name = strings.TrimSuffix(e.Name, "!")
		if msg := validName(e.Name); msg != "" {
			return nil, schemaErr(o.Path+e.Name+"!", "event: "+msg)
		}
		e.Name += "!"
		e.Args = slices.Clone(e.Args)
		o.Events = append(o.Events, e)
	}
	return o, nil
}

// mergeObject adds what o has and prev lacks; different definitions of one name conflict.
func mergeObject(prev, o *SupportedObject) error {
	if prev.MultiInstance != o.MultiInstance || prev.Access != o.Access {
		return schemaErr(o.Path, "listed twice with different multi-instance flag or access")
	}
	for _, p := range o.Params {
		if q, ok := prev.Param(p.Name); ok {
			if *q != p {
				return schemaErr(o.Path+p.Name, "parameter listed twice with different definitions")
			}
			continue
		}
		prev.Params = append(prev.Params, p)
	}
	for _, c := range o.Commands {
		if q, ok := prev.Command(c.Name); ok {
			if q.Type != c.Type || !slices.Equal(q.InputArgs, c.InputArgs) || !slices.Equal(q.OutputArgs, c.OutputArgs) {
				return schemaErr(o.Path+c.Name, "command listed twice with different definitions")
			}
			continue
		}
		prev.Commands = append(prev.Commands, c)
	}
	for _, e := range o.Events {
		if q, ok := prev.Event(e.Name); ok {
			if !slices.Equal(q.Args, e.Args) {
				return schemaErr(o.Path+e.Name, "event listed twice with different definitions")
			}
			continue
		}
		prev.Events = append(prev.Events, e)
	}
	for _, set := range o.UniqueKeySets {
		if !slices.ContainsFunc(prev.UniqueKeySets, func(s []string) bool { return slices.Equal(s, set) }) {
			prev.UniqueKeySets = append(prev.UniqueKeySets, set)
		}
	}
	for _, d := range o.DivergentPaths {
		if !slices.Contains(prev.DivergentPaths, d) {
			prev.DivergentPaths = append(prev.DivergentPaths, d)
		}
	}
	return nil
}

// Objects returns the supported objects sorted by path.
func (s *Schema) Objects() []*SupportedObject { return slices.Clone(s.sorted) }

// Object returns the object with the given supported path, e.g.
// "Device.LocalAgent.Controller.{i}.".
func (s *Schema) Object(supportedPath string) (*SupportedObject, bool) {
	o, ok := s.objs[supportedPath]
	return o, ok
}

// Entry is what a path names in the supported data model.
type Entry struct {
	Kind PathKind
	// Path is the supported path: "Device.LocalAgent.Controller.{i}.EndpointID".
	// For a table addressed without an instance ("Device.LocalAgent.Controller.")
	// it is that table path; Object is then the table's supported object.
	Path    string
	Object  *SupportedObject  // the object the path is or belongs to; nil for an undescribed ancestor
	Param   *SupportedParam   // for KindParam
	Command *SupportedCommand // for KindCommand
	Event   *SupportedEvent   // for KindEvent
}

// IsTable reports whether the entry is a multi-instance object addressed
// without an instance identifier ("Device.LocalAgent.Controller.").
func (e Entry) IsTable() bool {
	return e.Kind == KindObject && e.Object != nil && e.Object.MultiInstance
}

// LookupString parses path and looks it up; see Lookup.
func (s *Schema) LookupString(path string) (Entry, error) {
	p, err := Parse(path)
	if err != nil {
		return Entry{}, err
	}
	return s.Lookup(p)
}

// Lookup finds the supported entry a path names, e.g. the parameter
// Device.LocalAgent.Controller.{i}.EndpointID for
// "Device.LocalAgent.Controller.2.EndpointID" (or for the same path with "*",
// "{i}" or an expression in place of the 2).
//
// A path that is not in the supported data model gives a *PathError with Code
// 7026 at the first segment that is not: an unknown object or parameter, an
// instance identifier after a single-instance object, or a table with no
// instance identifier before a child. Expressions are checked too: each
// condition must name a parameter of the table's instances (7026) and suit its
// type (7008), as an Agent would require.
//
// Objects that are not described but are ancestors of described ones (as with
// a GetSupportedDM on a sub-tree) are accepted on the way, and give an Entry
// with a nil Object when the path ends there. Reference following cannot be
// resolved from the schema alone; such paths give an error wrapping
// ErrNeedValues.
func (s *Schema) Lookup(p Path) (Entry, error) {
	if p.IsZero() {
		return Entry{}, syntaxErr("", 0, "empty path")
	}
	n := len(p.segs)
	last := n
	if !p.kind.IsPartial() {
		last = n - 1 // the leaf is looked up in its object
	}
	cur := make([]byte, 0, len(p.s)+16)
	var obj *SupportedObject
	isTable := false // cur names a table whose instance identifier has not come yet
	for i := 0; i < last; i++ {
		seg := p.segs[i]
		if seg.IsInstance() {
			if !isTable {
				return Entry{}, s.pathErr(p, i, "not a multi-instance object: "+string(trimDot(cur))+" has no instances")
			}
			cur = append(cur, "{i}."...)
			obj = s.objs[string(cur)]
			isTable = false
			if seg.Kind == SegExpr {
				if err := s.checkExpr(p, i, string(cur), seg.Expr); err != nil {
					return Entry{}, err
				}
			}
			continue
		}
		if isTable {
			return Entry{}, s.pathErr(p, i, string(trimDot(cur))+" is a multi-instance object: an instance identifier must come first")
		}
		if seg.Ref != RefNone {
			return Entry{}, &PathError{Path: p.s, Pos: p.segStart(i), Code: CodeInvalidPath, Err: ErrNeedValues,
				Msg: "reference following needs the value of " + seg.Name + " and cannot be resolved from the schema"}
		}
		mark := len(cur)
		cur = append(cur, seg.Name...)
		cur = append(cur, '.')
		if o, ok := s.objs[string(cur)]; ok {
			obj = o
			continue
		}
		tbl := append(cur, "{i}."...)
		if s.ancestors[string(tbl)] {
			obj, isTable = s.objs[string(tbl)], true
			continue
		}
		if s.ancestors[string(cur)] {
			obj = nil
			continue
		}
		cur = cur[:mark]
		return Entry{}, s.pathErr(p, i, "no object "+string(cur)+seg.Name+". in the supported data model")
	}
	if p.kind.IsPartial() {
		return Entry{Kind: p.kind, Path: string(cur), Object: obj}, nil
	}
	leaf := p.segs[n-1]
	if isTable {
		return Entry{}, s.pathErr(p, n-1, string(trimDot(cur))+" is a multi-instance object: an instance identifier must come first")
	}
	e := Entry{Kind: p.kind, Path: string(cur) + p.Leaf(), Object: obj}
	var found bool
	if obj != nil {
		switch p.kind {
		case KindParam:
			e.Param, found = obj.Param(leaf.Name)
		case KindCommand:
			e.Command, found = obj.Command(leaf.Name)
		case KindEvent:
			e.Event, found = obj.Event(leaf.Name)
		}
	}
	if !found {
		return Entry{}, s.pathErr(p, n-1, "no "+p.kind.String()+" "+p.Leaf()+" in "+string(cur))
	}
	return e, nil
}

func trimDot(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '.' {
		return b[:len(b)-1]
	}
	return b
}

func (s *Schema) pathErr(p Path, seg int, msg string) error {
	return &PathError{Path: p.s, Pos: p.segStart(seg), Msg: msg, Code: CodeInvalidPath}
}

// relParam resolves a relative parameter path ("Enable", "Stats.BytesSent")
// under the object with supported path base.
func (s *Schema) relParam(base, rel string) (*SupportedParam, string, bool) {
	dot := strings.LastIndexByte(rel, '.')
	objPath := base
	if dot >= 0 {
		objPath = base + rel[:dot+1]
	}
	o, ok := s.objs[objPath]
	if !ok {
		return nil, objPath, false
	}
	prm, ok := o.Param(rel[dot+1:])
	return prm, objPath, ok
}

// checkExpr validates the conditions of the expression at segment i against
// the table instances at supported path inst.
func (s *Schema) checkExpr(p Path, i int, inst string, e *Expr) error {
	if _, ok := s.objs[inst]; !ok {
		return nil // undescribed ancestor: nothing to check against
	}
	for k, c := range e.Conds {
		if strings.ContainsAny(c.Param, "+#") {
			continue // goes through a reference: its target is not known here
		}
		prm, _, ok := s.relParam(inst, c.Param)
		pos := p.segStart(i) + e.condOffset(k)
		if !ok {
			return &PathError{Path: p.s, Pos: pos, Code: CodeInvalidPath,
				Msg: "search parameter " + c.Param + " is not a parameter of " + inst}
		}
		if err := c.check(prm.Type); err != nil {
			return &PathError{Path: p.s, Pos: pos, Code: CodeInvalidPathSyntax, Msg: err.Error()}
		}
	}
	return nil
}

// condOffset returns the offset of condition k in the canonical text of e.
func (e *Expr) condOffset(k int) int {
	pos := 1
	for j := 0; j < k; j++ {
		pos += len(e.Conds[j].appendTo(nil)) + 2
	}
	return pos
}

// ---- request checks ----

// paramErr reports a fault with parameter name of object obj.
func paramErr(obj Path, name string, code usperr.Code, msg string, cause error) error {
	return &PathError{Path: obj.s + name, Pos: len(obj.s), Msg: msg, Code: code, Err: cause}
}

// checkParams checks parameter settings against obj's entry: known (7010),
// writable (7013), of the right type (7011). Errors are joined in name order.
func (s *Schema) checkParams(obj Path, base string, params map[string]string) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(params)) {
		prm, _, ok := s.relParam(base, name)
		switch {
		case !ok:
			errs = append(errs, paramErr(obj, name, CodeUnsupportedParam, "no parameter "+name+" in "+base, nil))
		case !prm.Access.Writable():
			errs = append(errs, paramErr(obj, name, CodeParamReadOnly, "parameter "+name+" is read-only", nil))
		default:
			if err := ValidateValue(prm.Type, params[name]); err != nil {
				errs = append(errs, paramErr(obj, name, CodeInvalidType, errMsg(err), err))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckSet checks a Set of params (relative name to value) on the object or
// instances that obj addresses, before sending it: obj must name instances or
// a single-instance object (7026), every parameter must exist (7010), be
// writable (7013) and get a value of its type (7011). All faults are returned,
// joined, one *PathError each.
func (s *Schema) CheckSet(obj Path, params map[string]string) error {
	e, err := s.lookupPartial(obj, "Set")
	if err != nil {
		return err
	}
	if e.IsTable() {
		return &PathError{Path: obj.s, Pos: len(obj.s), Code: CodeInvalidPath,
			Msg: "Set needs instances of the table " + e.Path + ", e.g. " + obj.s + "1. or " + obj.s + "*."}
	}
	if e.Object == nil {
		return &PathError{Path: obj.s, Pos: -1, Code: CodeInvalidPath, Msg: "object is not described by the schema"}
	}
	return s.checkParams(obj, e.Path, params)
}

// CheckAdd checks an Add of one instance with params (relative name to value)
// to the table obj ("Device.LocalAgent.Controller."): it must be a table
// (7018) that allows Add (7019), and each parameter must exist (7010), be
// writable (7013) and have a value of its type (7011).
//
// It returns the unique-key parameters left out, which the Agent will choose
// itself (TR-369 R-ADD.5); a Controller that wants to address the new
// instance by key should set them.
func (s *Schema) CheckAdd(obj Path, params map[string]string) (missingKeys []string, err error) {
	e, err := s.lookupPartial(obj, "Add")
	if err != nil {
		return nil, err
	}
	if obj.kind == KindInstance {
		return nil, &PathError{Path: obj.s, Pos: obj.segStart(len(obj.segs) - 1), Code: CodeInvalidPath,
			Msg: "Add takes the table path, without an instance identifier"}
	}
	if e.Object == nil || !e.Object.MultiInstance {
		return nil, &PathError{Path: obj.s, Pos: -1, Code: CodeNotATable, Msg: e.Path + " is not a multi-instance object"}
	}
	if !e.Object.Access.CanAdd() {
		return nil, &PathError{Path: obj.s, Pos: -1, Code: CodeNotCreatable,
			Msg: "the Agent does not allow Add on " + e.Path + " (" + e.Object.Access.String() + ")"}
	}
	if err := s.checkParams(obj, e.Object.Path, params); err != nil {
		return nil, err
	}
	for _, set := range e.Object.UniqueKeySets {
		for _, k := range set {
			if _, given := params[k]; !given && !slices.Contains(missingKeys, k) {
				missingKeys = append(missingKeys, k)
			}
		}
	}
	return missingKeys, nil
}

// CheckDelete checks a Delete of the instances obj addresses: obj must end
// with an instance identifier (7026) of a multi-instance object (7018) that
// allows Delete (7024).
func (s *Schema) CheckDelete(obj Path) error {
	e, err := s.lookupPartial(obj, "Delete")
	if err != nil {
		return err
	}
	if e.Object != nil && !e.Object.MultiInstance {
		return &PathError{Path: obj.s, Pos: -1, Code: CodeNotATable, Msg: e.Path + " is not a multi-instance object"}
	}
	if obj.kind != KindInstance {
		return &PathError{Path: obj.s, Pos: len(obj.s), Code: CodeInvalidPath,
			Msg: "Delete needs instances: an instance number, '*' or an expression after the table name"}
	}
	if e.Object == nil {
		return &PathError{Path: obj.s, Pos: -1, Code: CodeInvalidPath, Msg: "object is not described by the schema"}
	}
	if !e.Object.Access.CanDelete() {
		return &PathError{Path: obj.s, Pos: -1, Code: CodeDeleteFailure,
			Msg: "the Agent does not allow Delete on " + e.Path + " (" + e.Object.Access.String() + ")"}
	}
	return nil
}

// CheckOperate checks an Operate of cmd with input args: cmd must be a
// supported command (7026) and every argument one of its input arguments
// (7027). It returns the command's description.
func (s *Schema) CheckOperate(cmd Path, args map[string]string) (*SupportedCommand, error) {
	if cmd.kind != KindCommand {
		return nil, &PathError{Path: cmd.s, Pos: -1, Code: CodeInvalidPath, Msg: "Operate needs a command path ending with \"()\""}
	}
	e, err := s.Lookup(cmd)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(args)) {
		if !slices.Contains(e.Command.InputArgs, name) {
			errs = append(errs, &PathError{Path: cmd.s, Pos: -1, Code: CodeInvalidCommandArgs,
				Msg: fmt.Sprintf("%s has no input argument %s (it takes %s)", e.Command.Name, name, strings.Join(e.Command.InputArgs, ", "))})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e.Command, nil
}

// lookupPartial looks up an object or instance path for message msg.
func (s *Schema) lookupPartial(obj Path, msg string) (Entry, error) {
	if obj.IsZero() {
		return Entry{}, syntaxErr("", 0, "empty path")
	}
	if !obj.kind.IsPartial() {
		return Entry{}, &PathError{Path: obj.s, Pos: -1, Code: CodeInvalidPathSyntax,
			Msg: msg + " takes an object path ending with '.', not a " + obj.kind.String() + " path"}
	}
	return s.Lookup(obj)
}
