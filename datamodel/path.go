package datamodel

import (
	"slices"
	"strconv"
	"strings"
)

// SegmentKind tells what one dot-separated part of a path is.
type SegmentKind uint8

// Segment kinds.
const (
	SegName        SegmentKind = iota + 1 // an object, parameter, command or event name
	SegInstance                           // an instance number: "2"
	SegWildcard                           // every instance: "*"
	SegExpr                               // a unique key or search expression: "[Alias==\"cpe-1\"]"
	SegPlaceholder                        // the supported-data-model placeholder "{i}"
)

// String names the kind.
func (k SegmentKind) String() string {
	switch k {
	case SegName:
		return "name"
	case SegInstance:
		return "instance"
	case SegWildcard:
		return "wildcard"
	case SegExpr:
		return "expression"
	case SegPlaceholder:
		return "placeholder"
	}
	return "SegmentKind(" + strconv.Itoa(int(k)) + ")"
}

// RefKind tells whether and how a reference parameter is followed ("+").
type RefKind uint8

// Reference-following kinds.
const (
	RefNone  RefKind = iota // no reference following
	RefFirst                // "Param+": the reference (the first one, for a list)
	RefIndex                // "Param#N+": the N-th reference of a list (1-based)
	RefAll                  // "Param#*+": every reference of a list
)

// Segment is one part of a path. Which fields matter depends on Kind: Name,
// Ref and RefIndex for SegName, Instance for SegInstance, Expr for SegExpr.
// Segments returned by a Path share its expression; do not modify it.
type Segment struct {
	Kind     SegmentKind
	Name     string  // SegName: the name, without "()" or "!"
	Ref      RefKind // SegName: reference following after the name
	RefIndex uint32  // SegName with Ref == RefIndex: the 1-based list position
	Instance uint32  // SegInstance: the instance number (>= 1)
	Expr     *Expr   // SegExpr: the expression
	end      int     // offset in the canonical path string just after this segment
}

// IsInstance reports whether the segment identifies instances of a table: a
// number, a wildcard, an expression or the {i} placeholder.
func (s Segment) IsInstance() bool { return s.Kind >= SegInstance && s.Kind <= SegPlaceholder }

// appendTo writes the segment's canonical text.
func (s Segment) appendTo(b []byte) []byte {
	switch s.Kind {
	case SegName:
		b = append(b, s.Name...)
		switch s.Ref {
		case RefFirst:
			b = append(b, '+')
		case RefIndex:
			b = append(b, '#')
			b = strconv.AppendUint(b, uint64(s.RefIndex), 10)
			b = append(b, '+')
		case RefAll:
			b = append(b, "#*+"...)
		}
	case SegInstance:
		b = strconv.AppendUint(b, uint64(s.Instance), 10)
	case SegWildcard:
		b = append(b, '*')
	case SegExpr:
		b = s.Expr.appendTo(b)
	case SegPlaceholder:
		b = append(b, "{i}"...)
	}
	return b
}

// String returns the segment's text as it appears in a path.
func (s Segment) String() string { return string(s.appendTo(nil)) }

// PathKind is the form of a whole path.
type PathKind uint8

// Path kinds. Object and instance paths end with "."; the others end with a
// name, "()" or "!".
const (
	KindObject   PathKind = iota + 1 // "Device.WiFi.SSID." (also a followed reference: "Device.NAT.PortMapping.1.Interface+.")
	KindInstance                     // "Device.WiFi.SSID.2.", "Device.WiFi.SSID.*.", "Device.WiFi.SSID.{i}."
	KindParam                        // "Device.WiFi.SSID.2.SSID"
	KindCommand                      // "Device.Reboot()"
	KindEvent                        // "Device.Boot!"
)

// String names the kind.
func (k PathKind) String() string {
	switch k {
	case KindObject:
		return "object"
	case KindInstance:
		return "object instance"
	case KindParam:
		return "parameter"
	case KindCommand:
		return "command"
	case KindEvent:
		return "event"
	}
	return "PathKind(" + strconv.Itoa(int(k)) + ")"
}

// IsPartial reports whether paths of this kind end with "." (object and
// instance paths, the "partial paths" of TR-369).
func (k PathKind) IsPartial() bool { return k == KindObject || k == KindInstance }

// Path is a parsed, valid TR-369 path. The zero Path is empty and is what
// failed calls return; every other Path comes from Parse or a Builder and is
// syntactically valid. A Path is immutable and safe to share between goroutines.
type Path struct {
	s    string // canonical text
	segs []Segment
	kind PathKind
}

// Parse parses any TR-369 path: object, object instance, parameter, command
// and event paths, with instance numbers, wildcards, unique-key and search
// expressions, reference following and the "{i}" placeholder of the supported
// data model. Syntax errors are *PathError values with Code 7008 and the byte
// offset of the fault.
//
// Whitespace is accepted around expression operators and "&&" (TR-369
// R-ARC.9a) and dropped by String. Parse does not check the root name:
// "Device." is what agents serve, but that is a question for the schema.
func Parse(s string) (Path, error) {
	pr := pathParser{s: s, canon: true}
	p, err := pr.parse()
	if err != nil {
		return Path{}, err
	}
	return p, nil
}

// MustParse is Parse for paths written in program text; it panics on error.
// Never use it on input from the network.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the canonical text of the path.
func (p Path) String() string { return p.s }

// IsZero reports whether p is the zero (empty) Path.
func (p Path) IsZero() bool { return len(p.segs) == 0 }

// Kind returns the form of the path.
func (p Path) Kind() PathKind { return p.kind }

// Len returns the number of segments.
func (p Path) Len() int { return len(p.segs) }

// Segment returns segment i (0 <= i < Len()).
func (p Path) Segment(i int) Segment { return p.segs[i] }

// Segments returns a copy of the segments.
func (p Path) Segments() []Segment { return slices.Clone(p.segs) }

// Equal reports whether p and q have the same canonical text.
func (p Path) Equal(q Path) bool { return p.s == q.s }

// MarshalText returns the canonical text.
func (p Path) MarshalText() ([]byte, error) { return []byte(p.s), nil }

// UnmarshalText parses text with Parse.
func (p *Path) UnmarshalText(text []byte) error {
	q, err := Parse(string(text))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// IsSearch reports whether the path can address more than one thing: it has a
// wildcard or an expression. (A unique-key expression addresses at most one
// instance, but that can only be told with the schema; see
// SupportedObject.IsUniqueKey.)
func (p Path) IsSearch() bool {
	for _, s := range p.segs {
		if s.Kind == SegWildcard || s.Kind == SegExpr {
			return true
		}
	}
	return false
}

// HasRefFollow reports whether the path follows a reference ("+").
func (p Path) HasRefFollow() bool {
	for _, s := range p.segs {
		if s.Kind == SegName && s.Ref != RefNone {
			return true
		}
	}
	return false
}

// HasPlaceholder reports whether the path uses "{i}", i.e. it names a part of
// the supported data model rather than of the instantiated one.
func (p Path) HasPlaceholder() bool {
	for _, s := range p.segs {
		if s.Kind == SegPlaceholder {
			return true
		}
	}
	return false
}

// IsConcrete reports whether the path consists only of names and instance
// numbers: the form of every path an Agent returns in a response.
func (p Path) IsConcrete() bool {
	if p.IsZero() {
		return false
	}
	for _, s := range p.segs {
		if (s.Kind != SegName && s.Kind != SegInstance) || s.Ref != RefNone {
			return false
		}
	}
	return true
}

// hasLeaf reports whether the last segment is a parameter, command or event name.
func (p Path) hasLeaf() bool { return !p.kind.IsPartial() && len(p.segs) > 0 }

// Leaf returns the last name of a parameter, command or event path as it is
// written in GetSupportedDM responses: "SSID", "Reboot()", "Boot!". Object
// and instance paths give "".
func (p Path) Leaf() string {
	if !p.hasLeaf() {
		return ""
	}
	return p.s[p.segs[len(p.segs)-2].end+1:]
}

// prefix returns the partial path made of the first n segments.
func (p Path) prefix(n int) Path {
	if n <= 0 {
		return Path{}
	}
	last := p.segs[n-1]
	kind := KindObject
	if last.IsInstance() {
		kind = KindInstance
	}
	return Path{s: p.s[:last.end+1], segs: p.segs[:n:n], kind: kind}
}

// Object returns the object (or object instance) a parameter, command or event
// path belongs to: "Device.WiFi.SSID.2." for "Device.WiFi.SSID.2.SSID". For
// object and instance paths it returns p.
func (p Path) Object() Path {
	if p.hasLeaf() {
		return p.prefix(len(p.segs) - 1)
	}
	return p
}

// Parent returns the path one segment up: the object of a leaf, the table of
// an instance ("Device.WiFi.SSID." for "Device.WiFi.SSID.2."), the enclosing
// object of an object. The root object has no parent: it gives the zero Path.
func (p Path) Parent() Path { return p.prefix(len(p.segs) - 1) }

// Split divides a path into its object part and its leaf: for
// "Device.WiFi.SSID.2.SSID" it gives "Device.WiFi.SSID.2." and "SSID". For
// object and instance paths the leaf is "".
func (p Path) Split() (object Path, leaf string) { return p.Object(), p.Leaf() }

// LastInstance finds the last instance identifier in the path and returns the
// table path in front of it ("Device.WiFi.SSID." for
// "Device.WiFi.SSID.2.SSID"), the identifying segment (number, wildcard,
// expression or placeholder) and true. A path without one gives false.
func (p Path) LastInstance() (table Path, inst Segment, ok bool) {
	for i := len(p.segs) - 1; i > 0; i-- {
		if p.segs[i].IsInstance() {
			return p.prefix(i), p.segs[i], true
		}
	}
	return Path{}, Segment{}, false
}

// InstanceNumbers returns the instance numbers of the path in order, e.g.
// [1 2] for "Device.LocalAgent.Controller.1.MTP.2.Enable". It fails (returns
// nil, false) if the path has other instance identifiers.
func (p Path) InstanceNumbers() ([]uint32, bool) {
	var out []uint32
	for _, s := range p.segs {
		switch {
		case s.Kind == SegInstance:
			out = append(out, s.Instance)
		case s.IsInstance():
			return nil, false
		}
	}
	return out, true
}

// SupportedPath returns the path with every instance identifier replaced by
// "{i}": the key under which GetSupportedDM lists it, e.g.
// "Device.WiFi.SSID.{i}.SSID" for "Device.WiFi.SSID.[Alias==\"a\"].SSID".
// Reference following is kept as written.
func (p Path) SupportedPath() string {
	if p.IsZero() {
		return ""
	}
	needs := false
	for _, s := range p.segs {
		if s.IsInstance() && s.Kind != SegPlaceholder {
			needs = true
			break
		}
	}
	if !needs {
		return p.s // already in supported form
	}
	b := make([]byte, 0, len(p.s)+8)
	for i, s := range p.segs {
		if i > 0 {
			b = append(b, '.')
		}
		if s.IsInstance() {
			b = append(b, "{i}"...)
		} else {
			b = s.appendTo(b)
		}
	}
	return string(p.appendTail(b))
}

// appendTail writes what follows the last segment: ".", "()", "!" or nothing.
func (p Path) appendTail(b []byte) []byte {
	switch p.kind {
	case KindObject, KindInstance:
		b = append(b, '.')
	case KindCommand:
		b = append(b, "()"...)
	case KindEvent:
		b = append(b, '!')
	}
	return b
}

// format computes the canonical text and each segment's end offset in it.
// segs must not be shared with another Path yet.
func format(segs []Segment, kind PathKind) string {
	n := 0
	for _, s := range segs {
		n += len(s.Name) + 4
	}
	b := make([]byte, 0, n)
	for i := range segs {
		if i > 0 {
			b = append(b, '.')
		}
		b = segs[i].appendTo(b)
		segs[i].end = len(b)
	}
	return string(Path{segs: segs, kind: kind}.appendTail(b))
}

// newPath builds a Path from segments that form a valid path of the given kind.
func newPath(segs []Segment, kind PathKind) Path {
	return Path{s: format(segs, kind), segs: segs, kind: kind}
}

// ---- parser ----

type pathParser struct {
	s     string
	i     int
	canon bool // the input is already in canonical form
}

func isNameStart(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_'
}

// isNameChar allows '-' beyond the TR-369 grammar because TR-106 vendor
// prefixes carry it (X_EXAMPLE-COM_Name); real agents report such names.
func isNameChar(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '-'
}

func (pr *pathParser) errAt(pos int, msg string) error { return syntaxErr(pr.s, pos, msg) }

func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

// name scans a name at pr.i.
func (pr *pathParser) name() (string, error) {
	start := pr.i
	if pr.i >= len(pr.s) || !isNameStart(pr.s[pr.i]) {
		if pr.i >= len(pr.s) {
			return "", pr.errAt(pr.i, "path ends where a name is expected")
		}
		return "", pr.errAt(pr.i, "a name must start with a letter or '_', not "+describe(pr.s[pr.i]))
	}
	pr.i++
	for pr.i < len(pr.s) && isNameChar(pr.s[pr.i]) {
		pr.i++
	}
	return pr.s[start:pr.i], nil
}

// posnum scans a positive decimal number without leading zeros that fits in 32 bits.
func (pr *pathParser) posnum(what string) (uint32, error) {
	start := pr.i
	if pr.i >= len(pr.s) || pr.s[pr.i] < '0' || pr.s[pr.i] > '9' {
		return 0, pr.errAt(pr.i, "expected "+what)
	}
	if pr.s[pr.i] == '0' {
		return 0, pr.errAt(pr.i, what+" must be a positive number without leading zeros")
	}
	for pr.i < len(pr.s) && pr.s[pr.i] >= '0' && pr.s[pr.i] <= '9' {
		pr.i++
	}
	n, err := strconv.ParseUint(pr.s[start:pr.i], 10, 32)
	if err != nil {
		return 0, pr.errAt(start, what+" is too large")
	}
	return uint32(n), nil
}

// refFollow scans an optional reference-following decoration at pr.i.
func (pr *pathParser) refFollow() (RefKind, uint32, error) {
	if pr.i >= len(pr.s) {
		return RefNone, 0, nil
	}
	switch pr.s[pr.i] {
	case '+':
		pr.i++
		return RefFirst, 0, nil
	case '#':
		pr.i++
		if pr.i < len(pr.s) && pr.s[pr.i] == '*' {
			pr.i++
			if pr.i >= len(pr.s) || pr.s[pr.i] != '+' {
				return 0, 0, pr.errAt(pr.i, "expected '+' after '#*'")
			}
			pr.i++
			return RefAll, 0, nil
		}
		n, err := pr.posnum("list position after '#'")
		if err != nil {
			return 0, 0, err
		}
		if pr.i >= len(pr.s) || pr.s[pr.i] != '+' {
			return 0, 0, pr.errAt(pr.i, "expected '+' after the list position")
		}
		pr.i++
		return RefIndex, n, nil
	}
	return RefNone, 0, nil
}

func (pr *pathParser) parse() (Path, error) {
	s := pr.s
	if s == "" {
		return Path{}, pr.errAt(0, "empty path")
	}
	// One segment per '.', plus the leaf: a single allocation for typical paths.
	segs := make([]Segment, 0, strings.Count(s, ".")+1)
	for {
		start := pr.i
		if pr.i >= len(s) {
			// Only reachable after a '.', which ends partial paths; handled below.
			return Path{}, pr.errAt(pr.i, "path ends where a name is expected")
		}
		c := s[pr.i]
		var seg Segment
		switch {
		case isNameStart(c):
			name, err := pr.name()
			if err != nil {
				return Path{}, err
			}
			seg = Segment{Kind: SegName, Name: name}
			afterName := pr.i
			ref, idx, err := pr.refFollow()
			if err != nil {
				return Path{}, err
			}
			seg.Ref, seg.RefIndex = ref, idx
			if len(segs) == 0 && (ref != RefNone || pr.i >= len(s) || s[pr.i] != '.') {
				// objpath needs at least "name.": a lone name is no path.
				return Path{}, pr.errAt(afterName, "a path starts with an object name followed by '.'")
			}
			if pr.i >= len(s) {
				if ref != RefNone {
					return Path{}, pr.errAt(pr.i, "reference following must be followed by '.'")
				}
				return pr.finish(append(segs, seg), KindParam)
			}
			switch s[pr.i] {
			case '.':
			case '(':
				if ref != RefNone {
					return Path{}, pr.errAt(pr.i, "a command cannot follow a reference directly; add '.'")
				}
				if !strings.HasPrefix(s[pr.i:], "()") {
					return Path{}, pr.errAt(pr.i, "a command name must end with \"()\"")
				}
				if pr.i+2 != len(s) {
					return Path{}, pr.errAt(pr.i+2, "unexpected text after \"()\": a command path ends there")
				}
				return pr.finish(append(segs, seg), KindCommand)
			case '!':
				if ref != RefNone {
					return Path{}, pr.errAt(pr.i, "an event cannot follow a reference directly; add '.'")
				}
				if pr.i+1 != len(s) {
					return Path{}, pr.errAt(pr.i+1, "unexpected text after '!': an event path ends there")
				}
				return pr.finish(append(segs, seg), KindEvent)
			default:
				if ref != RefNone {
					return Path{}, pr.errAt(pr.i, "reference following must be followed by '.'")
				}
				return Path{}, pr.errAt(pr.i, "unexpected "+describe(s[pr.i])+" in a name")
			}
		case c == '.':
			if pr.i == 0 {
				return Path{}, pr.errAt(0, "a path cannot start with '.'")
			}
			return Path{}, pr.errAt(pr.i, "empty name between two dots")
		case c >= '0' && c <= '9', c == '*', c == '[', c == '{':
			if err := pr.checkInstanceAllowed(segs, start); err != nil {
				return Path{}, err
			}
			switch c {
			case '*':
				pr.i++
				seg = Segment{Kind: SegWildcard}
			case '[':
				e, err := pr.expr()
				if err != nil {
					return Path{}, err
				}
				seg = Segment{Kind: SegExpr, Expr: e}
			case '{':
				if !strings.HasPrefix(s[pr.i:], "{i}") {
					return Path{}, pr.errAt(pr.i, "the only placeholder is \"{i}\"; search expressions use '[' ']'")
				}
				pr.i += 3
				seg = Segment{Kind: SegPlaceholder}
			default:
				n, err := pr.posnum("instance number")
				if err != nil {
					return Path{}, err
				}
				seg = Segment{Kind: SegInstance, Instance: n}
			}
			if pr.i >= len(s) {
				return Path{}, pr.errAt(pr.i, "an instance identifier must be followed by '.'")
			}
			if s[pr.i] != '.' {
				return Path{}, pr.errAt(pr.i, "unexpected "+describe(s[pr.i])+" after an instance identifier; want '.'")
			}
		default:
			return Path{}, pr.errAt(pr.i, "unexpected "+describe(c)+"; want a name or an instance identifier")
		}
		// s[pr.i] == '.'
		segs = append(segs, seg)
		pr.i++
		if pr.i == len(s) {
			kind := KindObject
			if seg.IsInstance() {
				kind = KindInstance
			}
			return pr.finish(segs, kind)
		}
	}
}

// checkInstanceAllowed enforces that an instance identifier follows the name
// of a table: not at the start, not after another identifier, not after a
// followed reference (which already designates one instance).
func (pr *pathParser) checkInstanceAllowed(segs []Segment, pos int) error {
	if len(segs) == 0 {
		return pr.errAt(pos, "a path must start with a name, not an instance identifier")
	}
	if len(segs) == 1 {
		return pr.errAt(pos, "the root object is not a table: no instance identifier may follow it")
	}
	prev := segs[len(segs)-1]
	if prev.IsInstance() {
		return pr.errAt(pos, "two instance identifiers in a row")
	}
	if prev.Ref != RefNone {
		return pr.errAt(pos, "an instance identifier cannot follow a reference")
	}
	return nil
}

func (pr *pathParser) finish(segs []Segment, kind PathKind) (Path, error) {
	if !pr.canon {
		return newPath(segs, kind), nil
	}
	// The input is canonical: record segment ends in it instead of formatting.
	off := 0
	for i := range segs {
		if i > 0 {
			off++ // '.'
		}
		off += segLen(segs[i])
		segs[i].end = off
	}
	return Path{s: pr.s, segs: segs, kind: kind}, nil
}

// segLen is len(seg.appendTo(nil)) without allocating, for canonical inputs.
func segLen(s Segment) int {
	switch s.Kind {
	case SegName:
		n := len(s.Name)
		switch s.Ref {
		case RefFirst:
			n++
		case RefIndex:
			n += 2 + decLen(uint64(s.RefIndex))
		case RefAll:
			n += 3
		}
		return n
	case SegInstance:
		return decLen(uint64(s.Instance))
	case SegWildcard:
		return 1
	case SegExpr:
		return s.Expr.srcLen
	case SegPlaceholder:
		return 3
	}
	return 0
}

func decLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
