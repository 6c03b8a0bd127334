package mqtt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp/mqtt"
)

// TestRuntimeSubscriptions checks Subscribe and Unsubscribe on a running
// transport, against both brokers: records published to an added filter
// arrive, and none after it is removed; Settings reports the identifier
// the broker assigned.
func TestRuntimeSubscriptions(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			url := b.start(t)
			agent, agentRec, _ := start(t, url, "proto::agent", mqtt.WithTopic("usp/agent/rt"))
			ctl, _, _ := start(t, url, "proto::controller", mqtt.WithTopic("usp/controller/rt"))
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()

			s := agent.Settings()
			if s.ClientID == "" {
				t.Error("Settings().ClientID is empty after a CONNACK that assigned one")
			}
			if s.Topic != "usp/agent/rt" || s.KeepAlive != mqtt.DefaultKeepAlive || s.Broker == nil {
				t.Errorf("Settings() = %+v", s)
			}

			if err := agent.Subscribe(ctx, "usp/extra/rt", 0); err != nil {
				t.Fatal(err)
			}
			send(t, ctl, "usp/extra/rt", "on the added topic")
			if in := agentRec.Record(); string(in.Data) != "on the added topic" || in.ReceivedOn.To != "usp/extra/rt" {
				t.Fatalf("got %q on %v", in.Data, in.ReceivedOn)
			}

			if err := agent.Unsubscribe(ctx, "usp/extra/rt"); err != nil {
				t.Fatal(err)
			}
			// The broker keeps one publisher's order: once the second
			// record is in, the first would have been delivered before it.
			send(t, ctl, "usp/extra/rt", "after unsubscribing")
			send(t, ctl, "usp/agent/rt", "on the own topic")
			if in := agentRec.Record(); string(in.Data) != "on the own topic" {
				t.Fatalf("got %q on %v after unsubscribing", in.Data, in.ReceivedOn)
			}

			if err := agent.Subscribe(ctx, "usp/#/bad", 0); err == nil {
				t.Error("Subscribe accepted a malformed filter")
			}
			if err := agent.Subscribe(ctx, "usp/extra/rt", 2); err == nil {
				t.Error("Subscribe accepted QoS 2")
			}
			if err := agent.Unsubscribe(ctx, "usp/agent/rt"); err != nil || errors.Is(err, mqtt.ErrSubscriptionRefused) {
				t.Errorf("Unsubscribe of the own topic: %v", err)
			}
			send(t, ctl, "usp/agent/rt", "own topic kept")
			if in := agentRec.Record(); string(in.Data) != "own topic kept" {
				t.Fatalf("got %q", in.Data)
			}
		})
	}
}

// TestRuntimeSettings: SetClientID and SetKeepAlive show in Settings (they
// apply from the next connection) and bad values are refused.
func TestRuntimeSettings(t *testing.T) {
	tr, err := mqtt.New("mqtt://127.0.0.1:1", "proto::agent", mqtt.WithTopic("usp/agent/s"), mqtt.WithClientID("first"))
	if err != nil {
		t.Fatal(err)
	}
	if s := tr.Settings(); s.ClientID != "first" || s.Broker.Host != "127.0.0.1:1" {
		t.Fatalf("Settings() = %+v", s)
	}
	tr.SetClientID("")
	if err := tr.SetKeepAlive(30*time.Second + 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s := tr.Settings(); s.ClientID != "" || s.KeepAlive != 30*time.Second {
		t.Errorf("Settings() = %+v, want no client ID and 30s", s)
	}
	for _, d := range []time.Duration{-time.Second, 65536 * time.Second} {
		if err := tr.SetKeepAlive(d); err == nil {
			t.Errorf("SetKeepAlive(%v) accepted", d)
		}
	}
}
