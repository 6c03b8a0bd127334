package tlsrec

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// Errors an [Endpoint] returns; errors.Is matches them.
var (
	// ErrHandshake: the TLS handshake failed (a certificate refused, an
	// alert from the peer, a message out of place). The bytes returned
	// with it carry our alert, if TLS wrote one.
	ErrHandshake = errors.New("tlsrec: TLS handshake failed")
	// ErrNotReady: Seal before the handshake completed.
	ErrNotReady = errors.New("tlsrec: TLS handshake not complete")
	// ErrClosed: the endpoint was closed, or the TLS session ended (an
	// alert, a close_notify).
	ErrClosed = errors.New("tlsrec: TLS session closed")
	// ErrBadRecord: the peer's bytes are not TLS records.
	ErrBadRecord = errors.New("tlsrec: malformed TLS record")
	// ErrEndpointID: the peer's certificate does not carry the expected
	// USP endpoint ID in its subjectAltName (R-E2E.41).
	ErrEndpointID = errors.New("tlsrec: peer certificate does not name the expected endpoint ID")
)

// EndpointURI is how a USP endpoint ID is written in a certificate's
// subjectAltName (a URI): "urn:bbf:usp:id:" and the endpoint ID.
func EndpointURI(endpointID string) string { return "urn:bbf:usp:id:" + endpointID }

// Endpoint is one end of a TLS 1.2 session whose bytes travel in USP
// record payloads. It is safe for concurrent use.
type Endpoint struct {
	p      *pipe
	tc     *tls.Conn
	cancel context.CancelFunc
	done   chan struct{} // closed when the TLS goroutine ends

	mu        sync.Mutex
	plain     [][]byte
	err       error // why the TLS goroutine ended
	handshook bool
	pending   []byte // the start of a TLS record cut between payloads
	ignored   int
	passReneg bool
	requested bool // the server asked for our certificate
	peerLeaf  *x509.Certificate
	client    bool
	keys      []byte // exported for the record MAC once the handshake completed
}

// IntegrityLabel is the exporter label of the keys that protect the
// integrity of records' non-payload fields (TR-369 R-E2E.36).
const IntegrityLabel = "EXPORTER-BBF-USP-Record"

// IntegrityKeys returns the HMAC keys of the record MAC (TR-369 R-E2E.35
// to R-E2E.39: 64 bytes exported with [IntegrityLabel] and an empty
// context, the first 32 the TLS client's, the last 32 the server's): own
// for the records this end sends, peer for those it receives. ok is false
// before the handshake completed.
func (e *Endpoint) IntegrityKeys() (own, peer []byte, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.keys) != 64 {
		return nil, nil, false
	}
	if e.client {
		return e.keys[:32], e.keys[32:], true
	}
	return e.keys[32:], e.keys[:32], true
}

// Config builds the tls.Config of one end: the certificate it presents,
// the roots it trusts, and the endpoint ID the peer's certificate must
// name (empty: not checked).
type Config struct {
	Certificate tls.Certificate
	Roots       *x509.CertPool
	PeerID      string
	// PassRenegotiation hands handshake records that arrive after the
	// handshake to crypto/tls instead of dropping them, which breaks
	// R-E2E.40 (crypto/tls then ends the session): for fault injection.
	PassRenegotiation bool
}

// tlsConfig applies R-E2E.38 (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256,
// P-256), R-E2E.40 (no renegotiation) and R-E2E.41 (mutual
// authentication, the endpoint ID in subjectAltName).
func (c Config) tlsConfig(server bool) *tls.Config {
	tc := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		MaxVersion:       tls.VersionTLS12,
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		CurvePreferences: []tls.CurveID{tls.CurveP256},
		Certificates:     []tls.Certificate{c.Certificate},
		Renegotiation:    tls.RenegotiateNever,
		// The peer is named by its endpoint ID, not a host name: the
		// chain is verified here, against Roots, and the ID below.
		InsecureSkipVerify:     true,
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
	}
	roots, want := c.Roots, c.PeerID
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: no certificate", ErrHandshake)
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		usage := x509.ExtKeyUsageServerAuth
		if server {
			usage = x509.ExtKeyUsageClientAuth
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage, x509.ExtKeyUsageAny}}); err != nil {
			return err
		}
		if want == "" {
			return nil
		}
		for _, u := range leaf.URIs {
			if u.String() == EndpointURI(want) {
				return nil
			}
		}
		return fmt.Errorf("%w %q", ErrEndpointID, want)
	}
	return tc
}

// Client returns the end that starts the handshake: TR-369 gives the TLS
// client role to the endpoint that opened the session context.
func Client(cfg Config) *Endpoint {
	return start(cfg, true, func(e *Endpoint, c net.Conn) *tls.Conn {
		tc := cfg.tlsConfig(false)
		verify := tc.VerifyConnection
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				e.mu.Lock()
				e.peerLeaf = cs.PeerCertificates[0]
				e.mu.Unlock()
			}
			return verify(cs)
		}
		cert := cfg.Certificate
		tc.Certificates = nil
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			e.mu.Lock()
			e.requested = true
			e.mu.Unlock()
			return &cert, nil
		}
		return tls.Client(c, tc)
	})
}

// Server returns the end that answers the peer's ClientHello.
func Server(cfg Config) *Endpoint {
	return start(cfg, false, func(_ *Endpoint, c net.Conn) *tls.Conn { return tls.Server(c, cfg.tlsConfig(true)) })
}

func start(cfg Config, client bool, wrap func(*Endpoint, net.Conn) *tls.Conn) *Endpoint {
	p := newPipe()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Endpoint{p: p, cancel: cancel, done: make(chan struct{}), passReneg: cfg.PassRenegotiation}
	e.client = client
	e.tc = wrap(e, p)
	go e.run(ctx)
	return e
}

// PeerCertificate returns the certificate the server presented, once seen,
// even when it was refused (a client's view; nil before).
func (e *Endpoint) PeerCertificate() *x509.Certificate {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peerLeaf
}

// CertificateRequested reports whether the peer, as TLS server, asked for
// our certificate (R-E2E.41: mutual authentication).
func (e *Endpoint) CertificateRequested() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requested
}

// run drives crypto/tls: the handshake, then reading application data.
// Whatever TLS writes lands in the pipe's outbox, collected by the caller.
func (e *Endpoint) run(ctx context.Context) {
	defer func() {
		close(e.done)
		e.p.finish()
	}()
	if err := e.tc.HandshakeContext(ctx); err != nil {
		e.fail(fmt.Errorf("%w: %w", ErrHandshake, err))
		return
	}
	// TLS 1.2 exports keys only with the extended master secret, which
	// crypto/tls negotiates on both ends; without it no MAC can be made.
	cs := e.tc.ConnectionState()
	keys, kerr := cs.ExportKeyingMaterial(IntegrityLabel, []byte{}, 64)
	e.mu.Lock()
	e.handshook = true
	if kerr == nil {
		e.keys = keys
	}
	e.mu.Unlock()
	buf := make([]byte, maxPlain)
	for {
		n, err := e.tc.Read(buf)
		if n > 0 {
			e.mu.Lock()
			e.plain = append(e.plain, slices.Clone(buf[:n]))
			e.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			}
			e.fail(fmt.Errorf("%w: %w", ErrClosed, err))
			return
		}
	}
}

func (e *Endpoint) fail(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// Start returns the bytes to send first: the client's ClientHello (nothing
// for a server). ctx bounds the wait for crypto/tls.
func (e *Endpoint) Start(ctx context.Context) ([]byte, error) {
	if err := e.p.waitIdle(ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.p.take(), e.err
}

// Receive feeds the TLS bytes of one record payload (reassembled if the
// payload was segmented) and returns the application data they completed
// and the bytes to send back (handshake messages, alerts). A TLS record cut
// between payloads waits for the rest.
//
// After the handshake, handshake records from the peer are dropped before
// crypto/tls sees them: TR-369 R-E2E.40 has endpoints ignore renegotiation,
// and crypto/tls would answer it by ending the session.
func (e *Endpoint) Receive(ctx context.Context, payload []byte) (plain [][]byte, out []byte, err error) {
	e.mu.Lock()
	buf := append(e.pending, payload...)
	recs, rest, perr := SplitRecords(buf)
	if perr != nil {
		e.pending = nil
		e.mu.Unlock()
		return nil, nil, perr
	}
	e.pending = slices.Clone(rest)
	feed := make([]byte, 0, len(buf)-len(rest))
	for _, r := range recs {
		if e.handshook && r.Type == TypeHandshake && !e.passReneg {
			e.ignored++
			continue
		}
		feed = append(feed, r.Raw...)
	}
	e.mu.Unlock()
	if len(feed) > 0 {
		e.p.feed(feed)
	}
	if err := e.p.waitIdle(ctx); err != nil {
		return nil, nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	plain, e.plain = e.plain, nil
	return plain, e.p.take(), e.err
}

// Seal encrypts application data into TLS records to carry in a payload.
func (e *Endpoint) Seal(p []byte) ([]byte, error) {
	e.mu.Lock()
	ok, err := e.handshook, e.err
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotReady
	}
	if _, err := e.tc.Write(p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.p.take(), nil
}

// Handshaken reports whether the handshake completed.
func (e *Endpoint) Handshaken() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.handshook
}

// Ignored returns how many handshake records from the peer were dropped
// after the handshake (renegotiation attempts).
func (e *Endpoint) Ignored() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ignored
}

// ConnectionState returns crypto/tls's view of the session (the peer's
// certificates among others).
func (e *Endpoint) ConnectionState() tls.ConnectionState { return e.tc.ConnectionState() }

// Close ends the session without a close_notify (the session context that
// carried it is gone) and waits for the TLS goroutine.
func (e *Endpoint) Close() error {
	e.cancel()
	e.p.close()
	<-e.done
	return nil
}

// pipe is the net.Conn crypto/tls runs on: reads take the bytes fed from
// received payloads, writes collect the bytes to send. It reports when the
// TLS goroutine waits for input with nothing left to read, which is when
// everything the fed bytes caused has been written.
type pipe struct {
	mu       sync.Mutex
	cond     *sync.Cond
	in, out  []byte
	waiting  bool // the reader waits on an empty in
	closed   bool // no more reads: the endpoint closed
	finished bool // the TLS goroutine ended
}

func newPipe() *pipe {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.in) == 0 && !p.closed {
		p.waiting = true
		p.cond.Broadcast()
		p.cond.Wait()
	}
	p.waiting = false
	if len(p.in) == 0 {
		return 0, net.ErrClosed
	}
	n := copy(b, p.in)
	p.in = p.in[n:]
	return n, nil
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, net.ErrClosed
	}
	p.out = append(p.out, b...)
	return len(b), nil
}

func (p *pipe) feed(b []byte) {
	p.mu.Lock()
	p.in = append(p.in, b...)
	p.cond.Broadcast()
	p.mu.Unlock()
}

// take returns and clears what TLS wrote.
func (p *pipe) take() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.out
	p.out = nil
	return out
}

// waitIdle waits until the reader waits on empty input or has ended.
func (p *pipe) waitIdle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !(p.waiting && len(p.in) == 0) && !p.finished {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.cond.Wait()
	}
	return nil
}

func (p *pipe) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pipe) finish() {
	p.mu.Lock()
	p.finished = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pipe) Close() error                     { p.close(); return nil }
func (p *pipe) LocalAddr() net.Addr              { return pipeAddr{} }
func (p *pipe) RemoteAddr() net.Addr             { return pipeAddr{} }
func (p *pipe) SetDeadline(time.Time) error      { return nil }
func (p *pipe) SetReadDeadline(time.Time) error  { return nil }
func (p *pipe) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "usp-record" }
func (pipeAddr) String() string  { return "usp-record" }
