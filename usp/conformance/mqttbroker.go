package conformance

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gousp/gousp/internal/mochilisten"
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

	// CONNACK.
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
	for _, kv := range p.UserProperties {
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
	srv  *mochi.Server
	addr string
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
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("conformance: broker: %w", err)
	}
	// mochilisten: it closes client sockets itself (see its
	// doc), so Close cannot hang on a client leaving at the same moment.
	l := mochilisten.New("tp469", addr, nil)
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("conformance: broker: listen %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("conformance: broker: %w", err)
	}
	return &MQTTBroker{srv: srv, addr: l.Address(), hook: h}, nil
}

// URL returns mqtt://host:port.
func (b *MQTTBroker) URL() string { return "mqtt://" + b.addr }

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

// SetServerKeepAlive makes the broker impose a Keep Alive of secs seconds
// (Server Keep Alive, MQTT 5) on the agent connections that follow; 0
// stops it.
func (b *MQTTBroker) SetServerKeepAlive(secs uint16) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.serverKeepAlive = secs
}

// Disconnect closes a client's connection from the broker's side, with a
// DISCONNECT (reason 0x8B, server shutting down) to an MQTT 5 client: the
// kit's way to make an agent connect again where the plan reboots it.
func (b *MQTTBroker) Disconnect(clientID string) error {
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok {
		return fmt.Errorf("conformance: broker: no client %q", clientID)
	}
	if err := b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown); err != nil {
		// The connection is closed all the same (the DISCONNECT could not
		// be written).
		cl.Stop(err)
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

// wireHook records packets and lets every client in.
type wireHook struct {
	mochi.HookBase
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
}

func (h *wireHook) ID() string { return "tp469-wire" }

func (h *wireHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnConnect, mochi.OnPacketRead, mochi.OnPacketEncode:
		return true
	}
	return false
}

func (h *wireHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (h *wireHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

func userProps(us []packets.UserProperty) [][2]string {
	out := make([][2]string, 0, len(us))
	for _, u := range us {
		out = append(out, [2]string{u.Key, u.Val})
	}
	return out
}

func (h *wireHook) add(p MQTTPacket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p.Seq, p.Time = len(h.log), time.Now()
	h.log = append(h.log, p)
}

func (h *wireHook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	p := MQTTPacket{Type: "CONNECT", ClientID: cl.ID, ProtocolVersion: pk.ProtocolVersion,
		UserProperties: userProps(pk.Properties.User), ConnectClientID: pk.Connect.ClientIdentifier,
		Username: string(pk.Connect.Username), HasUsername: pk.Connect.UsernameFlag,
		HasPassword: pk.Connect.PasswordFlag, KeepAlive: pk.Connect.Keepalive,
		RequestResponseInfo: pk.Properties.RequestResponseInfo == 1, Will: pk.Connect.WillFlag,
		WillTopic: pk.Connect.WillTopic}
	v, ok := p.UserProperty(propEndpointID)
	h.mu.Lock()
	if ok {
		h.endpoints[cl.ID] = v
	}
	if ska := h.serverKeepAlive; ska > 0 && v != h.equipmentID && pk.ProtocolVersion >= 5 {
		// mochi's way to send a Server Keep Alive, and keep to it.
		cl.State.ServerKeepalive, cl.State.Keepalive = true, ska
	}
	h.mu.Unlock()
	h.add(p)
	return nil
}

func (h *wireHook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	p := MQTTPacket{ClientID: cl.ID, ProtocolVersion: cl.Properties.ProtocolVersion,
		UserProperties: userProps(pk.Properties.User)}
	switch pk.FixedHeader.Type {
	case packets.Subscribe, packets.Unsubscribe:
		p.Type = "SUBSCRIBE"
		if pk.FixedHeader.Type == packets.Unsubscribe {
			p.Type = "UNSUBSCRIBE"
		}
		for _, f := range pk.Filters {
			p.Filters = append(p.Filters, f.Filter)
		}
	case packets.Publish:
		h.mu.Lock()
		if h.contentType != "" && h.endpoints[cl.ID] == h.equipmentID {
			pk.Properties.ContentType = h.contentType
		}
		h.mu.Unlock()
		p.Type, p.Topic, p.QoS = "PUBLISH", pk.TopicName, pk.FixedHeader.Qos
		p.ResponseTopic, p.ContentType = pk.Properties.ResponseTopic, pk.Properties.ContentType
		p.Payload = slices.Clone(pk.Payload)
	case packets.Pingreq:
		p.Type = "PINGREQ"
	case packets.Disconnect:
		p.Type = "DISCONNECT"
	default:
		return pk, nil
	}
	h.add(p)
	return pk, nil
}

// OnPacketEncode gives an agent's CONNACK the Response Information and
// subscribe-topic the section 11 cases look for, and records it and each
// SUBACK.
func (h *wireHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Suback {
		// Written once the subscriptions are in place: a case that waits
		// for it knows that a PUBLISH to them reaches the client.
		h.add(MQTTPacket{Type: "SUBACK", ClientID: cl.ID, ProtocolVersion: cl.Properties.ProtocolVersion,
			ReasonCodes: slices.Clone(pk.ReasonCodes)})
		return pk
	}
	if pk.FixedHeader.Type != packets.Connack {
		return pk
	}
	var ska uint16
	if pk.Properties.ServerKeepAliveFlag {
		ska = pk.Properties.ServerKeepAlive
	}
	h.mu.Lock()
	ep, known := h.endpoints[cl.ID]
	h.clients++
	n := h.clients
	h.mu.Unlock()
	if pk.ReasonCode == 0 && cl.Properties.ProtocolVersion >= 5 && !(known && ep == h.equipmentID) {
		pk.Properties.ResponseInfo = "tp469/agent/reply/" + strconv.Itoa(n)
		pk.Properties.User = append(pk.Properties.User,
			packets.UserProperty{Key: "subscribe-topic", Val: "tp469/agent/sub/" + strconv.Itoa(n)})
	}
	h.add(MQTTPacket{Type: "CONNACK", ClientID: cl.ID, ProtocolVersion: cl.Properties.ProtocolVersion,
		UserProperties: userProps(pk.Properties.User), AssignedClientID: pk.Properties.AssignedClientID,
		ResponseInfo: pk.Properties.ResponseInfo, ServerKeepAlive: ska})
	return pk
}
