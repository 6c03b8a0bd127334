package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// replyToMarker starts the "reply to" suffix that MQTT 3.1.1 endpoints
// append to a PUBLISH topic name (TR-369 R-MQTT.24), since 3.1.1 has no
// Response Topic property.
const replyToMarker = "/reply-to="

// maxTopicLen is the longest MQTT UTF-8 string.
const maxTopicLen = 65535

var (
	errEmptyTopic = errors.New("empty topic")
	errWildcard   = errors.New("topic contains a wildcard (+ or #)")
)

// checkTopicName reports whether t can be published to, or used as a
// Response Topic: not empty, valid UTF-8 without NUL, no wildcards.
func checkTopicName(t string) error {
	switch {
	case t == "":
		return errEmptyTopic
	case len(t) > maxTopicLen:
		return fmt.Errorf("topic longer than %d bytes", maxTopicLen)
	case !utf8.ValidString(t):
		return errors.New("topic is not valid UTF-8")
	case strings.ContainsRune(t, 0):
		return errors.New("topic contains NUL")
	case strings.ContainsAny(t, "+#"):
		return errWildcard
	}
	return nil
}

// checkTopicFilter reports whether f is a valid subscription topic filter,
// shared ($share/group/filter) or not.
func checkTopicFilter(f string) error {
	if f == "" {
		return errEmptyTopic
	}
	if len(f) > maxTopicLen {
		return fmt.Errorf("topic filter longer than %d bytes", maxTopicLen)
	}
	if !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
		return errors.New("topic filter is not valid UTF-8 or contains NUL")
	}
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		group, filter, ok := strings.Cut(rest, "/")
		if !ok || filter == "" {
			return errors.New("shared subscription without a topic filter")
		}
		if err := checkShareGroup(group); err != nil {
			return err
		}
		f = filter
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("# must be the last level of a topic filter")
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return errors.New("a wildcard must fill a whole topic level")
		}
	}
	return nil
}

func checkShareGroup(g string) error {
	if g == "" || strings.ContainsAny(g, "/+#") || !utf8.ValidString(g) || strings.ContainsRune(g, 0) {
		return fmt.Errorf("bad shared subscription group %q", g)
	}
	return nil
}

// matchTopic reports whether topic name t matches topic filter f (which
// must be valid and not shared), by the MQTT rules: + is one level, #
// the rest, and wildcards at the first level do not match $-topics.
func matchTopic(f, t string) bool {
	if strings.HasPrefix(t, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(t, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a": the parent level.
			return fmore == tmore || (!tmore && frest == "#")
		}
		f, t = frest, trest
	}
}

// SplitReplyTo separates the MQTT 3.1.1 "reply to" suffix from a PUBLISH
// topic name: everything after the last "/reply-to=" is the topic to
// answer on, with "%2F" decoded as "/" (TR-369 R-MQTT.25). ok is false
// when there is no suffix or it does not name a usable topic (empty, or
// with a wildcard).
func SplitReplyTo(topic string) (base, replyTo string, ok bool) {
	i := strings.LastIndex(topic, replyToMarker)
	if i < 0 {
		return topic, "", false
	}
	enc := topic[i+len(replyToMarker):]
	replyTo = strings.ReplaceAll(strings.ReplaceAll(enc, "%2F", "/"), "%2f", "/")
	if checkTopicName(replyTo) != nil {
		return topic, "", false
	}
	return topic[:i], replyTo, true
}

// JoinReplyTo appends the MQTT 3.1.1 "reply to" suffix for replyTo to
// topic, encoding "/" as "%2F" (TR-369 R-MQTT.24), so that the suffix is
// a single topic level.
func JoinReplyTo(topic, replyTo string) string {
	return topic + replyToMarker + strings.ReplaceAll(replyTo, "/", "%2F")
}
