package usp

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// agentState is what the controller knows about one agent. It is kept small:
// a controller may know tens of thousands of agents.
//
// Its fields from route to forgotten change only while both the
// controller mutex (c.mu) and the agent's own mu are held; reading one
// needs either lock. The intake reads and refreshes an agent it already
// knows under mu alone (agentSeen's fast path, targetOf), so records from
// unrelated agents take no lock in common. dups is guarded by mu alone.
type agentState struct {
	mu         sync.Mutex
	id         string
	route      *route
	addr       mtp.Address
	configured bool // addr came from WithAgent
	present    bool
	authed     bool         // addr is a session whose peer the transport authenticated
	inflight   atomic.Int32 // calls waiting for this agent's answer
	answered   atomic.Bool  // it answered a call: it is reachable where it says
	version    string       // Record version written to the agent
	versions   string       // versions the agent said it supports, if known
	lastSeen   atomic.Int64 // Unix nanoseconds of its last record
	dups       dupRing
	session    *session
	schema     *datamodel.Schema // from Agent.Schema, if called
	cert       *mtp.PeerCert     // of its last TLS session
	// sessionNew: present since its session's PeerUp, so the connect
	// record that follows on the session is no new announcement.
	sessionNew bool
	// forgotten: evicted from the table (forget); a record that found
	// it just before takes the slow path and makes a new entry.
	forgotten bool
}

// AgentInfo describes an agent the controller knows.
type AgentInfo struct {
	EndpointID string
	// Address is where records to the agent go; its MTP names the binding.
	Address mtp.Address
	// Connected reports whether the agent is present: it announced itself
	// or sent something, and has not disconnected since.
	Connected bool
	// Version is the USP Record version the controller writes to it.
	Version string
	// SupportedVersions is the agent's own list, when it has told it
	// (GetSupportedProtocol, OnBoardRequest).
	SupportedVersions string
	LastSeen          time.Time
	// PeerCert is the certificate the agent presented on its last TLS
	// session (WebSocket), with its fingerprint and the endpoint ID it
	// names; nil if it never used one.
	PeerCert *mtp.PeerCert
}

// AgentEventKind says what happened to an agent.
type AgentEventKind int

// Agent events.
const (
	// AgentConnected: the agent announced itself (connect record, also
	// when it was thought present: it reconnected unnoticed), its UDS or
	// WebSocket session opened, or it sent something after being absent
	// or unknown.
	AgentConnected AgentEventKind = iota + 1
	// AgentDisconnected: the agent sent a Disconnect record, its WebSocket
	// or UDS session closed, or the transport reaching it went down.
	AgentDisconnected
	// AgentMoved: the agent's address changed (new reply topic or MTP).
	AgentMoved
	// AgentLearned: the controller made an entry for an agent it did not
	// know. Reported to an [AgentHook] only, not to agent event watchers.
	AgentLearned
	// AgentEvicted: the controller forgot a learned agent to make room
	// for another or because it was idle (see [WithAgentLimits]).
	// Reported to an [AgentHook] only.
	AgentEvicted
)

func (k AgentEventKind) String() string {
	switch k {
	case AgentConnected:
		return "connected"
	case AgentDisconnected:
		return "disconnected"
	case AgentMoved:
		return "moved"
	case AgentLearned:
		return "learned"
	case AgentEvicted:
		return "evicted"
	}
	return "unknown"
}

// AgentEvent reports a change in an agent's presence.
type AgentEvent struct {
	Kind  AgentEventKind
	Agent AgentInfo
	// Reason says why an agent disconnected, when known.
	Reason error
	// Missed counts the events dropped just before this one because the
	// watchers fell behind (see [WithAgentEventQueue]); when it is not
	// zero, [Controller.Agents] tells the current state.
	Missed int
}

func (c *Controller) newAgent(id string) *agentState {
	return &agentState{id: id, version: c.cfg.version}
}

func (a *agentState) info() AgentInfo {
	return AgentInfo{
		EndpointID:        a.id,
		Address:           a.addr,
		Connected:         a.present,
		Version:           a.version,
		SupportedVersions: a.versions,
		LastSeen:          unixTime(a.lastSeen.Load()),
		PeerCert:          a.cert,
	}
}

// Agents lists the agents the controller knows, sorted by endpoint ID.
func (c *Controller) Agents() []AgentInfo {
	c.mu.Lock()
	out := make([]AgentInfo, 0, c.agents.len())
	for _, a := range c.agents.all(0) {
		out = append(out, a.info())
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(x, y AgentInfo) int { return strings.Compare(x.EndpointID, y.EndpointID) })
	return out
}

// AgentInfo returns what the controller knows of one agent.
func (c *Controller) AgentInfo(endpointID string) (AgentInfo, bool) {
	a, _ := c.agents.get(endpointID)
	if a == nil {
		return AgentInfo{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info(), true
}

// OnAgentEvent registers f to observe agents connecting, disconnecting and
// moving. f runs on a goroutine of the controller, one event at a time.
// The returned function removes f.
func (c *Controller) OnAgentEvent(f func(AgentEvent)) (remove func()) {
	return c.watchers.add(f)
}

// agentSeen records traffic from an agent: where to answer it, and which
// Record version it writes. addr is where the record says to answer (a
// connect record's subscribed topic, or in.ReplyTo); announce is set for
// connect records: an agent that announces itself again has reconnected,
// even if the controller did not notice it leave (over a broker it
// cannot). mqtt is the MQTT version an MQTTConnect record names for the
// client at addr (mqttUnknown for other records); the inventory keeps it
// if addr becomes the agent's address. It returns nil when the record must
// be dropped: it claims an agent whose address it may not change (see
// [MovePolicy]), or it would be one learned agent too many.
func (c *Controller) agentSeen(id string, r *route, in mtp.Inbound, addr mtp.Address, version string, announce bool, mqtt uint8) *agentState {
	now := time.Now()
	authed := in.PeerID != "" // handleRecord has checked it is id
	if a, _ := c.agents.get(id); a != nil {
		// The usual record: from a present agent at its address, changing
		// nothing but the time. It takes the agent's own lock only.
		a.mu.Lock()
		accept, move := c.placement(a, r, addr, authed, announce)
		if !accept {
			known := a.addr
			a.mu.Unlock()
			c.log.Warn("dropping record that claims an agent from another address", "from_id", id, "mtp", r.kind, "from", addr, "known", known, "err", ErrPeerRefused)
			return nil
		}
		if !move && !announce && !a.forgotten && a.route != nil && a.present && (version == "" || a.versions != "" || a.version == version) {
			a.lastSeen.Store(now.UnixNano())
			known := a.addr
			a.mu.Unlock()
			if known != addr {
				mqtt = mqttUnknown
			}
			c.live.seen(id, known, now, mqtt)
			return a
		}
		a.mu.Unlock()
	}
	c.mu.Lock()
	a, _ := c.agents.get(id)
	if a == nil {
		if !c.admitNewAgent() {
			c.mu.Unlock()
			c.log.Warn("dropping record from a new agent: too many agents known", "from_id", id, "limit", c.cfg.maxLearned)
			return nil
		}
		a = c.newAgent(id)
		c.agents.put(id, a)
		c.learned++
		c.noteAgent(AgentLearned, a)
	}
	a.mu.Lock()
	accept, move := c.placement(a, r, addr, authed, announce)
	if !accept {
		known := a.addr
		a.mu.Unlock()
		c.mu.Unlock()
		c.flushAgentNotes()
		c.log.Warn("dropping record that claims an agent from another address", "from_id", id, "mtp", r.kind, "from", addr, "known", known, "err", ErrPeerRefused)
		return nil
	}
	var ev AgentEventKind
	if move {
		if a.present && !a.addr.IsZero() {
			ev = AgentMoved
		}
		a.route, a.addr, a.authed = r, addr, authed
	}
	switch {
	case a.route != nil && !a.present:
		a.present = true
		ev = AgentConnected
	case a.route != nil && announce && ev == 0 && !a.sessionNew:
		ev = AgentConnected // announced again at the same address
	}
	if announce {
		a.sessionNew = false
	}
	if version != "" && a.versions == "" {
		// Until the agent lists its versions, write the version it writes.
		a.version = version
	}
	a.lastSeen.Store(now.UnixNano())
	info := a.info()
	a.mu.Unlock()
	c.mu.Unlock()
	c.flushAgentNotes()
	if info.Address != addr {
		mqtt = mqttUnknown // the record's client is not the one at the agent's address
	}
	c.live.seen(id, info.Address, now, mqtt)
	if ev != 0 {
		c.emit(AgentEvent{Kind: ev, Agent: info})
	}
	if ev == AgentConnected && c.cfg.autoProtocol {
		c.negotiateLater(id)
	}
	return a
}

// agentSession records a session that a transport with a session per peer
// opened for an authenticated endpoint ID (mtp.PeerUp): the session is the
// agent's address and its presence, before any record arrives on it.
func (c *Controller) agentSession(id string, r *route, addr mtp.Address, cert *mtp.PeerCert) {
	if !record.ValidEndpointID(id) || addr.IsZero() {
		// Only endpoint IDs get entries, as for records.
		return
	}
	c.mu.Lock()
	a, _ := c.agents.get(id)
	if a == nil {
		if !c.admitNewAgent() {
			c.mu.Unlock()
			c.log.Warn("not addressing a new session: too many agents known", "peer", id, "limit", c.cfg.maxLearned)
			return
		}
		a = c.newAgent(id)
		c.agents.put(id, a)
		c.learned++
		c.noteAgent(AgentLearned, a)
	}
	a.mu.Lock()
	var ev AgentEventKind
	// The session authenticates its peer, but the move policy still
	// holds: a pinned agent stays where it was configured.
	if _, move := c.placement(a, r, addr, true, true); move {
		if a.present && (a.addr != addr || a.route != r) {
			ev = AgentMoved
		}
		a.route, a.addr, a.authed = r, addr, true
	}
	if cert != nil {
		a.cert = cert
	}
	if !a.present {
		a.present = true
		ev = AgentConnected
	}
	a.sessionNew = true
	a.lastSeen.Store(time.Now().UnixNano())
	info := a.info()
	a.mu.Unlock()
	c.mu.Unlock()
	c.flushAgentNotes()
	c.live.seen(id, addr, info.LastSeen, mqttUnknown)
	if ev != 0 {
		c.emit(AgentEvent{Kind: ev, Agent: info})
	}
	if ev == AgentConnected && c.cfg.autoProtocol {
		c.negotiateLater(id)
	}
}

// agentSupports records the agent's list of supported USP versions.
func (c *Controller) agentSupports(id, versions string) {
	if versions == "" {
		return
	}
	c.mu.Lock()
	if a, _ := c.agents.get(id); a != nil {
		a.mu.Lock()
		a.versions = versions
		if v := record.NegotiateVersion(versions); v != "" {
			a.version = v
		}
		a.mu.Unlock()
	}
	c.mu.Unlock()
	c.live.versions(id, versions)
}

// agentGone marks an agent absent and fails its pending calls. A non-nil
// only limits it to an agent reached over that route.
func (c *Controller) agentGone(id string, only *route, reason error) {
	c.mu.Lock()
	a, _ := c.agents.get(id)
	if a == nil || (only != nil && a.route != only) {
		c.mu.Unlock()
		return
	}
	a.mu.Lock()
	wasPresent := a.present
	a.present = false
	if only != nil && !a.configured {
		// A WebSocket or UDS address is the session itself; it is gone.
		a.addr, a.route, a.authed = mtp.Address{}, nil, false
	}
	info := a.info()
	a.mu.Unlock()
	c.mu.Unlock()
	c.live.gone(id, reason)
	c.failPending(func(p *pending) bool { return p.agent == id }, reason)
	if wasPresent {
		c.emit(AgentEvent{Kind: AgentDisconnected, Agent: info, Reason: reason})
	}
}

func (c *Controller) markRouteDown(r *route, reason error) {
	var gone []AgentInfo
	c.mu.Lock()
	for _, a := range c.agents.all(0) {
		if a.route == r && a.present {
			a.mu.Lock()
			a.present = false
			gone = append(gone, a.info())
			a.mu.Unlock()
		}
	}
	c.mu.Unlock()
	for _, info := range gone {
		c.emit(AgentEvent{Kind: AgentDisconnected, Agent: info, Reason: reason})
	}
}

func (c *Controller) emit(ev AgentEvent) {
	if len(c.hooks.agent) > 0 {
		c.agentHook(AgentChange{Kind: ev.Kind, AgentID: ev.Agent.EndpointID, Address: ev.Agent.Address, Reason: ev.Reason})
	}
	if c.events != nil {
		c.events.push(ev)
	}
}

// handlerSet is a set of callbacks with removers, safe for concurrent use.
// Adding and removing take its lock and publish a new list; reading the
// list, which every notification does, takes none.
type handlerSet[T any] struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]T
	snap atomic.Pointer[[]T]
}

func (s *handlerSet[T]) add(h T) (remove func()) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uint64]T)
	}
	s.next++
	id := s.next
	s.m[id] = h
	s.publish()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.m, id)
		s.publish()
		s.mu.Unlock()
	}
}

// publish makes the list readers see; s.mu is held.
func (s *handlerSet[T]) publish() {
	ids := make([]uint64, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	snap := make([]T, len(ids))
	for i, id := range ids {
		snap[i] = s.m[id]
	}
	s.snap.Store(&snap)
}

// list returns the callbacks in the order they were added. The slice is
// never changed once handed out.
func (s *handlerSet[T]) list() []T {
	if p := s.snap.Load(); p != nil {
		return *p
	}
	return nil
}

// dupRing remembers digests of the last notification msg_ids from one
// agent and whether each was answered, to recognise retransmissions: the
// low bit of each entry is the answered flag, the other 63 bits the
// digest. It allocates nothing until the agent's first notification, and
// 8 bytes per entry after. The agent's intake worker uses it, and the
// cluster's forwarding; agentState.mu guards it.
type dupRing struct {
	d    []uint64
	next int
}

// lookup reports whether digest d was seen and, if so, whether it was
// answered.
func (r *dupRing) lookup(d uint64) (seen, acked bool) {
	for _, e := range r.d {
		if e>>1 == d>>1 {
			return true, e&1 == 1
		}
	}
	return false, false
}

// record remembers d with its answered state.
func (r *dupRing) record(d uint64, acked bool, window int) {
	e := d &^ 1
	if acked {
		e |= 1
	}
	for i, x := range r.d {
		if x>>1 == d>>1 {
			r.d[i] = e
			return
		}
	}
	if len(r.d) < window {
		r.d = append(r.d, e)
		return
	}
	r.d[r.next] = e
	r.next = (r.next + 1) % window
}
