// Package writeguard bounds the writes to a network connection, for the
// bindings whose libraries write without deadlines (paho.golang, go-stomp):
// every write gets a deadline, and a sender whose context ends while the
// connection is stuck can abort the write in progress instead of waiting
// for the peer to read again.
//
// A write cut short leaves half a packet or frame on the wire, after which
// the stream cannot be trusted: so a failed or aborted write ends the
// connection, and every later write fails at once. The binding reconnects
// as it does after any loss.
package writeguard

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ErrAborted is returned by writes on a connection whose writes were
// aborted.
var ErrAborted = errors.New("writeguard: write aborted: the peer stopped reading")

// Conn is a net.Conn whose writes have deadlines and can be aborted. Reads
// pass through.
type Conn struct {
	net.Conn
	timeout time.Duration

	mu      sync.Mutex
	writing int       // writes in progress
	aborted bool      // writes were aborted: the stream is cut
	failed  bool      // a write failed: the stream is cut
	set     time.Time // a deadline the user set, kept if it is earlier
}

// New wraps c; each write must complete within timeout (0: no deadline).
func New(c net.Conn, timeout time.Duration) *Conn {
	return &Conn{Conn: c, timeout: timeout}
}

func (c *Conn) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return ErrAborted
	}
	c.writing++
	if c.timeout > 0 {
		d := time.Now().Add(c.timeout)
		if !c.set.IsZero() && c.set.Before(d) {
			d = c.set
		}
		_ = c.Conn.SetWriteDeadline(d)
	}
	return nil
}

// SetWriteDeadline sets a deadline for the writes to come, which they keep
// where it is earlier than their own timeout; the zero time removes it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read deadline and, as SetWriteDeadline, the write
// deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *Conn) end(err error) {
	c.mu.Lock()
	c.writing--
	c.failed = c.failed || err != nil
	c.mu.Unlock()
	if err != nil {
		_ = c.Conn.Close()
	}
}

// Write writes p within the timeout. A failed write closes the connection.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.begin(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.end(err)
	return n, err
}

// WriteBuffers writes bufs as Write does p, in one writev where the
// connection supports it.
func (c *Conn) WriteBuffers(bufs net.Buffers) (int64, error) {
	if err := c.begin(); err != nil {
		return 0, err
	}
	n, err := bufs.WriteTo(c.Conn)
	c.end(err)
	return n, err
}

// Abort makes a write in progress, and every later one, fail at once, and
// reports whether one was in progress. Without a write in progress it
// does nothing: the connection is not stuck.
func (c *Conn) Abort() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing == 0 {
		return false
	}
	c.aborted = true
	_ = c.Conn.SetWriteDeadline(time.Unix(1, 0))
	return true
}

// Broken reports whether a write failed or was aborted: the stream is cut,
// and nothing more can be written to the peer.
func (c *Conn) Broken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted || c.failed
}

// Writing reports whether a write is in progress.
func (c *Conn) Writing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writing > 0
}
