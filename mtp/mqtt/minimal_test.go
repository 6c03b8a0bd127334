package mqtt

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// byteConn is a connection whose broker sends b and then closes; what is
// written to it is discarded.
type byteConn struct{ r *bytes.Reader }

func (c byteConn) Read(p []byte) (int, error)     { return c.r.Read(p) }
func (c byteConn) Write(p []byte) (int, error)    { return len(p), nil }
func (byteConn) Close() error                     { return nil }
func (byteConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (byteConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (byteConn) SetDeadline(time.Time) error      { return nil }
func (byteConn) SetReadDeadline(time.Time) error  { return nil }
func (byteConn) SetWriteDeadline(time.Time) error { return nil }

// readAll runs a connected minimal client's reader over what a broker
// sends, until the bytes run out, and returns the records it delivered
// and the error it ended with.
func readAll(data []byte) (delivered []*paho.Publish, err error) {
	return readHeld(data, false)
}

// readHeld is readAll on a client that holds its records, as before its
// first SUBACK, when held is set; it returns the delivered records.
func readHeld(data []byte, held bool) (delivered []*paho.Publish, err error) {
	gc := newGuardConn(byteConn{bytes.NewReader(data)}, 1<<16, nil)
	c := newMinClient(gc, paho.ClientConfig{
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			delivered = append(delivered, pr.Packet)
			return true, nil
		}},
		OnClientError: func(e error) { err = e },
	})
	c.held = held
	c.quota = make(chan struct{}, 1)
	// A request waiting for the acknowledgement with identifier 1.
	if _, _, rerr := c.register(); rerr != nil {
		return nil, rerr
	}
	c.read()
	return delivered, err
}

// FuzzMinimalClientRead feeds arbitrary broker bytes to the minimal
// client's reader (the packet guard, paho's decoder, the dispatch): it
// must end with an error, never panic or hang.
func FuzzMinimalClientRead(f *testing.F) {
	var b bytes.Buffer
	pub := &paho.Publish{Topic: "a", QoS: 1, PacketID: 7, Payload: []byte("record")}
	_, _ = pub.Packet().WriteTo(&b)
	ack := packets.NewControlPacket(packets.PUBACK)
	ack.Content.(*packets.Puback).PacketID = 1
	_, _ = ack.WriteTo(&b)
	_, _ = packets.NewControlPacket(packets.PINGRESP).WriteTo(&b)
	f.Add(b.Bytes())
	f.Add([]byte{0x30, 0x03, 0x00, 0x05, 'a'})        // topic length past the end
	f.Add([]byte{0x90, 0x03, 0x00, 0x01, 0x00})       // SUBACK
	f.Add([]byte{0xe0, 0x02, 0x8e, 0x00})             // DISCONNECT
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}) // length overflow
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan error, 1)
		go func() {
			_, err := readAll(data)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the reader ended without an error")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the reader did not end")
		}
	})
}

// TestMinimalClientRead: the reader delivers a broker's records and hands
// acknowledgements to their waiters; bytes that are not MQTT end it with a
// protocol error.
func TestMinimalClientRead(t *testing.T) {
	var b bytes.Buffer
	pub := &paho.Publish{Topic: "a", QoS: 1, PacketID: 7, Payload: []byte("record")}
	if _, err := pub.Packet().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(b.Bytes())
	if len(got) != 1 || got[0].Topic != "a" || string(got[0].Payload) != "record" {
		t.Fatalf("delivered %v, want the record on a", got)
	}
	if err == nil {
		t.Fatal("end of the stream reported no error")
	}
	for _, bad := range [][]byte{
		{0x62, 0x02, 0x00, 0x01},                        // PUBREL: we never publish at QoS 2
		{0x34, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00}, // PUBLISH at QoS 2
		{0xc0, 0x00}, // PINGREQ from the broker
	} {
		got, err := readAll(bad)
		if len(got) != 0 || err == nil || !errors.Is(err, errMinProtocol) {
			t.Errorf("% x: delivered %d, error %v; want none and a protocol error", bad, len(got), err)
		}
	}
}

// TestMinimalClientHoldsBounded: a broker that floods a client before its
// subscription is answered (while records are held) is hung up on, not
// buffered without bound.
func TestMinimalClientHoldsBounded(t *testing.T) {
	var b bytes.Buffer
	pub := &paho.Publish{Topic: "a", Payload: []byte("x")}
	for range maxHeldRecords {
		if _, err := pub.Packet().WriteTo(&b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := readHeld(b.Bytes(), true); errors.Is(err, errMinProtocol) {
		t.Fatalf("%d held records: %v, want the end of the stream", maxHeldRecords, err)
	}
	_, _ = pub.Packet().WriteTo(&b)
	if _, err := readHeld(b.Bytes(), true); !errors.Is(err, errMinProtocol) {
		t.Fatalf("%d held records: %v, want a protocol error", maxHeldRecords+1, err)
	}
}
