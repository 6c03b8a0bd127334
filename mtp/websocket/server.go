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

	"github.com/gorilla/websocket"

	"github.com/gousp/gousp/mtp"
)

// Server is the WebSocket server role, the usual deployment: agents dial
// the controller. It is an http.Handler to mount on any path, and can
// also listen by itself ([WithListenAddr]). It keeps at most one session
// per client endpoint ID, taken from the ?eid= query of the opening
// handshake, and implements [mtp.Transport] with that ID as the address.
type Server struct {
	base
	upgrader websocket.Upgrader

	httpSrv  *http.Server
	ln       net.Listener
	sessions map[string]*session // by peer endpoint ID
}

var (
	_ mtp.Transport = (*Server)(nil)
	_ http.Handler  = (*Server)(nil)
)

// NewServer returns a server configured by opts.
func NewServer(opts ...Option) (*Server, error) {
	cfg, err := newConfig(roleServer, opts)
	if err != nil {
		return nil, err
	}
	s := &Server{sessions: make(map[string]*session)}
	s.init(cfg, "server")
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.handshakeTimeout,
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

// Start makes the server accept sessions, delivering to h until Close.
// With [WithListenAddr] it first listens there.
func (s *Server) Start(ctx context.Context, h mtp.Handler) error {
	if err := s.begin(ctx, h); err != nil {
		return err
	}
	var ln net.Listener
	var srv *http.Server
	if addr := s.cfg.listenAddr; addr != "" {
		var lc net.ListenConfig
		var err error
		ln, err = lc.Listen(ctx, "tcp", addr)
		if err != nil {
			s.markClosed()
			return fmt.Errorf("websocket: listen: %w", err)
		}
		if s.cfg.tls != nil {
			ln = tls.NewListener(ln, s.cfg.tls)
		}
		srv = &http.Server{
			Handler:           s,
			ReadHeaderTimeout: s.cfg.handshakeTimeout,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.cfg.tls != nil)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if ln != nil {
			_ = ln.Close()
		}
		return mtp.ErrClosed
	}
	s.ln, s.httpSrv = ln, srv
	s.state = mtp.Connected
	s.mu.Unlock()
	s.emit(mtp.Event{Kind: mtp.Up})
	if srv != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("serve failed", "err", err)
			}
		}()
	}
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
	s.mu.Lock()
	if !s.started || s.closed || s.state != mtp.Connected {
		s.mu.Unlock()
		http.Error(w, "USP WebSocket endpoint not running", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	id, status, err := s.admit(r)
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
	peer := mtp.Address{MTP: mtp.WebSocket, To: id}
	sess := newSession(&s.base, ws, id, peer)
	if !s.register(sess) {
		// Closed meanwhile, or a duplicate lost a race: say so with a
		// close frame and wait for the peer's answer, ignoring its data.
		sess.closeWith(websocket.CloseGoingAway, "server closing", mtp.ErrClosed)
		_ = sess.serve()
		_ = ws.Close()
		return
	}
	err = sess.reason(sess.serve())
	_ = ws.Close()
	s.log.Info("session ended", "peer", id, "err", err)
	s.mu.Lock()
	if s.sessions[id] == sess {
		delete(s.sessions, id)
	}
	s.mu.Unlock()
	s.hmu.Lock()
	if !sess.down {
		sess.down = true
		s.h.HandleEvent(mtp.Event{Kind: mtp.PeerDown, Peer: peer, PeerID: id, Err: err})
	}
	s.hmu.Unlock()
}

// admit checks an opening handshake before the upgrade and returns the
// client's endpoint ID, or the HTTP status and reason to refuse it with.
func (s *Server) admit(r *http.Request) (string, int, error) {
	if !websocket.IsWebSocketUpgrade(r) {
		return "", http.StatusBadRequest, fmt.Errorf("%w: not a WebSocket upgrade request", ErrHandshake)
	}
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		// R-WS.12a: no session without the USP subprotocol.
		return "", http.StatusBadRequest, fmt.Errorf("%w: subprotocol %s not offered", ErrHandshake, Subprotocol)
	}
	id, found, err := queryEID(r.URL.RawQuery)
	if err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if !found {
		// Clients older than USP 1.3 name themselves in the extension.
		id, _ = extensionEID(r.Header.Values("Sec-WebSocket-Extensions"))
	}
	if s.cfg.certIdentity {
		certID := certEndpointID(r.TLS)
		switch {
		case certID == "":
			return "", http.StatusForbidden, fmt.Errorf("%w: no verified client certificate naming an endpoint", ErrHandshake)
		case id == "":
			id = certID
		case id != certID:
			return "", http.StatusForbidden, fmt.Errorf("%w: eid %q does not match certificate endpoint %q", ErrHandshake, id, certID)
		}
	}
	if id == "" {
		return "", http.StatusBadRequest, fmt.Errorf("%w: no eid query parameter naming the client endpoint", ErrHandshake)
	}
	if s.cfg.rejectDuplicates {
		s.mu.Lock()
		_, dup := s.sessions[id]
		s.mu.Unlock()
		if dup {
			return "", http.StatusConflict, fmt.Errorf("%w: endpoint %s already has a session", ErrHandshake, id)
		}
	}
	return id, 0, nil
}

// register makes sess the session for its peer, closing an older one, and
// reports PeerDown for the old and PeerUp for the new, in that order.
func (s *Server) register(sess *session) bool {
	old, ok := s.swapIn(sess)
	if old != nil {
		// Written after the events and outside hmu: a slow old peer must
		// not hold up handler calls.
		old.closeWith(websocket.CloseNormalClosure, "replaced by a newer session", ErrReplaced)
	}
	return ok
}

func (s *Server) swapIn(sess *session) (old *session, ok bool) {
	id, peer := sess.peerID, sess.reply
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false
	}
	old = s.sessions[id]
	if old != nil && s.cfg.rejectDuplicates {
		// Lost a race with another connection from the same endpoint.
		s.mu.Unlock()
		sess.closeWith(websocket.ClosePolicyViolation, "endpoint already has a session", ErrHandshake)
		return nil, false
	}
	s.sessions[id] = sess
	s.mu.Unlock()
	if old != nil {
		s.log.Info("replacing session", "peer", id)
		old.why.CompareAndSwap(nil, ptr(ErrReplaced))
		if !old.down {
			old.down = true
			s.h.HandleEvent(mtp.Event{Kind: mtp.PeerDown, Peer: peer, PeerID: id, Err: ErrReplaced})
		}
	}
	s.log.Info("session open", "peer", id)
	s.h.HandleEvent(mtp.Event{Kind: mtp.PeerUp, Peer: peer, PeerID: id})
	return old, true
}

func ptr[T any](v T) *T { return &v }

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
		return nil, fmt.Errorf("websocket: send to %q: %w", to.To, mtp.ErrUnknownPeer)
	}
	return sess, nil
}

// Send sends record in one binary frame to the client whose endpoint ID is
// to.To.
func (s *Server) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sess, err := s.session(to)
	if err != nil {
		return err
	}
	return sess.send(ctx, record)
}

// Reject closes the session with peerID with status 1003 and reason: the
// layer above calls it for a record it cannot parse (R-WS.16).
func (s *Server) Reject(peerID, reason string) error {
	sess, err := s.session(mtp.Address{MTP: mtp.WebSocket, To: peerID})
	if err != nil {
		return err
	}
	sess.closeWith(websocket.CloseUnsupportedData, reason, fmt.Errorf("%w: %s", ErrRejected, reason))
	return nil
}

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

// Close stops the ready listener, closes every session with status 1001
// and waits for the server's goroutines, ServeHTTP calls included, at most
// until ctx ends. Handlers still receive the PeerDown events of the
// sessions it ends. It must not be called from the handler.
func (s *Server) Close(ctx context.Context) error {
	if !s.markClosed() {
		return nil
	}
	s.mu.Lock()
	srv := s.httpSrv
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.closeWith(websocket.CloseGoingAway, "server closing", mtp.ErrClosed)
	}
	return s.wait(ctx)
}
