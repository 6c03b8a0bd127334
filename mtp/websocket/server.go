package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Server is the WebSocket server role, the usual deployment: agents dial
// the controller. It is an http.Handler to mount on any path, and can
// also listen by itself ([WithListenAddr]). It keeps at most one session
// per client endpoint ID, taken from the ?eid= query of the opening
// handshake, and implements [mtp.Transport] with that ID as the address.
type Server struct {
	endpoint
	upgrader websocket.Upgrader
	peers    *peerconn.Peers[*session]
	gate     *peerconn.Gate

	mu sync.Mutex
	ln net.Listener // the ready listener; guarded by mu
}

var (
	_ mtp.Transport  = (*Server)(nil)
	_ http.Handler   = (*Server)(nil)
	_ mtp.Identified = (*Server)(nil)
)

// LocalEndpointID returns the endpoint ID given with [WithEndpointID], or
// "" without it.
func (s *Server) LocalEndpointID() string { return s.cfg.localID }

// NewServer returns a server configured by opts.
//
// Unlike [NewClient] (and the constructors of mtp/mqtt, mtp/stomp and
// mtp/uds), it takes no endpoint ID: a client must name itself in the
// URL it dials, while a server is only asked for its ID by clients that
// offer the deprecated bbf-usp-protocol extension; [WithEndpointID] gives
// it for them. A usp controller given a server with an ID checks it
// against its own, and one given "" as its ID takes it from the server
// (see mtp.Identified), so the ID need be written only once.
func NewServer(opts ...Option) (*Server, error) {
	cfg, err := newConfig(peerconn.ServerRole, opts)
	if err != nil {
		return nil, err
	}
	s := &Server{endpoint: newEndpoint(cfg, peerconn.ServerRole), gate: peerconn.NewGate(cfg.MaxSessions, cfg.MaxSessionsPerAddr)}
	s.peers = peerconn.NewPeers[*session](s.core, !cfg.rejectDuplicates, ErrReplaced)
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		Subprotocols:     []string{Subprotocol},
		// Agents are not browsers: their Origin header, when they send one,
		// names nothing useful (OB-USP-A sends http://<host>).
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return s, nil
}

// Kind returns [mtp.WebSocket].
func (s *Server) Kind() mtp.Kind { return mtp.WebSocket }

// State reports the connection state.
func (s *Server) State() mtp.State { return s.core.State() }

// Start makes the server accept sessions, delivering to h until Close.
// With [WithListenAddr] it first listens there.
func (s *Server) Start(ctx context.Context, h mtp.Handler) error {
	if err := s.core.Begin(ctx, h); err != nil {
		return err
	}
	addr := s.cfg.listenAddr
	if addr == "" {
		// Mounted: requests come through ServeHTTP.
		return s.core.Up(nil)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		_ = s.core.Close(context.Background())
		return fmt.Errorf("websocket: listen: %w", err)
	}
	if s.cfg.tls != nil {
		ln = tls.NewListener(ln, s.cfg.tls)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.cfg.tls != nil)
	err = s.core.Up(func() {
		// Close interrupts Serve by closing srv, and waits for this
		// goroutine, which closes srv too, so that nothing listens by the
		// time Close returns. Each session closes itself.
		stop := context.AfterFunc(s.core.Context(), func() { _ = srv.Close() })
		defer stop()
		defer srv.Close()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve failed", "err", err)
		}
	})
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr returns the address of the ready listener, or nil without
// [WithListenAddr] or before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the ws:// or wss:// URL of the ready listener with the path
// /usp (the listener serves every path), or "" when there is none.
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	if s.cfg.tls != nil {
		return "wss://" + a.String() + "/usp"
	}
	return "ws://" + a.String() + "/usp"
}

// ServeHTTP runs the opening handshake of one client and then serves its
// session until it ends; it refuses requests before Start and after Close
// with 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.core.Enter() {
		http.Error(w, "USP WebSocket endpoint not running", http.StatusServiceUnavailable)
		return
	}
	defer s.core.Exit()
	release, err := s.gate.Enter(remoteHost(r.RemoteAddr))
	if err != nil {
		s.log.Warn("refusing client", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "too many sessions", http.StatusServiceUnavailable)
		return
	}
	defer release()

	id, cert, status, err := s.admit(r)
	if err != nil {
		s.log.Info("refusing client", "remote", r.RemoteAddr, "status", status, "err", err)
		http.Error(w, err.Error(), status)
		return
	}
	hdr := http.Header{}
	if _, offered := extensionEID(r.Header.Values("Sec-WebSocket-Extensions")); offered && s.cfg.localID != "" {
		// gorilla refuses an extension header under its canonical key; the
		// RFC spelling is written out as given.
		hdr["Sec-WebSocket-Extensions"] = []string{extensionHeader(s.cfg.localID)}
	}
	ws, err := s.upgrader.Upgrade(w, r, hdr)
	if err != nil {
		s.log.Info("upgrade failed", "peer", id, "err", err)
		return
	}
	sess := newSession(&s.endpoint, ws, id, mtp.Address{MTP: mtp.WebSocket, To: id})
	sess.cert = cert
	old, err := s.peers.Add(sess)
	if err != nil {
		// Closed meanwhile, or a duplicate lost a race: say so with a
		// close frame and wait for the peer's answer, ignoring its data.
		if errors.Is(err, peerconn.ErrTaken) {
			sess.closeWith(websocket.ClosePolicyViolation, "endpoint already has a session", ErrHandshake)
		}
		sess.Stop()
		_ = sess.Serve()
		return
	}
	if old != nil {
		old.closeWith(websocket.CloseNormalClosure, "replaced by a newer session", ErrReplaced)
	}
	// Close ends the session with status 1001.
	stop := context.AfterFunc(s.core.Context(), sess.Stop)
	defer stop()
	s.peers.Remove(sess, sess.Serve())
}

// admit checks an opening handshake before the upgrade and returns the
// client's endpoint ID and certificate, or the HTTP status and reason to
// refuse it with.
func (s *Server) admit(r *http.Request) (string, *mtp.PeerCert, int, error) {
	if !websocket.IsWebSocketUpgrade(r) {
		return "", nil, http.StatusBadRequest, fmt.Errorf("%w: not a WebSocket upgrade request", ErrHandshake)
	}
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		// R-WS.12a: no session without the USP subprotocol.
		return "", nil, http.StatusBadRequest, fmt.Errorf("%w: subprotocol %s not offered", ErrHandshake, Subprotocol)
	}
	id, found, err := queryEID(r.URL.RawQuery)
	if err != nil {
		return "", nil, http.StatusBadRequest, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if !found {
		// Clients older than USP 1.3 name themselves in the extension.
		id, _ = extensionEID(r.Header.Values("Sec-WebSocket-Extensions"))
	}
	id, cert, err := s.clientIdentity(r.TLS, id)
	if err != nil {
		return "", nil, http.StatusForbidden, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if id == "" {
		return "", nil, http.StatusBadRequest, fmt.Errorf("%w: no eid query parameter naming the client endpoint", ErrHandshake)
	}
	if s.cfg.rejectDuplicates && s.peers.Has(id) {
		return "", nil, http.StatusConflict, fmt.Errorf("%w: endpoint %s already has a session", ErrHandshake, id)
	}
	return id, cert, 0, nil
}

// Send sends record in one binary frame to the client whose endpoint ID is
// to.To.
func (s *Server) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sess, err := s.peers.Get(to)
	if err != nil {
		return err
	}
	return sess.send(ctx, record)
}

// Reject closes the session with peerID with status 1003 and reason: the
// layer above calls it for a record it cannot parse (R-WS.16).
func (s *Server) Reject(peerID, reason string) error {
	sess, err := s.peers.Get(mtp.Address{MTP: mtp.WebSocket, To: peerID})
	if err != nil {
		return err
	}
	sess.closeWith(websocket.CloseUnsupportedData, reason, fmt.Errorf("%w: %s", ErrRejected, reason))
	return nil
}

// Disconnect closes the session with peerID with status 1000 (normal
// closure) and reason: an agent that is also a WebSocket client uses it to
// keep at most one session with a controller (R-WS.4) when that
// controller dials it while the other session is open.
func (s *Server) Disconnect(peerID, reason string) error {
	sess, err := s.peers.Get(mtp.Address{MTP: mtp.WebSocket, To: peerID})
	if err != nil {
		return err
	}
	sess.closeWith(websocket.CloseNormalClosure, reason, fmt.Errorf("%w: %s", ErrReplaced, reason))
	return nil
}

// Peers returns the endpoint IDs of the clients with an open session,
// sorted.
func (s *Server) Peers() []string { return s.peers.IDs() }

// Sessions reports the sessions the server holds, those still in their
// opening handshake included.
func (s *Server) Sessions() int { return s.gate.Open() }

// remoteHost is the IP address part of an http.Request's RemoteAddr, the
// unit the per-address session limit counts.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Close stops the ready listener, closes every session with status 1001
// and waits for the server's goroutines, ServeHTTP calls included, at most
// until ctx ends. Handlers still receive the PeerDown events of the
// sessions it ends. It must not be called from the handler.
func (s *Server) Close(ctx context.Context) error { return s.core.Close(ctx) }
