package embedbroker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Packet types (the fixed header's upper nibble).
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
	typeAuth        = 15
)

// Reason codes used by the broker (MQTT 5; 3.1.1 CONNACK codes are mapped
// where sent).
const (
	rcSuccess             = 0x00
	rcDisconnectWithWill  = 0x04
	rcNoSubscription      = 0x11
	rcUnspecified         = 0x80
	rcMalformed           = 0x81
	rcProtocolError       = 0x82
	rcImplementation      = 0x83
	rcUnsupportedVersion  = 0x84
	rcBadClientID         = 0x85
	rcNotAuthorized       = 0x87
	rcBadAuthMethod       = 0x8C
	rcKeepAliveTimeout    = 0x8D
	rcSessionTakenOver    = 0x8E
	rcTopicFilterInvalid  = 0x8F
	rcTopicNameInvalid    = 0x90
	rcReceiveMaxExceeded  = 0x93
	rcTopicAliasInvalid   = 0x94
	rcPacketTooLarge      = 0x95
	rcQoSNotSupported     = 0x9B
	rcServerShuttingDown  = 0x8B
	rcSharedNotSupported  = 0x9E
	rcWildcardUnsupported = 0xA2
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("embedbroker: malformed packet")

// errTooLarge is returned by readPacket for a packet over the limit.
var errTooLarge = errors.New("embedbroker: packet too large")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// readPacket reads one packet: its first byte and its body. A packet whose
// remaining length is over max (0: no limit beyond MQTT's own) is
// refused before its body is read.
func readPacket(r *bufio.Reader, max uint32) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var n uint32
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, malformed("remaining length over 4 bytes")
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			break
		}
	}
	// max bounds the whole packet; the fixed header is at most 5 bytes.
	if max > 0 && n+5 > max && n+uint32(1+varintLen(n)) > max {
		return first, nil, errTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return first, body, nil
}

func varintLen(n uint32) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// decoder reads fields from a packet body; the first error sticks and
// later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = malformed(format, args...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) varint() uint32 {
	var n uint32
	for i := 0; i < 4; i++ {
		b := d.u8()
		if d.err != nil {
			return 0
		}
		n |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return n
		}
	}
	d.fail("variable byte integer over 4 bytes")
	return 0
}

func (d *decoder) bin() []byte {
	n := d.u16()
	return d.take(int(n))
}

func (d *decoder) str() string {
	v := d.bin()
	if d.err == nil && !utf8.Valid(v) {
		d.fail("string is not UTF-8")
	}
	return string(v)
}

// UserProperty is an MQTT 5 user property.
type UserProperty struct{ Key, Value string }

// Properties are the MQTT 5 properties the broker reads or forwards. A
// pointer field is nil when the property was absent.
type Properties struct {
	PayloadFormat   *byte
	MessageExpiry   *uint32
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	SubscriptionIDs []uint32
	User            []UserProperty

	SessionExpiry   *uint32
	AuthMethod      string
	ReceiveMaximum  *uint16
	MaximumPacket   *uint32
	TopicAliasMax   *uint16
	TopicAlias      *uint16
	WillDelay       *uint32
	RequestProblem  *byte
	RequestResponse *byte
	ReasonString    string
	hasAuthData     bool

	// ServerReference names another server; MQTT 5 lets it ride on a
	// DISCONNECT from either side (and on CONNACK), so a client that sends
	// one is not at fault.
	ServerReference string

	// Sent by the broker in CONNACK (an [Interceptor] may set them).
	MaximumQoS       *byte
	AssignedClientID string
	ResponseInfo     string
	// ServerKeepAlive, set by an [Interceptor], tells the client the Keep
	// Alive to use; the broker's own timeout stays the CONNECT's.
	ServerKeepAlive *uint16
}

// props reads a property list; allowed says which identifiers this packet
// may carry.
func (d *decoder) props(allowed func(id byte) bool) *Properties {
	n := d.varint()
	raw := d.take(int(n))
	if d.err != nil {
		return nil
	}
	p := new(Properties)
	pd := &decoder{b: raw}
	for len(pd.b) > 0 && pd.err == nil {
		id := byte(pd.varint())
		if pd.err != nil {
			break
		}
		if !allowed(id) {
			pd.fail("property 0x%02x not allowed here", id)
			break
		}
		switch id {
		case 0x01:
			v := pd.u8()
			p.PayloadFormat = &v
		case 0x02:
			v := pd.u32()
			p.MessageExpiry = &v
		case 0x03:
			p.ContentType = pd.str()
		case 0x08:
			p.ResponseTopic = pd.str()
		case 0x09:
			p.CorrelationData = pd.bin()
		case 0x0B:
			v := pd.varint()
			if v == 0 {
				pd.fail("subscription identifier 0")
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case 0x11:
			v := pd.u32()
			p.SessionExpiry = &v
		case 0x15:
			p.AuthMethod = pd.str()
		case 0x16:
			pd.bin()
			p.hasAuthData = true
		case 0x17:
			v := pd.u8()
			p.RequestProblem = &v
		case 0x18:
			v := pd.u32()
			p.WillDelay = &v
		case 0x19:
			v := pd.u8()
			p.RequestResponse = &v
		case 0x1C:
			p.ServerReference = pd.str()
		case 0x1F:
			p.ReasonString = pd.str()
		case 0x21:
			v := pd.u16()
			if v == 0 {
				pd.fail("receive maximum 0")
			}
			p.ReceiveMaximum = &v
		case 0x22:
			v := pd.u16()
			p.TopicAliasMax = &v
		case 0x23:
			v := pd.u16()
			p.TopicAlias = &v
		case 0x26:
			k := pd.str()
			v := pd.str()
			p.User = append(p.User, UserProperty{k, v})
		case 0x27:
			v := pd.u32()
			if v == 0 {
				pd.fail("maximum packet size 0")
			}
			p.MaximumPacket = &v
		default:
			pd.fail("unknown property 0x%02x", id)
		}
	}
	if pd.err != nil {
		d.err = pd.err
		return nil
	}
	return p
}

func propsIn(ids ...byte) func(byte) bool {
	return func(id byte) bool {
		for _, v := range ids {
			if v == id {
				return true
			}
		}
		return false
	}
}

// The properties each packet a client sends may carry, from the MQTT 5
// property table (section 2.2.2.2); props must decode every one of them
// (TestPropertyTable checks both against the table).
var (
	connectProps     = propsIn(0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16)
	willProps        = propsIn(0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26)
	publishProps     = propsIn(0x01, 0x02, 0x23, 0x08, 0x09, 0x0B, 0x03, 0x26)
	ackProps         = propsIn(0x1F, 0x26)
	subscribeProps   = propsIn(0x0B, 0x26)
	unsubscribeProps = propsIn(0x26)
	disconnectProps  = propsIn(0x11, 0x1F, 0x26, 0x1C)
)

// connectPacket is a decoded CONNECT.
type connectPacket struct {
	version    byte // 4 (3.1.1) or 5
	cleanStart bool
	keepAlive  uint16
	props      *Properties
	clientID   string
	will       *Will
	username   string
	hasUser    bool
	password   []byte
	hasPass    bool
}

// Will is a client's Will message as its CONNECT gave it.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Props   *Properties
}

// errBadVersion is returned for a CONNECT of a protocol the broker does
// not speak; the caller answers with the version's refusal.
var errBadVersion = errors.New("embedbroker: unsupported protocol version")

func decodeConnect(flags byte, body []byte) (*connectPacket, error) {
	if flags != 0 {
		return nil, malformed("CONNECT flags %#x", flags)
	}
	d := &decoder{b: body}
	name := d.str()
	level := d.u8()
	if d.err != nil {
		return nil, d.err
	}
	if name != "MQTT" || (level != 4 && level != 5) {
		return &connectPacket{version: level}, errBadVersion
	}
	c := &connectPacket{version: level}
	cf := d.u8()
	c.keepAlive = d.u16()
	if cf&0x01 != 0 {
		d.fail("reserved connect flag set")
	}
	c.cleanStart = cf&0x02 != 0
	if level == 5 {
		c.props = d.props(connectProps)
	}
	c.clientID = d.str()
	if cf&0x04 != 0 {
		w := &Will{QoS: (cf >> 3) & 3, Retain: cf&0x20 != 0}
		if w.QoS == 3 {
			d.fail("will QoS 3")
		}
		if level == 5 {
			w.Props = d.props(willProps)
		}
		w.Topic = d.str()
		w.Payload = d.bin()
		if d.err == nil && !validTopicName(w.Topic) {
			d.fail("will topic %q", w.Topic)
		}
		c.will = w
	} else if cf&0x38 != 0 {
		d.fail("will QoS or retain without will")
	}
	if cf&0x80 != 0 {
		c.username, c.hasUser = d.str(), true
	}
	if cf&0x40 != 0 {
		c.password, c.hasPass = d.bin(), true
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after CONNECT payload", len(d.b))
	}
	if d.err != nil {
		return c, d.err
	}
	return c, nil
}

// publishPacket is a decoded PUBLISH.
type publishPacket struct {
	dup, retain bool
	qos         byte
	topic       string
	id          uint16
	props       *Properties
	payload     []byte
}

func decodePublish(version, flags byte, body []byte) (*publishPacket, error) {
	p := &publishPacket{dup: flags&8 != 0, qos: (flags >> 1) & 3, retain: flags&1 != 0}
	if p.qos == 3 {
		return nil, malformed("PUBLISH QoS 3")
	}
	d := &decoder{b: body}
	p.topic = d.str()
	if p.qos > 0 {
		p.id = d.u16()
		if d.err == nil && p.id == 0 {
			d.fail("packet identifier 0")
		}
	}
	if version == 5 {
		p.props = d.props(publishProps)
		if d.err == nil && len(p.props.SubscriptionIDs) > 0 {
			d.fail("subscription identifier from a client")
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	p.payload = d.b
	return p, nil
}

// subscription is one entry of a SUBSCRIBE.
type subscription struct {
	filter         string
	qos            byte
	noLocal        bool
	retainAsPub    bool
	retainHandling byte
}

type subscribePacket struct {
	id    uint16
	subID uint32
	user  []UserProperty
	subs  []subscription
}

func decodeSubscribe(version, flags byte, body []byte) (*subscribePacket, error) {
	if flags != 2 {
		return nil, malformed("SUBSCRIBE flags %#x", flags)
	}
	d := &decoder{b: body}
	s := &subscribePacket{id: d.u16()}
	if d.err == nil && s.id == 0 {
		d.fail("packet identifier 0")
	}
	if version == 5 {
		p := d.props(subscribeProps)
		if p != nil {
			if len(p.SubscriptionIDs) > 1 {
				d.fail("more than one subscription identifier")
			} else if len(p.SubscriptionIDs) == 1 {
				s.subID = p.SubscriptionIDs[0]
			}
			s.user = p.User
		}
	}
	for d.err == nil && len(d.b) > 0 {
		f := d.str()
		o := d.u8()
		if d.err != nil {
			break
		}
		sub := subscription{filter: f, qos: o & 3}
		if sub.qos == 3 {
			d.fail("subscription QoS 3")
		}
		if version == 5 {
			sub.noLocal = o&4 != 0
			sub.retainAsPub = o&8 != 0
			sub.retainHandling = (o >> 4) & 3
			if o&0xC0 != 0 || sub.retainHandling == 3 {
				d.fail("subscription options %#x", o)
			}
		} else if o&0xFC != 0 {
			d.fail("subscription options %#x", o)
		}
		s.subs = append(s.subs, sub)
	}
	if d.err == nil && len(s.subs) == 0 {
		d.fail("SUBSCRIBE without a filter")
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

type unsubscribePacket struct {
	id      uint16
	props   *Properties
	filters []string
}

func decodeUnsubscribe(version, flags byte, body []byte) (*unsubscribePacket, error) {
	if flags != 2 {
		return nil, malformed("UNSUBSCRIBE flags %#x", flags)
	}
	d := &decoder{b: body}
	u := &unsubscribePacket{id: d.u16()}
	if d.err == nil && u.id == 0 {
		d.fail("packet identifier 0")
	}
	if version == 5 {
		u.props = d.props(unsubscribeProps)
	}
	for d.err == nil && len(d.b) > 0 {
		u.filters = append(u.filters, d.str())
	}
	if d.err == nil && len(u.filters) == 0 {
		d.fail("UNSUBSCRIBE without a filter")
	}
	if d.err != nil {
		return nil, d.err
	}
	return u, nil
}

// decodeAck reads a PUBACK (or PUBREC/PUBREL/PUBCOMP): its identifier and,
// in MQTT 5, its reason code and properties (nil when absent).
func decodeAck(version byte, body []byte) (uint16, byte, *Properties, error) {
	d := &decoder{b: body}
	id := d.u16()
	var rc byte
	var props *Properties
	if version == 5 && len(d.b) > 0 {
		rc = d.u8()
		if len(d.b) > 0 {
			props = d.props(ackProps)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes in acknowledgement")
	}
	return id, rc, props, d.err
}

// decodeDisconnect reads a DISCONNECT's reason code (0 when absent) and
// properties (nil when absent).
func decodeDisconnect(version, flags byte, body []byte) (byte, *Properties, error) {
	if flags != 0 {
		return 0, nil, malformed("DISCONNECT flags %#x", flags)
	}
	if version != 5 {
		if len(body) != 0 {
			return 0, nil, malformed("DISCONNECT with a body")
		}
		return 0, nil, nil
	}
	d := &decoder{b: body}
	var rc byte
	var props *Properties
	if len(d.b) > 0 {
		rc = d.u8()
	}
	if len(d.b) > 0 {
		props = d.props(disconnectProps)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes in DISCONNECT")
	}
	return rc, props, d.err
}

// encoder builds a packet body.
type encoder struct{ b []byte }

func (e *encoder) u8(v byte)    { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) bin(v []byte) { e.u16(uint16(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(v string) { e.u16(uint16(len(v))); e.b = append(e.b, v...) }
func (e *encoder) varint(v uint32) {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v > 0 {
			b |= 0x80
		}
		e.b = append(e.b, b)
		if v == 0 {
			return
		}
	}
}

// props appends a property list: every property set in p (none for nil).
func (e *encoder) props(p *Properties) {
	if p == nil {
		e.u8(0)
		return
	}
	var pe encoder
	if p.PayloadFormat != nil {
		pe.u8(0x01)
		pe.u8(*p.PayloadFormat)
	}
	if p.MessageExpiry != nil {
		pe.u8(0x02)
		pe.u32(*p.MessageExpiry)
	}
	if p.ContentType != "" {
		pe.u8(0x03)
		pe.str(p.ContentType)
	}
	if p.ResponseTopic != "" {
		pe.u8(0x08)
		pe.str(p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		pe.u8(0x09)
		pe.bin(p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		pe.u8(0x0B)
		pe.varint(id)
	}
	if p.SessionExpiry != nil {
		pe.u8(0x11)
		pe.u32(*p.SessionExpiry)
	}
	if p.AssignedClientID != "" {
		pe.u8(0x12)
		pe.str(p.AssignedClientID)
	}
	if p.ServerKeepAlive != nil {
		pe.u8(0x13)
		pe.u16(*p.ServerKeepAlive)
	}
	if p.ResponseInfo != "" {
		pe.u8(0x1A)
		pe.str(p.ResponseInfo)
	}
	if p.ServerReference != "" {
		pe.u8(0x1C)
		pe.str(p.ServerReference)
	}
	if p.ReasonString != "" {
		pe.u8(0x1F)
		pe.str(p.ReasonString)
	}
	if p.ReceiveMaximum != nil {
		pe.u8(0x21)
		pe.u16(*p.ReceiveMaximum)
	}
	if p.TopicAliasMax != nil {
		pe.u8(0x22)
		pe.u16(*p.TopicAliasMax)
	}
	if p.MaximumQoS != nil {
		pe.u8(0x24)
		pe.u8(*p.MaximumQoS)
	}
	for _, u := range p.User {
		pe.u8(0x26)
		pe.str(u.Key)
		pe.str(u.Value)
	}
	if p.MaximumPacket != nil {
		pe.u8(0x27)
		pe.u32(*p.MaximumPacket)
	}
	e.varint(uint32(len(pe.b)))
	e.b = append(e.b, pe.b...)
}

// frame returns the packet with its fixed header.
func frame(first byte, body []byte) []byte {
	var e encoder
	e.b = make([]byte, 0, len(body)+5)
	e.u8(first)
	e.varint(uint32(len(body)))
	return append(e.b, body...)
}

// encodePublish encodes a PUBLISH for a client of the given version;
// properties are dropped for 3.1.1.
func encodePublish(version byte, topic string, qos byte, retain, dup bool, id uint16, props *Properties, payload []byte) []byte {
	first := byte(typePublish<<4) | qos<<1
	if retain {
		first |= 1
	}
	if dup {
		first |= 8
	}
	var e encoder
	e.b = make([]byte, 0, len(topic)+len(payload)+32)
	e.str(topic)
	if qos > 0 {
		e.u16(id)
	}
	if version == 5 {
		e.props(props)
	}
	e.b = append(e.b, payload...)
	return frame(first, e.b)
}

// encodeAck encodes a PUBACK; the reason code and properties are left
// out where MQTT allows (always for 3.1.1).
func encodeAck(t byte, version byte, id uint16, rc byte, props *Properties) []byte {
	var e encoder
	e.u16(id)
	if version == 5 && (rc != 0 || props != nil) {
		e.u8(rc)
		if props != nil {
			e.props(props)
		}
	}
	return frame(t<<4, e.b)
}

func encodeDisconnect(rc byte, reason string) []byte {
	var e encoder
	e.u8(rc)
	var props *Properties
	if reason != "" {
		props = &Properties{ReasonString: reason}
	}
	e.props(props)
	return frame(typeDisconnect<<4, e.b)
}

func validTopicName(t string) bool {
	if t == "" || len(t) > 65535 {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '+', '#', 0:
			return false
		}
	}
	return true
}
