package usp_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const e2eAgentID = "os::012345-E2E0001"

// binding sets up one MTP for a controller and a usptest agent: it returns
// the controller's transport, and, once the controller runs, the agent's
// transport and the address at which the agent reaches the controller.
type binding struct {
	name  string
	setup func(t *testing.T) (ctrl mtp.Transport, agent func() (mtp.Transport, mtp.Address))
}

func bindings() []binding {
	mqttOn := func(start func(testing.TB) string) func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
		return func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
			url := start(t)
			ct, err := mqtt.New(url, ctrlID, mqtt.WithTopic("/usp/controller/e2e"), mqtt.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return ct, func() (mtp.Transport, mtp.Address) {
				at, err := mqtt.New(url, e2eAgentID, mqtt.WithTopic("/usp/agent/e2e"), mqtt.WithQoS(0))
				if err != nil {
					t.Fatal(err)
				}
				return at, mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/e2e"}
			}
		}
	}
	stompOn := func(start func(testing.TB) string) func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
		return func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
			addr := start(t)
			// Destinations unique per test: the RabbitMQ node is shared.
			suffix := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
			ctrlDest, agentDest := "/queue/usp-controller-"+suffix, "/queue/usp-agent-"+suffix
			ct, err := stomp.New(addr, ctrlID, stomp.WithDestination(ctrlDest))
			if err != nil {
				t.Fatal(err)
			}
			return ct, func() (mtp.Transport, mtp.Address) {
				at, err := stomp.New(addr, e2eAgentID, stomp.WithDestination(agentDest))
				if err != nil {
					t.Fatal(err)
				}
				return at, mtp.Address{MTP: mtp.STOMP, To: ctrlDest}
			}
		}
	}
	return []binding{
		{"stomp-rabbitmq", stompOn(brokertest.StartRabbitMQ)},
		{"stomp-embedded", stompOn(brokertest.StartStompServer)},
		{"memory", func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
			net := memory.NewNetwork()
			ct, err := net.Endpoint(ctrlID)
			if err != nil {
				t.Fatal(err)
			}
			return ct, func() (mtp.Transport, mtp.Address) {
				at, err := net.Endpoint(e2eAgentID)
				if err != nil {
					t.Fatal(err)
				}
				return at, memAddr(ctrlID)
			}
		}},
		{"mqtt-embedded", mqttOn(brokertest.StartEmbedded)},
		{"mqtt-mosquitto", mqttOn(brokertest.StartMosquitto)},
		{"websocket", func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
			srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID(ctrlID))
			if err != nil {
				t.Fatal(err)
			}
			return srv, func() (mtp.Transport, mtp.Address) {
				cl, err := websocket.NewClient(srv.URL(), e2eAgentID, websocket.WithPeerID(ctrlID), websocket.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				return cl, mtp.Address{MTP: mtp.WebSocket, To: ctrlID}
			}
		}},
		{"uds", func(t *testing.T) (mtp.Transport, func() (mtp.Transport, mtp.Address)) {
			path := filepath.Join(t.TempDir(), "usp.sock")
			srv, err := uds.NewServer(path, ctrlID)
			if err != nil {
				t.Fatal(err)
			}
			return srv, func() (mtp.Transport, mtp.Address) {
				cl, err := uds.NewClient(path, e2eAgentID)
				if err != nil {
					t.Fatal(err)
				}
				return cl, mtp.Address{MTP: mtp.UDS, To: ctrlID}
			}
		}},
	}
}

// startPair starts a controller and a usptest agent over the binding and
// waits until the controller knows the agent from its connect record.
func startPair(t *testing.T, b binding, opts ...usp.Option) (*usp.Controller, *usptest.Agent) {
	t.Helper()
	ct, agentSide := b.setup(t)
	connected := make(chan struct{}, 1)
	opts = append([]usp.Option{usp.WithTransport(ct), usp.WithAgentHandler(func(ev usp.AgentEvent) {
		if ev.Kind == usp.AgentConnected && ev.Agent.EndpointID == e2eAgentID {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	})}, opts...)
	c, err := usp.NewController(ctrlID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	at, caddr := agentSide()
	agent, err := usptest.NewAgent(e2eAgentID, usptest.WithTransport(at), usptest.WithController(ctrlID, caddr),
		usptest.WithNotifyRetry(50*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close(context.Background()) })
	// Cleanups run last first: the controller closes before the agent.
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the controller never saw the agent's connect record", b.name)
	}
	return c, agent
}

func TestEndToEnd(t *testing.T) {
	for _, b := range bindings() {
		t.Run(b.name, func(t *testing.T) {
			c, agent := startPair(t, b)
			exercise(t, c, agent)
		})
	}
}

// exercise runs every kind of request against a usptest agent and checks
// the answers against the agent's model.
func exercise(t *testing.T, c *usp.Controller, agent *usptest.Agent) {
	ctx := ctxT(t)
	ag := c.Agent(agent.EndpointID())
	model := agent.Model()

	// Get, with a per-path error kept beside the values.
	want, err := model.Get("Device.DeviceInfo.SoftwareVersion")
	if err != nil {
		t.Fatal(err)
	}
	vals, err := ag.GetValues(ctx, "Device.DeviceInfo.", "Device.NoSuchObject.")
	if !errors.Is(err, msg.ErrInvalidPath) {
		t.Fatalf("Get error = %v, want 7026 for the bad path", err)
	}
	if vals["Device.DeviceInfo.SoftwareVersion"] != want {
		t.Fatalf("SoftwareVersion = %q, model has %q", vals["Device.DeviceInfo.SoftwareVersion"], want)
	}

	// Subscribe to value changes, then Set through the controller.
	sub, err := ag.Subscribe(ctx, usp.SubscriptionSpec{NotifType: usp.NotifValueChange, ReferenceList: []string{"Device.WiFi.SSID.*.SSID"}, NotifRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	ssids, err := model.Instances("Device.WiFi.SSID.")
	if err != nil || len(ssids) == 0 {
		t.Fatalf("model has no SSIDs: %v", err)
	}
	if _, err := ag.SetValues(ctx, ssids[0], map[string]string{"SSID": "gousp-e2e"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := model.Get(ssids[0] + "SSID"); v != "gousp-e2e" {
		t.Fatalf("model SSID = %q after Set", v)
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	for n, err := range sub.Notifications(nctx) {
		if err != nil {
			t.Fatalf("no ValueChange: %v", err)
		}
		vc, ok := n.Body.(*msg.ValueChange)
		if !ok || vc.ParamPath != ssids[0]+"SSID" || vc.ParamValue != "gousp-e2e" {
			t.Fatalf("notification = %+v", n.Body)
		}
		break
	}
	cancel()
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}

	// Add and Delete a controller instance.
	added, err := ag.Add(ctx, msg.AddParams("Device.LocalAgent.Controller.", map[string]string{"EndpointID": "proto::other", "Alias": "cpe-e2e"}))
	if err != nil {
		t.Fatal(err)
	}
	inst := added.Paths()
	if len(inst) != 1 || !strings.HasPrefix(inst[0], "Device.LocalAgent.Controller.") {
		t.Fatalf("added %v", inst)
	}
	if v, err := model.Get(inst[0] + "EndpointID"); err != nil || v != "proto::other" {
		t.Fatalf("model after Add: %q, %v", v, err)
	}
	del, err := ag.Delete(ctx, msg.Delete{Paths: []string{inst[0]}})
	if err != nil || len(del.Affected()) != 1 {
		t.Fatalf("Delete: %+v, %v", del, err)
	}

	// An asynchronous command, waited for through OperationComplete.
	out, err := ag.Call(ctx, "Device.IP.Diagnostics.IPPing()", map[string]string{"Host": "127.0.0.1"})
	if err != nil {
		t.Fatalf("IPPing: %v", err)
	}
	if len(out) == 0 {
		t.Fatal("IPPing returned no output arguments")
	}

	// The supported data model as a schema.
	schema, err := ag.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := schema.LookupString(ssids[0] + "SSID")
	if err != nil || e.Param == nil {
		t.Fatalf("schema lookup: %+v, %v", e, err)
	}

	insts, err := ag.GetInstances(ctx, msg.GetInstances{Paths: []string{"Device.WiFi.SSID."}, FirstLevelOnly: true})
	if err != nil || len(insts.Paths()) != len(ssids) {
		t.Fatalf("GetInstances: %v, %v (model has %v)", insts, err, ssids)
	}

	proto, err := ag.GetSupportedProtocol(ctx)
	if err != nil || !strings.Contains(proto.Versions, "1.3") {
		t.Fatalf("GetSupportedProtocol: %+v, %v", proto, err)
	}
	if info, _ := ag.Info(); info.Version != "1.3" {
		t.Fatalf("negotiated version %q", info.Version)
	}
}

func bindingNamed(name string) binding {
	for _, b := range bindings() {
		if b.name == name {
			return b
		}
	}
	panic("no binding " + name)
}
