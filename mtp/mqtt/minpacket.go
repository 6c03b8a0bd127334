package mqtt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// The minimal client's own codec for the two packets a simulated agent
// moves all the time, PUBLISH and PUBACK (MQTT 5.0, sections 3.3 and 3.4).
// paho's decoder copies every string and binary field through a growing
// bytes.Buffer (about 7 KiB allocated for a small PUBLISH) and its encoder
// builds a packet from four buffers; here a received packet costs one
// allocation for its body, which the topic, properties and payload are
// read from, and a sent one is built in one buffer. Every other packet
// (CONNACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, and a PUBACK with
// properties) still goes through paho's decoder.

// MQTT 5 property identifiers a PUBLISH may carry (section 3.3.2.3).
const (
	propPayloadFormat   = 0x01
	propMessageExpiry   = 0x02
	propContentType     = 0x03
	propResponseTopic   = 0x08
	propCorrelationData = 0x09
	propSubscriptionID  = 0x0b
	propTopicAlias      = 0x23
	propUser            = 0x26
)

// minPacket is one packet read by readMinPacket: pub for a PUBLISH, id
// and reason for a PUBACK without properties, cp for anything else.
type minPacket struct {
	typ    byte
	pub    *packets.Publish
	id     uint16
	reason byte
	cp     *packets.ControlPacket
}

// readMinPacket reads the next packet from c. The packet guard has already
// checked the Remaining Length against our Maximum Packet Size, so the
// body is read whole; a malformed packet is an error wrapping
// errMinProtocol, never a panic.
func readMinPacket(c *guardConn) (minPacket, error) {
	var head [5]byte
	b, err := c.readByte()
	if err != nil {
		return minPacket{}, err
	}
	head[0] = b
	n, mul, vbi := 1, 1, 0
	for {
		b, err := c.readByte()
		if err != nil {
			return minPacket{}, err
		}
		head[n] = b
		n++
		vbi += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
		if n == 5 {
			return minPacket{}, fmt.Errorf("%w: remaining length longer than 4 bytes", errMinProtocol)
		}
		mul *= 128
	}
	body := make([]byte, vbi)
	if err := c.readFull(body); err != nil {
		return minPacket{}, err
	}
	typ, flags := head[0]>>4, head[0]&0x0f
	switch {
	case typ == packets.PUBLISH:
		p, err := decodePublish(flags, body)
		if err != nil {
			return minPacket{}, fmt.Errorf("%w: PUBLISH: %v", errMinProtocol, err)
		}
		return minPacket{typ: typ, pub: p}, nil
	case typ == packets.PUBACK && flags == 0 && (vbi == 2 || vbi == 3 || vbi == 4 && body[3] == 0):
		// No properties (a Property Length of 0 is allowed too).
		pk := minPacket{typ: typ, id: binary.BigEndian.Uint16(body)}
		if vbi > 2 {
			pk.reason = body[2]
		}
		return pk, nil
	}
	full := make([]byte, 0, n+len(body))
	full = append(append(full, head[:n]...), body...)
	cp, err := readPacket(bytes.NewReader(full))
	if err != nil {
		return minPacket{}, err
	}
	return minPacket{typ: typ, cp: cp}, nil
}

// decodePublish decodes a PUBLISH's variable header and payload from body
// (the packet after its fixed header) given the fixed header's flags. The
// payload and correlation data share body's memory.
func decodePublish(flags byte, body []byte) (*packets.Publish, error) {
	p := &packets.Publish{
		Duplicate: flags&0x08 != 0,
		QoS:       (flags >> 1) & 0x03,
		Retain:    flags&0x01 != 0,
	}
	if p.QoS == 3 {
		return nil, fmt.Errorf("QoS 3")
	}
	topic, rest, err := cutString(body)
	if err != nil {
		return nil, fmt.Errorf("topic name: %w", err)
	}
	p.Topic = topic
	if p.QoS > 0 {
		if len(rest) < 2 {
			return nil, fmt.Errorf("no packet identifier")
		}
		p.PacketID = binary.BigEndian.Uint16(rest)
		if p.PacketID == 0 {
			return nil, fmt.Errorf("packet identifier 0")
		}
		rest = rest[2:]
	}
	plen, k, err := cutVBI(rest)
	if err != nil {
		return nil, fmt.Errorf("property length: %w", err)
	}
	rest = rest[k:]
	if plen > len(rest) {
		return nil, fmt.Errorf("property length %d past the packet's end", plen)
	}
	props := &packets.Properties{}
	if err := decodePublishProps(props, rest[:plen]); err != nil {
		return nil, err
	}
	p.Properties = props
	p.Payload = rest[plen:]
	return p, nil
}

// decodePublishProps decodes a PUBLISH's properties (MQTT 5.0 3.3.2.3):
// a property not allowed there, or one allowed once given twice, is an
// error.
func decodePublishProps(props *packets.Properties, b []byte) error {
	var seen uint8 // a bit per single-valued property
	once := func(bit uint8, id byte) error {
		if seen&bit != 0 {
			return fmt.Errorf("property %#x given twice", id)
		}
		seen |= bit
		return nil
	}
	for len(b) > 0 {
		id := b[0] // every identifier MQTT 5 defines fits one VBI byte
		if id&0x80 != 0 {
			return fmt.Errorf("unknown property %#x", id)
		}
		b = b[1:]
		var err error
		switch id {
		case propPayloadFormat:
			if err = once(1, id); err != nil {
				return err
			}
			if len(b) < 1 {
				return fmt.Errorf("property %#x cut short", id)
			}
			if b[0] > 1 {
				return fmt.Errorf("payload format %d", b[0])
			}
			v := b[0]
			props.PayloadFormat, b = &v, b[1:]
		case propMessageExpiry:
			if err = once(2, id); err != nil {
				return err
			}
			if len(b) < 4 {
				return fmt.Errorf("property %#x cut short", id)
			}
			v := binary.BigEndian.Uint32(b)
			props.MessageExpiry, b = &v, b[4:]
		case propContentType:
			if err = once(4, id); err != nil {
				return err
			}
			props.ContentType, b, err = cutString(b)
		case propResponseTopic:
			if err = once(8, id); err != nil {
				return err
			}
			props.ResponseTopic, b, err = cutString(b)
		case propCorrelationData:
			if err = once(16, id); err != nil {
				return err
			}
			props.CorrelationData, b, err = cutBinary(b)
		case propTopicAlias:
			if err = once(32, id); err != nil {
				return err
			}
			if len(b) < 2 {
				return fmt.Errorf("property %#x cut short", id)
			}
			v := binary.BigEndian.Uint16(b)
			if v == 0 {
				return fmt.Errorf("topic alias 0")
			}
			props.TopicAlias, b = &v, b[2:]
		case propSubscriptionID:
			// May repeat (one per matching subscription); the first is kept.
			v, k, verr := cutVBI(b)
			if verr != nil {
				return fmt.Errorf("subscription identifier: %w", verr)
			}
			if v == 0 {
				return fmt.Errorf("subscription identifier 0")
			}
			if props.SubscriptionIdentifier == nil {
				props.SubscriptionIdentifier = &v
			}
			b = b[k:]
		case propUser:
			var key, val string
			if key, b, err = cutString(b); err == nil {
				val, b, err = cutString(b)
			}
			props.User = append(props.User, packets.User{Key: key, Value: val})
		default:
			return fmt.Errorf("property %#x not allowed in PUBLISH", id)
		}
		if err != nil {
			return fmt.Errorf("property %#x: %w", id, err)
		}
	}
	return nil
}

// cutBinary splits a two-byte-length-prefixed field off b.
func cutBinary(b []byte) ([]byte, []byte, error) {
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("length cut short")
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, nil, fmt.Errorf("%d bytes past the end", n)
	}
	return b[2 : 2+n : 2+n], b[2+n:], nil
}

// cutString splits a UTF-8 string field off b; MQTT 5.0 1.5.4 makes
// ill-formed UTF-8 and U+0000 a malformed packet.
func cutString(b []byte) (string, []byte, error) {
	s, rest, err := cutBinary(b)
	if err != nil {
		return "", nil, err
	}
	if !utf8.Valid(s) || bytes.IndexByte(s, 0) >= 0 {
		return "", nil, fmt.Errorf("not a valid UTF-8 string")
	}
	return string(s), rest, nil
}

// cutVBI reads a Variable Byte Integer from b and returns it with its
// length in bytes.
func cutVBI(b []byte) (int, int, error) {
	v, mul := 0, 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("cut short")
		}
		v += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
		mul *= 128
	}
	return 0, 0, fmt.Errorf("longer than 4 bytes")
}

// appendVBI appends v as a Variable Byte Integer.
func appendVBI(b []byte, v int) []byte {
	for {
		d := byte(v % 128)
		v /= 128
		if v > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if v == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// maxInlinePayload is the largest payload copied into the buffer that
// holds a PUBLISH's header; a larger one is written after it, unmoved.
const maxInlinePayload = maxHeldWrite

// encodePublish builds p's PUBLISH with packet identifier id: the whole
// packet, or, when the payload is over maxInlinePayload, its header and
// the payload to write after it.
// Strings longer than 65,535 bytes are refused, as is a packet over
// MQTT's largest Remaining Length; a client's PUBLISH carries no
// Subscription Identifier (MQTT 5.0 3.3.4), so none is written.
func encodePublish(p *paho.Publish, id uint16) (head, tail []byte, err error) {
	var pr *paho.PublishProperties = p.Properties
	if pr == nil {
		pr = &paho.PublishProperties{}
	}
	// Checked in place: a slice of the strings would be an allocation
	// on every send.
	longest := max(len(p.Topic), len(pr.ContentType), len(pr.ResponseTopic))
	for _, u := range pr.User {
		longest = max(longest, len(u.Key), len(u.Value))
	}
	if longest > 0xffff {
		return nil, nil, fmt.Errorf("mqtt: a %d-byte string does not fit a PUBLISH", longest)
	}
	if len(pr.CorrelationData) > 0xffff {
		return nil, nil, fmt.Errorf("mqtt: %d bytes of correlation data do not fit a PUBLISH", len(pr.CorrelationData))
	}
	props := 0
	if pr.PayloadFormat != nil {
		props += 2
	}
	if pr.MessageExpiry != nil {
		props += 5
	}
	if pr.ContentType != "" {
		props += 3 + len(pr.ContentType)
	}
	if pr.ResponseTopic != "" {
		props += 3 + len(pr.ResponseTopic)
	}
	if pr.CorrelationData != nil {
		props += 3 + len(pr.CorrelationData)
	}
	if pr.TopicAlias != nil {
		props += 3
	}
	for _, u := range pr.User {
		props += 5 + len(u.Key) + len(u.Value)
	}
	rem := 2 + len(p.Topic) + varintLen(props) + props + len(p.Payload)
	if p.QoS > 0 {
		rem += 2
	}
	if rem > 268435455 {
		return nil, nil, fmt.Errorf("mqtt: a %d-byte PUBLISH is over MQTT's largest packet", rem)
	}
	inline := len(p.Payload) <= maxInlinePayload
	size := 1 + varintLen(rem) + rem
	if !inline {
		size -= len(p.Payload)
	}
	b := make([]byte, 0, size)
	first := byte(packets.PUBLISH<<4) | p.QoS<<1
	if p.Retain {
		first |= 1
	}
	b = append(b, first)
	b = appendVBI(b, rem)
	b = appendString(b, p.Topic)
	if p.QoS > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	b = appendVBI(b, props)
	if pr.PayloadFormat != nil {
		b = append(b, propPayloadFormat, *pr.PayloadFormat)
	}
	if pr.MessageExpiry != nil {
		b = binary.BigEndian.AppendUint32(append(b, propMessageExpiry), *pr.MessageExpiry)
	}
	if pr.ContentType != "" {
		b = appendString(append(b, propContentType), pr.ContentType)
	}
	if pr.ResponseTopic != "" {
		b = appendString(append(b, propResponseTopic), pr.ResponseTopic)
	}
	if pr.CorrelationData != nil {
		b = binary.BigEndian.AppendUint16(append(b, propCorrelationData), uint16(len(pr.CorrelationData)))
		b = append(b, pr.CorrelationData...)
	}
	if pr.TopicAlias != nil {
		b = binary.BigEndian.AppendUint16(append(b, propTopicAlias), *pr.TopicAlias)
	}
	for _, u := range pr.User {
		b = appendString(appendString(append(b, propUser), u.Key), u.Value)
	}
	if !inline {
		return b, p.Payload, nil
	}
	return append(b, p.Payload...), nil, nil
}
