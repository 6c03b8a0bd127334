package embedbroker

import "net"

// Interceptor sees the packets of every client connection and may change
// or drop them: test equipment's way to watch what a client puts on the
// wire and to make the broker misbehave on purpose (add CONNACK
// properties, swallow a PUBLISH, withhold a PUBACK).
//
// Both methods are called on the client's reader goroutine, so one
// client's packets come in the order it sent them, and different clients'
// concurrently; no broker lock is held, but the client waits (its packets
// are not read) until the method returns.
type Interceptor interface {
	// Inbound is called for each packet a client sends, once decoded and
	// before the broker acts on it (so before the ACL). Returning false
	// drops it: the broker acts as if it never arrived (a dropped QoS 1
	// PUBLISH is neither routed nor acknowledged), except that a dropped
	// CONNECT is refused (Not authorized). Changes to a PUBLISH's Topic,
	// Payload, Retain and Props take effect; other changes are ignored.
	// A packet that does not decode is not passed: the connection ends.
	Inbound(c Client, p *Packet) bool
	// Outbound is called for each answer the broker is about to send:
	// CONNACK (refusals included), PUBACK, SUBACK, UNSUBACK and PINGRESP.
	// Returning false withholds it. Changes to Props (MQTT 5 clients),
	// and to the ReasonCode of a PUBACK or the Reasons of a SUBACK or
	// UNSUBACK, change what the client is told, not what the broker did.
	// Messages delivered to subscribers and the broker's DISCONNECTs are
	// not passed.
	Outbound(c Client, p *Packet) bool
}

// InterceptorFuncs is an [Interceptor] made of functions; a nil one lets
// every packet through unchanged.
type InterceptorFuncs struct {
	In  func(Client, *Packet) bool
	Out func(Client, *Packet) bool
}

// Inbound calls In.
func (f InterceptorFuncs) Inbound(c Client, p *Packet) bool { return f.In == nil || f.In(c, p) }

// Outbound calls Out.
func (f InterceptorFuncs) Outbound(c Client, p *Packet) bool { return f.Out == nil || f.Out(c, p) }

// Client is the connection an intercepted packet belongs to.
type Client struct {
	// ID is the client identifier as the broker knows it: the one it
	// assigned when the CONNECT's was empty ([ConnectInfo.ClientID] keeps
	// what the CONNECT said).
	ID string
	// Version is 4 for MQTT 3.1.1, 5 for MQTT 5 (for a CONNACK refusing an
	// unsupported protocol, the level the CONNECT asked for).
	Version byte
	// Remote is the client's network address.
	Remote net.Addr
}

// PacketType is an MQTT control packet type.
type PacketType byte

// The packet types an [Interceptor] sees.
const (
	PacketConnect     PacketType = typeConnect
	PacketConnack     PacketType = typeConnack
	PacketPublish     PacketType = typePublish
	PacketPuback      PacketType = typePuback
	PacketSubscribe   PacketType = typeSubscribe
	PacketSuback      PacketType = typeSuback
	PacketUnsubscribe PacketType = typeUnsubscribe
	PacketUnsuback    PacketType = typeUnsuback
	PacketPingreq     PacketType = typePingreq
	PacketPingresp    PacketType = typePingresp
	PacketDisconnect  PacketType = typeDisconnect
)

var packetNames = [...]string{typeConnect: "CONNECT", typeConnack: "CONNACK", typePublish: "PUBLISH",
	typePuback: "PUBACK", typePubrec: "PUBREC", typePubrel: "PUBREL", typePubcomp: "PUBCOMP",
	typeSubscribe: "SUBSCRIBE", typeSuback: "SUBACK", typeUnsubscribe: "UNSUBSCRIBE", typeUnsuback: "UNSUBACK",
	typePingreq: "PINGREQ", typePingresp: "PINGRESP", typeDisconnect: "DISCONNECT", typeAuth: "AUTH"}

// String returns the type's name as the MQTT specification writes it
// ("CONNECT").
func (t PacketType) String() string {
	if int(t) < len(packetNames) && packetNames[t] != "" {
		return packetNames[t]
	}
	return "reserved"
}

// Packet is a decoded MQTT control packet as an [Interceptor] sees it;
// only the fields of its Type are set.
type Packet struct {
	Type PacketType
	// ID is the packet identifier: PUBLISH at QoS 1, PUBACK, SUBSCRIBE,
	// SUBACK, UNSUBSCRIBE and UNSUBACK.
	ID uint16
	// ReasonCode is a CONNACK's, PUBACK's or DISCONNECT's, as the
	// client's protocol version writes it (a 3.1.1 CONNACK's return code;
	// 3.1.1 PUBACKs carry none).
	ReasonCode byte
	// Reasons are a SUBACK's or UNSUBACK's codes, one per filter (3.1.1
	// UNSUBACKs carry none).
	Reasons []byte
	// Props are the MQTT 5 properties; nil for a 3.1.1 client.
	Props *Properties

	// Connect is a CONNECT's content.
	Connect *ConnectInfo

	// PUBLISH.
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Dup     bool

	// Subscriptions are a SUBSCRIBE's filters and options.
	Subscriptions []Subscription
	// Filters are an UNSUBSCRIBE's filters.
	Filters []string
}

// Subscription is one filter of a SUBSCRIBE.
type Subscription struct {
	Filter            string // as sent, with any $share/<group>/ prefix
	QoS               byte   // requested
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

// Interception helpers, all cheap no-ops without an interceptor.

func (c *conn) client() Client {
	return Client{ID: c.id, Version: c.version, Remote: c.nc.RemoteAddr()}
}

// inbound passes a decoded packet to the interceptor; it reports whether
// the broker is to act on it.
func (c *conn) inbound(p *Packet) bool {
	return c.b.cfg.Interceptor == nil || c.b.cfg.Interceptor.Inbound(c.client(), p)
}

// reply sends an answer (not CONNACK) through the interceptor, encoding
// it after the interceptor had its say.
func (c *conn) reply(p *Packet) {
	if i := c.b.cfg.Interceptor; i != nil && !i.Outbound(c.client(), p) {
		return
	}
	c.send(encodeAnswer(c.version, p))
}

// encodeAnswer encodes a PUBACK, SUBACK, UNSUBACK or PINGRESP for a client
// of the given version.
func encodeAnswer(version byte, p *Packet) []byte {
	var e encoder
	switch p.Type {
	case PacketPuback:
		return encodeAck(typePuback, version, p.ID, p.ReasonCode, p.Props)
	case PacketSuback, PacketUnsuback:
		e.u16(p.ID)
		if version == 5 {
			e.props(p.Props)
		}
		if version == 5 || p.Type == PacketSuback {
			e.b = append(e.b, p.Reasons...)
		}
	}
	return frame(byte(p.Type)<<4, e.b)
}

// encodeConnack encodes a CONNACK for a client of the given version.
func encodeConnack(version, rc byte, props *Properties) []byte {
	var e encoder
	e.u8(0) // session present: sessions do not outlive connections
	e.u8(rc)
	if version == 5 {
		e.props(props)
	}
	return frame(typeConnack<<4, e.b)
}
