package mqtt_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// TestLeanConnection runs the transport tests again with
// mqtt.WithLeanConnection (fastOpts and newTransport add it to every
// transport a test makes under this name), so that both connection modes
// meet the same behaviour: events, send errors, reconnection, the packet
// guard, Receive Maximum, MQTT 3.1.1 peers, TLS, Close.
func TestLeanConnection(t *testing.T) { runModeSuite(t) }

// TestMinimalClient runs the same tests with mqtt.WithMinimalClient, the
// transport's own one-goroutine client (see modeOpts).
func TestMinimalClient(t *testing.T) { runModeSuite(t) }

// TestPahoClient runs them with mqtt.WithPahoClient, on autopaho and
// paho's client; the tests outside these suites run on the transport's own
// client, the default (mqtt.WithOwnClient).
func TestPahoClient(t *testing.T) { runModeSuite(t) }

// runModeSuite runs the transport tests under t, whose name picks the
// connection mode (modeOpts).
func runModeSuite(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"RoundTrip", TestRoundTrip},
		{"BinaryRecordIntact", TestBinaryRecordIntact},
		{"WireProperties", TestWireProperties},
		{"ConnackResponseInfoAndSubscribeTopic", TestConnackResponseInfoAndSubscribeTopic},
		{"WildcardResponseInfoIgnored", TestWildcardResponseInfoIgnored},
		{"NoTopicFailsStart", TestNoTopicFailsStart},
		{"ContentTypes", TestContentTypes},
		{"SendErrors", TestSendErrors},
		{"Lifecycle", TestLifecycle},
		{"StartTimesOutWithoutBroker", TestStartTimesOutWithoutBroker},
		{"OversizedInboundDropped", TestOversizedInboundDropped},
		{"TLS", TestTLS},
		{"NewHostPort", TestNewHostPort},
		{"ReceiveMaximum", TestReceiveMaximum},
		{"ConcurrentSendsKeepPacketsWhole", TestConcurrentSendsKeepPacketsWhole},
		{"SendFailsWhenConnectionDropsMidPublish", TestSendFailsWhenConnectionDropsMidPublish},
		{"NoSubscriberError", TestNoSubscriberError},
		{"BrokerRestart", TestBrokerRestart},
		{"RestartMidStream", TestRestartMidStream},
		{"MalformedPackets", TestMalformedPackets},
		{"BrokerRefusesSubscription", TestBrokerRefusesSubscription},
		{"BrokerStopsAnswering", TestBrokerStopsAnswering},
		{"KeepAliveHoldsIdleConnection", TestKeepAliveHoldsIdleConnection},
		{"ShortLivedConnectionsBackOff", TestShortLivedConnectionsBackOff},
		{"MQTT311PeerVersion", TestMQTT311PeerVersion},
		{"WithoutMQTT311Peers", TestWithoutMQTT311Peers},
		{"MQTT311SubscriptionRefused", TestMQTT311SubscriptionRefused},
		{"MQTT311PeersBounded", TestMQTT311PeersBounded},
		{"SharedSubscriptionScaleOut", TestSharedSubscriptionScaleOut},
		{"MQTT311Agent", TestMQTT311Agent},
		{"SendHonoursContextWhenBrokerStopsReading", TestSendHonoursContextWhenBrokerStopsReading},
		{"LeanGoroutines", testLeanGoroutines},
	} {
		if tc.name == "LeanGoroutines" && strings.HasPrefix(t.Name()+"/", pahoPrefix) {
			continue // autopaho is not lean
		}
		t.Run(tc.name, tc.fn)
	}
}

// TestOwnClientGoroutines: while Up, a transport on its own client (the
// default) runs two goroutines, the reader and the delivery goroutine.
func TestOwnClientGoroutines(t *testing.T) { testLeanGoroutines(t) }

// testLeanGoroutines: while Up, a lean transport runs paho's three
// goroutines and nothing else (the point of the mode), a minimal one its
// reader alone, one on its own client (the default) two; the broker is
// mosquitto, in a process of its own, so that every goroutine counted is
// the transports'.
func testLeanGoroutines(t *testing.T) {
	if strings.HasPrefix(t.Name(), pahoPrefix) {
		t.Fatal("autopaho is not a lean mode")
	}
	url := brokertest.StartMosquitto(t)
	before := runtime.NumGoroutine()
	const n = 10
	var trs []*mqtt.Transport
	for i := range n {
		tr, _, _ := start(t, url, "proto::lean", mqtt.WithTopic("lean/"+string(rune('a'+i))))
		trs = append(trs, tr)
	}
	// paho's reader, pinger and delivery goroutines per connection; a
	// little slack for goroutines that are still ending (the
	// supervisors, which return right after Up).
	perConn := 3
	switch {
	case strings.HasPrefix(t.Name(), minimalPrefix):
		perConn = 1
	case !strings.HasPrefix(t.Name(), leanPrefix):
		perConn = 2 // the reader and the delivery goroutine
	}
	want := perConn * n
	deadline := time.Now().Add(wait)
	var got int
	for {
		got = runtime.NumGoroutine() - before
		if got <= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got > want {
		t.Fatalf("%d lean transports Up run %d goroutines, want at most %d (%d each)", n, got, want, perConn)
	}
	// And still work: a record from one to the next.
	send(t, trs[0], "lean/b", "hello")
	for _, tr := range trs {
		if err := tr.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if tr := trs[0]; tr.State() != mtp.Closed {
		t.Fatalf("state after Close = %v", tr.State())
	}
}

// TestLeanRejectsPahoConfig: WithPahoConfig adjusts autopaho, which lean
// mode does not run; New says so rather than ignore it.
func TestLeanRejectsPahoConfig(t *testing.T) {
	_, err := mqtt.New("mqtt://127.0.0.1:1", "proto::x", mqtt.WithTopic("x"), mqtt.WithLeanConnection(),
		mqtt.WithPahoConfig(func(*autopaho.ClientConfig) {}))
	if err == nil {
		t.Fatal("New accepted WithPahoConfig with WithLeanConnection")
	}
	if _, err := mqtt.New("mqtt://127.0.0.1:1", "proto::x", mqtt.WithTopic("x"),
		mqtt.WithPahoConfig(func(*autopaho.ClientConfig) {})); err != nil {
		t.Fatalf("WithPahoConfig without lean mode: %v", err)
	}
}

// TestHandlerMaySend: on the default connection (the transport's own
// client), WithOwnClient and WithPahoClient, a handler may send on its own
// transport and wait for the PUBACK, because the reader goes on reading
// while the handler runs; the minimal client, which delivers on its
// reader, documents that it must not. Several records in a row, so that
// the later ones queue behind a handler that is waiting.
func TestHandlerMaySend(t *testing.T) {
	for name, opts := range map[string][]mqtt.Option{
		"default":  nil,
		"own":      {mqtt.WithOwnClient()},
		"autopaho": {mqtt.WithPahoClient()},
	} {
		t.Run(name, func(t *testing.T) { testHandlerMaySend(t, opts) })
	}
}

func testHandlerMaySend(t *testing.T, opts []mqtt.Option) {
	url := brokertest.StartEmbedded(t)
	peer, peerRec, _ := start(t, url, "proto::peer", mqtt.WithTopic("own/peer"))
	defer peer.Close(context.Background())

	tr, err := mqtt.New(url, "proto::own", append(opts, mqtt.WithTopic("own/ctl"), mqtt.WithQoS(1),
		mqtt.WithLogger(testLogger(t)))...)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 16)
	h := mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sent <- tr.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: "own/peer"}, append([]byte("echo "), in.Data...))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	const n = 5
	for i := range n {
		send(t, peer, "own/ctl", string(rune('a'+i)))
	}
	for range n {
		select {
		case err := <-sent:
			if err != nil {
				t.Fatalf("a handler's Send: %v", err)
			}
		case <-time.After(wait):
			t.Fatal("a handler's Send did not complete: the reader stopped while the handler ran")
		}
	}
	for i := range n {
		if got := string(peerRec.Record().Data); got != "echo "+string(rune('a'+i)) {
			t.Fatalf("record %d at the peer: %q", i, got)
		}
	}
}

// TestPahoClientExclusive: WithPahoClient and a lean mode contradict each
// other, in either order.
func TestPahoClientExclusive(t *testing.T) {
	for _, opts := range [][]mqtt.Option{
		{mqtt.WithPahoClient(), mqtt.WithOwnClient()},
		{mqtt.WithMinimalClient(), mqtt.WithPahoClient()},
		{mqtt.WithPahoClient(), mqtt.WithLeanConnection()},
	} {
		if _, err := mqtt.New("mqtt://127.0.0.1:1", "proto::x", append(opts, mqtt.WithTopic("x"))...); err == nil {
			t.Error("New accepted WithPahoClient with a lean mode")
		}
	}
	if _, err := mqtt.New("mqtt://127.0.0.1:1", "proto::x", mqtt.WithTopic("x"), mqtt.WithPahoClient()); err != nil {
		t.Fatalf("WithPahoClient alone: %v", err)
	}
}
