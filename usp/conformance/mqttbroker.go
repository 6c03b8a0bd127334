package conformance

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gousp/gousp/internal/embedbroker"
)

// MQTTPacket is one MQTT control packet the kit's broker saw (or, for
// CONNACK, sent), decoded into the fields TP-469 section 11 checks.
type MQTTPacket struct {
	Seq  int
	Time time.Time
	// Type is the packet type: "CONNECT", "CONNACK", "SUBSCRIBE",
	// "SUBACK", "UNSUBSCRIBE", "PUBLISH", "PINGREQ" or "DISCONNECT".
	Type string
	// ClientID is the client's identifier as the broker knows it (the one
	// it assigned when the CONNECT's was empty).
	ClientID string
	// ProtocolVersion: 4 for MQTT 3.1.1, 5 for MQTT 5.0.
	ProtocolVersion byte
	// UserProperties in the order sent (key, value).
	UserProperties [][2]string

	// CONNECT.
	ConnectClientID     string // the identifier exactly as in the CONNECT
	Username            string
	HasUsername         bool
	HasPassword         bool
	KeepAlive           uint16
	RequestResponseInfo bool
	Will                bool
	WillTopic           string
	// ByBroker: a DISCONNECT the broker sent (or a connection it
	// closed), not the client.
	ByBroker bool
	// Refused: the broker refused this CONNECT ([MQTTBroker.RefuseConnects]).
	Refused bool
	// TLSVersion is the TLS version of the connection (tls.VersionTLS12
	// ...), 0 over plain TCP.
	TLSVersion uint16

	// CONNACK.
	ReasonCode       byte // also a DISCONNECT's
	AssignedClientID string
	ResponseInfo     string
	ServerKeepAlive  uint16 // 0: none sent

	// SUBSCRIBE and UNSUBSCRIBE: the topic filters.
	Filters []string
	// SUBACK: one reason code per filter (the QoS granted, or >= 0x80).
	ReasonCodes []byte

	// PUBLISH.
	Topic         string
	QoS           byte
	ResponseTopic string
	ContentType   string
	Payload       []byte
}

// UserProperty returns the first User Property with that name.
func (p MQTTPacket) UserProperty(name string) (string, bool) {
	return firstValue(p.UserProperties, name)
}

// firstValue returns the value of the first (name, value) pair named name.
func firstValue(pairs [][2]string, name string) (string, bool) {
	for _, kv := range pairs {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// MQTTBroker is the test equipment's own MQTT 5 broker (it also takes
// MQTT 3.1.1 clients). Pointing the agent at it lets the MQTT cases of
// section 11 see what the agent puts on the wire: its CONNECT, the topics
// it subscribes to, the properties of what it publishes. Every CONNACK to
// a client other than the equipment carries a Response Information
// property and a subscribe-topic User Property the broker makes up, as
// 11.8 and 11.12 ask.
type MQTTBroker struct {
	srv  *embedbroker.Broker
	hook *wireHook
}

// StartMQTTBroker starts the kit's broker on addr ("127.0.0.1:0" picks a
// free port). equipmentID is the test equipment's endpoint ID: its own
// client gets a plain CONNACK, so that the topic the agent was told to
// reach it at stays valid.
func StartMQTTBroker(addr, equipmentID string) (*MQTTBroker, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: broker address: %w", ErrInvalidOption, err)
	}
	h := &wireHook{equipmentID: equipmentID, endpoints: map[string]string{}}
	srv, err := embedbroker.Listen(embedbroker.Config{Addr: addr, Interceptor: h})
	if err != nil {
		return nil, fmt.Errorf("conformance: broker: %w", err)
	}
	return &MQTTBroker{srv: srv, hook: h}, nil
}

// URL returns mqtt://host:port.
func (b *MQTTBroker) URL() string { return b.srv.URL() }

// Close stops the broker and disconnects its clients.
func (b *MQTTBroker) Close() error { return b.srv.Close() }

// Packets returns the packets seen so far with Seq >= from, in order.
func (b *MQTTBroker) Packets(from int) []MQTTPacket {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	i, _ := slices.BinarySearchFunc(b.hook.log, from, func(p MQTTPacket, s int) int { return p.Seq - s })
	return slices.Clone(b.hook.log[i:])
}

// SetEquipmentContentType makes the broker rewrite the Content Type of the
// equipment's PUBLISH packets to ct ("" stops it): the test equipment's
// way to "configure the Controller" to send another Content Type.
func (b *MQTTBroker) SetEquipmentContentType(ct string) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.contentType = ct
}

// SetServerKeepAlive makes the broker tell the agent connections that
// follow to use a Keep Alive of secs seconds (Server Keep Alive, MQTT 5);
// 0 stops it.
func (b *MQTTBroker) SetServerKeepAlive(secs uint16) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.serverKeepAlive = secs
}

// Disconnect closes a client's connection from the broker's side, with a
// DISCONNECT (reason 0x8B, server shutting down) to an MQTT 5 client: the
// kit's way to make an agent connect again where the plan reboots it.
func (b *MQTTBroker) Disconnect(clientID string) error {
	b.hook.add(MQTTPacket{Type: "DISCONNECT", ClientID: clientID, ByBroker: true, ReasonCode: 0x8B})
	if !b.srv.Disconnect(clientID, 0x8B) {
		return fmt.Errorf("conformance: broker: no client %q", clientID)
	}
	return nil
}

// isEquipment reports whether a client is the test equipment's own.
func (b *MQTTBroker) isEquipment(clientID string) bool {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	return b.hook.endpoints[clientID] == b.hook.equipmentID
}

// Mark returns the Seq the next packet will get.
func (b *MQTTBroker) Mark() int {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	return len(b.hook.log)
}

// ClientOf returns the client ID of the most recent connection whose
// CONNECT named endpointID in its usp-endpoint-id User Property (MQTT 5),
// or else, when the broker saw exactly one other client than the
// equipment's (an MQTT 3.1.1 agent has no properties), that client.
func (b *MQTTBroker) ClientOf(endpointID string) (string, bool) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	for i := len(b.hook.log) - 1; i >= 0; i-- {
		p := b.hook.log[i]
		if v, _ := p.UserProperty(propEndpointID); p.Type == "CONNECT" && v == endpointID {
			return p.ClientID, true
		}
	}
	others := map[string]bool{}
	for _, p := range b.hook.log {
		if v, _ := p.UserProperty(propEndpointID); p.Type == "CONNECT" && (v != b.hook.equipmentID || p.ProtocolVersion < 5) {
			others[p.ClientID] = true
		}
	}
	if len(others) == 1 {
		for id := range others {
			return id, true
		}
	}
	return "", false
}

// Wait waits up to d for a packet from (or, for CONNACK, to) client with
// Seq >= from that match accepts.
func (b *MQTTBroker) Wait(t *T, from int, d time.Duration, match func(MQTTPacket) bool) (MQTTPacket, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, p := range b.Packets(from) {
			if match(p) {
				return p, true
			}
		}
		if time.Now().After(deadline) || t.ctx.Err() != nil {
			return MQTTPacket{}, false
		}
		t.Sleep(50 * time.Millisecond)
	}
}

// propEndpointID is the CONNECT User Property naming the client's USP
// endpoint (R-MQTT.13).
const propEndpointID = "usp-endpoint-id"

// wireHook records what clients send and the CONNACKs they get; it lets
// every client in.
type wireHook struct {
	equipmentID string

	mu        sync.Mutex
	log       []MQTTPacket
	endpoints map[string]string // client ID -> usp-endpoint-id
	clients   int
	// contentType, when set, replaces the Content Type of the
	// equipment's PUBLISH packets (11.15).
	contentType string
	// serverKeepAlive, when set, is the Server Keep Alive of the CONNACK
	// to the next agent connections (11.7).
	serverKeepAlive uint16
	// faults are the ways the broker misbehaves towards agents on
	// purpose (11.6, 11.10, 11.11), tls what it knows of its TLS
	// connections; see mqttfaults.go.
	faults brokerFaults
	tls    tlsLog
}

func userProps(p *embedbroker.Properties) [][2]string {
	if p == nil {
		return [][2]string{}
	}
	out := make([][2]string, 0, len(p.User))
	for _, u := range p.User {
		out = append(out, [2]string{u.Key, u.Value})
	}
	return out
}

func (h *wireHook) add(p MQTTPacket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p.Seq, p.Time = len(h.log), time.Now()
	h.log = append(h.log, p)
}

// Inbound records the packets the section 11 cases look at; for the
// equipment's PUBLISH it applies [MQTTBroker.SetEquipmentContentType].
func (h *wireHook) Inbound(cl embedbroker.Client, pk *embedbroker.Packet) bool {
	p := MQTTPacket{Type: pk.Type.String(), ClientID: cl.ID, ProtocolVersion: cl.Version, UserProperties: userProps(pk.Props)}
	switch pk.Type {
	case embedbroker.PacketConnect:
		c := pk.Connect
		p.ConnectClientID, p.Username, p.HasUsername, p.HasPassword = c.ClientID, c.Username, c.HasUsername, c.HasPassword
		p.KeepAlive, p.Will = c.KeepAlive, c.Will != nil
		p.RequestResponseInfo = pk.Props != nil && pk.Props.RequestResponse != nil && *pk.Props.RequestResponse == 1
		if c.Will != nil {
			p.WillTopic = c.Will.Topic
		}
		v, ok := p.UserProperty(propEndpointID)
		h.mu.Lock()
		if ok {
			h.endpoints[cl.ID] = v
		}
		p.TLSVersion = h.tls.version(cl.Remote)
		p.Refused = v != h.equipmentID && h.faults.refuseConnect()
		h.mu.Unlock()
		if p.Refused {
			h.add(p)
			return false // refused: Not authorized
		}
	case embedbroker.PacketSubscribe:
		for _, s := range pk.Subscriptions {
			p.Filters = append(p.Filters, s.Filter)
		}
	case embedbroker.PacketUnsubscribe:
		p.Filters = slices.Clone(pk.Filters)
	case embedbroker.PacketPublish:
		h.mu.Lock()
		if h.contentType != "" && h.endpoints[cl.ID] == h.equipmentID {
			if pk.Props == nil {
				pk.Props = &embedbroker.Properties{}
			}
			pk.Props.ContentType = h.contentType
		}
		h.mu.Unlock()
		p.Topic, p.QoS = pk.Topic, pk.QoS
		if pk.Props != nil {
			p.ResponseTopic, p.ContentType = pk.Props.ResponseTopic, pk.Props.ContentType
		}
		p.Payload = slices.Clone(pk.Payload)
	case embedbroker.PacketDisconnect:
		p.ReasonCode = pk.ReasonCode
	case embedbroker.PacketPingreq:
	default:
		return true
	}
	h.add(p)
	return true
}

// Outbound gives an agent's CONNACK the Response Information and
// subscribe-topic the section 11 cases look for (and the Server Keep
// Alive of [MQTTBroker.SetServerKeepAlive]), and records it and each
// SUBACK.
func (h *wireHook) Outbound(cl embedbroker.Client, pk *embedbroker.Packet) bool {
	if pk.Type == embedbroker.PacketSuback {
		h.mu.Lock()
		if h.faults.refuseSubscribe && h.endpoints[cl.ID] != h.equipmentID {
			for i := range pk.Reasons {
				pk.Reasons[i] = 0x87 // Not authorized
			}
		}
		h.mu.Unlock()
		// Sent once the subscriptions are in place: a case that waits
		// for it knows that a PUBLISH to them reaches the client.
		h.add(MQTTPacket{Type: "SUBACK", ClientID: cl.ID, ProtocolVersion: cl.Version, ReasonCodes: slices.Clone(pk.Reasons)})
		return true
	}
	if pk.Type != embedbroker.PacketConnack {
		return true
	}
	h.mu.Lock()
	ep, known := h.endpoints[cl.ID]
	h.clients++
	n := h.clients
	ska := h.serverKeepAlive
	withhold := h.faults.noResponseInfo
	h.mu.Unlock()
	p := MQTTPacket{Type: "CONNACK", ClientID: cl.ID, ProtocolVersion: cl.Version}
	if props := pk.Props; props != nil {
		if pk.ReasonCode == 0 && !(known && ep == h.equipmentID) && !withhold {
			props.ResponseInfo = "tp469/agent/reply/" + strconv.Itoa(n)
			props.User = append(props.User, embedbroker.UserProperty{Key: "subscribe-topic", Value: "tp469/agent/sub/" + strconv.Itoa(n)})
			if ska > 0 {
				props.ServerKeepAlive = &ska
				p.ServerKeepAlive = ska
			}
		}
		p.AssignedClientID, p.ResponseInfo = props.AssignedClientID, props.ResponseInfo
	}
	p.ReasonCode = pk.ReasonCode
	p.UserProperties = userProps(pk.Props)
	h.add(p)
	return true
}
