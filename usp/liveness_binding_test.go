package usp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	gorilla "github.com/gorilla/websocket"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// killSwitch plays a network failure under an agent's transport: kill
// cuts its connections without a word (no MQTT DISCONNECT, no STOMP
// DISCONNECT, no WebSocket close frame, no USP Disconnect record) and
// makes every new dial fail; revive lets the transport reconnect by
// itself.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	dead := k.dead
	k.mu.Unlock()
	if dead {
		return nil, errors.New("killSwitch: the agent is dead")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.conns = append(k.conns, c)
	k.mu.Unlock()
	return c, nil
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	k.dead = true
	conns := k.conns
	k.conns = nil
	k.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (k *killSwitch) revive() {
	k.mu.Lock()
	k.dead = false
	k.mu.Unlock()
}

// liveFixture is the setup the liveness tests over real bindings share: a
// running controller whose state changes go to log, and the kill switch
// under the agent's connection. Both close when the test ends, the agent
// first.
type liveFixture struct {
	c   *usp.Controller
	log *stateLog
	ks  *killSwitch
}

// newLiveFixture starts a controller on ct with opts and a state log.
func newLiveFixture(t *testing.T, ct mtp.Transport, opts ...usp.Option) *liveFixture {
	t.Helper()
	f := &liveFixture{log: newStateLog(), ks: &killSwitch{}}
	c, err := usp.NewController(ctrlID, append([]usp.Option{usp.WithTransport(ct), usp.WithStateHandler(f.log.add)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	f.c = c
	return f
}

// startAgent starts the usptest agent e2eAgentID on at, reaching the
// controller at caddr.
func (f *liveFixture) startAgent(t *testing.T, at mtp.Transport, caddr mtp.Address) *usptest.Agent {
	t.Helper()
	return runAgent(t, e2eAgentID, usptest.WithTransport(at), usptest.WithController(ctrlID, caddr))
}

// mqttAgent makes the agent's MQTT transport to broker, its connections
// dialled through f.ks.
func (f *liveFixture) mqttAgent(t *testing.T, broker string, opts ...mqtt.Option) mtp.Transport {
	t.Helper()
	at, err := mqtt.New(broker, e2eAgentID, append(opts, mqttDialer(f.ks))...)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// mqttDialer dials an MQTT transport's connections through ks.
func mqttDialer(ks *killSwitch) mqtt.Option {
	return mqtt.WithDialer(func(ctx context.Context, u *url.URL, _ *tls.Config) (net.Conn, error) {
		return ks.dial(ctx, "tcp", u.Host)
	})
}

// liveBinding is one binding for the liveness tests: the controller's
// transport and a maker of the agent's, whose connection ks controls
// (bindings without a dialer are killed by closing the agent).
type liveBinding struct {
	name    string
	session bool // WebSocket, UDS: the session tells
	will    bool // the agent's MQTT Will names it to the controller
	// noDialer: the agent's connection cannot be cut from below; kill
	// closes the agent (without a Disconnect record) and revive starts a
	// new one.
	noDialer bool
	setup    func(t *testing.T) (ctrl mtp.Transport, agent func(ks *killSwitch) (mtp.Transport, mtp.Address, bool))
}

func liveBindings() []liveBinding {
	const agentID = e2eAgentID
	mqttOn := func(start func(testing.TB) string, will bool) func(t *testing.T) (mtp.Transport, func(*killSwitch) (mtp.Transport, mtp.Address, bool)) {
		return func(t *testing.T) (mtp.Transport, func(*killSwitch) (mtp.Transport, mtp.Address, bool)) {
			broker := start(t)
			const ctrlTopic = "/usp/controller/live"
			ct, err := mqtt.New(broker, ctrlID, mqtt.WithTopic(ctrlTopic), mqtt.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return ct, func(ks *killSwitch) (mtp.Transport, mtp.Address, bool) {
				opts := []mqtt.Option{mqtt.WithTopic("/usp/agent/live"), mqtt.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond), mqttDialer(ks)}
				if will {
					// As a deployment sets Device.MQTT.Client.{i}.WillTopic
					// and WillValue: the agent's endpoint ID to the
					// controller's topic.
					opts = append(opts, mqtt.WithConnectPacket(func(c *paho.Connect) {
						c.WillMessage = &paho.WillMessage{QoS: 1, Topic: ctrlTopic, Payload: []byte(agentID)}
					}))
				}
				at, err := mqtt.New(broker, agentID, opts...)
				if err != nil {
					t.Fatal(err)
				}
				return at, mtp.Address{MTP: mtp.MQTT, To: ctrlTopic}, true
			}
		}
	}
	stompOn := func(start func(testing.TB) string) func(t *testing.T) (mtp.Transport, func(*killSwitch) (mtp.Transport, mtp.Address, bool)) {
		return func(t *testing.T) (mtp.Transport, func(*killSwitch) (mtp.Transport, mtp.Address, bool)) {
			addr := start(t)
			suffix := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
			ctrlDest, agentDest := "/queue/usp-controller-"+suffix, "/queue/usp-agent-"+suffix
			ct, err := stomp.New(addr, ctrlID, stomp.WithDestination(ctrlDest), stomp.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return ct, func(ks *killSwitch) (mtp.Transport, mtp.Address, bool) {
				at, err := stomp.New(addr, agentID, stomp.WithDestination(agentDest), stomp.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond),
					stomp.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) { return ks.dial(ctx, "tcp", addr) }))
				if err != nil {
					t.Fatal(err)
				}
				return at, mtp.Address{MTP: mtp.STOMP, To: ctrlDest}, true
			}
		}
	}
	return []liveBinding{
		{name: "mqtt-embedded", setup: mqttOn(brokertest.StartEmbedded, false)},
		{name: "mqtt-mosquitto", setup: mqttOn(brokertest.StartMosquitto, false)},
		{name: "mqtt-mosquitto-will", will: true, setup: mqttOn(brokertest.StartMosquitto, true)},
		{name: "stomp-rabbitmq", setup: stompOn(brokertest.StartRabbitMQ)},
		{name: "websocket", session: true, setup: func(t *testing.T) (mtp.Transport, func(*killSwitch) (mtp.Transport, mtp.Address, bool)) {
			srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(ctrlID))
			if err != nil {
				t.Fatal(err)
			}
			return srv, func(ks *killSwitch) (mtp.Transport, mtp.Address, bool) {
				cl, err := websocket.NewClient(srv.URL(), agentID, websocket.WithPeerID(ctrlID), websocket.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
					websocket.WithDialer(&gorilla.Dialer{NetDialContext: ks.dial, HandshakeTimeout: 5 * time.Second}))
				if err != nil {
					t.Fatal(err)
				}
				return cl, mtp.Address{MTP: mtp.WebSocket, To: ctrlID}, true
			}
		}},
		{name: "uds", session: true, noDialer: true, setup: func(t *testing.T) (mtp.Transport, func(*killSwitch) (mtp.Transport, mtp.Address, bool)) {
			path := filepath.Join(t.TempDir(), "usp.sock")
			srv, err := uds.NewServer(path, ctrlID)
			if err != nil {
				t.Fatal(err)
			}
			return srv, func(*killSwitch) (mtp.Transport, mtp.Address, bool) {
				cl, err := uds.NewClient(path, agentID, uds.WithRetryInterval(20*time.Millisecond, 200*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				return cl, mtp.Address{MTP: mtp.UDS, To: ctrlID}, false
			}
		}},
	}
}

// TestLivenessPerBinding: over each binding, an agent whose connection
// dies without a goodbye goes offline within the bound of the binding's
// signal (the session, the MQTT Will, two missed heartbeats), comes back
// online when it reconnects, and a quick reconnection causes no event.
func TestLivenessPerBinding(t *testing.T) {
	const hb = time.Second
	const hold = time.Second
	for _, b := range liveBindings() {
		t.Run(b.name, func(t *testing.T) {
			ct, agentSide := b.setup(t)
			cfg := usp.LivenessConfig{Hold: hold}
			if !b.session {
				cfg.Heartbeat = hb
			}
			f := newLiveFixture(t, ct, usp.WithLiveness(cfg))
			c, log, ks := f.c, f.log, f.ks
			var agent *usptest.Agent
			startAgent := func() {
				at, caddr, _ := agentSide(ks)
				agent = f.startAgent(t, at, caddr)
			}
			dialer := !b.noDialer
			kill := func() {
				if dialer {
					ks.kill()
				} else if err := agent.Close(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
			revive := func() {
				if dialer {
					ks.revive()
				} else {
					startAgent()
				}
			}
			startAgent()
			id := e2eAgentID
			chs := log.wait(t, id, 1, 10*time.Second)
			wantChange(t, chs[0], usp.StateUnknown, usp.StateOnline, nil)
			if !b.session {
				waitEntry(t, c, id, func(e usp.InventoryEntry) bool { return e.Heartbeat == hb })
			}

			// A quick reconnection, well within the hold and the
			// heartbeat deadline: no event.
			kill()
			time.Sleep(50 * time.Millisecond)
			revive()
			time.Sleep(2*hb + hb/2 + 500*time.Millisecond)
			if got := log.of(id); len(got) != 1 {
				t.Fatalf("a quick reconnection made changes: %s", describeChanges(got))
			}

			// Killed for good.
			kill()
			killed := time.Now()
			chs = log.wait(t, id, 2, 15*time.Second)
			took := time.Since(killed)
			var bound time.Duration
			switch {
			case b.session:
				wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrAgentGone)
				bound = hold
			case b.will:
				wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrAgentGone)
				bound = hold
			default:
				wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrHeartbeatMissed)
				bound = 2*hb + hb/2
			}
			// Slack for a loaded machine; the bound itself is what the
			// configuration promises.
			if took > bound+1500*time.Millisecond {
				t.Fatalf("offline %v after the kill; the bound is %v", took, bound)
			}
			if b.will || b.session {
				if took < hold-100*time.Millisecond {
					t.Fatalf("offline %v after the kill, before the hold of %v", took, hold)
				}
			}
			// Back.
			revive()
			chs = log.wait(t, id, 3, 15*time.Second)
			wantChange(t, chs[2], usp.StateOffline, usp.StateOnline, nil)
			if _, err := c.Agent(id).GetValue(ctxT(t), "Device.DeviceInfo.SerialNumber"); err != nil {
				t.Fatalf("request after the return: %v", err)
			}
		})
	}
}

// TestNoSubscriberMosquitto: with mqtt.WithNoSubscriberError, the probe
// of an agent whose connection died finds no subscriber at once: the
// agent is offline one hold after the probe, with ErrAgentUnreachable,
// instead of after Misses probe timeouts.
func TestNoSubscriberMosquitto(t *testing.T) {
	broker := brokertest.StartMosquitto(t)
	const ctrlTopic = "/usp/controller/nosub"
	ct, err := mqtt.New(broker, ctrlID, mqtt.WithTopic(ctrlTopic), mqtt.WithQoS(1), mqtt.WithNoSubscriberError())
	if err != nil {
		t.Fatal(err)
	}
	const probe, timeout, hold = 300 * time.Millisecond, 5 * time.Second, 200 * time.Millisecond
	f := newLiveFixture(t, ct, usp.WithLiveness(usp.LivenessConfig{Probe: probe, ProbeTimeout: timeout, Hold: hold}))
	log := f.log
	f.startAgent(t, f.mqttAgent(t, broker, mqtt.WithTopic("/usp/agent/nosub"), mqtt.WithQoS(1)), mtp.Address{MTP: mtp.MQTT, To: ctrlTopic})
	log.wait(t, e2eAgentID, 1, 10*time.Second)
	f.ks.kill()
	killed := time.Now()
	chs := log.wait(t, e2eAgentID, 2, 10*time.Second)
	wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrAgentUnreachable)
	if d := time.Since(killed); d > probe+hold+2*time.Second || d >= timeout {
		t.Fatalf("offline %v after the kill; the broker's answer should beat the probe timeout (%v)", d, timeout)
	}
}

// freezer wraps connections that can go silent without closing: reads
// block and writes vanish, as when a peer's power is cut or a NAT forgets
// the flow. No FIN ever arrives.
type freezer struct {
	frozen chan struct{} // closed when frozen
}

func newFreezer() *freezer { return &freezer{frozen: make(chan struct{})} }

func (f *freezer) freeze() { close(f.frozen) }

func (f *freezer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &frozenConn{Conn: c, f: f}, nil
}

type frozenConn struct {
	net.Conn
	f *freezer
}

// Read drops what arrives once frozen; deadlines and Close still work, as
// on a real connection whose peer went silent.
func (c *frozenConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		select {
		case <-c.f.frozen:
			if err != nil {
				return 0, err
			}
			continue
		default:
		}
		return n, err
	}
}

func (c *frozenConn) Write(p []byte) (int, error) {
	select {
	case <-c.f.frozen:
		return len(p), nil
	default:
	}
	return c.Conn.Write(p)
}

// TestWebSocketSilentPeer: a WebSocket agent that goes silent without
// closing anything is noticed by the server's keep-alive (no pong within
// its timeout) and is offline one hold later.
func TestWebSocketSilentPeer(t *testing.T) {
	const ping, pongTimeout, hold = 100 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(ctrlID), websocket.WithKeepAlive(ping, pongTimeout))
	if err != nil {
		t.Fatal(err)
	}
	lf := newLiveFixture(t, srv, usp.WithLiveness(usp.LivenessConfig{Hold: hold}))
	log := lf.log
	f := newFreezer()
	cl, err := websocket.NewClient(srv.URL(), e2eAgentID, websocket.WithPeerID(ctrlID), websocket.WithBackoff(time.Hour, time.Hour),
		websocket.WithDialer(&gorilla.Dialer{NetDialContext: f.dial, HandshakeTimeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	lf.startAgent(t, cl, mtp.Address{MTP: mtp.WebSocket, To: ctrlID})
	log.wait(t, e2eAgentID, 1, 10*time.Second)
	f.freeze()
	frozen := time.Now()
	chs := log.wait(t, e2eAgentID, 2, 10*time.Second)
	wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrAgentGone)
	if d := time.Since(frozen); d < hold || d > pongTimeout+ping+hold+1500*time.Millisecond {
		t.Fatalf("offline %v after the peer went silent; bound: pong timeout %v + hold %v", d, pongTimeout, hold)
	}
}

// TestWillNeedsVerifiedSender: a Will is a claim like any record's
// from_id. Set up as SECURITY.md's broker recipe (each agent publishes on
// a controller topic named after it, a PeerVerifier checks that), a
// payload naming the agent published on another client's topic leaves
// the agent online; the agent's own Will takes it offline.
func TestWillNeedsVerifiedSender(t *testing.T) {
	broker := brokertest.StartEmbedded(t)
	ct, err := mqtt.New(broker, ctrlID, mqtt.WithTopic("usp/controller/"+ctrlID), mqtt.WithSubscriptions("usp/controller/+"))
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan string, 16)
	verify := func(_ context.Context, from string, in mtp.Inbound) error {
		if in.ReceivedOn.To != "usp/controller/"+from {
			refused <- from + " on " + in.ReceivedOn.To
			return errors.New("published on another client's topic")
		}
		return nil
	}
	f := newLiveFixture(t, ct, usp.WithPeerVerifier(verify), usp.WithLiveness(usp.LivenessConfig{}))
	c, log := f.c, f.log
	own := "usp/controller/" + e2eAgentID
	f.startAgent(t, f.mqttAgent(t, broker, mqtt.WithTopic("usp/agent/"+e2eAgentID),
		mqtt.WithConnectPacket(func(c *paho.Connect) {
			c.WillMessage = &paho.WillMessage{QoS: 1, Topic: own, Payload: []byte(e2eAgentID)}
		})), mtp.Address{MTP: mtp.MQTT, To: own})
	chs := log.wait(t, e2eAgentID, 1, 10*time.Second)
	wantChange(t, chs[0], usp.StateUnknown, usp.StateOnline, nil)

	forger := brokertest.DialPaho(t, broker, "usp/agent/forger")
	if err := forger.Publish(ctxT(t), "usp/controller/forger", "", 1, []byte(e2eAgentID)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-refused:
		if want := e2eAgentID + " on usp/controller/forger"; got != want {
			t.Fatalf("verifier refused %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the forged Will never reached the peer verifier")
	}
	if _, err := c.Agent(e2eAgentID).GetValue(ctxT(t), "Device.DeviceInfo.SerialNumber"); err != nil {
		t.Fatal(err)
	}
	if got := log.of(e2eAgentID); len(got) != 1 {
		t.Fatalf("a Will from an unverified sender changed the agent's state: %s", describeChanges(got))
	}

	f.ks.kill() // the broker publishes the agent's own Will
	chs = log.wait(t, e2eAgentID, 2, 10*time.Second)
	wantChange(t, chs[1], usp.StateOnline, usp.StateOffline, usp.ErrAgentGone)
}
