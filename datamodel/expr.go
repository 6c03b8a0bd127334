package datamodel

import (
	"strconv"
	"strings"
	"time"
)

// Op is a search-expression operator.
type Op uint8

// Operators of TR-369 search expressions.
const (
	OpEq       Op = iota + 1 // ==
	OpNe                     // !=
	OpContains               // ~= (the list-valued parameter has the constant as an item)
	OpLt                     // <
	OpGt                     // >
	OpLe                     // <=
	OpGe                     // >=
)

var opText = [...]string{OpEq: "==", OpNe: "!=", OpContains: "~=", OpLt: "<", OpGt: ">", OpLe: "<=", OpGe: ">="}

// String returns the operator as written in a path ("==", "~=", ...).
func (o Op) String() string {
	if o >= OpEq && o <= OpGe {
		return opText[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

func (o Op) ordering() bool { return o >= OpLt && o <= OpGe }

// Cond is one comparison of a search expression: Param Op Value.
type Cond struct {
	// Param is the parameter relative to the instance being tested: "Enable",
	// "Stats.ErrorsSent" (a sub-object's parameter) or "SSIDReference+.SSID"
	// (through a reference).
	Param string
	Op    Op
	// Value is the constant: for a quoted string its text with %22 and %25
	// (and any other %HH) decoded, otherwise the text as written ("true", "-5",
	// "2021-06-06T08:00:00Z").
	Value string
	// Quoted records that the constant was a double-quoted string. TR-369 allows
	// quoted constants only for string-typed parameters.
	Quoted bool
	err    error // set by constructors (Eq, Lt, ...) given a value they cannot write
}

// Expr is a parsed unique-key or search expression: the conjunction (&&) of
// its conditions. TR-369 has no OR and no nesting, so this two-level tree is
// the whole syntax.
type Expr struct {
	Conds  []Cond
	srcLen int // length of the canonical source text, for paths parsed in canonical form
}

// ParseExpr parses a bracketed expression such as `[Enable==true&&Alias=="x"]`.
// Errors are *PathError values with Code 7008 and offsets into s.
func ParseExpr(s string) (*Expr, error) {
	pr := pathParser{s: s, canon: true}
	if s == "" || s[0] != '[' {
		return nil, pr.errAt(0, "an expression starts with '['")
	}
	e, err := pr.expr()
	if err != nil {
		return nil, err
	}
	if pr.i != len(s) {
		return nil, pr.errAt(pr.i, "unexpected text after ']'")
	}
	return e, nil
}

// String returns the canonical bracketed text of the expression.
func (e *Expr) String() string { return string(e.appendTo(nil)) }

func (e *Expr) appendTo(b []byte) []byte {
	b = append(b, '[')
	for i, c := range e.Conds {
		if i > 0 {
			b = append(b, "&&"...)
		}
		b = c.appendTo(b)
	}
	return append(b, ']')
}

// String returns the canonical text of the condition, e.g. `Alias=="cpe-1"`.
func (c Cond) String() string { return string(c.appendTo(nil)) }

func (c Cond) appendTo(b []byte) []byte {
	b = append(b, c.Param...)
	b = append(b, c.Op.String()...)
	if !c.Quoted {
		return append(b, c.Value...)
	}
	b = append(b, '"')
	for i := 0; i < len(c.Value); i++ {
		switch c.Value[i] {
		case '"':
			b = append(b, "%22"...)
		case '%':
			b = append(b, "%25"...)
		default:
			b = append(b, c.Value[i])
		}
	}
	return append(b, '"')
}

// ---- parsing (shared with the path parser) ----

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func (pr *pathParser) skipSpace() {
	start := pr.i
	for pr.i < len(pr.s) && isSpace(pr.s[pr.i]) {
		pr.i++
	}
	if pr.i != start {
		pr.canon = false
	}
}

// expr parses "[" cond ("&&" cond)* "]" at pr.i.
func (pr *pathParser) expr() (*Expr, error) {
	open := pr.i
	pr.i++ // '['
	e := &Expr{Conds: make([]Cond, 0, 1+strings.Count(pr.s[pr.i:min(len(pr.s), pr.i+256)], "&&"))}
	for {
		pr.skipSpace()
		if pr.i < len(pr.s) && pr.s[pr.i] == ']' && len(e.Conds) == 0 {
			return nil, pr.errAt(open, "empty search expression")
		}
		c, err := pr.cond(open)
		if err != nil {
			return nil, err
		}
		e.Conds = append(e.Conds, c)
		pr.skipSpace()
		if pr.i >= len(pr.s) {
			return nil, pr.errAt(open, "unterminated search expression: no ']'")
		}
		switch {
		case pr.s[pr.i] == ']':
			pr.i++
			e.srcLen = pr.i - open
			return e, nil
		case strings.HasPrefix(pr.s[pr.i:], "&&"):
			pr.i += 2
		case strings.HasPrefix(pr.s[pr.i:], "||"):
			return nil, pr.errAt(pr.i, "'||' is not supported: search expressions only have '&&'")
		default:
			return nil, pr.errAt(pr.i, "unexpected "+describe(pr.s[pr.i])+"; want '&&' or ']'")
		}
	}
}

// cond parses relpath oper value.
func (pr *pathParser) cond(open int) (Cond, error) {
	var c Cond
	start := pr.i
	if err := pr.relPath(); err != nil {
		return c, err
	}
	c.Param = pr.s[start:pr.i]
	pr.skipSpace()
	opPos := pr.i
	rest := pr.s[pr.i:]
	switch {
	case strings.HasPrefix(rest, "=="):
		c.Op, pr.i = OpEq, pr.i+2
	case strings.HasPrefix(rest, "!="):
		c.Op, pr.i = OpNe, pr.i+2
	case strings.HasPrefix(rest, "~="):
		c.Op, pr.i = OpContains, pr.i+2
	case strings.HasPrefix(rest, "<="):
		c.Op, pr.i = OpLe, pr.i+2
	case strings.HasPrefix(rest, ">="):
		c.Op, pr.i = OpGe, pr.i+2
	case strings.HasPrefix(rest, "<"):
		c.Op, pr.i = OpLt, pr.i+1
	case strings.HasPrefix(rest, ">"):
		c.Op, pr.i = OpGt, pr.i+1
	case strings.HasPrefix(rest, "="):
		return c, pr.errAt(opPos, "unknown operator '='; equality is '=='")
	case rest == "":
		return c, pr.errAt(open, "unterminated search expression: no ']'")
	default:
		return c, pr.errAt(opPos, "expected an operator (== != ~= < > <= >=), found "+describe(rest[0]))
	}
	pr.skipSpace()
	if pr.i >= len(pr.s) {
		return c, pr.errAt(open, "unterminated search expression: no ']'")
	}
	if pr.s[pr.i] == '"' {
		v, err := pr.quoted()
		if err != nil {
			return c, err
		}
		c.Value, c.Quoted = v, true
		return c, nil
	}
	if pr.s[pr.i] == '=' {
		// Whitespace may surround an operator (TR-369 R-ARC.9a), but no
		// TR-106 literal starts with '=': "A< =5" is a split "<=", and
		// taking it as A < "=5" would print back as A<=5, another condition.
		return c, pr.errAt(pr.i, "a constant cannot start with '='; write the operator without a space inside it")
	}
	vs := pr.i
	for pr.i < len(pr.s) && isBareChar(pr.s[pr.i]) {
		pr.i++
	}
	if pr.i == vs {
		if pr.s[pr.i] == ']' || pr.s[pr.i] == '&' || isSpace(pr.s[pr.i]) {
			return c, pr.errAt(pr.i, "missing constant after "+c.Op.String())
		}
		return c, pr.errAt(pr.i, "unexpected "+describe(pr.s[pr.i])+" in a constant; strings must be double-quoted")
	}
	if pr.i < len(pr.s) && !isSpace(pr.s[pr.i]) && pr.s[pr.i] != ']' && pr.s[pr.i] != '&' {
		if strings.HasPrefix(pr.s[pr.i:], "||") {
			return c, pr.errAt(pr.i, "'||' is not supported: search expressions only have '&&'")
		}
		return c, pr.errAt(pr.i, "unexpected "+describe(pr.s[pr.i])+" in a constant; strings must be double-quoted")
	}
	c.Value = pr.s[vs:pr.i]
	return c, nil
}

// isBareChar reports the characters of unquoted constants: numbers, booleans,
// dateTimes, hexBinary and base64 need nothing else. '=' is base64 padding and
// never comes first (cond and validate refuse that).
func isBareChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '-' || c == '.' || c == ':' || c == '_' || c == '/' || c == '='
}

// relPath parses name (reffollow? "." name)*; the path ends in a parameter.
func (pr *pathParser) relPath() error {
	if pr.i < len(pr.s) && !isNameStart(pr.s[pr.i]) {
		return pr.errAt(pr.i, "expected a parameter name, found "+describe(pr.s[pr.i]))
	}
	for {
		if _, err := pr.name(); err != nil {
			return err
		}
		ref, _, err := pr.refFollow()
		if err != nil {
			return err
		}
		if pr.i < len(pr.s) && pr.s[pr.i] == '.' {
			pr.i++
			if pr.i < len(pr.s) && (pr.s[pr.i] >= '0' && pr.s[pr.i] <= '9' || pr.s[pr.i] == '*' || pr.s[pr.i] == '[') {
				return pr.errAt(pr.i, "an expression parameter cannot descend into a table; give the child table its own expression")
			}
			continue
		}
		if ref != RefNone {
			return pr.errAt(pr.i, "an expression parameter must end with a parameter name, not a reference")
		}
		return nil
	}
}

// quoted parses a double-quoted string at pr.i and decodes its %HH escapes.
func (pr *pathParser) quoted() (string, error) {
	open := pr.i
	pr.i++
	start := pr.i
	end := strings.IndexByte(pr.s[start:], '"')
	if end < 0 {
		return "", pr.errAt(open, "unterminated string: no closing '\"'")
	}
	raw := pr.s[start : start+end]
	pr.i = start + end + 1
	pct := strings.IndexByte(raw, '%')
	if pct < 0 {
		return raw, nil // common case: no copy
	}
	b := make([]byte, 0, len(raw))
	b = append(b, raw[:pct]...)
	for k := pct; k < len(raw); k++ {
		ch := raw[k]
		if ch != '%' {
			b = append(b, ch)
			continue
		}
		if k+2 >= len(raw) {
			return "", pr.errAt(start+k, "'%' must start an escape such as %22 or %25")
		}
		h, l := unhex(raw[k+1]), unhex(raw[k+2])
		if h < 0 || l < 0 {
			return "", pr.errAt(start+k, "'%' must start an escape such as %22 or %25")
		}
		if esc := raw[k : k+3]; esc != "%22" && esc != "%25" {
			pr.canon = false // decodes, but String will write the character itself
		}
		b = append(b, byte(h<<4|l))
		k += 2
	}
	return string(b), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// ---- evaluation ----

// Lookup gives the value and type of a parameter named relative to the
// instance being tested (Cond.Param as written, e.g. "Stats.ErrorsSent"). It
// returns ok == false when the instance has no such value, e.g. a reference
// that points nowhere; the condition is then not met.
type Lookup func(param string) (value string, typ ValueType, ok bool)

// Eval reports whether an instance matches the expression, reading its values
// through lookup. Every condition is checked, even after one fails, so that an
// invalid expression (an ordering operator on a boolean, a quoted constant for
// a number, a constant that is not of the parameter's type) is reported the
// same way whatever the data. Such errors are *PathError values with Code 7008,
// the code Agents answer for them.
func (e *Expr) Eval(lookup Lookup) (bool, error) {
	match := true
	for i := range e.Conds {
		c := &e.Conds[i]
		v, t, ok := lookup(c.Param)
		if !ok {
			match = false
			continue
		}
		m, err := c.eval(v, t)
		if err != nil {
			return false, e.condErr(i, err)
		}
		match = match && m
	}
	return match, nil
}

// condErr places an evaluation error at condition i of the expression.
func (e *Expr) condErr(i int, err error) error {
	return &PathError{Path: e.String(), Pos: e.condOffset(i), Msg: err.Error(), Code: CodeInvalidPathSyntax}
}

// Eval compares value (the parameter's current value, of type typ) with the
// condition's constant by the rules of TR-369: strings, base64, hexBinary and
// booleans only with == and != (and ~=); numbers and dateTimes ordered;
// "~=" tests membership of a comma-separated list; quoted constants only for
// string types. A value that is not of its type does not match.
func (c Cond) Eval(value string, typ ValueType) (bool, error) {
	m, err := c.eval(value, typ)
	if err != nil {
		return false, &PathError{Path: c.String(), Pos: -1, Msg: err.Error(), Code: CodeInvalidPathSyntax}
	}
	return m, nil
}

// Check reports whether the condition is valid for a parameter of type typ,
// without a value: the operator suits the type and the constant is of the type.
// Schema lookups use it to reject a bad expression before any instance exists.
func (c Cond) Check(typ ValueType) error {
	if err := c.check(typ); err != nil {
		return &PathError{Path: c.String(), Pos: -1, Msg: err.Error(), Code: CodeInvalidPathSyntax}
	}
	return nil
}

type evalError string

func (e evalError) Error() string { return string(e) }

func (c *Cond) check(typ ValueType) error {
	if c.err != nil {
		return c.err
	}
	if c.Op < OpEq || c.Op > OpGe {
		return evalError("invalid operator")
	}
	switch {
	case typ == TypeString:
		if c.Op.ordering() {
			return evalError("operator " + c.Op.String() + " is not valid for string parameter " + c.Param)
		}
		if !c.Quoted && c.Op != OpContains {
			return evalError("the constant for string parameter " + c.Param + " must be double-quoted")
		}
	case typ == TypeBase64 || typ == TypeHexBinary:
		if c.Op.ordering() {
			return evalError("operator " + c.Op.String() + " is not valid for " + typ.String() + " parameter " + c.Param)
		}
		if _, err := ParseValue(typ, c.Value); err != nil {
			return evalError("constant " + strconv.Quote(c.Value) + " is not a " + typ.String())
		}
	case typ == TypeBoolean:
		if c.Op.ordering() {
			return evalError("operator " + c.Op.String() + " is not valid for boolean parameter " + c.Param)
		}
		if c.Quoted {
			return evalError("boolean parameter " + c.Param + " needs an unquoted constant (true, false, 1 or 0)")
		}
		if _, err := ParseBool(c.Value); err != nil {
			return evalError("constant " + strconv.Quote(c.Value) + " is not a boolean")
		}
	case typ.numeric():
		if c.Quoted {
			return evalError(typ.String() + " parameter " + c.Param + " needs an unquoted number")
		}
		if err := validateNumber(typ, c.Value); err != nil {
			return evalError("constant " + strconv.Quote(c.Value) + " is not a valid " + typ.String())
		}
	case typ == TypeDateTime:
		if c.Quoted {
			return evalError("dateTime parameter " + c.Param + " needs an unquoted dateTime")
		}
		t, err := ParseDateTime(c.Value)
		if err != nil {
			return evalError("constant " + strconv.Quote(c.Value) + " is not a dateTime")
		}
		if t.IsZero() && c.Op.ordering() {
			return evalError("operator " + c.Op.String() + " is not valid with Unknown Time")
		}
	}
	return nil
}

// validateNumber checks a constant against a numeric type without allocating.
func validateNumber(typ ValueType, s string) error {
	var err error
	switch typ {
	case TypeInt:
		_, err = ParseInt(s)
	case TypeUnsignedInt:
		_, err = ParseUnsignedInt(s)
	case TypeLong:
		_, err = ParseLong(s)
	case TypeUnsignedLong:
		_, err = ParseUnsignedLong(s)
	case TypeDecimal:
		if _, _, _, ok := scanDecimal(s); !ok {
			err = ErrInvalidType
		}
	}
	return err
}

func (c *Cond) eval(value string, typ ValueType) (bool, error) {
	if err := c.check(typ); err != nil {
		return false, err
	}
	if c.Op == OpContains {
		for rest := value; ; {
			item := rest
			comma := strings.IndexByte(rest, ',')
			if comma >= 0 {
				item, rest = rest[:comma], rest[comma+1:]
			}
			item = strings.TrimSpace(item)
			if cmp, ok := c.compare(item, typ); ok && cmp == 0 {
				return true, nil
			}
			if comma < 0 {
				return false, nil
			}
		}
	}
	cmp, ok := c.compare(value, typ)
	if !ok {
		// Not comparable (a malformed value, or an ordering with Unknown Time):
		// no match, but "!=" holds for values of a different kind in unknown types.
		return false, nil
	}
	switch c.Op {
	case OpEq:
		return cmp == 0, nil
	case OpNe:
		return cmp != 0, nil
	case OpLt:
		return cmp < 0, nil
	case OpGt:
		return cmp > 0, nil
	case OpLe:
		return cmp <= 0, nil
	case OpGe:
		return cmp >= 0, nil
	}
	return false, nil
}

// compare orders value against the constant for type typ. ok is false when the
// two cannot be compared under the operator.
func (c *Cond) compare(value string, typ ValueType) (cmp int, ok bool) {
	switch {
	case typ == TypeString:
		return strings.Compare(value, c.Value), true
	case typ == TypeHexBinary:
		if strings.EqualFold(value, c.Value) {
			return 0, true
		}
		return 1, true
	case typ == TypeBase64:
		return strings.Compare(value, c.Value), true
	case typ == TypeBoolean:
		a, err1 := ParseBool(value)
		b, _ := ParseBool(c.Value)
		if err1 != nil {
			return 0, false
		}
		if a == b {
			return 0, true
		}
		return 1, true
	case typ.numeric():
		an, ai, af, ok1 := scanDecimal(value)
		bn, bi, bf, _ := scanDecimal(c.Value)
		if !ok1 {
			return 0, false
		}
		return compareScanned(an, ai, af, bn, bi, bf), true
	case typ == TypeDateTime:
		return compareTimes(value, c.Value, c.Op)
	}
	// Unknown type: infer from the constant.
	if c.Quoted {
		return strings.Compare(value, c.Value), true
	}
	if an, ai, af, ok1 := scanDecimal(value); ok1 {
		if bn, bi, bf, ok2 := scanDecimal(c.Value); ok2 {
			return compareScanned(an, ai, af, bn, bi, bf), true
		}
	}
	if cmp, ok := compareTimes(value, c.Value, c.Op); ok {
		return cmp, true
	}
	if a, err := ParseBool(value); err == nil {
		if b, err := ParseBool(c.Value); err == nil && !c.Op.ordering() {
			if a == b {
				return 0, true
			}
			return 1, true
		}
	}
	if c.Op.ordering() {
		return 0, false
	}
	return strings.Compare(value, c.Value), true
}

func compareTimes(value, constant string, op Op) (int, bool) {
	a, err1 := ParseDateTime(value)
	b, err2 := ParseDateTime(constant)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	if op.ordering() && (a.IsZero() || b.IsZero()) {
		return 0, false // Unknown Time has no order
	}
	return a.Compare(b), true
}

// ---- constructors ----

// Eq builds the condition param == v. v may be a string (quoted), bool, any Go
// integer, float32/float64 (decimal) or time.Time (dateTime). Other types
// make the condition invalid, which a Builder reports.
func Eq(param string, v any) Cond { return newCond(param, OpEq, v) }

// Ne builds param != v; see Eq for the value types.
func Ne(param string, v any) Cond { return newCond(param, OpNe, v) }

// Contains builds param ~= v: the comma-separated list param has v as an item.
func Contains(param string, v any) Cond { return newCond(param, OpContains, v) }

// Lt builds param < v for numbers and dateTimes.
func Lt(param string, v any) Cond { return newCond(param, OpLt, v) }

// Gt builds param > v for numbers and dateTimes.
func Gt(param string, v any) Cond { return newCond(param, OpGt, v) }

// Le builds param <= v for numbers and dateTimes.
func Le(param string, v any) Cond { return newCond(param, OpLe, v) }

// Ge builds param >= v for numbers and dateTimes.
func Ge(param string, v any) Cond { return newCond(param, OpGe, v) }

func newCond(param string, op Op, v any) Cond {
	c := Cond{Param: param, Op: op}
	switch x := v.(type) {
	case string:
		c.Value, c.Quoted = x, true
	case bool:
		c.Value = FormatBool(x)
	case time.Time:
		s, err := FormatDateTime(x)
		c.Value, c.err = s, err
	case float32, float64:
		s, err := FormatValue(TypeDecimal, x)
		c.Value, c.err = s, err
	default:
		s, err := formatInteger(TypeLong, v)
		if err != nil {
			s, err = formatInteger(TypeUnsignedLong, v)
		}
		c.Value, c.err = s, err
	}
	return c
}

// validate checks a condition built in code: the parameter is a valid relative
// path and the constant can be written.
func (c Cond) validate() error {
	if c.err != nil {
		return c.err
	}
	if c.Op < OpEq || c.Op > OpGe {
		return evalError("condition on " + strconv.Quote(c.Param) + " has no valid operator")
	}
	pr := pathParser{s: c.Param}
	if c.Param == "" {
		return evalError("condition has an empty parameter name")
	}
	if err := pr.relPath(); err != nil {
		return err
	}
	if pr.i != len(c.Param) {
		return pr.errAt(pr.i, "unexpected "+describe(c.Param[pr.i])+" in an expression parameter")
	}
	if !c.Quoted {
		if c.Value == "" {
			return evalError("condition on " + c.Param + " has an empty unquoted constant")
		}
		if c.Value[0] == '=' {
			return evalError("unquoted constant " + strconv.Quote(c.Value) + " starts with '=', which would join the operator")
		}
		for i := 0; i < len(c.Value); i++ {
			if !isBareChar(c.Value[i]) {
				return evalError("unquoted constant " + strconv.Quote(c.Value) + " has " + describe(c.Value[i]) + "; quote strings")
			}
		}
	}
	return nil
}
