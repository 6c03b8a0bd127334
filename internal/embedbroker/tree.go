package embedbroker

import "strings"

// filterTree indexes the subscriptions whose filters hold wildcards by
// topic level, so that routing a message walks the levels of its topic
// (and the "+" and "#" branches on the way) instead of matching every
// wildcard filter in turn. A fleet of clients that each subscribe to a
// filter of their own ("/usp/agent/<id>/+", as every gousp transport
// does) costs a publish a few map look-ups, not one match per client.
type filterTree struct {
	root treeNode
}

// treeNode is one level of the filters below it: children by level text,
// where "+" and "#" are levels like any other, and the subscriptions whose
// filters end here.
type treeNode struct {
	children map[string]*treeNode
	subs     map[*sub]struct{}
}

// add indexes s under its filter (s.opts.filter, without a share prefix).
func (t *filterTree) add(s *sub) {
	n := &t.root
	rest := s.opts.filter
	for {
		level, more, ok := strings.Cut(rest, "/")
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*treeNode{}
			}
			c = &treeNode{}
			n.children[level] = c
		}
		n = c
		if !ok {
			break
		}
		rest = more
	}
	if n.subs == nil {
		n.subs = map[*sub]struct{}{}
	}
	n.subs[s] = struct{}{}
}

// remove takes s out of the index and prunes the levels left empty.
func (t *filterTree) remove(s *sub) {
	t.root.remove(s, s.opts.filter)
}

// remove deletes s below n, following filter; it reports whether n is
// left with neither subscriptions nor children.
func (n *treeNode) remove(s *sub, filter string) bool {
	level, more, ok := strings.Cut(filter, "/")
	c := n.children[level]
	if c == nil {
		return false
	}
	var empty bool
	if ok {
		empty = c.remove(s, more)
	} else {
		delete(c.subs, s)
		empty = len(c.subs) == 0 && len(c.children) == 0
	}
	if empty {
		delete(n.children, level)
	}
	return len(n.subs) == 0 && len(n.children) == 0
}

// match calls add for every subscription whose filter matches topic, as
// match (topic.go) decides for one filter: "#" also matches its parent
// level, and a topic starting with '$' is not matched by a filter starting
// with a wildcard.
func (t *filterTree) match(topic string, add func(*sub)) {
	dollar := topic != "" && topic[0] == '$'
	t.root.match(topic, true, dollar, add)
}

// match walks n's children for the levels of topic; at is false once
// topic is exhausted (n stands for the whole topic).
func (n *treeNode) match(topic string, at, dollar bool, add func(*sub)) {
	if len(n.children) == 0 {
		return
	}
	if h := n.children["#"]; h != nil && !dollar {
		for s := range h.subs {
			add(s)
		}
	}
	if !at {
		return
	}
	level, rest, more := strings.Cut(topic, "/")
	visit := func(c *treeNode) {
		if more {
			c.match(rest, true, false, add)
			return
		}
		for s := range c.subs {
			add(s)
		}
		c.match("", false, false, add)
	}
	if c := n.children[level]; c != nil {
		visit(c)
	}
	if c := n.children["+"]; c != nil && !dollar {
		visit(c)
	}
}
