// Package boltstore is the embedded [usp.Store]: one file on disk, kept
// with bbolt (go.etcd.io/bbolt), a pure-Go key/value database that needs no
// server and no cgo.
//
//	st, err := boltstore.Open("/var/lib/acs/gousp.db")
//	...
//	defer st.Close()
//	c, err := usp.NewController(id, usp.WithTransport(t), usp.WithStore(st))
//
// # Layout
//
// Three buckets: "agents" keyed by endpoint ID, "subscriptions" and
// "operations" keyed by endpoint ID, a zero byte and the subscription ID
// or command key. Values are JSON, so a file can be inspected with the
// bbolt command-line tool and read by later versions.
//
// # Why bbolt
//
// The controller writes its inventory in batches (one transaction a
// second, however many agents changed) and subscriptions and operations
// one at a time, and reads everything back once at start: a key/value
// store fits, and bbolt adds one small dependency (golang.org/x/sys),
// where a pure-Go SQLite (modernc.org/sqlite) adds a C library translated
// to Go, many megabytes of code, for queries the controller does not make.
// BENCHMARKS.md has the figures.
//
// # Several processes
//
// bbolt locks its file: one controller process at a time. Controllers that
// share a fleet need a networked [usp.Store] (PostgreSQL, Redis).
package boltstore
