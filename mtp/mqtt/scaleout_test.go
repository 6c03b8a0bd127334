package mqtt_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// TestSharedSubscriptionScaleOut runs two controller processes that share
// one endpoint ID and topic: unsolicited records reach exactly one of them,
// and each gets the answers to its own requests.
func TestSharedSubscriptionScaleOut(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			url := b.start(t)
			shared := []mqtt.Option{mqtt.WithTopic("usp/controller"), mqtt.WithSharedSubscription("controllers")}
			c1, rec1, up1 := start(t, url, "proto::controller", append(shared, mqtt.WithClientID("controller-1"))...)
			c2, rec2, up2 := start(t, url, "proto::controller", append(shared, mqtt.WithClientID("controller-2"))...)
			if up1.Local == up2.Local {
				t.Fatalf("both instances reply on %v", up1.Local)
			}
			for _, up := range []mtp.Event{up1, up2} {
				if !strings.HasPrefix(up.Local.To, "usp/controller/reply/") {
					t.Errorf("instance reply topic %q", up.Local.To)
				}
			}
			agent, agentRec, _ := start(t, url, "proto::agent", mqtt.WithTopic("usp/agent"))

			// Unsolicited traffic: each record reaches one instance.
			const n = 40
			for i := range n {
				send(t, agent, "usp/controller", fmt.Sprintf("notify %d", i))
			}
			brokertest.Compete(t, n, rec1, rec2)
			if agentRec.InFlight() != 0 {
				t.Error("handler still running")
			}

			// Requests: answers go back to the instance that asked.
			for i, c := range []*mqtt.Transport{c1, c2} {
				mine, other := rec1, rec2
				if i == 1 {
					mine, other = rec2, rec1
				}
				send(t, c, "usp/agent", fmt.Sprintf("get from %d", i))
				req := agentRec.Record()
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				if err := agent.Send(ctx, req.ReplyTo, []byte("resp to "+string(req.Data))); err != nil {
					t.Fatal(err)
				}
				cancel()
				if got := mine.Record(); string(got.Data) != fmt.Sprintf("resp to get from %d", i) {
					t.Fatalf("instance %d got %q", i, got.Data)
				}
				other.NoRecord(100 * time.Millisecond)
			}
		})
	}
}

// TestMQTT311Agent talks to an agent whose client speaks MQTT 3.1.1 only:
// it sends with the reply-to suffix, and is answered with one.
func TestMQTT311Agent(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			url := b.start(t)
			// No option: 3.1.1 peers are served by default.
			ctl, rec, _ := start(t, url, "proto::ctl", mqtt.WithTopic("usp/ctl"))
			legacy := brokertest.DialMQTT311(t, url, "legacy-agent")
			// The 3.1.1 agent subscribes to a wildcard filter below its
			// topic (TR-369 R-MQTT.15, last bullet).
			if err := legacy.Subscribe("usp/agent/legacy/#", 1); err != nil {
				t.Fatal(err)
			}
			if err := legacy.Publish(mqtt.JoinReplyTo("usp/ctl", "usp/agent/legacy"), []byte("notify")); err != nil {
				t.Fatal(err)
			}
			in := rec.Record()
			if string(in.Data) != "notify" || in.ReplyTo != (mtp.Address{MTP: mqtt.Kind, To: "usp/agent/legacy"}) {
				t.Fatalf("got %q reply-to %v", in.Data, in.ReplyTo)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := ctl.Send(ctx, in.ReplyTo, []byte("notify-resp")); err != nil {
				t.Fatal(err)
			}
			topic, payload, err := legacy.Receive(wait)
			if err != nil {
				t.Fatal(err)
			}
			if topic != "usp/agent/legacy/reply-to=usp%2Fctl" || string(payload) != "notify-resp" {
				t.Fatalf("3.1.1 agent got %q on %q", payload, topic)
			}

			// A v5 peer on the same broker keeps getting plain topics.
			v5 := brokertest.DialPaho(t, url, "usp/agent/v5")
			if err := v5.Publish(ctx, "usp/ctl", "usp/agent/v5", 1, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			in = rec.Record()
			if err := ctl.Send(ctx, in.ReplyTo, []byte("answer")); err != nil {
				t.Fatal(err)
			}
			m, err := v5.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Topic != "usp/agent/v5" || m.Properties.ResponseTopic != "usp/ctl" {
				t.Fatalf("v5 peer got topic %q response topic %q", m.Topic, m.Properties.ResponseTopic)
			}
		})
	}
}
