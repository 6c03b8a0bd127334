package mqtt

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// stream encodes publishes with the given payload sizes, as a broker
// would send them.
func stream(t testing.TB, sizes ...int) []byte {
	var b bytes.Buffer
	for i, n := range sizes {
		p := &paho.Publish{Topic: "t", QoS: byte(i % 2), PacketID: 1, Payload: make([]byte, n)}
		if _, err := p.Packet().WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := packets.NewControlPacket(packets.PINGRESP).WriteTo(&b); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestPacketGuard(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		max   int
		fails bool
	}{
		{"small packets", stream(t, 0, 1, 100, 127, 128, 16383, 16384), 20000, false},
		{"at the limit", stream(t, 1000-6), 1000, false},
		{"over the limit", stream(t, 10, 2000, 10), 1000, true},
		{"five-byte length", []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, 1 << 30, true},
		{"four-byte length", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 1 << 20, true},
		{"empty", nil, 10, false},
	} {
		// Feed the bytes in every split, as reads would cut them.
		for _, chunk := range []int{1, 2, 3, 7, 4096} {
			g := packetGuard{max: tc.max}
			var err error
			for rest := tc.data; len(rest) > 0 && err == nil; {
				k := min(chunk, len(rest))
				err = g.scan(rest[:k])
				rest = rest[k:]
			}
			if (err != nil) != tc.fails {
				t.Errorf("%s (chunks of %d): err = %v, want failure %v", tc.name, chunk, err, tc.fails)
			}
			if tc.name == "five-byte length" && !errors.Is(err, errMalformedLength) {
				t.Errorf("five-byte length: err = %v", err)
			}
			if err == nil && g.state != guardHeader {
				t.Errorf("%s: guard ends mid-packet (state %d)", tc.name, g.state)
			}
		}
	}
}

// FuzzPacketGuard checks that the guard never panics, and that it accepts
// exactly the streams whose packets paho can frame within the limit.
func FuzzPacketGuard(f *testing.F) {
	f.Add(stream(f, 0, 10, 300), 1000)
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, 100)
	f.Add([]byte{0x20, 0x03, 0x00, 0x00, 0x00, 0xd0, 0x00}, 3)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 1<<28 {
			return
		}
		g := packetGuard{max: max}
		err := g.scan(data)
		// Walk the same bytes with paho's framing (fixed header and
		// Remaining Length only).
		r := bytes.NewReader(data)
		var want error
		for r.Len() > 0 && want == nil {
			_, _ = r.ReadByte()
			n, mul, i := 0, 1, 0
			for ; ; i++ {
				d, e := r.ReadByte()
				if e != nil {
					return // stream ends inside a header: nothing to compare
				}
				n += int(d&0x7f) * mul
				mul *= 128
				if d&0x80 == 0 {
					break
				}
				if i == 3 {
					want = errMalformedLength
					break
				}
			}
			if want != nil {
				break
			}
			if n > max {
				want = errors.New("too large")
				break
			}
			if _, e := r.Seek(int64(min(n, r.Len())), 1); e != nil {
				t.Fatal(e)
			}
		}
		if (err != nil) != (want != nil) {
			t.Fatalf("guard err %v, framing says %v", err, want)
		}
	})
}

// recordConn is a net.Conn that records its writes, failing them while
// fail is set.
type recordConn struct {
	net.Conn
	writes [][]byte
	fail   bool
}

func (c *recordConn) Write(p []byte) (int, error) {
	if c.fail {
		return 0, errors.New("write failed")
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestGuardConnWritesWholePackets(t *testing.T) {
	pub := func(qos byte, n int) *packets.ControlPacket {
		return (&paho.Publish{Topic: "a/b", QoS: qos, PacketID: 7, Payload: bytes.Repeat([]byte{'x'}, n),
			Properties: &paho.PublishProperties{ContentType: ContentType, ResponseTopic: "r"}}).Packet().ToControlPacket()
	}
	puback := packets.NewControlPacket(packets.PUBACK)
	puback.Content.(*packets.Puback).PacketID = 7
	for _, tc := range []struct {
		name   string
		pkts   []*packets.ControlPacket
		writes int // to the network, at most
	}{
		{"small publish", []*packets.ControlPacket{pub(1, 100)}, 1},
		{"empty publish", []*packets.ControlPacket{pub(0, 0)}, 1},
		{"publish, puback, pingreq", []*packets.ControlPacket{pub(1, 300), puback, packets.NewControlPacket(packets.PINGREQ)}, 3},
		{"large publish", []*packets.ControlPacket{pub(1, 3*maxHeldWrite)}, 2}, // held pieces, then the payload
		{"large then small", []*packets.ControlPacket{pub(0, 3*maxHeldWrite), pub(1, 10)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordConn{}
			gc := newGuardConn(rc, 1<<20, nil)
			var want bytes.Buffer
			for _, p := range tc.pkts {
				if _, err := p.WriteTo(&want); err != nil {
					t.Fatal(err)
				}
				if _, err := p.WriteTo(gc); err != nil {
					t.Fatalf("write through guard: %v", err)
				}
			}
			if got := bytes.Join(rc.writes, nil); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("network got %d bytes, want %d as written", len(got), want.Len())
			}
			if len(rc.writes) > tc.writes {
				t.Errorf("%d writes to the network, want at most %d", len(rc.writes), tc.writes)
			}
			if len(gc.wbuf) != 0 || gc.out.state != guardHeader {
				t.Errorf("guard holds %d bytes after whole packets", len(gc.wbuf))
			}
		})
	}
}

func TestGuardConnWriteError(t *testing.T) {
	rc := &recordConn{fail: true}
	gc := newGuardConn(rc, 1<<20, nil)
	p := (&paho.Publish{Topic: "a", QoS: 1, PacketID: 1, Payload: []byte("rec")}).Packet()
	if _, err := p.WriteTo(gc); err == nil {
		t.Fatal("a failed network write was reported as written")
	}
	// The next packet is framed afresh, not appended to the failed one.
	rc.fail = false
	if _, err := p.WriteTo(gc); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	_, _ = p.WriteTo(&want)
	if len(rc.writes) != 1 || !bytes.Equal(rc.writes[0], want.Bytes()) {
		t.Fatalf("after a failure the network got %q, want %q", rc.writes, want.Bytes())
	}
}

// TestGuardConnReads reads a broker's stream through the guard as paho
// does (header byte by byte, then the body at once): every packet comes
// out intact, an idle connection keeps only the small buffer, and a busy
// one gets the large buffer.
func TestGuardConnReads(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		big  bool // the buffer should have grown
	}{
		{"pingresps", stream(t, 0), false},
		{"one small publish", stream(t, 40), false},
		{"large publishes", stream(t, 3000, 100, 70000, 5), true},
		{"many small publishes", stream(t, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				_, _ = server.Write(tc.data)
				_ = server.Close()
			}()
			gc := newGuardConn(client, 1<<20, nil)
			var got bytes.Buffer
			for {
				p, err := packets.ReadPacket(gc)
				if err != nil {
					break
				}
				if _, err := p.WriteTo(&got); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), tc.data) {
				t.Fatalf("read %d bytes of packets, want %d", got.Len(), len(tc.data))
			}
			if big := len(gc.rbuf) == guardReadBuf; big != tc.big {
				t.Errorf("read buffer of %d bytes, want the large one: %v", len(gc.rbuf), tc.big)
			}
		})
	}
}

// TestGuardConnCancelOnEnd: a send's cancel runs when the connection ends,
// not once stopped, at once on a connection already ended, and a
// connection whose sends have all stopped keeps nothing for them.
func TestGuardConnCancelOnEnd(t *testing.T) {
	gc := newGuardConn(&recordConn{}, 1<<20, nil)
	var stoppedRan, endedRan, lateRan bool
	stop := gc.cancelOnEnd(func() { stoppedRan = true })
	stop2 := gc.cancelOnEnd(func() { endedRan = true })
	stop()
	stop() // stopping twice is harmless
	if len(gc.waits) != 1 {
		t.Fatalf("%d waits registered after one of two stopped, want 1", len(gc.waits))
	}
	s3 := gc.cancelOnEnd(func() { t.Error("a stopped wait ran") })
	s3()
	gc.finish(errConnectionLost)
	if stoppedRan || !endedRan {
		t.Fatalf("after the end: stopped wait ran %v (want false), waiting one ran %v (want true)", stoppedRan, endedRan)
	}
	if gc.waits != nil {
		t.Fatalf("an ended connection still holds %d waits", len(gc.waits))
	}
	stop2()
	gc.cancelOnEnd(func() { lateRan = true })()
	if !lateRan {
		t.Fatal("a wait registered after the end did not run at once")
	}

	idle := newGuardConn(&recordConn{}, 1<<20, nil)
	idle.cancelOnEnd(func() {})()
	if idle.waits != nil {
		t.Fatalf("a connection with no send waiting keeps an array of %d", cap(idle.waits))
	}
}
