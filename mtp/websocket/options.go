package websocket

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Defaults for the options.
const (
	DefaultMaxRecordSize    = 16 << 20
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 75 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the client's waits
	// between connection attempts; the first wait is 5 to 10 seconds, as in
	// R-WS.19, and each later range doubles up to the maximum.
	DefaultBackoffMin = 5 * time.Second
	DefaultBackoffMax = 5 * time.Minute
	// DefaultMaxSessions and DefaultMaxSessionsPerAddr bound a server's
	// sessions, in total and per client IP address (see
	// [WithSessionLimits]).
	DefaultMaxSessions        = peerconn.DefaultMaxSessions
	DefaultMaxSessionsPerAddr = peerconn.DefaultMaxSessionsPerAddr
)

// closeGrace bounds how long a closing session waits for the peer's answer
// to its close frame.
const closeGrace = time.Second

// Option configures a [Server] or a [Client]. Options that fit only one
// role say so; the other role's constructor rejects them.
type Option func(*config) error

type config struct {
	peerconn.Options
	tls          *tls.Config
	commonName   bool // WithCommonNameIdentity
	pingInterval time.Duration
	pongTimeout  time.Duration

	// server
	listenAddr       string
	localID          string
	rejectDuplicates bool
	certIdentity     bool
	clientRoots      *x509.CertPool

	// client
	peerID      string
	serverRoots *x509.CertPool
	backoffMin  time.Duration
	backoffMax  time.Duration
	header      http.Header
	dialer      *websocket.Dialer
}

func newConfig(r peerconn.Role, opts []Option) (config, error) {
	c := config{
		Options: peerconn.Options{
			Kind:             mtp.WebSocket,
			Log:              slog.New(slog.DiscardHandler),
			HandshakeTimeout: DefaultHandshakeTimeout,
			WriteTimeout:     DefaultWriteTimeout,
			MaxRecordSize:    DefaultMaxRecordSize,

			MaxSessions:        DefaultMaxSessions,
			MaxSessionsPerAddr: DefaultMaxSessionsPerAddr,
		},
		pingInterval: DefaultPingInterval,
		pongTimeout:  DefaultPongTimeout,
		backoffMin:   DefaultBackoffMin,
		backoffMax:   DefaultBackoffMax,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if err := c.Check(r); err != nil {
		return c, err
	}
	if c.tls != nil && r == peerconn.ServerRole && c.listenAddr == "" {
		return c, errors.New("websocket: WithTLS on a server needs WithListenAddr; a mounted handler gets TLS from its http.Server")
	}
	if c.clientRoots != nil && c.listenAddr != "" && c.tls == nil {
		return c, errors.New("websocket: WithClientCertificates on a listening server needs WithTLS")
	}
	if c.clientRoots != nil && c.tls != nil && c.tls.ClientAuth < tls.RequestClientCert {
		// Ask for the certificate; the server verifies it itself, so that
		// a client without a good one gets a 403 that says why.
		c.tls.ClientAuth = tls.RequestClientCert
	}
	return c, nil
}

// WithLogger sets where the transport logs; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { return c.SetLogger(l) }
}

// WithTLS sets the TLS configuration: for a server, that of its ready
// listener (MinVersion is raised to TLS 1.2; set ClientAuth and ClientCAs
// for mutual TLS); for a client, the one used to dial wss:// URLs
// (Certificates for mutual TLS).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("websocket: nil TLS config")
		}
		cfg = cfg.Clone()
		if cfg.MinVersion < tls.VersionTLS12 {
			cfg.MinVersion = tls.VersionTLS12
		}
		c.tls = cfg
		return nil
	}
}

// WithMaxRecordSize bounds the records sent and received (default
// [DefaultMaxRecordSize]). A larger send fails with [mtp.ErrTooLarge]; a
// larger incoming message closes the connection with status 1009.
func WithMaxRecordSize(n int) Option {
	return func(c *config) error { return c.SetMaxRecordSize(n) }
}

// WithKeepAlive sets how often the transport pings its peer and how long
// it waits for any frame (data, ping or pong) before it drops a silent
// peer (defaults [DefaultPingInterval], [DefaultPongTimeout]). An interval
// of 0 turns pings and the timeout off; pings from the peer are answered
// regardless.
func WithKeepAlive(interval, timeout time.Duration) Option {
	return func(c *config) error {
		if interval < 0 || (interval > 0 && timeout <= interval) {
			return fmt.Errorf("websocket: keep-alive every %v with timeout %v, want 0 or timeout > interval > 0", interval, timeout)
		}
		c.pingInterval, c.pongTimeout = interval, timeout
		return nil
	}
}

// WithHandshakeTimeout bounds the opening handshake, TLS included (default
// [DefaultHandshakeTimeout]).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetHandshakeTimeout(d) }
}

// WithWriteTimeout bounds a send whose context has no deadline (default
// [DefaultWriteTimeout]), so a peer that stops reading cannot block it for
// ever.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetWriteTimeout(d) }
}

// WithRecordCheck installs f to vet each received record before delivery.
// A record f rejects is not delivered: the transport closes the connection
// with status 1003 (R-WS.16). f runs on the connection's goroutine.
func WithRecordCheck(f func(record []byte) error) Option {
	return func(c *config) error { return c.SetRecordCheck(f) }
}

// WithListenAddr makes [Server.Start] listen on addr (such as
// "127.0.0.1:0") and serve itself there, over TLS if [WithTLS] is given.
// Without it, mount the server as an http.Handler. Server only.
func WithListenAddr(addr string) Option {
	return func(c *config) error {
		if addr == "" {
			return errors.New("websocket: empty listen address")
		}
		c.listenAddr = addr
		c.Only("WithListenAddr", peerconn.ServerRole)
		return nil
	}
}

// WithEndpointID gives the server's own endpoint ID, which it echoes in
// the deprecated bbf-usp-protocol extension to clients that offer it
// (R-WS.11a). Server only; a client names itself in [NewClient].
func WithEndpointID(id string) Option {
	return func(c *config) error {
		if err := checkEndpointID(id); err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		c.localID = id
		c.Only("WithEndpointID", peerconn.ServerRole)
		return nil
	}
}

// WithRejectDuplicates makes the server refuse, with HTTP 409, a client
// whose endpoint ID already has a session. By default the newer
// connection wins and the older one is closed: TR-369 allows one session
// per pair of endpoints (R-WS.4), and over TCP an agent that reconnects
// usually does so because its old connection died unnoticed. Server only.
func WithRejectDuplicates() Option {
	return func(c *config) error {
		c.rejectDuplicates = true
		c.Only("WithRejectDuplicates", peerconn.ServerRole)
		return nil
	}
}

// WithClientCertificates makes the server admit only clients whose TLS
// certificate verifies against roots (for client authentication) and names
// the endpoint ID the client claims in a urn:bbf:usp:id: URI
// subjectAltName, as TR-369 has it; a client that gives no ?eid= is named
// by its certificate, which must then name one endpoint. Any other client
// is refused with HTTP 403 before the upgrade: no certificate, an untrusted
// or expired one, one without a URI, one naming another endpoint. This is
// the setting for a controller whose agents dial in with certificates.
//
// A listening server needs [WithTLS], whose configuration is made to ask
// for client certificates; a mounted server needs its http.Server's
// TLSConfig to ask for them (tls.RequestClientCert or stronger). The
// certificate's common name is ignored unless [WithCommonNameIdentity] is
// given. Server only.
func WithClientCertificates(roots *x509.CertPool) Option {
	return func(c *config) error {
		if roots == nil {
			return errors.New("websocket: nil client certificate roots")
		}
		c.clientRoots = roots
		c.Only("WithClientCertificates", peerconn.ServerRole)
		return nil
	}
}

// WithServerCertificate makes the client accept only a server whose TLS
// certificate verifies against roots (for server authentication) and
// names the server's endpoint ID in a urn:bbf:usp:id: URI subjectAltName:
// the one given with [WithPeerID], or, without it, the only one the
// certificate names, which then becomes the peer ID. The host name of the
// URL is not checked, as agents' certificates often carry only their
// endpoint ID. This is the setting for a controller that dials an agent's
// WebSocket server; no InsecureSkipVerify is needed. A refused
// certificate fails Start at once with [ErrCertificate]. The URL must be
// wss://. Client only.
func WithServerCertificate(roots *x509.CertPool) Option {
	return func(c *config) error {
		if roots == nil {
			return errors.New("websocket: nil server certificate roots")
		}
		c.serverRoots = roots
		c.Only("WithServerCertificate", peerconn.ClientRole)
		return nil
	}
}

// WithCommonNameIdentity lets [WithClientCertificates],
// [WithServerCertificate] and [WithCertificateIdentity] take the endpoint
// ID from the subject common name of a certificate that has no
// urn:bbf:usp:id: URI. It is weaker: certificate authorities issue common
// names for many purposes, and any certificate from a trusted authority
// whose common name happens to equal an endpoint ID would pass for that
// endpoint and, with the default newest-session-wins policy, take over its
// session. Use it only with an authority that issues nothing else.
func WithCommonNameIdentity() Option {
	return func(c *config) error {
		c.commonName = true
		return nil
	}
}

// WithCertificateIdentity is [WithClientCertificates] for a server whose
// TLS configuration verifies client certificates itself (ClientAuth
// tls.RequireAndVerifyClientCert and ClientCAs, for instance on the
// http.Server a mounted server runs under): the server refuses, with HTTP
// 403, a client without a verified certificate or whose certificate does
// not name the endpoint of its ?eid= in a urn:bbf:usp:id: URI. Server
// only.
func WithCertificateIdentity() Option {
	return func(c *config) error {
		c.certIdentity = true
		c.Only("WithCertificateIdentity", peerconn.ServerRole)
		return nil
	}
}

// WithPeerID gives the endpoint ID of the server a client dials, reported
// as [mtp.Inbound.PeerID] and accepted as the To of sends. Without it, the
// client uses the ID the server echoes in the bbf-usp-protocol extension,
// if any. Client only.
func WithPeerID(id string) Option {
	return func(c *config) error {
		if err := checkEndpointID(id); err != nil {
			return fmt.Errorf("websocket: peer %w", err)
		}
		c.peerID = id
		c.Only("WithPeerID", peerconn.ClientRole)
		return nil
	}
}

// WithBackoff sets the client's waits between connection attempts: the
// n-th consecutive retry waits a random time between lo·2ⁿ⁻¹ and lo·2ⁿ,
// both capped at hi (defaults [DefaultBackoffMin], [DefaultBackoffMax]).
// WithBackoff(5*time.Second, 5120*time.Second) gives the R-WS.19 schedule
// that agents follow with the default multiplier; an agent whose data
// model sets another one calls [Client.SetRetryPolicy]. Client only.
func WithBackoff(lo, hi time.Duration) Option {
	return func(c *config) error {
		if err := c.CheckRange("backoff", lo, hi); err != nil {
			return err
		}
		c.backoffMin, c.backoffMax = lo, hi
		c.Only("WithBackoff", peerconn.ClientRole)
		return nil
	}
}

// WithHeader adds HTTP headers to the client's opening handshake, such as
// Authorization. Client only.
func WithHeader(h http.Header) Option {
	return func(c *config) error {
		c.header = h.Clone()
		c.Only("WithHeader", peerconn.ClientRole)
		return nil
	}
}

// WithDialer sets the gorilla dialer the client starts from, for proxies
// or custom network dialling; the client still sets its subprotocol, and
// [WithTLS] and [WithHandshakeTimeout] override the dialer's when given.
// Client only.
func WithDialer(d *websocket.Dialer) Option {
	return func(c *config) error {
		if d == nil {
			return errors.New("websocket: nil dialer")
		}
		dc := *d
		c.dialer = &dc
		c.Only("WithDialer", peerconn.ClientRole)
		return nil
	}
}

// WithSessionLimits bounds the sessions a server holds, those still in
// their opening handshake included: at most total, and at most perAddr
// from one client IP address (defaults [DefaultMaxSessions],
// [DefaultMaxSessionsPerAddr]; the latter is high because fleets sit
// behind carrier-grade NATs). Beyond them, a request is answered 503.
// Server only.
func WithSessionLimits(total, perAddr int) Option {
	return func(c *config) error {
		if err := c.SetSessionLimits(total, perAddr); err != nil {
			return err
		}
		c.Only("WithSessionLimits", peerconn.ServerRole)
		return nil
	}
}
