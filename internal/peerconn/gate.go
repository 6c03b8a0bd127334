package peerconn

import (
	"fmt"
	"sync"
)

// Defaults for a server's session limits.
const (
	// DefaultMaxSessions bounds a server's connections, those still in
	// their handshake included.
	DefaultMaxSessions = 100_000
	// DefaultMaxSessionsPerAddr bounds the connections from one remote
	// address (an IP address). It is high because whole fleets can sit
	// behind one carrier-grade NAT.
	DefaultMaxSessionsPerAddr = 1_000
)

// Gate counts a server's connections, in total and per remote address,
// and refuses those beyond its limits, so that no peer, and no number of
// peers, can make the server keep more connections (each with its buffers
// and goroutines) than it was told to. The zero Gate admits nothing; make
// one with [NewGate].
type Gate struct {
	max, perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

// NewGate returns a gate admitting at most max connections, and at most
// perAddr from one remote address; a limit below 1 means no limit.
func NewGate(max, perAddr int) *Gate {
	return &Gate{max: max, perAddr: perAddr, byAddr: make(map[string]int)}
}

// Enter admits one connection from addr ("" when the binding has no
// remote address, as on Unix sockets: then only the total counts). It
// returns a function that releases the place, to be called once when the
// connection ends, or an error saying which limit is reached.
func (g *Gate) Enter(addr string) (release func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byAddr == nil {
		return nil, fmt.Errorf("peerconn: gate not made with NewGate")
	}
	if g.max > 0 && g.total >= g.max {
		return nil, fmt.Errorf("%d connections open, the server's limit", g.total)
	}
	if addr != "" && g.perAddr > 0 && g.byAddr[addr] >= g.perAddr {
		return nil, fmt.Errorf("%d connections open from %s, the limit per address", g.byAddr[addr], addr)
	}
	g.total++
	if addr != "" {
		g.byAddr[addr]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.total--
			if addr != "" {
				if g.byAddr[addr]--; g.byAddr[addr] == 0 {
					delete(g.byAddr, addr)
				}
			}
		})
	}, nil
}

// Open reports the connections admitted and not yet released.
func (g *Gate) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}
