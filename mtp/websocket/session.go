package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

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
)

// CloseError is a close frame from the peer: its status code and reason.
// It is an alias so that callers can use the gorilla type's constants.
type CloseError = websocket.CloseError

// base holds what Server and Client share: lifecycle and handler calls.
type base struct {
	cfg config
	log *slog.Logger

	mu      sync.Mutex
	state   mtp.State
	started bool
	closed  bool

	// hmu serialises handler calls, as mtp.Handler requires. Lock order:
	// hmu before mu.
	hmu sync.Mutex
	h   mtp.Handler

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (b *base) init(cfg config, role string) {
	b.cfg = cfg
	b.log = cfg.log.With("mtp", "websocket", "role", role)
	b.ctx, b.cancel = context.WithCancel(context.Background())
}

// begin records h at Start.
func (b *base) begin(ctx context.Context, h mtp.Handler) error {
	if h == nil {
		return errors.New("websocket: nil handler")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return mtp.ErrClosed
	case b.started:
		return errors.New("websocket: Start called twice")
	}
	b.started = true
	b.h = h
	b.state = mtp.Connecting
	return nil
}

// ready reports why sending is impossible, or nil.
func (b *base) ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return mtp.ErrClosed
	case !b.started:
		return mtp.ErrNotStarted
	}
	return nil
}

// State reports the connection state.
func (b *base) State() mtp.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *base) setState(s mtp.State) {
	b.mu.Lock()
	if !b.closed {
		b.state = s
	}
	b.mu.Unlock()
}

func (b *base) emit(ev mtp.Event) {
	b.hmu.Lock()
	defer b.hmu.Unlock()
	b.h.HandleEvent(ev)
}

func (b *base) deliver(in mtp.Inbound) {
	b.hmu.Lock()
	defer b.hmu.Unlock()
	b.h.HandleRecord(in)
}

// markClosed flags the transport closed and reports whether this call did.
func (b *base) markClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.closed = true
	b.state = mtp.Closed
	b.cancel()
	return true
}

// wait waits for every goroutine, at most until ctx ends.
func (b *base) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("websocket: close: %w", ctx.Err())
	}
}

func checkAddress(to mtp.Address) error {
	if to.MTP != "" && to.MTP != mtp.WebSocket {
		return fmt.Errorf("websocket: address %v: %w", to, mtp.ErrBadAddress)
	}
	return nil
}

// session is one WebSocket connection, after the opening handshake.
type session struct {
	b      *base
	ws     *websocket.Conn
	peerID string      // "" for a client that does not know its server's ID
	reply  mtp.Address // the ReplyTo of records from this peer
	wsem   chan struct{}
	// down is set once PeerDown was reported; guarded by b.hmu so that a
	// replacement reports it exactly once, in order.
	down    bool
	closing atomic.Bool           // our close frame is sent; ignore data
	why     atomic.Pointer[error] // why we ended the session
}

func newSession(b *base, ws *websocket.Conn, peerID string, reply mtp.Address) *session {
	return &session{b: b, ws: ws, peerID: peerID, reply: reply, wsem: make(chan struct{}, 1)}
}

// reason returns why the session ended: the recorded reason, else err.
func (s *session) reason(err error) error {
	if p := s.why.Load(); p != nil {
		return *p
	}
	return err
}

// closeWith sends a close frame with code and text, then lets the reader
// wait a moment for the peer's answer before the connection is dropped.
func (s *session) closeWith(code int, text string, why error) {
	s.why.CompareAndSwap(nil, &why)
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
	if s.b.cfg.pingInterval > 0 && !s.closing.Load() {
		_ = s.ws.SetReadDeadline(time.Now().Add(s.b.cfg.pongTimeout))
	}
}

// serve reads records until the connection ends and returns why. The
// caller closes the connection afterwards.
func (s *session) serve() error {
	s.ws.SetReadLimit(int64(s.b.cfg.maxRecord))
	s.ws.SetPongHandler(func(string) error { s.alive(); return nil })
	s.ws.SetPingHandler(func(data string) error {
		s.alive()
		err := s.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.b.cfg.writeTimeout))
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
	if s.b.cfg.pingInterval > 0 {
		stop := make(chan struct{})
		defer close(stop)
		s.b.wg.Add(1)
		go s.ping(stop)
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
		if check := s.b.cfg.recordCheck; check != nil {
			if err := check(data); err != nil {
				s.closeWith(websocket.CloseUnsupportedData, "cannot parse record: "+err.Error(),
					fmt.Errorf("%w: record check: %w", ErrRejected, err))
				continue
			}
		}
		s.b.deliver(mtp.Inbound{Data: data, ReplyTo: s.reply, PeerID: s.peerID})
	}
}

func (s *session) readError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has sent close 1009. Drain what the peer still sends so
		// that closing does not reset the connection before it reads that.
		nc := s.ws.NetConn()
		_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
		_, _ = io.Copy(io.Discard, nc)
		return fmt.Errorf("websocket: message over %d bytes: %w", s.b.cfg.maxRecord, mtp.ErrTooLarge)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !s.closing.Load() {
		return fmt.Errorf("%w (%v)", ErrKeepAlive, s.b.cfg.pongTimeout)
	}
	return err
}

// ping sends a ping every interval until stop is closed.
func (s *session) ping(stop <-chan struct{}) {
	defer s.b.wg.Done()
	t := time.NewTicker(s.b.cfg.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if err := s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.b.cfg.writeTimeout)); err != nil {
			if !errors.Is(err, websocket.ErrCloseSent) {
				s.b.log.Debug("ping failed", "peer", s.peerID, "err", err)
				_ = s.ws.Close()
			}
			return
		}
	}
}

// ctxError returns the context's error if the context ended the write
// that failed with err: the network deadline, taken from the context's,
// may fire a moment before the context's own timer.
func ctxError(ctx context.Context, hadDeadline bool, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	var ne net.Error
	if hadDeadline && errors.As(err, &ne) && ne.Timeout() {
		return context.DeadlineExceeded
	}
	return nil
}

// send writes one record as one binary message. A failed write may leave
// half a frame behind, so it ends the connection.
func (s *session) send(ctx context.Context, rec []byte) error {
	if len(rec) > s.b.cfg.maxRecord {
		return fmt.Errorf("websocket: %d-byte record, limit %d: %w", len(rec), s.b.cfg.maxRecord, mtp.ErrTooLarge)
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
		deadline = time.Now().Add(s.b.cfg.writeTimeout)
	}
	_ = s.ws.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.ws.NetConn().SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.ws.WriteMessage(websocket.BinaryMessage, rec); err != nil {
		_ = s.ws.Close()
		if err := ctxError(ctx, ok, err); err != nil {
			return err
		}
		return fmt.Errorf("websocket: send to %s: %w: %w", s.reply.To, mtp.ErrNotConnected, err)
	}
	return nil
}
