package datamodel

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/FuzzXxx; run for example
//
//	go test ./datamodel -run '^$' -fuzz '^FuzzParsePath$' -fuzztime 20s

// checkSyntaxErr asserts the shape of a parse error: *PathError, 7008, an
// offset inside the input.
func checkSyntaxErr(t *testing.T, in string, err error) {
	t.Helper()
	var pe *PathError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *PathError", err, err)
	}
	if pe.Code != CodeInvalidPathSyntax || pe.Path != in || pe.Pos < 0 || pe.Pos > len(in) || pe.Msg == "" {
		t.Fatalf("bad error for %q: %+v", in, pe)
	}
}

func FuzzParsePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			checkSyntaxErr(t, s, err)
			return
		}
		canon := p.String()
		if got := format(p.Segments(), p.Kind()); got != canon {
			t.Fatalf("String %q differs from formatted %q (input %q)", canon, got, s)
		}
		q, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, s, err)
		}
		if q.String() != canon || q.Kind() != p.Kind() || q.Len() != p.Len() {
			t.Fatalf("round trip %q -> %q (%v/%v)", canon, q, q.Kind(), p.Kind())
		}
		if s == canon {
			// Canonical input: offsets were recorded without formatting; check them.
			fresh := p.Segments()
			format(fresh, p.Kind())
			for i := range fresh {
				if fresh[i].end != p.segs[i].end {
					t.Fatalf("segment %d end %d, want %d in %q", i, p.segs[i].end, fresh[i].end, s)
				}
			}
		}
		for a := p; !a.IsZero(); a = a.Parent() {
			if b, err := Parse(a.String()); err != nil || b.String() != a.String() {
				t.Fatalf("parent %q of %q does not parse: %v", a, p, err)
			}
		}
		obj, leaf := p.Split()
		if obj.String()+leaf != canon {
			t.Fatalf("Split(%q) = %q + %q", canon, obj, leaf)
		}
		if sp, err := Parse(p.SupportedPath()); err != nil || sp.IsSearch() {
			t.Fatalf("SupportedPath(%q) = %q: %v", canon, p.SupportedPath(), err)
		}
		if _, err := p.Match(p, func(string, string) (string, ValueType, bool) { return "", TypeString, false }); err != nil && p.IsConcrete() {
			t.Fatalf("concrete path %q does not match itself: %v", canon, err)
		}
	})
}

func FuzzParseExpr(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			checkSyntaxErr(t, s, err)
			return
		}
		canon := e.String()
		e2, err := ParseExpr(canon)
		if err != nil || e2.String() != canon || len(e2.Conds) != len(e.Conds) {
			t.Fatalf("round trip of %q: %q %v", s, canon, err)
		}
		for i := range e.Conds {
			if e.Conds[i] != e2.Conds[i] {
				t.Fatalf("cond %d changed: %#v vs %#v", i, e.Conds[i], e2.Conds[i])
			}
		}
		// The expression works as an instance identifier too.
		if _, err := Parse("Device.X." + canon + ".Y"); err != nil {
			t.Fatalf("expression %q rejected in a path: %v", canon, err)
		}
	})
}

func FuzzEval(f *testing.F) {
	f.Fuzz(func(t *testing.T, expr, value string, typ uint8) {
		e, err := ParseExpr(expr)
		if err != nil {
			return
		}
		vt := ValueType(typ % 11)
		lookup := func(string) (string, ValueType, bool) { return value, vt, true }
		m1, err1 := e.Eval(lookup)
		m2, err2 := e.Eval(lookup)
		if m1 != m2 || (err1 == nil) != (err2 == nil) {
			t.Fatal("Eval is not deterministic")
		}
		if err1 != nil {
			var pe *PathError
			if !errors.As(err1, &pe) || pe.Code != CodeInvalidPathSyntax || m1 {
				t.Fatalf("Eval error %v (match %v)", err1, m1)
			}
			return
		}
		// Static checking agrees with evaluation on validity.
		for _, c := range e.Conds {
			if err := c.Check(vt); err != nil {
				t.Fatalf("Eval succeeded but Check(%v) of %v failed: %v", vt, c, err)
			}
		}
		// == and != are complements for comparable values of a known type.
		if len(e.Conds) == 1 && e.Conds[0].Op == OpEq && vt != TypeUnknown && ValidateValue(vt, value) == nil {
			ne := e.Conds[0]
			ne.Op = OpNe
			m3, err := ne.Eval(value, vt)
			if err != nil || m3 == m1 {
				t.Fatalf("%v on %q: == %v, != %v (%v)", e, value, m1, m3, err)
			}
		}
	})
}

// roundTrip checks the value-parser properties: an accepted input formats to
// a canonical form that parses to the same value and formats to itself.
func roundTrip[T any](t *testing.T, s string, parse func(string) (T, error), format func(T) (string, error), equal func(a, b T) bool) {
	t.Helper()
	v, err := parse(s)
	if err != nil {
		var ve *ValueError
		if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidType) || ve.Value != s {
			t.Fatalf("error for %q: %T %v", s, err, err)
		}
		return
	}
	c, err := format(v)
	if err != nil {
		t.Fatalf("format of %q failed: %v", s, err)
	}
	v2, err := parse(c)
	if err != nil || !equal(v, v2) {
		t.Fatalf("canonical %q of %q parses to %v (%v), want %v", c, s, v2, err, v)
	}
	if c2, _ := format(v2); c2 != c {
		t.Fatalf("format is not canonical: %q then %q", c, c2)
	}
}

func noErr[T any](f func(T) string) func(T) (string, error) {
	return func(v T) (string, error) { return f(v), nil }
}

func eq[T comparable](a, b T) bool { return a == b }

func FuzzParseBool(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) { roundTrip(t, s, ParseBool, noErr(FormatBool), eq) })
}

// integerOracle compares an integer parser with strconv on the same text.
// strconv.ParseInt in base 10 accepts exactly the XML Schema forms; ParseUint
// takes no sign, and XML Schema allows "+" and, on zero only, "-".
func integerOracle(t *testing.T, s string, bits int, signed bool, err error, got string) {
	t.Helper()
	var want string
	var werr error
	if signed {
		var v int64
		v, werr = strconv.ParseInt(s, 10, bits)
		want = strconv.FormatInt(v, 10)
	} else {
		d, neg := s, false
		if d != "" && (d[0] == '+' || d[0] == '-') {
			d, neg = d[1:], d[0] == '-'
		}
		var v uint64
		v, werr = strconv.ParseUint(d, 10, bits)
		if werr == nil && (neg && v != 0 || d != "" && (d[0] == '+' || d[0] == '-')) {
			werr = errors.New("sign")
		}
		want = strconv.FormatUint(v, 10)
	}
	if (err == nil) != (werr == nil) || (err == nil && got != want) {
		t.Fatalf("%q: got %q, %v; strconv says %q, %v", s, got, err, want, werr)
	}
}

func FuzzParseInt(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseInt, noErr(FormatInt), eq)
		v, err := ParseInt(s)
		integerOracle(t, s, 32, true, err, FormatInt(v))
	})
}

func FuzzParseUnsignedInt(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseUnsignedInt, noErr(FormatUnsignedInt), eq)
		v, err := ParseUnsignedInt(s)
		integerOracle(t, s, 32, false, err, FormatUnsignedInt(v))
	})
}

func FuzzParseLong(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseLong, noErr(FormatLong), eq)
		v, err := ParseLong(s)
		integerOracle(t, s, 64, true, err, FormatLong(v))
	})
}

func FuzzParseUnsignedLong(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseUnsignedLong, noErr(FormatUnsignedLong), eq)
		v, err := ParseUnsignedLong(s)
		integerOracle(t, s, 64, false, err, FormatUnsignedLong(v))
	})
}

func FuzzParseDecimal(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseDecimal, FormatDecimal, eq)
		v, err := ParseDecimal(s)
		if err != nil {
			return
		}
		if w, err := strconv.ParseFloat(s, 64); err != nil || w != v || math.IsNaN(v) {
			t.Fatalf("ParseDecimal(%q) = %v, strconv %v %v", s, v, w, err)
		}
		if c, err := CompareDecimal(s, s); err != nil || c != 0 {
			t.Fatalf("CompareDecimal(%q, itself) = %d, %v", s, c, err)
		}
	})
}

func FuzzParseDateTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseDateTime, FormatDateTime, func(a, b time.Time) bool { return a.Equal(b) })
	})
}

func FuzzParseBase64(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseBase64, noErr(FormatBase64), bytes.Equal)
		if b, err := ParseBase64(s); err == nil && FormatBase64(b) != s {
			t.Fatalf("strict base64 %q is not canonical", s)
		}
	})
}

func FuzzParseHexBinary(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		roundTrip(t, s, ParseHexBinary, noErr(FormatHexBinary), bytes.Equal)
		if b, err := ParseHexBinary(s); err == nil && FormatHexBinary(b) != strings.ToUpper(s) {
			t.Fatalf("hexBinary %q formats as %q", s, FormatHexBinary(b))
		}
	})
}

func FuzzParseList(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		items := ParseList(s)
		c, err := FormatList(items)
		if err != nil {
			// Only items that cannot be written: an empty single item is impossible
			// from ParseList, commas are impossible; whitespace is trimmed.
			t.Fatalf("FormatList(ParseList(%q)) = %v", s, err)
		}
		again := ParseList(c)
		if len(again) != len(items) {
			t.Fatalf("list %q -> %q -> %q", s, c, again)
		}
		for i := range items {
			if items[i] != again[i] {
				t.Fatalf("item %d changed: %q -> %q", i, items[i], again[i])
			}
		}
	})
}

func FuzzSchemaLookup(f *testing.F) {
	s, _ := loadObuspaSchema(f, "68-gsdm-device-full")
	f.Fuzz(func(t *testing.T, path string) {
		p, err := Parse(path)
		if err != nil {
			return
		}
		e, err := s.Lookup(p)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || (pe.Code != CodeInvalidPath && pe.Code != CodeInvalidPathSyntax) ||
				pe.Path != p.String() || pe.Pos < -1 || pe.Pos > len(pe.Path) {
				t.Fatalf("Lookup(%q) error %#v", p, err)
			}
			return
		}
		if e.Kind != p.Kind() {
			t.Fatalf("Lookup(%q) kind %v", p, e.Kind)
		}
		if p.SupportedPath() != e.Path {
			t.Fatalf("Lookup(%q).Path = %q, want %q", p, e.Path, p.SupportedPath())
		}
	})
}
