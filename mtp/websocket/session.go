package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Errors of this binding; they sit beside the [mtp] sentinels it also uses.
var (
	// ErrReplaced: the server closed a session because the same endpoint
	// opened a newer one.
	ErrReplaced = errors.New("websocket: session replaced by a newer connection")
	// ErrRejected: the local side closed the session with status 1003,
	// through Reject, a record check or a text frame from the peer.
	ErrRejected = errors.New("websocket: session rejected")
	// ErrHandshake: the opening handshake failed.
	ErrHandshake = errors.New("websocket: handshake failed")
	// ErrKeepAlive: the peer sent nothing, not even a pong, within the
	// keep-alive timeout.
	ErrKeepAlive = errors.New("websocket: peer silent past keep-alive timeout")
	// ErrForbidden: the server refused the client with HTTP 401 or 403,
	// as a server does when the client's certificate does not name its
	// endpoint ID ([WithClientCertificates]).
	ErrForbidden = errors.New("websocket: server refused the client (HTTP 403)")
	// ErrDuplicate: the server refused the client with HTTP 409 because
	// its endpoint ID already has a session ([WithRejectDuplicates]).
	ErrDuplicate = errors.New("websocket: endpoint already has a session (HTTP 409)")
	// ErrCertificate: a TLS certificate was refused, the server's by the
	// client ([WithServerCertificate]: untrusted, expired, or not naming
	// the expected endpoint) or the client's by the server (a TLS alert).
	ErrCertificate = errors.New("websocket: certificate refused")
)

// CloseError is a close frame from the peer: its status code and reason.
// It is an alias so that callers can use the gorilla type's constants.
type CloseError = websocket.CloseError

// endpoint holds what a session needs from the Server or Client that owns
// it.
type endpoint struct {
	cfg  config
	log  *slog.Logger
	role peerconn.Role
	core *peerconn.Core
}

func newEndpoint(cfg config, role peerconn.Role, attrs ...any) endpoint {
	log := cfg.Log.With(append([]any{"mtp", "websocket", "role", role.String()}, attrs...)...)
	return endpoint{cfg: cfg, log: log, role: role, core: peerconn.NewCore(mtp.WebSocket, log)}
}

// session is one WebSocket connection, after the opening handshake.
type session struct {
	ep      *endpoint
	ws      *websocket.Conn
	peerID  string      // "" for a client that does not know its server's ID
	reply   mtp.Address // the ReplyTo of records from this peer
	wsem    chan struct{}
	closing atomic.Bool    // our close frame is sent; ignore data
	cause   peerconn.Cause // why we ended the session
	cert    *mtp.PeerCert  // the peer's TLS certificate, if any
}

func newSession(ep *endpoint, ws *websocket.Conn, peerID string, reply mtp.Address) *session {
	return &session{ep: ep, ws: ws, peerID: peerID, reply: reply, wsem: make(chan struct{}, 1)}
}

func (s *session) PeerID() string    { return s.peerID }
func (s *session) Peer() mtp.Address { return s.reply }

// PeerCert returns the certificate the peer presented, or nil.
func (s *session) PeerCert() *mtp.PeerCert { return s.cert }

// Serve delivers records until the connection ends, closes it, and
// returns why it ended.
func (s *session) Serve() error {
	err := s.cause.Or(s.readLoop())
	_ = s.ws.Close()
	return err
}

// Stop sends a close frame with status 1001, as the transport is closing.
func (s *session) Stop() {
	s.closeWith(websocket.CloseGoingAway, s.ep.role.String()+" closing", mtp.ErrClosed)
}

// Drop closes the connection without a close frame.
func (s *session) Drop() { _ = s.ws.Close() }

// closeWith sends a close frame with code and text, then lets the reader
// wait a moment for the peer's answer before the connection is dropped.
func (s *session) closeWith(code int, text string, why error) {
	s.cause.Set(why)
	if s.closing.Swap(true) {
		return
	}
	if len(text) > 123 { // a close frame's payload is at most 125 bytes
		text = text[:123]
	}
	deadline := time.Now().Add(closeGrace)
	if err := s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), deadline); err != nil {
		_ = s.ws.Close()
		return
	}
	_ = s.ws.SetReadDeadline(deadline)
}

// alive pushes the read deadline on by the keep-alive timeout.
func (s *session) alive() {
	if s.ep.cfg.pingInterval > 0 && !s.closing.Load() {
		_ = s.ws.SetReadDeadline(time.Now().Add(s.ep.cfg.pongTimeout))
	}
}

// readLoop reads records until the connection ends and returns why. The
// caller closes the connection afterwards.
func (s *session) readLoop() error {
	s.ws.SetReadLimit(int64(s.ep.cfg.MaxRecordSize))
	s.ws.SetPongHandler(func(string) error { s.alive(); return nil })
	s.ws.SetPingHandler(func(data string) error {
		s.alive()
		err := s.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.ep.cfg.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	s.alive()
	if s.ep.cfg.pingInterval > 0 {
		stop := make(chan struct{})
		defer close(stop)
		s.ep.core.Go(func() { s.ping(stop) })
	}
	for {
		kind, data, err := s.ws.ReadMessage()
		if err != nil {
			return s.readError(err)
		}
		s.alive()
		if s.closing.Load() {
			continue // waiting for the peer's close frame
		}
		if kind != websocket.BinaryMessage {
			s.closeWith(websocket.CloseUnsupportedData, "USP records travel in binary frames",
				fmt.Errorf("%w: text frame from peer", ErrRejected))
			continue
		}
		if check := s.ep.cfg.RecordCheck; check != nil {
			if err := check(data); err != nil {
				s.closeWith(websocket.CloseUnsupportedData, "cannot parse record: "+err.Error(),
					fmt.Errorf("%w: record check: %w", ErrRejected, err))
				continue
			}
		}
		s.ep.core.Deliver(mtp.Inbound{Data: data, ReplyTo: s.reply, PeerID: s.peerID, PeerCert: s.cert})
	}
}

func (s *session) readError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has sent close 1009. Drain what the peer still sends so
		// that closing does not reset the connection before it reads that.
		nc := s.ws.NetConn()
		_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
		_, _ = io.Copy(io.Discard, nc)
		return fmt.Errorf("websocket: message over %d bytes: %w", s.ep.cfg.MaxRecordSize, mtp.ErrTooLarge)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !s.closing.Load() {
		return fmt.Errorf("%w (%v)", ErrKeepAlive, s.ep.cfg.pongTimeout)
	}
	return err
}

// ping sends a ping every interval until stop is closed.
func (s *session) ping(stop <-chan struct{}) {
	t := time.NewTicker(s.ep.cfg.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if err := s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.ep.cfg.WriteTimeout)); err != nil {
			if !errors.Is(err, websocket.ErrCloseSent) {
				s.ep.log.Debug("ping failed", "peer", s.peerID, "err", err)
				_ = s.ws.Close()
			}
			return
		}
	}
}

// send writes one record as one binary message. A failed write may leave
// half a frame behind, so it ends the connection.
func (s *session) send(ctx context.Context, rec []byte) error {
	if len(rec) > s.ep.cfg.MaxRecordSize {
		return fmt.Errorf("websocket: %d-byte record, limit %d: %w", len(rec), s.ep.cfg.MaxRecordSize, mtp.ErrTooLarge)
	}
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wsem }()
	if s.closing.Load() {
		return fmt.Errorf("websocket: send to %s: session closing: %w", s.reply.To, mtp.ErrNotConnected)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.ep.cfg.WriteTimeout)
	}
	_ = s.ws.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.ws.NetConn().SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.ws.WriteMessage(websocket.BinaryMessage, rec); err != nil {
		_ = s.ws.Close()
		if err := peerconn.ContextError(ctx, ok, err); err != nil {
			return err
		}
		return fmt.Errorf("websocket: send to %s: %w: %w", s.reply.To, mtp.ErrNotConnected, err)
	}
	return nil
}
