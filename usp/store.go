package usp

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store keeps what a controller must not forget when it restarts: the
// inventory of agents, the subscriptions it created on them and the
// operations still running on them. Install one with [WithStore]; without
// it the controller keeps all of this in memory only.
//
// The interface is the one to implement for a networked database
// (PostgreSQL, Redis/Valkey) shared by several controller processes that
// serve one fleet: every method is a single idempotent upsert or delete
// keyed by the agent's endpoint ID (and the subscription ID or command
// key), or a scan; there are no transactions spanning calls, and nothing
// is read back between writes. A row per key is enough: agents by
// endpoint ID, subscriptions by (agent, ID), operations by (agent,
// command key). Agent records are written in batches, some time after
// they change (see [WithStore]); when two processes write the same agent,
// the record with the later LastSeen should win.
//
// Methods are called from several goroutines at once and must be safe for
// concurrent use. ctx bounds each call. The controller does not close the
// store: close it after [Controller.Close] has returned, which writes the
// last changes.
//
// The embedded implementation is in package
// github.com/gousp/gousp/usp/store/boltstore.
type Store interface {
	// PutAgents creates or replaces the records of these agents.
	PutAgents(ctx context.Context, agents []InventoryEntry) error
	// DeleteAgent removes an agent's record; removing a missing one is not
	// an error.
	DeleteAgent(ctx context.Context, endpointID string) error
	// Agents returns every stored agent record, in any order.
	Agents(ctx context.Context) iter.Seq2[InventoryEntry, error]

	// PutSubscription creates or replaces a subscription record.
	PutSubscription(ctx context.Context, s StoredSubscription) error
	// DeleteSubscription removes a subscription record.
	DeleteSubscription(ctx context.Context, agentID, id string) error
	// Subscriptions returns every stored subscription, in any order.
	Subscriptions(ctx context.Context) iter.Seq2[StoredSubscription, error]

	// PutOperation creates or replaces the record of a running operation.
	PutOperation(ctx context.Context, op StoredOperation) error
	// DeleteOperation removes an operation record.
	DeleteOperation(ctx context.Context, agentID, commandKey string) error
	// Operations returns every stored operation, in any order.
	Operations(ctx context.Context) iter.Seq2[StoredOperation, error]
}

// StoredSubscription is a Device.LocalAgent.Subscription.{i}. object the
// controller created on an agent.
type StoredSubscription struct {
	AgentID string `json:"agent"`
	// ID is the subscription's ID parameter; Path its instance path.
	ID            string    `json:"id"`
	Path          string    `json:"path"`
	NotifType     string    `json:"notif_type"`
	ReferenceList []string  `json:"reference_list,omitempty"`
	Created       time.Time `json:"created"`
}

// StoredOperation is an asynchronous command that was still running on an
// agent when it was stored.
type StoredOperation struct {
	AgentID     string `json:"agent"`
	Command     string `json:"command"`
	CommandKey  string `json:"command_key"`
	RequestPath string `json:"request_path,omitempty"`
	// SubscriptionID names the OperationComplete subscription the
	// controller made for it, if any.
	SubscriptionID string    `json:"subscription_id,omitempty"`
	Started        time.Time `json:"started"`
}

// ErrStore wraps errors returned by a [Store].
var ErrStore = errors.New("usp: store")

// WithStore makes the controller keep its inventory, the subscriptions it
// creates and its running operations in s, and load them in
// [Controller.Start]: a restarted controller knows its fleet at once
// (every agent's state is [StateUnknown] until it is heard from again),
// deletes the subscriptions its previous run left on agents when each
// agent is next online (see [Controller.LeftoverSubscriptions]), and
// completes the operations still running (see
// [Controller.PendingOperations]). With a store, [Controller.Close] no
// longer removes the completion subscriptions of running operations: the
// next run needs them.
//
// Inventory changes are written in batches once a second (every change of
// state, address or device information, and LastSeen), so a crash loses at
// most that second; subscriptions and operations are written before the
// call that made them returns.
func WithStore(s Store) Option {
	return func(c *config) error {
		if s == nil {
			return fmt.Errorf("%w: nil store", ErrInvalidOption)
		}
		c.store = s
		return nil
	}
}

// MemoryStore is a [Store] that keeps everything in memory, for tests and
// as a model for other implementations. Its zero value is ready to use.
type MemoryStore struct {
	mu     sync.Mutex
	agents map[string]InventoryEntry
	subs   map[[2]string]StoredSubscription
	ops    map[[2]string]StoredOperation
	claims map[[2]string]time.Time // see OrphanClaims
	pruned time.Time
}

// PutAgents implements [Store]. A record replaces the stored one only if
// its LastSeen is not earlier, so that controllers sharing the store (a
// cluster in one test process) keep the fresher record.
func (m *MemoryStore) PutAgents(_ context.Context, agents []InventoryEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.agents == nil {
		m.agents = make(map[string]InventoryEntry)
	}
	for _, a := range agents {
		if old, ok := m.agents[a.EndpointID]; ok && a.LastSeen.Before(old.LastSeen) {
			continue
		}
		m.agents[a.EndpointID] = a
	}
	return nil
}

// DeleteAgent implements [Store].
func (m *MemoryStore) DeleteAgent(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.agents, id)
	m.mu.Unlock()
	return nil
}

// Agents implements [Store]; it yields the agents sorted by endpoint ID.
func (m *MemoryStore) Agents(context.Context) iter.Seq2[InventoryEntry, error] {
	m.mu.Lock()
	all := slices.Collect(maps.Values(m.agents))
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b InventoryEntry) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	return seq2(all)
}

// PutSubscription implements [Store].
func (m *MemoryStore) PutSubscription(_ context.Context, s StoredSubscription) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subs == nil {
		m.subs = make(map[[2]string]StoredSubscription)
	}
	s.ReferenceList = slices.Clone(s.ReferenceList)
	m.subs[[2]string{s.AgentID, s.ID}] = s
	return nil
}

// DeleteSubscription implements [Store].
func (m *MemoryStore) DeleteSubscription(_ context.Context, agentID, id string) error {
	m.mu.Lock()
	delete(m.subs, [2]string{agentID, id})
	m.mu.Unlock()
	return nil
}

// Subscriptions implements [Store].
func (m *MemoryStore) Subscriptions(context.Context) iter.Seq2[StoredSubscription, error] {
	m.mu.Lock()
	all := slices.Collect(maps.Values(m.subs))
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b StoredSubscription) int {
		return strings.Compare(a.AgentID+"\x00"+a.ID, b.AgentID+"\x00"+b.ID)
	})
	return seq2(all)
}

// PutOperation implements [Store].
func (m *MemoryStore) PutOperation(_ context.Context, op StoredOperation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ops == nil {
		m.ops = make(map[[2]string]StoredOperation)
	}
	m.ops[[2]string{op.AgentID, op.CommandKey}] = op
	return nil
}

// DeleteOperation implements [Store].
func (m *MemoryStore) DeleteOperation(_ context.Context, agentID, key string) error {
	m.mu.Lock()
	delete(m.ops, [2]string{agentID, key})
	m.mu.Unlock()
	return nil
}

// Operations implements [Store].
func (m *MemoryStore) Operations(context.Context) iter.Seq2[StoredOperation, error] {
	m.mu.Lock()
	all := slices.Collect(maps.Values(m.ops))
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b StoredOperation) int {
		return strings.Compare(a.AgentID+"\x00"+a.CommandKey, b.AgentID+"\x00"+b.CommandKey)
	})
	return seq2(all)
}

func seq2[T any](all []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, v := range all {
			if !yield(v, nil) {
				return
			}
		}
	}
}
