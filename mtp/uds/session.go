package uds

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gousp/gousp/mtp"
)

// Errors of this binding; they sit beside the [mtp] sentinels it also uses.
var (
	// ErrPeer: the peer sent an error TLV, which ends the connection.
	ErrPeer = errors.New("uds: peer reported an error")
	// ErrHandshake: the handshake exchange failed or timed out.
	ErrHandshake = errors.New("uds: handshake failed")
	// ErrReplaced: the server dropped a session because the same endpoint
	// connected again.
	ErrReplaced = errors.New("uds: session replaced by a newer connection")
	// ErrRejected: the local side ended the session with Reject or a
	// record check.
	ErrRejected = errors.New("uds: session rejected")
)

// MaxEndpointIDLen bounds the endpoint ID a handshake may carry; TR-369 IDs
// are far shorter, so anything longer is not one.
const MaxEndpointIDLen = 1024

// checkEndpointID validates an endpoint ID from a handshake TLV or a
// constructor.
func checkEndpointID(b []byte) (string, error) {
	switch {
	case len(b) == 0:
		return "", errors.New("empty endpoint ID")
	case len(b) > MaxEndpointIDLen:
		return "", fmt.Errorf("%d-byte endpoint ID, limit %d", len(b), MaxEndpointIDLen)
	case !utf8.Valid(b):
		return "", errors.New("endpoint ID is not UTF-8")
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("endpoint ID holds character %U", r)
		}
	}
	return string(b), nil
}

// printable shortens peer-supplied text for errors and logs.
func printable(b []byte) string {
	const limit = 256
	if len(b) > limit {
		b = b[:limit]
	}
	return fmt.Sprintf("%q", b)
}

// base holds what Server and Client share: lifecycle and handler calls.
type base struct {
	cfg     config
	log     *slog.Logger
	localID string

	mu      sync.Mutex
	state   mtp.State
	started bool
	closed  bool

	// hmu serialises handler calls, as mtp.Handler requires. Lock order:
	// hmu before mu.
	hmu sync.Mutex
	h   mtp.Handler

	ctx    context.Context // ends at Close; bounds dials and waits
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (b *base) init(cfg config, localID, role string) error {
	if _, err := checkEndpointID([]byte(localID)); err != nil {
		return fmt.Errorf("uds: local %v", err)
	}
	b.cfg = cfg
	b.log = cfg.log.With("mtp", "uds", "role", role)
	b.localID = localID
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return nil
}

// begin records h at Start.
func (b *base) begin(ctx context.Context, h mtp.Handler) error {
	if h == nil {
		return errors.New("uds: nil handler")
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
		return errors.New("uds: Start called twice")
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

// markClosed flags the transport closed and reports whether this call did
// it; the caller then tears down.
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
		return fmt.Errorf("uds: close: %w", ctx.Err())
	}
}

func checkAddress(to mtp.Address) error {
	if to.MTP != "" && to.MTP != mtp.UDS {
		return fmt.Errorf("uds: address %v: %w", to, mtp.ErrBadAddress)
	}
	return nil
}

// session is one connection, from accept or dial until it ends.
type session struct {
	b      *base
	nc     net.Conn
	br     *bufio.Reader
	peerID string // set by the handshake
	wsem   chan struct{}
	// down is set once PeerDown was reported for this session; guarded by
	// b.hmu so that a replacement reports it exactly once, in order.
	down      bool
	closeOnce sync.Once
	why       atomic.Pointer[error] // set when we end the session on purpose
}

func newSession(b *base, nc net.Conn) *session {
	return &session{b: b, nc: nc, br: bufio.NewReader(nc), wsem: make(chan struct{}, 1)}
}

func (s *session) maxBody() int {
	// Room for a record TLV of the maximum size plus a little for other TLVs
	// sharing its frame.
	return s.b.cfg.maxRecord + TLVHeaderLen + 256
}

func (s *session) close() {
	s.closeOnce.Do(func() { _ = s.nc.Close() })
}

// closeWith closes the session, recording why unless a reason is known.
func (s *session) closeWith(why error) {
	s.why.CompareAndSwap(nil, &why)
	s.close()
}

// reason returns why the session ended: the recorded reason, else err.
func (s *session) reason(err error) error {
	if p := s.why.Load(); p != nil {
		return *p
	}
	return err
}

// fail tells the peer why in an error TLV, as R-UDS.21/23/24 require, and
// closes the connection. It does not wait long for a stuck writer.
func (s *session) fail(reason string) {
	defer s.close()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case s.wsem <- struct{}{}:
	case <-t.C:
		return
	}
	defer func() { <-s.wsem }()
	frame, _ := AppendFrame(nil, TLV{Type: TypeError, Value: []byte(reason)})
	_ = s.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = s.nc.Write(frame)
}

// ctxError returns the context's error if the context ended the write
// that failed with err: the socket deadline, taken from the context's,
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

// write sends bufs as one frame, serialised with other writes. A failed
// write may have left half a frame behind, so it ends the connection.
func (s *session) write(ctx context.Context, bufs net.Buffers) error {
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wsem }()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.b.cfg.writeTimeout)
	}
	_ = s.nc.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.nc.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := bufs.WriteTo(s.nc); err != nil {
		s.close()
		if err := ctxError(ctx, ok, err); err != nil {
			return err
		}
		return fmt.Errorf("%w: %w", mtp.ErrNotConnected, err)
	}
	return nil
}

func (s *session) sendRecord(ctx context.Context, rec []byte) error {
	if len(rec) > s.b.cfg.maxRecord {
		return fmt.Errorf("uds: %d-byte record, limit %d: %w", len(rec), s.b.cfg.maxRecord, mtp.ErrTooLarge)
	}
	hdr := recordHeader(len(rec))
	if err := s.write(ctx, net.Buffers{hdr[:], rec}); err != nil {
		return fmt.Errorf("uds: send to %q: %w", s.peerID, err)
	}
	return nil
}

func (s *session) sendHandshake(ctx context.Context) error {
	frame, err := AppendFrame(nil, TLV{Type: TypeHandshake, Value: []byte(s.b.localID)})
	if err != nil {
		return err
	}
	return s.write(ctx, net.Buffers{frame})
}

// readError turns a ReadFrame failure into the session's end, telling the
// peer when the fault is in what it sent.
func (s *session) readError(err error) error {
	if errors.Is(err, ErrFrame) || errors.Is(err, mtp.ErrTooLarge) {
		s.fail(err.Error())
	}
	return err
}

// awaitHandshake reads frames until the peer's handshake TLV, within the
// handshake timeout, ignoring records sent too early (R-UDS.20).
func (s *session) awaitHandshake() error {
	_ = s.nc.SetReadDeadline(time.Now().Add(s.b.cfg.handshakeTimeout))
	for s.peerID == "" {
		tlvs, err := ReadFrame(s.br, s.maxBody())
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHandshake, s.readError(err))
		}
		for _, t := range tlvs {
			switch t.Type {
			case TypeHandshake:
				id, err := checkEndpointID(t.Value)
				if err != nil {
					s.fail("invalid handshake: " + err.Error())
					return fmt.Errorf("%w: %v", ErrHandshake, err)
				}
				s.peerID = id
			case TypeError:
				return fmt.Errorf("%w: %w: %s", ErrHandshake, ErrPeer, printable(t.Value))
			default:
				s.b.log.Debug("ignoring TLV before handshake", "type", t.Type, "len", len(t.Value))
			}
			if s.peerID != "" {
				break
			}
		}
	}
	_ = s.nc.SetReadDeadline(time.Time{})
	return nil
}

// serve reads frames and delivers records until the connection ends, and
// returns why it ended.
func (s *session) serve() error {
	reply := mtp.Address{MTP: mtp.UDS, To: s.peerID}
	for {
		tlvs, err := ReadFrame(s.br, s.maxBody())
		if err != nil {
			return s.readError(err)
		}
		for _, t := range tlvs {
			switch t.Type {
			case TypeRecord:
				if check := s.b.cfg.recordCheck; check != nil {
					if err := check(t.Value); err != nil {
						s.fail("cannot extract USP record: " + err.Error())
						return fmt.Errorf("%w: record check: %w", ErrRejected, err)
					}
				}
				s.b.deliver(mtp.Inbound{Data: t.Value, ReplyTo: reply, PeerID: s.peerID})
			case TypeError:
				return fmt.Errorf("%w: %s", ErrPeer, printable(t.Value))
			case TypeHandshake:
				// Already done; a repeat changes nothing.
			default:
				s.b.log.Debug("ignoring unknown TLV", "peer", s.peerID, "type", t.Type)
			}
		}
	}
}
