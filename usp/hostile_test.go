package usp_test

// The adversarial suite: each test is one attack from issue 9 by a hostile
// agent over a real binding, and asserts that the victim, an honest
// usptest agent, is unaffected.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const (
	victimID      = "proto::victim"
	attackerID    = "proto::attacker"
	victimTopic   = "/usp/agent/victim"
	attackerTopic = "/usp/agent/evil"
	ctrlTopic     = "/usp/controller/hostile"
	truePath      = "Device.DeviceInfo.SoftwareVersion"
)

// arena is a controller, an honest victim agent and a hostile agent that
// speaks raw MQTT, all on one broker.
type arena struct {
	c      *usp.Controller
	victim *usptest.Agent
	evil   *brokertest.PahoPeer
	truth  string // the victim's true value of truePath
	logs   *logCounter
}

// logCounter counts the controller's log messages by text: the tests wait
// for the message that says a forged record was dropped, rather than
// sleeping and hoping it was handled.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.n[r.Message]++
	l.mu.Unlock()
	return nil
}

func (l *logCounter) count(message string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[message]
}

// Messages the controller logs when it drops a forged record.
const (
	logClaimsElsewhere = "dropping record that claims an agent from another address"
	logDisconnectElse  = "ignoring Disconnect record from another address than the agent's"
	logWrongResponder  = "dropping response from the wrong agent or address"
	logNoRequest       = "dropping response that matches no request"
	logRefused         = "dropping record"
)

// waitLog waits until message was logged at least n times in all.
func (a *arena) waitLog(t *testing.T, message string, n int) {
	t.Helper()
	waitUntil(t, func() bool { return a.logs.count(message) >= n })
}

func newArena(t *testing.T, brokerURL string, opts ...usp.Option) *arena {
	t.Helper()
	ct, err := mqtt.New(brokerURL, ctrlID, mqtt.WithTopic(ctrlTopic), mqtt.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{}, 1)
	logs := &logCounter{n: make(map[string]int)}
	opts = append([]usp.Option{usp.WithTransport(ct), usp.WithLogger(slog.New(logs)), usp.WithAgentHandler(func(ev usp.AgentEvent) {
		if ev.Kind == usp.AgentConnected && ev.Agent.EndpointID == victimID {
			select {
			case seen <- struct{}{}:
			default:
			}
		}
	})}, opts...)
	c, err := usp.NewController(ctrlID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	at, err := mqtt.New(brokerURL, victimID, mqtt.WithTopic(victimTopic))
	if err != nil {
		t.Fatal(err)
	}
	victim, err := usptest.NewAgent(victimID, usptest.WithTransport(at),
		usptest.WithController(ctrlID, mtp.Address{MTP: mtp.MQTT, To: ctrlTopic}), usptest.WithoutBootSubscription())
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Close(context.Background()) })
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the controller never saw the victim")
	}
	a := &arena{c: c, victim: victim, evil: brokertest.DialPaho(t, brokerURL, attackerTopic), logs: logs}
	a.truth, err = c.Agent(victimID).GetValue(ctxT(t), truePath)
	if err != nil || a.truth == "" {
		t.Fatalf("victim's %s: %q, %v", truePath, a.truth, err)
	}
	return a
}

// forge publishes a record to the controller as the attacker, with
// responseTopic as its reply address.
func (a *arena) forge(t *testing.T, rec *usprecord.Record, responseTopic string) {
	t.Helper()
	b, err := record.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.evil.Publish(ctxT(t), ctrlTopic, responseTopic, 1, b); err != nil {
		t.Fatal(err)
	}
}

// forgeMsg sends m in a NoSessionContext record claiming to come from from.
func (a *arena) forgeMsg(t *testing.T, from string, m *uspmsg.Msg, responseTopic string) {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	a.forge(t, record.NewNoSessionContext("1.3", ctrlID, from, b), responseTopic)
}

// victimIntact checks that the victim is still reached at its own topic
// and answers its true value within a short deadline.
func (a *arena) victimIntact(t *testing.T) {
	t.Helper()
	info, ok := a.c.AgentInfo(victimID)
	if !ok || info.Address.To != victimTopic || !info.Connected {
		t.Fatalf("victim's entry changed: %+v (known %v)", info, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := a.c.Agent(victimID).GetValue(ctx, truePath)
	if err != nil || got != a.truth {
		t.Fatalf("victim's %s = %q, %v; want %q", truePath, got, err, a.truth)
	}
}

// forgedGetResp is the answer an attacker wants the victim's caller to
// believe.
func forgedGetResp(id string) *uspmsg.Msg {
	return msg.GetResp{Results: []msg.GetResult{{Requested: truePath, Resolved: []msg.Resolved{{
		Path: "Device.DeviceInfo.", Params: map[string]string{"SoftwareVersion": "pwned"}}}}}}.Build(id)
}

// predictions are the msg_ids an attacker that saw seen would try next:
// with the counter-based IDs gousp used to draw ("prefix-counter" in base
// 36), the next few counters; with random IDs there is nothing to
// extrapolate, and it tries seen itself and neighbours of its bytes.
func predictions(seen string) []string {
	out := []string{seen}
	if prefix, ctr, ok := strings.Cut(seen, "-"); ok {
		if n, err := strconv.ParseUint(ctr, 36, 64); err == nil {
			for k := uint64(1); k <= 64; k++ {
				out = append(out, prefix+"-"+strconv.FormatUint(n+k, 36))
			}
		}
	}
	for i := range min(len(seen), 16) {
		b := []byte(seen)
		b[i]++
		out = append(out, string(b))
	}
	return out
}

// TestHostileForgedResponse: the attacker learns the msg_id of a request
// to itself, then answers the requests it predicts the controller sends to
// the victim, claiming to be the victim. The victim's call must return the
// true value.
func TestHostileForgedResponse(t *testing.T) { onBrokers(t, hostileForgedResponse) }

func hostileForgedResponse(t *testing.T, url string) {
	a := newArena(t, url)
	// The attacker is known (it sent a record) and receives a request.
	a.forge(t, record.NewMQTTConnect("1.3", ctrlID, attackerID, usprecord.MQTTConnectRecord_V5, attackerTopic), attackerTopic)
	waitUntil(t, func() bool { _, ok := a.c.AgentInfo(attackerID); return ok })
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = a.c.Agent(attackerID).GetValue(ctx, truePath)
	}()
	req, err := a.evil.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Decode(req.Payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if err != nil {
		t.Fatal(err)
	}
	seen := m.GetHeader().GetMsgId()

	// The victim answers slowly, so its call is pending while the
	// attacker fires its guesses, from its own topic and from the
	// victim's.
	_, result := slowCall(t, a.c, a.victim)
	ids := predictions(seen)
	for _, id := range ids {
		a.forgeMsg(t, victimID, forgedGetResp(id), attackerTopic)
		a.forgeMsg(t, victimID, forgedGetResp(id), victimTopic)
	}
	// Every guess was handled, and failed: from the attacker's topic the
	// record is not the victim's; from the victim's, no request matches.
	a.waitLog(t, logClaimsElsewhere, len(ids))
	waitUntil(t, func() bool { return a.logs.count(logNoRequest)+a.logs.count(logWrongResponder) >= len(ids) })
	if got, err := result(); err != nil || got != a.truth {
		t.Fatalf("victim's call returned %q, %v; want %q", got, err, a.truth)
	}
	a.victimIntact(t)
}

// TestHostileKnownIDFromElsewhere: even an attacker that knows the msg_id
// of the victim's pending request (it could only by reading the victim's
// topic, which the broker recipe forbids) cannot answer it from its own
// reply address, nor under its own from_id.
func TestHostileKnownIDFromElsewhere(t *testing.T) { onBrokers(t, hostileKnownIDFromElsewhere) }

func hostileKnownIDFromElsewhere(t *testing.T, url string) {
	a := newArena(t, url)
	id, result := slowCall(t, a.c, a.victim)
	a.forgeMsg(t, victimID, forgedGetResp(id), attackerTopic)   // the victim's name, another address
	a.forgeMsg(t, attackerID, forgedGetResp(id), attackerTopic) // its own name
	a.waitLog(t, logClaimsElsewhere, 1)
	a.waitLog(t, logWrongResponder, 1)
	if got, err := result(); err != nil || got != a.truth {
		t.Fatalf("victim's call returned %q, %v; want %q", got, err, a.truth)
	}
}

// TestHostileAddressMove: records claiming to be the victim, from the
// attacker's topic, do not move the victim, whatever their kind; a
// connect record does under the default policy but not under MoveNever,
// and not with a PeerVerifier that ties each agent to its topic.
func TestHostileAddressMove(t *testing.T) { onBrokers(t, hostileAddressMove) }

func hostileAddressMove(t *testing.T, url string) {
	notify := msg.Notify{SubscriptionID: "x", SendResp: true, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n-1")
	t.Run("notify", func(t *testing.T) {
		a := newArena(t, url)
		a.forgeMsg(t, victimID, notify, attackerTopic)
		a.forgeMsg(t, victimID, msg.Get{Paths: []string{"Device."}}.Build("g-1"), attackerTopic)
		a.waitLog(t, logClaimsElsewhere, 2)
		a.victimIntact(t)
	})
	connect := record.NewMQTTConnect("1.3", ctrlID, victimID, usprecord.MQTTConnectRecord_V5, attackerTopic)
	t.Run("connect-move-never", func(t *testing.T) {
		a := newArena(t, url, usp.WithMovePolicy(usp.MoveNever))
		a.forge(t, connect, attackerTopic)
		a.forgeMsg(t, victimID, notify, attackerTopic)
		a.waitLog(t, logClaimsElsewhere, 2)
		a.victimIntact(t)
	})
	t.Run("connect-pinned", func(t *testing.T) {
		a := newArena(t, url, usp.WithAgent(victimID, mtp.Address{MTP: mtp.MQTT, To: victimTopic}))
		a.forge(t, connect, attackerTopic)
		a.waitLog(t, logClaimsElsewhere, 1)
		a.victimIntact(t)
	})
	t.Run("connect-verifier", func(t *testing.T) {
		// Each agent's topic is /usp/agent/<name>, as in the broker
		// recipe; the verifier refuses any other reply address.
		var refused atomic.Int32
		topics := map[string]string{victimID: victimTopic, attackerID: attackerTopic}
		a := newArena(t, url, usp.WithPeerVerifier(func(_ context.Context, from string, in mtp.Inbound) error {
			if in.ReplyTo.To != topics[from] {
				refused.Add(1)
				return fmt.Errorf("%s may not be reached at %s", from, in.ReplyTo.To)
			}
			return nil
		}))
		a.forge(t, connect, attackerTopic)
		a.forgeMsg(t, victimID, notify, attackerTopic)
		waitUntil(t, func() bool { return refused.Load() == 2 })
		a.waitLog(t, logRefused, 2)
		a.victimIntact(t)
	})
	t.Run("connect-default-moves", func(t *testing.T) {
		// Documented: without a verifier or pinning, a connect record is
		// how an agent moves, so a forged one moves it.
		a := newArena(t, url)
		a.forge(t, connect, attackerTopic)
		waitUntil(t, func() bool { info, _ := a.c.AgentInfo(victimID); return info.Address.To == attackerTopic })
	})
}

// TestHostileDisconnect: a forged Disconnect record claiming the victim
// does not fail the victim's pending call nor mark it gone.
func TestHostileDisconnect(t *testing.T) { onBrokers(t, hostileDisconnect) }

func hostileDisconnect(t *testing.T, url string) {
	a := newArena(t, url)
	_, result := slowCall(t, a.c, a.victim)
	a.forge(t, record.NewDisconnect("1.3", ctrlID, victimID, "bye", 7105), attackerTopic)
	a.forge(t, record.NewDisconnect("1.3", ctrlID, victimID, "bye", 7105), "")
	a.waitLog(t, logDisconnectElse, 2)
	if got, err := result(); err != nil || got != a.truth {
		t.Fatalf("victim's call returned %q, %v; want %q", got, err, a.truth)
	}
	a.victimIntact(t)
}

// TestHostileFloodOfIdentities: an attacker sends records under thousands
// of made-up endpoint IDs. The controller keeps at most the configured
// number of learned agents, its heap stays bounded, and the victim is
// still served.
func TestHostileFloodOfIdentities(t *testing.T) {
	const limit, flood = 50, 3000
	marker := &markerHook{id: "proto::spoof-marker", seen: make(chan struct{})}
	a := newArena(t, brokertest.StartEmbedded(t), usp.WithAgentLimits(limit, 0), usp.WithProtocolNegotiation(), usp.WithNegotiationLimit(2),
		usp.WithHooks(marker))
	base := heapAfterGC()
	goroutines := runtime.NumGoroutine()
	payload, _ := proto.Marshal(msg.Notify{SubscriptionID: "x", Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n"))
	for i := range flood {
		from := "proto::spoof-" + strconv.Itoa(i)
		b, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, from, payload))
		if err := a.evil.Publish(ctxT(t), ctrlTopic, attackerTopic+"/"+strconv.Itoa(i), 0, b); err != nil {
			t.Fatal(err)
		}
		if i%200 == 0 {
			// The victim keeps talking, so it is recently heard from.
			a.victimIntact(t)
		}
	}
	// Everything the flood sent has been delivered once a marker record
	// sent after it on the same connection is (the intake handles
	// unrelated agents' records in any order, so the marker may well be
	// handled, and evicted again, before the flood's last), and handled
	// once the intake is empty after that.
	a.forge(t, record.NewMQTTConnect("1.3", ctrlID, marker.id, usprecord.MQTTConnectRecord_V5, attackerTopic+"/m"), attackerTopic+"/m")
	select {
	case <-marker.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the marker record never reached the controller")
	}
	waitUntil(t, func() bool { return a.c.IntakeStats().Records == 0 })
	if n := len(a.c.Agents()); n > limit {
		t.Fatalf("%d agents known after a flood of %d identities; limit %d", n, flood, limit)
	}
	if grown := heapAfterGC() - base; grown > 4<<20 {
		t.Errorf("heap grew by %d bytes", grown)
	}
	// Each new identity would start a GetSupportedProtocol that waits
	// for its timeout; at most two run.
	// Intake workers end once their mailboxes are empty, a moment after
	// the marker is handled: wait for them, then count.
	deadline := time.Now().Add(5 * time.Second)
	extra := runtime.NumGoroutine() - goroutines
	for extra > 10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		extra = runtime.NumGoroutine() - goroutines
	}
	if extra > 10 {
		t.Errorf("%d more goroutines after the flood", extra)
	}
	a.victimIntact(t)
}

// markerHook closes seen when a record from id comes in.
type markerHook struct {
	id   string
	seen chan struct{}
	once sync.Once
}

func (h *markerHook) OnRecord(ev usp.RecordEvent) {
	if ev.Direction == usp.In && ev.AgentID == h.id {
		h.once.Do(func() { close(h.seen) })
	}
}

// TestHostileIdleIdentitiesForgotten: identities heard from once are
// forgotten after the idle time of WithAgentLimits.
func TestHostileIdleIdentitiesForgotten(t *testing.T) {
	a := newArena(t, brokertest.StartEmbedded(t), usp.WithAgentLimits(1000, 200*time.Millisecond))
	payload, _ := proto.Marshal(msg.Notify{SubscriptionID: "x", Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n"))
	for i := range 20 {
		b, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, "proto::idle-"+strconv.Itoa(i), payload))
		if err := a.evil.Publish(ctxT(t), ctrlTopic, attackerTopic+"/"+strconv.Itoa(i), 1, b); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { _, ok := a.c.AgentInfo("proto::idle-19"); return ok })
	waitUntil(t, func() bool {
		for _, info := range a.c.Agents() {
			if strings.HasPrefix(info.EndpointID, "proto::idle-") {
				return false
			}
		}
		return true
	})
}

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestHostileMalformedAnswer: an agent answers with an Error message whose
// err_code is 0 (invalid): the call fails at once with
// ErrMalformedResponse instead of waiting for its deadline.
func TestHostileMalformedAnswer(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	a := newArena(t, url)
	a.forge(t, record.NewMQTTConnect("1.3", ctrlID, attackerID, usprecord.MQTTConnectRecord_V5, attackerTopic), attackerTopic)
	waitUntil(t, func() bool { _, ok := a.c.AgentInfo(attackerID); return ok })
	go func() {
		req, err := a.evil.Receive(context.Background())
		if err != nil {
			return
		}
		rec, _ := record.Decode(req.Payload)
		m, _ := msg.Decode(rec.GetNoSessionContext().GetPayload())
		bad := &uspmsg.Msg{
			Header: &uspmsg.Header{MsgId: m.GetHeader().GetMsgId(), MsgType: uspmsg.Header_ERROR},
			Body:   &uspmsg.Body{MsgBody: &uspmsg.Body_Error{Error: &uspmsg.Error{ErrCode: 0, ErrMsg: "zero"}}},
		}
		b, _ := proto.Marshal(bad)
		out, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, attackerID, b))
		_ = a.evil.Publish(context.Background(), ctrlTopic, attackerTopic, 1, out)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := a.c.Agent(attackerID).GetValue(ctx, truePath)
	if !errors.Is(err, usp.ErrMalformedResponse) {
		t.Fatalf("err = %v, want ErrMalformedResponse", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the malformed answer took %v to fail the call", took)
	}
	a.victimIntact(t)
}

// TestHostileCallbackPanics: an agent-event handler and hooks that panic
// are recovered; the controller goes on serving the victim.
func TestHostileCallbackPanics(t *testing.T) {
	var panicked atomic.Int32
	a := newArena(t, brokertest.StartEmbedded(t),
		usp.WithAgentHandler(func(usp.AgentEvent) { panicked.Add(1); panic("watcher") }),
		usp.WithHooks(panickyHooks{}))
	a.forge(t, record.NewMQTTConnect("1.3", ctrlID, attackerID, usprecord.MQTTConnectRecord_V5, attackerTopic), attackerTopic)
	waitUntil(t, func() bool { return panicked.Load() >= 2 })
	a.victimIntact(t)
}

type panickyHooks struct{ usp.NopHooks }

func (panickyHooks) RecordReceived(mtp.Kind, int) { panic("hook") }

// onBrokers runs an attack through the embedded broker and through
// mosquitto.
func onBrokers(t *testing.T, attack func(t *testing.T, url string)) {
	for _, b := range []struct {
		name  string
		start func(testing.TB) string
	}{{"embedded", brokertest.StartEmbedded}, {"mosquitto", brokertest.StartMosquitto}} {
		t.Run(b.name, func(t *testing.T) { attack(t, b.start(t)) })
	}
}

// slowCall makes the victim answer slowly and starts a call of truePath to
// it, so that the call is pending while an attacker acts. It returns once
// the victim has the request, with the request's msg_id, and result,
// which waits for the call's outcome and makes the victim quick again.
func slowCall(t *testing.T, c *usp.Controller, victim *usptest.Agent) (msgID string, result func() (string, error)) {
	t.Helper()
	victim.Faults().Delay(300 * time.Millisecond)
	before := len(victim.Received())
	type outcome struct {
		v   string
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := c.Agent(victimID).GetValue(ctx, truePath)
		done <- outcome{v, err}
	}()
	waitUntil(t, func() bool { return len(victim.Received()) > before })
	got := victim.Received()
	msgID = got[len(got)-1].Msg.GetHeader().GetMsgId()
	return msgID, func() (string, error) {
		o := <-done
		victim.Faults().Reset()
		return o.v, o.err
	}
}
