package uds

import (
	"log/slog"
	"time"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// Defaults for the options.
const (
	// DefaultHandshakeTimeout is how long either side waits for the other's
	// handshake; R-UDS.18 sets 30 seconds for the client.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxRecordSize bounds records in both directions.
	DefaultMaxRecordSize = 16 << 20
	// DefaultWriteTimeout bounds a send whose context has no deadline.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultRetryMin and DefaultRetryMax bound the client's random wait
	// before it reconnects, as R-UDS.5 requires (1 to 5 seconds).
	DefaultRetryMin = 1 * time.Second
	DefaultRetryMax = 5 * time.Second
	// DefaultMaxSessions bounds the server's connections, those still in
	// their handshake included. Unix sockets have no remote address, so
	// there is no limit per address.
	DefaultMaxSessions = 1024
)

// Option configures a [Server] or a [Client]. Options that fit only one
// role say so; the other role's constructor rejects them.
type Option func(*config) error

type config struct {
	peerconn.Options
	retryMin          time.Duration
	retryMax          time.Duration
	replaceDuplicates bool
}

func newConfig(r peerconn.Role, opts []Option) (config, error) {
	c := config{
		Options: peerconn.Options{
			Kind:             mtp.UDS,
			Log:              slog.New(slog.DiscardHandler),
			HandshakeTimeout: DefaultHandshakeTimeout,
			WriteTimeout:     DefaultWriteTimeout,
			MaxRecordSize:    DefaultMaxRecordSize,
			MaxSessions:      DefaultMaxSessions,
		},
		retryMin: DefaultRetryMin,
		retryMax: DefaultRetryMax,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, c.Check(r)
}

// WithLogger sets where the transport logs; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { return c.SetLogger(l) }
}

// WithHandshakeTimeout sets how long a new connection may take to complete
// the handshake exchange (default [DefaultHandshakeTimeout]). It also
// bounds how long a frame may take to arrive in full once its first
// bytes have: a peer that announces a frame and then trickles it, or
// stops, loses its connection instead of holding a buffer for ever.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetHandshakeTimeout(d) }
}

// WithWriteTimeout bounds a send whose context has no deadline (default
// [DefaultWriteTimeout]), so a peer that stops reading cannot block it for
// ever.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetWriteTimeout(d) }
}

// WithMaxRecordSize bounds the records sent and received (default
// [DefaultMaxRecordSize]). A larger send fails with [mtp.ErrTooLarge]; a
// larger incoming frame ends the connection with an error TLV.
func WithMaxRecordSize(n int) Option {
	return func(c *config) error { return c.SetMaxRecordSize(n) }
}

// WithRetryInterval sets the range of the client's random wait before each
// reconnection attempt (default [DefaultRetryMin] to [DefaultRetryMax]).
// Client only.
func WithRetryInterval(lo, hi time.Duration) Option {
	return func(c *config) error {
		if err := c.CheckRange("retry interval", lo, hi); err != nil {
			return err
		}
		c.retryMin, c.retryMax = lo, hi
		c.Only("WithRetryInterval", peerconn.ClientRole)
		return nil
	}
}

// WithReplaceDuplicates makes the server accept a client whose handshake
// names an endpoint that already has a session, and end the older session.
// By default the newcomer is refused with an error TLV: the kernel reports
// a dead peer at once on a Unix socket, so an existing session is live, and
// two live clients with one endpoint ID would otherwise take turns evicting
// each other. Server only.
func WithReplaceDuplicates() Option {
	return func(c *config) error {
		c.replaceDuplicates = true
		c.Only("WithReplaceDuplicates", peerconn.ServerRole)
		return nil
	}
}

// WithRecordCheck installs f to vet each received record before delivery.
// A record f rejects is not delivered: as R-UDS.23 requires, the transport
// answers with an error TLV carrying f's message and ends the connection.
// f runs on the connection's goroutine.
func WithRecordCheck(f func(record []byte) error) Option {
	return func(c *config) error { return c.SetRecordCheck(f) }
}

// WithMaxSessions bounds the connections the server keeps, those still in
// their handshake included (default [DefaultMaxSessions]); beyond it a
// new connection is closed at once. Server only.
func WithMaxSessions(n int) Option {
	return func(c *config) error {
		if err := c.SetSessionLimits(n, n); err != nil {
			return err
		}
		c.Only("WithMaxSessions", peerconn.ServerRole)
		return nil
	}
}
