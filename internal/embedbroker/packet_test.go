package embedbroker

import (
	"slices"
	"testing"
)

// specProp is one row of the MQTT 5 property table (section 2.2.2.2): the
// wire form of a well-formed value and the client-sent packets that may
// carry the property. Properties only a server sends (CONNACK, AUTH) have
// no client packet here and must be refused everywhere.
type specProp struct {
	id      byte
	value   []byte
	packets []string
}

var (
	oneByte  = []byte{1}
	twoByte  = []byte{0, 1}
	fourByte = []byte{0, 0, 0, 1}
	varInt   = []byte{1}
	utf8Str  = []byte{0, 1, 'x'}
	binData  = []byte{0, 1, 7}
	strPair  = []byte{0, 1, 'k', 0, 1, 'v'}
)

var specTable = []specProp{
	{0x01, oneByte, []string{"publish", "will"}},
	{0x02, fourByte, []string{"publish", "will"}},
	{0x03, utf8Str, []string{"publish", "will"}},
	{0x08, utf8Str, []string{"publish", "will"}},
	{0x09, binData, []string{"publish", "will"}},
	{0x0B, varInt, []string{"publish", "subscribe"}},
	{0x11, fourByte, []string{"connect", "disconnect"}},
	{0x12, utf8Str, nil},
	{0x13, twoByte, nil},
	{0x15, utf8Str, []string{"connect"}},
	{0x16, binData, []string{"connect"}},
	{0x17, oneByte, []string{"connect"}},
	{0x18, fourByte, []string{"will"}},
	{0x19, oneByte, []string{"connect"}},
	{0x1A, utf8Str, nil},
	{0x1C, utf8Str, []string{"disconnect"}},
	{0x1F, utf8Str, []string{"ack", "disconnect"}},
	{0x21, twoByte, []string{"connect"}},
	{0x22, twoByte, []string{"connect"}},
	{0x23, twoByte, []string{"publish"}},
	{0x24, oneByte, nil},
	{0x25, oneByte, nil},
	{0x26, strPair, []string{"connect", "will", "publish", "ack", "subscribe", "unsubscribe", "disconnect"}},
	{0x27, fourByte, []string{"connect"}},
	{0x28, oneByte, nil},
	{0x29, oneByte, nil},
	{0x2A, oneByte, nil},
}

// TestPropertyTable: each allow-list admits exactly the properties the spec
// allows on that packet, and the decoder reads every admitted one.
func TestPropertyTable(t *testing.T) {
	lists := []struct {
		name    string
		allowed func(byte) bool
	}{
		{"connect", connectProps},
		{"will", willProps},
		{"publish", publishProps},
		{"ack", ackProps},
		{"subscribe", subscribeProps},
		{"unsubscribe", unsubscribeProps},
		{"disconnect", disconnectProps},
	}
	known := map[byte]specProp{}
	for _, p := range specTable {
		known[p.id] = p
	}
	for _, l := range lists {
		for id := range 0x80 {
			p, ok := known[byte(id)]
			want := ok && slices.Contains(p.packets, l.name)
			if got := l.allowed(byte(id)); got != want {
				t.Errorf("%s: property 0x%02x allowed %v, spec says %v", l.name, id, got, want)
			}
			if !want {
				continue
			}
			raw := append([]byte{byte(id)}, p.value...)
			d := &decoder{b: append([]byte{byte(len(raw))}, raw...)}
			if d.props(l.allowed) == nil || d.err != nil || len(d.b) != 0 {
				t.Errorf("%s: property 0x%02x not decoded: %v", l.name, id, d.err)
			}
		}
	}
}

// TestDisconnectServerReference: a client's DISCONNECT may name another
// server; the decoder keeps it and the encoder writes it back.
func TestDisconnectServerReference(t *testing.T) {
	var e encoder
	e.u8(0)
	e.props(&Properties{ServerReference: "other:1883", ReasonString: "moving"})
	rc, props, err := decodeDisconnect(5, 0, e.b)
	if err != nil || rc != 0 || props == nil {
		t.Fatalf("decodeDisconnect: rc %#x props %v err %v", rc, props, err)
	}
	if props.ServerReference != "other:1883" || props.ReasonString != "moving" {
		t.Fatalf("properties %+v", props)
	}
}
