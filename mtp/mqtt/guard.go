package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"sync"

	"github.com/gousp/gousp/internal/writeguard"
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
//
// It also tells when the connection ends: ended is done at the first read
// error or Close, whoever closes it (paho, autopaho or the transport), so
// that sends waiting on the connection fail at once instead of after
// paho's packet timeout.
type guardConn struct {
	net.Conn
	g  packetGuard
	mu sync.Mutex
	// Reads: paho reads a packet's header one byte at a time, which
	// unbuffered costs a system call per byte. rbuf holds what was read
	// ahead, rbuf[rpos:rend]. It starts as the small array rsmall, enough
	// for headers and small packets, and becomes guardReadBuf bytes once a
	// read fills it (more data was waiting: a busy connection), so that an
	// idle one, such as a simulated agent's, does not keep 4 KiB.
	rbuf       []byte
	rpos, rend int
	rerr       error
	rsmall     [guardSmallReadBuf]byte

	// Writes: paho writes a packet as several buffers (a PUBLISH as four),
	// through net.Buffers, which only a *net.TCPConn turns into one
	// writev; through the guard each would be a system call and a TCP
	// segment of its own. out follows the framing of what we write, and
	// wbuf holds a packet's first pieces until its last one arrives.
	wmu  sync.Mutex
	out  packetGuard
	wbuf []byte

	// small keeps the buffers small for a connection that is idle most
	// of the time (the minimal client's, a simulated agent's): the read
	// buffer stays rsmall, and no write buffer is kept between packets.
	small bool

	ended   context.Context // done when the connection has ended; Cause says why
	end     context.CancelCauseFunc
	endOnce sync.Once
	onEnd   func(*guardConn) // called once, after ended is done
	// lost is what whenEnded asked to run once the connection has
	// ended (lean mode's reconnection); lostMu orders it with finish.
	lostMu   sync.Mutex
	lost     func()
	finished bool
	// waits are the cancels of sends waiting for their PUBACK, run when
	// the connection ends (see cancelOnEnd); nil while none waits.
	waits []*endWait
	// reason receives why paho or the broker ended the connection, which
	// says more than the read error (e.g. a keep-alive timeout).
	reason chan error
}

// guardReadBuf is the size of a busy guardConn's read buffer: a few small
// packets, such as a PUBACK and the PUBLISH behind it, in one read.
// guardSmallReadBuf is what every connection starts with.
const (
	guardReadBuf      = 4096
	guardSmallReadBuf = 256
)

func newGuardConn(c net.Conn, maxPacket int, onEnd func(*guardConn)) *guardConn {
	ctx, cancel := context.WithCancelCause(context.Background())
	gc := &guardConn{
		Conn:   c,
		g:      packetGuard{max: maxPacket},
		out:    packetGuard{max: math.MaxInt},
		ended:  ctx,
		end:    cancel,
		onEnd:  onEnd,
		reason: make(chan error, 1),
	}
	gc.rbuf = gc.rsmall[:]
	return gc
}

// Lock is taken by paho around the write of one packet.
func (c *guardConn) Lock() { c.mu.Lock() }

// Unlock releases Lock.
func (c *guardConn) Unlock() { c.mu.Unlock() }

// Read reads through the buffer; bytes reach it only through the guard.
// Only paho's reading goroutine calls it.
func (c *guardConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.rpos == c.rend {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) >= len(c.rbuf) {
			return c.readGuarded(p) // a packet body: no copy
		}
		if err := c.fill(); c.rpos == c.rend {
			return 0, err
		}
	}
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	return n, nil
}

// fill reads what the connection has into the empty buffer, waiting for
// at least a byte; the error is the read's, also kept for the Read after
// the buffered bytes. The minimal client waits for its next packet here,
// on a shallower stack than paho's decoder would park on (its reader's
// stack then stays at the 2 KiB it starts with).
func (c *guardConn) fill() error {
	if c.rpos < c.rend {
		return nil
	}
	if c.rerr != nil {
		return c.rerr
	}
	n, err := c.readGuarded(c.rbuf)
	c.rpos, c.rend, c.rerr = 0, n, err
	if n == len(c.rbuf) && len(c.rbuf) < guardReadBuf && !c.small {
		big := make([]byte, guardReadBuf)
		copy(big, c.rbuf[:n])
		c.rbuf = big
	}
	return err
}

// readByte returns the next byte read through the buffer (the minimal
// client's decoder reads a fixed header so).
func (c *guardConn) readByte() (byte, error) {
	for c.rpos == c.rend {
		if err := c.fill(); err != nil && c.rpos == c.rend {
			return 0, err
		}
	}
	b := c.rbuf[c.rpos]
	c.rpos++
	return b, nil
}

// readFull fills p through the buffer.
func (c *guardConn) readFull(p []byte) error {
	_, err := io.ReadFull(c, p)
	return err
}

func (c *guardConn) readGuarded(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if gerr := c.g.scan(p[:n]); gerr != nil {
			c.finish(gerr)
			_ = c.Conn.Close()
			return 0, gerr
		}
	}
	if err != nil {
		c.finish(err)
	}
	return n, err
}

// maxHeldWrite bounds the write buffer kept between packets, and the size
// of a piece that is passed on without being copied.
const maxHeldWrite = 4096

// Write passes on whole packets in one write: the pieces of a packet
// before its last are held (and reported written), and the last one goes
// out with them, its result standing for the packet's. Pieces that end
// on a packet boundary with nothing held go straight through.
func (c *guardConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // e.g. an empty payload after a packet's end
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.out.scan(p); err != nil {
		// Not paho's framing: start over at the next write.
		c.out, c.wbuf = packetGuard{max: math.MaxInt}, c.wbuf[:0]
		return 0, err
	}
	if c.out.state != guardHeader {
		c.wbuf = append(c.wbuf, p...)
		return len(p), nil
	}
	if len(c.wbuf) == 0 {
		return c.Conn.Write(p)
	}
	var err error
	if len(p) > maxHeldWrite {
		bufs := net.Buffers{c.wbuf, p}
		if bw, ok := c.Conn.(buffersWriter); ok {
			_, err = bw.WriteBuffers(bufs)
		} else {
			_, err = bufs.WriteTo(c.Conn)
		}
	} else {
		c.wbuf = append(c.wbuf, p...)
		_, err = c.Conn.Write(c.wbuf)
	}
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > maxHeldWrite || c.small {
		c.wbuf = nil
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// buffersWriter writes several buffers in one writev where it can (a
// *writeguard.Conn over a TCP connection); net.Buffers.WriteTo does so
// only on the net package's own connections.
type buffersWriter interface {
	WriteBuffers(net.Buffers) (int64, error)
}

// abortWrites ends a write stuck on a broker that stopped reading, which
// ends the connection; it does nothing if no write is in progress.
func (c *guardConn) abortWrites() {
	if w, ok := c.Conn.(*writeguard.Conn); ok && w.Abort() {
		c.finish(writeguard.ErrAborted)
	}
}

// Close closes the connection and marks it ended.
func (c *guardConn) Close() error {
	c.finish(errConnectionLost)
	return c.Conn.Close()
}

// finish marks the connection ended, for cause unless it already was.
func (c *guardConn) finish(cause error) {
	c.endOnce.Do(func() {
		c.end(cause)
		if c.onEnd != nil {
			c.onEnd(c)
		}
		c.lostMu.Lock()
		c.finished = true
		f := c.lost
		waits := c.waits
		c.waits = nil
		c.lostMu.Unlock()
		for _, w := range waits {
			w.cancel()
		}
		if f != nil {
			go f()
		}
	})
}

// whenEnded runs f on a goroutine of its own once the connection has
// ended, at once if it has. Unlike context.AfterFunc on ended, it keeps
// nothing beside the connection but f: a simulated fleet has one per
// agent.
func (c *guardConn) whenEnded(f func()) {
	c.lostMu.Lock()
	if c.finished {
		c.lostMu.Unlock()
		go f()
		return
	}
	c.lost = f
	c.lostMu.Unlock()
}

// endWait is a send waiting for the connection's end (cancelOnEnd).
type endWait struct{ cancel context.CancelFunc }

// cancelOnEnd has cancel run when the connection ends, at once if it has;
// stop undoes it. It does what context.AfterFunc(c.ended, cancel) would,
// but leaves nothing behind once stopped: AfterFunc adds the send to the
// children map of ended, which Go keeps, emptied, for the connection's
// life (some 300 bytes for each of a simulated fleet's agents).
func (c *guardConn) cancelOnEnd(cancel context.CancelFunc) (stop func()) {
	w := &endWait{cancel: cancel}
	c.lostMu.Lock()
	if c.finished {
		c.lostMu.Unlock()
		cancel()
		return func() {}
	}
	c.waits = append(c.waits, w)
	c.lostMu.Unlock()
	return func() {
		c.lostMu.Lock()
		defer c.lostMu.Unlock()
		if i := slices.Index(c.waits, w); i >= 0 {
			c.waits = slices.Delete(c.waits, i, i+1)
		}
		if len(c.waits) == 0 {
			c.waits = nil // an idle connection keeps no array
		}
	}
}

// setReason offers why the connection ended; the first reason is kept.
func (c *guardConn) setReason(err error) {
	select {
	case c.reason <- err:
	default:
	}
}
