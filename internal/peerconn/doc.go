// Package peerconn holds the session bookkeeping that the bindings with
// direct connections to their peers (mtp/uds and mtp/websocket) share: the
// lifecycle of a transport, a server's table of sessions by endpoint ID,
// a client's redial loop, and the options they have in common. Each
// binding keeps its framing, its handshake, and what it tells a peer when
// a session ends.
//
// # Lifecycle
//
// A [Core] takes a transport through [mtp.Transport]'s states: [Core.Begin]
// at Start, [Core.Up] when a server is listening, [Core.Close] at the end.
// It owns the [mtp.Handler] and calls it one delivery at a time
// ([Core.Deliver], [Core.Emit]). Close ends [Core.Context]; every goroutine
// that owns a listener or a connection closes it when that context ends,
// and Close waits for the goroutines it knows of ([Core.Go], [Core.Enter]).
// [Core.CheckSend] gives the errors a send fails with before any session
// is looked at.
//
// # Sessions
//
// A binding's session type implements [Session]: its peer, a Serve that
// delivers records until the connection ends, and two ways to end it.
// [Cause] keeps why we ended a session, so that its end is reported with
// that reason rather than with the read error that closing it caused.
//
// A server keeps its sessions in [Peers], at most one per endpoint ID. The
// table reports [mtp.PeerUp] and [mtp.PeerDown] exactly once per session,
// in order: when a newcomer replaces a session, the old one's PeerDown
// comes before the new one's PeerUp, and the old one's own end later goes
// unreported. Whether a newcomer replaces or is refused ([ErrTaken]) is
// the binding's policy.
//
// A client's [Client] dials through the binding, serves the session it
// gets, reports [mtp.Up], [mtp.PeerUp], [mtp.PeerDown] and [mtp.Down], and
// dials again after the binding's backoff, with the retry count started
// afresh once a session has opened.
//
// # Options
//
// [Options] holds the settings both bindings take (logger, timeouts,
// record size limit, record check) with the checks their functional
// options make, and remembers which options fit only one [Role].
//
// # Errors
//
// Errors name the binding by its [mtp.Kind] ("uds: ...", "websocket: ...")
// and wrap the [mtp] sentinels, as the bindings' own errors do.
package peerconn
