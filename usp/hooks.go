package usp

import (
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
)

// Hooks observes the controller, for metrics and tracing. The methods are
// called synchronously on the controller's goroutines and must be quick.
// Embed [NopHooks] to implement only some of them.
type Hooks interface {
	// RecordSent is called after a record went out.
	RecordSent(kind mtp.Kind, size int)
	// RecordReceived is called for every record a transport delivers,
	// before it is decoded.
	RecordReceived(kind mtp.Kind, size int)
	// RequestDone is called when a request to an agent ends, with its
	// outcome (nil, a *msg.Error, a timeout, ...).
	RequestDone(agentID string, req uspmsg.Header_MsgType, took time.Duration, err error)
}

// NopHooks implements [Hooks] by doing nothing.
type NopHooks struct{}

// RecordSent does nothing.
func (NopHooks) RecordSent(mtp.Kind, int) {}

// RecordReceived does nothing.
func (NopHooks) RecordReceived(mtp.Kind, int) {}

// RequestDone does nothing.
func (NopHooks) RequestDone(string, uspmsg.Header_MsgType, time.Duration, error) {}

// SessionHooks is an optional extension of [Hooks] for transports with a
// session per peer (UDS, WebSocket): the controller calls SessionOpened
// when a peer's session opens, with the certificate it presented over TLS
// (nil otherwise), and SessionClosed when it ends, so that an audit log
// can record which certificate each agent used.
type SessionHooks interface {
	SessionOpened(kind mtp.Kind, peerID string, cert *mtp.PeerCert)
	SessionClosed(kind mtp.Kind, peerID string, err error)
}

// sessionHook reports a PeerUp or PeerDown to the hooks that want it.
func (c *Controller) sessionHook(r *route, ev mtp.Event) {
	h, ok := c.cfg.hooks.(SessionHooks)
	if !ok {
		return
	}
	if ev.Kind == mtp.PeerUp {
		h.SessionOpened(r.kind, ev.PeerID, ev.PeerCert)
	} else {
		h.SessionClosed(r.kind, ev.PeerID, ev.Err)
	}
}
