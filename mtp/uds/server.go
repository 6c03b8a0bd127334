package uds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Server is the UDS server role: it listens on a socket path and keeps one
// session per client endpoint, addressed by the endpoint ID the client gave
// in its handshake. It implements [mtp.Transport].
type Server struct {
	endpoint
	path  string
	peers *peerconn.Peers[*session]
	gate  *peerconn.Gate
}

var (
	_ mtp.Transport  = (*Server)(nil)
	_ mtp.Identified = (*Server)(nil)
)

// NewServer returns a server that will listen on the socket at path and
// name itself localEndpointID in handshakes.
func NewServer(path, localEndpointID string, opts ...Option) (*Server, error) {
	if path == "" {
		return nil, errors.New("uds: empty socket path")
	}
	cfg, err := newConfig(peerconn.ServerRole, opts)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(cfg, localEndpointID, peerconn.ServerRole)
	if err != nil {
		return nil, err
	}
	s := &Server{endpoint: ep, path: path, gate: peerconn.NewGate(cfg.MaxSessions, 0)}
	s.peers = peerconn.NewPeers[*session](s.core, cfg.replaceDuplicates, ErrReplaced)
	return s, nil
}

// Kind returns [mtp.UDS].
func (s *Server) Kind() mtp.Kind { return mtp.UDS }

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

// State reports the connection state.
func (s *Server) State() mtp.State { return s.core.State() }

// Start listens on the socket path and delivers to h until Close. A stale
// socket file left by a dead server is replaced; a live server is not.
func (s *Server) Start(ctx context.Context, h mtp.Handler) error {
	if err := s.core.Begin(ctx, h); err != nil {
		return err
	}
	ln, err := listen(s.path)
	if err != nil {
		_ = s.core.Close(context.Background())
		return fmt.Errorf("uds: listen: %w", err)
	}
	s.log.Info("listening", "path", s.path)
	if err := s.core.Up(func() { s.accept(ln) }); err != nil {
		_ = ln.Close()
		return err
	}
	return nil
}

// listen binds path, removing a socket file that no server answers on.
func listen(path string) (*net.UnixListener, error) {
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	ln, err := net.ListenUnix("unix", addr)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	if fi, serr := os.Lstat(path); serr != nil || fi.Mode()&fs.ModeSocket == 0 {
		return nil, err
	}
	c, derr := net.DialTimeout("unix", path, time.Second)
	if derr == nil {
		_ = c.Close()
		return nil, fmt.Errorf("another server answers on %s: %w", path, err)
	}
	if !errors.Is(derr, syscall.ECONNREFUSED) {
		return nil, err
	}
	if rerr := os.Remove(path); rerr != nil {
		return nil, rerr
	}
	return net.ListenUnix("unix", addr)
}

func (s *Server) accept(ln *net.UnixListener) {
	ctx := s.core.Context()
	// Close interrupts Accept by closing the listener, and waits for this
	// goroutine, which closes it too, so that the socket file is unlinked
	// by the time Close returns.
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Out of descriptors and the like: back off, keep serving.
			s.log.Warn("accept failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		release, err := s.gate.Enter("")
		if err != nil {
			// Refused before any byte is read: a flood of connections
			// costs a descriptor each for a moment, nothing more.
			s.log.Warn("refusing connection", "err", err)
			_ = nc.Close()
			continue
		}
		sess := newSession(&s.endpoint, nc)
		if !s.core.Go(func() { defer release(); s.serveConn(sess) }) {
			release()
			_ = nc.Close()
			return
		}
	}
}

func (s *Server) serveConn(sess *session) {
	// Close ends every connection, in its handshake or in session.
	stop := context.AfterFunc(s.core.Context(), sess.Stop)
	defer stop()
	defer sess.close()
	if err := sess.awaitHandshake(); err != nil {
		s.log.Info("handshake failed", "err", err)
		return
	}
	id := sess.peerID
	if s.peers.Has(id) && !s.cfg.replaceDuplicates {
		s.log.Info("refusing second session", "peer", id)
		sess.fail("endpoint " + id + " already has a session")
		return
	}
	hctx, cancel := context.WithTimeout(s.core.Context(), s.cfg.HandshakeTimeout)
	err := sess.sendHandshake(hctx)
	cancel()
	if err != nil {
		s.log.Info("sending handshake failed", "peer", id, "err", err)
		return
	}
	old, err := s.peers.Add(sess)
	if errors.Is(err, peerconn.ErrTaken) {
		sess.fail("endpoint " + id + " already has a session")
	}
	if err != nil {
		return
	}
	if old != nil {
		old.closeWith(ErrReplaced)
	}
	s.peers.Remove(sess, sess.Serve())
}

// Send sends record to the client whose handshake named the endpoint to.To.
func (s *Server) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sess, err := s.peers.Get(to)
	if err != nil {
		return err
	}
	return sess.sendRecord(ctx, record)
}

// Reject ends the session with peerID, sending reason in an error TLV: the
// layer above calls it for a record it cannot extract (R-UDS.23).
func (s *Server) Reject(peerID, reason string) error {
	sess, err := s.peers.Get(mtp.Address{MTP: mtp.UDS, To: peerID})
	if err != nil {
		return err
	}
	sess.cause.Set(fmt.Errorf("%w: %s", ErrRejected, reason))
	sess.fail(reason)
	return nil
}

// Peers returns the endpoint IDs of the clients with an open session,
// sorted.
func (s *Server) Peers() []string { return s.peers.IDs() }

// Connections reports the connections the server holds, those still in
// their handshake included.
func (s *Server) Connections() int { return s.gate.Open() }

// Close stops listening, removes the socket file, ends every session and
// waits for the transport's goroutines, at most until ctx ends. Handlers
// still receive the PeerDown events of the sessions it ends. It must not be
// called from the handler.
func (s *Server) Close(ctx context.Context) error { return s.core.Close(ctx) }
