package conformance

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Section 11: MQTT. The cases read the wire through the kit's own broker
// ([WithMQTTBroker]); over an external broker they end as needing it.
// Where the plan reboots the agent to see a fresh connection, the kit
// reads the connection the agent made to its broker when the run began:
// the same packets, without a reboot.
func init() {
	register(
		&Case{ID: "11.2", Title: "MQTT session establishment using a CONNECT packet", Run: run11_2},
		&Case{ID: "11.8", Title: "MQTT SUBSCRIBE Packet", Run: run11_8},
		&Case{ID: "11.12", Title: "MQTT PUBLISH Packet", Run: run11_12},
		&Case{ID: "11.14", Title: "MQTT Reply to Topic", Run: run11_14},
		&Case{ID: "11.15", Title: "MQTT 5.0 Content Type", Run: run11_15},
		&Case{ID: "11.17", Title: "MQTT - Use of Connect Record", Run: run11_17},
	)
}

// mqttWire returns the kit's broker, the agent's client ID on it and the
// agent's latest CONNECT, or ends the case: skipped when the agent is not
// reached over MQTT, needing the kit's broker when it is reached through
// another one.
func mqttWire(t *T) (*MQTTBroker, string, MQTTPacket) {
	if k := t.eq.Transport().Kind(); k != mtp.MQTT {
		t.Skipf("the agent is reached over %s, not MQTT", k)
	}
	b := t.eq.broker
	if b == nil {
		t.NeedsOperatorf("needs the kit's broker: the agent is reached through an external MQTT broker, so its packets cannot be observed (uspctl conform --serve-mqtt)")
	}
	client, ok := b.ClientOf(t.eq.AgentID())
	if !ok {
		t.Abortf("the kit's broker saw no connection from the agent %s", t.eq.AgentID())
	}
	var connect MQTTPacket
	for _, p := range b.Packets(0) {
		if p.ClientID == client && p.Type == "CONNECT" {
			connect = p
		}
	}
	t.Notef("agent's CONNECT (client %q): %s", client, describePacket(connect))
	return b, client, connect
}

// describePacket is a one-line account of a packet for the evidence.
func describePacket(p MQTTPacket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%d", p.Type, p.ProtocolVersion)
	switch p.Type {
	case "CONNECT":
		fmt.Fprintf(&b, " client_id=%q username=%t password=%t request_response_info=%t keep_alive=%d will=%t",
			p.ConnectClientID, p.HasUsername, p.HasPassword, p.RequestResponseInfo, p.KeepAlive, p.Will)
	case "CONNACK":
		fmt.Fprintf(&b, " assigned_client_id=%q response_info=%q server_keep_alive=%d", p.AssignedClientID, p.ResponseInfo, p.ServerKeepAlive)
	case "SUBSCRIBE", "UNSUBSCRIBE":
		fmt.Fprintf(&b, " filters=%q", p.Filters)
	case "SUBACK":
		fmt.Fprintf(&b, " reason_codes=%v", p.ReasonCodes)
	case "PUBLISH":
		fmt.Fprintf(&b, " topic=%q qos=%d response_topic=%q content_type=%q payload=%d bytes",
			p.Topic, p.QoS, p.ResponseTopic, p.ContentType, len(p.Payload))
	}
	if len(p.UserProperties) > 0 {
		fmt.Fprintf(&b, " user_properties=%q", p.UserProperties)
	}
	return b.String()
}

// connackTo returns the broker's CONNACK to the client.
func connackTo(b *MQTTBroker, client string) (MQTTPacket, bool) {
	var ack MQTTPacket
	found := false
	for _, p := range b.Packets(0) {
		if p.ClientID == client && p.Type == "CONNACK" {
			ack, found = p, true
		}
	}
	return ack, found
}

// 11.2: the CONNECT's version, endpoint ID property and credentials.
func run11_2(t *T) {
	_, _, c := mqttWire(t)
	t.Check(1, "The EUT sends an MQTT CONNECT packet to the MQTT server", c.Type == "CONNECT", "no CONNECT recorded")
	t.Check(2, "The MQTT CONNECT packet Version is either 5.0 or 3.1.1",
		c.ProtocolVersion == 5 || c.ProtocolVersion == 4, "protocol version %d", c.ProtocolVersion)
	if c.ProtocolVersion == 5 {
		v, ok := c.UserProperty(propEndpointID)
		t.Check(3, `The CONNECT contains a User Property "usp-endpoint-id" with the EUT's Endpoint ID`,
			ok && v == t.eq.AgentID(), "User Properties %q, want %s=%s", c.UserProperties, propEndpointID, t.eq.AgentID())
	}
	t.Check(4, "The EUT includes User Name and Password fields in the MQTT CONNECT packet",
		c.HasUsername && c.HasPassword, "user name present %t, password present %t", c.HasUsername, c.HasPassword)
}

// 11.8: Request Response Information in CONNECT, and a SUBSCRIBE to the
// CONNACK's subscribe-topic and Response Information.
func run11_8(t *T) {
	b, client, c := mqttWire(t)
	if c.ProtocolVersion == 5 {
		t.Check(1, "The CONNECT's Request Response Information property is 1", c.RequestResponseInfo,
			"Request Response Information absent or 0")
	}
	ack, ok := connackTo(b, client)
	if !ok {
		t.Abortf("no CONNACK to the agent recorded")
	}
	t.Notef("broker's CONNACK: %s", describePacket(ack))
	subTopic, _ := ack.UserProperty("subscribe-topic")
	var filters []string
	for _, p := range b.Packets(ack.Seq) {
		if p.ClientID == client && p.Type == "SUBSCRIBE" {
			t.Notef("agent's %s", describePacket(p))
			filters = append(filters, p.Filters...)
		}
	}
	t.Check(2, "The SUBSCRIBE includes the subscribe-topic sent in the CONNACK", slices.Contains(filters, subTopic),
		"subscribed to %q, CONNACK subscribe-topic %q", filters, subTopic)
	if c.ProtocolVersion == 5 {
		t.Check(3, "The SUBSCRIBE includes the Response Information sent in the CONNACK",
			slices.Contains(filters, ack.ResponseInfo), "subscribed to %q, CONNACK Response Information %q", filters, ack.ResponseInfo)
	}
}

// 11.12: the PUBLISH carrying a GetResp, its Response Topic (MQTT 5) or
// reply-to suffix (3.1.1), and its Content Type.
func run11_12(t *T) {
	b, client, c := mqttWire(t)
	ack, _ := connackTo(b, client)
	mark := b.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 0, ex)
	id := ex.Request.GetHeader().GetMsgId()
	pub, ok := b.Wait(t, mark, t.cfg.responseTimeout(), func(p MQTTPacket) bool {
		if p.ClientID != client || p.Type != "PUBLISH" {
			return false
		}
		e := describe(Received, mtp.Address{}, p.Payload)
		return e.MsgType == "GET_RESP" && e.MsgID == id
	})
	t.Require(1, "The EUT sends an MQTT PUBLISH packet containing a GetResponse", ok,
		"no PUBLISH from the agent's client carried the GetResp to msg_id %q", id)
	t.Notef("agent's %s", describePacket(pub))
	if c.ProtocolVersion == 5 {
		t.Check(2, "The Response Topic is set to the Response Information of the CONNACK",
			ack.ResponseInfo != "" && pub.ResponseTopic == ack.ResponseInfo,
			"Response Topic %q, CONNACK Response Information %q", pub.ResponseTopic, ack.ResponseInfo)
		t.Check(4, "The Content Type property is set to usp.msg", pub.ContentType == "usp.msg",
			"Content Type %q", pub.ContentType)
		return
	}
	_, reply, found := strings.Cut(pub.Topic, "/reply-to=")
	t.Check(3, `The "reply to" follows /reply-to= at the end of the Topic Name, "/" written %2F`,
		found && reply != "" && !strings.Contains(reply, "/"), "Topic Name %q", pub.Topic)
}

// carries reports whether a PUBLISH holds a message of that type and msg_id.
func carries(p MQTTPacket, msgType, id string) bool {
	if p.Type != "PUBLISH" {
		return false
	}
	e := describe(Received, mtp.Address{}, p.Payload)
	return e.MsgType == msgType && e.MsgID == id
}

// 11.14: the agent answers on the topic the equipment's PUBLISH named as
// its reply-to, and names its own.
func run11_14(t *T) {
	b, client, c := mqttWire(t)
	mark := b.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 0, ex)
	id := ex.Request.GetHeader().GetMsgId()
	req, ok := b.Wait(t, mark, time.Second, func(p MQTTPacket) bool { return p.ClientID != client && carries(p, "GET", id) })
	if !ok {
		t.Abortf("the broker saw no PUBLISH of the equipment's Get")
	}
	pub, ok := b.Wait(t, mark, t.cfg.responseTimeout(), func(p MQTTPacket) bool { return p.ClientID == client && carries(p, "GET_RESP", id) })
	metric, text := 1, "The EUT publishes the GetResponse to the Controller's Response Topic and sets a Response Topic of its own"
	if c.ProtocolVersion != 5 {
		metric, text = 2, `The EUT publishes the GetResponse to the Controller's reply-to topic (%2F as "/") and adds /reply-to= with its own ("/" as %2F)`
	}
	m := t.Metric(metric, text)
	if !m.Expect(ok, "no PUBLISH from the agent's client carried the GetResp to msg_id %q", id) {
		m.Must()
	}
	t.Notef("equipment's %s", describePacket(req))
	t.Notef("agent's %s", describePacket(pub))
	if c.ProtocolVersion == 5 {
		m.Expect(pub.Topic == req.ResponseTopic, "Topic Name %q, the Get's Response Topic %q", pub.Topic, req.ResponseTopic)
		m.Expect(pub.ResponseTopic != "", "no Response Topic property")
		m.End()
		return
	}
	_, want, _ := strings.Cut(req.Topic, "/reply-to=")
	want, err := url.PathUnescape(want)
	m.Expect(err == nil && want != "" && strings.HasPrefix(pub.Topic, want+"/reply-to="),
		"Topic Name %q, the Get's reply-to %q", pub.Topic, want)
	_, own, found := strings.Cut(pub.Topic, "/reply-to=")
	m.Expect(found && own != "" && !strings.Contains(own, "/"), "Topic Name %q has no reply-to with / written %%2F", pub.Topic)
	m.End()
}

// 11.15: both Content Types R-MQTT allows are accepted.
func run11_15(t *T) {
	b, _, c := mqttWire(t)
	if c.ProtocolVersion != 5 {
		t.Skipf("the agent uses MQTT 3.1.1 (the case is for MQTT 5.0)")
	}
	m := t.Metric(1, "The EUT sends a GetResponse for both Get messages")
	defer b.SetEquipmentContentType("")
	for _, ct := range []string{"usp.msg", "application/vnd.bbf.usp.msg"} {
		b.SetEquipmentContentType(ct)
		mark := b.Mark()
		ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
		id := ex.Request.GetHeader().GetMsgId()
		if sent, ok := b.Wait(t, mark, time.Second, func(p MQTTPacket) bool { return carries(p, "GET", id) }); ok {
			t.Notef("equipment's %s", describePacket(sent))
		}
		m.Expect(ex.Err == nil && ex.Response.GetBody().GetResponse().GetGetResp() != nil, "Content Type %q: %s", ct, outcome(ex))
	}
	m.End()
}

// outcome says what an exchange brought back.
func outcome(ex *Exchange) string {
	if ex.Err != nil {
		return ex.Err.Error()
	}
	return "got " + responseKind(ex.Response)
}

// 11.17: the MQTTConnect record after the connection.
func run11_17(t *T) {
	b, client, c := mqttWire(t)
	ack, _ := connackTo(b, client)
	var subscribed []string
	var conn *usprecord.MQTTConnectRecord
	var at time.Time
	for _, p := range b.Packets(ack.Seq) {
		if p.ClientID != client {
			continue
		}
		if p.Type == "SUBSCRIBE" {
			subscribed = append(subscribed, p.Filters...)
		}
		if p.Type == "PUBLISH" && conn == nil {
			if rec, err := record.Decode(p.Payload, record.WithoutValidation()); err == nil && rec.GetMqttConnect() != nil {
				conn, at = rec.GetMqttConnect(), p.Time
				t.Notef("agent's %s: MQTTConnect version=%s subscribed_topic=%q", describePacket(p), conn.GetVersion(), conn.GetSubscribedTopic())
			}
		}
	}
	m := t.Metric(1, "Within 30 s of connecting, the EUT sends an MQTTConnect record with the right MQTTVersion and a subscribed_topic it is subscribed to")
	if !m.Expect(conn != nil, "no MQTTConnect record published by the agent after its CONNACK") {
		m.Must()
	}
	m.Expect(at.Sub(ack.Time) <= 30*time.Second, "sent %v after the CONNACK", at.Sub(ack.Time))
	want := usprecord.MQTTConnectRecord_V5
	if c.ProtocolVersion == 4 {
		want = usprecord.MQTTConnectRecord_V3_1_1
	}
	m.Expect(conn.GetVersion() == want, "MQTTVersion %s on an MQTT v%d connection", conn.GetVersion(), c.ProtocolVersion)
	m.Expect(slices.Contains(subscribed, conn.GetSubscribedTopic()), "subscribed_topic %q, subscribed to %q", conn.GetSubscribedTopic(), subscribed)
	m.End()
}
