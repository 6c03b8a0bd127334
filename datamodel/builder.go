package datamodel

import (
	"slices"
	"strings"
)

// Builder assembles a path in code, one step at a time, and can only produce
// valid paths:
//
//	p, err := datamodel.Obj("Device", "WiFi", "SSID").Instance(2).Param("SSID")
//	// Device.WiFi.SSID.2.SSID
//	p, err = datamodel.Obj("Device", "WiFi", "SSID").Key("Alias", "cpe-1").Param("SSID")
//	// Device.WiFi.SSID.[Alias=="cpe-1"].SSID
//
// Each step returns a new Builder, so a Builder can be kept and extended in
// several directions. The first invalid step (a bad name, an instance number
// 0, an instance identifier where no table can be) is remembered and returned
// by the final call (Path, Param, Command or Event) as a *PathError with Code
// 7008; the steps after it are ignored. The zero Builder is empty and ready.
type Builder struct {
	segs []Segment
	err  error
}

// Obj starts a Builder with the given object names, e.g. Obj("Device", "WiFi").
func Obj(names ...string) Builder { return Builder{}.Obj(names...) }

// text returns the builder's path so far, for error messages.
func (b Builder) text() string {
	if len(b.segs) == 0 {
		return ""
	}
	return format(slices.Clone(b.segs), KindObject)
}

func (b Builder) fail(msg string, extra string) Builder {
	if b.err != nil {
		return b
	}
	t := b.text()
	b.err = &PathError{Path: t + extra, Pos: len(t), Msg: msg, Code: CodeInvalidPathSyntax}
	return b
}

// with returns a Builder with seg appended, never sharing the appended array.
func (b Builder) with(seg Segment) Builder {
	b.segs = append(slices.Clip(b.segs), seg)
	return b
}

func validName(name string) string {
	if name == "" {
		return "empty name"
	}
	if !isNameStart(name[0]) {
		return "a name must start with a letter or '_', not " + describe(name[0])
	}
	for i := 1; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return "unexpected " + describe(name[i]) + " in name " + quoteName(name)
		}
	}
	return ""
}

func quoteName(s string) string { return "\"" + s + "\"" }

// Obj appends object names.
func (b Builder) Obj(names ...string) Builder {
	for _, n := range names {
		if b.err != nil {
			return b
		}
		if msg := validName(n); msg != "" {
			return b.fail(msg, n)
		}
		b = b.with(Segment{Kind: SegName, Name: n})
	}
	return b
}

// instanceAllowed checks that an instance identifier may come next.
func (b Builder) instanceAllowed(what string) Builder {
	switch {
	case len(b.segs) == 0:
		return b.fail("a path must start with a name, not an instance identifier", what)
	case len(b.segs) == 1:
		return b.fail("the root object is not a table: no instance identifier may follow it", what)
	case b.segs[len(b.segs)-1].IsInstance():
		return b.fail("two instance identifiers in a row", what)
	case b.segs[len(b.segs)-1].Ref != RefNone:
		return b.fail("an instance identifier cannot follow a reference", what)
	}
	return b
}

// Instance appends an instance number (>= 1).
func (b Builder) Instance(n uint32) Builder {
	if b = b.instanceAllowed("0"); b.err != nil {
		return b
	}
	if n == 0 {
		return b.fail("instance numbers start at 1", "0")
	}
	return b.with(Segment{Kind: SegInstance, Instance: n})
}

// All appends the wildcard "*": every instance of the table.
func (b Builder) All() Builder {
	if b = b.instanceAllowed("*"); b.err != nil {
		return b
	}
	return b.with(Segment{Kind: SegWildcard})
}

// Placeholder appends "{i}", for paths of the supported data model.
func (b Builder) Placeholder() Builder {
	if b = b.instanceAllowed("{i}"); b.err != nil {
		return b
	}
	return b.with(Segment{Kind: SegPlaceholder})
}

// Key addresses an instance by a unique key: Key("Alias", "cpe-1") appends
// [Alias=="cpe-1"]. The value may be any type Eq accepts; a string is quoted.
// Key (or Where) right after Key or Where adds to the same expression, so
// Key("RemoteHost", "").Key("ExternalPort", 0) gives
// [RemoteHost==""&&ExternalPort==0].
func (b Builder) Key(param string, value any) Builder { return b.Where(Eq(param, value)) }

// Where appends a search expression of the given conditions, joined by &&,
// e.g. Where(Eq("Enable", true), Gt("Stats.ErrorsSent", 0)). Right after Key
// or Where it adds the conditions to the same expression.
func (b Builder) Where(conds ...Cond) Builder {
	if b.err != nil {
		return b
	}
	if len(conds) == 0 {
		return b.fail("empty search expression", "[]")
	}
	for _, c := range conds {
		if err := c.validate(); err != nil {
			return b.fail("condition "+quoteName(c.Param)+": "+errMsg(err), "[")
		}
	}
	if n := len(b.segs); n > 0 && b.segs[n-1].Kind == SegExpr {
		prev := b.segs[n-1].Expr
		e := &Expr{Conds: append(slices.Clip(prev.Conds), conds...)}
		b.segs = slices.Clone(b.segs)
		b.segs[n-1] = Segment{Kind: SegExpr, Expr: e}
		return b
	}
	if b = b.instanceAllowed("["); b.err != nil {
		return b
	}
	return b.with(Segment{Kind: SegExpr, Expr: &Expr{Conds: slices.Clone(conds)}})
}

// errMsg gives the message of err without the package prefix or, for a
// *PathError, without its location.
func errMsg(err error) string {
	if pe, ok := err.(*PathError); ok {
		return pe.Msg
	}
	return strings.TrimPrefix(err.Error(), "datamodel: ")
}

func (b Builder) follow(param string, ref RefKind, idx uint32, deco string) Builder {
	if b.err != nil {
		return b
	}
	if msg := validName(param); msg != "" {
		return b.fail(msg, param)
	}
	if len(b.segs) == 0 {
		return b.fail("a path cannot start with a reference", param+deco)
	}
	return b.with(Segment{Kind: SegName, Name: param, Ref: ref, RefIndex: idx})
}

// Follow follows the reference parameter param: "param+". The steps after it
// are relative to the referenced object.
func (b Builder) Follow(param string) Builder { return b.follow(param, RefFirst, 0, "+") }

// FollowItem follows reference n (1-based) of the list-valued reference
// parameter param: "param#n+".
func (b Builder) FollowItem(param string, n uint32) Builder {
	if n == 0 {
		return b.fail("list positions start at 1", param+"#0+")
	}
	return b.follow(param, RefIndex, n, "#n+")
}

// FollowAll follows every reference of the list-valued parameter param: "param#*+".
func (b Builder) FollowAll(param string) Builder { return b.follow(param, RefAll, 0, "#*+") }

// Err returns the first error met so far, or nil.
func (b Builder) Err() error { return b.err }

// finish checks the builder and makes the Path, on a private copy of the segments.
func (b Builder) finish(kind PathKind) (Path, error) {
	if b.err != nil {
		return Path{}, b.err
	}
	if len(b.segs) == 0 {
		return Path{}, &PathError{Path: "", Pos: 0, Msg: "empty path", Code: CodeInvalidPathSyntax}
	}
	return newPath(slices.Clone(b.segs), kind), nil
}

// Path returns the object or object instance path built so far (ending with ".").
func (b Builder) Path() (Path, error) {
	kind := KindObject
	if n := len(b.segs); n > 0 && b.segs[n-1].IsInstance() {
		kind = KindInstance
	}
	return b.finish(kind)
}

func (b Builder) leaf(name, suffix string, kind PathKind) (Path, error) {
	name = strings.TrimSuffix(name, suffix)
	if msg := validName(name); msg != "" {
		return b.fail(msg, name).finish(kind)
	}
	if len(b.segs) == 0 {
		return b.fail("a path must start with an object name", name).finish(kind)
	}
	return b.with(Segment{Kind: SegName, Name: name}).finish(kind)
}

// Param returns the path of parameter name under the path built so far.
func (b Builder) Param(name string) (Path, error) { return b.leaf(name, "", KindParam) }

// Command returns the path of command name ("Reboot" or "Reboot()").
func (b Builder) Command(name string) (Path, error) { return b.leaf(name, "()", KindCommand) }

// Event returns the path of event name ("Boot" or "Boot!").
func (b Builder) Event(name string) (Path, error) { return b.leaf(name, "!", KindEvent) }

// Extend returns a Builder that continues an object or instance path. For
// parameter, command and event paths (which cannot be extended) and for the
// zero Path, the Builder carries an error.
func (p Path) Extend() Builder {
	if p.IsZero() {
		return Builder{}.fail("cannot extend the empty path", "")
	}
	if !p.kind.IsPartial() {
		return Builder{err: &PathError{Path: p.s, Pos: len(p.s), Msg: "cannot extend a " + p.kind.String() + " path", Code: CodeInvalidPathSyntax}}
	}
	return Builder{segs: p.segs[:len(p.segs):len(p.segs)]}
}
