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
		t.Run(tc.name, tc.fn)
	}
}

// testLeanGoroutines: while Up, a lean transport runs paho's three
// goroutines and nothing else (the point of the mode), a minimal one its
// reader alone; the broker is
// mosquitto, in a process of its own, so that every goroutine counted is
// the transports'.
func testLeanGoroutines(t *testing.T) {
	if len(modeOpts(t)) == 0 {
		t.Fatal("not run in lean mode")
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
	if strings.HasPrefix(t.Name(), minimalPrefix) {
		perConn = 1
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
