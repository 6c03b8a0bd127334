package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
)

// frameGuard follows the STOMP 1.2 framing of the bytes a broker sends
// and rejects a frame too large for us before go-stomp reads it: go-stomp
// accepts header lines of any length, allocates a body of whatever
// content-length says (up to 4 GiB) and otherwise reads until a NUL.
type frameGuard struct {
	maxHeader int // command and header lines, in bytes
	maxBody   int

	state    guardState
	sawError atomic.Bool // the broker sent an ERROR frame
	line     []byte      // the current header line (bounded by maxHeader)
	header   int         // bytes of command and headers so far
	command  bool        // the next line is the command line
	clSeen   bool        // a content-length header was seen in this frame
	bodyLeft int         // body bytes still expected (content-length frames)
	body     int         // body bytes so far (NUL-terminated frames)
}

type guardState uint8

const (
	guardBetween guardState = iota // between frames: heart-beat EOLs
	guardHead                      // in the command or header lines
	guardBodyLen                   // in a body of known length
	guardNUL                       // expecting the NUL after such a body
	guardBodyNUL                   // in a body that ends at a NUL
)

var errFrameNoNUL = errors.New("stomp: malformed frame: body not followed by NUL")

func newFrameGuard(maxHeader, maxBody int) *frameGuard {
	return &frameGuard{maxHeader: maxHeader, maxBody: maxBody}
}

// scan advances the guard over b, the next bytes of the stream.
func (g *frameGuard) scan(b []byte) error {
	for len(b) > 0 {
		switch g.state {
		case guardBetween:
			if b[0] == '\n' || b[0] == '\r' {
				b = b[1:]
				continue
			}
			g.state, g.header, g.command, g.clSeen, g.bodyLeft, g.line = guardHead, 0, true, false, 0, g.line[:0]
		case guardHead:
			i := bytes.IndexByte(b, '\n')
			chunk := b
			if i >= 0 {
				chunk = b[:i]
			}
			g.header += len(chunk)
			if i >= 0 {
				g.header++
			}
			if g.header > g.maxHeader {
				return fmt.Errorf("stomp: broker sent a frame with more than %d bytes of headers", g.maxHeader)
			}
			g.line = append(g.line, chunk...)
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			if err := g.endLine(bytes.TrimSuffix(g.line, []byte{'\r'})); err != nil {
				return err
			}
			g.line = g.line[:0]
		case guardBodyLen:
			k := min(len(b), g.bodyLeft)
			b = b[k:]
			g.bodyLeft -= k
			if g.bodyLeft == 0 {
				g.state = guardNUL
			}
		case guardNUL:
			if b[0] != 0 {
				return errFrameNoNUL
			}
			b = b[1:]
			g.state = guardBetween
		case guardBodyNUL:
			i := bytes.IndexByte(b, 0)
			n := len(b)
			if i >= 0 {
				n = i
			}
			g.body += n
			if g.body > g.maxBody {
				return fmt.Errorf("stomp: broker sent a frame body over %d bytes", g.maxBody)
			}
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			g.state = guardBetween
		}
	}
	return nil
}

// endLine handles one complete command or header line.
func (g *frameGuard) endLine(line []byte) error {
	switch {
	case g.command:
		g.command = false
		if string(line) == "ERROR" {
			g.sawError.Store(true)
		}
	case len(line) == 0: // end of headers
		if g.clSeen {
			g.state = guardBodyLen
			if g.bodyLeft == 0 {
				g.state = guardNUL
			}
		} else {
			g.state, g.body = guardBodyNUL, 0
		}
	default:
		name, value, ok := bytes.Cut(line, []byte{':'})
		// STOMP 1.2: only the first of repeated headers counts.
		if !ok || g.clSeen || string(name) != "content-length" {
			return nil
		}
		n, err := strconv.ParseUint(string(value), 10, 32)
		if err != nil {
			// go-stomp rejects the frame itself.
			return nil
		}
		if n > uint64(g.maxBody) {
			return fmt.Errorf("stomp: broker sent a frame with content-length %d, over %d", n, g.maxBody)
		}
		g.clSeen, g.bodyLeft = true, int(n)
	}
	return nil
}

// guardConn runs what is read from the broker through a frameGuard; a
// violation closes the connection.
type guardConn struct {
	net.Conn
	g *frameGuard
}

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
