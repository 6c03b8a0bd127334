package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

func ptr[T any](v T) *T { return &v }

// publishCases are PUBLISH packets as a controller or broker sends them,
// and with every property a PUBLISH may carry.
func publishCases() []*paho.Publish {
	big := bytes.Repeat([]byte("r"), maxInlinePayload+1)
	return []*paho.Publish{
		{Topic: "usp/agent", QoS: 1, PacketID: 7, Payload: []byte("record"),
			Properties: &paho.PublishProperties{ContentType: ContentType, ResponseTopic: "usp/controller"}},
		{Topic: "a", QoS: 0, Payload: []byte("x"), Properties: &paho.PublishProperties{}},
		{Topic: "a/b", QoS: 1, PacketID: 65535, Retain: true, Payload: nil, Properties: &paho.PublishProperties{}},
		{Topic: "t/é", QoS: 1, PacketID: 3, Payload: big, Properties: &paho.PublishProperties{
			PayloadFormat:   ptr(byte(1)),
			MessageExpiry:   ptr(uint32(3600)),
			ContentType:     "application/vnd.bbf.usp.msg",
			ResponseTopic:   "reply/here",
			CorrelationData: []byte{0, 1, 2},
			TopicAlias:      ptr(uint16(4)),
			User:            paho.UserProperties{{Key: "usp-endpoint-id", Value: "proto::x"}, {Key: "k", Value: ""}},
		}},
	}
}

// samePublish compares what the transport reads of two PUBLISH packets.
func samePublish(t *testing.T, got, want *packets.Publish) {
	t.Helper()
	if got.Topic != want.Topic || got.QoS != want.QoS || got.Retain != want.Retain || got.Duplicate != want.Duplicate ||
		(got.QoS > 0 && got.PacketID != want.PacketID) || !bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("PUBLISH %+v, want %+v", got, want)
	}
	gp, wp := *got.Properties, *want.Properties
	if len(gp.User) == 0 && len(wp.User) == 0 {
		gp.User, wp.User = nil, nil
	}
	if len(gp.CorrelationData) == 0 && len(wp.CorrelationData) == 0 {
		gp.CorrelationData, wp.CorrelationData = nil, nil
	}
	if !reflect.DeepEqual(gp, wp) {
		t.Fatalf("properties %+v, want %+v", gp, wp)
	}
}

// pahoDecode decodes a whole packet with paho's decoder.
func pahoDecode(b []byte) (cp *packets.ControlPacket, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("paho panicked: %v", v)
		}
	}()
	return packets.ReadPacket(bytes.NewReader(b))
}

// minDecode decodes a whole packet with readMinPacket.
func minDecode(b []byte) (minPacket, error) {
	return readMinPacket(newGuardConn(byteConn{bytes.NewReader(b)}, 1<<28, nil))
}

// TestMinPublishCodec: what our encoder writes, paho's decoder reads back
// as it was; what paho's encoder writes, ours reads back.
func TestMinPublishCodec(t *testing.T) {
	for i, p := range publishCases() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			head, tail, err := encodePublish(p, p.PacketID)
			if err != nil {
				t.Fatal(err)
			}
			if (len(p.Payload) > maxInlinePayload) != (tail != nil) {
				t.Fatalf("payload of %d bytes: tail %d bytes", len(p.Payload), len(tail))
			}
			ours := append(append([]byte(nil), head...), tail...)
			cp, err := pahoDecode(ours)
			if err != nil {
				t.Fatalf("paho cannot read our PUBLISH: %v", err)
			}
			want := p.Packet()
			samePublish(t, cp.Content.(*packets.Publish), want)

			var theirs bytes.Buffer
			if _, err := want.WriteTo(&theirs); err != nil {
				t.Fatal(err)
			}
			mp, err := minDecode(theirs.Bytes())
			if err != nil {
				t.Fatalf("we cannot read paho's PUBLISH: %v", err)
			}
			samePublish(t, mp.pub, want)
			// Both encoders agree on the size, property order aside.
			if len(ours) != theirs.Len() {
				t.Fatalf("our PUBLISH is %d bytes, paho's %d", len(ours), theirs.Len())
			}
		})
	}
}

// TestMinPubackDecode: a PUBACK in each of its shortened forms is decoded
// here; one with properties goes through paho's decoder.
func TestMinPubackDecode(t *testing.T) {
	for _, tc := range []struct {
		in     []byte
		reason byte
		paho   bool
	}{
		{[]byte{0x40, 2, 0x12, 0x34}, 0, false},
		{[]byte{0x40, 3, 0x12, 0x34, 0x10}, 0x10, false},
		{[]byte{0x40, 4, 0x12, 0x34, 0x87, 0}, 0x87, false},
		{[]byte{0x40, 8, 0x12, 0x34, 0x87, 4, 0x1f, 0, 1, 'x'}, 0x87, true},
	} {
		mp, err := minDecode(tc.in)
		if err != nil {
			t.Fatalf("% x: %v", tc.in, err)
		}
		if mp.typ != packets.PUBACK || (mp.cp != nil) != tc.paho {
			t.Fatalf("% x: %+v", tc.in, mp)
		}
		id, reason := mp.id, mp.reason
		if mp.cp != nil {
			pa := mp.cp.Content.(*packets.Puback)
			id, reason = pa.PacketID, pa.ReasonCode
			if pa.Properties.ReasonString != "x" {
				t.Fatalf("% x: reason string %q", tc.in, pa.Properties.ReasonString)
			}
		}
		if id != 0x1234 || reason != tc.reason {
			t.Fatalf("% x: id %#x reason %#x", tc.in, id, reason)
		}
	}
}

// TestMinPublishMalformed: what MQTT 5 makes a malformed PUBLISH is a
// protocol error, with the reason.
func TestMinPublishMalformed(t *testing.T) {
	pub := func(flags byte, body ...byte) []byte {
		return append([]byte{0x30 | flags, byte(len(body))}, body...)
	}
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{pub(6, 0, 1, 'a', 0, 1, 0), "QoS 3"},
		{pub(2, 0, 1, 'a', 0, 0, 0), "packet identifier 0"},
		{pub(2, 0, 1, 'a', 0), "no packet identifier"},
		{pub(0, 0, 5, 'a'), "topic name"},
		{pub(0, 0, 1, 0xff, 0), "UTF-8"},
		{pub(0, 0, 1, 0, 0), "UTF-8"},
		{pub(0, 0, 1, 'a', 5, 1, 0), "past the packet's end"},
		{pub(0, 0, 1, 'a', 4, 1, 0, 1, 1), "given twice"},
		{pub(0, 0, 1, 'a', 2, 1, 2), "payload format 2"},
		{pub(0, 0, 1, 'a', 3, 0x23, 0, 0), "topic alias 0"},
		{pub(0, 0, 1, 'a', 2, 0x0b, 0), "subscription identifier 0"},
		{pub(0, 0, 1, 'a', 5, 0x11, 0, 0, 0, 1), "not allowed in PUBLISH"},
		{pub(0, 0, 1, 'a', 3, 0x03, 0, 5), "past the end"},
		{pub(0, 0, 1, 'a', 2, 0x80, 1), "unknown property"},
		{pub(0, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0x7f), "property length"},
	} {
		_, err := minDecode(tc.in)
		if err == nil || !errors.Is(err, errMinProtocol) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("% x: error %v, want a protocol error with %q", tc.in, err, tc.want)
		}
	}
}

// TestMinPublishRefusals: strings and packets MQTT cannot carry are
// refused before anything is written.
func TestMinPublishRefusals(t *testing.T) {
	long := strings.Repeat("x", 0x10000)
	for _, p := range []*paho.Publish{
		{Topic: long},
		{Topic: "a", Properties: &paho.PublishProperties{ContentType: long}},
		{Topic: "a", Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: long}}}},
		{Topic: "a", Properties: &paho.PublishProperties{CorrelationData: []byte(long)}},
	} {
		if _, _, err := encodePublish(p, 1); err == nil {
			t.Errorf("a PUBLISH with a 65,536-byte string was encoded")
		}
	}
}

// FuzzMinPublish checks our PUBLISH decoder against paho's on arbitrary
// bodies: what ours accepts, paho reads the same (ours is the stricter,
// MQTT 5's rules on UTF-8 and repeated properties), and our encoder
// writes it back to the same packet.
func FuzzMinPublish(f *testing.F) {
	for _, p := range publishCases() {
		var b bytes.Buffer
		if _, err := p.Packet().WriteTo(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes()[0]&0x0f, b.Bytes()[1+varintLen(b.Len()-2):])
	}
	f.Add(byte(2), []byte{0, 1, 'a', 0, 1, 2, 0x0b, 3, 'p'})
	f.Fuzz(func(t *testing.T, flags byte, body []byte) {
		flags &= 0x0f
		full := appendVBI([]byte{0x30 | flags}, len(body))
		full = append(full, body...)
		mp, err := minDecode(full)
		if err != nil {
			if !errors.Is(err, errMinProtocol) {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		cp, err := pahoDecode(full)
		if err != nil {
			t.Fatalf("we read a PUBLISH that paho rejects: %v", err)
		}
		theirs := cp.Content.(*packets.Publish)
		if mp.pub.Properties.SubscriptionIdentifier != nil {
			// paho keeps the last of several; we keep the first.
			theirs.Properties.SubscriptionIdentifier = mp.pub.Properties.SubscriptionIdentifier
		}
		samePublish(t, mp.pub, theirs)

		again := paho.PublishFromPacketPublish(mp.pub)
		again.Properties.SubscriptionIdentifier = nil // a client does not send one
		head, tail, err := encodePublish(again, mp.pub.PacketID)
		if err != nil {
			t.Fatal(err)
		}
		mp2, err := minDecode(append(append([]byte(nil), head...), tail...))
		if err != nil {
			t.Fatalf("we cannot read our own PUBLISH: %v", err)
		}
		want := *mp.pub
		wp := *want.Properties
		wp.SubscriptionIdentifier = nil
		want.Properties, want.Duplicate = &wp, false
		samePublish(t, mp2.pub, &want)
	})
}
