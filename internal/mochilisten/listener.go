// Package mochilisten is a TCP (or TLS) listener for mochi-mqtt that is safe
// to close while clients connect; the test kits that still run mochi (for
// its packet-shaping hooks) use it.
package mochilisten

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// Listener is a TCP (or TLS) listener for mochi that is safe to close while
// clients connect: mochi's own TCP listener races with Server.Close under
// the race detector.
//
// Close closes the connections itself instead of calling mochi's
// closeClients: in mochi v2.7.9, Clients.GetByListener takes the clients'
// read lock twice (through Len), so a client that disconnects at the same
// moment (Clients.Delete waits for the write lock between the two) leaves
// Server.Close and every later connection blocked for good. Closing the
// sockets makes each client's read fail, and mochi cleans it up as for any
// dropped connection.
type Listener struct {
	id, addr string
	tlsCfg   *tls.Config

	mu     sync.Mutex
	l      net.Listener
	closed bool
	conns  map[net.Conn]struct{}
	live   sync.WaitGroup // establish calls that have not returned
}

// closeWait bounds how long Close waits for mochi to let go of its clients
// once their sockets are closed.
const closeWait = 5 * time.Second

// New returns a listener named id for addr ("127.0.0.1:0" picks a
// free port; Addr tells which after the server started it). A non-nil
// tlsCfg makes it a TLS listener.
func New(id, addr string, tlsCfg *tls.Config) *Listener {
	return &Listener{id: id, addr: addr, tlsCfg: tlsCfg}
}

// Init opens the network address.
func (g *Listener) Init(*slog.Logger) error {
	var l net.Listener
	var err error
	if g.tlsCfg != nil {
		l, err = tls.Listen("tcp", g.addr, g.tlsCfg)
	} else {
		l, err = net.Listen("tcp", g.addr)
	}
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.l = l
	g.mu.Unlock()
	return nil
}

// Serve accepts connections until Close.
func (g *Listener) Serve(establish listeners.EstablishFn) {
	g.mu.Lock()
	l := g.l
	g.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			_ = c.Close()
			return
		}
		if g.conns == nil {
			g.conns = make(map[net.Conn]struct{})
		}
		g.conns[c] = struct{}{}
		g.live.Add(1)
		g.mu.Unlock()
		go func() {
			defer g.live.Done()
			_ = establish(g.id, c)
			_ = c.Close()
			g.mu.Lock()
			delete(g.conns, c)
			g.mu.Unlock()
		}()
	}
}

// ID returns the listener's name.
func (g *Listener) ID() string { return g.id }

// Address returns the address it listens on: the actual one once started.
func (g *Listener) Address() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l != nil {
		return g.l.Addr().String()
	}
	return g.addr
}

// Protocol returns "tcp".
func (g *Listener) Protocol() string { return "tcp" }

// Close stops accepting, closes every connection and waits (a bounded
// time) for mochi to finish with them. closeClients is not called; see
// [Listener].
func (g *Listener) Close(listeners.CloseFn) {
	g.mu.Lock()
	g.closed = true
	if g.l != nil {
		_ = g.l.Close()
	}
	for c := range g.conns {
		_ = c.Close()
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.live.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
