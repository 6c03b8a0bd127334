package embedbroker

import (
	"bufio"
	"bytes"
	"testing"
)

// decodeAll decodes data as a stream of packets from a client of the given
// protocol version, as the reader goroutine would.
func decodeAll(version byte, data []byte) {
	r := bufio.NewReader(bytes.NewReader(data))
	for {
		first, body, err := readPacket(r, 1<<16)
		if err != nil {
			return
		}
		flags := first & 0x0f
		switch first >> 4 {
		case typeConnect:
			_, _ = decodeConnect(flags, body)
		case typePublish:
			_, _ = decodePublish(version, flags, body)
		case typePuback:
			_, _, _, _ = decodeAck(version, body)
		case typeSubscribe:
			_, _ = decodeSubscribe(version, flags, body)
		case typeUnsubscribe:
			_, _ = decodeUnsubscribe(version, flags, body)
		case typeDisconnect:
			_, _, _ = decodeDisconnect(version, flags, body)
		}
	}
}

// FuzzDecode: no input makes the decoder panic or read past a packet, and
// a PUBLISH that decodes encodes back to the same packet.
func FuzzDecode(f *testing.F) {
	f.Add(byte(5), []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 30, 0, 0, 0})
	f.Add(byte(4), []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0})
	f.Add(byte(5), encodePublish(5, "a/b", 1, false, false, 7, &Properties{ContentType: "usp.msg", ResponseTopic: "r",
		CorrelationData: []byte{1}, User: []UserProperty{{"k", "v"}}}, []byte("payload")))
	f.Add(byte(4), encodePublish(4, "a/b", 0, true, false, 0, nil, []byte("x")))
	f.Add(byte(5), []byte{0x82, 9, 0, 1, 0, 0, 3, 'a', '/', '#', 1})
	f.Add(byte(5), []byte{0xA2, 7, 0, 1, 0, 0, 2, 'a', '/'})
	f.Add(byte(5), []byte{0x40, 3, 0, 1, 0x10})
	f.Add(byte(5), []byte{0xE0, 1, 4})
	f.Add(byte(5), []byte{0xE0, 11, 0, 9, 0x1C, 0, 2, 'h', '1', 0x1F, 0, 1, 'r'}) // Server Reference, Reason String
	f.Add(byte(5), []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		if version != 4 {
			version = 5
		}
		decodeAll(version, data)
		r := bufio.NewReader(bytes.NewReader(data))
		first, body, err := readPacket(r, 1<<16)
		if err != nil || first>>4 != typePublish {
			return
		}
		p, err := decodePublish(version, first&0x0f, body)
		if err != nil || p.qos > 1 || p.dup {
			return
		}
		if version == 5 && p.props.MessageExpiry != nil {
			return
		}
		again := encodePublish(version, p.topic, p.qos, p.retain, false, p.id, p.props, p.payload)
		first2, body2, err := readPacket(bufio.NewReader(bytes.NewReader(again)), 0)
		if err != nil {
			t.Fatalf("re-encoded PUBLISH unreadable: %v", err)
		}
		q, err := decodePublish(version, first2&0x0f, body2)
		if err != nil || q.topic != p.topic || q.id != p.id || !bytes.Equal(q.payload, p.payload) {
			t.Fatalf("re-encoded PUBLISH differs: %+v vs %+v (%v)", q, p, err)
		}
	})
}
