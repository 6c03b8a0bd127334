package embedbroker

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// treeMatches returns the filters of subs that the tree finds for topic,
// sorted.
func treeMatches(t *filterTree, topic string) []string {
	var got []string
	t.match(topic, func(s *sub) { got = append(got, s.opts.filter) })
	slices.Sort(got)
	return got
}

// scanMatches is what the tree must agree with: match, filter by filter.
func scanMatches(subs []*sub, topic string) []string {
	var want []string
	for _, s := range subs {
		if match(s.opts.filter, topic) {
			want = append(want, s.opts.filter)
		}
	}
	slices.Sort(want)
	return want
}

func newSub(filter string) *sub {
	return &sub{key: filter, opts: subscription{filter: filter}}
}

func TestFilterTree(t *testing.T) {
	filters := []string{
		"#", "+", "+/+", "/+", "a/#", "a/+", "a/+/#", "a/b", "a/b/c", "+/b/#", "a//c", "a/+/c",
		"$SYS/#", "$SYS/+", "/usp/agent/1/+", "/usp/agent/2/+", "/usp/+/1/#", "a/b/#",
	}
	var subs []*sub
	var tree filterTree
	for _, f := range filters {
		s := newSub(f)
		subs = append(subs, s)
		tree.add(s)
	}
	topics := []string{"a", "a/b", "a/b/c", "a/b/c/d", "a//c", "/", "/a", "b", "b/b", "b/b/x",
		"$SYS", "$SYS/x", "$SYS/x/y", "/usp/agent/1/x", "/usp/agent/1", "/usp/agent/2/y", "/usp/agent/3/z", "x/y/z/w"}
	for _, topic := range topics {
		if got, want := treeMatches(&tree, topic), scanMatches(subs, topic); !slices.Equal(got, want) {
			t.Errorf("topic %q: tree matched %q, each filter's match %q", topic, got, want)
		}
	}
	// Spot checks of the rules themselves, so that tree and match cannot
	// agree on a mistake here.
	for _, c := range []struct {
		topic string
		want  []string
	}{
		{"a", []string{"#", "+", "a/#"}},
		{"$SYS/x", []string{"$SYS/#", "$SYS/+"}},
		{"/usp/agent/1/x", []string{"#", "/usp/+/1/#", "/usp/agent/1/+"}},
	} {
		if got := treeMatches(&tree, c.topic); !slices.Equal(got, c.want) {
			t.Errorf("topic %q: matched %q, want %q", c.topic, got, c.want)
		}
	}
	// Removing every subscription leaves an empty tree.
	for _, s := range subs {
		tree.remove(s)
	}
	if len(tree.root.children) != 0 || len(tree.root.subs) != 0 {
		t.Errorf("after removing every subscription the tree keeps %d levels", len(tree.root.children))
	}
}

// TestFilterTreeRandom adds and removes random filters and checks each
// topic against a plain scan after every change.
func TestFilterTreeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "", "+", "#", "$x"}
	randFilter := func() string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[r.IntN(len(levels))]
			if parts[i] == "#" {
				return strings.Join(parts[:i+1], "/")
			}
		}
		return strings.Join(parts, "/")
	}
	randTopic := func() string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = []string{"a", "b", "", "$x"}[r.IntN(4)]
		}
		return strings.Join(parts, "/")
	}
	var tree filterTree
	var subs []*sub
	for step := range 2000 {
		if len(subs) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(subs))
			tree.remove(subs[i])
			subs = slices.Delete(subs, i, i+1)
		} else {
			s := newSub(randFilter())
			if !validFilter(s.opts.filter) {
				continue
			}
			subs = append(subs, s)
			tree.add(s)
		}
		topic := randTopic()
		if got, want := treeMatches(&tree, topic), scanMatches(subs, topic); !slices.Equal(got, want) {
			t.Fatalf("step %d, topic %q: tree matched %q, each filter's match %q", step, topic, got, want)
		}
	}
}

// FuzzFilterTree checks the tree against match for filters and a topic
// taken from the input: filters are the lines but the last, the topic the
// last line.
func FuzzFilterTree(f *testing.F) {
	f.Add("a/#\n+/b\n$SYS/#\n#\na/b")
	f.Add("/usp/agent/1/+\n/usp/agent/1\n/usp/agent/1/x")
	f.Add("+/+/#\n$x/+\n$x/y")
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Split(in, "\n")
		topic := lines[len(lines)-1]
		if topic == "" || strings.ContainsAny(topic, "+#") {
			return
		}
		var tree filterTree
		var subs []*sub
		for _, l := range lines[:len(lines)-1] {
			if !validFilter(l) {
				continue
			}
			s := newSub(l)
			subs = append(subs, s)
			tree.add(s)
		}
		if got, want := treeMatches(&tree, topic), scanMatches(subs, topic); !slices.Equal(got, want) {
			t.Fatalf("topic %q: tree matched %q, each filter's match %q", topic, got, want)
		}
		for _, s := range subs {
			tree.remove(s)
		}
		if len(tree.root.children) != 0 {
			t.Fatalf("%d levels left after removing every subscription", len(tree.root.children))
		}
	})
}
