package conformance

import (
	"context"
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
		&Case{ID: "7.4", Title: "Closing a WebSocket Connection", Run: run7_4},
		&Case{ID: "7.6", Title: "Error Handling - Unprocessed Records", Run: run7_6},
		&Case{ID: "7.7", Title: "Use of Ping and Pong frames", Run: run7_7},
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

// awaitFrame waits up to d for a frame with Seq >= from that match accepts.
func awaitFrame(t *T, from int, d time.Duration, match func(WebSocketFrame) bool) (WebSocketFrame, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, f := range t.eq.ws.Frames(from) {
			if match(f) {
				return f, true
			}
		}
		if time.Now().After(deadline) || t.ctx.Err() != nil {
			return WebSocketFrame{}, false
		}
		t.Sleep(20 * time.Millisecond)
	}
}

// noteWSFrames notes the agent's frames on a session since from, as
// evidence.
func noteWSFrames(t *T, conn, from int) {
	for _, f := range t.eq.ws.Frames(from) {
		if f.Conn == conn && (f.FromAgent || f.Injected) {
			t.Notef("%s", f)
		}
	}
}

// wsReconnected waits for the agent to open a new session after the one
// opened by handshake old, and for its WebSocketConnect record on it, so
// that the cases after this one reach the agent again.
func wsReconnected(t *T, old WebSocketHandshake, mark int) {
	wait := t.cfg.responseTimeout() + 30*time.Second
	ctx, cancel := context.WithTimeout(t.ctx, wait)
	defer cancel()
	_, ok := t.eq.Await(ctx, mark, func(in Inbound) bool { return in.Record.GetWebsocketConnect() != nil })
	for _, h := range t.eq.ws.Handshakes() {
		if h.Seq > old.Seq && h.Status == 101 {
			t.Notef("the agent opened a new session (handshake %d)", h.Seq)
			break
		}
	}
	if !ok {
		t.Notef("no WebSocketConnect record from the agent within %v of the session's end", wait)
	}
}

// 7.4: the agent answers the equipment's Close frame with one of its own.
func run7_4(t *T) {
	h := wsHandshake(t)
	from, mark := t.eq.ws.FrameMark(), t.eq.Mark()
	if err := t.eq.ws.SendFrame(h.Seq, WSClose, CloseBody(1000, "TP-469 7.4")); err != nil {
		t.Abortf("sending the Close frame: %v", err)
	}
	d := t.cfg.responseTimeout()
	_, ok := awaitFrame(t, from, d, func(f WebSocketFrame) bool { return f.Conn == h.Seq && f.FromAgent && f.Opcode == WSClose })
	if _, ended := awaitFrame(t, from, d, func(f WebSocketFrame) bool { return f.Conn == h.Seq && f.Ended }); !ended {
		t.Notef("the TCP connection was still open %v after the Close frame", d)
	}
	noteWSFrames(t, h.Seq, from)
	t.Check(1, "The EUT sends a WebSocket Close frame", ok, "no Close frame from the agent within %v of the equipment's", d)
	wsReconnected(t, h, mark)
}

// 7.6: a record the agent cannot parse makes it close the session with
// status 1003.
func run7_6(t *T) {
	h := wsHandshake(t)
	from, mark := t.eq.ws.FrameMark(), t.eq.Mark()
	if err := t.eq.SendBytes(t.ctx, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}, "not a USP record, on purpose"); err != nil {
		t.Abortf("sending the malformed record: %v", err)
	}
	d := t.cfg.responseTimeout()
	f, ok := awaitFrame(t, from, d, func(f WebSocketFrame) bool { return f.Conn == h.Seq && f.FromAgent && f.Opcode == WSClose })
	noteWSFrames(t, h.Seq, from)
	m := t.Metric(1, "The EUT closes the WebSocket connection with a Close frame containing status code 1003")
	if m.Expect(ok, "no Close frame from the agent within %v of the malformed record", d) {
		m.Expect(f.CloseCode == 1003, "Close frame with status %d %q", f.CloseCode, f.CloseReason)
	}
	m.End()
	if ok {
		wsReconnected(t, h, mark)
	}
}

// 7.7: the agent answers a Ping with a Pong, and an unsolicited Pong
// leaves the session open.
func run7_7(t *T) {
	h := wsHandshake(t)
	from := t.eq.ws.FrameMark()
	ping := []byte("tp469-7.7")
	if err := t.eq.ws.SendFrame(h.Seq, WSPing, ping); err != nil {
		t.Abortf("sending the Ping frame: %v", err)
	}
	// The plan waits up to 60 s; a Pong comes at once or not at all.
	d := min(60*time.Second, t.cfg.responseTimeout())
	_, ok := awaitFrame(t, from, d, func(f WebSocketFrame) bool {
		return f.Conn == h.Seq && f.FromAgent && f.Opcode == WSPong && string(f.Payload) == string(ping)
	})
	t.Check(1, "The EUT sends a Pong control frame in response to the Ping control frame", ok,
		"no Pong carrying the Ping's payload from the agent within %v", d)
	from2 := t.eq.ws.FrameMark()
	if err := t.eq.ws.SendFrame(h.Seq, WSPong, nil); err != nil {
		t.Abortf("sending the Pong frame: %v", err)
	}
	quiet := t.cfg.quietPeriod()
	end, closed := awaitFrame(t, from2, quiet, func(f WebSocketFrame) bool {
		return f.Conn == h.Seq && (f.Ended || f.FromAgent && f.Opcode == WSClose)
	})
	noteWSFrames(t, h.Seq, from)
	m := t.Metric(2, "The EUT doesn't terminate the WebSocket connection after receiving an unsolicited Pong control frame")
	m.Expect(!closed, "%s", end)
	if !closed {
		ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
		m.Expect(ex.Err == nil && ex.Response.GetBody().GetResponse().GetGetResp() != nil,
			"the session stayed but a Get over it: %s", outcome(ex))
	}
	m.End()
}
