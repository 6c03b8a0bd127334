package usp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

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

// agent311 is an agent whose MQTT client speaks 3.1.1 only, made of
// Debian's mosquitto-clients (mosquitto_sub and mosquitto_pub -V mqttv311).
// Like OB-USP-A in 3.1.1 mode it subscribes to <its topic>/#, and publishes
// every record with its reply-to suffix: to the topic a request's suffix
// names, else to the controller topic it was configured with.
type agent311 struct {
	t        testing.TB
	url      string
	id       string
	topic    string
	ctlTopic string
	sub      *brokertest.Sub311
}

func newAgent311(t testing.TB, url, id, topic, ctlTopic string) *agent311 {
	t.Helper()
	a := &agent311{t: t, url: url, id: id, topic: topic, ctlTopic: ctlTopic}
	a.sub = brokertest.SubscribeMQTT311(t, url, "agent311-"+strings.ReplaceAll(id, ":", "_"), topic+"/#")
	return a
}

// receive waits for the next record and returns its topic and message.
func (a *agent311) receive() (string, *uspmsg.Msg) {
	a.t.Helper()
	m, err := a.sub.Receive(10 * time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	rec, err := record.Decode(m.Payload)
	if err != nil {
		a.t.Fatalf("agent got an undecodable record on %q: %v", m.Topic, err)
	}
	if rec.GetToId() != a.id {
		a.t.Fatalf("agent got a record for %q", rec.GetToId())
	}
	um, err := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if err != nil {
		a.t.Fatalf("agent got an invalid message: %v", err)
	}
	return m.Topic, um
}

// replyTopic is where the agent answers a record that came on topic.
func (a *agent311) replyTopic(topic string) string {
	if _, to, ok := mqtt.SplitReplyTo(topic); ok {
		return to
	}
	return a.ctlTopic
}

func (a *agent311) sendRecord(to string, rec *usprecord.Record, suffix bool) {
	a.t.Helper()
	b, err := record.Encode(rec)
	if err != nil {
		a.t.Fatal(err)
	}
	if suffix {
		to = mqtt.JoinReplyTo(to, a.topic)
	}
	if err := brokertest.PublishMQTT311(a.t, a.url, to, b); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent311) sendMsg(to string, m *uspmsg.Msg) {
	a.t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		a.t.Fatal(err)
	}
	a.sendRecord(to, record.NewNoSessionContext("1.3", readmeCtlID, a.id, b), true)
}

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
	agent := newAgent311(t, url, agentID, agentTopic, readmeCtlTopic)
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
	answerGet := func(wantTopic string) {
		t.Helper()
		topic, req := agent.receive()
		if topic != wantTopic || req.GetHeader().GetMsgType() != uspmsg.Header_GET {
			t.Fatalf("agent got %s on %q, want a Get on %q", req.GetHeader().GetMsgType(), topic, wantTopic)
		}
		resp := msg.GetResp{Results: []msg.GetResult{{Requested: "Device.DeviceInfo.", Resolved: []msg.Resolved{
			{Path: "Device.DeviceInfo.", Params: map[string]string{"SoftwareVersion": "4.0.1"}},
		}}}}
		agent.sendMsg(agent.replyTopic(topic), resp.Build(req.GetHeader().GetMsgId()))
	}

	// Nothing has told the controller yet that the agent is 3.1.1: the
	// request goes to the plain topic, and the broker drops its Response
	// Topic on the way, so the agent answers on its controller topic.
	done := get()
	answerGet(agentTopic)
	if r := <-done; r.err != nil || r.vals["Device.DeviceInfo.SoftwareVersion"] != "4.0.1" {
		t.Fatalf("first Get = %v, %v", r.vals, r.err)
	}

	boot := msg.Notify{SubscriptionID: "boot-1", SendResp: true,
		Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"Cause": "LocalReboot"}}}
	agent.sendMsg(readmeCtlTopic, boot.Build("notify-1"))
	select {
	case n := <-notes:
		if n.AgentID != agentID || n.SubscriptionID != "boot-1" || !n.SendResp {
			t.Errorf("notification = %+v", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the Notify did not reach the handler")
	}
	wantTopic := mqtt.JoinReplyTo(agentTopic, readmeCtlTopic)
	topic, resp := agent.receive()
	if topic != wantTopic || resp.GetHeader().GetMsgType() != uspmsg.Header_NOTIFY_RESP ||
		resp.GetHeader().GetMsgId() != "notify-1" || resp.GetBody().GetResponse().GetNotifyResp().GetSubscriptionId() != "boot-1" {
		t.Fatalf("agent got %v on %q, want the NotifyResp on %q", resp, topic, wantTopic)
	}

	// From now on requests carry the suffix too.
	done = get()
	answerGet(wantTopic)
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
			ch <- ev.Agent.EndpointID
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
	agent := newAgent311(t, url, agentID, agentTopic, readmeCtlTopic)
	opt, conn := connected()
	c := readmeController(t, url, opt)
	agent.sendRecord(readmeCtlTopic, record.NewMQTTConnect("1.3", readmeCtlID, agentID, usprecord.MQTTConnectRecord_V3_1_1, agentTopic), false)
	waitConnected(t, conn, agentID)

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := c.Agent(agentID).GetValues(ctx, "Device.DeviceInfo.")
		errc <- err
	}()
	topic, req := agent.receive()
	if want := mqtt.JoinReplyTo(agentTopic, readmeCtlTopic); topic != want {
		t.Errorf("first request went to %q, want %q", topic, want)
	}
	agent.sendMsg(agent.replyTopic(topic), msg.GetResp{Results: []msg.GetResult{{Requested: "Device.DeviceInfo."}}}.Build(req.GetHeader().GetMsgId()))
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
