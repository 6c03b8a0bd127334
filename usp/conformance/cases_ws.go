package conformance

import (
	"slices"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
)

// Section 7: WebSocket, with the agent connecting to the equipment's own
// server through a [WebSocketObserver]. The session the agent opened when
// the run began stands for the one after the plan's reboot.
func init() {
	register(
		&Case{ID: "7.1", Title: "Session Establishment", Run: run7_1},
		&Case{ID: "7.10", Title: "WebSocket - Use of Connect Record", Run: run7_10},
	)
}

// wsHandshake returns the last handshake that opened a session, or ends
// the case: skipped when the agent is not reached over WebSocket, needing
// the kit's server when the handshakes cannot be seen.
func wsHandshake(t *T) WebSocketHandshake {
	if k := t.eq.Transport().Kind(); k != mtp.WebSocket {
		t.Skipf("the agent is reached over %s, not WebSocket", k)
	}
	if t.eq.ws == nil {
		t.NeedsOperatorf("needs the kit's WebSocket server: the agent's handshakes are not observed (ObserveWebSocket)")
	}
	hs := t.eq.ws.Handshakes()
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Status == 101 {
			h := hs[i]
			t.Notef("handshake from %s to %s: offered subprotocols %q, extensions %q; answered %d with subprotocol %q",
				h.Remote, h.Path, h.Protocols, h.Extensions, h.Status, h.Protocol)
			return h
		}
	}
	t.Abortf("the kit's WebSocket server saw no handshake that opened a session (%d attempts)", len(hs))
	return WebSocketHandshake{}
}

// 7.1: the agent opens a session (offering v1.usp) and answers a Get.
func run7_1(t *T) {
	h := wsHandshake(t)
	t.Check(1, "The EUT is able to establish a WebSocket connection to the controller",
		h.Status == 101 && slices.Contains(h.Protocols, "v1.usp") && h.Protocol == "v1.usp",
		"offered subprotocols %q, session opened with %q", h.Protocols, h.Protocol)
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 2, ex)
}

// 7.10: the WebSocketConnect record within 30 s of the session opening.
func run7_10(t *T) {
	h := wsHandshake(t)
	var at time.Time
	for _, in := range t.eq.inbound() {
		if in.Record.GetWebsocketConnect() != nil && !in.Time.Before(h.Time) {
			at = in.Time
			break
		}
	}
	t.Check(1, "The EUT transmits a WebSocketConnectRecord within 30 seconds of connecting",
		!at.IsZero() && at.Sub(h.Time) <= 30*time.Second,
		"WebSocketConnect record received %t, %v after the handshake", !at.IsZero(), at.Sub(h.Time))
}
