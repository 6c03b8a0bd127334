package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gousp/gousp/usp"
)

// Store is a [usp.Store] in PostgreSQL tables. It is safe for concurrent
// use, by several goroutines and by several processes sharing the
// database.
type Store struct {
	pool   *pgxpool.Pool
	own    bool // Open made the pool: Close closes it
	agents string
	subs   string
	ops    string
	claims string
	nclaim atomic.Uint64 // claims made, to prune now and then
}

var (
	_ usp.Store        = (*Store)(nil)
	_ usp.AgentLookup  = (*Store)(nil)
	_ usp.OrphanClaims = (*Store)(nil)
)

// Option adjusts [Open] and [New].
type Option func(*config) error

type config struct {
	prefix string
}

var validPrefix = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// WithTablePrefix names the tables <prefix>agents, <prefix>subscriptions,
// <prefix>operations and <prefix>claims (default "gousp_"): lower-case letters, digits
// and '_', so that several fleets can share one database.
func WithTablePrefix(p string) Option {
	return func(c *config) error {
		if !validPrefix.MatchString(p) {
			return fmt.Errorf("pgstore: table prefix %q: lower-case letters, digits and '_', at most 40", p)
		}
		c.prefix = p
		return nil
	}
}

// Open connects to the database (a pgx connection string or URL, e.g.
// "postgres://gousp@db1,db2/acs?target_session_attrs=read-write") and
// creates the tables if they do not exist.
func Open(ctx context.Context, conn string, opts ...Option) (*Store, error) {
	pool, err := pgxpool.New(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connecting: %w", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// New uses a pool the program made (and closes), and creates the tables
// if they do not exist.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	cfg := config{prefix: "gousp_"}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{pool: pool, agents: cfg.prefix + "agents", subs: cfg.prefix + "subscriptions", ops: cfg.prefix + "operations", claims: cfg.prefix + "claims"}
	schema := fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	endpoint_id text PRIMARY KEY,
	last_seen   bigint NOT NULL,
	entry       jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS %[2]s (
	agent_id text NOT NULL,
	id       text NOT NULL,
	record   jsonb NOT NULL,
	PRIMARY KEY (agent_id, id)
);
CREATE TABLE IF NOT EXISTS %[3]s (
	agent_id    text NOT NULL,
	command_key text NOT NULL,
	record      jsonb NOT NULL,
	PRIMARY KEY (agent_id, command_key)
);
CREATE TABLE IF NOT EXISTS %[4]s (
	agent_id   text NOT NULL,
	msg_id     text NOT NULL,
	claimed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (agent_id, msg_id)
);`, s.agents, s.subs, s.ops, s.claims)
	// Several processes starting at once race on CREATE TABLE IF NOT
	// EXISTS (a unique violation on the catalog): serialise them.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: creating tables: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, s.agents); err != nil {
		return nil, fmt.Errorf("pgstore: creating tables: %w", err)
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		return nil, fmt.Errorf("pgstore: creating tables: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: creating tables: %w", err)
	}
	return s, nil
}

// Close closes the pool if [Open] made it.
func (s *Store) Close() {
	if s.own {
		s.pool.Close()
	}
}

// Pool returns the connection pool, e.g. for health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// seenKey orders agent records: the one with the later LastSeen wins.
func seenKey(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// PutAgents implements [usp.Store]: one statement for the batch; a record
// replaces the stored one only if its LastSeen is not earlier, so that
// two processes writing the same agent keep the fresher record.
func (s *Store) PutAgents(ctx context.Context, agents []usp.InventoryEntry) error {
	if len(agents) == 0 {
		return nil
	}
	// One row per agent per statement (ON CONFLICT cannot touch a row
	// twice): keep each agent's latest.
	latest := make(map[string]int, len(agents))
	ids := make([]string, 0, len(agents))
	seen := make([]int64, 0, len(agents))
	entries := make([]string, 0, len(agents))
	for _, a := range agents {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("pgstore: encoding agent %s: %w", a.EndpointID, err)
		}
		if i, dup := latest[a.EndpointID]; dup {
			if seenKey(a.LastSeen) >= seen[i] {
				seen[i], entries[i] = seenKey(a.LastSeen), string(b)
			}
			continue
		}
		latest[a.EndpointID] = len(ids)
		ids, seen, entries = append(ids, a.EndpointID), append(seen, seenKey(a.LastSeen)), append(entries, string(b))
	}
	q := fmt.Sprintf(`INSERT INTO %[1]s (endpoint_id, last_seen, entry)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[])
ON CONFLICT (endpoint_id) DO UPDATE SET last_seen = excluded.last_seen, entry = excluded.entry
WHERE %[1]s.last_seen <= excluded.last_seen`, s.agents)
	if _, err := s.pool.Exec(ctx, q, ids, seen, entries); err != nil {
		return fmt.Errorf("pgstore: writing %d agents: %w", len(ids), err)
	}
	return nil
}

// DeleteAgent implements [usp.Store].
func (s *Store) DeleteAgent(ctx context.Context, endpointID string) error {
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE endpoint_id = $1`, s.agents), endpointID); err != nil {
		return fmt.Errorf("pgstore: deleting agent %s: %w", endpointID, err)
	}
	return nil
}

// Agents implements [usp.Store]; rows are read as they are yielded.
func (s *Store) Agents(ctx context.Context) iter.Seq2[usp.InventoryEntry, error] {
	return scan[usp.InventoryEntry](ctx, s.pool, fmt.Sprintf(`SELECT entry FROM %s`, s.agents))
}

// Agent implements [usp.AgentLookup].
func (s *Store) Agent(ctx context.Context, endpointID string) (usp.InventoryEntry, bool, error) {
	var e usp.InventoryEntry
	var b []byte
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT entry FROM %s WHERE endpoint_id = $1`, s.agents), endpointID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err != nil {
		return e, false, fmt.Errorf("pgstore: reading agent %s: %w", endpointID, err)
	}
	return e, true, nil
}

// PutSubscription implements [usp.Store].
func (s *Store) PutSubscription(ctx context.Context, sub usp.StoredSubscription) error {
	return s.put(ctx, s.subs, "id", sub.AgentID, sub.ID, sub)
}

// DeleteSubscription implements [usp.Store].
func (s *Store) DeleteSubscription(ctx context.Context, agentID, id string) error {
	return s.del(ctx, s.subs, "id", agentID, id)
}

// Subscriptions implements [usp.Store].
func (s *Store) Subscriptions(ctx context.Context) iter.Seq2[usp.StoredSubscription, error] {
	return scan[usp.StoredSubscription](ctx, s.pool, fmt.Sprintf(`SELECT record FROM %s`, s.subs))
}

// PutOperation implements [usp.Store].
func (s *Store) PutOperation(ctx context.Context, op usp.StoredOperation) error {
	return s.put(ctx, s.ops, "command_key", op.AgentID, op.CommandKey, op)
}

// DeleteOperation implements [usp.Store].
func (s *Store) DeleteOperation(ctx context.Context, agentID, commandKey string) error {
	return s.del(ctx, s.ops, "command_key", agentID, commandKey)
}

// Operations implements [usp.Store].
func (s *Store) Operations(ctx context.Context) iter.Seq2[usp.StoredOperation, error] {
	return scan[usp.StoredOperation](ctx, s.pool, fmt.Sprintf(`SELECT record FROM %s`, s.ops))
}

// ClaimOrphan implements [usp.OrphanClaims]: one row per claimed
// notification, the primary key deciding who was first. Rows older than
// [usp.OrphanClaimTTL] are deleted by every 256th claim (they are written
// only when a process died, so there are few).
func (s *Store) ClaimOrphan(ctx context.Context, agentID, msgID string) (bool, error) {
	if s.nclaim.Add(1)%256 == 0 {
		q := fmt.Sprintf(`DELETE FROM %s WHERE claimed_at < now() - make_interval(secs => $1)`, s.claims)
		if _, err := s.pool.Exec(ctx, q, usp.OrphanClaimTTL.Seconds()); err != nil {
			return false, fmt.Errorf("pgstore: pruning claims: %w", err)
		}
	}
	// An expired claim that was not pruned yet counts as none.
	q := fmt.Sprintf(`INSERT INTO %[1]s (agent_id, msg_id) VALUES ($1, $2)
ON CONFLICT (agent_id, msg_id) DO UPDATE SET claimed_at = now()
	WHERE %[1]s.claimed_at < now() - make_interval(secs => $3)`, s.claims)
	tag, err := s.pool.Exec(ctx, q, agentID, msgID, usp.OrphanClaimTTL.Seconds())
	if err != nil {
		return false, fmt.Errorf("pgstore: claiming %s/%s: %w", agentID, msgID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) put(ctx context.Context, table, keyCol, agent, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("pgstore: encoding %s record: %w", table, err)
	}
	q := fmt.Sprintf(`INSERT INTO %[1]s (agent_id, %[2]s, record) VALUES ($1, $2, $3)
ON CONFLICT (agent_id, %[2]s) DO UPDATE SET record = excluded.record`, table, keyCol)
	if _, err := s.pool.Exec(ctx, q, agent, key, string(b)); err != nil {
		return fmt.Errorf("pgstore: writing %s %s/%s: %w", table, agent, key, err)
	}
	return nil
}

func (s *Store) del(ctx context.Context, table, keyCol, agent, key string) error {
	q := fmt.Sprintf(`DELETE FROM %s WHERE agent_id = $1 AND %s = $2`, table, keyCol)
	if _, err := s.pool.Exec(ctx, q, agent, key); err != nil {
		return fmt.Errorf("pgstore: deleting %s %s/%s: %w", table, agent, key, err)
	}
	return nil
}

// scan yields the JSON records a query returns, decoding each as it is
// read; stopping early closes the query.
func scan[T any](ctx context.Context, pool *pgxpool.Pool, q string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		rows, err := pool.Query(ctx, q)
		if err != nil {
			yield(zero, fmt.Errorf("pgstore: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			var v T
			if err := rows.Scan(&b); err != nil {
				yield(zero, fmt.Errorf("pgstore: %w", err))
				return
			}
			if err := json.Unmarshal(b, &v); err != nil {
				if !yield(zero, fmt.Errorf("pgstore: decoding a record: %w", err)) {
					return
				}
				continue
			}
			if !yield(v, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(zero, fmt.Errorf("pgstore: %w", err))
		}
	}
}
