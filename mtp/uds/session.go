package uds

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gousp/gousp/internal/peerconn"
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

// endpoint holds what a session needs from the Server or Client that owns
// it.
type endpoint struct {
	cfg     config
	log     *slog.Logger
	localID string
	core    *peerconn.Core
}

// LocalEndpointID returns the endpoint ID given to NewClient or NewServer
// (see [mtp.Identified]).
func (e *endpoint) LocalEndpointID() string { return e.localID }

func newEndpoint(cfg config, localID string, role peerconn.Role, attrs ...any) (endpoint, error) {
	if _, err := checkEndpointID([]byte(localID)); err != nil {
		return endpoint{}, fmt.Errorf("uds: local %v", err)
	}
	log := cfg.Log.With(append([]any{"mtp", "uds", "role", role.String()}, attrs...)...)
	return endpoint{cfg: cfg, log: log, localID: localID, core: peerconn.NewCore(mtp.UDS, log)}, nil
}

// session is one connection, from accept or dial until it ends.
type session struct {
	ep        *endpoint
	nc        net.Conn
	br        *bufio.Reader
	peerID    string // set by the handshake
	wsem      chan struct{}
	closeOnce sync.Once
	cause     peerconn.Cause // set when we end the session on purpose
}

func newSession(ep *endpoint, nc net.Conn) *session {
	return &session{ep: ep, nc: nc, br: bufio.NewReader(nc), wsem: make(chan struct{}, 1)}
}

func (s *session) PeerID() string    { return s.peerID }
func (s *session) Peer() mtp.Address { return mtp.Address{MTP: mtp.UDS, To: s.peerID} }

// Serve delivers records until the connection ends, closes it, and
// returns why it ended.
func (s *session) Serve() error {
	defer s.close()
	return s.cause.Or(s.readLoop())
}

// Stop closes the connection because the transport is closing.
func (s *session) Stop() { s.closeWith(mtp.ErrClosed) }

// Drop closes the connection.
func (s *session) Drop() { s.close() }

func (s *session) maxBody() int {
	// Room for a record TLV of the maximum size plus a little for other TLVs
	// sharing its frame.
	return s.ep.cfg.MaxRecordSize + TLVHeaderLen + 256
}

func (s *session) close() {
	s.closeOnce.Do(func() { _ = s.nc.Close() })
}

// closeWith closes the session, recording why unless a reason is known.
func (s *session) closeWith(why error) {
	s.cause.Set(why)
	s.close()
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
		deadline = time.Now().Add(s.ep.cfg.WriteTimeout)
	}
	_ = s.nc.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.nc.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := bufs.WriteTo(s.nc); err != nil {
		s.close()
		if err := peerconn.ContextError(ctx, ok, err); err != nil {
			return err
		}
		return fmt.Errorf("%w: %w", mtp.ErrNotConnected, err)
	}
	return nil
}

func (s *session) sendRecord(ctx context.Context, rec []byte) error {
	if len(rec) > s.ep.cfg.MaxRecordSize {
		return fmt.Errorf("uds: %d-byte record, limit %d: %w", len(rec), s.ep.cfg.MaxRecordSize, mtp.ErrTooLarge)
	}
	hdr := recordHeader(len(rec))
	if err := s.write(ctx, net.Buffers{hdr[:], rec}); err != nil {
		return fmt.Errorf("uds: send to %q: %w", s.peerID, err)
	}
	return nil
}

func (s *session) sendHandshake(ctx context.Context) error {
	frame, err := AppendFrame(nil, TLV{Type: TypeHandshake, Value: []byte(s.ep.localID)})
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
	_ = s.nc.SetReadDeadline(time.Now().Add(s.ep.cfg.HandshakeTimeout))
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
				s.ep.log.Debug("ignoring TLV before handshake", "type", t.Type, "len", len(t.Value))
			}
			if s.peerID != "" {
				break
			}
		}
	}
	_ = s.nc.SetReadDeadline(time.Time{})
	return nil
}

// frameDeadline bounds the rest of a frame whose header has arrived.
func (s *session) frameDeadline() {
	_ = s.nc.SetReadDeadline(time.Now().Add(s.ep.cfg.HandshakeTimeout))
}

// readLoop reads frames and delivers records until the connection ends,
// and returns why it ended.
func (s *session) readLoop() error {
	reply := s.Peer()
	for {
		// No deadline while the peer is quiet between frames; a frame,
		// once begun, must arrive within the handshake timeout.
		tlvs, err := readFrame(s.br, s.maxBody(), s.frameDeadline)
		if err != nil {
			return s.readError(err)
		}
		_ = s.nc.SetReadDeadline(time.Time{})
		for _, t := range tlvs {
			switch t.Type {
			case TypeRecord:
				if check := s.ep.cfg.RecordCheck; check != nil {
					if err := check(t.Value); err != nil {
						s.fail("cannot extract USP record: " + err.Error())
						return fmt.Errorf("%w: record check: %w", ErrRejected, err)
					}
				}
				s.ep.core.Deliver(mtp.Inbound{Data: t.Value, ReplyTo: reply, PeerID: s.peerID})
			case TypeError:
				return fmt.Errorf("%w: %s", ErrPeer, printable(t.Value))
			case TypeHandshake:
				// Already done; a repeat changes nothing.
			default:
				s.ep.log.Debug("ignoring unknown TLV", "peer", s.peerID, "type", t.Type)
			}
		}
	}
}
