package embedbroker

import "strings"

// validFilter says whether f is a well-formed topic filter: + alone in a
// level, # alone and last.
func validFilter(f string) bool {
	if f == "" || strings.IndexByte(f, 0) >= 0 {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.ContainsAny(l, "+#") && len(l) != 1 {
			return false
		}
		if l == "#" && i != len(levels)-1 {
			return false
		}
	}
	return true
}

// splitShared splits $share/<group>/<filter>; ok is false for a plain
// filter, and group is "" for a malformed shared one.
func splitShared(f string) (group, filter string, ok bool) {
	rest, found := strings.CutPrefix(f, "$share/")
	if !found {
		return "", f, false
	}
	group, filter, found = strings.Cut(rest, "/")
	if !found || group == "" || strings.ContainsAny(group, "+#") || filter == "" {
		return "", "", true
	}
	return group, filter, true
}

// match says whether topic matches filter. Wildcards in the first level
// do not match topics that start with $.
func match(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore {
			return !tmore
		}
		if !tmore {
			// "a/#" matches "a" too.
			return frest == "#"
		}
		filter, topic = frest, trest
	}
}
