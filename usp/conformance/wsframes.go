package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	WSContinuation byte = 0x0
	WSText         byte = 0x1
	WSBinary       byte = 0x2
	WSClose        byte = 0x8
	WSPing         byte = 0x9
	WSPong         byte = 0xA
)

// WebSocketFrame is one frame of a session the [WebSocketObserver]
// watches, or the end of its TCP connection.
type WebSocketFrame struct {
	Seq  int
	Time time.Time
	// Conn is the Seq of the handshake that opened the session.
	Conn int
	// FromAgent: sent by the client (the agent); else by the
	// equipment's server, Injected when the kit wrote it itself.
	FromAgent bool
	Injected  bool
	// Ended marks the end of the TCP connection (no frame): EOF or an
	// error reading from the agent, or the server closing it.
	Ended  bool
	Opcode byte
	Fin    bool
	Length int
	// CloseCode and CloseReason of a Close frame (0 when it has no body).
	CloseCode   int
	CloseReason string
	// Payload of a control frame, unmasked (at most 125 bytes).
	Payload []byte
}

// String is a one-line account of the frame for the evidence.
func (f WebSocketFrame) String() string {
	who := "server"
	if f.FromAgent {
		who = "agent"
	} else if f.Injected {
		who = "kit"
	}
	if f.Ended {
		return fmt.Sprintf("session %d: TCP connection ended (seen reading the %s side)", f.Conn, who)
	}
	name := map[byte]string{WSContinuation: "continuation", WSText: "text", WSBinary: "binary", WSClose: "Close",
		WSPing: "Ping", WSPong: "Pong"}[f.Opcode]
	if name == "" {
		name = fmt.Sprintf("opcode %#x", f.Opcode)
	}
	s := fmt.Sprintf("session %d: %s %s frame fin=%t length=%d", f.Conn, who, name, f.Fin, f.Length)
	if f.Opcode == WSClose && f.CloseCode != 0 {
		s += fmt.Sprintf(" status %d %q", f.CloseCode, f.CloseReason)
	}
	return s
}

// Frames returns the frames seen with Seq >= from, in order.
func (o *WebSocketObserver) Frames(from int) []WebSocketFrame {
	o.mu.Lock()
	defer o.mu.Unlock()
	if from >= len(o.frames) {
		return nil
	}
	return slices.Clone(o.frames[max(from, 0):])
}

// FrameMark returns the Seq the next frame will get.
func (o *WebSocketObserver) FrameMark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames)
}

func (o *WebSocketObserver) addFrame(f WebSocketFrame) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f.Seq, f.Time = len(o.frames), time.Now()
	o.frames = append(o.frames, f)
}

// ErrNoSession reports that the observer has no open session by that
// handshake number.
var ErrNoSession = errors.New("conformance: no such WebSocket session")

// SendFrame writes a frame of the equipment's server to the agent on the
// session opened by handshake conn: a Ping, a Pong or a Close the server's
// library would not send by itself. The frame goes out between two of the
// library's frames, never inside one.
func (o *WebSocketObserver) SendFrame(conn int, opcode byte, payload []byte) error {
	o.mu.Lock()
	c := o.conns[conn]
	o.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %d", ErrNoSession, conn)
	}
	if len(payload) > 125 && opcode >= WSClose {
		return errors.New("conformance: a control frame carries at most 125 bytes")
	}
	return c.inject(append(frameHeader(opcode, true, len(payload)), payload...))
}

// CloseBody is the body of a Close frame: status code and reason.
func CloseBody(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// wsConn is a hijacked WebSocket connection: it reads the handshake
// answer, decodes the frames both ways and lets the kit add frames of its
// own between the server's.
type wsConn struct {
	net.Conn
	w *answerWriter

	once    sync.Once // the handshake answer, the first write
	endOnce sync.Once

	rmu sync.Mutex // one reader at a time, but keep the parser safe
	in  frameParser

	wmu     sync.Mutex // held across each write, so that injections wait for a frame's end
	out     frameParser
	pending [][]byte
	held    []byte // the server's bytes not yet a whole frame, while fragmenting
}

func (c *wsConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.rmu.Lock()
		c.in.feed(b[:n], func(f WebSocketFrame) { f.Conn, f.FromAgent = c.w.seq, true; c.w.o.addFrame(f) })
		c.rmu.Unlock()
	}
	if err != nil {
		c.ended(true)
	}
	return n, err
}

func (c *wsConn) Write(b []byte) (int, error) {
	first := false
	c.once.Do(func() {
		first = true
	})
	if first {
		n := len(b)
		if c.w.o.stripping() {
			b = stripExtensions(b)
		}
		status, protocol, ext := parseAnswer(b)
		c.w.o.answer(c.w.seq, status, protocol, ext)
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return n, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if k := c.w.o.fragmenting(); k > 1 || len(c.held) > 0 {
		return c.writeFragmented(b, k)
	}
	n, err := c.Conn.Write(b)
	c.out.feed(b[:n], func(f WebSocketFrame) { f.Conn = c.w.seq; c.w.o.addFrame(f) })
	if err == nil && c.out.atBoundary() {
		for len(c.pending) > 0 && err == nil {
			err = c.writeInjected(c.pending[0])
			c.pending = c.pending[1:]
		}
	}
	return n, err
}

// inject writes a frame now if the server is between frames, else right
// after the frame it is writing.
func (c *wsConn) inject(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.out.atBoundary() {
		c.pending = append(c.pending, frame)
		return nil
	}
	return c.writeInjected(frame)
}

// writeInjected writes one of the kit's frames; callers hold wmu.
func (c *wsConn) writeInjected(frame []byte) error {
	var p frameParser
	p.feed(frame, func(f WebSocketFrame) { f.Conn, f.Injected = c.w.seq, true; c.w.o.addFrame(f) })
	_, err := c.Conn.Write(frame)
	return err
}

func (c *wsConn) Close() error {
	c.ended(false)
	return c.Conn.Close()
}

func (c *wsConn) ended(agent bool) {
	c.endOnce.Do(func() {
		c.w.o.addFrame(WebSocketFrame{Conn: c.w.seq, Ended: true, FromAgent: agent})
	})
}

// frameParser follows a stream of WebSocket frames and decodes each
// header, and the payload of control frames.
type frameParser struct {
	head    []byte // header bytes of the frame under way
	need    int    // its payload bytes still to come; -1: the stream is not followed any more
	f       WebSocketFrame
	mask    [4]byte
	masked  bool
	pos     int
	payload []byte
}

// atBoundary reports whether the stream is between two frames.
func (p *frameParser) atBoundary() bool { return len(p.head) == 0 && p.need == 0 }

// feed consumes bytes and calls emit for each frame completed. A header
// that cannot be a frame's (a length beyond what int holds) stops the
// parsing of that stream: the parser then stays put.
func (p *frameParser) feed(b []byte, emit func(WebSocketFrame)) {
	for len(b) > 0 && p.need >= 0 {
		if p.need == 0 {
			// Collect the header.
			p.head = append(p.head, b[0])
			b = b[1:]
			if hl, ok := headerLen(p.head); !ok || len(p.head) < hl {
				continue
			}
			p.startFrame()
			if p.need == 0 {
				p.finish(emit)
			}
			continue
		}
		n := min(p.need, len(b))
		if p.f.Opcode >= WSClose {
			for i := range n {
				c := b[i]
				if p.masked {
					c ^= p.mask[p.pos%4]
				}
				p.pos++
				if len(p.payload) < 125 {
					p.payload = append(p.payload, c)
				}
			}
		}
		b = b[n:]
		p.need -= n
		if p.need == 0 {
			p.finish(emit)
		}
	}
}

// headerLen returns the length of the header whose first bytes are h, once
// h has enough bytes to tell.
func headerLen(h []byte) (int, bool) {
	if len(h) < 2 {
		return 0, false
	}
	n := 2
	switch h[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n, true
}

func (p *frameParser) startFrame() {
	h := p.head
	p.f = WebSocketFrame{Opcode: h[0] & 0x0F, Fin: h[0]&0x80 != 0}
	p.masked = h[1]&0x80 != 0
	l := uint64(h[1] & 0x7F)
	i := 2
	switch l {
	case 126:
		l = uint64(binary.BigEndian.Uint16(h[2:4]))
		i = 4
	case 127:
		l = binary.BigEndian.Uint64(h[2:10])
		i = 10
	}
	if p.masked {
		copy(p.mask[:], h[i:i+4])
	}
	p.head = p.head[:0]
	if l > 1<<40 {
		p.need = -1 // nonsense: stop following this stream
		return
	}
	p.f.Length = int(l)
	p.need, p.pos, p.payload = int(l), 0, nil
}

func (p *frameParser) finish(emit func(WebSocketFrame)) {
	f := p.f
	if f.Opcode >= WSClose {
		f.Payload = p.payload
		if f.Opcode == WSClose && len(p.payload) >= 2 {
			f.CloseCode = int(binary.BigEndian.Uint16(p.payload))
			f.CloseReason = string(p.payload[2:])
		}
	}
	p.payload = nil
	emit(f)
}
