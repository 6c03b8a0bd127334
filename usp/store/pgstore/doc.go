// Package pgstore is a networked [usp.Store] on PostgreSQL, through pgx:
// the store that several controller processes serving one fleet share
// (see usp.WithCluster and SCALING.md at the repository root).
//
//	st, err := pgstore.Open(ctx, "postgres://gousp@db1,db2/acs?target_session_attrs=read-write")
//	...
//	defer st.Close()
//	c, err := usp.NewController(id, usp.WithTransport(t), usp.WithStore(st),
//		usp.WithCluster(usp.Cluster{Process: "p1", Address: ...}))
//
// It is a module of its own (github.com/gousp/gousp/usp/store/pgstore), so
// that programs that do not use it do not depend on pgx.
//
// # Tables
//
// Three tables, created by [Open] and [New] if missing (named with a
// prefix, "gousp_" by default, see [WithTablePrefix]): agents keyed by
// endpoint ID, subscriptions keyed by (agent, subscription ID), operations
// keyed by (agent, command key). Records are jsonb, readable with psql and
// by later versions. Each method is one statement: a batch of agents is
// one INSERT … ON CONFLICT over unnest'ed arrays, however many agents it
// holds.
//
// Of two records of one agent the one with the later LastSeen wins,
// whichever process writes last: the agents table keeps LastSeen as a
// column and the upsert only replaces an older row. [Store.Agent]
// implements [usp.AgentLookup]: a process that has not heard from an agent
// reads the address another process stored.
//
// # Why PostgreSQL
//
// The store is written often (the inventory once a second per process, a
// row per subscription and operation) and read whole only when a process
// starts; what it must not do is lose an operation or a subscription a
// process was told was stored. PostgreSQL gives durable, acknowledged
// writes by default, a conditional upsert that implements "later LastSeen
// wins" in one statement without scripts, and clustering that operators
// already run (streaming replication with Patroni or a managed service;
// pgx follows a failover with target_session_attrs=read-write over a list
// of hosts). Redis/Valkey would be as fast but is durable only as far as
// its AOF fsync policy, and its cluster mode loses acknowledged writes on
// failover by design (asynchronous replication); "later wins" would need a
// Lua script. The store's interface is small enough that a Redis
// implementation remains easy to add beside this one.
//
// # Tests
//
// The tests start a throw-away server (initdb and postgres from Debian's
// postgresql package, found on PATH or in /usr/lib/postgresql/*/bin) on a
// free loopback port; without them they skip, unless
// GOUSP_REQUIRE_BROKERS=1. As root they run the server as the postgres
// user, which the package creates.
package pgstore
