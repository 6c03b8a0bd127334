package websocket

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
)

func TestQueryEID(t *testing.T) {
	tests := []struct {
		query   string
		want    string
		found   bool
		wantErr bool
	}{
		{"eid=proto%3A%3Aobuspa-test-agent", "proto::obuspa-test-agent", true, false},
		{"eid=proto::agent", "proto::agent", true, false},
		{"eid=doc::agent%2521", "doc::agent%21", true, false}, // R-WS.10c example
		{"x=1&eid=os::00256D-01&y=2", "os::00256D-01", true, false},
		{"eid=a+b", "a+b", true, false}, // opaque, not form data
		{"eid=proto::a&eid=proto::a", "proto::a", true, false},
		{"", "", false, false},
		{"eidx=proto::a", "", false, false},
		{"eid=proto::a&eid=proto::b", "", false, true},
		{"eid=%zz", "", false, true},
		{"eid=", "", false, true},
		{"eid=a%20b", "", false, true},
		{"eid=a%00b", "", false, true},
		{"eid=%ff", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, found, err := queryEID(tt.query)
			if got != tt.want || found != tt.found || (err != nil) != tt.wantErr {
				t.Errorf("queryEID(%q) = %q, %v, %v; want %q, %v, error %v", tt.query, got, found, err, tt.want, tt.found, tt.wantErr)
			}
		})
	}
}

func TestEncodeEID(t *testing.T) {
	for id, want := range map[string]string{
		"proto::obuspa-test-agent": "eid=proto%3A%3Aobuspa-test-agent",
		"doc::agent%21":            "eid=doc%3A%3Aagent%2521",
		"a b+c":                    "eid=a%20b%2Bc",
	} {
		if got := EncodeEID(id); got != want {
			t.Errorf("EncodeEID(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestExtensionEID(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		offered bool
	}{
		{"quoted", []string{`bbf-usp-protocol; eid="proto::agent"`}, "proto::agent", true},
		{"token", []string{`bbf-usp-protocol;eid=proto::agent`}, "proto::agent", true},
		{"case and spaces", []string{`  BBF-USP-Protocol ;  EID = "proto::a" `}, "proto::a", true},
		{"after another extension", []string{`permessage-deflate; client_max_window_bits, bbf-usp-protocol; eid="x::y"`}, "x::y", true},
		{"second header", []string{`permessage-deflate`, `bbf-usp-protocol; eid="x::y"`}, "x::y", true},
		{"comma in quotes", []string{`foo; p="a,b", bbf-usp-protocol; eid="x::y"`}, "x::y", true},
		{"escaped quote", []string{`foo; p="a\"b,c", bbf-usp-protocol; eid="x::y"`}, "x::y", true},
		{"offered without eid", []string{`bbf-usp-protocol`}, "", true},
		{"invalid eid", []string{`bbf-usp-protocol; eid=""`}, "", true},
		{"absent", []string{`permessage-deflate`}, "", false},
		{"none", nil, "", false},
		{"name as parameter only", []string{`foo; bbf-usp-protocol; eid="x::y"`}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, offered := extensionEID(tt.headers)
			if got != tt.want || offered != tt.offered {
				t.Errorf("extensionEID = %q, %v; want %q, %v", got, offered, tt.want, tt.offered)
			}
		})
	}
}

func TestCertIDs(t *testing.T) {
	urn, _ := url.Parse("urn:bbf:usp:id:proto::agent-1")
	urn2, _ := url.Parse("urn:bbf:usp:id:proto::agent-2")
	other, _ := url.Parse("https://example.com/")
	tests := []struct {
		name       string
		cert       *x509.Certificate
		commonName bool
		claimed    string
		want       string // "" for an error
	}{
		{"URI SAN", &x509.Certificate{URIs: []*url.URL{other, urn}, Subject: pkix.Name{CommonName: "proto::cn"}}, true, "", "proto::agent-1"},
		{"URI SAN claimed", &x509.Certificate{URIs: []*url.URL{urn}}, false, "proto::agent-1", "proto::agent-1"},
		{"URI SAN of another", &x509.Certificate{URIs: []*url.URL{urn}}, false, "proto::agent-2", ""},
		{"common name ignored", &x509.Certificate{Subject: pkix.Name{CommonName: "proto::cn"}}, false, "proto::cn", ""},
		{"common name allowed", &x509.Certificate{Subject: pkix.Name{CommonName: "proto::cn"}}, true, "proto::cn", "proto::cn"},
		{"URI wins over common name", &x509.Certificate{URIs: []*url.URL{urn}, Subject: pkix.Name{CommonName: "proto::cn"}}, true, "proto::cn", ""},
		{"two URIs, none claimed", &x509.Certificate{URIs: []*url.URL{urn, urn2}}, false, "", ""},
		{"two URIs, one claimed", &x509.Certificate{URIs: []*url.URL{urn, urn2}}, false, "proto::agent-2", "proto::agent-2"},
		{"nothing", &x509.Certificate{}, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickID(tt.claimed, certIDs(tt.cert, tt.commonName))
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Errorf("pickID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzEID checks that the eid parsers never panic, that a parsed eid
// survives EncodeEID, and that what they return is a valid endpoint ID.
func FuzzEID(f *testing.F) {
	f.Add("eid=proto%3A%3Aobuspa-test-agent", `bbf-usp-protocol; eid="proto::agent"`)
	f.Add("eid=doc::agent%2521&x=1", `foo; p="a\"b,c", bbf-usp-protocol; eid=x::y`)
	f.Add("eid=%zz&eid=", `bbf-usp-protocol;eid="`)
	f.Fuzz(func(t *testing.T, query, ext string) {
		if id, found, err := queryEID(query); err == nil && found {
			if checkEndpointID(id) != nil {
				t.Fatalf("queryEID(%q) returned invalid ID %q", query, id)
			}
			back, found, err := queryEID(EncodeEID(id))
			if err != nil || !found || back != id {
				t.Fatalf("EncodeEID(%q) round trip = %q, %v, %v", id, back, found, err)
			}
		}
		if id, _ := extensionEID([]string{ext}); id != "" && checkEndpointID(id) != nil {
			t.Fatalf("extensionEID(%q) returned invalid ID %q", ext, id)
		}
	})
}
