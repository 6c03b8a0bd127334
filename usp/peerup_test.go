package usp_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// dialedAgent is an agent serving on a UDS or WebSocket server, and the
// client transport a controller dials it with.
type dialedAgent struct {
	name  string
	setup func(t *testing.T, agentID string) (server mtp.Transport, client func(localID string) mtp.Transport)
}

func dialedAgents() []dialedAgent {
	return []dialedAgent{
		{"uds", func(t *testing.T, agentID string) (mtp.Transport, func(string) mtp.Transport) {
			path := filepath.Join(t.TempDir(), "a.sock")
			srv, err := uds.NewServer(path, agentID)
			if err != nil {
				t.Fatal(err)
			}
			return srv, func(localID string) mtp.Transport {
				cl, err := uds.NewClient(path, localID, uds.WithRetryInterval(10*time.Millisecond, 50*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				return cl
			}
		}},
		{"websocket", func(t *testing.T, agentID string) (mtp.Transport, func(string) mtp.Transport) {
			srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(agentID))
			if err != nil {
				t.Fatal(err)
			}
			return srv, func(localID string) mtp.Transport {
				// The agent's ID is configured on the transport only: the
				// controller learns it from the PeerUp event.
				cl, err := websocket.NewClient(srv.URL(), localID, websocket.WithPeerID(agentID))
				if err != nil {
					t.Fatal(err)
				}
				return cl
			}
		}},
	}
}

// startServingAgent starts a usptest agent on srv that knows the
// controller by ID only.
func startServingAgent(t *testing.T, id string, srv mtp.Transport) *usptest.Agent {
	t.Helper()
	return runAgent(t, id, usptest.WithTransport(srv), usptest.WithController(ctrlID, mtp.Address{}))
}

// TestGetRightAfterClientStart: the handshake names the peer, so a Get
// works as soon as the controller's client transport has started, with no
// WithAgent and before the agent's connect record.
func TestGetRightAfterClientStart(t *testing.T) {
	for _, d := range dialedAgents() {
		t.Run(d.name, func(t *testing.T) {
			const agentID = "proto::dialed-agent"
			srv, client := d.setup(t, agentID)
			startServingAgent(t, agentID, srv)
			for i := range 20 {
				// A controller ID per try: the agent's server may not have
				// seen the previous session go yet.
				id := fmt.Sprintf("proto::controller-%d", i)
				c, err := usp.NewController(id, usp.WithTransport(client(id)))
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Start(ctxT(t)); err != nil {
					t.Fatal(err)
				}
				_, err = c.Agent(agentID).GetValues(ctxT(t), "Device.DeviceInfo.SoftwareVersion")
				if err != nil {
					t.Errorf("try %d: Get right after Start: %v", i, err)
				}
				info, ok := c.AgentInfo(agentID)
				if !ok || !info.Connected || info.Address.MTP != d.setupKind() {
					t.Errorf("try %d: AgentInfo = %+v, %v", i, info, ok)
				}
				if err := c.Close(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func (d dialedAgent) setupKind() mtp.Kind {
	if d.name == "uds" {
		return mtp.UDS
	}
	return mtp.WebSocket
}

// TestWithAgentEmptyTo: a client transport's one peer needs no address.
func TestWithAgentEmptyTo(t *testing.T) {
	for _, d := range dialedAgents() {
		t.Run(d.name, func(t *testing.T) {
			const agentID = "proto::dialed-agent"
			srv, client := d.setup(t, agentID)
			startServingAgent(t, agentID, srv)
			c, err := usp.NewController(ctrlID, usp.WithTransport(client(ctrlID)), usp.WithAgent(agentID, mtp.Address{MTP: d.setupKind()}))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if _, err := c.Agent(agentID).GetValues(ctxT(t), "Device.DeviceInfo.SoftwareVersion"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReplacedSessionStaysAddressable: when an agent's new WebSocket
// session replaces the old one, requests go to the new session at once,
// before it sends any record.
func TestReplacedSessionStaysAddressable(t *testing.T) {
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan usp.AgentEvent, 16)
	c, err := usp.NewController(ctrlID, usp.WithTransport(srv), usp.WithAgentHandler(func(ev usp.AgentEvent) { events <- ev }))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	const agentID = "proto::replaced"
	for i := range 3 {
		cl, err := websocket.NewClient(srv.URL(), agentID)
		if err != nil {
			t.Fatal(err)
		}
		// The agent does not exist yet when its session opens: only the
		// session's PeerUp can make it addressable.
		rec := &recorder{ch: make(chan mtp.Inbound, 4)}
		if err := cl.Start(ctxT(t), rec); err != nil {
			t.Fatal(err)
		}
		defer cl.Close(context.Background())
		waitFor(t, events, func(ev usp.AgentEvent) bool { return ev.Kind == usp.AgentConnected })
		// The raw client never answers: the Get only has to reach it.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err = c.Agent(agentID).GetValues(ctx, "Device.DeviceInfo.")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("session %d: Get = %v, want it sent and unanswered", i, err)
		}
		select {
		case <-rec.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("session %d: the newest session got nothing", i)
		}
		if info, _ := c.AgentInfo(agentID); !info.Connected {
			t.Errorf("session %d: AgentInfo = %+v", i, info)
		}
	}
	if got := fmt.Sprint(srv.Peers()); got != "["+agentID+"]" {
		t.Errorf("server peers = %s", got)
	}
}

// recorder is a raw transport handler that keeps the records it gets.
type recorder struct{ ch chan mtp.Inbound }

func (r *recorder) HandleRecord(in mtp.Inbound) {
	select {
	case r.ch <- in:
	default:
	}
}
func (r *recorder) HandleEvent(mtp.Event) {}

// waitFor reads events until one matches.
func waitFor(t *testing.T, events <-chan usp.AgentEvent, match func(usp.AgentEvent) bool) usp.AgentEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("no matching agent event")
			return usp.AgentEvent{}
		}
	}
}
