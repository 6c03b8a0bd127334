package brokertest

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// replyToMarker starts the suffix TR-369 R-MQTT.24 has MQTT 3.1.1 clients
// append to a topic name (written here again so that this package does not
// depend on mtp/mqtt, whose tests use it).
const replyToMarker = "/reply-to="

// Agent311 is a USP agent whose MQTT client speaks 3.1.1 only, made of
// Debian's mosquitto-clients ([SubscribeMQTT311], [PublishMQTT311]) and
// scripted by the test. Like OB-USP-A in 3.1.1 mode it subscribes to
// <its topic>/#, and publishes every record with its reply-to suffix: to
// the topic a received record's suffix names, else to the controller topic
// it was configured with.
type Agent311 struct {
	t        testing.TB
	url      string
	ID       string // endpoint ID
	Topic    string // the topic it subscribes below
	CtlTopic string // the controller topic it was configured with
	sub      *Sub311
}

// StartAgent311 starts the agent's subscriber on brokerURL (mqtt://).
func StartAgent311(t testing.TB, brokerURL, id, topic, ctlTopic string) *Agent311 {
	t.Helper()
	a := &Agent311{t: t, url: brokerURL, ID: id, Topic: topic, CtlTopic: ctlTopic}
	a.sub = SubscribeMQTT311(t, brokerURL, "agent311-"+strings.NewReplacer(":", "_", "/", "_").Replace(id), topic+"/#")
	return a
}

// Receive waits for the next record, checks that it is addressed to the
// agent, and returns the topic it came on and its message.
func (a *Agent311) Receive() (string, *uspmsg.Msg) {
	a.t.Helper()
	m, err := a.sub.Receive(10 * time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	rec, err := record.Decode(m.Payload)
	if err != nil {
		a.t.Fatalf("agent311: undecodable record on %q: %v", m.Topic, err)
	}
	if rec.GetToId() != a.ID {
		a.t.Fatalf("agent311: record for %q on %q", rec.GetToId(), m.Topic)
	}
	um, err := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if err != nil {
		a.t.Fatalf("agent311: invalid message on %q: %v", m.Topic, err)
	}
	return m.Topic, um
}

// ReplyTopic is where the agent answers a record that came on topic: the
// topic after the last reply-to marker (with %2F as '/'), else CtlTopic.
func (a *Agent311) ReplyTopic(topic string) string {
	if i := strings.LastIndex(topic, replyToMarker); i >= 0 {
		return strings.ReplaceAll(topic[i+len(replyToMarker):], "%2F", "/")
	}
	return a.CtlTopic
}

// SendRecord publishes rec to topic to, with the agent's reply-to suffix
// when suffix is set.
func (a *Agent311) SendRecord(to string, rec *usprecord.Record, suffix bool) {
	a.t.Helper()
	b, err := record.Encode(rec)
	if err != nil {
		a.t.Fatal(err)
	}
	if suffix {
		to += replyToMarker + strings.ReplaceAll(a.Topic, "/", "%2F")
	}
	if err := PublishMQTT311(a.t, a.url, to, b); err != nil {
		a.t.Fatal(err)
	}
}

// SendMsg publishes m in a NoSessionContext record for controllerID to
// topic to, with the reply-to suffix.
func (a *Agent311) SendMsg(to, controllerID string, m *uspmsg.Msg) {
	a.t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		a.t.Fatal(err)
	}
	a.SendRecord(to, record.NewNoSessionContext("1.3", controllerID, a.ID, b), true)
}

// AnswerGet waits for a Get on wantTopic and answers it with params as
// the values of the object objPath.
func (a *Agent311) AnswerGet(controllerID, wantTopic, objPath string, params map[string]string) {
	a.t.Helper()
	topic, req := a.Receive()
	if topic != wantTopic || req.GetHeader().GetMsgType() != uspmsg.Header_GET {
		a.t.Fatalf("agent311 got %s on %q, want a Get on %q", req.GetHeader().GetMsgType(), topic, wantTopic)
	}
	var results []msg.GetResult
	for _, p := range req.GetBody().GetRequest().GetGet().GetParamPaths() {
		results = append(results, msg.GetResult{Requested: p, Resolved: []msg.Resolved{{Path: objPath, Params: params}}})
	}
	a.SendMsg(a.ReplyTopic(topic), controllerID, msg.GetResp{Results: results}.Build(req.GetHeader().GetMsgId()))
}
