package websocket

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Subprotocol is the WebSocket subprotocol of USP (R-WS.9).
const Subprotocol = "v1.usp"

// extensionName is the deprecated extension that once carried endpoint IDs.
const extensionName = "bbf-usp-protocol"

// MaxEndpointIDLen bounds an endpoint ID taken from a request; TR-369 IDs
// are far shorter.
const MaxEndpointIDLen = 1024

// checkEndpointID rejects strings that cannot be endpoint IDs.
func checkEndpointID(id string) error {
	switch {
	case id == "":
		return errors.New("empty endpoint ID")
	case len(id) > MaxEndpointIDLen:
		return fmt.Errorf("%d-byte endpoint ID, limit %d", len(id), MaxEndpointIDLen)
	case !utf8.ValidString(id):
		return errors.New("endpoint ID is not UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '"' || r == '\\' {
			return fmt.Errorf("endpoint ID holds character %U", r)
		}
	}
	return nil
}

// EncodeEID returns the query component "eid=<id>" for a client's
// endpoint ID, percent-encoding every character that needs it, the percent
// sign included (R-WS.10c).
func EncodeEID(id string) string {
	return "eid=" + strings.ReplaceAll(url.QueryEscape(id), "+", "%20")
}

// queryEID finds the eid key in a raw URL query and percent-decodes its
// value. A plus sign stays a plus sign: endpoint IDs are opaque, not form
// data. Repeated eid keys must agree.
func queryEID(rawQuery string) (id string, found bool, err error) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		key, value, _ := strings.Cut(pair, "=")
		if key != "eid" {
			continue
		}
		v, err := url.PathUnescape(value)
		if err != nil {
			return "", false, fmt.Errorf("eid: %w", err)
		}
		if found && v != id {
			return "", false, errors.New("eid given twice with different values")
		}
		id, found = v, true
	}
	if found {
		if err := checkEndpointID(id); err != nil {
			return "", false, fmt.Errorf("eid: %w", err)
		}
	}
	return id, found, nil
}

// extensionEID looks for the deprecated bbf-usp-protocol extension in
// Sec-WebSocket-Extensions header values and returns its eid parameter
// ("" if absent or invalid) and whether the extension was offered at all.
func extensionEID(headers []string) (id string, offered bool) {
	for _, h := range headers {
		for _, ext := range splitOutsideQuotes(h, ',') {
			params := splitOutsideQuotes(ext, ';')
			if !strings.EqualFold(strings.TrimSpace(params[0]), extensionName) {
				continue
			}
			offered = true
			for _, p := range params[1:] {
				k, v, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "eid") {
					continue
				}
				if v := unquote(strings.TrimSpace(v)); checkEndpointID(v) == nil {
					return v, true
				}
			}
		}
	}
	return "", offered
}

// splitOutsideQuotes splits s at sep, except inside a quoted string, where
// a backslash escapes the next byte. It always returns at least one part.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote undoes an HTTP quoted-string, or returns a token unchanged.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// extensionHeader is the value a server sends to echo the extension.
func extensionHeader(localID string) string {
	return extensionName + `; eid="` + localID + `"`
}
