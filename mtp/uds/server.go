package uds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/gousp/gousp/mtp"
)

// Server is the UDS server role: it listens on a socket path and keeps one
// session per client endpoint, addressed by the endpoint ID the client gave
// in its handshake. It implements [mtp.Transport].
type Server struct {
	base
	path     string
	ln       *net.UnixListener
	sessions map[string]*session   // by peer endpoint ID, after handshake
	conns    map[*session]struct{} // every open connection
}

var _ mtp.Transport = (*Server)(nil)

// NewServer returns a server that will listen on the socket at path and
// name itself localEndpointID in handshakes.
func NewServer(path, localEndpointID string, opts ...Option) (*Server, error) {
	if path == "" {
		return nil, errors.New("uds: empty socket path")
	}
	cfg, err := newConfig(roleServer, opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		path:     path,
		sessions: make(map[string]*session),
		conns:    make(map[*session]struct{}),
	}
	if err := s.init(cfg, localEndpointID, "server"); err != nil {
		return nil, err
	}
	return s, nil
}

// Kind returns [mtp.UDS].
func (s *Server) Kind() mtp.Kind { return mtp.UDS }

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

// Start listens on the socket path and delivers to h until Close. A stale
// socket file left by a dead server is replaced; a live server is not.
func (s *Server) Start(ctx context.Context, h mtp.Handler) error {
	if err := s.begin(ctx, h); err != nil {
		return err
	}
	ln, err := listen(s.path)
	if err != nil {
		s.markClosed()
		return fmt.Errorf("uds: listen: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return mtp.ErrClosed
	}
	s.ln = ln
	s.state = mtp.Connected
	s.mu.Unlock()
	s.log.Info("listening", "path", s.path)
	s.emit(mtp.Event{Kind: mtp.Up})
	s.wg.Add(1)
	go s.accept(ln)
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
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// Out of descriptors and the like: back off, keep serving.
			s.log.Warn("accept failed", "err", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		sess := newSession(&s.base, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(sess)
	}
}

func (s *Server) serveConn(sess *session) {
	defer s.wg.Done()
	defer func() {
		sess.close()
		s.mu.Lock()
		delete(s.conns, sess)
		s.mu.Unlock()
	}()
	if err := sess.awaitHandshake(); err != nil {
		s.log.Info("handshake failed", "err", err)
		return
	}
	id := sess.peerID
	s.mu.Lock()
	_, dup := s.sessions[id]
	s.mu.Unlock()
	if dup && !s.cfg.replaceDuplicates {
		s.log.Info("refusing second session", "peer", id)
		sess.fail("endpoint " + id + " already has a session")
		return
	}
	hctx, cancel := context.WithTimeout(s.ctx, s.cfg.handshakeTimeout)
	err := sess.sendHandshake(hctx)
	cancel()
	if err != nil {
		s.log.Info("sending handshake failed", "peer", id, "err", err)
		return
	}
	if !s.register(sess) {
		return
	}
	err = sess.reason(sess.serve())
	s.log.Info("session ended", "peer", id, "err", err)
	s.mu.Lock()
	if s.sessions[id] == sess {
		delete(s.sessions, id)
	}
	s.mu.Unlock()
	s.hmu.Lock()
	if !sess.down {
		sess.down = true
		s.h.HandleEvent(mtp.Event{Kind: mtp.PeerDown, Peer: mtp.Address{MTP: mtp.UDS, To: id}, PeerID: id, Err: err})
	}
	s.hmu.Unlock()
}

// register makes sess the session for its peer, replacing an older one,
// and reports PeerDown for the old and PeerUp for the new, in that order.
func (s *Server) register(sess *session) bool {
	id := sess.peerID
	peer := mtp.Address{MTP: mtp.UDS, To: id}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	old := s.sessions[id]
	if old != nil && !s.cfg.replaceDuplicates {
		s.mu.Unlock()
		sess.fail("endpoint " + id + " already has a session")
		return false
	}
	s.sessions[id] = sess
	s.mu.Unlock()
	if old != nil {
		s.log.Info("replacing session", "peer", id)
		old.closeWith(ErrReplaced)
		if !old.down {
			old.down = true
			s.h.HandleEvent(mtp.Event{Kind: mtp.PeerDown, Peer: peer, PeerID: id, Err: ErrReplaced})
		}
	}
	s.log.Info("session open", "peer", id)
	s.h.HandleEvent(mtp.Event{Kind: mtp.PeerUp, Peer: peer, PeerID: id})
	return true
}

func (s *Server) session(to mtp.Address) (*session, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := checkAddress(to); err != nil {
		return nil, err
	}
	s.mu.Lock()
	sess := s.sessions[to.To]
	s.mu.Unlock()
	if sess == nil {
		return nil, fmt.Errorf("uds: send to %q: %w", to.To, mtp.ErrUnknownPeer)
	}
	return sess, nil
}

// Send sends record to the client whose handshake named the endpoint to.To.
func (s *Server) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sess, err := s.session(to)
	if err != nil {
		return err
	}
	return sess.sendRecord(ctx, record)
}

// Reject ends the session with peerID, sending reason in an error TLV: the
// layer above calls it for a record it cannot extract (R-UDS.23).
func (s *Server) Reject(peerID, reason string) error {
	sess, err := s.session(mtp.Address{MTP: mtp.UDS, To: peerID})
	if err != nil {
		return err
	}
	sess.why.CompareAndSwap(nil, ptr(fmt.Errorf("%w: %s", ErrRejected, reason)))
	sess.fail(reason)
	return nil
}

func ptr[T any](v T) *T { return &v }

// Peers returns the endpoint IDs of the clients with an open session,
// sorted.
func (s *Server) Peers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Close stops listening, removes the socket file, ends every session and
// waits for the transport's goroutines, at most until ctx ends. Handlers
// still receive the PeerDown events of the sessions it ends. It must not be
// called from the handler.
func (s *Server) Close(ctx context.Context) error {
	if !s.markClosed() {
		return nil
	}
	s.mu.Lock()
	ln := s.ln
	conns := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close() // also unlinks the socket file
	}
	for _, c := range conns {
		c.closeWith(mtp.ErrClosed)
	}
	return s.wait(ctx)
}
