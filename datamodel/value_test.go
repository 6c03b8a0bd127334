package datamodel

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "1": true, "false": false, "0": false} {
		got, err := ParseBool(in)
		if err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "TRUE", "True", "yes", "2", " true", "01"} {
		if _, err := ParseBool(in); !errors.Is(err, ErrInvalidType) {
			t.Errorf("ParseBool(%q) error = %v, want ErrInvalidType", in, err)
		}
	}
	if FormatBool(true) != "true" || FormatBool(false) != "false" {
		t.Error("FormatBool")
	}
}

func TestParseIntegers(t *testing.T) {
	tests := []struct {
		typ   ValueType
		in    string
		want  string // canonical form, "" for an error
		errIs string
	}{
		{TypeInt, "0", "0", ""},
		{TypeInt, "-0", "0", ""},
		{TypeInt, "+123", "123", ""},
		{TypeInt, "0123", "123", ""},
		{TypeInt, "-2147483648", "-2147483648", ""},
		{TypeInt, "2147483647", "2147483647", ""},
		{TypeInt, "2147483648", "", "out of range"},
		{TypeInt, "-2147483649", "", "out of range"},
		{TypeInt, "", "", "no digits"},
		{TypeInt, "-", "", "no digits"},
		{TypeInt, "1.0", "", "unexpected '.' at offset 1"},
		{TypeInt, " 1", "", "unexpected"},
		{TypeInt, "1e3", "", "unexpected"},
		{TypeInt, "0x10", "", "unexpected"},
		{TypeInt, "1_000", "", "unexpected"},
		{TypeUnsignedInt, "4294967295", "4294967295", ""},
		{TypeUnsignedInt, "4294967296", "", "out of range [0, 4294967295]"},
		{TypeUnsignedInt, "-1", "", "negative"},
		{TypeUnsignedInt, "-0", "0", ""},
		{TypeUnsignedInt, "+7", "7", ""},
		{TypeLong, "-9223372036854775808", "-9223372036854775808", ""},
		{TypeLong, "9223372036854775807", "9223372036854775807", ""},
		{TypeLong, "9223372036854775808", "", "out of range"},
		{TypeUnsignedLong, "18446744073709551615", "18446744073709551615", ""},
		{TypeUnsignedLong, "18446744073709551616", "", "out of range [0, 18446744073709551615]"},
		{TypeUnsignedLong, "000000000000000000000000000001", "1", ""},
	}
	for _, tt := range tests {
		v, err := ParseValue(tt.typ, tt.in)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), tt.errIs) || !errors.Is(err, ErrInvalidType) {
				t.Errorf("Parse %v %q = %v, %v; want error with %q", tt.typ, tt.in, v, err, tt.errIs)
			}
			var ve *ValueError
			if errors.As(err, &ve) && (ve.Type != tt.typ || ve.Value != tt.in) {
				t.Errorf("ValueError = %+v", ve)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse %v %q: %v", tt.typ, tt.in, err)
			continue
		}
		s, err := FormatValue(tt.typ, v)
		if err != nil || s != tt.want {
			t.Errorf("Format %v %v = %q, %v; want %q", tt.typ, v, s, err, tt.want)
		}
	}
	// The typed functions return the Go types.
	if v, _ := ParseInt("-5"); v != -5 || FormatInt(v) != "-5" {
		t.Error("ParseInt")
	}
	if v, _ := ParseUnsignedInt("5"); v != 5 || FormatUnsignedInt(v) != "5" {
		t.Error("ParseUnsignedInt")
	}
	if v, _ := ParseLong("-5"); v != -5 || FormatLong(v) != "-5" {
		t.Error("ParseLong")
	}
	if v, _ := ParseUnsignedLong("5"); v != 5 || FormatUnsignedLong(v) != "5" {
		t.Error("ParseUnsignedLong")
	}
}

func TestFormatValueGoTypes(t *testing.T) {
	tests := []struct {
		typ  ValueType
		v    any
		want string // "" for an error
	}{
		{TypeInt, 5, "5"},
		{TypeInt, int8(-5), "-5"},
		{TypeInt, int64(1) << 31, ""},
		{TypeInt, uint64(7), "7"},
		{TypeUnsignedInt, -1, ""},
		{TypeUnsignedInt, uint32(math.MaxUint32), "4294967295"},
		{TypeUnsignedInt, uint64(math.MaxUint32) + 1, ""},
		{TypeLong, int64(math.MinInt64), "-9223372036854775808"},
		{TypeUnsignedLong, uint64(math.MaxUint64), "18446744073709551615"},
		{TypeUnsignedLong, int(-1), ""},
		{TypeUnsignedInt, "12", "12"},
		{TypeUnsignedInt, "x", ""},
		{TypeInt, 1.5, ""},
		{TypeBoolean, true, "true"},
		{TypeBoolean, 1, ""},
		{TypeDecimal, 1.25, "1.25"},
		{TypeDecimal, float32(0.5), "0.5"},
		{TypeDecimal, 3, "3"},
		{TypeDecimal, uint64(math.MaxUint64), "18446744073709551615"},
		{TypeDecimal, math.NaN(), ""},
		{TypeDecimal, math.Inf(1), ""},
		{TypeDateTime, time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "2024-01-02T02:04:05Z"},
		{TypeDateTime, time.Time{}, "0001-01-01T00:00:00Z"},
		{TypeDateTime, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{TypeBase64, []byte("hi"), "aGk="},
		{TypeHexBinary, []byte{0xab, 0x01}, "AB01"},
		{TypeString, "anything", "anything"},
		{TypeString, time.Second, "1s"},
		{TypeString, 5, ""},
		{ValueType(99), "x", ""},
	}
	for _, tt := range tests {
		got, err := FormatValue(tt.typ, tt.v)
		if tt.want == "" {
			if err == nil {
				t.Errorf("FormatValue(%v, %#v) = %q, want error", tt.typ, tt.v, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("FormatValue(%v, %#v) = %q, %v; want %q", tt.typ, tt.v, got, err, tt.want)
		}
	}
}

func TestDecimal(t *testing.T) {
	valid := map[string]float64{"0": 0, "-0": 0, "1.5": 1.5, "+.5": 0.5, "5.": 5, "-0012.340": -12.34, "100": 100}
	for in, want := range valid {
		got, err := ParseDecimal(in)
		if err != nil || got != want {
			t.Errorf("ParseDecimal(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", ".", "-", "1e5", "1.2.3", "inf", "NaN", "0x1p3", " 1", "1,5", "1" + strings.Repeat("0", 400)} {
		if _, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) accepted", in)
		}
	}
	for v, want := range map[float64]string{0: "0", math.Copysign(0, -1): "0", 1.5: "1.5", -0.001: "-0.001", 1e21: "1000000000000000000000", 123456789.125: "123456789.125"} {
		if got, err := FormatDecimal(v); err != nil || got != want {
			t.Errorf("FormatDecimal(%v) = %q, %v; want %q", v, got, err, want)
		}
	}
	cmp := []struct {
		a, b string
		want int
	}{
		{"1", "1.0", 0}, {"-0", "0", 0}, {"0010.500", "10.5", 0},
		{"1.05", "1.5", -1}, {"2", "10", -1}, {"-2", "-10", 1}, {"-1", "1", -1},
		{"0.30000000000000000001", "0.3", 1}, // exact, where float64 would say equal
		{"99999999999999999999", "99999999999999999998", 1},
	}
	for _, tt := range cmp {
		got, err := CompareDecimal(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("CompareDecimal(%s, %s) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := CompareDecimal("x", "1"); err == nil {
		t.Error("CompareDecimal accepted x")
	}
	if _, err := CompareDecimal("1", "x"); err == nil {
		t.Error("CompareDecimal accepted x")
	}
}

func TestDateTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical; "" for an error
	}{
		{"2024-02-29T12:34:56Z", "2024-02-29T12:34:56Z"},
		{"2024-02-29T12:34:56.5Z", "2024-02-29T12:34:56.5Z"},
		{"2024-02-29T12:34:56.123456789Z", "2024-02-29T12:34:56.123456789Z"},
		{"2024-02-29T12:34:56.120000000000Z", "2024-02-29T12:34:56.12Z"},
		{"2024-02-29T12:34:56.000Z", "2024-02-29T12:34:56Z"},
		{"2024-02-29T12:34:56+02:00", "2024-02-29T10:34:56Z"},
		{"2024-02-29T23:00:00-01:30", "2024-03-01T00:30:00Z"},
		{"2024-02-29T12:34:56+00:00", "2024-02-29T12:34:56Z"},
		{"2024-12-31T24:00:00Z", "2025-01-01T00:00:00Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
		{"0001-01-03T03:04:05", "0001-01-03T03:04:05Z"}, // relative to boot
		{"2023-02-29T00:00:00Z", ""},
		{"2024-13-01T00:00:00Z", ""},
		{"2024-00-01T00:00:00Z", ""},
		{"2024-04-31T00:00:00Z", ""},
		{"2024-01-01T25:00:00Z", ""},
		{"2024-01-01T24:00:01Z", ""},
		{"2024-01-01T00:60:00Z", ""},
		{"2024-01-01T00:00:60Z", ""},
		{"0000-01-01T00:00:00Z", ""},
		{"2024-01-01T00:00:00", ""}, // absolute times need a zone
		{"2024-01-01 00:00:00Z", ""},
		{"2024-1-01T00:00:00Z", ""},
		{"2024-01-01T00:00:00z", ""},
		{"2024-01-01T00:00:00.Z", ""},
		{"2024-01-01T00:00:00.1234567891Z", ""},
		{"2024-01-01T00:00:00+15:00", ""},
		{"2024-01-01T00:00:00+0100", ""},
		{"2024-01-01T00:00:00ZZ", ""},
		{"2024-01-01", ""},
		{"", ""},
	}
	for _, tt := range tests {
		v, err := ParseDateTime(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseDateTime(%q) = %v, want error", tt.in, v)
			} else if !errors.Is(err, ErrInvalidType) {
				t.Errorf("ParseDateTime(%q) error %v is not ErrInvalidType", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDateTime(%q): %v", tt.in, err)
			continue
		}
		if v.Location() != time.UTC {
			t.Errorf("ParseDateTime(%q) not in UTC", tt.in)
		}
		if s, err := FormatDateTime(v); err != nil || s != tt.want {
			t.Errorf("FormatDateTime(ParseDateTime(%q)) = %q, %v; want %q", tt.in, s, err, tt.want)
		}
	}
	u, _ := ParseDateTime("0001-01-01T00:00:00Z")
	if !u.IsZero() || !u.Equal(UnknownTime) {
		t.Error("Unknown Time is not the zero time")
	}
}

func TestBinaryValues(t *testing.T) {
	if b, err := ParseBase64("aGVsbG8="); err != nil || string(b) != "hello" {
		t.Errorf("ParseBase64 = %q, %v", b, err)
	}
	for _, in := range []string{"aGVsbG8", "aGVsbG8=\n", "a GVsbG8=", "aGVsbG9=", "!!!!"} {
		if _, err := ParseBase64(in); err == nil {
			t.Errorf("ParseBase64(%q) accepted", in)
		}
	}
	if b, err := ParseHexBinary("0aFf"); err != nil || !bytes.Equal(b, []byte{0x0a, 0xff}) {
		t.Errorf("ParseHexBinary = %x, %v", b, err)
	}
	if FormatHexBinary([]byte{0x0a, 0xff}) != "0AFF" {
		t.Error("FormatHexBinary is not upper case")
	}
	for _, in := range []string{"0", "0g", "0x00", " 00"} {
		if _, err := ParseHexBinary(in); err == nil {
			t.Errorf("ParseHexBinary(%q) accepted", in)
		}
	}
	if b, err := ParseHexBinary(""); err != nil || len(b) != 0 {
		t.Error("empty hexBinary")
	}
}

func TestLists(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"a", []string{"a"}},
		{"a,b,c", []string{"a", "b", "c"}},
		{"Device.WiFi.Radio.1, Device.WiFi.Radio.2", []string{"Device.WiFi.Radio.1", "Device.WiFi.Radio.2"}},
		{"a,,b", []string{"a", "", "b"}},
	}
	for _, tt := range tests {
		if got := ParseList(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if s, err := FormatList([]string{"a", "b"}); err != nil || s != "a,b" {
		t.Errorf("FormatList = %q, %v", s, err)
	}
	if s, err := FormatList(nil); err != nil || s != "" {
		t.Errorf("FormatList(nil) = %q, %v", s, err)
	}
	for _, bad := range [][]string{{"a,b"}, {" a"}, {""}} {
		if _, err := FormatList(bad); err == nil {
			t.Errorf("FormatList(%q) accepted", bad)
		}
	}
	nums, err := ParseListOf("1, 2,3", ParseUnsignedInt)
	if err != nil || !slices.Equal(nums, []uint32{1, 2, 3}) {
		t.Errorf("ParseListOf = %v, %v", nums, err)
	}
	if _, err := ParseListOf("1,x", ParseUnsignedInt); err == nil {
		t.Error("ParseListOf accepted x")
	}
}

func TestValueTypeNames(t *testing.T) {
	for vt := TypeUnknown; vt <= TypeUnsignedLong; vt++ {
		got, ok := ParseValueType(vt.String())
		if vt == TypeUnknown {
			if ok {
				t.Error("ParseValueType(unknown) ok")
			}
			continue
		}
		if !ok || got != vt {
			t.Errorf("ParseValueType(%q) = %v, %v", vt.String(), got, ok)
		}
	}
	if ValueType(42).String() != "ValueType(42)" {
		t.Error(ValueType(42).String())
	}
	// The numbers are the protobuf enum numbers (usp-msg-1-4.proto).
	wire := map[string]int32{
		TypeUnknown.String(): 0, TypeBase64.String(): 1, TypeBoolean.String(): 2, TypeDateTime.String(): 3,
		TypeDecimal.String(): 4, TypeHexBinary.String(): 5, TypeInt.String(): 6, TypeLong.String(): 7,
		TypeString.String(): 8, TypeUnsignedInt.String(): 9, TypeUnsignedLong.String(): 10,
		ObjReadOnly.String(): 0, ObjAddDelete.String(): 1, ObjAddOnly.String(): 2, ObjDeleteOnly.String(): 3,
		ParamReadOnly.String(): 0, ParamReadWrite.String(): 1, ParamWriteOnly.String(): 2,
		ValueChangeUnknown.String(): 0, ValueChangeAllowed.String(): 1, ValueChangeWillIgnore.String(): 2,
		CmdUnknown.String(): 0, CmdSync.String(): 1, CmdAsync.String(): 2,
	}
	got := map[string]int32{}
	for vt := TypeUnknown; vt <= TypeUnsignedLong; vt++ {
		got[vt.String()] = int32(vt)
	}
	for a := ObjReadOnly; a <= ObjDeleteOnly; a++ {
		got[a.String()] = int32(a)
	}
	for a := ParamReadOnly; a <= ParamWriteOnly; a++ {
		got[a.String()] = int32(a)
	}
	for v := ValueChangeUnknown; v <= ValueChangeWillIgnore; v++ {
		got[v.String()] = int32(v)
	}
	for c := CmdUnknown; c <= CmdAsync; c++ {
		got[c.String()] = int32(c)
	}
	for k, v := range wire {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if !ObjAddDelete.CanAdd() || !ObjAddDelete.CanDelete() || ObjAddOnly.CanDelete() || ObjDeleteOnly.CanAdd() || ObjReadOnly.CanAdd() {
		t.Error("ObjectAccess predicates")
	}
	if ParamReadOnly.Writable() || !ParamReadWrite.Writable() || !ParamWriteOnly.Writable() {
		t.Error("ParamAccess.Writable")
	}
}
