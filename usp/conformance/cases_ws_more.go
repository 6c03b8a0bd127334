package conformance

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

// Section 7 cases that change what the equipment's server does (refuse,
// drop, answer without the extension, fragment) or that dial the agent's
// own WebSocket server.
func init() {
	register(
		&Case{ID: "7.2", Title: "Use of only one session", Run: run7_2},
		&Case{ID: "7.8", Title: "WebSocket Session Retry", Slow: 30 * time.Second, Run: run7_8},
		&Case{ID: "7.9", Title: "Use of TLS", Run: run7_9},
		&Case{ID: "7.11", Title: "Websocket response does not include bbf-usp-protocol", Run: run7_11},
		&Case{ID: "7.12", Title: "Agent can process USP Records within fragmented Websocket messages", Run: run7_12},
	)
}

// awaitHandshake waits up to d for a handshake with Seq >= from that match
// accepts.
func awaitHandshake(t *T, from int, d time.Duration, match func(WebSocketHandshake) bool) (WebSocketHandshake, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, h := range t.eq.ws.Handshakes() {
			if h.Seq >= from && match(h) {
				return h, true
			}
		}
		if time.Now().After(deadline) || t.ctx.Err() != nil {
			return WebSocketHandshake{}, false
		}
		t.Sleep(20 * time.Millisecond)
	}
}

// reconnectWait bounds the wait for an agent to open a new session after
// the kit ended one: its first two retries (R-WS.19, with the agent's
// settings when it shows them, else the defaults: up to 30 s), plus the
// response timeout.
func reconnectWait(t *T) time.Duration {
	m, k := 5*time.Second, 2000
	if ctrl := t.env.Controller; ctrl != "" {
		ex := t.Send(msg.Get{Paths: []string{ctrl + "MTP."}})
		if r, err := msg.ParseAs[*msg.GetResp](ex.Response); ex.Err == nil && err == nil {
			for p, v := range r.Values() {
				n, err := datamodel.ParseUnsignedInt(v)
				switch {
				case err != nil:
				case strings.HasSuffix(p, ".WebSocket.SessionRetryMinimumWaitInterval") && n > 0:
					m = time.Duration(n) * time.Second
				case strings.HasSuffix(p, ".WebSocket.SessionRetryIntervalMultiplier") && n > 0:
					k = int(n)
				}
			}
		}
	}
	r := retryRule{min: m, mult: float64(k), names: wsRetryNames}
	return r.longest(2) + retrySlack + t.cfg.responseTimeout()
}

// wsRetrySettings reads the session retry parameters of the equipment's
// WebSocket MTP entry (its defaults 5 s and 2000 where the agent has
// none) and returns the entry's path.
func wsRetrySettings(t *T) (entry string, m time.Duration, k int) {
	ctrl := t.Controller()
	vals := t.GetValues(ctrl + "MTP.")
	for p, v := range vals {
		if strings.HasSuffix(p, ".Protocol") && v == "WebSocket" {
			entry = strings.TrimSuffix(p, "Protocol")
			break
		}
	}
	if entry == "" {
		t.Skipf("the equipment's Controller entry %s has no MTP entry with Protocol WebSocket", ctrl)
	}
	m, k = 5*time.Second, 2000
	if v, ok := vals[entry+"WebSocket.SessionRetryMinimumWaitInterval"]; ok {
		if n, err := datamodel.ParseUnsignedInt(v); err == nil {
			m = time.Duration(n) * time.Second
		}
	} else {
		t.Notef("%sWebSocket.SessionRetryMinimumWaitInterval is not in the agent's model: the default 5 s applies (R-WS.19)", entry)
	}
	if v, ok := vals[entry+"WebSocket.SessionRetryIntervalMultiplier"]; ok {
		if n, err := datamodel.ParseUnsignedInt(v); err == nil {
			k = int(n)
		}
	} else {
		t.Notef("%sWebSocket.SessionRetryIntervalMultiplier is not in the agent's model: the default 2000 applies (R-WS.19)", entry)
	}
	return entry, m, k
}

// arrived is when an attempt reached the kit: the TCP accept where the
// kit's server saw it, else the handshake request.
func arrived(h WebSocketHandshake) time.Time {
	if !h.Accepted.IsZero() {
		return h.Accepted
	}
	return h.Time
}

// 7.8: with the equipment refusing new sessions, the agent whose session
// was cut retries after SessionRetryMinimumWaitInterval, and again after
// the multiplied interval.
func run7_8(t *T) {
	h := wsHandshake(t)
	entry, m, k := wsRetrySettings(t)
	r := retryRule{min: m, mult: float64(k), names: wsRetryNames}
	lo1, hi1 := r.window(1)
	lo2, hi2 := r.window(2)
	t.Notef("%s: minimum wait %v, multiplier %d: first retry %v-%v after the loss, second %v-%v after the first",
		entry, m, k, lo1, hi1, lo2, hi2)
	obs := t.eq.ws
	obs.Refuse(http.StatusServiceUnavailable)
	t.Cleanup("accept WebSocket sessions again", func(context.Context) error { obs.Refuse(0); return nil })
	from, mark := len(obs.Handshakes()), t.eq.Mark()
	cut := time.Now()
	if err := obs.DropConn(h.Seq); err != nil {
		t.Abortf("cutting the session's TCP connection: %v", err)
	}
	any := func(WebSocketHandshake) bool { return true }
	a1, ok1 := awaitHandshake(t, from, hi1+retrySlack+t.cfg.quietPeriod(), any)
	obs.Refuse(0)
	m1 := t.Metric(1, "The EUT attempts to start a new WebSocket connection in conformance with the SessionRetryMinimumWaitInterval parameter")
	if m1.Expect(ok1, "no attempt within %v of the session's loss", hi1+retrySlack+t.cfg.quietPeriod()) {
		d := arrived(a1).Sub(cut)
		t.Notef("first attempt %v after the loss, refused with %d", d.Round(time.Millisecond), a1.Status)
		ok, ev := checkRetry(1, d, "the session's loss", lo1, hi1, 0, r)
		m1.Expect(ok, "%s", ev)
	}
	m1.End()
	m2 := t.Metric(2, "The EUT makes a second attempt to start a new WebSocket connection in conformance with the SessionRetryMinimumWaitInterval and SessionRetryIntervalMultiplier parameters")
	if m2.Expect(ok1, "no first attempt to time the second from") {
		a2, ok2 := awaitHandshake(t, a1.Seq+1, hi2+retrySlack+t.cfg.quietPeriod(), any)
		if m2.Expect(ok2, "no second attempt within %v of the first", hi2+retrySlack+t.cfg.quietPeriod()) {
			// From the refusal the agent read to the next connection.
			from := a1.Answered
			if from.IsZero() {
				from = a1.Time
			}
			d := arrived(a2).Sub(from)
			t.Notef("second attempt %v after the first, answered %d", d.Round(time.Millisecond), a2.Status)
			ok, ev := checkRetry(2, d, "the first", lo2, hi2, 0, r)
			m2.Expect(ok, "%s", ev)
		}
	}
	m2.End()
	wsReconnected(t, h, mark)
}

// 7.9: the session the agent opened runs over TLS, and a Get over it is
// answered. The kit's server speaks ws:// and wss:// on one port, so an
// agent that connects without TLS is seen doing so.
func run7_9(t *T) {
	h := wsHandshake(t)
	if !t.eq.ws.offersTLS {
		t.NeedsOperatorf("the kit's WebSocket server has no certificate: start it with one (uspctl conform --serve-ws ADDR --serve-ws-tls DIR) and give the agent DIR/ca.pem as a trust anchor")
	}
	t.Check(1, "The EUT starts a WebSocket connection with the controller using TLS", h.TLS != "",
		"the session (handshake %d from %s) was opened without TLS", h.Seq, h.Remote)
	if h.TLS != "" {
		t.Notef("the session runs over %s", h.TLS)
	}
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 2, ex)
}

// 7.11: answered without the bbf-usp-protocol extension, the agent opens
// its session and answers a Get over it. Cutting the session's TCP
// connection stands for the plan's reboot.
func run7_11(t *T) {
	h := wsHandshake(t)
	obs := t.eq.ws
	wait := reconnectWait(t)
	if strings.Contains(h.Extensions, "bbf-usp-protocol") {
		t.Notef("the agent offers the extension: %q", h.Extensions)
	}
	obs.StripExtensions(true)
	t.Cleanup("answer with the extension again", func(context.Context) error { obs.StripExtensions(false); return nil })
	from, mark := len(obs.Handshakes()), t.eq.Mark()
	if err := obs.DropConn(h.Seq); err != nil {
		t.Abortf("cutting the session's TCP connection: %v", err)
	}
	h2, ok := awaitHandshake(t, from, wait, func(h WebSocketHandshake) bool { return h.Status == 101 })
	m1 := t.Metric(1, "The EUT is able to establish a WebSocket connection to the controller")
	if m1.Expect(ok, "no session opened within %v of the loss of the last", wait) {
		t.Notef("new session (handshake %d): offered extensions %q, answered with %q", h2.Seq, h2.Extensions, h2.AnswerExtensions)
		m1.Expect(!strings.Contains(h2.AnswerExtensions, "bbf-usp-protocol"), "the answer carried the extension: %q (kit bug)", h2.AnswerExtensions)
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
		_, connected := t.eq.Await(ctx, mark, func(in Inbound) bool { return in.Record.GetWebsocketConnect() != nil })
		cancel()
		if !connected {
			t.Notef("no WebSocketConnect record on the new session within %v", t.cfg.responseTimeout())
		}
		closed, gone := awaitFrame(t, 0, 0, func(f WebSocketFrame) bool {
			return f.Conn == h2.Seq && (f.Ended || f.FromAgent && f.Opcode == WSClose)
		})
		m1.Expect(!gone, "the agent ended the session: %s", closed)
	}
	m1.End()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 2, ex)
}

// 7.12: a Get sent as a fragmented message (a binary frame and
// continuation frames) is answered.
func run7_12(t *T) {
	h := wsHandshake(t)
	obs := t.eq.ws
	obs.Fragment(3)
	t.Cleanup("send whole messages again", func(context.Context) error { obs.Fragment(0); return nil })
	from := obs.FrameMark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	obs.Fragment(0)
	fragmented := false
	for _, f := range obs.Frames(from) {
		if f.Conn == h.Seq && !f.FromAgent && !f.Injected && !f.Ended && (f.Opcode == WSBinary || f.Opcode == WSContinuation) {
			t.Notef("%s", f)
			fragmented = fragmented || !f.Fin
		}
	}
	if !fragmented && ex.Err == nil {
		t.Abortf("the kit's server sent the Get unfragmented (kit bug)")
	}
	Expect[*msg.GetResp](t, 1, ex)
}

// agentWebSocketURL returns where the agent accepts WebSocket sessions:
// the configured URL, or its enabled Device.LocalAgent.MTP.{i} with
// Protocol WebSocket on the host it connects from. It skips the case when
// there is none.
func agentWebSocketURL(t *T, h WebSocketHandshake) string {
	if u := t.cfg.AgentWebSocketURL; u != "" {
		return u
	}
	if t.env.Objects != nil {
		if _, ok := t.env.Object("Device.LocalAgent.MTP.{i}.WebSocket."); !ok {
			t.Skipf("the agent accepts no WebSocket sessions: its data model has no Device.LocalAgent.MTP.{i}.WebSocket. (R-WS.6), and the configuration gives no agent_websocket_url")
		}
	}
	vals := t.GetValues("Device.LocalAgent.MTP.")
	host, _, err := net.SplitHostPort(h.Remote)
	if err != nil {
		host = "127.0.0.1"
	}
	for _, inst := range t.Instances("Device.LocalAgent.MTP.") {
		if vals[inst+"Protocol"] != "WebSocket" {
			continue
		}
		if en, _ := datamodel.ParseBool(vals[inst+"Enable"]); !en {
			continue
		}
		port := vals[inst+"WebSocket.Port"]
		if port == "" || port == "0" {
			continue
		}
		scheme := "ws"
		if enc, _ := datamodel.ParseBool(vals[inst+"WebSocket.EnableEncryption"]); enc {
			scheme = "wss"
		}
		u := fmt.Sprintf("%s://%s/%s", scheme, net.JoinHostPort(host, port), strings.TrimPrefix(vals[inst+"WebSocket.Path"], "/"))
		t.Notef("the agent's WebSocket server, from %s: %s", inst, u)
		return u
	}
	t.Skipf("the agent accepts no WebSocket sessions: no enabled Device.LocalAgent.MTP.{i} with Protocol WebSocket and a Port (R-WS.6), and the configuration gives no agent_websocket_url")
	return ""
}

// 7.2: while the agent's session with the equipment is open, the kit
// dials the agent's own WebSocket server as the same controller: the
// agent refuses the second session or ends one of the two (R-WS.4).
func run7_2(t *T) {
	h := wsHandshake(t)
	url := agentWebSocketURL(t, h)
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	if ex.Err != nil || ex.Response.GetBody().GetResponse().GetGetResp() == nil {
		t.Abortf("setup: the Get over the first session: %s", outcome(ex))
	}
	from, mark := t.eq.ws.FrameMark(), t.eq.Mark()
	// The kit has no trust anchor for the agent's certificate; the case is
	// about sessions, not about the agent's identity.
	watch := &wsWatch{}
	opts := []websocket.Option{websocket.WithPeerID(t.eq.AgentID()), websocket.WithBackoff(time.Hour, time.Hour),
		websocket.WithHandshakeTimeout(t.cfg.responseTimeout()),
		websocket.WithDialer(watch.dialer(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}))} //nolint:gosec
	noteSecond := func() {
		for _, a := range watch.Answers() {
			t.Notef("second session: the agent answered the handshake with %q", a)
		}
		for _, f := range watch.Frames() {
			if f.Ended || f.Opcode == WSClose {
				t.Notef("second session: %s", strings.Replace(f.String(), "session 0: ", "", 1))
			}
		}
	}
	c, err := websocket.NewClient(url, t.eq.ControllerID(), opts...)
	if err != nil {
		t.Abortf("setup: the kit's WebSocket client for %s: %v", url, err)
	}
	second, err := NewEquipment(c, t.eq.ControllerID(), t.eq.AgentID(),
		WithAgentAddress(mtp.Address{MTP: mtp.WebSocket, To: t.eq.AgentID()}), WithResponseTimeout(t.cfg.responseTimeout()))
	if err != nil {
		t.Abortf("setup: %v", err)
	}
	second.setSink(func(te TraceEntry) {
		te.Note = strings.TrimPrefix(te.Note+"; second session", "; ")
		t.trace(te)
	})
	t.Cleanup("close the kit's second session", func(ctx context.Context) error { return second.Close(ctx) })
	sctx, cancel := context.WithTimeout(t.ctx, t.cfg.responseTimeout())
	err = second.Start(sctx)
	cancel()
	opened := time.Now()
	m := t.Metric(1, "Either the first WebSocket connection closes when the second is opened, or the second connection is rejected")
	if err != nil {
		t.Notef("the agent refused the second session: %v", err)
		noteSecond()
		m.End()
		return
	}
	t.Notef("the agent accepted a second session at %s", url)
	ex2 := second.Send(t.ctx, msg.Get{Paths: []string{"Device.DeviceInfo."}})
	t.Notef("the Get over the second session: %s", outcome(ex2))
	d := t.cfg.responseTimeout()
	firstClosed, secondClosed := false, false
	for deadline := time.Now().Add(d); ; {
		_, firstClosed = awaitFrame(t, from, 0, func(f WebSocketFrame) bool {
			return f.Conn == h.Seq && (f.Ended || f.FromAgent && f.Opcode == WSClose)
		})
		secondClosed = c.State() != mtp.Connected
		if firstClosed || secondClosed || time.Now().After(deadline) {
			break
		}
		t.Sleep(20 * time.Millisecond)
	}
	switch {
	case secondClosed:
		t.Notef("the agent ended the second session %v after it opened", time.Since(opened).Round(time.Millisecond))
		noteSecond()
	case firstClosed:
		t.Notef("the agent ended the first session when the second opened")
		noteWSFrames(t, h.Seq, from)
	}
	m.Expect(firstClosed || secondClosed, "both sessions were still open %v after the second opened", d)
	m.End()
	if firstClosed {
		wsReconnected(t, h, mark)
	}
}
