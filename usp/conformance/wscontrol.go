package conformance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
)

// What the WebSocket cases change of the equipment's server, through the
// observer that stands in front of it: refusing handshakes (7.8), answers
// without the bbf-usp-protocol extension (7.11), fragmented messages
// (7.12), and dropping a session's TCP connection without a Close frame
// (7.8, 7.11).

// Refuse makes the observer answer every opening handshake with status
// (503 Service Unavailable, say) instead of handing it to the server; 0
// accepts them again. The refused attempts are kept in Handshakes.
func (o *WebSocketObserver) Refuse(status int) {
	if status != 0 && (status < 400 || status > 599) {
		status = http.StatusServiceUnavailable
	}
	o.mu.Lock()
	o.refuse = status
	o.mu.Unlock()
}

// StripExtensions makes the server's answers to later handshakes carry no
// Sec-WebSocket-Extensions header, whatever the client offered (on) or
// leaves them as the server writes them (off).
func (o *WebSocketObserver) StripExtensions(on bool) {
	o.mu.Lock()
	o.stripExt = on
	o.mu.Unlock()
}

// Fragment makes the server send each of its binary messages as n frames
// (a binary frame and n-1 continuation frames; RFC 6455 section 5.4),
// from its next message on; n below 2 sends them whole again.
func (o *WebSocketObserver) Fragment(n int) {
	o.mu.Lock()
	o.fragments = n
	o.mu.Unlock()
}

func (o *WebSocketObserver) stripping() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stripExt
}

func (o *WebSocketObserver) fragmenting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fragments
}

// DropConn closes the TCP connection of the session opened by handshake
// conn at once, without a Close frame: the session ends as if the network
// had failed.
func (o *WebSocketObserver) DropConn(conn int) error {
	o.mu.Lock()
	c := o.conns[conn]
	o.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %d", ErrNoSession, conn)
	}
	c.ended(false)
	return c.Conn.Close()
}

// stripExtensions removes the Sec-WebSocket-Extensions lines of an HTTP
// answer's head (with their continuation lines), leaving anything after the
// head as it is. Lines may end in CRLF or, as net/http also reads them, in
// LF alone; the head ends at the first empty line.
func stripExtensions(b []byte) []byte {
	end := -1
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b
		}
		if len(bytes.TrimSuffix(b[i:i+j], []byte("\r"))) == 0 {
			end = i
			break
		}
		i += j + 1
	}
	if end < 0 {
		return b
	}
	var out []byte
	dropping := false
	for i, n := 0, 0; i < end; n++ {
		j := bytes.IndexByte(b[i:end], '\n')
		line := b[i : i+j+1]
		i += j + 1
		text := bytes.TrimRight(line, "\r\n")
		switch {
		case n == 0:
			// The status line.
		case len(text) > 0 && (text[0] == ' ' || text[0] == '\t'):
			// A continuation of the header before it.
			if dropping {
				continue
			}
		default:
			name, _, _ := bytes.Cut(text, []byte(":"))
			dropping = bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Extensions"))
			if dropping {
				continue
			}
		}
		out = append(out, line...)
	}
	return append(out, b[end:]...)
}

// frameHeader is the header of an unmasked frame (the server's side).
func frameHeader(opcode byte, fin bool, n int) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0}
	switch {
	case n < 126:
		h = append(h, byte(n))
	case n <= 0xFFFF:
		h = append(h, 126)
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h = append(h, 127)
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	return h
}

// writeFragmented writes the server's bytes once they make whole frames,
// each unfragmented binary message split into k frames. Callers hold wmu.
func (c *wsConn) writeFragmented(b []byte, k int) (int, error) {
	c.held = append(c.held, b...)
	for {
		hl, ok := headerLen(c.held)
		if !ok || len(c.held) < hl {
			return len(b), nil
		}
		var p frameParser
		p.head = c.held[:hl:hl]
		p.startFrame()
		if p.need < 0 || len(c.held) < hl+p.f.Length {
			if p.need < 0 { // nonsense: hand it on as it is
				p.f.Length = len(c.held) - hl
			} else {
				return len(b), nil
			}
		}
		frame := c.held[:hl+p.f.Length]
		var out [][]byte
		if k > 1 && p.f.Opcode == WSBinary && p.f.Fin && !p.masked && p.f.Length >= k {
			payload := frame[hl:]
			size := (len(payload) + k - 1) / k
			for i, op := 0, WSBinary; len(payload) > 0; i, op = i+1, WSContinuation {
				n := min(size, len(payload))
				last := n == len(payload)
				out = append(out, append(frameHeader(op, last, n), payload[:n]...))
				payload = payload[n:]
			}
		} else {
			out = [][]byte{bytes.Clone(frame)}
		}
		c.held = c.held[len(frame):]
		for _, f := range out {
			n, err := c.Conn.Write(f)
			c.out.feed(f[:n], func(f WebSocketFrame) { f.Conn = c.w.seq; c.w.o.addFrame(f) })
			if err != nil {
				return 0, err
			}
		}
		for len(c.pending) > 0 {
			err := c.writeInjected(c.pending[0])
			c.pending = c.pending[1:]
			if err != nil {
				return 0, err
			}
		}
	}
}
