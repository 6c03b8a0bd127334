package usp_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// mosquittoACL is the broker recipe of SECURITY.md: each agent connects
// with its endpoint ID as MQTT client ID, reads only usp/agent/<its ID>
// and writes only usp/controller/<its ID>; the controller, user
// usp-controller, reads every usp/controller/ topic and writes every
// usp/agent/ one.
const mosquittoACL = `# agents: confined to topics named after their client ID
pattern read usp/agent/%c
pattern write usp/controller/%c

user usp-controller
topic read usp/controller/#
topic write usp/agent/#
`

// recipeVerifier ties a record's from_id to the topic the broker let it
// be published to, and to the only reply address its sender may give.
func recipeVerifier(_ context.Context, from string, in mtp.Inbound) error {
	if in.ReceivedOn.To != "usp/controller/"+from {
		return fmt.Errorf("%s published on %s", from, in.ReceivedOn.To)
	}
	if !in.ReplyTo.IsZero() && in.ReplyTo.To != "usp/agent/"+from {
		return fmt.Errorf("%s asks for answers on %s", from, in.ReplyTo.To)
	}
	return nil
}

// TestBrokerRecipeMosquitto runs the hostile agent's attacks against a
// real mosquitto confined by the recipe's ACL, with the recipe's
// controller settings: the victim is unaffected by every one.
func TestBrokerRecipeMosquitto(t *testing.T) {
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	writeTestFile(t, acl, mosquittoACL)
	broker := brokertest.NewMosquitto(t, brokertest.MosquittoConfig{Extra: "acl_file " + acl})
	url := broker.URL()

	agentTopic := func(id string) string { return "usp/agent/" + id }
	ctrlTopicOf := func(id string) string { return "usp/controller/" + id }
	ct, err := mqtt.New(url, ctrlID,
		mqtt.WithClientID("usp-controller"), mqtt.WithCredentials("usp-controller", "unused"),
		mqtt.WithTopic("usp/controller/"+ctrlID), mqtt.WithSubscriptions("usp/controller/+"),
		mqtt.WithResponseTopicFor(func(to string) string {
			if id, ok := strings.CutPrefix(to, "usp/agent/"); ok {
				return ctrlTopicOf(id)
			}
			return ""
		}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logCounter{n: make(map[string]int)}
	c, err := usp.NewController(ctrlID, usp.WithTransport(ct), usp.WithPeerVerifier(recipeVerifier), usp.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })

	at, err := mqtt.New(url, victimID, mqtt.WithClientID(victimID), mqtt.WithTopic(agentTopic(victimID)))
	if err != nil {
		t.Fatal(err)
	}
	victim, err := usptest.NewAgent(victimID, usptest.WithTransport(at),
		usptest.WithController(ctrlID, mtp.Address{MTP: mtp.MQTT, To: ctrlTopicOf(victimID)}), usptest.WithoutBootSubscription())
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Close(context.Background()) })
	waitUntil(t, func() bool { info, ok := c.AgentInfo(victimID); return ok && info.Connected })
	truth, err := c.Agent(victimID).GetValue(ctxT(t), truePath)
	if err != nil {
		t.Fatal(err)
	}

	// The attacker connects under its own client ID.
	evil := brokertest.DialPahoAs(t, url, attackerID, agentTopic(attackerID))
	publish := func(topic, responseTopic string, rec *usprecord.Record) {
		t.Helper()
		b, err := record.Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		// A publish the ACL forbids may fail or be dropped silently;
		// either way it must not reach the controller as the victim.
		_ = evil.Publish(ctxT(t), topic, responseTopic, 1, b)
	}
	notify, _ := proto.Marshal(msg.Notify{SubscriptionID: "x", SendResp: true, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n-1"))

	// 1. Publish as the victim on the victim's topic: the broker refuses.
	publish(ctrlTopicOf(victimID), agentTopic(victimID), record.NewNoSessionContext("1.3", ctrlID, victimID, notify))
	// 2-4. On its own topic, claiming the victim: the verifier refuses,
	// whatever reply address it gives.
	publish(ctrlTopicOf(attackerID), agentTopic(attackerID), record.NewMQTTConnect("1.3", ctrlID, victimID, usprecord.MQTTConnectRecord_V5, agentTopic(attackerID)))
	publish(ctrlTopicOf(attackerID), agentTopic(victimID), record.NewNoSessionContext("1.3", ctrlID, victimID, notify))
	publish(ctrlTopicOf(attackerID), agentTopic(victimID), record.NewDisconnect("1.3", ctrlID, victimID, "bye", 7105))
	waitUntil(t, func() bool { return logs.count(logRefused) >= 3 })
	// 5. Eavesdropping on the victim's topic: mosquitto may grant the
	// subscription, but its read ACL delivers nothing on it (checked
	// below, after a request to the victim).
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = evil.Client().Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: agentTopic(victimID), QoS: 1}}})

	info, _ := c.AgentInfo(victimID)
	if info.Address.To != agentTopic(victimID) || !info.Connected {
		t.Fatalf("victim's entry changed: %+v", info)
	}
	if got, err := c.Agent(victimID).GetValue(ctxT(t), truePath); err != nil || got != truth {
		t.Fatalf("victim's value %q, %v; want %q", got, err, truth)
	}
	// The attacker saw none of the victim's traffic.
	rctx, rcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer rcancel()
	if m, err := evil.Receive(rctx); err == nil {
		t.Errorf("the attacker received a message on %s", m.Topic)
	}
	// The attacker itself is served normally on its own topics.
	b, _ := record.Encode(record.NewMQTTConnect("1.3", ctrlID, attackerID, usprecord.MQTTConnectRecord_V5, agentTopic(attackerID)))
	if err := evil.Publish(ctxT(t), ctrlTopicOf(attackerID), agentTopic(attackerID), 1, b); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { _, ok := c.AgentInfo(attackerID); return ok })
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
