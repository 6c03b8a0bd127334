package uds

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
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
)

// Option configures a [Server] or a [Client]. Options that fit only one
// role say so; the other role's constructor rejects them.
type Option func(*config) error

type role int

const (
	roleServer role = 1 << iota
	roleClient
)

type config struct {
	log               *slog.Logger
	handshakeTimeout  time.Duration
	writeTimeout      time.Duration
	maxRecord         int
	retryMin          time.Duration
	retryMax          time.Duration
	replaceDuplicates bool
	recordCheck       func([]byte) error
	// roles holds the roles of the role-specific options used.
	roles map[string]role
}

func newConfig(r role, opts []Option) (config, error) {
	c := config{
		log:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		handshakeTimeout: DefaultHandshakeTimeout,
		writeTimeout:     DefaultWriteTimeout,
		maxRecord:        DefaultMaxRecordSize,
		retryMin:         DefaultRetryMin,
		retryMax:         DefaultRetryMax,
		roles:            map[string]role{},
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	for name, want := range c.roles {
		if want&r == 0 {
			return c, fmt.Errorf("uds: option %s does not apply to a %s", name, roleName(r))
		}
	}
	return c, nil
}

func roleName(r role) string {
	if r == roleServer {
		return "server"
	}
	return "client"
}

// WithLogger sets where the transport logs; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("uds: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithHandshakeTimeout sets how long a new connection may take to complete
// the handshake exchange (default [DefaultHandshakeTimeout]).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("uds: handshake timeout %v, want > 0", d)
		}
		c.handshakeTimeout = d
		return nil
	}
}

// WithWriteTimeout bounds a send whose context has no deadline (default
// [DefaultWriteTimeout]), so a peer that stops reading cannot block it for
// ever.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("uds: write timeout %v, want > 0", d)
		}
		c.writeTimeout = d
		return nil
	}
}

// WithMaxRecordSize bounds the records sent and received (default
// [DefaultMaxRecordSize]). A larger send fails with [mtp.ErrTooLarge]; a
// larger incoming frame ends the connection with an error TLV.
func WithMaxRecordSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("uds: max record size %d, want at least 1", n)
		}
		c.maxRecord = n
		return nil
	}
}

// WithRetryInterval sets the range of the client's random wait before each
// reconnection attempt (default [DefaultRetryMin] to [DefaultRetryMax]).
// Client only.
func WithRetryInterval(lo, hi time.Duration) Option {
	return func(c *config) error {
		if lo <= 0 || hi < lo {
			return fmt.Errorf("uds: retry interval %v to %v, want 0 < min <= max", lo, hi)
		}
		c.retryMin, c.retryMax = lo, hi
		c.roles["WithRetryInterval"] = roleClient
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
		c.roles["WithReplaceDuplicates"] = roleServer
		return nil
	}
}

// WithRecordCheck installs f to vet each received record before delivery.
// A record f rejects is not delivered: as R-UDS.23 requires, the transport
// answers with an error TLV carrying f's message and ends the connection.
// f runs on the connection's goroutine.
func WithRecordCheck(f func(record []byte) error) Option {
	return func(c *config) error {
		c.recordCheck = f
		return nil
	}
}
