package usp_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// sessionBinding makes the server transport of a binding with sessions per
// peer, and client transports for named agents.
type sessionBinding struct {
	name   string
	server func(t *testing.T) (srv mtp.Transport, client func(id string) mtp.Transport)
}

func sessionBindings() []sessionBinding {
	return []sessionBinding{
		{"websocket", func(t *testing.T) (mtp.Transport, func(string) mtp.Transport) {
			srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(ctrlID))
			if err != nil {
				t.Fatal(err)
			}
			return srv, func(id string) mtp.Transport {
				cl, err := websocket.NewClient(srv.URL(), id, websocket.WithPeerID(ctrlID), websocket.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				return cl
			}
		}},
		{"uds", func(t *testing.T) (mtp.Transport, func(string) mtp.Transport) {
			path := filepath.Join(t.TempDir(), "usp.sock")
			srv, err := uds.NewServer(path, ctrlID)
			if err != nil {
				t.Fatal(err)
			}
			return srv, func(id string) mtp.Transport {
				cl, err := uds.NewClient(path, id)
				if err != nil {
					t.Fatal(err)
				}
				return cl
			}
		}},
	}
}

// TestHostileOverSessions: over WebSocket and UDS, where the transport
// knows each session's endpoint ID, an attacker's session cannot answer
// for the victim, disconnect it or move it, even knowing the msg_id of the
// victim's pending request.
func TestHostileOverSessions(t *testing.T) {
	for _, b := range sessionBindings() {
		t.Run(b.name, func(t *testing.T) {
			srv, client := b.server(t)
			logs := &logCounter{n: make(map[string]int)}
			c, err := usp.NewController(ctrlID, usp.WithTransport(srv), usp.WithLogger(slog.New(logs)))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			kind := srv.Kind()
			victim, err := usptest.NewAgent(victimID, usptest.WithTransport(client(victimID)),
				usptest.WithController(ctrlID, mtp.Address{MTP: kind, To: ctrlID}), usptest.WithoutBootSubscription())
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
			home, _ := c.AgentInfo(victimID)

			evil := client(attackerID)
			if err := evil.Start(ctxT(t), mtp.HandlerFuncs{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = evil.Close(context.Background()) })
			forge := func(rec *usprecord.Record) {
				t.Helper()
				b, err := record.Encode(rec)
				if err != nil {
					t.Fatal(err)
				}
				if err := evil.Send(ctxT(t), mtp.Address{MTP: kind, To: ctrlID}, b); err != nil {
					t.Fatal(err)
				}
			}
			forgeMsg := func(from string, m *uspmsg.Msg) {
				t.Helper()
				b, _ := proto.Marshal(m)
				forge(record.NewNoSessionContext("1.3", ctrlID, from, b))
			}

			id, result := slowCall(t, c, victim)

			forgeMsg(victimID, forgedGetResp(id))                             // the victim's name
			forge(record.NewDisconnect("1.3", ctrlID, victimID, "bye", 7105)) // the victim's Disconnect
			forge(record.NewWebSocketConnect("1.3", ctrlID, victimID))        // the victim's connect
			waitUntil(t, func() bool { return logs.count(logNotThePeer) >= 3 })
			forgeMsg(attackerID, forgedGetResp(id)) // its own name, the victim's msg_id
			waitUntil(t, func() bool { return logs.count(logWrongResponder) >= 1 })

			if got, err := result(); err != nil || got != truth {
				t.Fatalf("victim's call returned %q, %v; want %q", got, err, truth)
			}
			// The attacker leaving changes nothing for the victim either.
			_ = evil.Close(context.Background())
			info, _ := c.AgentInfo(victimID)
			if info.Address != home.Address || !info.Connected {
				t.Fatalf("victim's entry changed: %+v, was %+v", info, home)
			}
			if v, err := c.Agent(victimID).GetValue(ctxT(t), truePath); err != nil || v != truth {
				t.Fatalf("victim's value %q, %v", v, err)
			}
		})
	}
}

const logNotThePeer = "dropping record whose from_id is not the transport's peer"

// TestHostileSessionDoesNotMovePinnedAgent: a WebSocket session opened
// under the endpoint ID of an agent configured on MQTT (the ?eid= is the
// client's own claim) does not move that agent.
func TestHostileSessionDoesNotMovePinnedAgent(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	mt, err := mqtt.New(url, ctrlID, mqtt.WithTopic(ctrlTopic))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(ctrlID))
	if err != nil {
		t.Fatal(err)
	}
	home := mtp.Address{MTP: mtp.MQTT, To: victimTopic}
	notified := make(chan struct{}, 1)
	c, err := usp.NewController(ctrlID, usp.WithTransport(mt), usp.WithTransport(srv), usp.WithAgent(victimID, home),
		usp.WithNotifyHandler(func(context.Context, *usp.Notification) error {
			select {
			case notified <- struct{}{}:
			default:
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	up := make(chan struct{}, 1)
	evil, err := websocket.NewClient(srv.URL(), victimID, websocket.WithPeerID(ctrlID))
	if err != nil {
		t.Fatal(err)
	}
	if err := evil.Start(ctxT(t), mtp.HandlerFuncs{Event: func(ev mtp.Event) {
		if ev.Kind == mtp.PeerUp {
			select {
			case up <- struct{}{}:
			default:
			}
		}
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = evil.Close(context.Background()) })
	<-up
	// A record over the session reaches the controller after the
	// session's PeerUp did: once it is handled, so is the PeerUp.
	b, _ := proto.Marshal(msg.Notify{SubscriptionID: "x", Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n-1"))
	rec, _ := record.Encode(record.NewNoSessionContext("1.3", ctrlID, victimID, b))
	if err := evil.Send(ctxT(t), mtp.Address{MTP: mtp.WebSocket, To: ctrlID}, rec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("the session's record never reached the controller")
	}
	if info, _ := c.AgentInfo(victimID); info.Address != home {
		t.Fatalf("a self-named WebSocket session moved the pinned agent to %v", info.Address)
	}
}
