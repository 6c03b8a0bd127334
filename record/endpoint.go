package record

import (
	"fmt"
	"strings"
)

// URNPrefix is the namespace prefix of an endpoint ID written as a URN, as in
// X.509 certificates.
const URNPrefix = "urn:bbf:usp:id:"

// MaxInstanceLen is the longest instance-id TR-369 allows (R-ARC.6).
const MaxInstanceLen = 50

// Endpoint ID authority schemes (TR-369 R-ARC.2a).
const (
	SchemeOUI   = "oui"   // authority: IEEE OUI/MA-M/MA-S, 6, 7 or 9 hex digits
	SchemeCID   = "cid"   // authority: IEEE CID, 6 hex digits
	SchemePEN   = "pen"   // authority: IANA Private Enterprise Number, decimal
	SchemeSelf  = "self"  // authority: 0-6 characters chosen by the endpoint
	SchemeUser  = "user"  // authority: 0-6 characters; assigned by a user
	SchemeOS    = "os"    // no authority; instance OUI "-" SerialNumber
	SchemeOPS   = "ops"   // no authority; instance OUI "-" ProductClass "-" SerialNumber
	SchemeUUID  = "uuid"  // no authority; instance an RFC 4122 UUID
	SchemeIMEI  = "imei"  // no authority; instance a 15-digit IMEI
	SchemeProto = "proto" // authority: 0-6 characters except "."; prototyping only
	SchemeDoc   = "doc"   // authority: 0-6 characters; documentation only
	SchemeFQDN  = "fqdn"  // no authority; instance a fully qualified domain name
)

// EndpointID is a parsed USP endpoint identifier,
// authority-scheme ":" [authority-id] ":" instance-id.
type EndpointID struct {
	Scheme    string // authority-scheme, e.g. "proto"
	Authority string // authority-id, may be empty
	Instance  string // instance-id, as written (percent-encoding kept)
}

// ParseEndpointID parses and validates an endpoint ID, in the plain form used
// in records ("os::00256D-0123456789") or the URN form used in certificates
// ("urn:bbf:usp:id:os::00256D-0123456789"). Errors wrap
// [ErrInvalidEndpointID] and say which rule is broken.
func ParseEndpointID(s string) (EndpointID, error) {
	rest := s
	if len(rest) >= len(URNPrefix) && strings.EqualFold(rest[:len(URNPrefix)], URNPrefix) {
		rest = rest[len(URNPrefix):]
	}
	scheme, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return EndpointID{}, badID(s, "want authority-scheme:[authority-id]:instance-id")
	}
	authority, instance, ok := strings.Cut(rest, ":")
	if !ok {
		return EndpointID{}, badID(s, "want authority-scheme:[authority-id]:instance-id")
	}
	id := EndpointID{Scheme: scheme, Authority: authority, Instance: instance}
	if reason := id.check(); reason != "" {
		return EndpointID{}, badID(s, reason)
	}
	return id, nil
}

// MustParseEndpointID is [ParseEndpointID] for constants in programs and
// tests; it panics on an invalid ID and must not be used on input from the
// network.
func MustParseEndpointID(s string) EndpointID {
	id, err := ParseEndpointID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// ValidEndpointID reports whether s parses with [ParseEndpointID].
func ValidEndpointID(s string) bool {
	_, err := ParseEndpointID(s)
	return err == nil
}

func badID(s, reason string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidEndpointID, s, reason)
}

// Validate checks id against TR-369's rules; errors wrap
// [ErrInvalidEndpointID].
func (id EndpointID) Validate() error {
	if reason := id.check(); reason != "" {
		return badID(id.String(), reason)
	}
	return nil
}

// String returns the plain form used in records: scheme:authority:instance.
func (id EndpointID) String() string {
	return id.Scheme + ":" + id.Authority + ":" + id.Instance
}

// URN returns the form used in certificates, prefixed by [URNPrefix].
func (id EndpointID) URN() string { return URNPrefix + id.String() }

// IsZero reports whether id is the zero EndpointID.
func (id EndpointID) IsZero() bool { return id == EndpointID{} }

// IsPrototype reports whether id uses one of the schemes TR-369 reserves for
// prototyping and documentation ("proto", "doc"), which R-ARC.4 forbids in
// production.
func (id EndpointID) IsPrototype() bool {
	return id.Scheme == SchemeProto || id.Scheme == SchemeDoc
}

// Equal reports whether id and o name the same endpoint. Hex digits in OUI
// and CID authorities and in percent-encodings compare case-insensitively,
// as RFC 3986 treats them; everything else compares exactly.
func (id EndpointID) Equal(o EndpointID) bool {
	if id.Scheme != o.Scheme {
		return false
	}
	switch id.Scheme {
	case SchemeOUI, SchemeCID:
		if !strings.EqualFold(id.Authority, o.Authority) {
			return false
		}
	default:
		if id.Authority != o.Authority {
			return false
		}
	}
	return instanceEqual(id.Instance, o.Instance)
}

// instanceEqual compares instance-ids, folding case only inside %HH.
func instanceEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] == b[i] {
			continue
		}
		// Inside a percent-encoding both sides have '%' one or two bytes
		// earlier; compare those hex digits ignoring case.
		inPct := (i >= 1 && a[i-1] == '%') || (i >= 2 && a[i-2] == '%')
		if !inPct || lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// check returns "" when id is valid, otherwise what is wrong.
func (id EndpointID) check() string {
	if r := checkInstance(id.Instance); r != "" {
		return r
	}
	a := id.Authority
	switch id.Scheme {
	case SchemeOUI:
		if !isHex(a) || (len(a) != 6 && len(a) != 7 && len(a) != 9) {
			return fmt.Sprintf("oui authority-id must be 6, 7 or 9 hex digits, got %q", a)
		}
	case SchemeCID:
		if !isHex(a) || len(a) != 6 {
			return fmt.Sprintf("cid authority-id must be 6 hex digits, got %q", a)
		}
	case SchemePEN:
		if a == "" || !isDigits(a) {
			return fmt.Sprintf("pen authority-id must be a decimal Private Enterprise Number, got %q", a)
		}
	case SchemeSelf, SchemeUser, SchemeDoc:
		if r := checkShortAuthority(id.Scheme, a, false); r != "" {
			return r
		}
	case SchemeProto:
		if r := checkShortAuthority(id.Scheme, a, true); r != "" {
			return r
		}
	case SchemeOS, SchemeOPS, SchemeUUID, SchemeIMEI, SchemeFQDN:
		if a != "" {
			return fmt.Sprintf("%s authority-id must be empty, got %q", id.Scheme, a)
		}
		return checkSchemeInstance(id.Scheme, id.Instance)
	case "":
		return "authority-scheme is empty"
	default:
		if known := strings.ToLower(id.Scheme); knownScheme(known) {
			return fmt.Sprintf("authority-scheme %q must be lower case (%q)", id.Scheme, known)
		}
		return fmt.Sprintf("unknown authority-scheme %q", id.Scheme)
	}
	return ""
}

func knownScheme(s string) bool {
	switch s {
	case SchemeOUI, SchemeCID, SchemePEN, SchemeSelf, SchemeUser, SchemeOS, SchemeOPS,
		SchemeUUID, SchemeIMEI, SchemeProto, SchemeDoc, SchemeFQDN:
		return true
	}
	return false
}

// checkShortAuthority applies the rule shared by self, user, proto and doc:
// 0 to 6 unreserved characters (proto also excludes ".").
func checkShortAuthority(scheme, a string, noDot bool) string {
	if len(a) > 6 {
		return fmt.Sprintf("%s authority-id must be at most 6 characters, got %q", scheme, a)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !isUnreserved(c) || (noDot && c == '.') {
			return fmt.Sprintf("%s authority-id %q: character %q not allowed", scheme, a, c)
		}
	}
	return ""
}

// checkInstance applies R-ARC.5 and R-ARC.6: unreserved characters or %HH,
// 1 to 50 characters.
func checkInstance(s string) string {
	if s == "" {
		return "instance-id is empty"
	}
	if len(s) > MaxInstanceLen {
		return fmt.Sprintf("instance-id is %d characters, at most %d allowed", len(s), MaxInstanceLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c):
		case c == '%':
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return fmt.Sprintf("instance-id: %% at offset %d is not followed by two hex digits", i)
			}
			i += 2
		default:
			return fmt.Sprintf("instance-id: character %q at offset %d not allowed (ALPHA, DIGIT, \"-._\" or %%HH)", c, i)
		}
	}
	return ""
}

// checkSchemeInstance applies the instance-id formats that os, ops, uuid,
// imei and fqdn prescribe.
func checkSchemeInstance(scheme, s string) string {
	switch scheme {
	case SchemeOS, SchemeOPS:
		want := 2
		format := "OUI-SerialNumber"
		if scheme == SchemeOPS {
			want, format = 3, "OUI-ProductClass-SerialNumber"
		}
		oui, rest, _ := strings.Cut(s, "-")
		if !isHex(oui) || (len(oui) != 6 && len(oui) != 7 && len(oui) != 9) {
			return fmt.Sprintf("%s instance-id must be %s with a 6, 7 or 9 hex digit OUI, got %q", scheme, format, s)
		}
		if want == 3 {
			var class string
			class, rest, _ = strings.Cut(rest, "-")
			if class == "" {
				return fmt.Sprintf("ops instance-id must be %s, ProductClass missing in %q", format, s)
			}
		}
		if rest == "" {
			return fmt.Sprintf("%s instance-id must be %s, SerialNumber missing in %q", scheme, format, s)
		}
	case SchemeUUID:
		if !isUUID(s) {
			return fmt.Sprintf("uuid instance-id must be an RFC 4122 UUID (8-4-4-4-12 hex digits), got %q", s)
		}
	case SchemeIMEI:
		// The check digit is not verified: TR-369's own example
		// (990000862471854) does not pass the Luhn check.
		if len(s) != 15 || !isDigits(s) {
			return fmt.Sprintf("imei instance-id must be 15 digits, got %q", s)
		}
	case SchemeFQDN:
		if r := checkFQDN(s); r != "" {
			return "fqdn instance-id: " + r
		}
	}
	return ""
}

func checkFQDN(s string) string {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("%q is not a fully qualified domain name", s)
	}
	for _, l := range labels {
		if l == "" {
			return fmt.Sprintf("empty label in %q", s)
		}
		if l == "*" {
			return fmt.Sprintf("wildcards are not permitted: %q", s)
		}
		if len(l) > 63 {
			return fmt.Sprintf("label longer than 63 characters in %q", s)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !isAlnum(c) && c != '-' {
				return fmt.Sprintf("character %q not allowed in label %q", c, l)
			}
		}
	}
	return ""
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

func isUnreserved(c byte) bool { return isAlnum(c) || c == '-' || c == '.' || c == '_' }

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func isHexDigit(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
