package conformance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/websocket"
)

// TestMQTTCasesOverKitBroker runs section 11 against usptest connected to
// the kit's own broker: every case passes. Over an external broker the
// same cases say they need the kit's broker.
func TestMQTTCasesOverKitBroker(t *testing.T) {
	t.Parallel()
	cs, err := Select(All(), "11")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("kit broker", func(t *testing.T) {
		t.Parallel()
		eq, _ := bench(t, "mqtt-kit")
		cfg, want := quickConfig, len(cs)
		if testing.Short() {
			cfg.MaxSlow = Duration(time.Second) // 11.7 waits 45 s
			want--
		}
		rep := RunTests(t, eq, cfg, cs)
		if rep.Count(Pass) != want {
			t.Errorf("%d of %d section 11 cases passed", rep.Count(Pass), want)
		}
	})
	t.Run("external broker", func(t *testing.T) {
		t.Parallel()
		eq, _ := bench(t, "mqtt-embedded")
		r := &Runner{Equipment: eq, Config: quickConfig}
		for _, res := range r.Run(t.Context(), cs).Results {
			if res.ID == "11.1" { // reads the data model, not the wire
				if res.Verdict != Pass {
					t.Errorf("11.1: %s (%s)", res.Verdict, res.Reason)
				}
				continue
			}
			if res.Verdict != NeedsOperator || res.Reason == "" || !strings.Contains(res.Reason, "needs the kit's broker") {
				t.Errorf("%s: %s (%s), want needs-operator: needs the kit's broker", res.ID, res.Verdict, res.Reason)
			}
		}
	})
}

// TestBrokenMQTTAgentFails gives usptest an MQTT client that breaks one
// rule each and checks that the matching case fails on the right metric.
func TestBrokenMQTTAgentFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, id string
		metric   int
		detail   string
		opts     []mqtt.Option
	}{
		{"no endpoint ID property", "11.2", 3, "want usp-endpoint-id", []mqtt.Option{mqtt.WithConnectPacket(func(c *paho.Connect) {
			c.Properties.User = nil
		})}},
		{"no Request Response Information", "11.8", 1, "Request Response Information absent", []mqtt.Option{mqtt.WithConnectPacket(func(c *paho.Connect) {
			c.Properties.RequestResponseInfo = false
		})}},
		{"wrong Response Topic", "11.12", 2, `Response Topic "elsewhere"`, []mqtt.Option{mqtt.WithResponseTopicFor(func(string) string { return "elsewhere" })}},
		// The assigned identifier is not reused: each CONNECT asks anew.
		{"ClientID not kept", "11.5", 1, `the new CONNECT's ""`, []mqtt.Option{mqtt.WithConnectPacket(func(c *paho.Connect) {
			c.ClientID = ""
		})}},
		{"Subscription object without SUBSCRIBE", "11.9", 1, `no SUBSCRIBE to "newTopic-11-9"`, nil},
		{"ClientID never empty", "11.4", 1, `the new CONNECT's ClientID is "fixed-id"`, []mqtt.Option{mqtt.WithConnectPacket(func(c *paho.Connect) {
			c.ClientID = "fixed-id"
		})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := wireFaults{mqtt: tc.opts}
			if tc.opts == nil {
				f.wrapMQTT = func(tr *mqtt.Transport) mtp.Transport { return idleSubscriber{tr} }
			}
			eq, _ := benchFaulty(t, "mqtt-kit", f)
			res := runOne(t, eq, tc.id, nil)
			if res.Verdict != Fail {
				t.Fatalf("%s: verdict %s (%s), want fail\n%s", res.ID, res.Verdict, res.Reason, TextEvidence(res))
			}
			failed := res.Failed()
			if len(failed) == 0 || failed[0].Metric != tc.metric || !strings.Contains(failed[0].Detail, tc.detail) {
				t.Errorf("%s: failed criteria %+v, want metric %d with %q", res.ID, failed, tc.metric, tc.detail)
			}
			if len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "CONNECT") {
				t.Errorf("%s: no wire evidence in notes %q", res.ID, res.Notes)
			}
		})
	}
}

// TestSTOMPCasesOverKitTap runs section 6 against usptest on RabbitMQ
// through the kit's STOMP tap: every case passes; a client that sends the
// wrong reply-to-dest fails 6.4 and 6.5.
func TestSTOMPCasesOverKitTap(t *testing.T) {
	t.Parallel()
	cs, err := Select(All(), "6")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformant", func(t *testing.T) {
		t.Parallel()
		eq, _ := bench(t, "stomp-kit")
		cfg := quickConfig
		cfg.MaxSlow = Duration(time.Second) // 6.8 runs in TestSTOMPHeartBeat
		rep := RunTests(t, eq, cfg, cs)
		// 6.8 runs in TestSTOMPHeartBeat, 6.11 over TLS in TestSTOMPTLS.
		if rep.Count(Pass) != len(cs)-2 || rep.Count(Skip) != 1 || rep.Count(NeedsOperator) != 1 {
			t.Errorf("%d of %d section 6 cases passed, %d skipped (6.8), %d need an operator (6.11)",
				rep.Count(Pass), len(cs), rep.Count(Skip), rep.Count(NeedsOperator))
		}
	})
	t.Run("wrong reply-to-dest", func(t *testing.T) {
		t.Parallel()
		// The STOMPConnect record (the first SEND) names the right
		// destination, so the equipment can reach the agent; every later
		// SEND names a wrong one.
		var sends atomic.Int32
		wrong := stomp.WithReplyToDestFor(func(string) string {
			if sends.Add(1) == 1 {
				return ""
			}
			return "/queue/nowhere"
		})
		eq, _ := benchFaulty(t, "stomp-kit", wireFaults{stomp: []stomp.Option{wrong}})
		for _, tc := range []struct {
			id     string
			metric int
		}{{"6.4", 3}, {"6.5", 2}} {
			res := runOne(t, eq, tc.id, nil)
			if res.Verdict != Fail {
				t.Fatalf("%s: verdict %s (%s), want fail\n%s", res.ID, res.Verdict, res.Reason, TextEvidence(res))
			}
			f := res.Failed()
			if len(f) == 0 || f[0].Metric != tc.metric || !strings.Contains(f[0].Detail, `reply-to-dest "/queue/nowhere"`) {
				t.Errorf("%s: failed criteria %+v", res.ID, f)
			}
			if !strings.Contains(strings.Join(res.Notes, "\n"), "agent's client SEND") {
				t.Errorf("%s: no frame in the evidence: %q", res.ID, res.Notes)
			}
		}
	})
}

// TestWebSocketCasesOverKitServer runs section 7 with usptest dialling the
// equipment's server behind the kit's observer: every case passes;
// without the observer they say they need it.
func TestWebSocketCasesOverKitServer(t *testing.T) {
	t.Parallel()
	cs, err := Select(All(), "7")
	if err != nil {
		t.Fatal(err)
	}
	eq, _ := bench(t, "websocket-kit")
	rep := RunTests(t, eq, quickConfig, cs)
	if rep.Count(Pass) != len(cs) {
		t.Errorf("%d of %d section 7 cases passed", rep.Count(Pass), len(cs))
	}
	// The same cases over the equipment's server without the observer.
	eq2, _ := bench(t, "websocket")
	r := &Runner{Equipment: eq2, Config: quickConfig}
	for _, res := range r.Run(t.Context(), cs).Results {
		if res.Verdict != NeedsOperator || !strings.Contains(res.Reason, "needs the kit's WebSocket server") {
			t.Errorf("%s: %s (%s), want needs-operator", res.ID, res.Verdict, res.Reason)
		}
	}
}

// TestBrokenWebSocketAgentFails: an agent that ignores a record it cannot
// parse, instead of closing the session with 1003, fails 7.6 with the
// frames seen as evidence.
func TestBrokenWebSocketAgentFails(t *testing.T) {
	t.Parallel()
	eq, _ := benchFaulty(t, "websocket-kit", wireFaults{wrapWS: func(c *websocket.Client) mtp.Transport {
		return struct{ mtp.Transport }{c} // hides Reject
	}})
	res := runOne(t, eq, "7.6", nil)
	if res.Verdict != Fail {
		t.Fatalf("7.6: verdict %s (%s), want fail\n%s", res.Verdict, res.Reason, TextEvidence(res))
	}
	if f := res.Failed(); len(f) != 1 || f[0].Metric != 1 || !strings.Contains(f[0].Detail, "no Close frame from the agent") {
		t.Errorf("failed criteria %+v", f)
	}
	if !strings.Contains(TextEvidence(res), "not a USP record, on purpose") {
		t.Errorf("the malformed record is not in the evidence:\n%s", TextEvidence(res))
	}
}

func TestWebSocketObserverRecordsRefusal(t *testing.T) {
	obs := ObserveWebSocket(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	req := httptest.NewRequest(http.MethodGet, "/usp", nil)
	req.Header.Set("Sec-WebSocket-Protocol", "v1.usp, other")
	obs.ServeHTTP(httptest.NewRecorder(), req)
	hs := obs.Handshakes()
	if len(hs) != 1 || hs[0].Status != http.StatusForbidden || !slices.Equal(hs[0].Protocols, []string{"v1.usp", "other"}) {
		t.Fatalf("handshakes %+v", hs)
	}
}

// TestDiscoveryNotApplicable: section 8 is reported, case by case, as not
// applicable with the reason.
func TestDiscoveryNotApplicable(t *testing.T) {
	t.Parallel()
	cs, err := Select(All(), "8")
	if err != nil || len(cs) != 7 {
		t.Fatalf("section 8: %d cases, %v", len(cs), err)
	}
	eq, _ := memoryBench(t)
	r := &Runner{Equipment: eq, Config: quickConfig}
	for _, res := range r.Run(t.Context(), cs).Results {
		// Each reason says what the case would need of the kit.
		need := "multicast DNS"
		if res.ID <= "8.3" {
			need = "DHCP server"
		}
		if res.Verdict != Skip || !strings.HasPrefix(res.Reason, "not applicable: the kit would have to") || !strings.Contains(res.Reason, need) {
			t.Errorf("%s: %s (%s)", res.ID, res.Verdict, res.Reason)
		}
	}
}

// idleSubscriber is an MQTT client that accepts Subscription objects and
// never subscribes.
type idleSubscriber struct{ *mqtt.Transport }

func (idleSubscriber) Subscribe(context.Context, string, byte) error { return nil }

func (idleSubscriber) Unsubscribe(context.Context, string) error { return nil }
