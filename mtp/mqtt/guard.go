package mqtt

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// errMalformedLength reports a Remaining Length longer than four bytes.
var errMalformedLength = errors.New("mqtt: malformed packet: remaining length longer than 4 bytes")

// packetGuard follows the MQTT control packet framing of the bytes a
// broker sends and rejects a packet larger than the Maximum Packet Size we
// announced in CONNECT before paho reads it: paho allocates a packet's
// whole Remaining Length (up to 256 MiB) up front, and then waits for all
// of it.
type packetGuard struct {
	max    int // largest Remaining Length allowed
	state  guardState
	vbiLen int
	mul    int
	remain int
}

type guardState uint8

const (
	guardHeader guardState = iota // next byte is a fixed header's first byte
	guardLength                   // reading the Remaining Length
	guardBody                     // skipping the rest of a packet
)

// scan advances the guard over b, the next bytes of the stream.
func (g *packetGuard) scan(b []byte) error {
	for len(b) > 0 {
		switch g.state {
		case guardHeader:
			b = b[1:]
			g.state, g.vbiLen, g.mul, g.remain = guardLength, 0, 1, 0
		case guardLength:
			d := b[0]
			b = b[1:]
			g.remain += int(d&0x7f) * g.mul
			g.mul *= 128
			g.vbiLen++
			if d&0x80 != 0 {
				if g.vbiLen == 4 {
					return errMalformedLength
				}
				continue
			}
			if g.remain > g.max {
				return fmt.Errorf("mqtt: broker sent a %d-byte packet, over the %d bytes we accept", g.remain, g.max)
			}
			g.state = guardBody
			if g.remain == 0 {
				g.state = guardHeader
			}
		case guardBody:
			k := min(len(b), g.remain)
			b = b[k:]
			g.remain -= k
			if g.remain == 0 {
				g.state = guardHeader
			}
		}
	}
	return nil
}

// guardConn runs what is read from a broker connection through a
// packetGuard; a violation closes the connection.
//
// It is also a sync.Locker: paho writes each packet as several buffers and
// holds the connection's lock around them only when the connection offers
// one. Without it, packets written at the same time by several goroutines
// (sends, PUBACKs, PINGREQs) interleave and the broker drops us for a
// malformed packet.
type guardConn struct {
	net.Conn
	g  packetGuard
	mu sync.Mutex
}

// Lock is taken by paho around the write of one packet.
func (c *guardConn) Lock() { c.mu.Lock() }

// Unlock releases Lock.
func (c *guardConn) Unlock() { c.mu.Unlock() }

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if gerr := c.g.scan(p[:n]); gerr != nil {
			_ = c.Conn.Close()
			return 0, gerr
		}
	}
	return n, err
}
