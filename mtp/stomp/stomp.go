package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/gousp/gousp/internal/writeguard"
	"github.com/gousp/gousp/mtp"
)

// Kind is the binding this package implements.
const Kind = mtp.STOMP

// ContentType marks a USP Record in SEND and MESSAGE frames (TR-369
// R-STOMP.20).
const ContentType = "application/vnd.bbf.usp.msg"

// Header names TR-369 adds to STOMP.
const (
	// HeaderEndpointID carries our endpoint ID in the STOMP frame (R-STOMP.4).
	HeaderEndpointID = "endpoint-id"
	// HeaderSubscribeDest in CONNECTED names the destination to subscribe
	// to (R-STOMP.6).
	HeaderSubscribeDest = "subscribe-dest"
	// HeaderReplyToDest in SEND and MESSAGE says where to answer (R-STOMP.21).
	HeaderReplyToDest = "reply-to-dest"
)

// ErrNoDestination reports that the transport has no destination to
// subscribe to: none configured and no subscribe-dest from the broker.
var ErrNoDestination = errors.New("stomp: no destination to subscribe to: configure WithDestination")

var errConnectionLost = errors.New("stomp: connection to broker lost")

// drainWait bounds how long we wait for go-stomp to wind a connection down.
const drainWait = 5 * time.Second

// Transport is the STOMP 1.2 binding of [mtp.Transport], for controllers
// and agents alike. It is safe for concurrent use. See the package doc.
type Transport struct {
	cfg        config
	addr       string
	endpointID string
	tls        *tls.Config
	log        *slog.Logger

	ctx     context.Context // lives until Close
	cancel  context.CancelFunc
	started atomic.Bool
	closing atomic.Bool
	state   atomic.Int32
	h       mtp.Handler
	hmu     sync.Mutex // serialises handler calls

	firstUp     chan struct{}
	firstUpOnce sync.Once
	fatal       chan error
	loopDone    chan struct{}
	closeOnce   sync.Once
	closed      chan struct{}

	mu      sync.Mutex
	running bool
	conn    *gostomp.Conn    // current connection, nil while down
	dest    string           // our destination on the current connection
	w       *writeguard.Conn // the current connection's writes
	lastErr error
	// fromServer is the subscribe-dest of the latest CONNECTED ("" when
	// it had none).
	fromServer string
	resub      chan resubscription // SetDestination to the serving loop
}

var (
	_ mtp.Transport  = (*Transport)(nil)
	_ mtp.Identified = (*Transport)(nil)
)

// LocalEndpointID returns the endpoint ID given to [New].
func (t *Transport) LocalEndpointID() string { return t.endpointID }

type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// New checks the configuration and returns a transport for the STOMP
// broker at addr that names itself endpointID. Nothing connects before
// [Transport.Start].
//
// addr is either host:port, or a URL as mqtt.New takes one:
// stomp://host[:port] (plain, port 61613 by default) or
// stomps://host[:port] (TLS, port 61614 by default; [WithTLS] configures
// it). A plain host:port uses TLS exactly when WithTLS is given.
func New(addr, endpointID string, opts ...Option) (*Transport, error) {
	if endpointID == "" {
		return nil, errors.New("stomp: empty endpoint ID")
	}
	addr, forceTLS, err := parseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("stomp: %w", err)
	}
	cfg := config{
		host:           DefaultHost,
		hbSend:         DefaultHeartBeat,
		hbRecv:         DefaultHeartBeat,
		connectTimeout: DefaultConnectTimeout,
		minBackoff:     DefaultMinBackoff,
		backoffReset:   DefaultBackoffReset,
		maxBackoff:     DefaultMaxBackoff,
		maxRecord:      DefaultMaxRecordSize,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("stomp: %w", err)
		}
	}
	if forceTLS != nil && !*forceTLS && cfg.tls != nil {
		return nil, errors.New("stomp: WithTLS given but the address is stomp:// (use stomps://)")
	}
	if forceTLS != nil && *forceTLS && cfg.tls == nil {
		cfg.tls = &tls.Config{}
	}
	var tlsCfg *tls.Config
	if cfg.tls != nil {
		tlsCfg = cfg.tls.Clone()
		if tlsCfg.MinVersion < tls.VersionTLS12 {
			tlsCfg.MinVersion = tls.VersionTLS12 // R-STOMP.36
		}
	}
	logger := cfg.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:        cfg,
		addr:       addr,
		endpointID: endpointID,
		tls:        tlsCfg,
		log:        logger.With("mtp", "stomp", "broker", addr),
		ctx:        ctx,
		cancel:     cancel,
		firstUp:    make(chan struct{}),
		fatal:      make(chan error, 1),
		loopDone:   make(chan struct{}),
		closed:     make(chan struct{}),
		resub:      make(chan resubscription),
	}
	t.state.Store(int32(mtp.Disconnected))
	return t, nil
}

// parseAddr turns New's addr into host:port; tlsMode is nil for a bare
// host:port (WithTLS decides), else whether the URL's scheme asks for TLS.
func parseAddr(addr string) (hostPort string, tlsMode *bool, err error) {
	scheme, rest, isURL := strings.Cut(addr, "://")
	if !isURL {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", nil, fmt.Errorf("broker address %q: %w", addr, err)
		}
		return addr, nil, nil
	}
	var on bool
	port := "61613"
	switch strings.ToLower(scheme) {
	case "stomp", "tcp":
	case "stomps", "ssl", "tls", "stomp+ssl":
		on, port = true, "61614"
	default:
		return "", nil, fmt.Errorf("broker address %q: unsupported scheme %q (stomp:// or stomps://)", addr, scheme)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", nil, fmt.Errorf("broker address: %w", err)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || rest == "" {
		return "", nil, fmt.Errorf("broker address %q: want %s://host[:port]", addr, scheme)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(u.Hostname(), port), &on, nil
}

func checkDestination(d string) error {
	switch {
	case d == "":
		return errors.New("empty destination")
	case !utf8.ValidString(d) || strings.ContainsRune(d, 0):
		return fmt.Errorf("destination %q is not valid UTF-8 or contains NUL", d)
	}
	return nil
}

// Kind returns [Kind].
func (t *Transport) Kind() mtp.Kind { return Kind }

// State reports the connection state.
func (t *Transport) State() mtp.State { return mtp.State(t.state.Load()) }

// Start connects to the broker, subscribes to the destination, and
// returns once the transport is Up (it reports that [mtp.Event] to h
// too). If ctx ends first, or the configuration cannot work, Start returns
// an error and the transport is closed. After Start the transport
// reconnects by itself, with jittered exponential backoff, after a lost
// connection or an ERROR frame, until [Transport.Close].
func (t *Transport) Start(ctx context.Context, h mtp.Handler) error {
	if h == nil {
		return errors.New("stomp: nil handler")
	}
	if t.closing.Load() {
		return fmt.Errorf("stomp: start: %w", mtp.ErrClosed)
	}
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("stomp: Start called twice")
	}
	t.h = h
	t.state.Store(int32(mtp.Connecting))
	t.mu.Lock()
	if t.closing.Load() {
		t.mu.Unlock()
		return fmt.Errorf("stomp: start: %w", mtp.ErrClosed)
	}
	t.running = true
	go t.run()
	t.mu.Unlock()
	select {
	case <-t.firstUp:
		return nil
	case err := <-t.fatal:
		_ = t.Close(context.Background())
		return err
	case <-t.closed:
		return fmt.Errorf("stomp: start: %w", mtp.ErrClosed)
	case <-ctx.Done():
		t.mu.Lock()
		last := t.lastErr
		t.mu.Unlock()
		_ = t.Close(context.Background())
		if last != nil {
			return fmt.Errorf("stomp: start: %w (last error: %v)", ctx.Err(), last)
		}
		return fmt.Errorf("stomp: start: %w", ctx.Err())
	}
}

// session is one connection with its subscription.
type session struct {
	conn  *gostomp.Conn
	sub   *gostomp.Subscription
	reply *gostomp.Subscription // WithReplyDestination's, or nil
	dest  string
	// fromServer: dest came from subscribe-dest, which a new configured
	// destination does not override; replyDest: WithReplyDestination's
	// destination, not dest, is the one named in reply-to-dest.
	fromServer, replyDest bool
	guard                 *frameGuard
	w                     *writeguard.Conn
}

// run keeps a connection to the broker until Close; go-stomp has no
// reconnection of its own.
func (t *Transport) run() {
	defer close(t.loopDone)
	attempt := 0
	for {
		if d := t.retryDelay(attempt); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-t.ctx.Done():
				timer.Stop()
				return
			}
		}
		if t.ctx.Err() != nil {
			return
		}
		s, err := t.connect()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			t.log.Debug("connection attempt failed", "attempt", attempt, "err", err)
			t.mu.Lock()
			t.lastErr = err
			t.mu.Unlock()
			if fe := (fatalError{}); errors.As(err, &fe) {
				select {
				case t.fatal <- fe.error:
				default:
				}
			}
			attempt++
			continue
		}
		upAt := time.Now()
		err = t.serve(s)
		if t.ctx.Err() != nil {
			return
		}
		t.down(err)
		attempt = t.nextAttempt(attempt, time.Since(upAt))
	}
}

func (t *Transport) dial(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	if t.cfg.dial != nil {
		return t.cfg.dial(ctx, addr)
	}
	if tlsCfg != nil {
		d := tls.Dialer{Config: tlsCfg}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// connect makes one connection: dial, STOMP/CONNECTED, SUBSCRIBE.
func (t *Transport) connect() (*session, error) {
	// The settings of this connection: the Set* methods change them for
	// the next one.
	t.mu.Lock()
	cfg, addr, tlsCfg := t.cfg, t.addr, t.tls
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.ctx, cfg.connectTimeout)
	defer cancel()
	nc, err := t.dial(ctx, addr, tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("stomp: dial %s: %w", addr, err)
	}
	// go-stomp's handshake only heeds a deadline; closing the connection
	// also ends it when Close comes first.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	// go-stomp writes without deadlines: a broker that stops reading
	// would hold its writer, and every send queued behind it, for ever.
	wg := writeguard.New(nc, cfg.connectTimeout)
	gc := &guardConn{Conn: wg, g: newFrameGuard(maxHeaderBytes, cfg.maxRecord)}
	var connected *frame.Header
	opts := []func(*gostomp.Conn) error{
		// R-STOMP.2 asks for the STOMP command rather than CONNECT.
		gostomp.ConnOpt.UseStomp,
		gostomp.ConnOpt.AcceptVersion(gostomp.V12),
		gostomp.ConnOpt.Host(cfg.host),
		gostomp.ConnOpt.HeartBeat(cfg.hbSend, cfg.hbRecv),
		gostomp.ConnOpt.HeartBeatError(heartBeatSlack(cfg.hbRecv)),
		// STOMP 1.2 exempts CONNECT and STOMP frames from header escaping,
		// but TR-369 (note to R-STOMP.4) wants the colons of the endpoint
		// ID escaped as \c, and OB-USP-A sends "endpoint-id:proto\c\c...".
		// go-stomp escapes every header of every frame, which is what
		// TR-369 asks for here.
		gostomp.ConnOpt.Header(HeaderEndpointID, t.endpointID),
		gostomp.ConnOpt.ResponseHeaders(func(h *frame.Header) { connected = h.Clone() }),
		gostomp.ConnOpt.MsgSendTimeout(cfg.connectTimeout),
		gostomp.ConnOpt.RcvReceiptTimeout(cfg.connectTimeout),
		gostomp.ConnOpt.DisconnectReceiptTimeout(2 * time.Second),
		gostomp.ConnOpt.Logger(stompLogger{t.log}),
	}
	if cfg.hasCreds {
		opts = append(opts, gostomp.ConnOpt.Login(cfg.user, cfg.pass))
	}
	conn, err := gostomp.ConnectWithContext(ctx, gc, opts...)
	if !stop() && err == nil {
		// Closed under the handshake's feet: it succeeded too late.
		_ = conn.MustDisconnect()
		err = ctx.Err()
	}
	if err != nil {
		_ = nc.Close()
		if f := errorFrame(err); f != nil {
			return nil, fmt.Errorf("stomp: broker refused connection: %s %s", f.Header.Get(frame.Message), strings.TrimSpace(string(f.Body)))
		}
		return nil, fmt.Errorf("stomp: connect: %w", err)
	}
	dest, fromServer := cfg.destination, ""
	if connected != nil {
		if sd := connected.Get(HeaderSubscribeDest); sd != "" {
			if err := checkDestination(sd); err != nil {
				t.log.Warn("ignoring subscribe-dest", "subscribe_dest", sd, "err", err)
			} else {
				dest, fromServer = sd, sd // R-STOMP.6, R-STOMP.14
			}
		}
	}
	t.mu.Lock()
	t.fromServer = fromServer
	t.mu.Unlock()
	if dest == "" {
		// R-STOMP.16: end the session.
		_ = conn.Disconnect()
		return nil, fatalError{ErrNoDestination}
	}
	// Hold records that arrive right after subscribing until Up is out.
	t.hmu.Lock()
	defer t.hmu.Unlock()
	sub, err := conn.Subscribe(dest, gostomp.AckAuto) // R-STOMP.17
	if err != nil {
		_ = conn.MustDisconnect()
		return nil, fmt.Errorf("stomp: subscribe %s: %w", dest, err)
	}
	s := &session{conn: conn, sub: sub, dest: dest, fromServer: fromServer != "", replyDest: cfg.replyDest != "", guard: gc.g, w: wg}
	// With a reply destination of its own, this process gets the answers
	// to what it sends there, while dest is shared with other processes.
	local := dest
	if rd := cfg.replyDest; rd != "" {
		if s.reply, err = conn.Subscribe(rd, gostomp.AckAuto); err != nil {
			_ = conn.MustDisconnect()
			return nil, fmt.Errorf("stomp: subscribe %s: %w", rd, err)
		}
		local = rd
	}
	t.mu.Lock()
	t.conn, t.dest, t.lastErr, t.w = conn, local, nil, wg
	t.mu.Unlock()
	t.state.Store(int32(mtp.Connected))
	t.log.Debug("connected", "destination", dest, "reply_destination", local, "server", conn.Server(), "version", conn.Version())
	if !t.closing.Load() {
		t.h.HandleEvent(mtp.Event{Kind: mtp.Up, Local: mtp.Address{MTP: Kind, To: local}})
	}
	t.firstUpOnce.Do(func() { close(t.firstUp) })
	return s, nil
}

// heartBeatSlack is how late a broker heart beat may be before the
// connection counts as lost: go-stomp's 5 s default, less for short
// intervals so that tests and lively deployments notice losses quickly.
func heartBeatSlack(recv time.Duration) time.Duration {
	if recv > 0 && recv < 10*time.Second {
		return recv / 2
	}
	return gostomp.DefaultHeartBeatError
}

// serve delivers the session's messages until it ends, then winds it
// down; it returns why it ended.
func (t *Transport) serve(s *session) error {
	var reason error
	var replies chan *gostomp.Message // nil, never ready, without a reply destination
	if s.reply != nil {
		replies = s.reply.C
	}
loop:
	for {
		var m *gostomp.Message
		var ok bool
		select {
		case m, ok = <-s.sub.C:
		case m, ok = <-replies:
		case <-t.ctx.Done():
			t.shutdown(s)
			return nil
		case req := <-t.resub:
			err := t.resubscribe(s, req.dest)
			req.done <- err
			if err != nil {
				reason = err
				break loop
			}
			continue
		}
		if !ok {
			reason = errConnectionLost
			break loop
		}
		if m.Err != nil {
			reason = describe(m, s.guard.sawError.Load())
			break loop
		}
		t.deliver(m)
	}
	t.mu.Lock()
	t.conn = nil
	t.mu.Unlock()
	_ = s.conn.MustDisconnect()
	t.drain(s)
	return reason
}

// describe turns the message that ended a subscription into an error.
// go-stomp reports its own failures (read timeouts, closed connections)
// as ERROR frames too; fromBroker says whether the broker sent one.
func describe(m *gostomp.Message, fromBroker bool) error {
	if f := errorFrame(m.Err); f != nil && fromBroker {
		msg := f.Header.Get(frame.Message)
		if body := strings.TrimSpace(string(f.Body)); body != "" {
			return fmt.Errorf("stomp: broker sent ERROR: %s: %s", msg, body)
		}
		return fmt.Errorf("stomp: broker sent ERROR: %s", msg)
	}
	return fmt.Errorf("%w: %v", errConnectionLost, m.Err)
}

// errorFrame returns the ERROR frame behind a go-stomp error, if any
// (go-stomp returns its Error type both as a value and as a pointer).
func errorFrame(err error) *frame.Frame {
	var v gostomp.Error
	var p *gostomp.Error
	switch {
	case errors.As(err, &p) && p != nil && p.Frame != nil && p.Frame.Command == frame.ERROR:
		return p.Frame
	case errors.As(err, &v) && v.Frame != nil && v.Frame.Command == frame.ERROR:
		return v.Frame
	}
	return nil
}

// shutdown ends a session for Close: DISCONNECT with a receipt, while
// draining messages so that go-stomp can process the RECEIPT.
func (t *Transport) shutdown(s *session) {
	t.mu.Lock()
	t.conn = nil
	t.mu.Unlock()
	if s.w.Abort() || s.w.Broken() {
		// A broker that stopped reading would never take our
		// DISCONNECT, and go-stomp would wait on it for ever.
		_ = s.conn.MustDisconnect()
		t.drain(s)
		return
	}
	drained := make(chan struct{})
	go func() {
		t.drain(s)
		close(drained)
	}()
	_ = s.conn.Disconnect() // R-STOMP.28
	_ = s.conn.MustDisconnect()
	<-drained
}

// drain reads the subscription until go-stomp closes it, so that none of
// go-stomp's goroutines stays blocked on it.
func (t *Transport) drain(s *session) {
	timer := time.NewTimer(drainWait)
	defer timer.Stop()
	subs, replies := s.sub.C, (chan *gostomp.Message)(nil)
	if s.reply != nil {
		replies = s.reply.C
	}
	for subs != nil || replies != nil {
		select {
		case _, ok := <-subs:
			if !ok {
				subs = nil
			}
		case _, ok := <-replies:
			if !ok {
				replies = nil
			}
		case <-timer.C:
			t.log.Warn("subscription did not close after the connection ended")
			return
		}
	}
}

func (t *Transport) deliver(m *gostomp.Message) {
	if ct := m.ContentType; ct != "" && ct != ContentType {
		// Only this content type carries a USP Record (R-STOMP.20); the
		// deprecated application/vnd.bbf.usp.error, for one, does not.
		t.log.Warn("dropping message with foreign content type", "destination", m.Destination, "content_type", ct)
		return
	}
	if len(m.Body) > t.cfg.maxRecord {
		t.log.Warn("dropping oversized record", "size", len(m.Body), "max", t.cfg.maxRecord)
		return
	}
	in := mtp.Inbound{Data: m.Body, ReceivedOn: mtp.Address{MTP: Kind, To: m.Destination}}
	if rd := m.Header.Get(HeaderReplyToDest); rd != "" {
		if err := checkDestination(rd); err == nil {
			in.ReplyTo = mtp.Address{MTP: Kind, To: rd} // R-STOMP.23
		}
	}
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if !t.closing.Load() {
		t.h.HandleRecord(in)
	}
}

func (t *Transport) down(err error) {
	if t.closing.Load() {
		return
	}
	t.state.Store(int32(mtp.Disconnected))
	if err == nil {
		err = errConnectionLost
	}
	t.log.Info("connection lost", "err", err)
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if !t.closing.Load() {
		t.h.HandleEvent(mtp.Event{Kind: mtp.Down, Err: err})
	}
}

// Send sends record to the destination in to.To in a SEND frame with
// content-type application/vnd.bbf.usp.msg, content-length, and our
// destination as reply-to-dest. Without [WithReceipts] it returns once
// go-stomp has queued the frame.
func (t *Transport) Send(ctx context.Context, to mtp.Address, record []byte) error {
	if t.closing.Load() {
		return fmt.Errorf("stomp: send: %w", mtp.ErrClosed)
	}
	if !t.started.Load() {
		return fmt.Errorf("stomp: send: %w", mtp.ErrNotStarted)
	}
	if to.MTP != Kind && to.MTP != "" {
		return fmt.Errorf("stomp: send to %s: %w: not a STOMP address", to, mtp.ErrBadAddress)
	}
	if err := checkDestination(to.To); err != nil {
		return fmt.Errorf("stomp: send: %w: %v", mtp.ErrBadAddress, err)
	}
	if len(record) > t.cfg.maxRecord {
		return fmt.Errorf("stomp: send %d bytes (max %d): %w", len(record), t.cfg.maxRecord, mtp.ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stomp: send to %s: %w", to.To, err)
	}
	t.mu.Lock()
	conn, dest := t.conn, t.dest
	t.mu.Unlock()
	if conn == nil || t.State() != mtp.Connected {
		return fmt.Errorf("stomp: send to %s: %w", to.To, mtp.ErrNotConnected)
	}
	if f := t.cfg.replyToFor; f != nil {
		if rd := f(to.To); rd != "" {
			if err := checkDestination(rd); err != nil {
				return fmt.Errorf("stomp: send to %s: reply-to-dest %q: %w: %v", to.To, rd, mtp.ErrBadAddress, err)
			}
			dest = rd
		}
	}
	opts := []func(*frame.Frame) error{gostomp.SendOpt.Header(HeaderReplyToDest, dest)} // R-STOMP.21
	if t.cfg.receipts {
		opts = append(opts, gostomp.SendOpt.Receipt)
	}
	// go-stomp adds content-length (R-STOMP.19).
	err := t.send(ctx, conn, to.To, record, opts)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gostomp.ErrAlreadyClosed), errors.Is(err, gostomp.ErrClosedUnexpectedly):
		return fmt.Errorf("stomp: send to %s: %w", to.To, mtp.ErrNotConnected)
	}
	if f := errorFrame(err); f != nil {
		return fmt.Errorf("stomp: send to %s: %w: broker sent ERROR: %s", to.To, mtp.ErrNotConnected, f.Header.Get(frame.Message))
	}
	return fmt.Errorf("stomp: send to %s: %w", to.To, err)
}

// send hands the frame to go-stomp, which may block (up to the connect
// timeout) when the broker stopped reading; the caller's context ends the
// wait, and aborts a write stuck on the broker.
func (t *Transport) send(ctx context.Context, conn *gostomp.Conn, dest string, record []byte, opts []func(*frame.Frame) error) error {
	if ctx.Done() == nil {
		return conn.Send(dest, ContentType, record, opts...)
	}
	done := make(chan error, 1)
	go func() { done <- conn.Send(dest, ContentType, record, opts...) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.cut(false)
		return ctx.Err()
	}
}

// cut aborts a write stuck on the broker, and with close also closes the
// connection whatever it is doing.
func (t *Transport) cut(close bool) {
	t.mu.Lock()
	w := t.w
	t.mu.Unlock()
	if w == nil {
		return
	}
	w.Abort()
	if close {
		_ = w.Close()
	}
}

// Close disconnects from the broker (DISCONNECT) and waits until every
// goroutine of the transport has ended, or ctx ends. It is idempotent;
// later calls wait for the first. Do not call it from a [mtp.Handler]
// callback: it waits for those to return.
func (t *Transport) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		t.state.Store(int32(mtp.Closed))
		t.cancel()
		t.mu.Lock()
		running := t.running
		t.mu.Unlock()
		if !running {
			close(t.closed)
			return
		}
		go func() {
			<-t.loopDone
			close(t.closed)
		}()
	})
	select {
	case <-t.closed:
		return nil
	case <-ctx.Done():
		// Stuck on a broker that stopped reading: cut the connection so
		// that go-stomp's goroutines end soon.
		t.cut(true)
		return fmt.Errorf("stomp: close: %w", ctx.Err())
	}
}

// stompLogger sends go-stomp's log lines to slog at debug level: go-stomp
// logs expected events (ERROR frames, closed subscriptions) as errors.
type stompLogger struct{ l *slog.Logger }

func (s stompLogger) Debugf(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), "source", "go-stomp")
}
func (s stompLogger) Infof(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), "source", "go-stomp")
}
func (s stompLogger) Warningf(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), "source", "go-stomp")
}
func (s stompLogger) Errorf(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), "source", "go-stomp")
}
func (s stompLogger) Debug(msg string)   { s.l.Debug(msg, "source", "go-stomp") }
func (s stompLogger) Info(msg string)    { s.l.Debug(msg, "source", "go-stomp") }
func (s stompLogger) Warning(msg string) { s.l.Debug(msg, "source", "go-stomp") }
func (s stompLogger) Error(msg string)   { s.l.Debug(msg, "source", "go-stomp") }
