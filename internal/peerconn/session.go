package peerconn

import (
	"sync/atomic"

	"github.com/gousp/gousp/mtp"
)

// Session is one connection to a peer as a binding implements it, after
// the binding's own handshake. Bindings use a pointer type.
type Session interface {
	comparable
	// PeerID returns the peer's endpoint ID, or "" when the binding did not
	// learn it.
	PeerID() string
	// Peer returns the address that reaches the peer; it is the Peer of
	// the session's events and the ReplyTo of its records.
	Peer() mtp.Address
	// Serve delivers the peer's records until the session ends, closes
	// the connection and returns why the session ended.
	Serve() error
	// Stop ends the session because the transport is closing, telling the
	// peer so where the binding can, without waiting for the peer. Serve,
	// which is running, returns soon after.
	Stop()
	// Drop closes the connection of a session that was never served,
	// telling the peer nothing.
	Drop()
}

// certSession is implemented by sessions that may run over TLS.
type certSession interface {
	PeerCert() *mtp.PeerCert
}

// upEvent is the PeerUp event of sess, with its peer certificate if the
// binding has one.
func upEvent[S Session](sess S) mtp.Event {
	ev := mtp.Event{Kind: mtp.PeerUp, Peer: sess.Peer(), PeerID: sess.PeerID()}
	if cs, ok := any(sess).(certSession); ok {
		ev.PeerCert = cs.PeerCert()
	}
	return ev
}

// Cause keeps why a session ended, as the side that ended it said: the
// first reason given wins. Without it, a session that we close because a
// newer one replaced it, or because its peer sent garbage, would report
// only the read error that closing it caused. The zero Cause is empty and
// ready to use.
type Cause struct {
	p atomic.Pointer[error]
}

// Set records err as the cause, unless one is already recorded.
func (c *Cause) Set(err error) { c.p.CompareAndSwap(nil, &err) }

// Or returns the recorded cause, or err if there is none.
func (c *Cause) Or(err error) error {
	if p := c.p.Load(); p != nil {
		return *p
	}
	return err
}
