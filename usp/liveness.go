package usp

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// Reasons an agent went offline; InventoryEntry.Reason and
// StateChange.Reason carry them (with [ErrAgentGone] for goodbyes and
// closed sessions).
var (
	// ErrHeartbeatMissed: no record came from the agent for
	// LivenessConfig.Misses heartbeat intervals.
	ErrHeartbeatMissed = errors.New("usp: agent missed its heartbeats")
	// ErrProbeFailed: the agent did not answer LivenessConfig.Misses
	// probes in a row.
	ErrProbeFailed = errors.New("usp: agent did not answer probes")
	// ErrAgentUnreachable: a send to the agent failed because it is not
	// there: the MQTT broker said no client subscribes to its topic
	// (mqtt.WithNoSubscriberError), or no session with it exists.
	ErrAgentUnreachable = errors.New("usp: agent unreachable")
)

// LivenessConfig says how the controller tells which agents are online.
// Give it with [WithLiveness]; [WithHeartbeat] and [WithProbe] set one
// field each. Zero fields take the defaults noted.
type LivenessConfig struct {
	// Heartbeat, if set, makes the controller ask every agent on a broker
	// binding (MQTT, STOMP, memory) for a Device.LocalAgent.Periodic!
	// event at this interval: it sets the agent's
	// Device.LocalAgent.Controller.{i}.PeriodicNotifInterval (whole
	// seconds, at least 1) and subscribes to the event, when the agent
	// comes online and again after each Boot!. An agent silent for Misses
	// intervals (plus half of one, for delivery) goes offline.
	Heartbeat time.Duration
	// Misses is how many heartbeats or probes in a row an agent may miss
	// before it is offline (default 2).
	Misses int
	// Probe, if set, makes the controller send a cheap request
	// (GetSupportedProtocol) to an agent on a broker binding that has
	// been silent this long, and to absent and unknown agents with a
	// known address, with exponential backoff up to ProbeBackoff.
	Probe time.Duration
	// ProbeTimeout is how long a probe waits for its answer (default 10s,
	// or Probe if shorter).
	ProbeTimeout time.Duration
	// ProbeBackoff caps the interval between probes of an absent agent
	// (default 10 times Probe).
	ProbeBackoff time.Duration
	// ProbeRate caps probes per second across the whole fleet (default
	// 100), so that a controller that restarts with 100,000 unknown agents
	// does not flood the broker.
	ProbeRate float64
	// Hold is the hysteresis against flapping: an agent that says goodbye
	// (Disconnect record, closed session, MQTT Will, no subscriber) goes
	// offline only if it is not back within Hold (default 2s; negative:
	// at once). An agent that comes back in time causes no event.
	Hold time.Duration
	// DeviceInfo makes the controller read the inventory's DeviceInfo
	// (Get of Device.DeviceInfo.) from agents that come online without
	// it.
	DeviceInfo bool
}

// WithLiveness sets how agent liveness is tracked; see [LivenessConfig].
func WithLiveness(cfg LivenessConfig) Option {
	return func(c *config) error {
		if cfg.Heartbeat < 0 || cfg.Probe < 0 || cfg.ProbeTimeout < 0 || cfg.ProbeBackoff < 0 || cfg.ProbeRate < 0 || cfg.Misses < 0 {
			return fmt.Errorf("%w: negative liveness setting", ErrInvalidOption)
		}
		if cfg.Heartbeat > 0 && cfg.Heartbeat < time.Second {
			return fmt.Errorf("%w: heartbeat %v: PeriodicNotifInterval counts whole seconds, at least 1", ErrInvalidOption, cfg.Heartbeat)
		}
		c.live = cfg
		return nil
	}
}

// WithHeartbeat asks agents on broker bindings for a Periodic! event every
// interval (at least a second) and marks those that miss them offline;
// see [LivenessConfig].Heartbeat.
func WithHeartbeat(interval time.Duration) Option {
	return func(c *config) error {
		if interval < time.Second {
			return fmt.Errorf("%w: heartbeat %v: PeriodicNotifInterval counts whole seconds, at least 1", ErrInvalidOption, interval)
		}
		c.live.Heartbeat = interval
		return nil
	}
}

// WithProbe probes agents on broker bindings that have been silent for
// idle; see [LivenessConfig].Probe.
func WithProbe(idle time.Duration) Option {
	return func(c *config) error {
		if idle <= 0 {
			return fmt.Errorf("%w: probe interval %v", ErrInvalidOption, idle)
		}
		c.live.Probe = idle
		return nil
	}
}

// WithStateHandler adds an observer of agents' state changes from the
// start; more can be added later with [Controller.OnStateChange].
func WithStateHandler(f func(StateChange)) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: nil state handler", ErrInvalidOption)
		}
		c.stateHandlers = append(c.stateHandlers, f)
		return nil
	}
}

// StateChange reports that an agent's state changed.
type StateChange struct {
	EndpointID string
	From, To   AgentState
	// At is when the change took effect (for a goodbye held by
	// LivenessConfig.Hold, when the goodbye came).
	At time.Time
	// Reason says why an agent went offline.
	Reason error
	// Entry is the agent's inventory entry after the change.
	Entry InventoryEntry
}

// OnStateChange registers f to observe every change of an agent's state.
// f runs on a goroutine of the controller, one change at a time, in
// order. The returned function removes f.
func (c *Controller) OnStateChange(f func(StateChange)) (remove func()) {
	return c.live.watchers.add(f)
}

// StateChanges returns the changes of agents' states as an iterator, from
// when the iteration starts until ctx ends or the controller closes (the
// last pair then carries the reason). Changes are buffered (up to buffer);
// when the reader falls further behind, the oldest are dropped and the
// iterator yields an error saying how many before going on.
func (c *Controller) StateChanges(ctx context.Context, buffer int) iter.Seq2[StateChange, error] {
	return func(yield func(StateChange, error) bool) {
		if buffer <= 0 {
			buffer = 64
		}
		var mu sync.Mutex
		var q []StateChange
		dropped := 0
		wake := make(chan struct{}, 1)
		remove := c.OnStateChange(func(ch StateChange) {
			mu.Lock()
			if len(q) >= buffer {
				q = q[1:]
				dropped++
			}
			q = append(q, ch)
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		defer remove()
		for {
			mu.Lock()
			batch, lost := q, dropped
			q, dropped = nil, 0
			mu.Unlock()
			if lost > 0 && !yield(StateChange{}, fmt.Errorf("usp: %d state changes dropped: the reader is behind", lost)) {
				return
			}
			for _, ch := range batch {
				if !yield(ch, nil) {
					return
				}
			}
			select {
			case <-wake:
			case <-ctx.Done():
				yield(StateChange{}, ctx.Err())
				return
			case <-c.closing:
				yield(StateChange{}, ErrClosed)
				return
			}
		}
	}
}

// maxProbes bounds the probes in flight: with ProbeRate and ProbeTimeout
// it caps the goroutines probing a fleet that does not answer.
const maxProbes = 256

// heartbeatSubID is the ID of the Periodic! subscription the controller
// keeps on each agent; (ID, Recipient) is unique on the agent, so every
// controller has its own.
const heartbeatSubID = "gousp-heartbeat"

// periodicEvent is the heartbeat event's path.
const periodicEvent = "Device.LocalAgent.Periodic!"

// liveness tracks the inventory and every agent's state.
type liveness struct {
	c     *Controller
	cfg   LivenessConfig
	store Store
	keep  bool // a store outlives the process: keep running operations in it
	tick  time.Duration

	// The entries, in shards by endpoint ID: an entry's fields are
	// guarded by its shard's lock, so records from unrelated agents do
	// not wait on one another (issue 14).
	seed   maphash.Seed
	shards [invShards]invShard
	counts [4]atomic.Int64 // entries by state
	gen    atomic.Uint64   // bumped when an entry is added or removed

	idsMu  sync.Mutex
	ids    []string // sorted endpoint IDs, as of generation idsGen
	idsGen uint64

	omu     sync.Mutex
	orphans map[string][]StoredSubscription // left by a previous run, by agent

	// The checker's own state, under ckMu (held for a whole pass).
	ckMu   sync.Mutex
	tokens float64
	refill int64
	blind  map[mtp.Kind]int64 // last time the binding was seen not connected

	setups  chan struct{} // bounds concurrent setups and clean-ups
	probing atomic.Int32  // probes in flight, at most maxProbes

	watchers handlerSet[func(StateChange)]
	q        changeQueue
}

// invShards is how many parts the inventory is split into.
const invShards = 64

// invShard holds the entries of some agents, and those of them changed
// since the store was last written.
type invShard struct {
	mu    sync.Mutex
	ents  map[string]*invEntry
	dirty []*invEntry
	_     [88]byte // pads the shard to 128 bytes: its hot fields and the next shard's are 64 or more bytes apart, never on one cache line, however the array is aligned
}

// shard returns the shard that holds (or would hold) id's entry.
func (l *liveness) shard(id string) *invShard {
	return &l.shards[maphash.String(l.seed, id)%invShards]
}

// add files a new entry; its shard's lock is held.
func (l *liveness) add(sh *invShard, e *invEntry) {
	sh.ents[e.id] = e
	l.counts[e.state].Add(1)
	l.gen.Add(1)
}

// remove drops id's entry, if any; its shard's lock is held.
func (l *liveness) remove(sh *invShard, id string) {
	if e, ok := sh.ents[id]; ok {
		l.counts[e.state].Add(-1)
		delete(sh.ents, id)
		l.gen.Add(1)
	}
}

func newLiveness(c *Controller) *liveness {
	cfg := c.cfg.live
	if cfg.Misses == 0 {
		cfg.Misses = 2
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 10 * time.Second
		if cfg.Probe > 0 && cfg.Probe < cfg.ProbeTimeout {
			cfg.ProbeTimeout = cfg.Probe
		}
	}
	if cfg.ProbeBackoff == 0 {
		cfg.ProbeBackoff = 10 * cfg.Probe
	}
	if cfg.ProbeRate == 0 {
		cfg.ProbeRate = 100
	}
	switch {
	case cfg.Hold == 0:
		cfg.Hold = 2 * time.Second
	case cfg.Hold < 0:
		cfg.Hold = 0
	}
	l := &liveness{
		c: c, cfg: cfg, store: c.cfg.store, keep: c.cfg.store != nil, seed: maphash.MakeSeed(),
		orphans: make(map[string][]StoredSubscription),
		blind:   make(map[mtp.Kind]int64), setups: make(chan struct{}, 64),
		tokens: math.Max(1, cfg.ProbeRate),
	}
	for i := range l.shards {
		l.shards[i].ents = make(map[string]*invEntry)
	}
	l.q.wake = make(chan struct{}, 1)
	// The checker runs often enough to keep detection close to the
	// configured bounds, and at least once a second for the store.
	l.tick = time.Second
	for _, d := range []time.Duration{cfg.Heartbeat / 4, cfg.Probe / 4, cfg.Hold / 4} {
		if d > 0 && d < l.tick {
			l.tick = d
		}
	}
	l.tick = max(l.tick, 5*time.Millisecond)
	for _, f := range c.cfg.stateHandlers {
		l.watchers.add(f)
	}
	return l
}

// sessionKind reports bindings whose session says whether the peer is
// there: no heartbeat or probe is needed.
func sessionKind(k mtp.Kind) bool { return k == mtp.WebSocket || k == mtp.UDS }

// start loads the store and starts the checker. It runs in Start, before
// the transports: agents heard from at once find their entries.
func (l *liveness) start(ctx context.Context) error {
	c := l.c
	now := time.Now().UnixNano()
	c.mu.Lock()
	for id, a := range c.agents.all(0) {
		sh := l.shard(id)
		sh.mu.Lock()
		if sh.ents[id] == nil {
			l.add(sh, &invEntry{id: id, addr: a.addr, state: StateUnknown, since: now})
		}
		sh.mu.Unlock()
	}
	c.mu.Unlock()
	if l.store != nil {
		if err := l.load(ctx, now); err != nil {
			return err
		}
	}
	c.handlers.add(l.onNotify)
	c.wg.Add(2)
	go func() { defer c.wg.Done(); l.q.run(c, l) }()
	go func() { defer c.wg.Done(); l.run() }()
	return nil
}

// load reads the store: the inventory (every agent unknown), the
// subscriptions and the operations of the previous run.
func (l *liveness) load(ctx context.Context, now int64) error {
	c := l.c
	restored := 0
	for r, err := range l.store.Agents(ctx) {
		if err != nil {
			return fmt.Errorf("%w: loading agents: %w", ErrStore, err)
		}
		if !record.ValidEndpointID(r.EndpointID) {
			continue
		}
		sh := l.shard(r.EndpointID)
		sh.mu.Lock()
		e := sh.ents[r.EndpointID]
		if e == nil {
			e = &invEntry{id: r.EndpointID, state: StateUnknown}
			l.add(sh, e)
		}
		configured := !e.addr.IsZero()
		addr := e.addr
		e.restore(r)
		if configured {
			e.addr = addr
			if addr != r.Address {
				e.mqtt = mqttUnknown // stored for another address
			}
		}
		if e.state != StateUnknown {
			l.counts[e.state].Add(-1)
			l.counts[StateUnknown].Add(1)
		}
		e.state, e.since = StateUnknown, now
		sh.mu.Unlock()
		restored++
		// The agent is reachable at its last address until it says
		// otherwise: requests, probes and clean-ups can go out at once.
		if !configured && !r.Address.IsZero() && !sessionKind(r.Address.MTP) {
			if rt := c.routeFor(r.Address.MTP); rt != nil {
				c.mu.Lock()
				if a, _ := c.agents.get(r.EndpointID); a == nil {
					a := c.newAgent(r.EndpointID)
					a.route, a.addr = rt, r.Address
					if r.SupportedVersions != "" {
						a.versions = r.SupportedVersions
						if v := record.NegotiateVersion(r.SupportedVersions); v != "" {
							a.version = v
						}
					}
					c.agents.put(r.EndpointID, a)
				}
				c.mu.Unlock()
				c.tellMQTTVersion(rt, r)
			}
		}
	}
	subs := map[subKey]StoredSubscription{}
	for s, err := range l.store.Subscriptions(ctx) {
		if err != nil {
			return fmt.Errorf("%w: loading subscriptions: %w", ErrStore, err)
		}
		if !c.owns(s.ID) {
			continue // another process's, in a shared store
		}
		subs[subKey{s.AgentID, s.ID}] = s
	}
	for op, err := range l.store.Operations(ctx) {
		if err != nil {
			return fmt.Errorf("%w: loading operations: %w", ErrStore, err)
		}
		if !c.owns(op.CommandKey) && !c.owns(op.SubscriptionID) {
			continue
		}
		o := &Operation{c: c, agent: op.AgentID, command: op.Command, commandKey: op.CommandKey,
			requestPath: op.RequestPath, done: make(chan struct{}), started: op.Started, restored: true}
		key := opKey{op.AgentID, op.CommandKey}
		if st, ok := subs[subKey{op.AgentID, op.SubscriptionID}]; ok && op.SubscriptionID != "" {
			delete(subs, subKey{op.AgentID, op.SubscriptionID})
			s := &Subscription{c: c, agent: st.AgentID, id: st.ID, path: st.Path, done: make(chan struct{}),
				handler: func(context.Context, *Notification) error { return nil }}
			o.sub = s
			c.mu.Lock()
			c.subs.put(subKey{st.AgentID, st.ID}, s)
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.ops[key] = o
		c.mu.Unlock()
	}
	l.omu.Lock()
	for _, s := range subs {
		l.orphans[s.AgentID] = append(l.orphans[s.AgentID], s)
	}
	l.omu.Unlock()
	c.log.Info("inventory loaded from the store", "agents", restored, "leftover_subscriptions", len(subs))
	return nil
}

// seen records a record from an agent (called by agentSeen, outside c.mu);
// mqtt is the MQTT version of the client at addr when the record named it
// (an MQTTConnect record), else mqttUnknown. Both are written to the store
// in the same batch, so another process never finds the address without
// the version.
func (l *liveness) seen(id string, addr mtp.Address, now time.Time, mqtt uint8) {
	ns := now.UnixNano()
	sh := l.shard(id)
	sh.mu.Lock()
	e := sh.ents[id]
	if e == nil {
		e = &invEntry{id: id, first: ns, state: StateUnknown, since: ns}
		l.add(sh, e)
	}
	if e.first == 0 {
		e.first = ns
	}
	e.last, e.misses, e.probeWait, e.goneAt, e.goneReason = ns, 0, 0, 0, nil
	if !addr.IsZero() && addr != e.addr {
		e.addr = addr
	}
	if mqtt != mqttUnknown {
		e.mqtt = mqtt
	}
	var ch *StateChange
	setup, orphans := false, []StoredSubscription(nil)
	if e.state != StateOnline {
		ch = l.transition(sh, e, StateOnline, nil, ns)
		setup = l.needsSetup(e)
	}
	l.markDirty(sh, e)
	sh.mu.Unlock()
	if ch != nil {
		l.q.push(*ch)
		l.omu.Lock()
		orphans = l.orphans[id]
		delete(l.orphans, id)
		l.omu.Unlock()
	}
	if setup {
		l.setupLater(id)
	}
	if len(orphans) > 0 {
		l.cleanOrphans(id, orphans)
	}
}

// gone records a sign that the agent left: a Disconnect record, a closed
// session, an MQTT Will, or a broker that knows no subscriber. It goes
// offline once the hold passes without news from it.
func (l *liveness) gone(id string, reason error) {
	now := time.Now().UnixNano()
	sh := l.shard(id)
	sh.mu.Lock()
	e := sh.ents[id]
	if e == nil || e.state == StateOffline || e.goneAt != 0 {
		sh.mu.Unlock()
		return
	}
	var ch *StateChange
	if l.cfg.Hold == 0 {
		ch = l.transition(sh, e, StateOffline, reason, now)
	} else {
		e.goneAt, e.goneReason = now, reason
	}
	sh.mu.Unlock()
	if ch != nil {
		l.q.push(*ch)
	}
}

// transition changes an entry's state; its shard's lock is held. It
// returns the change to announce once the lock is released.
func (l *liveness) transition(sh *invShard, e *invEntry, to AgentState, reason error, at int64) *StateChange {
	from := e.state
	l.counts[from].Add(-1)
	l.counts[to].Add(1)
	e.state, e.since = to, at
	e.reason = ""
	if reason != nil {
		e.reason = reason.Error()
	}
	if to != StateOffline {
		e.goneAt, e.goneReason = 0, nil
	}
	l.markDirty(sh, e)
	return &StateChange{EndpointID: e.id, From: from, To: to, At: unixTime(at), Reason: reason, Entry: e.public()}
}

// markDirty queues the entry for the store; its shard's lock is held.
func (l *liveness) markDirty(sh *invShard, e *invEntry) {
	if l.store == nil || e.dirty {
		return
	}
	e.dirty = true
	sh.dirty = append(sh.dirty, e)
}

// needsSetup reports whether an agent coming online needs its heartbeat
// or device information set up; its shard's lock is held.
func (l *liveness) needsSetup(e *invEntry) bool {
	if e.settingUp {
		return false
	}
	hb := l.cfg.Heartbeat > 0 && !sessionKind(e.addr.MTP) && (e.hbState == hbNone || e.hbSecs != l.hbSecs())
	return hb || (l.cfg.DeviceInfo && e.dev == nil)
}

func (l *liveness) hbSecs() uint32 {
	return uint32((l.cfg.Heartbeat + time.Second - 1) / time.Second)
}

// versions records the agent's supported USP versions.
func (l *liveness) versions(id, versions string) {
	sh := l.shard(id)
	sh.mu.Lock()
	if e := sh.ents[id]; e != nil && e.versions != versions {
		e.versions = versions
		l.markDirty(sh, e)
	}
	sh.mu.Unlock()
}

// sendFailed turns a send that found nobody into agent state.
func (l *liveness) sendFailed(to string, err error) {
	if errors.Is(err, mtp.ErrUnknownPeer) {
		l.gone(to, fmt.Errorf("%w: %w", ErrAgentUnreachable, err))
	}
}

// will recognises an MQTT or STOMP Will message: a deployment configures
// each agent's Will (Device.MQTT.Client.{i}.WillTopic, WillValue) to
// publish its own endpoint ID to the controller's topic. It reports
// whether data was one (a Will that verify refuses is one, and is
// dropped).
//
// Anyone who may publish to the controller's topic can send such a
// payload, so verify (the user's PeerVerifier, when set) decides whether
// the sender may speak for the agent, as for any record claiming it; a
// Will changes only the agent's state in the inventory, never its address
// or its calls, and the agent's next record brings it back online.
func (l *liveness) will(r *route, data []byte, verify func(id string) error) bool {
	if r.kind != mtp.MQTT && r.kind != mtp.STOMP || len(data) > 64 {
		return false
	}
	id := strings.TrimSpace(string(data))
	if !record.ValidEndpointID(id) {
		return false
	}
	sh := l.shard(id)
	sh.mu.Lock()
	known := sh.ents[id] != nil
	sh.mu.Unlock()
	if !known {
		return false
	}
	if err := verify(id); err != nil {
		l.c.log.Warn("dropping a Will message", "mtp", r.kind, "agent", id, "err", err)
		return true
	}
	l.gone(id, fmt.Errorf("%w: %s Will message", ErrAgentGone, r.kind))
	return true
}

// onNotify takes what notifications say about agents: Boot! (device
// information, and the heartbeat to set up again on a fresh data model)
// and OnBoardRequest. It never refuses a notification.
func (l *liveness) onNotify(_ context.Context, n *Notification) error {
	switch b := n.Body.(type) {
	case *msg.Event:
		if b.Path() != "Device.Boot!" {
			return nil
		}
		l.bootInfo(n.AgentID, b, n.Received)
		sh := l.shard(n.AgentID)
		sh.mu.Lock()
		e := sh.ents[n.AgentID]
		setup := e != nil && (l.cfg.Heartbeat > 0 && !sessionKind(e.addr.MTP) || l.cfg.DeviceInfo) && !e.settingUp
		if setup && l.cfg.Heartbeat > 0 {
			e.hbState = hbNone // the agent may have lost it with its data model
		}
		sh.mu.Unlock()
		if setup {
			l.setupLater(n.AgentID)
		}
	case *msg.OnBoardRequest:
		sh := l.shard(n.AgentID)
		sh.mu.Lock()
		if e := sh.ents[n.AgentID]; e != nil {
			l.setDeviceInfo(e, map[string]string{
				"Device.DeviceInfo.ManufacturerOUI": b.OUI,
				"Device.DeviceInfo.ProductClass":    b.ProductClass,
				"Device.DeviceInfo.SerialNumber":    b.SerialNumber,
			})
			l.markDirty(sh, e)
		}
		sh.mu.Unlock()
		l.versions(n.AgentID, b.AgentSupportedProtocolVersions)
	}
	return nil
}

// background runs f on a goroutine of the controller, bounded by the
// setup semaphore if bounded; it reports false if the controller is
// closing.
func (l *liveness) background(f func(ctx context.Context)) bool {
	return l.goroutine(true, f)
}

func (l *liveness) goroutine(bounded bool, f func(ctx context.Context)) bool {
	c := l.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		if bounded {
			select {
			case l.setups <- struct{}{}:
			case <-c.closing:
				return
			}
			defer func() { <-l.setups }()
		}
		f(c.ctx)
	}()
	return true
}

// setupLater sets up the agent's heartbeat and reads its device
// information, in the background.
func (l *liveness) setupLater(id string) {
	sh := l.shard(id)
	sh.mu.Lock()
	e := sh.ents[id]
	if e == nil || e.settingUp {
		sh.mu.Unlock()
		return
	}
	e.settingUp = true
	sh.mu.Unlock()
	if !l.background(func(ctx context.Context) { l.setup(ctx, id) }) {
		sh.mu.Lock()
		e.settingUp = false
		sh.mu.Unlock()
	}
}

func (l *liveness) setup(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
	defer cancel()
	a := l.c.Agent(id)
	sh := l.shard(id)
	sh.mu.Lock()
	e := sh.ents[id]
	wantHB := e != nil && l.cfg.Heartbeat > 0 && !sessionKind(e.addr.MTP) && (e.hbState == hbNone || e.hbSecs != l.hbSecs())
	wantDev := e != nil && l.cfg.DeviceInfo && e.dev == nil
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		if e != nil {
			e.settingUp = false
		}
		sh.mu.Unlock()
	}()
	if e == nil {
		return
	}
	if wantHB {
		secs := l.hbSecs()
		err := l.setHeartbeat(ctx, a, secs)
		sh.mu.Lock()
		if err != nil {
			e.hbState = hbFailed
		} else {
			e.hbState, e.hbSecs = hbOK, secs
			// The deadline counts from now: the first Periodic! comes a
			// whole interval after the agent took the setting.
			e.last = max(e.last, time.Now().UnixNano())
		}
		l.markDirty(sh, e)
		sh.mu.Unlock()
		if err != nil && !errors.Is(err, ErrClosed) {
			l.c.log.Warn("could not set up the agent's heartbeat; it is not watched for silence", "agent", id, "err", err)
		}
	}
	if wantDev {
		paths := make([]string, len(deviceInfoParams))
		for i, p := range deviceInfoParams {
			paths[i] = "Device.DeviceInfo." + p
		}
		r, err := a.Get(ctx, msg.Get{Paths: paths})
		if err != nil {
			l.c.log.Info("could not read the agent's device information", "agent", id, "err", err)
			return
		}
		sh.mu.Lock()
		l.setDeviceInfo(e, r.Values())
		if e.dev == nil {
			e.dev = &DeviceInfo{} // read once, even if empty
		}
		l.markDirty(sh, e)
		sh.mu.Unlock()
	}
}

// setHeartbeat sets the agent's PeriodicNotifInterval for this controller
// and makes sure the Periodic! subscription exists.
func (l *liveness) setHeartbeat(ctx context.Context, a *Agent, secs uint32) error {
	ctrl := "Device.LocalAgent.Controller.[" + datamodel.Eq("EndpointID", l.c.id).String() + "]."
	resp, err := a.SetValues(ctx, ctrl, map[string]string{"PeriodicNotifInterval": strconv.FormatUint(uint64(secs), 10)})
	if err == nil {
		err = resp.Err()
	}
	if err == nil && (len(resp.Results) == 0 || len(resp.Results[0].Updated) == 0) {
		// The agent has no Controller entry for us (it learned of this
		// controller some other way): no Periodic! would come, and the
		// deadline would call a live agent offline.
		err = errors.New("the agent has no Device.LocalAgent.Controller entry for this controller")
	}
	if err != nil {
		return fmt.Errorf("setting PeriodicNotifInterval: %w", err)
	}
	add := msg.AddParams(subscriptionTable, map[string]string{
		"ID":            heartbeatSubID,
		"NotifType":     NotifEvent,
		"ReferenceList": periodicEvent,
		"Enable":        "true",
		"Persistent":    "true",
	})
	r, err := a.Add(ctx, add)
	if err == nil {
		_, err = addedPath(r)
	}
	if err != nil && !errors.Is(err, msg.ErrDuplicateKey) {
		return fmt.Errorf("subscribing to %s: %w", periodicEvent, err)
	}
	return nil
}

// cleanOrphans deletes, in the background, the subscriptions a previous
// run of the controller left on an agent that is online again.
func (l *liveness) cleanOrphans(id string, subs []StoredSubscription) {
	ok := l.background(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
		defer cancel()
		var paths []string
		for _, s := range subs {
			if s.Path != "" {
				paths = append(paths, s.Path)
			}
		}
		if len(paths) > 0 {
			resp, err := l.c.Agent(id).Delete(ctx, msg.Delete{Paths: paths, AllowPartial: true})
			if err == nil {
				err = resp.Err()
			}
			if err != nil {
				l.c.log.Info("could not remove subscriptions left by a previous run", "agent", id, "err", err)
				l.omu.Lock()
				if l.orphans[id] == nil {
					l.orphans[id] = subs // try again when the agent is next online
				}
				l.omu.Unlock()
				return
			}
		}
		for _, s := range subs {
			if err := l.store.DeleteSubscription(ctx, s.AgentID, s.ID); err != nil {
				l.c.log.Warn("store: could not delete a subscription", "agent", id, "err", err)
			}
		}
	})
	if !ok {
		l.omu.Lock()
		l.orphans[id] = subs
		l.omu.Unlock()
	}
}

// LeftoverSubscriptions lists the subscriptions a previous run of the
// controller (as its [Store] remembers) left on agents and this run has
// not removed yet. They are deleted from each agent when it is next
// online, except the completion subscriptions of
// [Controller.PendingOperations].
func (c *Controller) LeftoverSubscriptions() []StoredSubscription {
	l := c.live
	l.omu.Lock()
	defer l.omu.Unlock()
	var out []StoredSubscription
	for _, subs := range l.orphans {
		out = append(out, subs...)
	}
	return out
}

// run is the checker: it ends held goodbyes, finds silent agents, starts
// probes and writes the store.
func (l *liveness) run() {
	t := time.NewTicker(l.tick)
	defer t.Stop()
	lastFlush := time.Now()
	for {
		select {
		case <-l.c.closing:
			l.flush()
			return
		case now := <-t.C:
			l.check(now)
			if now.Sub(lastFlush) >= time.Second {
				l.flush()
				lastFlush = now
			}
		}
	}
}

// check runs one pass of the checker.
func (l *liveness) check(t time.Time) {
	now := t.UnixNano()
	down := map[mtp.Kind]bool{}
	for _, r := range l.c.routes {
		if r.t.State() != mtp.Connected {
			down[r.kind] = true
		}
	}
	var changes []StateChange
	var probes []string
	hb := int64(l.cfg.Heartbeat)
	hold := int64(l.cfg.Hold)
	probeIdle := int64(l.cfg.Probe)
	l.ckMu.Lock()
	for k := range down {
		l.blind[k] = now
	}
	if l.cfg.Probe > 0 {
		l.tokens = math.Min(math.Max(1, l.cfg.ProbeRate), l.tokens+float64(now-l.refill)/1e9*l.cfg.ProbeRate)
		l.refill = now
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		changes, probes = l.checkShard(sh, now, down, hb, hold, probeIdle, changes, probes)
		sh.mu.Unlock()
	}
	l.ckMu.Unlock()
	for _, ch := range changes {
		l.q.push(ch)
	}
	for _, id := range probes {
		if !l.goroutine(false, func(ctx context.Context) { l.probe(ctx, id) }) {
			l.probing.Add(-1)
			sh := l.shard(id)
			sh.mu.Lock()
			if e := sh.ents[id]; e != nil {
				e.probing = false
			}
			sh.mu.Unlock()
		}
	}
}

// checkShard is check's pass over one shard, whose lock is held (and
// ckMu); it appends the changes to announce and the agents to probe.
func (l *liveness) checkShard(sh *invShard, now int64, down map[mtp.Kind]bool, hb, hold, probeIdle int64, changes []StateChange, probes []string) ([]StateChange, []string) {
	for _, e := range sh.ents {
		if e.goneAt != 0 && now-e.goneAt >= hold {
			changes = append(changes, *l.transition(sh, e, StateOffline, e.goneReason, e.goneAt))
			e.probeAt = now + probeIdle
			continue
		}
		kind := e.addr.MTP
		if down[kind] || sessionKind(kind) || e.addr.IsZero() {
			continue
		}
		// While the binding was down nothing could arrive: count
		// silence from when it came back.
		last := max(e.last, l.blind[kind])
		switch e.state {
		case StateOnline:
			if hb > 0 && e.hbState == hbOK {
				if now-last > int64(l.cfg.Misses)*int64(e.hbSecs)*int64(time.Second)+int64(e.hbSecs)*int64(time.Second)/2 {
					changes = append(changes, *l.transition(sh, e, StateOffline, ErrHeartbeatMissed, e.last))
					e.probeAt = now + probeIdle
					// It may have lost the subscription (a reboot whose
					// Boot! went unseen): set it up again when it is back.
					e.hbState = hbNone
					continue
				}
			}
			if probeIdle > 0 && !e.probing && now-last >= probeIdle && now >= e.probeAt && l.tokens >= 1 && l.probing.Load() < maxProbes {
				l.tokens--
				l.probing.Add(1)
				e.probing = true
				probes = append(probes, e.id)
			}
		default:
			if probeIdle > 0 && !e.probing && now >= e.probeAt && l.tokens >= 1 && l.probing.Load() < maxProbes {
				l.tokens--
				l.probing.Add(1)
				e.probing = true
				probes = append(probes, e.id)
			}
		}
	}
	return changes, probes
}

// probe sends one cheap request to the agent and counts a miss if it gets
// no answer. An answer needs nothing here: the record itself made the
// agent online.
func (l *liveness) probe(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ProbeTimeout)
	defer cancel()
	_, err := l.c.Agent(id).GetSupportedProtocol(ctx)
	now := time.Now().UnixNano()
	var ch *StateChange
	l.probing.Add(-1)
	sh := l.shard(id)
	sh.mu.Lock()
	e := sh.ents[id]
	if e == nil {
		sh.mu.Unlock()
		return
	}
	e.probing = false
	var me *msg.Error
	switch {
	case err == nil, errors.As(err, &me):
		// An error message is an answer too.
		e.probeAt = now + int64(l.cfg.Probe)
	case errors.Is(err, ErrClosed):
	case errors.Is(err, mtp.ErrNotConnected), errors.Is(err, ErrTransportLost), errors.Is(err, ErrUnknownAgent):
		// Our side cannot reach anyone: no evidence about the agent.
		e.probeAt = now + int64(l.cfg.Probe)
	case errors.Is(err, mtp.ErrUnknownPeer):
		// The send reported it (sendFailed): the agent goes offline
		// after the hold, for the reason the broker gave.
		e.probeWait = min(max(2*e.probeWait, int64(l.cfg.Probe)), int64(l.cfg.ProbeBackoff))
		e.probeAt = now + e.probeWait
	default:
		if e.misses < math.MaxUint8 {
			e.misses++
		}
		switch {
		case e.state != StateOffline && int(e.misses) >= l.cfg.Misses:
			ch = l.transition(sh, e, StateOffline, fmt.Errorf("%w: %w", ErrProbeFailed, err), e.last)
			e.probeWait = int64(l.cfg.Probe)
			e.probeAt = now + e.probeWait
		case e.state == StateOffline:
			e.probeWait = min(max(2*e.probeWait, int64(l.cfg.Probe)), int64(l.cfg.ProbeBackoff))
			e.probeAt = now + e.probeWait
		default:
			e.probeAt = now // the next miss decides
		}
	}
	sh.mu.Unlock()
	if ch != nil {
		l.q.push(*ch)
	}
}

// flush writes the changed inventory entries to the store in one batch.
func (l *liveness) flush() {
	if l.store == nil {
		return
	}
	var batch []InventoryEntry
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, e := range sh.dirty {
			e.dirty = false
			if sh.ents[e.id] == e {
				batch = append(batch, e.public())
			}
		}
		clear(sh.dirty)
		sh.dirty = sh.dirty[:0]
		sh.mu.Unlock()
	}
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.c.ctx), backgroundTimeout)
	defer cancel()
	if err := l.store.PutAgents(ctx, batch); err != nil {
		l.c.log.Warn("store: could not write the inventory", "agents", len(batch), "err", err)
	}
}

// subscribed stores a subscription the controller created.
func (l *liveness) subscribed(ctx context.Context, s *Subscription, spec SubscriptionSpec) {
	if l.store == nil {
		return
	}
	st := StoredSubscription{AgentID: s.agent, ID: s.id, Path: s.path, NotifType: spec.NotifType,
		ReferenceList: spec.ReferenceList, Created: time.Now()}
	if err := l.store.PutSubscription(context.WithoutCancel(ctx), st); err != nil {
		l.c.log.Warn("store: could not record a subscription", "agent", s.agent, "id", s.id, "err", err)
	}
}

// unsubscribed forgets a subscription removed from the agent.
func (l *liveness) unsubscribed(ctx context.Context, s *Subscription) {
	if l.store == nil {
		return
	}
	if err := l.store.DeleteSubscription(context.WithoutCancel(ctx), s.agent, s.id); err != nil {
		l.c.log.Warn("store: could not delete a subscription", "agent", s.agent, "id", s.id, "err", err)
	}
}

// opStarted stores an asynchronous operation the agent accepted.
func (l *liveness) opStarted(ctx context.Context, op *Operation) {
	if l.store == nil {
		return
	}
	op.mu.Lock()
	st := StoredOperation{AgentID: op.agent, Command: op.command, CommandKey: op.commandKey,
		RequestPath: op.requestPath, Started: op.started}
	if op.sub != nil {
		st.SubscriptionID = op.sub.id
	}
	op.mu.Unlock()
	if err := l.store.PutOperation(context.WithoutCancel(ctx), st); err != nil {
		l.c.log.Warn("store: could not record an operation", "agent", op.agent, "command_key", op.commandKey, "err", err)
	}
	select {
	case <-op.done:
		// It completed while it was being stored: forget it again.
		l.opEnded(op, op.err)
	default:
	}
}

// opEnded forgets an operation, unless it ended only because the
// controller closed and the store keeps it for the next run.
func (l *liveness) opEnded(op *Operation, err error) {
	if l.store == nil || (l.keep && errors.Is(err, ErrClosed)) {
		return
	}
	op.mu.Lock()
	stored := op.requestPath != "" || op.restored
	op.mu.Unlock()
	if !stored {
		return // synchronous, or never accepted: never stored
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.c.ctx), backgroundTimeout)
	defer cancel()
	if err := l.store.DeleteOperation(ctx, op.agent, op.commandKey); err != nil {
		l.c.log.Warn("store: could not delete an operation", "agent", op.agent, "command_key", op.commandKey, "err", err)
	}
}

// keepOperations reports whether Close leaves running operations (and
// their subscriptions) for the next run.
func (l *liveness) keepOperations() bool { return l.keep }

// PendingOperations returns the operations still waiting for their
// completion: those started in this run and, with a [Store], those the
// previous run left running. An OperationComplete for a restored
// operation completes it as usual: its [Operation.Wait] returns, and the
// notification also reaches every notify handler.
func (c *Controller) PendingOperations() []*Operation {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Operation, 0, len(c.ops))
	for _, op := range c.ops {
		out = append(out, op)
	}
	return out
}

// PendingOperation returns the running operation with that command key on
// the agent.
func (c *Controller) PendingOperation(agentID, commandKey string) (*Operation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op, ok := c.ops[opKey{agentID, commandKey}]
	return op, ok
}

// changeQueue delivers state changes to watchers in order, on one
// goroutine.
type changeQueue struct {
	mu   sync.Mutex
	q    []StateChange
	wake chan struct{}
}

func (q *changeQueue) push(ch StateChange) {
	q.mu.Lock()
	q.q = append(q.q, ch)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *changeQueue) run(c *Controller, l *liveness) {
	for {
		select {
		case <-c.closing:
			return
		case <-q.wake:
		}
		for {
			q.mu.Lock()
			if len(q.q) == 0 {
				q.mu.Unlock()
				break
			}
			ch := q.q[0]
			q.q[0] = StateChange{}
			q.q = q.q[1:]
			if len(q.q) == 0 {
				q.q = nil // the array, however long a storm made it, goes
			}
			q.mu.Unlock()
			for _, f := range l.watchers.list() {
				f(ch)
			}
		}
	}
}
