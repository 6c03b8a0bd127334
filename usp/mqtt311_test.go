package usp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

// The names of the README's "controller in ten lines".
const (
	readmeCtlID    = "proto::my-controller"
	readmeCtlTopic = "/usp/controller/me"
)

// readmeController is the controller exactly as the README makes it: no
// option about MQTT 3.1.1.
func readmeController(t testing.TB, url string, opts ...usp.Option) *usp.Controller {
	t.Helper()
	tr, err := mqtt.New(url, readmeCtlID, mqtt.WithTopic(readmeCtlTopic))
	if err != nil {
		t.Fatal(err)
	}
	return startMQTTController(t, tr, opts...)
}

func startMQTTController(t testing.TB, tr *mqtt.Transport, opts ...usp.Option) *usp.Controller {
	t.Helper()
	c, err := usp.NewController(readmeCtlID, append([]usp.Option{usp.WithTransport(tr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// TestMQTT311AgentAnswered is the scenario: a controller made as
// the README shows, an agent configured by address whose client is 3.1.1.
// Its answer to the first Get goes to <controller topic>/reply-to=..., a
// Notify with send_resp comes the same way, and the NotifyResp must reach
// it with the controller's suffix.
func TestMQTT311AgentAnswered(t *testing.T) {
	const agentID, agentTopic = "os::012345-SN0001", "/usp/agent/SN0001"
	url := brokertest.StartMosquitto(t)
	agent := brokertest.StartAgent311(t, url, agentID, agentTopic, readmeCtlTopic)
	notes := make(chan *usp.Notification, 1)
	c := readmeController(t, url,
		usp.WithAgent(agentID, mtp.Address{MTP: mtp.MQTT, To: agentTopic}),
		usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			notes <- n
			return nil
		}))
	dev := c.Agent(agentID)

	type result struct {
		vals map[string]string
		err  error
	}
	get := func() chan result {
		ch := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			vals, err := dev.GetValues(ctx, "Device.DeviceInfo.")
			ch <- result{vals, err}
		}()
		return ch
	}
	params := map[string]string{"SoftwareVersion": "4.0.1"}
	// Nothing has told the controller yet that the agent is 3.1.1: the
	// request goes to the plain topic, and the broker drops its Response
	// Topic on the way, so the agent answers on its controller topic.
	done := get()
	agent.AnswerGet(readmeCtlID, agentTopic, "Device.DeviceInfo.", params)
	if r := <-done; r.err != nil || r.vals["Device.DeviceInfo.SoftwareVersion"] != "4.0.1" {
		t.Fatalf("first Get = %v, %v", r.vals, r.err)
	}

	boot := msg.Notify{SubscriptionID: "boot-1", SendResp: true,
		Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"Cause": "LocalReboot"}}}
	agent.SendMsg(readmeCtlTopic, readmeCtlID, boot.Build("notify-1"))
	select {
	case n := <-notes:
		if n.AgentID != agentID || n.SubscriptionID != "boot-1" || !n.SendResp {
			t.Errorf("notification = %+v", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the Notify did not reach the handler")
	}
	wantTopic := mqtt.JoinReplyTo(agentTopic, readmeCtlTopic)
	topic, resp := agent.Receive()
	if topic != wantTopic || resp.GetHeader().GetMsgType() != uspmsg.Header_NOTIFY_RESP ||
		resp.GetHeader().GetMsgId() != "notify-1" || resp.GetBody().GetResponse().GetNotifyResp().GetSubscriptionId() != "boot-1" {
		t.Fatalf("agent got %v on %q, want the NotifyResp on %q", resp, topic, wantTopic)
	}

	// From now on requests carry the suffix too.
	done = get()
	agent.AnswerGet(readmeCtlID, wantTopic, "Device.DeviceInfo.", params)
	if r := <-done; r.err != nil || r.vals["Device.DeviceInfo.SoftwareVersion"] != "4.0.1" {
		t.Fatalf("second Get = %v, %v", r.vals, r.err)
	}
}

// connected returns an agent handler option and a channel that gets the
// endpoint ID of every agent that connects.
func connected() (usp.Option, chan string) {
	ch := make(chan string, 4)
	return usp.WithAgentHandler(func(ev usp.AgentEvent) {
		if ev.Kind == usp.AgentConnected {
			select {
			case ch <- ev.Agent.EndpointID:
			default:
			}
		}
	}), ch
}

func waitConnected(t testing.TB, ch chan string, id string) {
	t.Helper()
	for {
		select {
		case got := <-ch:
			if got == id {
				return
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("agent %s did not connect", id)
		}
	}
}

// TestMQTT311ConnectRecord: the version in an agent's MQTTConnect record
// decides the topic of the first request. The record is published without
// a suffix here, so that only the record can tell the controller.
func TestMQTT311ConnectRecord(t *testing.T) {
	const agentID, agentTopic = "os::012345-SN0002", "/usp/agent/SN0002"
	url := brokertest.StartMosquitto(t)
	agent := brokertest.StartAgent311(t, url, agentID, agentTopic, readmeCtlTopic)
	opt, conn := connected()
	c := readmeController(t, url, opt)
	agent.SendRecord(readmeCtlTopic, record.NewMQTTConnect("1.3", readmeCtlID, agentID, usprecord.MQTTConnectRecord_V3_1_1, agentTopic), false)
	waitConnected(t, conn, agentID)

	getVia(t, c, agent, agentID, mqtt.JoinReplyTo(agentTopic, readmeCtlTopic))
}

// getVia has c get Device.DeviceInfo. from the 3.1.1 agent, which fails
// the test unless the request comes on wantTopic, and answers it.
func getVia(t *testing.T, c *usp.Controller, agent *brokertest.Agent311, agentID, wantTopic string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := c.Agent(agentID).GetValues(ctx, "Device.DeviceInfo.")
		errc <- err
	}()
	agent.AnswerGet(readmeCtlID, wantTopic, "Device.DeviceInfo.", map[string]string{"SoftwareVersion": "1"})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestMQTT311TimeoutSaysWhy: with the 3.1.1 subscriptions turned off, a
// request to an agent whose MQTTConnect record says 3.1.1 times out with
// an error that names the cause.
func TestMQTT311TimeoutSaysWhy(t *testing.T) {
	const agentID, agentTopic = "os::012345-SN0003", "/usp/agent/SN0003"
	url := brokertest.StartMosquitto(t)
	tr, err := mqtt.New(url, readmeCtlID, mqtt.WithTopic(readmeCtlTopic), mqtt.WithoutMQTT311Peers())
	if err != nil {
		t.Fatal(err)
	}
	opt, conn := connected()
	c := startMQTTController(t, tr, opt)
	rec := record.NewMQTTConnect("1.3", readmeCtlID, agentID, usprecord.MQTTConnectRecord_V3_1_1, agentTopic)
	b, err := record.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := brokertest.PublishMQTT311(t, url, readmeCtlTopic, b); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, conn, agentID)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Agent(agentID).GetValues(ctx, "Device.DeviceInfo.")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, mqtt.ErrNo311Subscription) ||
		!strings.Contains(err.Error(), "WithoutMQTT311Peers") {
		t.Fatalf("error = %v, want a timeout that names the missing subscription", err)
	}
}

// TestMQTT311VersionFromStore: the process that gets a 3.1.1 agent's
// MQTTConnect record stores the version with the agent's address; a
// process that learns the agent from the store, at its start or by looking
// it up before a request (as a cluster's other processes do), sends its
// first request with the reply-to suffix the agent's client needs.
func TestMQTT311VersionFromStore(t *testing.T) {
	const agentID, agentTopic = "os::012345-SN0004", "/usp/agent/SN0004"
	url := brokertest.StartMosquitto(t)
	agent := brokertest.StartAgent311(t, url, agentID, agentTopic, readmeCtlTopic)
	// One controller process at a time per topic: each has its own.
	process := func(name string, store usp.Store, opts ...usp.Option) (*usp.Controller, string) {
		topic := readmeCtlTopic + "/" + name
		tr, err := mqtt.New(url, readmeCtlID, mqtt.WithTopic(topic), mqtt.WithClientID("ctl-"+name))
		if err != nil {
			t.Fatal(err)
		}
		return startMQTTController(t, tr, append(opts, usp.WithStore(store))...), topic
	}

	// The process that hears the agent. The record comes without a suffix:
	// only its version field says 3.1.1.
	heard := &usp.MemoryStore{}
	opt, conn := connected()
	first, firstTopic := process("first", heard, opt)
	agent.SendRecord(firstTopic, record.NewMQTTConnect("1.3", readmeCtlID, agentID, usprecord.MQTTConnectRecord_V3_1_1, agentTopic), false)
	waitConnected(t, conn, agentID)
	if e, _ := first.Inventory().Get(agentID); e.MQTTVersion != "3.1.1" {
		t.Fatalf("inventory entry %+v, want MQTT version 3.1.1", e)
	}
	if err := first.Close(ctxT(t)); err != nil { // writes the last changes
		t.Fatal(err)
	}
	stored, found, err := heard.Agent(ctxT(t), agentID)
	if err != nil || !found || stored.MQTTVersion != "3.1.1" || stored.Address != (mtp.Address{MTP: mtp.MQTT, To: agentTopic}) {
		t.Fatalf("stored record %+v (found %v, %v), want the address and MQTT version 3.1.1", stored, found, err)
	}

	// Started on the store: the agent is in the inventory it loads.
	restarted, topic := process("restarted", heard)
	getVia(t, restarted, agent, agentID, mqtt.JoinReplyTo(agentTopic, topic))
	// Looked up: the agent is written to the store after the start.
	late := &usp.MemoryStore{}
	other, topic := process("other", late)
	if err := late.PutAgents(ctxT(t), []usp.InventoryEntry{stored}); err != nil {
		t.Fatal(err)
	}
	getVia(t, other, agent, agentID, mqtt.JoinReplyTo(agentTopic, topic))
}
