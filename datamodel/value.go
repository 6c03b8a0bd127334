package datamodel

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Values travel in USP as strings in the lexical forms of TR-106 section 3.2
// (which follows XML Schema). The parsers here are strict: they accept every
// lexical form the standard allows and nothing else, and report what is wrong
// in a *ValueError. The formatters give the canonical form, so that
// Format(Parse(s)) == s whenever s is already canonical.

// UnknownTime is the TR-106 "Unknown Time" dateTime, 0001-01-01T00:00:00Z. It is
// also Go's zero time.Time, so t.IsZero() tests for it.
var UnknownTime = time.Time{}

// ParseBool parses a TR-106 boolean: "true", "false", "1" or "0".
func ParseBool(s string) (bool, error) {
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, valueErr(TypeBoolean, s, `want "true", "false", "1" or "0"`)
}

// FormatBool gives the canonical form, "true" or "false".
func FormatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// scanInteger checks the XML Schema integer form: an optional sign, then one or
// more ASCII digits. It returns the sign and the digits without leading zeros.
func scanInteger(t ValueType, s string) (neg bool, digits string, err error) {
	d := s
	if d != "" && (d[0] == '+' || d[0] == '-') {
		neg = d[0] == '-'
		d = d[1:]
	}
	if d == "" {
		return false, "", valueErr(t, s, "no digits")
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false, "", valueErr(t, s, fmt.Sprintf("unexpected %q at offset %d", d[i], len(s)-len(d)+i))
		}
	}
	d = strings.TrimLeft(d, "0")
	if d == "" {
		d = "0"
	}
	return neg, d, nil
}

func parseSigned(t ValueType, s string, bits int) (int64, error) {
	neg, d, err := scanInteger(t, s)
	if err != nil {
		return 0, err
	}
	if neg {
		d = "-" + d
	}
	v, perr := strconv.ParseInt(d, 10, bits)
	if perr != nil {
		return 0, valueErr(t, s, fmt.Sprintf("out of range [%d, %d]", int64(-1)<<(bits-1), int64(1)<<(bits-1)-1))
	}
	return v, nil
}

func parseUnsigned(t ValueType, s string, bits int) (uint64, error) {
	neg, d, err := scanInteger(t, s)
	if err != nil {
		return 0, err
	}
	if neg && d != "0" { // XML Schema allows "-0" on unsigned types, nothing else negative
		return 0, valueErr(t, s, "negative value for an unsigned type")
	}
	v, perr := strconv.ParseUint(d, 10, bits)
	if perr != nil {
		return 0, valueErr(t, s, fmt.Sprintf("out of range [0, %d]", uint64(1)<<(bits-1)<<1-1))
	}
	return v, nil
}

// ParseInt parses a TR-106 int (32 bits, signed). Leading "+" and zeros are allowed.
func ParseInt(s string) (int32, error) {
	v, err := parseSigned(TypeInt, s, 32)
	return int32(v), err
}

// FormatInt gives the canonical form of an int.
func FormatInt(v int32) string { return strconv.FormatInt(int64(v), 10) }

// ParseUnsignedInt parses a TR-106 unsignedInt (32 bits).
func ParseUnsignedInt(s string) (uint32, error) {
	v, err := parseUnsigned(TypeUnsignedInt, s, 32)
	return uint32(v), err
}

// FormatUnsignedInt gives the canonical form of an unsignedInt.
func FormatUnsignedInt(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// ParseLong parses a TR-106 long (64 bits, signed).
func ParseLong(s string) (int64, error) { return parseSigned(TypeLong, s, 64) }

// FormatLong gives the canonical form of a long.
func FormatLong(v int64) string { return strconv.FormatInt(v, 10) }

// ParseUnsignedLong parses a TR-106 unsignedLong (64 bits).
func ParseUnsignedLong(s string) (uint64, error) { return parseUnsigned(TypeUnsignedLong, s, 64) }

// FormatUnsignedLong gives the canonical form of an unsignedLong.
func FormatUnsignedLong(v uint64) string { return strconv.FormatUint(v, 10) }

// scanDecimal checks the XML Schema decimal form: optional sign, digits with at
// most one '.', at least one digit, no exponent. It returns the sign, the
// integer digits without leading zeros and the fraction digits without
// trailing zeros, which together compare exactly.
func scanDecimal(s string) (neg bool, ip, fp string, ok bool) {
	d := s
	if d != "" && (d[0] == '+' || d[0] == '-') {
		neg = d[0] == '-'
		d = d[1:]
	}
	dot := strings.IndexByte(d, '.')
	ip, fp = d, ""
	if dot >= 0 {
		ip, fp = d[:dot], d[dot+1:]
	}
	if ip == "" && fp == "" {
		return false, "", "", false
	}
	for _, part := range [2]string{ip, fp} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false, "", "", false
			}
		}
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if ip == "" && fp == "" {
		neg = false // -0 == 0
	}
	return neg, ip, fp, true
}

// ParseDecimal parses a TR-106 decimal ("-1.5", "+.5", "10"; no exponent) into
// the nearest float64. Use CompareDecimal to compare decimals exactly.
func ParseDecimal(s string) (float64, error) {
	if _, _, _, ok := scanDecimal(s); !ok {
		return 0, valueErr(TypeDecimal, s, "want digits with an optional sign and one optional '.'")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, valueErr(TypeDecimal, s, "out of range for float64")
	}
	return v, nil
}

// FormatDecimal gives the shortest decimal form that parses back to v, without
// an exponent. NaN and infinities have no decimal form and give an error.
func FormatDecimal(v float64) (string, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "", valueErr(TypeDecimal, strconv.FormatFloat(v, 'g', -1, 64), "not a finite number")
	}
	if v == 0 {
		return "0", nil // also for -0
	}
	return strconv.FormatFloat(v, 'f', -1, 64), nil
}

// CompareDecimal compares two values in TR-106 decimal (or integer) lexical
// form exactly, without rounding, and returns -1, 0 or +1. It fails if either
// is not a decimal.
func CompareDecimal(a, b string) (int, error) {
	an, ai, af, ok := scanDecimal(a)
	if !ok {
		return 0, valueErr(TypeDecimal, a, "not a decimal")
	}
	bn, bi, bf, ok := scanDecimal(b)
	if !ok {
		return 0, valueErr(TypeDecimal, b, "not a decimal")
	}
	return compareScanned(an, ai, af, bn, bi, bf), nil
}

func compareScanned(an bool, ai, af string, bn bool, bi, bf string) int {
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := compareMagnitude(ai, af, bi, bf)
	if an {
		return -c
	}
	return c
}

func compareMagnitude(ai, af, bi, bf string) int {
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf) // no trailing zeros, so text order is numeric order
}

// dateTime layout parts. TR-106 3.2.1: UTC is expected; a value without a
// time zone is allowed only for times relative to boot (year < 1000).

// ParseDateTime parses a TR-106 dateTime: YYYY-MM-DDThh:mm:ss with optional
// fractional seconds and a time zone ("Z" or ±hh:mm). The result is in UTC.
// A value without a time zone is accepted only when its year is below 1000,
// which TR-106 reserves for times relative to boot; it is read as UTC.
// "0001-01-01T00:00:00Z" (Unknown Time) gives the zero time.Time.
func ParseDateTime(s string) (time.Time, error) {
	// Fixed-width scan first: time.Parse accepts forms XML Schema does not
	// (e.g. "24:00:00" handling differs, single-digit fields with some layouts).
	bad := func(msg string) (time.Time, error) { return time.Time{}, valueErr(TypeDateTime, s, msg) }
	if len(s) < 19 {
		return bad("want YYYY-MM-DDThh:mm:ss followed by Z or ±hh:mm")
	}
	for i, c := range []byte(s[:19]) {
		switch i {
		case 4, 7:
			if c != '-' {
				return bad(fmt.Sprintf("want '-' at offset %d", i))
			}
		case 10:
			if c != 'T' {
				return bad("want 'T' at offset 10")
			}
		case 13, 16:
			if c != ':' {
				return bad(fmt.Sprintf("want ':' at offset %d", i))
			}
		default:
			if c < '0' || c > '9' {
				return bad(fmt.Sprintf("want a digit at offset %d", i))
			}
		}
	}
	num := func(a, b int) int {
		n := 0
		for _, c := range []byte(s[a:b]) {
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	rest := s[19:]
	nsec := 0
	if rest != "" && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		frac := rest[1:j]
		if frac == "" {
			return bad("no digits after '.'")
		}
		if len(frac) > 9 {
			// Sub-nanosecond digits cannot be represented; refuse rather than round silently.
			if strings.Trim(frac[9:], "0") != "" {
				return bad("more than nanosecond precision")
			}
			frac = frac[:9]
		}
		for k := 0; k < 9; k++ {
			nsec *= 10
			if k < len(frac) {
				nsec += int(frac[k] - '0')
			}
		}
		rest = rest[j:]
	}
	if year == 0 {
		return bad("year 0000 does not exist")
	}
	if month < 1 || month > 12 {
		return bad("month out of range")
	}
	if day < 1 || day > daysIn(year, month) {
		return bad("day out of range")
	}
	if hour > 23 || minute > 59 || sec > 59 {
		if !(hour == 24 && minute == 0 && sec == 0 && nsec == 0) { // XML Schema allows 24:00:00
			return bad("time of day out of range")
		}
	}
	offset := 0
	switch {
	case rest == "":
		if year >= 1000 {
			return bad("missing time zone (only times relative to boot, year < 1000, may omit it)")
		}
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigits(rest[1:3]) && isDigits(rest[4:6]):
		oh := int(rest[1]-'0')*10 + int(rest[2]-'0')
		om := int(rest[4]-'0')*10 + int(rest[5]-'0')
		if oh > 14 || om > 59 || (oh == 14 && om != 0) {
			return bad("time zone offset out of range")
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return bad(fmt.Sprintf("unexpected %q after the seconds; want Z or ±hh:mm", rest))
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 1 || y > 9999 {
		// Only reachable through the zone offset or 24:00:00 at the ends of the range.
		return bad("outside 0001..9999 once converted to UTC")
	}
	return t, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// FormatDateTime gives the canonical form: UTC, "Z" suffix, fractional seconds
// only when not zero and without trailing zeros. The zero time gives Unknown
// Time, "0001-01-01T00:00:00Z". Years outside 1..9999 cannot be written in
// four digits and give an error.
func FormatDateTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return "", valueErr(TypeDateTime, t.String(), "year outside 0001..9999")
	}
	return t.Format("2006-01-02T15:04:05.999999999Z"), nil
}

// ParseBase64 decodes TR-106 base64 (standard alphabet, with padding, no
// whitespace).
func ParseBase64(s string) ([]byte, error) {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		// encoding/base64 skips line breaks; TR-106 values have none.
		return nil, valueErr(TypeBase64, s, fmt.Sprintf("line break at offset %d", i))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, valueErr(TypeBase64, s, err.Error())
	}
	return b, nil
}

// FormatBase64 encodes b in standard base64 with padding.
func FormatBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// ParseHexBinary decodes TR-106 hexBinary (an even number of hex digits, either case).
func ParseHexBinary(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, valueErr(TypeHexBinary, s, err.Error())
	}
	return b, nil
}

// FormatHexBinary encodes b in hex with upper-case digits, the XML Schema
// canonical form.
func FormatHexBinary(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// ParseList splits a TR-106 comma-separated list. Whitespace around items is
// ignored; the empty string is the empty list. Items are not unescaped: TR-106
// lists cannot carry an item that contains a comma.
func ParseList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	items := strings.Split(s, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
	}
	return items
}

// FormatList joins items with "," (no spaces), the canonical list form. An
// item that contains a comma or starts or ends with whitespace would not come
// back from ParseList unchanged, so it is an error.
func FormatList(items []string) (string, error) {
	for _, it := range items {
		if strings.IndexByte(it, ',') >= 0 || strings.TrimSpace(it) != it {
			return "", valueErr(TypeString, it, "list item contains a comma or surrounding whitespace")
		}
	}
	if len(items) == 1 && items[0] == "" {
		return "", valueErr(TypeString, "", "a list of one empty item cannot be written")
	}
	return strings.Join(items, ","), nil
}

// ParseListOf parses a comma-separated list whose items have one TR-106 type,
// e.g. ParseListOf(s, ParseUnsignedInt). The first bad item gives the error.
func ParseListOf[T any](s string, parse func(string) (T, error)) ([]T, error) {
	items := ParseList(s)
	out := make([]T, 0, len(items))
	for _, it := range items {
		v, err := parse(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ValidateValue checks that s is in the lexical form of type t (and in its
// range). TypeString and TypeUnknown accept anything.
func ValidateValue(t ValueType, s string) error {
	_, err := ParseValue(t, s)
	return err
}

// ParseValue parses s as type t and returns the Go value: bool, int32, uint32,
// int64, uint64, float64 (decimal), time.Time (dateTime), []byte (base64,
// hexBinary) or string (string and unknown).
func ParseValue(t ValueType, s string) (any, error) {
	switch t {
	case TypeBoolean:
		return ParseBool(s)
	case TypeInt:
		return ParseInt(s)
	case TypeUnsignedInt:
		return ParseUnsignedInt(s)
	case TypeLong:
		return ParseLong(s)
	case TypeUnsignedLong:
		return ParseUnsignedLong(s)
	case TypeDecimal:
		return ParseDecimal(s)
	case TypeDateTime:
		return ParseDateTime(s)
	case TypeBase64:
		return ParseBase64(s)
	case TypeHexBinary:
		return ParseHexBinary(s)
	case TypeString, TypeUnknown:
		return s, nil
	}
	return nil, valueErr(t, s, "unknown value type")
}

// FormatValue formats a Go value as type t in canonical form. It accepts the
// Go types ParseValue returns and also any Go integer type for the integer
// types (range-checked), float32 for decimal and string for every type (the
// string is validated, then returned unchanged).
func FormatValue(t ValueType, v any) (string, error) {
	if s, ok := v.(string); ok {
		if err := ValidateValue(t, s); err != nil {
			return "", err
		}
		return s, nil
	}
	switch t {
	case TypeBoolean:
		if b, ok := v.(bool); ok {
			return FormatBool(b), nil
		}
	case TypeInt, TypeUnsignedInt, TypeLong, TypeUnsignedLong:
		return formatInteger(t, v)
	case TypeDecimal:
		switch f := v.(type) {
		case float64:
			return FormatDecimal(f)
		case float32:
			return FormatDecimal(float64(f))
		}
		if s, err := formatInteger(TypeLong, v); err == nil {
			return s, nil
		}
		if s, err := formatInteger(TypeUnsignedLong, v); err == nil {
			return s, nil
		}
	case TypeDateTime:
		if tm, ok := v.(time.Time); ok {
			return FormatDateTime(tm)
		}
	case TypeBase64:
		if b, ok := v.([]byte); ok {
			return FormatBase64(b), nil
		}
	case TypeHexBinary:
		if b, ok := v.([]byte); ok {
			return FormatHexBinary(b), nil
		}
	case TypeString, TypeUnknown:
		if st, ok := v.(fmt.Stringer); ok {
			return st.String(), nil
		}
	}
	return "", valueErr(t, fmt.Sprint(v), fmt.Sprintf("cannot format a Go %T as %s", v, t))
}

func formatInteger(t ValueType, v any) (string, error) {
	var neg bool
	var mag uint64
	switch x := v.(type) {
	case int:
		neg, mag = x < 0, absU(int64(x))
	case int8:
		neg, mag = x < 0, absU(int64(x))
	case int16:
		neg, mag = x < 0, absU(int64(x))
	case int32:
		neg, mag = x < 0, absU(int64(x))
	case int64:
		neg, mag = x < 0, absU(x)
	case uint:
		mag = uint64(x)
	case uint8:
		mag = uint64(x)
	case uint16:
		mag = uint64(x)
	case uint32:
		mag = uint64(x)
	case uint64:
		mag = x
	default:
		return "", valueErr(t, fmt.Sprint(v), fmt.Sprintf("cannot format a Go %T as %s", v, t))
	}
	s := strconv.FormatUint(mag, 10)
	if neg {
		s = "-" + s
	}
	// Range check by parsing the text: one rule for every width.
	if _, err := ParseValue(t, s); err != nil {
		return "", err
	}
	return s, nil
}

func absU(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}
