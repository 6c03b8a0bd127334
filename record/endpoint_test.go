package record

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEndpointIDValid(t *testing.T) {
	tests := []struct {
		in                          string
		scheme, authority, instance string
	}{
		// The examples of TR-369's authority-scheme table.
		{"oui:00256D:my-unique-bbf-id-42", "oui", "00256D", "my-unique-bbf-id-42"},
		{"cid:3AA3F8:my-unique-usp-id-42", "cid", "3AA3F8", "my-unique-usp-id-42"},
		{"pen:3561:my-unique-bbf-id-42", "pen", "3561", "my-unique-bbf-id-42"},
		{"self::my-Agent", "self", "", "my-Agent"},
		{"os::00256D-0123456789", "os", "", "00256D-0123456789"},
		{"ops::00256D-STB-0123456789", "ops", "", "00256D-STB-0123456789"},
		{"uuid::f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "uuid", "", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
		{"imei::990000862471854", "imei", "", "990000862471854"},
		{"proto::my-Agent", "proto", "", "my-Agent"},
		{"fqdn::www.example.org", "fqdn", "", "www.example.org"},
		// The captures.
		{"proto::obuspa-test-agent", "proto", "", "obuspa-test-agent"},
		{"proto::test-controller", "proto", "", "test-controller"},
		// Other allowed shapes.
		{"oui:00256d0:x", "oui", "00256d0", "x"},
		{"oui:00256D012:x", "oui", "00256D012", "x"},
		{"self:abc123:x", "self", "abc123", "x"},
		{"user::x", "user", "", "x"},
		{"user:a.b_c-:x", "user", "a.b_c-", "x"},
		{"doc:ex.1:x", "doc", "ex.1", "x"},
		{"proto:lab_1:x", "proto", "lab_1", "x"},
		{"pen:0:x", "pen", "0", "x"},
		{"ops::00256D-USP%20Agent-000000000000", "ops", "", "00256D-USP%20Agent-000000000000"},
		{"os::00256D-SN-with-dashes", "os", "", "00256D-SN-with-dashes"},
		{"uuid::F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6", "uuid", "", "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"},
		{"fqdn::a-1.b", "fqdn", "", "a-1.b"},
		{"proto::a%2Fb%3a", "proto", "", "a%2Fb%3a"},
		{"proto::" + strings.Repeat("x", 50), "proto", "", strings.Repeat("x", 50)},
		// URN form, prefix in any case.
		{"urn:bbf:usp:id:oui:00256D:my-unique-bbf-id-42", "oui", "00256D", "my-unique-bbf-id-42"},
		{"URN:BBF:USP:ID:proto::a", "proto", "", "a"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id, err := ParseEndpointID(tc.in)
			if err != nil {
				t.Fatalf("ParseEndpointID: %v", err)
			}
			if id.Scheme != tc.scheme || id.Authority != tc.authority || id.Instance != tc.instance {
				t.Fatalf("got %#v", id)
			}
			if err := id.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			plain := tc.scheme + ":" + tc.authority + ":" + tc.instance
			if id.String() != plain {
				t.Fatalf("String() = %q, want %q", id.String(), plain)
			}
			if id.URN() != URNPrefix+plain {
				t.Fatalf("URN() = %q", id.URN())
			}
			// Both forms parse back to the same ID.
			for _, s := range []string{id.String(), id.URN()} {
				again, err := ParseEndpointID(s)
				if err != nil || again != id || !again.Equal(id) {
					t.Fatalf("re-parse of %q = %#v, %v", s, again, err)
				}
			}
			if !ValidEndpointID(tc.in) {
				t.Fatal("ValidEndpointID = false")
			}
		})
	}
}

func TestParseEndpointIDInvalid(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"", "want authority-scheme"},
		{"proto", "want authority-scheme"},
		{"proto:x", "want authority-scheme"},
		{"proto::", "instance-id is empty"},
		{":x:y", "authority-scheme is empty"},
		{"foo::bar", `unknown authority-scheme "foo"`},
		{"PROTO::bar", "must be lower case"},
		{"urn:bbf:usp:id:", "want authority-scheme"},
		{"proto::" + strings.Repeat("x", 51), "51 characters, at most 50"},
		{"proto::a b", `character ' ' at offset 1`},
		{"proto::a:b", `character ':'`},
		{"proto::a~b", `character '~'`},
		{"proto::a/b", `character '/'`},
		{"proto::100%", "% at offset 3"},
		{"proto::%4", "% at offset 0"},
		{"proto::%zz", "% at offset 0"},
		{"proto::é", "not allowed"},
		{"oui::x", "oui authority-id must be 6, 7 or 9 hex digits"},
		{"oui:00256:x", "oui authority-id must be 6, 7 or 9 hex digits"},
		{"oui:00256D01:x", "oui authority-id must be 6, 7 or 9 hex digits"},
		{"oui:00256G:x", "oui authority-id must be 6, 7 or 9 hex digits"},
		{"cid:3AA3F80:x", "cid authority-id must be 6 hex digits"},
		{"cid::x", "cid authority-id must be 6 hex digits"},
		{"pen::x", "pen authority-id must be a decimal"},
		{"pen:35a1:x", "pen authority-id must be a decimal"},
		{"self:abcdefg:x", "at most 6 characters"},
		{"self:a%20:x", "character '%' not allowed"},
		{"user:abcdefg:x", "at most 6 characters"},
		{"doc:a*:x", "character '*' not allowed"},
		{"proto:a.b:x", `character '.' not allowed`},
		{"os:00256D:00256D-1", "os authority-id must be empty"},
		{"os::00256D", "SerialNumber missing"},
		{"os::00256D-", "SerialNumber missing"},
		{"os::0025-123", "OUI-SerialNumber with a 6, 7 or 9 hex digit OUI"},
		{"os::-123", "hex digit OUI"},
		{"ops::00256D-0123456789", "SerialNumber missing"},
		{"ops::00256D--0123456789", "ProductClass missing"},
		{"ops::00256D-STB-", "SerialNumber missing"},
		{"ops::XYZ-STB-1", "hex digit OUI"},
		{"uuid::f81d4fae7dec11d0a76500a0c91e6bf6", "RFC 4122 UUID"},
		{"uuid::f81d4fae-7dec-11d0-a765-00a0c91e6bfg", "RFC 4122 UUID"},
		{"uuid:x:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "uuid authority-id must be empty"},
		{"imei::99000086247185", "15 digits"},
		{"imei::99000086247185a", "15 digits"},
		{"fqdn::localhost", "not a fully qualified domain name"},
		{"fqdn::*.example.org", "character '*'"},
		{"fqdn::a..b", "empty label"},
		{"fqdn::-a.b", "starts or ends with '-'"},
		{"fqdn::a_b.c", "character '_'"},
		{"fqdn::www.example.org.", "empty label"},
		{"fqdn:x:www.example.org", "fqdn authority-id must be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id, err := ParseEndpointID(tc.in)
			if err == nil {
				t.Fatalf("ParseEndpointID = %#v, want error", id)
			}
			if !errors.Is(err, ErrInvalidEndpointID) {
				t.Fatalf("error %v does not wrap ErrInvalidEndpointID", err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("error %q does not say %q", err, tc.why)
			}
			if !id.IsZero() {
				t.Fatalf("returned %#v with the error", id)
			}
			if ValidEndpointID(tc.in) {
				t.Fatal("ValidEndpointID = true")
			}
		})
	}
}

func TestEndpointIDValidateStruct(t *testing.T) {
	if err := (EndpointID{Scheme: "oui", Authority: "12", Instance: "x"}).Validate(); !errors.Is(err, ErrInvalidEndpointID) {
		t.Fatalf("Validate = %v", err)
	}
	if err := (EndpointID{}).Validate(); err == nil {
		t.Fatal("zero EndpointID validates")
	}
	// An instance with ':' can be built by hand but is rejected.
	if err := (EndpointID{Scheme: "proto", Instance: "a:b"}).Validate(); err == nil {
		t.Fatal("instance with ':' validates")
	}
}

func TestEndpointIDEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"proto::a", "proto::a", true},
		{"proto::a", "urn:bbf:usp:id:proto::a", true},
		{"proto::a", "proto::A", false},
		{"proto::a", "doc::a", false},
		{"self:x:a", "self::a", false},
		{"self:x:a", "self:X:a", false},
		{"oui:00256D:a", "oui:00256d:a", true},
		{"cid:3AA3F8:a", "cid:3aa3f8:a", true},
		{"oui:00256D:a", "oui:00256D0:a", false},
		{"proto::a%2Fb", "proto::a%2fb", true},
		{"proto::a%2Fb", "proto::a%2Fc", false},
		{"proto::aB%2F", "proto::ab%2F", false},
		{"proto::ab", "proto::abc", false},
	}
	for _, tc := range tests {
		a, b := MustParseEndpointID(tc.a), MustParseEndpointID(tc.b)
		if got := a.Equal(b); got != tc.want {
			t.Errorf("%q.Equal(%q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := b.Equal(a); got != tc.want {
			t.Errorf("%q.Equal(%q) = %v, want %v (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestEndpointIDHelpers(t *testing.T) {
	if !MustParseEndpointID("proto::a").IsPrototype() || !MustParseEndpointID("doc::a").IsPrototype() {
		t.Error("proto/doc not prototype")
	}
	if MustParseEndpointID("self::a").IsPrototype() {
		t.Error("self is prototype")
	}
	if !(EndpointID{}).IsZero() || MustParseEndpointID("self::a").IsZero() {
		t.Error("IsZero wrong")
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParseEndpointID did not panic on a bad ID")
		}
	}()
	MustParseEndpointID("bad")
}
