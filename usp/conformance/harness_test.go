package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp/usptest"
)

const (
	testController = "proto::tp469-equipment"
	testAgent      = "proto::tp469-agent"
)

// transports returns the equipment's transport, the agent's, and the
// address the agent reaches the equipment at, for one binding.
// wireFaults are options for the agent's transport over the kit's broker
// or STOMP tap: a faulty client for the section 6 and 11 cases.
type wireFaults struct {
	mqtt  []mqtt.Option
	stomp []stomp.Option
	// wrapMQTT and wrapWS, when set, stand between usptest and its
	// MQTT or WebSocket transport; wrapWSServer between usptest and its
	// own WebSocket server (websocket-kit).
	wrapMQTT     func(*mqtt.Transport) mtp.Transport
	wrapWS       func(*websocket.Client) mtp.Transport
	wrapWSServer func(*websocket.Server) mtp.Transport
	// ws are options for usptest's WebSocket client; wsPlain makes it
	// dial the kit's server without TLS.
	ws      []websocket.Option
	wsPlain bool
	// wrapSTOMP, when set, stands between usptest and its STOMP
	// transport.
	wrapSTOMP func(*stomp.Transport) mtp.Transport
	// stompTLS, when set, is the tap's TLS server config and the agent's
	// client config (it then connects over TLS).
	stompTLS [2]*tls.Config
	// eq are more options for the equipment (the bulk data receivers).
	eq []Option
	// noTopic leaves the agent's MQTT transport without a topic of its
	// own: it takes the one the kit's broker gives in its CONNACK (11.10).
	noTopic bool
}

// kitCA is the kit's certificate authority and server configuration for
// the tests' WebSocket servers, made once.
var kitCA = sync.OnceValues(func() (*tls.Config, *x509.CertPool) {
	cfg, pool, err := KitCertificates("", "127.0.0.1")
	if err != nil {
		panic(err)
	}
	return cfg, pool
})

func transports(t *testing.T, binding string, f wireFaults) (eqT, agentT mtp.Transport, ctrlAddr mtp.Address, agentAddr []Option, wsURL string) {
	t.Helper()
	switch binding {
	case "memory":
		net := memory.NewNetwork()
		a, err := net.Endpoint(testAgent)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Endpoint(testController)
		if err != nil {
			t.Fatal(err)
		}
		return c, a, mtp.Address{MTP: mtp.Memory, To: testController}, []Option{WithAgentAddress(mtp.Address{MTP: mtp.Memory, To: testAgent})}, ""
	case "mqtt-embedded", "mqtt-mosquitto":
		url := ""
		if binding == "mqtt-embedded" {
			url = brokertest.StartEmbedded(t)
		} else {
			url = brokertest.StartMosquitto(t)
		}
		c, err := mqtt.New(url, testController, mqtt.WithTopic("/usp/controller/tp469"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := mqtt.New(url, testAgent, mqtt.WithTopic("/usp/agent/tp469"))
		if err != nil {
			t.Fatal(err)
		}
		// The agent's topic is learned from its MQTTConnect record.
		return c, a, mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/tp469"}, nil, ""
	case "mqtt-kit", "mqtts-kit":
		var b *MQTTBroker
		var err error
		var tlsOpt mqtt.Option
		if binding == "mqtts-kit" {
			// The agent and the equipment trust the kit's own CA.
			ca, cerr := NewTestCA()
			if cerr != nil {
				t.Fatal(cerr)
			}
			b, err = StartMQTTBrokerTLS("127.0.0.1:0", testController, ca)
			tlsOpt = mqtt.WithTLS(&tls.Config{RootCAs: ca.Pool()})
		} else {
			b, err = StartMQTTBroker("127.0.0.1:0", testController)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		c, err := mqtt.New(b.URL(), testController, mqtt.WithTopic("/usp/controller/tp469"), tlsOpt)
		if err != nil {
			t.Fatal(err)
		}
		// TP-469 11.2's setup gives the agent a user name and password;
		// a Keep Alive other than 11.7's 60 s shows that case's Set work.
		// The retry rule is TR-369's, with a ConnectRetryTime of 1 s and a
		// multiplier of 1.5 so that the cases that reconnect (11.4-11.7,
		// 11.10, 11.11, 11.16) take seconds.
		agentTopic := mqtt.WithTopic("/usp/agent/tp469")
		if f.noTopic {
			agentTopic = nil
		}
		a, err := mqtt.New(b.URL(), testAgent, append([]mqtt.Option{agentTopic, tlsOpt,
			mqtt.WithCredentials("tp469", "secret"), mqtt.WithKeepAlive(45 * time.Second),
			mqtt.WithConnectRetry(mqtt.ConnectRetry{Time: time.Second, Multiplier: 1500, MaxInterval: time.Minute})}, f.mqtt...)...)
		if err != nil {
			t.Fatal(err)
		}
		var agentT mtp.Transport = a
		if f.wrapMQTT != nil {
			agentT = f.wrapMQTT(a)
		}
		return c, agentT, mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/tp469"}, []Option{WithMQTTBroker(b)}, ""
	case "stomp-kit":
		tp, err := StartSTOMPTap("127.0.0.1:0", brokertest.StartRabbitMQ(t), testController)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tp.Close() })
		rabbit := []stomp.Option{stomp.WithCredentials("guest", "guest"), stomp.WithHost("/")}
		// Destinations of this test's own: the RabbitMQ node is shared.
		ctrlDest, agentDest := "/queue/tp469-controller-"+tp.tag, "/queue/tp469-agent-"+tp.tag
		c, err := stomp.New(tp.Addr(), testController, append(rabbit, stomp.WithDestination(ctrlDest))...)
		if err != nil {
			t.Fatal(err)
		}
		// Every connection that came up counts as a success for the
		// retry waits of 6.3, however young the test's connection is.
		agentOpts := append(rabbit, stomp.WithDestination(agentDest), stomp.WithBackoffReset(0))
		if f.stompTLS[0] != nil {
			tp.SetTLS(f.stompTLS[0])
		}
		if f.stompTLS[1] != nil {
			agentOpts = append(agentOpts, stomp.WithTLS(f.stompTLS[1]))
		}
		a, err := stomp.New(tp.Addr(), testAgent, append(agentOpts, f.stomp...)...)
		if err != nil {
			t.Fatal(err)
		}
		var agentT mtp.Transport = a
		if f.wrapSTOMP != nil {
			agentT = f.wrapSTOMP(a)
		}
		return c, agentT, mtp.Address{MTP: mtp.STOMP, To: ctrlDest}, []Option{WithSTOMPTap(tp)}, ""
	case "websocket-kit":
		// The kit's server (ws:// and wss:// on one port) behind its
		// observer; usptest dials it with TLS unless told not to.
		cfg, _ := kitCA()
		ks, err := StartWebSocketServer("127.0.0.1:0", testController, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ks.Close() })
		u := ks.TLSURL()
		if f.wsPlain {
			u = ks.URL()
		}
		return ks.Transport(), nil, mtp.Address{MTP: mtp.WebSocket, To: testController}, []Option{WithWebSocketObserver(ks.Observer())}, u
	case "websocket":
		srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(testController))
		if err != nil {
			t.Fatal(err)
		}
		return srv, nil, mtp.Address{MTP: mtp.WebSocket, To: testController}, nil, ""
	}
	t.Fatalf("unknown binding %s", binding)
	return nil, nil, mtp.Address{}, nil, ""
}

// bench starts a usptest agent and the test equipment over a binding and
// closes both when the test ends.
func bench(t *testing.T, binding string, opts ...usptest.Option) (*Equipment, *usptest.Agent) {
	t.Helper()
	return benchFaulty(t, binding, wireFaults{}, opts...)
}

// benchFaulty is bench with options for the agent's transport.
func benchFaulty(t *testing.T, binding string, f wireFaults, opts ...usptest.Option) (*Equipment, *usptest.Agent) {
	t.Helper()
	eqT, agentT, ctrlAddr, eqOpts, wsURL := transports(t, binding, f)
	eq, err := NewEquipment(eqT, testController, testAgent, append(append(eqOpts, f.eq...), WithResponseTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eq.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if agentT == nil { // WebSocket: the agent dials the equipment
		srv := eqT.(*websocket.Server)
		u := srv.URL()
		if u == "" { // mounted behind the kit's observer
			u = wsURL
		}
		wsOpts := []websocket.Option{websocket.WithPeerID(testController), websocket.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}
		if strings.HasPrefix(u, "wss:") {
			_, pool := kitCA()
			wsOpts = append(wsOpts, websocket.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
		}
		c, err := websocket.NewClient(u, testAgent, append(wsOpts, f.ws...)...)
		if err != nil {
			t.Fatal(err)
		}
		agentT = c
		if f.wrapWS != nil {
			agentT = f.wrapWS(c)
		}
	}
	agentOpts := []usptest.Option{usptest.WithTransport(agentT), usptest.WithController(testController, ctrlAddr)}
	if binding == "websocket-kit" {
		// The agent's own WebSocket server (R-WS.6), which 7.2 dials.
		srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		var st mtp.Transport = srv
		if f.wrapWSServer != nil {
			st = f.wrapWSServer(srv)
		}
		agentOpts = append(agentOpts, usptest.WithTransport(st))
	}
	agent, err := usptest.NewAgent(testAgent, append(agentOpts, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = agent.Close(ctx)
		_ = eq.Close(ctx)
	})
	if _, err := eq.WaitAgent(ctx); err != nil {
		t.Fatal(err)
	}
	seedMTPs(t, agent)
	if binding == "websocket-kit" {
		quickWSRetry(t, agent)
	}
	return eq, agent
}

func memoryBench(t *testing.T, opts ...usptest.Option) (*Equipment, *usptest.Agent) {
	return bench(t, "memory", opts...)
}

// seedMTPs gives usptest the MTP entries a real agent has (its own, and
// the one it reaches the controller by), which 1.66-1.70 look for.
func seedMTPs(t *testing.T, agent *usptest.Agent) {
	t.Helper()
	m := agent.Model()
	ctrls, err := m.Instances("Device.LocalAgent.Controller.")
	if err != nil || len(ctrls) == 0 {
		t.Fatalf("controllers %v %v", ctrls, err)
	}
	for _, table := range []string{"Device.LocalAgent.MTP.", ctrls[0] + "MTP."} {
		if have, _ := m.Instances(table); len(have) > 0 {
			continue
		}
		if _, err := m.AddInstance(table, map[string]string{"Enable": "true", "Protocol": "MQTT"}); err != nil {
			t.Fatal(err)
		}
	}
}

// quickWSRetry sets the shortest session retry wait TR-181 allows (1 s;
// the multiplier stays 2000) for usptest's WebSocket client, so that the
// cases that end its session see it back within seconds.
func quickWSRetry(t *testing.T, agent *usptest.Agent) {
	t.Helper()
	m := agent.Model()
	ctrls, _ := m.Instances("Device.LocalAgent.Controller.")
	for _, c := range ctrls {
		mtps, _ := m.Instances(c + "MTP.")
		for _, p := range mtps {
			if v, _ := m.Get(p + "Protocol"); v == "WebSocket" {
				if err := m.Set(p+"WebSocket.SessionRetryMinimumWaitInterval", "1"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// quickConfig keeps the kit's own waits short for tests.
var quickConfig = Config{QuietPeriod: Duration(500 * time.Millisecond), NotifyTimeout: Duration(5 * time.Second)}

// TestUSPTestConforms runs every implemented case that does not wait by
// design against usptest over the memory transport: each case that applies
// passes. Destructive cases (reboots, deleting every Subscription) run too.
func TestUSPTestConforms(t *testing.T) {
	t.Parallel()
	eq, _ := memoryBench(t)
	cfg := quickConfig
	cfg.AllowDestructive = true
	cfg.RebootTimeout = Duration(20 * time.Second)
	cfg.MaxSlow = Duration(time.Second)
	cfg.FirmwareURL, cfg.FirmwareVersion = "http://192.0.2.1/fw/usptest-2.0.bin", "2.0"
	rep := RunTests(t, eq, cfg, All())
	if rep.Count(Pass) < 80 {
		t.Errorf("only %d cases passed", rep.Count(Pass))
	}
}

// TestSlowCases runs the cases that wait by design (up to two minutes
// each), each against its own agent and all at once (they mostly wait, so
// go test's -parallel limit would only serialise them), then reports each
// as a subtest.
func TestSlowCases(t *testing.T) {
	if testing.Short() {
		t.Skip("the plan's own waits take minutes")
	}
	t.Parallel()
	var slow []*Case
	for _, c := range All() {
		// Section 10 runs in TestBulkData, on a short bulk data second.
		if c.Slow > time.Second && c.Section() != 10 {
			slow = append(slow, c)
		}
	}
	results := make([]*Result, len(slow))
	var wg sync.WaitGroup
	for i, c := range slow {
		eq, _ := memoryBench(t)
		r := &Runner{Equipment: eq, Config: quickConfig}
		env := r.Env(t.Context())
		wg.Go(func() { results[i] = r.RunCase(t.Context(), env, c) })
	}
	wg.Wait()
	for i, c := range slow {
		t.Run(c.ID, func(t *testing.T) {
			res := results[i]
			if res.Verdict != Pass && res.Verdict != Skip {
				t.Errorf("%s: %s\n%s", res.Verdict, res.Reason, TextEvidence(res))
			}
			if len(res.Cleanup) > 0 {
				t.Errorf("cleanup failed: %v", res.Cleanup)
			}
		})
	}
}

// TestUSPTestConformsOverBrokers runs the quick cases over MQTT (embedded
// broker and mosquitto), STOMP (RabbitMQ through the kit's tap) and WebSocket.
func TestUSPTestConformsOverBindings(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"mqtt-kit", "mqtt-mosquitto", "stomp-kit", "websocket-kit"} {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			eq, _ := bench(t, b)
			cfg := quickConfig
			cfg.MaxSlow = Duration(time.Second)
			rep := RunTests(t, eq, cfg, All())
			if rep.Count(Pass) < 80 {
				t.Errorf("only %d cases passed", rep.Count(Pass))
			}
		})
	}
}

// snapshot reads the agent's whole instantiated data model.
func snapshot(t *testing.T, eq *Equipment) map[string]string {
	t.Helper()
	ex := eq.Send(t.Context(), msg.Get{Paths: []string{"Device."}})
	if ex.Err != nil {
		t.Fatal(ex.Err)
	}
	r, err := msg.ParseGetResp(ex.Response)
	if err != nil {
		t.Fatal(err)
	}
	return r.Values()
}

// TestLeavesAgentAsFound checks the kit's cleanup: after the cases that
// change nothing they cannot restore, the agent's data model is what it
// was.
func TestLeavesAgentAsFound(t *testing.T) {
	t.Parallel()
	eq, _ := memoryBench(t)
	before := snapshot(t, eq)
	cfg := quickConfig
	cfg.MaxSlow = Duration(time.Second)
	r := &Runner{Equipment: eq, Config: cfg}
	rep := r.Run(t.Context(), All())
	for _, res := range rep.Results {
		if len(res.Cleanup) > 0 {
			t.Errorf("%s: cleanup failed: %v", res.ID, res.Cleanup)
		}
	}
	sameModel(t, before, snapshot(t, eq))
}

// sameModel reports every difference between two snapshots of the agent's
// model, but for the values that change by themselves (up times, the
// clock): the kit must leave the agent as it found it.
func sameModel(t *testing.T, before, after map[string]string) {
	t.Helper()
	volatile := func(p string) bool {
		return strings.HasSuffix(p, ".UpTime") || strings.HasSuffix(p, "CurrentLocalTime")
	}
	for p, v := range before {
		if w, ok := after[p]; !ok {
			t.Errorf("%s (%q) is gone", p, v)
		} else if w != v && !volatile(p) {
			t.Errorf("%s changed from %q to %q", p, v, w)
		}
	}
	for p, v := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s = %q was left behind", p, v)
		}
	}
}

// TestSessionContextCases runs section 3 against usptest with the session
// context on, declared by the configuration as TP-469 feature 24.
func TestSessionContextCases(t *testing.T) {
	t.Parallel()
	eq, _ := memoryBench(t, usptest.WithSessionContext(usptest.SessionConfig{}))
	cfg := quickConfig
	cfg.Features = map[string]bool{"24": true}
	cs, err := Select(All(), "3")
	if err != nil {
		t.Fatal(err)
	}
	// 3.10 waits a minute for Periodic! events: TestSessionExpiration runs
	// it on request (GOUSP_CONFORMANCE_SLOW=1).
	cs = slices.DeleteFunc(cs, func(c *Case) bool { return c.ID == "3.10" })
	if testing.Short() {
		cfg.MaxSlow = Duration(time.Second)
	}
	rep := RunTests(t, eq, cfg, cs)
	if rep.Count(Pass) < 5 || !rep.OK() {
		t.Errorf("%d of %d passed", rep.Count(Pass), len(cs))
	}
}

// TestSecondController runs 1.78 and 9.9 with a second test equipment
// endpoint on the memory network.
func TestSecondController(t *testing.T) {
	t.Parallel()
	net := memory.NewNetwork()
	ctx := t.Context()
	endpoint := func(name string) *memory.Endpoint {
		ep, err := net.Endpoint(name)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	equipment := func(name string) *Equipment {
		eq, err := NewEquipment(endpoint(name), name, testAgent, WithAgentAddress(mtp.Address{MTP: mtp.Memory, To: testAgent}))
		if err != nil {
			t.Fatal(err)
		}
		if err := eq.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = eq.Close(context.Background()) })
		return eq
	}
	primary, second := equipment(testController), equipment("proto::tp469-second")
	agent, err := usptest.NewAgent(testAgent, usptest.WithTransport(endpoint(testAgent)),
		usptest.WithController(testController, mtp.Address{MTP: mtp.Memory, To: testController}))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close(context.Background()) })
	cs, _ := Select(All(), "1.78", "9.9")
	r := &Runner{Equipment: primary, Secondary: second, Config: quickConfig}
	rep := r.Tests(t, cs)
	for _, res := range rep.Results {
		if res.Verdict != Pass {
			t.Errorf("%s: %s %s", res.ID, res.Verdict, res.Reason)
		}
	}
	var fromSecond bool
	for _, e := range rep.Results[0].Trace {
		fromSecond = fromSecond || strings.Contains(e.Note, "second controller")
	}
	if !fromSecond {
		t.Error("the second controller's records are not in the trace")
	}
}
