package record

import (
	"strconv"
	"strings"
)

// DefaultVersion is the USP version written in records unless the caller
// chooses another. It is "1.3" rather than the schema's 1.4 because agents in
// the field, the reference agent OB-USP-A included, write and advertise 1.3;
// use [NegotiateVersion] once the peer's versions are known.
const DefaultVersion = "1.3"

// SupportedVersionList is [SupportedVersions] in the comma-separated form of
// GetSupportedProtocol's controller_supported_protocol_versions.
const SupportedVersionList = "1.0,1.1,1.2,1.3,1.4"

// SupportedVersions lists the USP versions this package can encode and
// decode, lowest first. Treat it as read-only; [NegotiateVersion] uses its
// own copy.
var SupportedVersions = []string{"1.0", "1.1", "1.2", "1.3", "1.4"}

// supported mirrors SupportedVersions so that callers changing the exported
// slice cannot change negotiation.
var supported = [...]version{{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}}

type version struct{ major, minor int }

func (v version) less(w version) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

func (v version) String() string {
	return strconv.Itoa(v.major) + "." + strconv.Itoa(v.minor)
}

// parseVersion reads "Major.Minor", tolerating a third ".Patch" part (which
// TR-369 does not use in records but release names such as 1.4.1 do).
func parseVersion(s string) (version, bool) {
	// Hand-written rather than strings.Split: Decode calls this on every
	// record and should not allocate.
	var n [3]int
	part := 0
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 4 {
				return version{}, false
			}
			n[part] = n[part]*10 + int(c-'0')
			digits++
		case c == '.' && digits > 0 && part < 2:
			part++
			digits = 0
		default:
			return version{}, false
		}
	}
	if part == 0 || digits == 0 {
		return version{}, false
	}
	return version{n[0], n[1]}, true
}

// ValidVersion reports whether s is a syntactically valid USP version
// ("Major.Minor", digits only, optionally ".Patch").
func ValidVersion(s string) bool {
	_, ok := parseVersion(s)
	return ok
}

// CompareVersions compares two USP versions numerically by major and minor
// number ("1.10" is above "1.9"); a malformed version sorts below every valid
// one. It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return -1
	case !okb:
		return 1
	case va.less(vb):
		return -1
	case vb.less(va):
		return 1
	}
	return 0
}

// IsSupportedVersion reports whether v (major.minor) is one of
// [SupportedVersions].
func IsSupportedVersion(v string) bool {
	pv, ok := parseVersion(v)
	if !ok {
		return false
	}
	for _, s := range supported {
		if s == pv {
			return true
		}
	}
	return false
}

// NegotiateVersion returns the highest version that both this package and
// the peer support, given the peer's comma-separated list such as
// GetSupportedProtocolResp's agent_supported_protocol_versions
// ("1.0,1.1,1.2,1.3"). Spaces around entries and malformed entries are
// ignored. It returns "" when there is no common version.
func NegotiateVersion(peerVersions string) string {
	best, found := version{}, false
	for entry := range strings.SplitSeq(peerVersions, ",") {
		pv, ok := parseVersion(strings.TrimSpace(entry))
		if !ok {
			continue
		}
		for _, s := range supported {
			if s == pv && (!found || best.less(pv)) {
				best, found = pv, true
			}
		}
	}
	if !found {
		return ""
	}
	return best.String()
}
