package conformance

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// The section 11 cases that work on the agent's Device.MQTT.Client.{i}.
// objects.
func init() {
	register(
		&Case{ID: "11.1", Title: "Support of Required MQTT Profiles", Run: run11_1},
		&Case{ID: "11.4", Title: "MQTT 5.0 ClientID", Run: run11_4},
		&Case{ID: "11.5", Title: "MQTT ClientID Persistence", Run: run11_5},
		&Case{ID: "11.7", Title: "MQTT Keep Alive", Slow: 45 * time.Second, Run: run11_7},
		&Case{ID: "11.9", Title: "MQTT New Subscription", Run: run11_9},
		&Case{ID: "11.13", Title: "MQTT QoS", Run: run11_13},
	)
}

// mqttProfiles are the parameters of the TR-181 profiles 11.1 names, as
// the kit reads them, by supported object path. MessageRetryTime is
// checked apart: the plan excuses agents that speak only MQTT 5.0.
var mqttProfiles = []struct {
	profile string
	object  string
	params  []string
}{
	{"MQTTClientCon:1", "Device.MQTT.", []string{"ClientNumberOfEntries"}},
	{"MQTTClientCon:1", "Device.MQTT.Capabilities.", []string{"ProtocolVersionsSupported", "TransportProtocolSupported"}},
	{"MQTTClientCon:1", "Device.MQTT.Client.{i}.", []string{"Enable", "Status", "BrokerAddress", "BrokerPort",
		"ProtocolVersion", "TransportProtocol", "ClientID", "Username", "Password", "KeepAliveTime"}},
	{"MQTTClientSubscribe:1", "Device.MQTT.Capabilities.", []string{"MaxNumberOfClientSubscriptions"}},
	{"MQTTClientSubscribe:1", "Device.MQTT.Client.{i}.", []string{"SubscriptionNumberOfEntries"}},
	{"MQTTClientSubscribe:1", "Device.MQTT.Client.{i}.Subscription.{i}.", []string{"Enable", "Topic", "QoS"}},
	{"MQTTAgent:1", "Device.LocalAgent.MTP.{i}.MQTT.", []string{"Reference", "ResponseTopicConfigured", "ResponseTopicDiscovered"}},
	{"MQTTController:1", "Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.", []string{"Reference", "Topic"}},
}

// overMQTT skips the case unless the agent is reached over MQTT.
func overMQTT(t *T) {
	if k := t.eq.Transport().Kind(); k != mtp.MQTT {
		t.Skipf("the agent is reached over %s, not MQTT", k)
	}
}

// 11.1: the supported data model under Device.MQTT. and Device.LocalAgent.
// has every parameter of the four profiles.
func run11_1(t *T) {
	overMQTT(t)
	ex := t.Send(msg.GetSupportedDM{Paths: []string{"Device.MQTT.", "Device.LocalAgent."}, ReturnParams: true})
	r := Expect[*msg.GetSupportedDMResp](t, 1, ex)
	have := map[string]map[string]bool{}
	m := t.Metric(2, "The GetSupportedDMResponse contains all required parameters of MQTTClientCon:1, MQTTClientSubscribe:1, MQTTAgent:1 and MQTTController:1")
	for _, res := range r.Results {
		m.Expect(res.Err == nil, "%s: %v", res.Requested, res.Err)
		for _, o := range res.Objects {
			names := map[string]bool{}
			for _, p := range o.Params {
				names[p.Name] = true
			}
			have[o.Path] = names
		}
	}
	for _, p := range mqttProfiles {
		for _, name := range p.params {
			m.Expect(have[p.object][name], "%s: %s%s missing", p.profile, p.object, name)
		}
	}
	// MessageRetryTime is required of agents that also speak MQTT 3.1.1.
	v311 := false
	if b := t.eq.broker; b != nil {
		if client, ok := b.ClientOf(t.eq.AgentID()); ok {
			for _, p := range b.Packets(0) {
				v311 = v311 || (p.ClientID == client && p.Type == "CONNECT" && p.ProtocolVersion == 4)
			}
		}
	}
	if ex := t.Send(msg.Get{Paths: []string{"Device.MQTT.Capabilities.ProtocolVersionsSupported"}}); ex.Err == nil {
		if g, err := msg.ParseGetResp(ex.Response); err == nil {
			versions := g.Values()["Device.MQTT.Capabilities.ProtocolVersionsSupported"]
			t.Notef("Device.MQTT.Capabilities.ProtocolVersionsSupported = %q", versions)
			v311 = v311 || slices.Contains(strings.Split(versions, ","), "3.1.1")
		}
	}
	if v311 {
		m.Expect(have["Device.MQTT.Client.{i}."]["MessageRetryTime"],
			"MQTTClientCon:1: Device.MQTT.Client.{i}.MessageRetryTime missing (the agent speaks MQTT 3.1.1)")
	}
	m.End()
}

// activeClient returns the Device.MQTT.Client.{i}. instance that holds
// the agent's connection to the kit's broker: the connected one whose
// ClientID is the broker's client, else the only connected one.
func activeClient(t *T, brokerClient string) (string, map[string]string) {
	t.NeedParam("Device.MQTT.Client.{i}.ClientID")
	values := t.GetValues("Device.MQTT.Client.")
	var connected []string
	for p, v := range values {
		if strings.HasSuffix(p, ".Status") && v == "Connected" {
			connected = append(connected, strings.TrimSuffix(p, "Status"))
		}
	}
	slices.Sort(connected)
	pick := ""
	for _, c := range connected {
		if values[c+"ClientID"] == brokerClient {
			pick = c
		}
	}
	if pick == "" && len(connected) == 1 {
		pick = connected[0]
	}
	if pick == "" {
		t.Abortf("no connected Device.MQTT.Client instance stands for the connection to the kit's broker (client %q; connected: %q)", brokerClient, connected)
	}
	own := map[string]string{}
	for p, v := range values {
		if name, ok := strings.CutPrefix(p, pick); ok && !strings.Contains(name, ".") {
			own[name] = v
		}
	}
	t.Notef("active MQTT client: %s (ClientID %q)", pick, own["ClientID"])
	return pick, own
}

// reconnect makes the agent connect to the kit's broker again, the kit's
// stand-in for the plan's reboot, and returns the new CONNECT once the
// agent has sent its MQTTConnect record on the new connection (so that
// what follows reaches it).
func reconnect(t *T, b *MQTTBroker, client string) MQTTPacket {
	mark := b.Mark()
	t.Notef("the kit's broker closes the agent's connection (client %q) instead of rebooting it", client)
	if err := b.Disconnect(client); err != nil {
		t.Abortf("%v", err)
	}
	wait := t.cfg.responseTimeout() + 30*time.Second
	c, ok := b.Wait(t, mark, wait, func(p MQTTPacket) bool { return p.Type == "CONNECT" && agentConnect(t, b, p) })
	if !ok {
		t.Abortf("the agent did not connect again within %v", wait)
	}
	t.Notef("agent's new %s", describePacket(c))
	if _, ok := b.Wait(t, c.Seq, wait, func(p MQTTPacket) bool {
		if p.ClientID != c.ClientID || p.Type != "PUBLISH" {
			return false
		}
		rec, err := record.Decode(p.Payload, record.WithoutValidation())
		return err == nil && rec.GetMqttConnect() != nil
	}); !ok {
		t.Notef("no MQTTConnect record after the new connection within %v", wait)
	}
	return c
}

// agentConnect reports whether a CONNECT is the agent's (not the
// equipment's own).
func agentConnect(t *T, b *MQTTBroker, p MQTTPacket) bool {
	if v, ok := p.UserProperty(propEndpointID); ok {
		return v == t.eq.AgentID()
	}
	return p.ProtocolVersion < 5 && p.ClientID != "" && !b.isEquipment(p.ClientID)
}

// 11.5: after the agent connects again, its CONNECT carries the ClientID
// it reports.
func run11_5(t *T) {
	b, client, _ := mqttWire(t)
	_, own := activeClient(t, client)
	id := own["ClientID"]
	c := reconnect(t, b, client)
	t.Check(1, "The EUT uses the same ClientID in the subsequent MQTT CONNECT packet",
		id != "" && c.ConnectClientID == id, "ClientID before %q, the new CONNECT's %q", id, c.ConnectClientID)
}

// subscribeTopic adds a Device.MQTT.Client.{i}.Subscription.{i}. and
// waits for the agent's SUBSCRIBE to its topic; it returns the instance
// and whether the SUBSCRIBE came.
func subscribeTopic(t *T, b *MQTTBroker, client, clientPath, topic, qos string) (string, MQTTPacket, bool) {
	mark := b.Mark()
	params := map[string]string{"Enable": "true", "Topic": topic}
	if qos != "" {
		params["QoS"] = qos
	}
	inst, _ := t.Create(clientPath+"Subscription.", params)
	t.Notef("added %s (Topic %q, QoS %q)", inst, topic, qos)
	p, ok := b.Wait(t, mark, t.cfg.responseTimeout(), func(p MQTTPacket) bool {
		return p.ClientID == client && p.Type == "SUBSCRIBE" && slices.Contains(p.Filters, topic)
	})
	if !ok {
		return inst, p, false
	}
	t.Notef("agent's %s", describePacket(p))
	// What is published on the topic reaches the agent once the broker
	// has answered the SUBSCRIBE.
	if ack, acked := b.Wait(t, p.Seq, t.cfg.responseTimeout(), func(a MQTTPacket) bool {
		return a.ClientID == client && a.Type == "SUBACK"
	}); acked {
		t.Notef("broker's %s", describePacket(ack))
	}
	return inst, p, true
}

// topicFor is the plan's topic, with "/#" for an MQTT 3.1.1 agent (whose
// requests come with a /reply-to= level appended).
func topicFor(c MQTTPacket, topic string) string {
	if c.ProtocolVersion < 5 {
		return topic + "/#"
	}
	return topic
}

// getOn sends a Get of path to the agent on topic and waits for its GetResp.
func getOn(t *T, topic, path string) *Exchange {
	ex := t.eq.PostTo(t.ctx, msg.Get{Paths: []string{path}}, mtp.Address{MTP: mtp.MQTT, To: topic})
	t.Wait(ex, t.cfg.responseTimeout())
	return ex
}

// gotGetResp says whether an exchange brought a GetResp without errors.
func gotGetResp(ex *Exchange) (bool, string) {
	if ex.Err != nil {
		return false, ex.Err.Error()
	}
	g, err := msg.ParseGetResp(ex.Response)
	if err != nil {
		return false, "got " + responseKind(ex.Response)
	}
	if err := g.Err(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// 11.9: a new Subscription object makes the agent subscribe; requests on
// the topic are answered; disabling it makes the agent unsubscribe.
func run11_9(t *T) {
	b, client, c := mqttWire(t)
	clientPath, _ := activeClient(t, client)
	topic := topicFor(c, "newTopic-11-9")
	inst, _, ok := subscribeTopic(t, b, client, clientPath, topic, "")
	t.Check(1, "The EUT sends an MQTT SUBSCRIBE packet that includes the new Topic", ok,
		"no SUBSCRIBE to %q from the agent's client within %v", topic, t.cfg.responseTimeout())
	ex := getOn(t, strings.TrimSuffix(topic, "/#"), inst)
	got, why := gotGetResp(ex)
	t.Check(2, "The EUT sends a GetResp for the Subscription", got, "Get of %s published on %q: %s", inst, topic, why)
	mark := b.Mark()
	setup[*msg.SetResp](t, "Set "+inst+"Enable false", msg.SetParams(inst, map[string]string{"Enable": "false"}))
	un, ok := b.Wait(t, mark, t.cfg.responseTimeout(), func(p MQTTPacket) bool {
		return p.ClientID == client && p.Type == "UNSUBSCRIBE" && slices.Contains(p.Filters, topic)
	})
	if ok {
		t.Notef("agent's %s", describePacket(un))
	}
	t.Check(3, "The EUT sends an MQTT UNSUBSCRIBE packet for the configured Topic after Enable is set to false", ok,
		"no UNSUBSCRIBE of %q from the agent's client within %v", topic, t.cfg.responseTimeout())
}

// 11.13: subscriptions at QoS 0 and QoS 1 both carry requests.
func run11_13(t *T) {
	b, client, c := mqttWire(t)
	clientPath, _ := activeClient(t, client)
	var insts, topics []string
	for i, qos := range []string{"0", "1"} {
		topic := "newTopic-11-13-QoS" + qos
		if i == 0 {
			topic = topicFor(c, topic) // the plan adds /# for 3.1.1 agents to the first only
		}
		inst, sub, ok := subscribeTopic(t, b, client, clientPath, topic, qos)
		if !ok {
			t.Abortf("no SUBSCRIBE to %q from the agent's client within %v", topic, t.cfg.responseTimeout())
		}
		t.Notef("QoS %s asked for, the SUBSCRIBE's filters %q", qos, sub.Filters)
		insts, topics = append(insts, inst), append(topics, strings.TrimSuffix(topic, "/#"))
	}
	for i := range insts {
		ex := getOn(t, topics[i], insts[i])
		got, why := gotGetResp(ex)
		t.Check(i+1, fmt.Sprintf("The EUT sends a GetResp for the Get message sent to topic '%s'", topics[i]), got,
			"Get of %s: %s", insts[i], why)
	}
}

// mqtt5Wire is mqttWire for the cases of MQTT 5.0 agents.
func mqtt5Wire(t *T) (*MQTTBroker, string, MQTTPacket) {
	b, client, c := mqttWire(t)
	if c.ProtocolVersion != 5 {
		t.Skipf("the agent uses MQTT 3.1.1 (the case is for MQTT 5.0)")
	}
	return b, client, c
}

// setClient sets one parameter of the active client, the procedure's
// step 1, and registers its restoration (for the next connection: the
// current one keeps what the case gave it). An agent that refuses the Set
// fails metric m.
func setClient(t *T, m *Metric, clientPath string, own map[string]string, name, value string) {
	ex := t.Send(msg.SetParams(clientPath, map[string]string{name: value}))
	err := ex.Err
	if err == nil {
		var r *msg.SetResp
		if r, err = msg.ParseSetResp(ex.Response); err == nil {
			err = r.Err()
		}
	}
	if err != nil {
		m.Expect(false, "the Set of %s%s to %q failed: %v", clientPath, name, value, err)
		m.Must()
	}
	t.SetLater(map[string]string{clientPath + name: own[name]})
}

// 11.4: with ClientID set to the empty string, the agent connects with an
// empty ClientID and then reports the identifier the server assigned.
func run11_4(t *T) {
	b, client, _ := mqtt5Wire(t)
	clientPath, own := activeClient(t, client)
	m := t.Metric(1, "The EUT's MQTT CONNECT packet has a ClientID set to an empty string")
	setClient(t, m, clientPath, own, "ClientID", "")
	c := reconnect(t, b, client)
	m.Expect(c.ConnectClientID == "", "the new CONNECT's ClientID is %q", c.ConnectClientID)
	m.End()
	ack, ok := connackTo(b, c.ClientID)
	if !ok || ack.AssignedClientID == "" {
		t.Abortf("the kit's broker sent no Assigned Client Identifier (CONNACK %s)", describePacket(ack))
	}
	t.Notef("broker's %s", describePacket(ack))
	got := t.GetValues(clientPath + "ClientID")[clientPath+"ClientID"]
	t.Check(2, "The retrieved ClientID matches the Assigned Client Identifier of the CONNACK", got == ack.AssignedClientID,
		"ClientID %q, Assigned Client Identifier %q", got, ack.AssignedClientID)
}

// 11.7: KeepAliveTime 60 goes into the next CONNECT; with a Server Keep
// Alive of 30 s in the CONNACK, the agent pings within 45 s of its last
// packet.
func run11_7(t *T) {
	b, client, _ := mqtt5Wire(t)
	clientPath, own := activeClient(t, client)
	m := t.Metric(1, "The EUT sends an MQTT CONNECT packet with the Keep Alive set to 60 seconds")
	setClient(t, m, clientPath, own, "KeepAliveTime", "60")
	b.SetServerKeepAlive(30)
	defer b.SetServerKeepAlive(0)
	c := reconnect(t, b, client)
	m.Expect(c.KeepAlive == 60, "Keep Alive %d", c.KeepAlive)
	m.End()
	if ack, ok := connackTo(b, c.ClientID); ok {
		t.Notef("broker's %s", describePacket(ack))
	}
	// The plan's step 5: 45 s in which the kit sends nothing. Every
	// stretch without a packet from the agent must end within 45 s, and
	// one of them with a PINGREQ. (The broker logs every packet the agent
	// sends but PUBACK, PUBREC, PUBREL and PUBCOMP, whose omission can only
	// make a stretch look longer.)
	const bound = 45 * time.Second
	start := time.Now()
	last := start
	for _, p := range b.Packets(c.Seq) {
		if p.ClientID == c.ClientID && p.Type != "CONNACK" {
			last = p.Time
		}
	}
	t.Sleep(bound + retrySlack)
	end := time.Now()
	m = t.Metric(2, "The EUT sends an MQTT PINGREQ packet within 45 seconds of its last MQTT message")
	pings, longest := 0, time.Duration(0)
	for _, p := range b.Packets(c.Seq) {
		if p.ClientID != c.ClientID || p.Type == "CONNACK" || !p.Time.After(last) {
			continue
		}
		longest = max(longest, p.Time.Sub(last))
		last = p.Time
		if p.Type == "PINGREQ" && p.Time.After(start) {
			pings++
			t.Notef("PINGREQ %v into the wait", p.Time.Sub(start).Round(time.Millisecond))
		}
	}
	longest = max(longest, end.Sub(last))
	m.Expect(pings > 0, "no PINGREQ in the %v after the connection was set up", end.Sub(start).Round(time.Millisecond))
	m.Expect(within(longest, 0, bound, retrySlack), "%v without a packet from the agent", longest.Round(time.Millisecond))
	m.End()
}
