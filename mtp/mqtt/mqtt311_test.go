package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// TestMQTT311PeerVersion: what a peer's MQTTConnect record says decides the
// topic of the very first send to it, before any record from it came with
// a reply-to suffix.
func TestMQTT311PeerVersion(t *testing.T) {
	url := brokertest.StartMosquitto(t)
	ctl, _, _ := start(t, url, "proto::ctl", mqtt.WithTopic("usp/ctl"))
	legacy := brokertest.DialMQTT311(t, url, "legacy-agent")
	if err := legacy.Subscribe("usp/agent/legacy/#", 1); err != nil {
		t.Fatal(err)
	}
	to := mtp.Address{MTP: mqtt.Kind, To: "usp/agent/legacy"}
	ctl.SetPeerVersion(to, "3.1.1")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := ctl.Send(ctx, to, []byte("get")); err != nil {
		t.Fatal(err)
	}
	topic, payload, err := legacy.Receive(wait)
	if err != nil {
		t.Fatal(err)
	}
	if topic != "usp/agent/legacy/reply-to=usp%2Fctl" || string(payload) != "get" {
		t.Fatalf("3.1.1 agent got %q on %q", payload, topic)
	}
	if err := ctl.NoAnswerReason(to); err != nil {
		t.Errorf("NoAnswerReason with the default subscriptions = %v", err)
	}

	// The agent moved to an MQTT 5 client: plain topic again.
	ctl.SetPeerVersion(to, "5.0")
	if err := ctl.Send(ctx, to, []byte("get2")); err != nil {
		t.Fatal(err)
	}
	if topic, payload, err = legacy.Receive(wait); err != nil {
		t.Fatal(err)
	}
	if topic != "usp/agent/legacy" || string(payload) != "get2" {
		t.Fatalf("after version 5.0 the agent got %q on %q", payload, topic)
	}
	// Unknown versions and other bindings' addresses change nothing.
	ctl.SetPeerVersion(to, "3.1")
	ctl.SetPeerVersion(mtp.Address{MTP: mtp.STOMP, To: "usp/agent/legacy"}, "3.1.1")
	if err := ctl.Send(ctx, to, []byte("get3")); err != nil {
		t.Fatal(err)
	}
	if topic, _, err = legacy.Receive(wait); err != nil || topic != "usp/agent/legacy" {
		t.Fatalf("got topic %q, %v; want the plain topic", topic, err)
	}
}

// TestWithoutMQTT311Peers: with the default turned off, suffixed records
// do not arrive, and a peer known to be 3.1.1 gets a reason that names the
// option.
func TestWithoutMQTT311Peers(t *testing.T) {
	url := brokertest.StartMosquitto(t)
	ctl, rec, _ := start(t, url, "proto::ctl", mqtt.WithTopic("usp/ctl"), mqtt.WithoutMQTT311Peers())
	legacy := brokertest.DialMQTT311(t, url, "legacy-agent")
	if err := legacy.Publish(mqtt.JoinReplyTo("usp/ctl", "usp/agent/legacy"), []byte("boot")); err != nil {
		t.Fatal(err)
	}
	rec.NoRecord(300 * time.Millisecond)

	to := mtp.Address{MTP: mqtt.Kind, To: "usp/agent/legacy"}
	if err := ctl.NoAnswerReason(to); err != nil {
		t.Errorf("NoAnswerReason for a peer not known to be 3.1.1 = %v", err)
	}
	ctl.SetPeerVersion(to, "3.1.1")
	err := ctl.NoAnswerReason(to)
	if !errors.Is(err, mqtt.ErrNo311Subscription) || !strings.Contains(err.Error(), "WithoutMQTT311Peers") ||
		!strings.Contains(err.Error(), "usp/ctl/reply-to=usp%2Fagent%2Flegacy") {
		t.Errorf("NoAnswerReason = %v", err)
	}
}

// TestMQTT311SubscriptionRefused: a broker whose ACL grants our topic but
// refuses the suffixed filter below it still lets the transport up, and a
// request to a 3.1.1 peer then explains the silence. (mosquitto grants
// every SUBSCRIBE and applies its ACL when delivering, so it cannot tell
// us; the embedded broker refuses in the SUBACK, as many brokers do.)
func TestMQTT311SubscriptionRefused(t *testing.T) {
	m := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{
		ACL: func(_, topic string, _ bool) bool { return !strings.HasSuffix(topic, "/+") },
	})
	ctl, _, _ := start(t, m.URL(), "proto::ctl", mqtt.WithTopic("usp/ctl"))
	to := mtp.Address{MTP: mqtt.Kind, To: "usp/agent/legacy"}
	ctl.SetPeerVersion(to, "3.1.1")
	err := ctl.NoAnswerReason(to)
	if !errors.Is(err, mqtt.ErrNo311Subscription) || !strings.Contains(err.Error(), "broker refused the subscription to usp/ctl/+") {
		t.Errorf("NoAnswerReason = %v", err)
	}
	// A v5 peer is not concerned.
	if err := ctl.NoAnswerReason(mtp.Address{MTP: mqtt.Kind, To: "usp/agent/v5"}); err != nil {
		t.Errorf("NoAnswerReason for a v5 peer = %v", err)
	}
}

// TestMQTT311PeersBounded: the 3.1.1 peers remembered are bounded by the
// bytes of their topics (16 MiB), and a peer that turns out to speak MQTT 5
// frees its room. (NoAnswerReason, with the suffixed subscriptions off,
// tells which peers are remembered as 3.1.1.)
func TestMQTT311PeersBounded(t *testing.T) {
	ctl, _, _ := start(t, brokertest.StartEmbedded(t), "proto::ctl", mqtt.WithTopic("usp/ctl"), mqtt.WithoutMQTT311Peers())
	peer := func(i int) mtp.Address {
		p := fmt.Sprintf("agent/%d/", i)
		return mtp.Address{MTP: mqtt.Kind, To: p + strings.Repeat("x", 65535-len(p))}
	}
	known := func(i int) bool { return ctl.NoAnswerReason(peer(i)) != nil }
	for i := range 256 { // 256 topics of 65535 bytes: just under 16 MiB
		ctl.SetPeerVersion(peer(i), "3.1.1")
	}
	if !known(0) || !known(255) {
		t.Fatal("peers below the bound were not remembered")
	}
	ctl.SetPeerVersion(peer(256), "3.1.1")
	if known(256) {
		t.Fatal("a peer past the bound was remembered")
	}
	ctl.SetPeerVersion(peer(7), "5.0")
	ctl.SetPeerVersion(peer(256), "3.1.1")
	if known(7) || !known(256) {
		t.Fatalf("after peer 7 turned out to be MQTT 5: known(7) = %v, known(256) = %v", known(7), known(256))
	}
}
