package embedbroker

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// Listener is a TCP (or TLS) listener for mochi that is safe to close while
// clients connect: mochi's own TCP listener races with Server.Close under
// the race detector. Close waits for connections being established to be
// handed over before it closes the clients.
type Listener struct {
	id, addr string
	tlsCfg   *tls.Config

	mu      sync.Mutex
	l       net.Listener
	closed  bool
	pending sync.WaitGroup
}

// NewListener returns a listener named id for addr ("127.0.0.1:0" picks a
// free port; Addr tells which after the server started it). A non-nil
// tlsCfg makes it a TLS listener.
func NewListener(id, addr string, tlsCfg *tls.Config) *Listener {
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
		g.pending.Add(1)
		g.mu.Unlock()
		fc := &firstReadConn{Conn: c, done: g.pending.Done}
		go func() {
			_ = establish(g.id, fc)
			fc.signal()
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

// Close stops accepting, waits for connections being handed to mochi, then
// closes the clients.
func (g *Listener) Close(closeClients listeners.CloseFn) {
	g.mu.Lock()
	g.closed = true
	if g.l != nil {
		_ = g.l.Close()
	}
	g.mu.Unlock()
	g.pending.Wait()
	closeClients(g.id)
}

// firstReadConn calls done once: at its first Read (mochi has taken the
// connection over) or when signalled (establishing it failed).
type firstReadConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (f *firstReadConn) signal() { f.once.Do(f.done) }

func (f *firstReadConn) Read(p []byte) (int, error) {
	f.signal()
	return f.Conn.Read(p)
}
