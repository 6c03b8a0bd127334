package peerconn

import (
	"errors"
	"maps"
	"slices"

	"github.com/gousp/gousp/mtp"
)

// ErrTaken is returned by [Peers.Add] when the endpoint already has a
// session and the server does not replace sessions.
var ErrTaken = errors.New("peerconn: endpoint already has a session")

// Peers is a server's table of sessions, at most one per peer endpoint ID.
// It reports each session to the handler: [mtp.PeerUp] when it is added,
// [mtp.PeerDown] when it ends or is replaced, once, and in that order.
type Peers[S Session] struct {
	core     *Core
	replace  bool         // a newcomer replaces its endpoint's session
	replaced error        // the cause reported for a replaced session
	m        map[string]S // by peer endpoint ID; guarded by core.mu
}

// NewPeers returns an empty table for the server whose core is core. If
// replace is true, a session for an endpoint that already has one replaces
// it, and the older one's PeerDown carries replaced as its cause; if not,
// the newcomer is refused.
func NewPeers[S Session](core *Core, replace bool, replaced error) *Peers[S] {
	return &Peers[S]{core: core, replace: replace, replaced: replaced, m: make(map[string]S)}
}

// Has reports whether the endpoint id has a session. A server can refuse
// a duplicate with it before its handshake is done; [Peers.Add] checks
// again.
func (p *Peers[S]) Has(id string) bool {
	p.core.mu.Lock()
	defer p.core.mu.Unlock()
	_, ok := p.m[id]
	return ok
}

// Add makes sess the session of its endpoint and reports PeerUp. If the
// endpoint had a session, Add reports that one's PeerDown first and
// returns it, for the caller to close, or, when the table does not
// replace, adds nothing and fails with [ErrTaken]. After Close it fails
// with [mtp.ErrClosed].
func (p *Peers[S]) Add(sess S) (old S, err error) {
	id := sess.PeerID()
	c := p.core
	// hmu first: the PeerDown of the old session and the PeerUp of the new
	// must reach the handler in the order of the table's changes.
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.mu.Lock()
	old, had := p.m[id]
	switch {
	case c.closed:
		c.mu.Unlock()
		var none S
		return none, mtp.ErrClosed
	case had && !p.replace:
		c.mu.Unlock()
		var none S
		return none, ErrTaken
	}
	p.m[id] = sess
	c.mu.Unlock()
	if had {
		c.log.Info("replacing session", "peer", id)
		c.h.HandleEvent(mtp.Event{Kind: mtp.PeerDown, Peer: old.Peer(), PeerID: id, Err: p.replaced})
	}
	c.log.Info("session open", "peer", id)
	c.h.HandleEvent(upEvent(sess))
	return old, nil
}

// Remove takes sess, which ended because of cause, out of the table and
// reports its PeerDown, unless it was replaced: Add reported it then.
func (p *Peers[S]) Remove(sess S, cause error) {
	id := sess.PeerID()
	c := p.core
	c.log.Info("session ended", "peer", id, "err", cause)
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.mu.Lock()
	current := p.m[id] == sess
	if current {
		delete(p.m, id)
	}
	c.mu.Unlock()
	if current {
		c.h.HandleEvent(mtp.Event{Kind: mtp.PeerDown, Peer: sess.Peer(), PeerID: id, Err: cause})
	}
}

// Get returns the session that to names, or why there is none: the
// reasons of [Core.CheckSend], or an error matching [mtp.ErrUnknownPeer].
func (p *Peers[S]) Get(to mtp.Address) (S, error) {
	var none S
	if err := p.core.CheckSend(to); err != nil {
		return none, err
	}
	p.core.mu.Lock()
	sess, ok := p.m[to.To]
	p.core.mu.Unlock()
	if !ok {
		return none, p.core.errorf("send to %q: %w", to.To, mtp.ErrUnknownPeer)
	}
	return sess, nil
}

// IDs returns the endpoint IDs that have a session, sorted; never nil.
func (p *Peers[S]) IDs() []string {
	p.core.mu.Lock()
	defer p.core.mu.Unlock()
	ids := slices.AppendSeq(make([]string, 0, len(p.m)), maps.Keys(p.m))
	slices.Sort(ids)
	return ids
}
