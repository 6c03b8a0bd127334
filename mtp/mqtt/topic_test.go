package mqtt

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

func TestCheckTopicName(t *testing.T) {
	for _, tc := range []struct {
		topic string
		ok    bool
	}{
		{"usp/controller/c", true},
		{"/usp/agent/obuspa", true},
		{"a", true},
		{"a b/ü/:x", true},
		{"", false},
		{"a/+/b", false},
		{"a/#", false},
		{"+", false},
		{"a\x00b", false},
		{"\xff\xfe", false},
		{strings.Repeat("x", 65536), false},
	} {
		if err := checkTopicName(tc.topic); (err == nil) != tc.ok {
			t.Errorf("checkTopicName(%.20q) = %v, want ok=%v", tc.topic, err, tc.ok)
		}
	}
}

func TestCheckTopicFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		ok     bool
	}{
		{"a/b", true},
		{"a/+/b", true},
		{"a/#", true},
		{"#", true},
		{"+", true},
		{"+/+/#", true},
		{"$share/g/a/b", true},
		{"$share/g/#", true},
		{"", false},
		{"a/#/b", false},
		{"a/b#", false},
		{"a+/b", false},
		{"$share/g", false},
		{"$share//a", false},
		{"$share/g+/a", false},
		{"$share/g/", false},
		{"a\x00", false},
	} {
		if err := checkTopicFilter(tc.filter); (err == nil) != tc.ok {
			t.Errorf("checkTopicFilter(%q) = %v, want ok=%v", tc.filter, err, tc.ok)
		}
	}
}

func TestMatchTopic(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "b", false},
		{"#", "a/b", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"+/+", "/a", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a//b", "a//b", true},
		{"ctl/+", "ctl/reply-to=agent%2Fa", true},
		{"ctl/+", "ctl/reply/abc", false},
	} {
		if got := matchTopic(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestSplitReplyTo(t *testing.T) {
	for _, tc := range []struct {
		topic, base, replyTo string
		ok                   bool
	}{
		// The example of TR-369 R-MQTT.24, without the stray space.
		{"usp/agents/cid:3AA3F8:my-unique-usp-id-42/reply-to=usp%2Fcontrollers%2Foui:00256D:my-unique-bbf-id-42",
			"usp/agents/cid:3AA3F8:my-unique-usp-id-42", "usp/controllers/oui:00256D:my-unique-bbf-id-42", true},
		{"a/reply-to=b", "a", "b", true},
		{"a/reply-to=%2Fusp%2Fctl", "a", "/usp/ctl", true},
		{"a/reply-to=%2fx", "a", "/x", true},
		{"a/reply-to=x/reply-to=y", "a/reply-to=x", "y", true}, // the last suffix counts
		{"/reply-to=x", "", "x", true},
		{"a/b", "a/b", "", false},
		{"a/reply-to=", "a/reply-to=", "", false},
		{"a/reply-to=x%2F%2B", "a", "x/%2B", true}, // only %2F is decoded
		{"a/reply-to=+", "a/reply-to=+", "", false},
		{"areply-to=x", "areply-to=x", "", false},
	} {
		base, r, ok := SplitReplyTo(tc.topic)
		if ok != tc.ok || (ok && (base != tc.base || r != tc.replyTo)) || (!ok && base != tc.topic) {
			t.Errorf("SplitReplyTo(%q) = %q, %q, %v; want %q, %q, %v", tc.topic, base, r, ok, tc.base, tc.replyTo, tc.ok)
		}
	}
}

func TestJoinReplyTo(t *testing.T) {
	got := JoinReplyTo("usp/agents/a", "usp/controllers/c")
	if want := "usp/agents/a/reply-to=usp%2Fcontrollers%2Fc"; got != want {
		t.Fatalf("JoinReplyTo = %q, want %q", got, want)
	}
	base, r, ok := SplitReplyTo(got)
	if !ok || base != "usp/agents/a" || r != "usp/controllers/c" {
		t.Fatalf("round trip: %q %q %v", base, r, ok)
	}
	// The suffix is one topic level, so <topic>/+ subscriptions see it.
	if !matchTopic("usp/agents/a/+", got) {
		t.Fatal("suffixed topic not matched by topic/+")
	}
}

func TestPublishSize(t *testing.T) {
	for _, tc := range []struct {
		topic, rt string
		n         int
	}{
		{"a", "b", 0},
		{"usp/agent", "usp/controller", 100},
		{"t", "r", 127},
		{"t", "r", 20000},
		{strings.Repeat("x", 300), strings.Repeat("y", 300), 3 << 20},
	} {
		p := &paho.Publish{Topic: tc.topic, QoS: 1, PacketID: 1, Payload: make([]byte, tc.n),
			Properties: &paho.PublishProperties{ContentType: ContentType, ResponseTopic: tc.rt}}
		var b bytes.Buffer
		if _, err := p.Packet().WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if got := publishSize(tc.topic, ContentType, tc.rt, tc.n); got != b.Len() {
			t.Errorf("publishSize(%d-byte topic, %d-byte payload) = %d, encoded %d", len(tc.topic), tc.n, got, b.Len())
		}
	}
}

func TestSanitizeLevel(t *testing.T) {
	if got := sanitizeLevel("a/b+c#d"); got != "a_b_c_d" {
		t.Fatalf("sanitizeLevel = %q", got)
	}
}

// FuzzSplitReplyTo checks the reply-to suffix parser: no panics, a usable
// topic when it says ok, and JoinReplyTo undoing it.
func FuzzSplitReplyTo(f *testing.F) {
	for _, s := range []string{
		"usp/agents/a/reply-to=usp%2Fcontrollers%2Fc",
		"a/reply-to=x/reply-to=y",
		"a/reply-to=",
		"/reply-to=%2F",
		"plain/topic",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		base, r, ok := SplitReplyTo(topic)
		if !ok {
			if base != topic || r != "" {
				t.Fatalf("not ok but returned %q, %q", base, r)
			}
			return
		}
		if err := checkTopicName(r); err != nil {
			t.Fatalf("reply-to %q unusable: %v", r, err)
		}
		if !strings.HasPrefix(topic, base+replyToMarker) {
			t.Fatalf("base %q is not the start of %q", base, topic)
		}
		// Joining gives back a topic that splits the same way.
		b2, r2, ok2 := SplitReplyTo(JoinReplyTo(base, r))
		if !ok2 || b2 != base || r2 != r {
			t.Fatalf("Join/Split of %q, %q gave %q, %q, %v", base, r, b2, r2, ok2)
		}
	})
}

// FuzzTopicFilter checks filter validation and matching against each
// other: no panics; a valid filter without wildcards matches only itself.
func FuzzTopicFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"a/+/c", "a/b/c"}, {"a/#", "a"}, {"#", "$SYS/x"}, {"$share/g/a/+", "a/b"}, {"a//b", "a//b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if checkTopicFilter(filter) != nil || strings.HasPrefix(filter, "$share/") {
			return
		}
		got := matchTopic(filter, topic)
		if !strings.ContainsAny(filter, "+#") && got != (filter == topic) {
			t.Fatalf("matchTopic(%q, %q) = %v", filter, topic, got)
		}
		if checkTopicName(topic) == nil && checkTopicName(filter) == nil && !matchTopic(topic, topic) {
			t.Fatalf("topic %q does not match itself", topic)
		}
		if filter == "#" && !strings.HasPrefix(topic, "$") && !got {
			t.Fatalf("# does not match %q", topic)
		}
	})
}
