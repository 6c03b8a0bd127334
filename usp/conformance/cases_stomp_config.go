package conformance

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
)

// Section 6, STOMP, second half: the cases that write the agent's
// Device.STOMP.Connection.{i}. and Device.LocalAgent.MTP.{i}.STOMP. entries
// (destination, heartbeat, TLS) or have the tap refuse, drop or answer the
// agent's connection in other ways than a server normally does (6.3's
// retries, 6.7's session without a destination). The tap closing the
// agent's connection stands for the plan's reboot.
func init() {
	register(
		&Case{ID: "6.3", Title: "STOMP Connection Retry", Run: run6_3},
		&Case{ID: "6.6", Title: "STOMP destination - configured in USP data model", Run: run6_6},
		&Case{ID: "6.7", Title: "STOMP Destination - terminates unconfigured session", Run: run6_7},
		&Case{ID: "6.8", Title: "Use of STOMP heartbeat mechanism", Slow: 60 * time.Second, Run: run6_8},
		&Case{ID: "6.10", Title: "Agent's STOMP destination is changed", Run: run6_10},
		&Case{ID: "6.11", Title: "STOMP - Use of TLS", Run: run6_11},
	)
}

// stompMTP is the agent's STOMP MTP entry and the connection it uses.
type stompMTP struct {
	mtp  string // Device.LocalAgent.MTP.{i}.
	dest string // its STOMP.Destination
	conn string // Device.STOMP.Connection.{i}. ("" when none is found)
	// connValues are the connection's parameters, by name.
	connValues map[string]string
}

// activeSTOMP finds the enabled Device.LocalAgent.MTP.{i}. with Protocol
// STOMP (the one whose destination the agent is subscribed to when
// several are) and the Device.STOMP.Connection.{i}. it references.
func activeSTOMP(t *T, subs []string) stompMTP {
	t.NeedParam("Device.LocalAgent.MTP.{i}.STOMP.Destination")
	v := t.GetValues("Device.LocalAgent.MTP.")
	var cands []string
	for p, val := range v {
		if strings.HasSuffix(p, ".Protocol") && val == "STOMP" {
			base := strings.TrimSuffix(p, "Protocol")
			if en, ok := v[base+"Enable"]; !ok || en == "true" || en == "1" {
				cands = append(cands, base)
			}
		}
	}
	slices.Sort(cands)
	if len(cands) == 0 {
		t.Abortf("the agent has no enabled Device.LocalAgent.MTP.{i}. with Protocol STOMP")
	}
	pick := cands[0]
	for _, c := range cands {
		if slices.Contains(subs, v[c+"STOMP.Destination"]) || slices.Contains(subs, v[c+"STOMP.DestinationFromServer"]) {
			pick = c
		}
	}
	s := stompMTP{mtp: pick, dest: v[pick+"STOMP.Destination"]}
	ref := v[pick+"STOMP.Reference"]
	cv := t.GetValues("Device.STOMP.Connection.")
	if ref != "" {
		s.conn = strings.TrimSuffix(ref, ".") + "."
	} else { // the only connection
		for p := range cv {
			if strings.HasSuffix(p, ".Host") {
				if s.conn != "" {
					s.conn = ""
					break
				}
				s.conn = strings.TrimSuffix(p, "Host")
			}
		}
	}
	s.connValues = map[string]string{}
	for p, val := range cv {
		if name, ok := strings.CutPrefix(p, s.conn); ok && s.conn != "" && !strings.Contains(name, ".") {
			s.connValues[name] = val
		}
	}
	t.Notef("active STOMP MTP: %s (Destination %q), connection %s", pick, s.dest, s.conn)
	return s
}

// stompReconnect closes the agent's connection, the kit's stand-in for
// the plan's reboot, and returns the frame that opens the agent's next
// connection.
func stompReconnect(t *T, tp *STOMPTap, conn int, wait time.Duration) STOMPFrame {
	mark := tp.Mark()
	t.Notef("the kit's STOMP tap closes the agent's connection %d instead of rebooting it", conn)
	if err := tp.Disconnect(conn); err != nil {
		t.Abortf("%v", err)
	}
	f, ok := tp.Wait(t, mark, wait, func(f STOMPFrame) bool { return agentOpens(t, f) })
	if !ok {
		t.Abortf("the agent did not connect again within %v", wait)
	}
	t.Notef("agent's new %s", describeFrame(f))
	return f
}

// stompReboot is stompReconnect for the cases whose settings an agent
// may apply only on a fresh start: with allow_destructive the kit
// reboots the agent (Device.Reboot()) as the plan does, else it closes
// the agent's connection.
func stompReboot(t *T, tp *STOMPTap, conn int, wait time.Duration) STOMPFrame {
	if !t.cfg.AllowDestructive {
		return stompReconnect(t, tp, conn, wait)
	}
	mark := tp.Mark()
	t.Notef("the kit reboots the agent (Device.Reboot(), allow_destructive)")
	if ex := t.Post(msg.Operate{Command: "Device.Reboot()", CommandKey: "tp469-stomp"}); ex.Err != nil {
		t.Abortf("Operate Device.Reboot(): %v", ex.Err)
	}
	wait = max(wait, t.cfg.rebootTimeout())
	f, ok := tp.Wait(t, mark, wait, func(f STOMPFrame) bool { return agentOpens(t, f) })
	if !ok {
		t.Abortf("the agent did not connect again within %v of the reboot", wait)
	}
	t.Notef("agent's new %s", describeFrame(f))
	return f
}

// agentOpens reports whether f opens one of the agent's connections.
func agentOpens(t *T, f STOMPFrame) bool {
	id, _ := f.Header("endpoint-id")
	return f.FromClient && isConnect(f.Command) && id == t.eq.AgentID()
}

// stompReconnectWait bounds a reconnection: the agent's first retry may wait
// up to its ServerRetryInitialInterval.
func stompReconnectWait(t *T, s stompMTP) time.Duration {
	secs, _ := strconv.Atoi(s.connValues["ServerRetryInitialInterval"])
	return t.cfg.responseTimeout() + time.Duration(min(max(secs, 0), 600))*time.Second + 5*time.Second
}

// awaitSTOMPConnect waits until the equipment has the agent's connect
// record from mark on, so that what follows reaches its new destination.
func awaitSTOMPConnect(t *T, mark int, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(t.ctx, wait)
	defer cancel()
	_, ok := t.eq.Await(ctx, mark, isConnectRecord)
	return ok
}

// withoutSubscribeDest makes the tap leave subscribe-dest out of the
// agent's CONNECTED frames and gives the agent a connection without one;
// the cleanup puts the default back and reconnects the agent so that it
// uses a server-given destination again. It returns the new connection.
func withoutSubscribeDest(t *T, tp *STOMPTap, conn int, s stompMTP) int {
	tp.SetSubscribeDest(false)
	t.Cleanup("give the agent a connection with subscribe-dest again", func(ctx context.Context) error {
		tp.SetSubscribeDest(true)
		c, ok := tp.ConnOf(t.eq.AgentID())
		if !ok {
			return fmt.Errorf("the agent has no connection through the tap")
		}
		mark, emark := tp.Mark(), t.eq.Mark()
		if err := tp.Disconnect(c); err != nil {
			return err
		}
		wait := stompReconnectWait(t, s)
		if _, ok := tp.Wait(t, mark, wait, func(f STOMPFrame) bool { return agentOpens(t, f) }); !ok {
			return fmt.Errorf("the agent did not connect again within %v", wait)
		}
		if !awaitSTOMPConnect(t, emark, wait) {
			return fmt.Errorf("no connect record from the agent within %v", wait)
		}
		return nil
	})
	return conn
}

// setDestination sets the STOMP MTP's Destination (restored later) and
// reports whether the agent accepted it.
func setDestination(t *T, m *Metric, s stompMTP, dest string) {
	ex := t.Send(msg.SetParams(s.mtp+"STOMP.", map[string]string{"Destination": dest}))
	err := ex.Err
	if err == nil {
		var r *msg.SetResp
		if r, err = msg.ParseSetResp(ex.Response); err == nil {
			err = r.Err()
		}
	}
	if err != nil {
		m.Expect(false, "the Set of %sSTOMP.Destination to %q failed: %v", s.mtp, dest, err)
		m.Must()
	}
	t.SetLater(map[string]string{s.mtp + "STOMP.Destination": s.dest})
}

// newDestination is an unused destination of the kit's.
func newDestination(tp *STOMPTap, id string) string {
	return "/queue/tp469-" + tp.tag + "-" + strings.ReplaceAll(id, ".", "-")
}

// 6.6: a Destination set in the data model is subscribed to after the
// reboot, when CONNECTED names none, and named in reply-to-dest.
func run6_6(t *T) {
	tp, conn := stompWire(t)
	s := activeSTOMP(t, subscribedTo(tp, conn))
	dest := newDestination(tp, "6.6")
	m := t.Metric(1, "The EUT subscribes to the destination configured in step 1")
	setDestination(t, m, s, dest)
	withoutSubscribeDest(t, tp, conn, s)
	emark := t.eq.Mark()
	open := stompReconnect(t, tp, conn, stompReconnectWait(t, s))
	awaitSTOMPConnect(t, emark, stompReconnectWait(t, s))
	subs := subscribedTo(tp, open.Conn)
	m.Expect(slices.Contains(subs, dest), "the agent subscribed to %q on its new connection, not %q", subs, dest)
	m.End()
	mark := tp.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 0, ex)
	f, ok := sendCarrying(t, tp, open.Conn, mark, "GET_RESP", ex.Request.GetHeader().GetMsgId())
	if !ok {
		t.Abortf("the tap saw no SEND from the agent carrying the GetResp")
	}
	t.Notef("agent's %s", describeFrame(f))
	rt, _ := f.Header("reply-to-dest")
	t.Check(2, "The GetResponse's reply-to-dest is the destination configured in step 1", rt == dest,
		"reply-to-dest %q, configured %q", rt, dest)
}

// 6.7: with no Destination configured and none in CONNECTED, the agent
// ends the session.
func run6_7(t *T) {
	tp, conn := stompWire(t)
	s := activeSTOMP(t, subscribedTo(tp, conn))
	shortRetry(t, s)
	m := t.Metric(1, "The EUT terminates the STOMP session after the STOMP server sends a CONNECTED frame")
	setDestination(t, m, s, "")
	tp.SetSubscribeDest(false)
	// The cleanup that gives the agent a server-given destination again
	// is also how it gets back: its retries meet a CONNECTED with one.
	t.Cleanup("give the agent a connection with subscribe-dest again", func(ctx context.Context) error {
		tp.SetSubscribeDest(true)
		mark := t.eq.Mark()
		if c, ok := tp.ConnOf(t.eq.AgentID()); ok {
			_ = tp.Disconnect(c) // closed already, unless the agent kept it
		}
		if !awaitSTOMPConnect(t, mark, stompReconnectWait(t, s)) {
			return fmt.Errorf("no connect record from the agent within %v", stompReconnectWait(t, s))
		}
		return nil
	})
	emark := tp.EventMark()
	open := stompReconnect(t, tp, conn, stompReconnectWait(t, s))
	connected, ok := tp.Wait(t, open.Seq, t.cfg.responseTimeout(), func(f STOMPFrame) bool {
		return f.Conn == open.Conn && !f.FromClient && f.Command == "CONNECTED"
	})
	if !ok {
		t.Abortf("the server sent no CONNECTED on the agent's new connection %d", open.Conn)
	}
	t.Notef("server's %s", describeFrame(connected))
	// The agent ends the session: a DISCONNECT, or it closes the
	// connection first.
	deadline := time.Now().Add(t.cfg.responseTimeout())
	how := ""
	for how == "" && time.Now().Before(deadline) {
		for _, f := range tp.Frames(connected.Seq) {
			if f.Conn == open.Conn && f.FromClient && f.Command == "DISCONNECT" {
				how = "sent DISCONNECT"
			}
		}
		for _, e := range tp.Events(emark) {
			if how == "" && e.Conn == open.Conn && e.Kind == "closed" {
				if e.FromClient {
					how = "closed the connection"
				} else {
					how = "-" // the server (or the tap) closed it first
				}
			}
		}
		if how == "" {
			t.Sleep(50 * time.Millisecond)
		}
	}
	var others []string
	for _, f := range tp.Frames(connected.Seq) {
		if f.Conn == open.Conn && f.FromClient {
			others = append(others, describeFrame(f))
		}
	}
	if len(others) > 0 {
		t.Notef("agent's frames after CONNECTED: %s", strings.Join(others, "; "))
	}
	subs := subscribedTo(tp, open.Conn)
	switch how {
	case "":
		m.Expect(false, "the agent kept the session %v after CONNECTED (subscribed to %q)", t.cfg.responseTimeout(), subs)
	case "-":
		m.Expect(false, "the server side closed the connection before the agent ended the session (subscribed to %q)", subs)
	default:
		t.Notef("the agent %s", how)
		m.Expect(len(subs) == 0, "the agent subscribed to %q before ending the session", subs)
	}
	m.End()
}

// shortRetry sets a short ServerRetryInitialInterval (1 s, multiplier
// 2.0) for the cases that make the agent reconnect more than once, and
// restores it later: the plan's defaults (60 s) would only lengthen them.
func shortRetry(t *T, s stompMTP) {
	if s.conn == "" || s.connValues["ServerRetryInitialInterval"] == "" {
		return
	}
	vals := map[string]string{s.conn + "ServerRetryInitialInterval": "1", s.conn + "ServerRetryIntervalMultiplier": "2000"}
	t.Notef("the kit sets %sServerRetryInitialInterval to 1 and ServerRetryIntervalMultiplier to 2000", s.conn)
	t.SetValues(vals)
	s.connValues["ServerRetryInitialInterval"], s.connValues["ServerRetryIntervalMultiplier"] = "1", "2000"
}

// 6.3: with the server down, the agent retries within
// ServerRetryInitialInterval, then within that times the multiplier.
func run6_3(t *T) {
	tp, conn := stompWire(t)
	s := activeSTOMP(t, subscribedTo(tp, conn))
	if s.conn == "" {
		t.Abortf("no Device.STOMP.Connection.{i}. is the agent's (the MTP's STOMP.Reference is empty and there are several)")
	}
	shortRetry(t, s)
	initial, err1 := strconv.Atoi(s.connValues["ServerRetryInitialInterval"])
	mult, err2 := strconv.Atoi(s.connValues["ServerRetryIntervalMultiplier"])
	if err1 != nil || err2 != nil || initial <= 0 || mult < 1000 {
		t.Abortf("%s has ServerRetryInitialInterval %q and ServerRetryIntervalMultiplier %q", s.conn,
			s.connValues["ServerRetryInitialInterval"], s.connValues["ServerRetryIntervalMultiplier"])
	}
	// TP-469 has retry n come within the low end of TR-181's n-th
	// window, m·(k/1000)^(n-1).
	r := retryRule{min: time.Duration(initial) * time.Second, mult: float64(mult), names: stompRetryNames}
	first, _ := r.window(1)
	second, _ := r.window(2)
	t.Notef("%s: ServerRetryInitialInterval %d s, ServerRetryIntervalMultiplier %d", s.conn, initial, mult)
	// The server is down for the agent's next two attempts (the one that
	// follows the lost connection, and its first retry); the second retry
	// gets through.
	emark, fmark, imark := tp.EventMark(), tp.Mark(), t.eq.Mark()
	tp.RefuseNext(2)
	defer tp.RefuseNext(0)
	t.Notef("the kit's STOMP tap closes the agent's connection %d and refuses the next two connections", conn)
	if err := tp.Disconnect(conn); err != nil {
		t.Abortf("%v", err)
	}
	wait := t.cfg.responseTimeout() + first + second + 2*retrySlack
	var attempts []STOMPEvent
	deadline := time.Now().Add(wait + first)
	for len(attempts) < 3 && time.Now().Before(deadline) {
		attempts = attempts[:0]
		for _, e := range tp.Events(emark) {
			if e.Kind == "refused" || (e.Kind == "accept" && len(attempts) == 2) {
				attempts = append(attempts, e)
			}
		}
		if len(attempts) < 3 {
			t.Sleep(20 * time.Millisecond)
		}
	}
	for i, a := range attempts {
		t.Notef("attempt %d: %s, %v after the first", i+1, a.Kind, a.Time.Sub(attempts[0].Time).Round(time.Millisecond))
	}
	if len(attempts) < 2 {
		t.Check(1, "The EUT retries connecting to the STOMP server within ServerRetryInitialInterval", false,
			"%d connection attempts in %v after the server went down", len(attempts), wait+first)
		return
	}
	gap1 := attempts[1].Time.Sub(attempts[0].Time)
	ok, ev := checkRetry(1, gap1, "the refused attempt", 0, first, 0, r)
	t.Check(1, "The EUT retries connecting to the STOMP server within ServerRetryInitialInterval", ok, "%s", ev)
	if len(attempts) < 3 {
		t.Check(2, "The EUT retries a second time in accordance with ServerRetryInitialInterval and ServerRetryIntervalMultiplier", false,
			"no second retry within %v", wait)
		return
	}
	gap2 := attempts[2].Time.Sub(attempts[1].Time)
	ok, ev = checkRetry(2, gap2, "the first", 0, second, 0, r)
	t.Check(2, "The EUT retries a second time in accordance with ServerRetryInitialInterval and ServerRetryIntervalMultiplier", ok, "%s", ev)
	// Back to normal: the agent's connection with its connect record.
	if _, ok := tp.Wait(t, fmark, wait, func(f STOMPFrame) bool { return agentOpens(t, f) }); ok {
		awaitSTOMPConnect(t, imark, wait)
	}
}

// 6.8: the heart-beat settings go into the next STOMP frame, and the
// agent then sends a heart beat at least every 15 s.
func run6_8(t *T) {
	tp, conn := stompWire(t)
	s := activeSTOMP(t, subscribedTo(tp, conn))
	if s.conn == "" {
		t.Abortf("no Device.STOMP.Connection.{i}. is the agent's (the MTP's STOMP.Reference is empty and there are several)")
	}
	t.NeedParam("Device.STOMP.Connection.{i}.EnableHeartbeats")
	t.SetValues(map[string]string{s.conn + "EnableHeartbeats": "true", s.conn + "IncomingHeartbeat": "10000",
		s.conn + "OutgoingHeartbeat": "15000"})
	emark := t.eq.Mark()
	open := stompReboot(t, tp, conn, stompReconnectWait(t, s))
	awaitSTOMPConnect(t, emark, stompReconnectWait(t, s))
	hb, _ := open.Header("heart-beat")
	how := "after the server closed its connection (with allow_destructive the kit reboots it instead)"
	if t.cfg.AllowDestructive {
		how = "after the reboot"
	}
	if !t.Check(1, "The heart-beat header the EUT sends is 15000,10000", strings.ReplaceAll(hb, " ", "") == "15000,10000",
		"heart-beat %q %s", hb, how) {
		return // the wait below checks what the agent did not ask for
	}
	if c, ok := tp.Wait(t, open.Seq, t.cfg.responseTimeout(), func(f STOMPFrame) bool {
		return f.Conn == open.Conn && !f.FromClient && f.Command == "CONNECTED"
	}); ok {
		t.Notef("server's %s", describeFrame(c))
	}
	const bound = 15 * time.Second
	evMark := tp.EventMark()
	start := time.Now()
	t.Sleep(60 * time.Second)
	end := time.Now()
	// Every stretch without a frame or a heart beat from the agent lasts
	// at most 15 s, and heart beats come.
	var times []time.Time
	beats := 0
	for _, e := range tp.Events(evMark) {
		if e.Conn == open.Conn && e.FromClient && e.Kind == "heart-beat" {
			times = append(times, e.Time)
			beats++
		}
	}
	for _, f := range tp.Frames(open.Seq) {
		if f.Conn == open.Conn && f.FromClient && f.Time.After(start) {
			times = append(times, f.Time)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	last, longest := start, time.Duration(0)
	for _, at := range times {
		longest = max(longest, at.Sub(last))
		last = at
	}
	longest = max(longest, end.Sub(last))
	t.Notef("%d heart beats from the agent in %v", beats, end.Sub(start).Round(time.Millisecond))
	m := t.Metric(2, "After connecting, the EUT sends heart beats every 15 seconds")
	m.Expect(beats > 0, "no heart beat from the agent in %v", end.Sub(start).Round(time.Millisecond))
	m.Expect(within(longest, 0, bound, retrySlack), "%v without a heart beat or frame from the agent", longest.Round(time.Millisecond))
	m.End()
}

// 6.10: a new Destination makes the agent UNSUBSCRIBE, then SUBSCRIBE to
// it.
func run6_10(t *T) {
	tp, conn := stompWire(t)
	s := activeSTOMP(t, subscribedTo(tp, conn))
	// The setup: a connection whose CONNECTED named no destination.
	withoutSubscribeDest(t, tp, conn, s)
	emark := t.eq.Mark()
	open := stompReconnect(t, tp, conn, stompReconnectWait(t, s))
	if !awaitSTOMPConnect(t, emark, stompReconnectWait(t, s)) {
		t.Notef("no connect record from the agent on its new connection")
	}
	t.Notef("the agent subscribed to %q on its connection without subscribe-dest", subscribedTo(tp, open.Conn))
	dest := newDestination(tp, "6.10")
	mark := tp.Mark()
	m1 := t.Metric(1, "After the STOMP destination was changed the EUT sent an UNSUBSCRIBE frame")
	setDestination(t, m1, s, dest)
	unsub, ok := tp.Wait(t, mark, t.cfg.responseTimeout(), func(f STOMPFrame) bool {
		return f.Conn == open.Conn && f.FromClient && f.Command == "UNSUBSCRIBE"
	})
	m1.Expect(ok, "no UNSUBSCRIBE from the agent within %v of the Set", t.cfg.responseTimeout())
	if !m1.End() {
		return
	}
	t.Notef("agent's %s", describeFrame(unsub))
	sub, ok := tp.Wait(t, unsub.Seq, t.cfg.responseTimeout(), func(f STOMPFrame) bool {
		return f.Conn == open.Conn && f.FromClient && f.Command == "SUBSCRIBE"
	})
	if ok {
		t.Notef("agent's %s", describeFrame(sub))
	}
	d, _ := sub.Header("destination")
	if t.Check(2, "After the UNSUBSCRIBE the EUT sent a SUBSCRIBE with the new destination", ok && d == dest,
		"SUBSCRIBE seen %t, destination %q, new destination %q", ok, d, dest) {
		// An agent need not send a connect record for the move (OB-USP-A
		// does not): the restoring Set goes to where it listens now.
		t.eq.readdress(mtp.Address{MTP: mtp.STOMP, To: dest})
	}
}

// readdress makes the equipment send to the agent at a, until a connect
// record says otherwise.
func (e *Equipment) readdress(a mtp.Address) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addr = a
}

// 6.11: after the reboot the agent reaches the server over TLS again, and
// a Get and its response travel over it. The plan's setup gives the agent
// and the server certificates; the kit's tap is the server
// ([STOMPTap.SetTLS]), so an agent whose connection to it is plain TCP
// was not set up for the case.
func run6_11(t *T) {
	tp, conn := stompWire(t)
	if !tp.IsTLS(conn) {
		t.NeedsOperatorf("the agent's STOMP connection through the kit's tap is plain TCP: the case needs the agent configured for TLS to the tap, which presents a certificate the agent trusts (STOMPTap.SetTLS)")
	}
	s := activeSTOMP(t, subscribedTo(tp, conn))
	emark := t.eq.Mark()
	open := stompReconnect(t, tp, conn, stompReconnectWait(t, s))
	awaitSTOMPConnect(t, emark, stompReconnectWait(t, s))
	mark := tp.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 0, ex)
	m := t.Metric(1, "All communication between the EUT and the STOMP server after the reboot is encrypted using TLS")
	conns := map[int]bool{open.Conn: true}
	for _, f := range tp.Frames(open.Seq) {
		if agentOpens(t, f) {
			conns[f.Conn] = true
		}
	}
	for c := range conns {
		m.Expect(tp.IsTLS(c), "the agent's connection %d after the reboot is plain TCP", c)
	}
	if f, ok := sendCarrying(t, tp, open.Conn, mark, "GET_RESP", ex.Request.GetHeader().GetMsgId()); ok {
		t.Notef("agent's %s, over TLS: %t", describeFrame(f), tp.IsTLS(f.Conn))
	} else {
		m.Expect(false, "the GetResp did not come over the agent's connection %d", open.Conn)
	}
	m.End()
}
