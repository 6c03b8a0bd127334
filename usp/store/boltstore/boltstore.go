package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gousp/gousp/usp"
)

var (
	bucketAgents = []byte("agents")
	bucketSubs   = []byte("subscriptions")
	bucketOps    = []byte("operations")
)

// Store is a [usp.Store] in one bbolt file. It is safe for concurrent use.
type Store struct {
	db *bolt.DB
}

var _ usp.Store = (*Store)(nil)

// Option adjusts [Open].
type Option func(*bolt.Options)

// WithTimeout bounds how long Open waits for another process to release
// the file (default one second).
func WithTimeout(d time.Duration) Option {
	return func(o *bolt.Options) { o.Timeout = d }
}

// WithBoltOptions gives access to every bbolt option (e.g. NoSync for
// tests, where losing the last writes in a crash does not matter).
func WithBoltOptions(fn func(*bolt.Options)) Option {
	return func(o *bolt.Options) { fn(o) }
}

// Open opens or creates the store at path.
func Open(path string, opts ...Option) (*Store, error) {
	o := &bolt.Options{Timeout: time.Second}
	for _, f := range opts {
		f(o)
	}
	db, err := bolt.Open(path, 0o600, o)
	if err != nil {
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAgents, bucketSubs, bucketOps} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: preparing %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file. Close the controller first.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the underlying bbolt database.
func (s *Store) DB() *bolt.DB { return s.db }

func pairKey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

// update runs fn in a write transaction, unless ctx has ended.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

func put[T any](ctx context.Context, s *Store, bucket []byte, key []byte, v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, b) })
}

func del(ctx context.Context, s *Store, bucket, key []byte) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete(key) })
}

// scan reads a whole bucket. Values are decoded before anything is
// yielded: a caller that writes while iterating must not wait on the read
// transaction.
func scan[T any](ctx context.Context, s *Store, bucket []byte) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var all []T
		var bad error
		err := s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				var t T
				if err := json.Unmarshal(v, &t); err != nil {
					// One damaged record does not hide the others.
					bad = errors.Join(bad, fmt.Errorf("boltstore: %s %q: %w", bucket, k, err))
					return nil
				}
				all = append(all, t)
				return nil
			})
		})
		for _, t := range all {
			if !yield(t, nil) {
				return
			}
		}
		var zero T
		if err != nil {
			yield(zero, err)
		} else if bad != nil {
			yield(zero, bad)
		}
	}
}

// PutAgents writes the agents in one transaction.
func (s *Store) PutAgents(ctx context.Context, agents []usp.InventoryEntry) error {
	vals := make([][]byte, len(agents))
	for i, a := range agents {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		vals[i] = b
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAgents)
		for i, a := range agents {
			if err := b.Put([]byte(a.EndpointID), vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteAgent implements [usp.Store].
func (s *Store) DeleteAgent(ctx context.Context, id string) error {
	return del(ctx, s, bucketAgents, []byte(id))
}

// Agents implements [usp.Store]; the agents come sorted by endpoint ID.
// A record that cannot be decoded is skipped and reported in a last pair.
func (s *Store) Agents(ctx context.Context) iter.Seq2[usp.InventoryEntry, error] {
	return scan[usp.InventoryEntry](ctx, s, bucketAgents)
}

// PutSubscription implements [usp.Store].
func (s *Store) PutSubscription(ctx context.Context, sub usp.StoredSubscription) error {
	return put(ctx, s, bucketSubs, pairKey(sub.AgentID, sub.ID), sub)
}

// DeleteSubscription implements [usp.Store].
func (s *Store) DeleteSubscription(ctx context.Context, agentID, id string) error {
	return del(ctx, s, bucketSubs, pairKey(agentID, id))
}

// Subscriptions implements [usp.Store].
func (s *Store) Subscriptions(ctx context.Context) iter.Seq2[usp.StoredSubscription, error] {
	return scan[usp.StoredSubscription](ctx, s, bucketSubs)
}

// PutOperation implements [usp.Store].
func (s *Store) PutOperation(ctx context.Context, op usp.StoredOperation) error {
	return put(ctx, s, bucketOps, pairKey(op.AgentID, op.CommandKey), op)
}

// DeleteOperation implements [usp.Store].
func (s *Store) DeleteOperation(ctx context.Context, agentID, key string) error {
	return del(ctx, s, bucketOps, pairKey(agentID, key))
}

// Operations implements [usp.Store].
func (s *Store) Operations(ctx context.Context) iter.Seq2[usp.StoredOperation, error] {
	return scan[usp.StoredOperation](ctx, s, bucketOps)
}
