package record

import (
	"slices"
	"strings"
	"testing"
)

func TestNegotiateVersion(t *testing.T) {
	tests := []struct {
		peer, want string
	}{
		{"1.0,1.1,1.2,1.3", "1.3"}, // OB-USP-A
		{"1.0,1.1,1.2,1.3,1.4", "1.4"},
		{"1.4,1.3", "1.4"},
		{" 1.2 , 1.1 ", "1.2"},
		{"1.0", "1.0"},
		{"1.3,1.5,2.0", "1.3"},
		{"1.5,2.0", ""},
		{"", ""},
		{"garbage,,1.x", ""},
		{"1.3.1", "1.3"},
		{"1.10", ""},
		{"01.3", "1.3"},
	}
	for _, tc := range tests {
		if got := NegotiateVersion(tc.peer); got != tc.want {
			t.Errorf("NegotiateVersion(%q) = %q, want %q", tc.peer, got, tc.want)
		}
	}
}

func TestSupportedVersions(t *testing.T) {
	if strings.Join(SupportedVersions, ",") != SupportedVersionList {
		t.Fatalf("SupportedVersions %v and SupportedVersionList %q disagree", SupportedVersions, SupportedVersionList)
	}
	if !slices.Contains(SupportedVersions, DefaultVersion) {
		t.Fatalf("DefaultVersion %q not supported", DefaultVersion)
	}
	if got := NegotiateVersion(SupportedVersionList); got != SupportedVersions[len(SupportedVersions)-1] {
		t.Fatalf("negotiating with ourselves gives %q", got)
	}
	for _, v := range SupportedVersions {
		if !IsSupportedVersion(v) || NegotiateVersion(v) != v {
			t.Errorf("%s not supported", v)
		}
	}
	for _, v := range []string{"0.9", "1.5", "2.0", "", "x"} {
		if IsSupportedVersion(v) {
			t.Errorf("IsSupportedVersion(%q) = true", v)
		}
	}
}

func TestVersionSyntax(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{
		{"1.3", true}, {"1.4.1", true}, {"10.20", true}, {"0.0", true},
		{"", false}, {"1", false}, {"1.", false}, {".1", false}, {"1.3.1.1", false},
		{"v1.3", false}, {"1.3 ", false}, {"1,3", false}, {"1.-3", false}, {"1.99999", false},
	}
	for _, tc := range tests {
		if got := ValidVersion(tc.v); got != tc.ok {
			t.Errorf("ValidVersion(%q) = %v", tc.v, got)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.3", "1.4", -1}, {"1.4", "1.3", 1}, {"1.3", "1.3", 0}, {"1.3", "1.3.1", 0},
		{"1.10", "1.9", 1}, {"2.0", "1.99", 1}, {"x", "1.0", -1}, {"1.0", "x", 1}, {"x", "y", 0},
	}
	for _, tc := range tests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
