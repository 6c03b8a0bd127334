package mtp_test

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net/url"
	"slices"
	"testing"

	"github.com/gousp/gousp/mtp"
)

func TestCertIdentity(t *testing.T) {
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name   string
		cert   *x509.Certificate
		ids    []string
		cnOnly string
	}{
		{"nil", nil, nil, ""},
		{"URI", &x509.Certificate{URIs: []*url.URL{uri("urn:bbf:usp:id:os::012345-X1")}, Subject: pkix.Name{CommonName: "cn"}}, []string{"os::012345-X1"}, ""},
		{"two URIs and another scheme", &x509.Certificate{URIs: []*url.URL{uri("https://example.com/"), uri("urn:bbf:usp:id:proto::a"), uri("urn:bbf:usp:id:proto::b")}},
			[]string{"proto::a", "proto::b"}, ""},
		{"empty URN", &x509.Certificate{URIs: []*url.URL{uri("urn:bbf:usp:id:")}, Subject: pkix.Name{CommonName: "proto::cn"}}, nil, "proto::cn"},
		{"CN only", &x509.Certificate{Subject: pkix.Name{CommonName: "proto::cn"}}, nil, "proto::cn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mtp.CertEndpointIDs(tt.cert); !slices.Equal(got, tt.ids) {
				t.Errorf("CertEndpointIDs = %q, want %q", got, tt.ids)
			}
			if got := mtp.CertCommonNameID(tt.cert); got != tt.cnOnly {
				t.Errorf("CertCommonNameID = %q, want %q", got, tt.cnOnly)
			}
		})
	}
	if mtp.NewPeerCert(nil, "x", true) != nil {
		t.Error("NewPeerCert(nil) is not nil")
	}
	leaf := &x509.Certificate{Raw: []byte("der bytes")}
	sum := sha256.Sum256(leaf.Raw)
	if pc := mtp.NewPeerCert(leaf, "proto::a", true); pc.Fingerprint != hex.EncodeToString(sum[:]) || pc.EndpointID != "proto::a" || !pc.Verified || pc.Leaf != leaf {
		t.Errorf("NewPeerCert = %+v", pc)
	}
}
