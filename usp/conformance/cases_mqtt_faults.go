package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
)

// The section 11 cases (and 4.1) in which the kit's broker misbehaves on
// purpose or speaks TLS: it refuses the agent's CONNECTs, drops its
// connection, leaves the topics out of its CONNACK, refuses its
// SUBSCRIBEs, presents a certificate the agent must check. Where the plan
// reboots the agent or disables the server, the kit's broker closes the
// agent's connection and refuses it for as long as the plan says.
func init() {
	register(
		&Case{ID: "4.1", Title: "Use of X.509 certificates at the MTP layer", Run: run4_1},
		&Case{ID: "11.3", Title: "MQTT Use of TLS", Run: run11_3},
		&Case{ID: "11.6", Title: "MQTT Message Retry", Run: run11_6},
		&Case{ID: "11.10", Title: "MQTT No Topic in CONNACK", Run: run11_10},
		&Case{ID: "11.11", Title: "MQTT Failure to Subscribe", Run: run11_11},
		&Case{ID: "11.16", Title: "MQTT Connection Retry", Run: run11_16},
	)
}

// dropAgent closes the agent's connection from the broker and returns the
// mark before it and when it happened.
func dropAgent(t *T, b *MQTTBroker, client string) (int, time.Time) {
	mark := b.Mark()
	at := time.Now()
	t.Notef("the kit's broker closes the agent's connection (client %q)", client)
	if err := b.Disconnect(client); err != nil {
		t.Abortf("%v", err)
	}
	return mark, at
}

// agentConnects returns the agent's CONNECTs from mark on.
func agentConnects(t *T, b *MQTTBroker, mark int) []MQTTPacket {
	var out []MQTTPacket
	for _, p := range b.Packets(mark) {
		if p.Type == "CONNECT" && agentConnect(t, b, p) {
			out = append(out, p)
		}
	}
	return out
}

// awaitConnects waits up to d for n CONNECTs of the agent from mark on.
func awaitConnects(t *T, b *MQTTBroker, mark, n int, d time.Duration) []MQTTPacket {
	deadline := time.Now().Add(d)
	for {
		cs := agentConnects(t, b, mark)
		if len(cs) >= n || time.Now().After(deadline) {
			return cs
		}
		t.Sleep(20 * time.Millisecond)
	}
}

// backOnBroker is a cleanup step: it waits until the agent is connected
// to the broker again (an accepted CONNECT from mark on, then its
// MQTTConnect record), so that the next case finds it reachable.
func backOnBroker(t *T, b *MQTTBroker, mark int, d time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		deadline := time.Now().Add(d)
		for {
			client, from := "", mark
			for _, p := range agentConnects(t, b, mark) {
				if !p.Refused {
					client, from = p.ClientID, p.Seq
				}
			}
			for _, p := range b.Packets(from) {
				if client != "" && p.ClientID == client && p.Type == "PUBLISH" {
					// Back once the equipment, not only the broker, has the
					// connect record: the next case's first request goes
					// where the record says the agent now listens.
					if rec, err := record.Decode(p.Payload, record.WithoutValidation()); err == nil && rec.GetMqttConnect() != nil &&
						t.eq.agentAddr().To == rec.GetMqttConnect().GetSubscribedTopic() {
						return nil
					}
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the agent did not connect to the kit's broker again within %v", d)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// mqttShortRetry is what the kit sets on an agent whose retry rule would make
// 11.6 and 11.16 wait long: a first retry after 1 to 2 s.
var mqttShortRetry = retryRule{min: time.Second, mult: 2000, names: mqttRetryNames}

// retryWaitBudget is how long the waits of the retries the case times
// may take before the kit sets [mqttShortRetry].
const retryWaitBudget = 15 * time.Second

// retryParams reads the active client's retry rule, setting the short one
// first (restored afterwards) when the case would otherwise wait over
// [retryWaitBudget] for its retries.
func retryParams(t *T, clientPath string, own map[string]string, retries int) retryRule {
	for _, p := range mqttRetryNames {
		t.NeedParam("Device.MQTT.Client.{i}." + p)
	}
	read := func(own map[string]string) (retryRule, error) {
		var n [3]uint64
		var errs []error
		for i, name := range mqttRetryNames {
			var err error
			n[i], err = strconv.ParseUint(own[name], 10, 32)
			errs = append(errs, err)
		}
		return retryRule{min: time.Duration(n[0]) * time.Second, mult: float64(n[1]), max: time.Duration(n[2]) * time.Second,
			names: mqttRetryNames}, errors.Join(errs...)
	}
	r, err := read(own)
	if err != nil {
		t.Abortf("%sConnectRetry*: %v", clientPath, err)
	}
	t.Notef("the agent's retry rule: %s", r)
	total := r.longest(retries)
	if total <= retryWaitBudget {
		return r
	}
	want := map[string]string{clientPath + "ConnectRetryTime": strconv.Itoa(int(mqttShortRetry.min / time.Second)),
		clientPath + "ConnectRetryIntervalMultiplier": strconv.Itoa(int(mqttShortRetry.mult))}
	ex := t.Send(msg.SetParams(clientPath, map[string]string{"ConnectRetryTime": want[clientPath+"ConnectRetryTime"],
		"ConnectRetryIntervalMultiplier": want[clientPath+"ConnectRetryIntervalMultiplier"]}))
	if g, err := msg.ParseSetResp(ex.Response); ex.Err != nil || err != nil || g.Err() != nil {
		t.Notef("the Set of a shorter retry rule failed (%s): the case waits the agent's own intervals", outcome(ex))
		return r
	}
	t.SetLater(map[string]string{clientPath + "ConnectRetryTime": own["ConnectRetryTime"],
		clientPath + "ConnectRetryIntervalMultiplier": own["ConnectRetryIntervalMultiplier"]})
	vals := t.GetValues(clientPath)
	for name := range own {
		own[name] = vals[clientPath+name]
	}
	r2, err := read(own)
	if err != nil {
		t.Abortf("%sConnectRetry*: %v", clientPath, err)
	}
	t.Notef("the kit set a shorter retry rule first (the plan's own would wait up to %v): %s", total, r2)
	return r2
}

// 11.16: after the broker's DISCONNECT the agent connects again between
// ConnectRetryTime and ConnectRetryTime·ConnectRetryIntervalMultiplier/1000.
func run11_16(t *T) {
	b, client, _ := mqttWire(t)
	clientPath, own := activeClient(t, client)
	r := retryParams(t, clientPath, own, 1)
	mark, at := dropAgent(t, b, client)
	t.Cleanup("the agent back on the kit's broker", backOnBroker(t, b, mark, t.cfg.responseTimeout()))
	lo, hi := r.window(1)
	cs := awaitConnects(t, b, mark, 1, hi+retrySlack+t.cfg.responseTimeout())
	m := t.Metric(1, "The EUT retries connecting to the MQTT server between ConnectRetryTime and ConnectRetryTime*(ConnectRetryIntervalMultiplier/1000)")
	if !m.Expect(len(cs) > 0, "no CONNECT from the agent within %v of the broker's DISCONNECT", hi+retrySlack+t.cfg.responseTimeout()) {
		m.Must()
	}
	d := cs[0].Time.Sub(at)
	t.Notef("agent's %s %v after the DISCONNECT", describePacket(cs[0]), d.Round(time.Millisecond))
	ok, ev := checkRetry(1, d, "the DISCONNECT", lo, hi, 0, r)
	m.Expect(ok, "%s", ev)
	m.End()
}

// 11.6: the broker, "disabled", refuses the agent's first two attempts to
// connect after its connection is lost; the retries are timed against
// ConnectRetryTime and ConnectRetryIntervalMultiplier.
func run11_6(t *T) {
	b, client, _ := mqttWire(t)
	clientPath, own := activeClient(t, client)
	setup[*msg.GetResp](t, "Get Device.MQTT.Client.", msg.Get{Paths: []string{"Device.MQTT.Client."}})
	r := retryParams(t, clientPath, own, 3)
	b.RefuseConnects(2)
	defer b.RefuseConnects(0)
	mark, at := dropAgent(t, b, client)
	t.Notef("the broker refuses the agent's next two CONNECTs (the plan's disabled MQTT server, re-enabled after two failures)")
	t.Cleanup("the agent back on the kit's broker", backOnBroker(t, b, mark, t.cfg.responseTimeout()))
	wait := r.longest(2) + 2*retrySlack + t.cfg.responseTimeout()
	cs := awaitConnects(t, b, mark, 2, wait)
	for _, c := range cs {
		t.Notef("agent's %s at +%v refused=%t", describePacket(c), c.Time.Sub(at).Round(time.Millisecond), c.Refused)
	}
	prev := at
	for i := range 2 {
		lo, hi := r.window(i + 1)
		text := "The EUT retries connecting to the MQTT server within the ConnectRetryTime of the connection instance"
		if i == 1 {
			text = "The EUT retries a second time in accordance with ConnectRetryTime and ConnectRetryIntervalMultiplier"
		}
		m := t.Metric(i+1, text)
		if !m.Expect(len(cs) > i, "%d CONNECTs from the agent within %v of losing its connection, want %d", len(cs), wait, i+1) {
			m.End()
			continue
		}
		d := cs[i].Time.Sub(prev)
		ok, ev := checkRetry(i+1, d, "the previous attempt", lo, hi, 0, r)
		m.Expect(ok, "%s", ev)
		m.End()
		prev = cs[i].Time
	}
}

// ownTopics returns the filters the agent subscribed to on a connection
// that are neither the CONNACK's subscribe-topic nor its Response
// Information (nor below them): topics the agent was configured with.
func ownTopics(b *MQTTBroker, client string, ack MQTTPacket) []string {
	given, _ := ack.UserProperty("subscribe-topic")
	var own []string
	for _, p := range b.Packets(ack.Seq) {
		if p.ClientID == client && p.Type == "CONNECT" {
			break // a later connection of the same client
		}
		if p.ClientID == client && p.Type == "UNSUBSCRIBE" {
			own = slices.DeleteFunc(own, func(f string) bool { return slices.Contains(p.Filters, f) })
		}
		if p.ClientID != client || p.Type != "SUBSCRIBE" {
			continue
		}
		for _, f := range p.Filters {
			under := func(topic string) bool {
				return topic != "" && (f == topic || strings.HasPrefix(f, topic+"/"))
			}
			if !under(given) && !under(ack.ResponseInfo) {
				own = append(own, f)
			}
		}
	}
	return own
}

// 11.10: a CONNACK without subscribe-topic (or Response Information)
// leaves an agent without a topic of its own nothing to subscribe to: it
// disconnects.
func run11_10(t *T) {
	b, client, _ := mqtt5Wire(t)
	ack, ok := connackTo(b, client)
	if !ok {
		t.Abortf("no CONNACK to the agent recorded")
	}
	if own := ownTopics(b, client, ack); len(own) > 0 {
		t.Skipf("precondition not met: the agent subscribes to %q, topics of its own besides the CONNACK's (a configured ResponseTopicConfigured or Subscription objects), so a CONNACK without subscribe-topic leaves it reachable; 11.10 is for an agent that takes its topic from the CONNACK", own)
	}
	b.WithholdResponseInfo(true)
	defer b.WithholdResponseInfo(false)
	mark, _ := dropAgent(t, b, client)
	t.Cleanup("the agent back on the kit's broker", backOnBroker(t, b, mark, t.cfg.responseTimeout()+5*time.Second))
	cs := awaitConnects(t, b, mark, 1, t.cfg.responseTimeout()+30*time.Second)
	if len(cs) == 0 {
		t.Abortf("the agent did not connect again within %v", t.cfg.responseTimeout()+30*time.Second)
	}
	c := cs[0]
	if a, ok := connackTo(b, c.ClientID); ok {
		t.Notef("agent's %s; broker's %s", describePacket(c), describePacket(a))
	}
	// What the agent does next on that connection, or its next CONNECT
	// (a connection closed without DISCONNECT).
	p, got := b.Wait(t, c.Seq+1, t.cfg.responseTimeout(), func(p MQTTPacket) bool {
		return (p.ClientID == c.ClientID && !p.ByBroker && (p.Type == "DISCONNECT" || p.Type == "PUBLISH" || p.Type == "SUBSCRIBE")) ||
			(p.Type == "CONNECT" && agentConnect(t, b, p))
	})
	if got {
		t.Notef("then the agent's %s", describePacket(p))
	}
	b.WithholdResponseInfo(false)
	disconnected := got && p.Type == "DISCONNECT"
	next := packetOrNothing(p, got, t.cfg.responseTimeout())
	if got && p.Type == "CONNECT" {
		next = "no packet on that connection"
	}
	t.Check(1, "The EUT sends an MQTT DISCONNECT packet to the MQTT server", disconnected,
		"after a CONNACK without subscribe-topic: %s%s", next, closedWithout(t, b, c))
	if !disconnected && !reconnected(t, b, c) {
		// Still on the connection without a topic: the equipment cannot
		// reach it there, so the kit makes it connect again.
		_ = b.Disconnect(c.ClientID)
	}
}

// reconnected reports whether the agent connected again after the
// connection that CONNECT c opened.
func reconnected(t *T, b *MQTTBroker, c MQTTPacket) bool {
	return len(agentConnects(t, b, c.Seq+1)) > 0
}

// closedWithout is evidence for an agent that left a connection without a
// DISCONNECT packet: it closed it and connected again.
func closedWithout(t *T, b *MQTTBroker, c MQTTPacket) string {
	for _, p := range b.Packets(c.Seq + 1) {
		if p.ClientID == c.ClientID && p.Type == "DISCONNECT" && !p.ByBroker {
			return ""
		}
		if p.Type == "CONNECT" && agentConnect(t, b, p) {
			return fmt.Sprintf("; the agent connected again %v later without a DISCONNECT packet (it closed the connection)", p.Time.Sub(c.Time).Round(time.Millisecond))
		}
	}
	return ""
}

// packetOrNothing says what came, for the evidence.
func packetOrNothing(p MQTTPacket, got bool, d time.Duration) string {
	if !got {
		return fmt.Sprintf("nothing within %v", d)
	}
	return describePacket(p)
}

// 11.11: SUBACKs refusing every topic make the agent disconnect without
// publishing anything. The kit waits for the DISCONNECT and then its
// quiet period, not the plan's 120 s: what an agent that ignored the
// refusal would publish first is its MQTTConnect record, right after the
// SUBACK.
func run11_11(t *T) {
	b, client, _ := mqttWire(t)
	b.RefuseSubscribe(true)
	defer b.RefuseSubscribe(false)
	mark, _ := dropAgent(t, b, client)
	t.Cleanup("the agent back on the kit's broker", backOnBroker(t, b, mark, t.cfg.responseTimeout()+5*time.Second))
	wait := t.cfg.responseTimeout() + 30*time.Second
	sub, ok := b.Wait(t, mark, wait, func(p MQTTPacket) bool {
		return p.Type == "SUBSCRIBE" && !b.isEquipment(p.ClientID)
	})
	if !ok {
		t.Abortf("the agent did not connect again and SUBSCRIBE within %v", wait)
	}
	t.Notef("agent's %s", describePacket(sub))
	if ack, ok := b.Wait(t, sub.Seq, time.Second, func(p MQTTPacket) bool { return p.ClientID == sub.ClientID && p.Type == "SUBACK" }); ok {
		t.Notef("broker's %s", describePacket(ack))
	}
	// The DISCONNECT, or the agent's next CONNECT (a connection closed
	// without one).
	disc, got := b.Wait(t, sub.Seq, t.cfg.responseTimeout(), func(p MQTTPacket) bool {
		return (p.ClientID == sub.ClientID && p.Type == "DISCONNECT" && !p.ByBroker) || (p.Type == "CONNECT" && agentConnect(t, b, p))
	})
	got = got && disc.Type == "DISCONNECT"
	if got {
		t.Notef("agent's %s %v after its SUBSCRIBE", describePacket(disc), disc.Time.Sub(sub.Time).Round(time.Millisecond))
	}
	t.Sleep(t.cfg.quietPeriod())
	b.RefuseSubscribe(false)
	var connect MQTTPacket // the CONNECT of the refused connection
	for _, p := range agentConnects(t, b, mark) {
		if p.Seq < sub.Seq && p.ClientID == sub.ClientID {
			connect = p
		}
	}
	t.Check(1, "The EUT sends an MQTT DISCONNECT packet to the MQTT server", got,
		"no DISCONNECT from the agent's client %q after the refused SUBSCRIBE (waited up to %v)%s", sub.ClientID, t.cfg.responseTimeout(), closedWithout(t, b, connect))
	// Every connection of the agent that was told its SUBSCRIBE failed.
	var pubs []string
	// (A client keeps its identifier across connections: a CONNECT
	// starts a new one.)
	refused := map[string]bool{}
	for _, p := range b.Packets(mark) {
		switch {
		case p.Type == "CONNECT":
			refused[p.ClientID] = false
		case p.Type == "SUBACK" && !b.isEquipment(p.ClientID) && slices.ContainsFunc(p.ReasonCodes, func(c byte) bool { return c >= 0x80 }):
			refused[p.ClientID] = true
		}
		if p.Type == "PUBLISH" && refused[p.ClientID] {
			pubs = append(pubs, describePacket(p))
		}
	}
	t.Check(2, "The EUT does not publish a USP record to the MQTT server", len(pubs) == 0,
		"published on a connection whose subscriptions were refused: %s", strings.Join(pubs, "; "))
}

// tlsWire is mqttWire for the TLS cases: the kit's broker must speak TLS.
func tlsWire(t *T) (*MQTTBroker, string, MQTTPacket) {
	b, client, c := mqttWire(t)
	if !b.TLS() {
		t.NeedsOperatorf("needs the kit's broker with TLS (uspctl conform --serve-mqtts, the agent trusting the kit's CA): the agent reaches it over plain TCP")
	}
	return b, client, c
}

// 11.3: after a new connection, everything between agent and broker goes
// over TLS 1.2 or later, a Get and its GetResp included.
func run11_3(t *T) {
	b, client, _ := tlsWire(t)
	c := reconnect(t, b, client)
	m := t.Metric(1, "All communication between the EUT and MQTT server after step 1 is encrypted using TLS 1.2 or later")
	m.Expect(c.TLSVersion >= tls.VersionTLS12, "the agent's new connection uses %s", tlsVersionName(c.TLSVersion))
	t.Notef("the agent's connection: %s", tlsVersionName(c.TLSVersion))
	mark := b.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	id := ex.Request.GetHeader().GetMsgId()
	pub, ok := b.Wait(t, mark, t.cfg.responseTimeout(), func(p MQTTPacket) bool { return carries(p, "GET_RESP", id) })
	if m.Expect(ok, "no GetResp to msg_id %q reached the broker: %s", id, outcome(ex)) {
		m.Expect(pub.ClientID == c.ClientID, "the GetResp came from client %q, not the TLS connection's %q", pub.ClientID, c.ClientID)
	}
	for _, p := range agentConnects(t, b, c.Seq) {
		m.Expect(p.TLSVersion >= tls.VersionTLS12, "a later CONNECT of the agent used %s", tlsVersionName(p.TLSVersion))
	}
	m.End()
}

// 4.1: the agent's MTP connection is TLS with the broker's X.509
// certificate (issued by the CA the agent was given), and records flow
// over it: a GetSupportedProtocol is answered.
func run4_1(t *T) {
	b, _, c := tlsWire(t)
	m := t.Metric(1, "The EUT processes the certificate and establishes a secure TLS connection at the MTP layer")
	m.Expect(c.TLSVersion >= tls.VersionTLS12, "the agent's connection to the broker uses %s", tlsVersionName(c.TLSVersion))
	if cert, ok := b.certificate(); ok && cert.Leaf != nil {
		t.Notef("broker's certificate: subject %q, issuer %q, valid to %v", cert.Leaf.Subject, cert.Leaf.Issuer, cert.Leaf.NotAfter.UTC())
	}
	ex := t.Send(msg.GetSupportedProtocol{Versions: "1.0,1.1,1.2,1.3,1.4"})
	m.Expect(ex.Err == nil && ex.Response.GetBody().GetResponse().GetGetSupportedProtocolResp() != nil,
		"GetSupportedProtocol over the TLS connection: %s", outcome(ex))
	m.End()
}

// 2.8: with the broker presenting an expired certificate, the agent makes
// no TLS connection, so a Get sent to it goes unanswered. The plan's
// "Get with an expired TLS certificate" is, over MQTT, the certificate the
// agent sees on its MTP connection: the kit's broker's. The kit closes
// the agent's connection so that it connects again under the expired
// certificate, and gives the valid one back afterwards.
func run2_8(t *T) {
	b, client, _ := tlsWire(t)
	good, _ := b.certificate()
	now := time.Now()
	expired, err := b.issuer().ServerCert(now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		t.Abortf("%v", err)
	}
	b.setCertificate(expired)
	t.Notef("the kit's broker now presents a certificate that expired at %v", expired.Leaf.NotAfter.UTC())
	hellos := b.helloCount()
	mark, _ := dropAgent(t, b, client)
	t.Cleanup("the broker's valid certificate back, and the agent on it", func(ctx context.Context) error {
		b.setCertificate(good)
		return backOnBroker(t, b, mark, t.cfg.responseTimeout()+10*time.Second)(ctx)
	})
	// The agent's attempts: TLS client hellos that end in no CONNECT.
	wait := t.cfg.responseTimeout() + 30*time.Second
	deadline := time.Now().Add(wait)
	for b.helloCount() == hellos && time.Now().Before(deadline) {
		t.Sleep(20 * time.Millisecond)
	}
	if b.helloCount() == hellos {
		t.Abortf("the agent made no attempt to connect within %v", wait)
	}
	t.Sleep(t.cfg.quietPeriod() / 2) // let the handshake end
	ex := t.Post(msg.Get{Paths: []string{"Device.LocalAgent."}})
	answered := t.Wait(ex, t.cfg.quietPeriod())
	attempts := b.helloCount() - hellos
	accepted := agentConnects(t, b, mark)
	b.setCertificate(good)
	t.Notef("%d TLS handshakes begun under the expired certificate; %d CONNECTs from the agent", attempts, len(accepted))
	m := t.Metric(1, "The EUT doesn't respond to the Get message")
	m.Expect(!answered, "the agent answered: %s", outcome(ex))
	for _, c := range accepted {
		m.Expect(false, "the agent completed a TLS handshake with the expired certificate and sent %s", describePacket(c))
	}
	m.End()
}
