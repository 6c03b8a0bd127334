package usp

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
)

// AgentState says whether an agent is reachable, as far as the controller
// can tell; see the package documentation's "Liveness" section.
type AgentState uint8

// Agent states. The zero AgentState matches any state in a [Query].
const (
	// StateUnknown: not heard from since the controller started (an agent
	// from the store, or one configured with [WithAgent]).
	StateUnknown AgentState = iota + 1
	// StateOnline: the agent sent something, and nothing since says it
	// left.
	StateOnline
	// StateOffline: the agent said goodbye, its session closed, the broker
	// said nobody subscribes to its topic, or it missed its heartbeats or
	// probes. InventoryEntry.Reason says which.
	StateOffline
)

func (s AgentState) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateOnline:
		return "online"
	case StateOffline:
		return "offline"
	}
	return "any"
}

// MarshalText writes the state's name.
func (s AgentState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name ("online", "offline", "unknown").
func (s *AgentState) UnmarshalText(b []byte) error {
	v, err := ParseAgentState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseAgentState reads a state's name; "" and "any" give the zero state.
func ParseAgentState(name string) (AgentState, error) {
	switch strings.ToLower(name) {
	case "", "any":
		return 0, nil
	case "unknown":
		return StateUnknown, nil
	case "online":
		return StateOnline, nil
	case "offline":
		return StateOffline, nil
	}
	return 0, fmt.Errorf("usp: unknown agent state %q (want online, offline or unknown)", name)
}

// DeviceInfo is what the inventory keeps of an agent's Device.DeviceInfo.:
// from the ParameterMap of its Boot! events (the parameters its
// Controller.{i}.BootParameter entries name), its OnBoardRequest, or a Get
// ([LivenessConfig].DeviceInfo).
type DeviceInfo struct {
	Manufacturer    string `json:"manufacturer,omitempty"`
	ManufacturerOUI string `json:"oui,omitempty"`
	ModelName       string `json:"model,omitempty"`
	ProductClass    string `json:"product_class,omitempty"`
	SerialNumber    string `json:"serial,omitempty"`
	HardwareVersion string `json:"hardware,omitempty"`
	SoftwareVersion string `json:"software,omitempty"`
}

// deviceInfoParams are the parameters DeviceInfo keeps.
var deviceInfoParams = []string{"Manufacturer", "ManufacturerOUI", "ModelName", "ProductClass", "SerialNumber", "HardwareVersion", "SoftwareVersion"}

// set sets one field by parameter name and reports whether it changed.
func (d *DeviceInfo) set(param, v string) bool {
	var f *string
	switch param {
	case "Manufacturer":
		f = &d.Manufacturer
	case "ManufacturerOUI":
		f = &d.ManufacturerOUI
	case "ModelName":
		f = &d.ModelName
	case "ProductClass":
		f = &d.ProductClass
	case "SerialNumber":
		f = &d.SerialNumber
	case "HardwareVersion":
		f = &d.HardwareVersion
	case "SoftwareVersion":
		f = &d.SoftwareVersion
	default:
		return false
	}
	if v == "" || *f == v {
		return false
	}
	*f = v
	return true
}

// InventoryEntry is what the controller knows of one agent.
type InventoryEntry struct {
	EndpointID string `json:"endpoint_id"`
	// Address is where records to the agent go; Address.MTP names the
	// binding.
	Address           mtp.Address `json:"address"`
	SupportedVersions string      `json:"supported_versions,omitempty"`
	// MQTTVersion is the MQTT version of the agent's client at Address
	// ("3.1.1" or "5.0") as its last MQTTConnect record named it; empty
	// when no such record was seen. A process that learns the agent from a
	// [Store] passes it to its transport, so that a 3.1.1 client's first
	// request already carries the reply-to suffix it needs.
	MQTTVersion string     `json:"mqtt_version,omitempty"`
	DeviceInfo  DeviceInfo `json:"device_info"`
	State       AgentState `json:"state"`
	// Since is when the agent entered State: for StateOffline, when the
	// last sign of it was seen (the goodbye, or the last record before
	// the silence).
	Since time.Time `json:"since"`
	// Reason says why the agent is offline.
	Reason    string    `json:"reason,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is when the last record came from the agent.
	LastSeen time.Time `json:"last_seen"`
	// LastBoot and BootCause come from the agent's last Boot! event.
	LastBoot  time.Time `json:"last_boot"`
	BootCause string    `json:"boot_cause,omitempty"`
	// Heartbeat is the PeriodicNotifInterval the controller set on the
	// agent ([WithHeartbeat]), once the agent accepted it.
	Heartbeat time.Duration `json:"heartbeat,omitempty"`
}

// invEntry is the inventory's own, compact form of an entry: a controller
// may know 100,000 agents.
type invEntry struct {
	id       string
	addr     mtp.Address
	versions string
	dev      *DeviceInfo // nil until something is known
	reason   string
	boot     string // cause of the last Boot!

	since, first, last, lastBoot int64 // unix nanoseconds

	// liveness
	goneAt     int64 // a goodbye was seen; offline after the hold
	goneReason error
	probeAt    int64 // no probe before this
	probeWait  int64 // current backoff between probes of an absent agent
	hbSecs     uint32
	state      AgentState
	misses     uint8
	probing    bool
	hbState    uint8
	mqtt       uint8 // mqttUnknown, mqtt311 or mqtt5
	dirty      bool
	settingUp  bool
}

const (
	hbNone uint8 = iota
	hbOK
	hbFailed
)

// An agent's MQTT client version, as an entry keeps it.
const (
	mqttUnknown uint8 = iota
	mqtt311
	mqtt5
)

var mqttNames = [...]string{mqttUnknown: "", mqtt311: "3.1.1", mqtt5: "5.0"}

// mqttCode reads a version as [mtp.PeerVersions] names it; others are
// unknown.
func mqttCode(v string) uint8 {
	switch v {
	case "3.1.1":
		return mqtt311
	case "5.0", "5":
		return mqtt5
	}
	return mqttUnknown
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (e *invEntry) public() InventoryEntry {
	out := InventoryEntry{
		EndpointID:        e.id,
		Address:           e.addr,
		SupportedVersions: e.versions,
		MQTTVersion:       mqttNames[e.mqtt],
		State:             e.state,
		Since:             unixTime(e.since),
		Reason:            e.reason,
		FirstSeen:         unixTime(e.first),
		LastSeen:          unixTime(e.last),
		LastBoot:          unixTime(e.lastBoot),
		BootCause:         e.boot,
	}
	if e.dev != nil {
		out.DeviceInfo = *e.dev
	}
	if e.hbState == hbOK {
		out.Heartbeat = time.Duration(e.hbSecs) * time.Second
	}
	return out
}

// restore fills an entry from a stored record. The state becomes unknown:
// nothing has been heard in this run.
func (e *invEntry) restore(r InventoryEntry) {
	e.addr, e.versions, e.reason, e.boot = r.Address, r.SupportedVersions, r.Reason, r.BootCause
	e.mqtt = mqttCode(r.MQTTVersion)
	if r.DeviceInfo != (DeviceInfo{}) {
		d := r.DeviceInfo
		e.dev = &d
	}
	e.first, e.last, e.lastBoot = unixNano(r.FirstSeen), unixNano(r.LastSeen), unixNano(r.LastBoot)
	if r.Heartbeat > 0 {
		e.hbSecs, e.hbState = uint32(r.Heartbeat/time.Second), hbOK
	}
}

// Inventory is the controller's list of agents: every agent it has heard
// from, configured, or loaded from its [Store], with its state. Get one
// with [Controller.Inventory]. Its methods are safe for concurrent use and
// cheap with 100,000 agents: lookups are by map, queries walk a sorted
// index from the prefix on. Agents the controller forgets under
// [WithAgentLimits] leave the inventory too (a [Store] keeps their
// record).
type Inventory struct{ l *liveness }

// Inventory returns the controller's inventory.
func (c *Controller) Inventory() *Inventory { return &Inventory{l: c.live} }

// Get returns one agent's entry.
func (inv *Inventory) Get(endpointID string) (InventoryEntry, bool) {
	sh := inv.l.shard(endpointID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.ents[endpointID]
	if e == nil {
		return InventoryEntry{}, false
	}
	return e.public(), true
}

// Len returns how many agents the inventory holds.
func (inv *Inventory) Len() int {
	n := int64(0)
	for i := range inv.l.counts {
		n += inv.l.counts[i].Load()
	}
	return int(n)
}

// Count returns how many agents are in each state; it costs nothing
// however large the fleet. The counts are read one after the other, not
// under one lock: while agents change state, an agent moving between
// two states may be counted in both or neither.
func (inv *Inventory) Count() map[AgentState]int {
	l := inv.l
	return map[AgentState]int{StateUnknown: int(l.counts[StateUnknown].Load()), StateOnline: int(l.counts[StateOnline].Load()),
		StateOffline: int(l.counts[StateOffline].Load())}
}

// Query selects inventory entries. The zero Query selects every agent.
type Query struct {
	// State, if not zero, keeps only agents in that state.
	State AgentState
	// Prefix keeps only endpoint IDs that start with it (e.g.
	// "os::00D09E-" for one manufacturer's devices).
	Prefix string
}

// All returns every entry, sorted by endpoint ID.
func (inv *Inventory) All() iter.Seq[InventoryEntry] { return inv.Query(Query{}) }

// Query returns the entries q selects, sorted by endpoint ID. Each entry
// is read when the iteration reaches it, so a long iteration sees recent
// states and never holds up the controller.
func (inv *Inventory) Query(q Query) iter.Seq[InventoryEntry] {
	return func(yield func(InventoryEntry) bool) {
		l := inv.l
		ids := l.sortedIDs()
		i, _ := slices.BinarySearch(ids, q.Prefix)
		for ; i < len(ids); i++ {
			id := ids[i]
			if !strings.HasPrefix(id, q.Prefix) {
				return
			}
			sh := l.shard(id)
			sh.mu.Lock()
			e := sh.ents[id]
			var out InventoryEntry
			ok := e != nil && (q.State == 0 || e.state == q.State)
			if ok {
				out = e.public()
			}
			sh.mu.Unlock()
			if ok && !yield(out) {
				return
			}
		}
	}
}

// Forget removes an agent from the inventory and the store, e.g. a device
// taken out of service. If it is heard from again it comes back as a new
// agent.
func (inv *Inventory) Forget(ctx context.Context, endpointID string) error {
	l := inv.l
	sh := l.shard(endpointID)
	sh.mu.Lock()
	l.remove(sh, endpointID)
	sh.mu.Unlock()
	if l.store != nil {
		if err := l.store.DeleteAgent(ctx, endpointID); err != nil {
			return fmt.Errorf("%w: deleting agent %s: %w", ErrStore, endpointID, err)
		}
	}
	return nil
}

// forget drops an agent the controller evicted (WithAgentLimits), so that
// made-up endpoint IDs cannot grow the inventory either; the store keeps
// its record. Called with c.mu held: the lock order is c.mu, then the
// inventory's locks.
func (l *liveness) forget(id string) {
	sh := l.shard(id)
	sh.mu.Lock()
	l.remove(sh, id)
	sh.mu.Unlock()
}

// sortedIDs returns the endpoint IDs in order. The slice is rebuilt only
// after agents were added or removed, and never changed once handed out.
func (l *liveness) sortedIDs() []string {
	l.idsMu.Lock()
	defer l.idsMu.Unlock()
	// The generation is read before the walk: an agent added or removed
	// during it makes the next call walk again.
	if g := l.gen.Load(); l.ids == nil || l.idsGen != g {
		ids := make([]string, 0, len(l.ids)+16)
		for i := range l.shards {
			sh := &l.shards[i]
			sh.mu.Lock()
			for id := range sh.ents {
				ids = append(ids, id)
			}
			sh.mu.Unlock()
		}
		slices.Sort(ids)
		l.ids, l.idsGen = ids, g
	}
	return l.ids
}

// bootInfo takes what a Boot! event says about the device: its
// ParameterMap (a JSON object of parameter paths and values) and cause.
func (l *liveness) bootInfo(id string, ev *msg.Event, at time.Time) {
	var pm map[string]string
	if s := ev.Params["ParameterMap"]; s != "" {
		if err := json.Unmarshal([]byte(s), &pm); err != nil {
			l.c.log.Info("Boot! with an unreadable ParameterMap", "agent", id, "err", err)
		}
	}
	sh := l.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.ents[id]
	if e == nil {
		return
	}
	e.lastBoot, e.boot = at.UnixNano(), ev.Params["Cause"]
	l.setDeviceInfo(e, pm)
	l.markDirty(sh, e)
}

// setDeviceInfo takes the Device.DeviceInfo. parameters among vals.
// The entry's shard's lock is held.
func (l *liveness) setDeviceInfo(e *invEntry, vals map[string]string) {
	for p, v := range vals {
		name, ok := strings.CutPrefix(p, "Device.DeviceInfo.")
		if !ok || strings.Contains(name, ".") {
			continue
		}
		if e.dev == nil {
			e.dev = &DeviceInfo{}
		}
		e.dev.set(name, v)
	}
}
