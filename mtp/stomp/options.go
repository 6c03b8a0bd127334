package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/gousp/gousp/internal/backoff"
	"log/slog"
	"net"
	"time"
)

// Defaults for the options.
const (
	DefaultHost           = "/"
	DefaultHeartBeat      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
	// DefaultBackoffReset is how long a connection must last for the
	// next reconnection to start again from the shortest wait (see
	// [WithBackoffReset]).
	DefaultBackoffReset   = backoff.StableAfter
	DefaultMaxRecordSize  = 16 << 20
	minimumBackoffAllowed = 10 * time.Millisecond
	// maxHeaderBytes bounds the command and headers of a received frame.
	maxHeaderBytes = 64 << 10
)

// Option configures a [Transport]; options are checked by [New].
type Option func(*config) error

type config struct {
	destination    string
	replyDest      string
	user, pass     string
	hasCreds       bool
	host           string
	hbSend, hbRecv time.Duration
	tls            *tls.Config
	connectTimeout time.Duration
	backoffReset   time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	maxRecord      int
	receipts       bool
	logger         *slog.Logger
	dial           func(ctx context.Context, addr string) (net.Conn, error)
	replyToFor     func(to string) string
	retry          *Retry // TR-181's policy; nil: minBackoff..maxBackoff
}

// WithDestination sets the destination this endpoint subscribes to and
// names in reply-to-dest (e.g. /queue/usp-controller). A subscribe-dest
// header in the broker's CONNECTED frame overrides it (TR-369 R-STOMP.6).
func WithDestination(dest string) Option {
	return func(c *config) error {
		if err := checkDestination(dest); err != nil {
			return err
		}
		c.destination = dest
		return nil
	}
}

// WithReplyDestination makes the transport subscribe to a second
// destination, its own, and name it in reply-to-dest, so that answers to
// what it sends come back to this process while the [WithDestination]
// one is shared: several controller processes consuming one queue
// compete for its messages (RabbitMQ's competing consumers), the way
// MQTT's shared subscriptions spread them. Give each process its own.
// On RabbitMQ prefer /topic/usp-controller.<process>: its queue is the
// subscriber's and goes away with it, where a /queue/ destination is
// durable and would keep collecting records for a process that died.
func WithReplyDestination(dest string) Option {
	return func(c *config) error {
		if err := checkDestination(dest); err != nil {
			return err
		}
		c.replyDest = dest
		return nil
	}
}

// WithReplyToDestFor makes the reply-to-dest of each SEND depend on its
// destination: f gets the destination sent to and returns the
// reply-to-dest to give, or "" for the usual one (our own destination).
// It lets a controller ask each agent to answer on a destination of that
// agent's own, which broker permissions can reserve to it, so that where a
// record arrives names its sender (see SECURITY.md).
func WithReplyToDestFor(f func(to string) string) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("nil reply-to-dest function")
		}
		c.replyToFor = f
		return nil
	}
}

// WithCredentials sets the login and passcode headers of the STOMP frame
// (TR-369 R-STOMP.3).
func WithCredentials(login, passcode string) Option {
	return func(c *config) error {
		c.user, c.pass, c.hasCreds = login, passcode, true
		return nil
	}
}

// WithHost sets the host header, the broker's virtual host (R-STOMP.5).
// The default, [DefaultHost], is RabbitMQ's default virtual host.
func WithHost(host string) Option {
	return func(c *config) error {
		if host == "" {
			return errors.New("empty host")
		}
		c.host = host
		return nil
	}
}

// WithHeartBeat sets the heart-beat header: how often we send heart
// beats and how often we want them from the broker (STOMP 1.2
// "Heart-beating"); a missed beat counts as a lost connection. 0,0 turns
// heart beats off (R-STOMP.9). The default is [DefaultHeartBeat] both ways.
func WithHeartBeat(send, receive time.Duration) Option {
	return func(c *config) error {
		if send < 0 || receive < 0 {
			return errors.New("negative heart-beat")
		}
		if (send > 0 && send < time.Millisecond) || (receive > 0 && receive < time.Millisecond) {
			return errors.New("heart-beat below a millisecond")
		}
		c.hbSend, c.hbRecv = send, receive
		return nil
	}
}

// WithTLS makes the transport connect over TLS with cfg; add a client
// certificate for mutual TLS. Versions below TLS 1.2 are never offered
// (R-STOMP.36).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("nil TLS config")
		}
		c.tls = cfg
		return nil
	}
}

// WithConnectTimeout bounds each connection attempt (dial, TLS, STOMP and
// CONNECTED), each write to the broker (a broker that stops reading for
// that long loses the connection) and each send whose context has no
// deadline. A send returns when its context ends. The default is
// [DefaultConnectTimeout].
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("connect timeout %v must be positive", d)
		}
		c.connectTimeout = d
		return nil
	}
}

// WithReconnectBackoff sets the wait before each reconnection attempt: a
// random duration between min and a ceiling that starts at twice min and
// doubles with every failed attempt up to max. The defaults are
// [DefaultMinBackoff] and [DefaultMaxBackoff].
//
// The count of attempts does not start over with every connection: only
// a connection that lasted [DefaultBackoffReset] (ten seconds) brings the
// next wait back to min, so that a broker that drops the client at once
// is not hammered. A test that restarts its broker in quick succession
// sees the waits grow: [WithBackoffReset] shortens that time.
func WithReconnectBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *config) error {
		if minDelay < minimumBackoffAllowed || maxDelay <= minDelay {
			return fmt.Errorf("backoff range %v..%v: need %v <= min < max", minDelay, maxDelay, minimumBackoffAllowed)
		}
		c.minBackoff, c.maxBackoff = minDelay, maxDelay
		return nil
	}
}

// WithMaxRecordSize sets the largest record sent or accepted, in bytes.
// Larger sends fail with [mtp.ErrTooLarge]; a larger frame from the broker
// ends the connection (the transport reconnects). The default is
// [DefaultMaxRecordSize].
func WithMaxRecordSize(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > 1<<30 {
			return fmt.Errorf("max record size %d out of range", n)
		}
		c.maxRecord = n
		return nil
	}
}

// WithReceipts makes every send ask the broker for a RECEIPT and wait for
// it, so that Send reports records the broker did not take. It costs a
// round trip per send.
func WithReceipts() Option {
	return func(c *config) error {
		c.receipts = true
		return nil
	}
}

// WithLogger sets where the transport logs connection problems and
// dropped messages; the default discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithDialer replaces how the transport opens the network connection to
// the broker (proxies, WebSocket...). The connection it returns carries
// STOMP frames as is; [WithTLS] does not apply to it.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(c *config) error {
		if dial == nil {
			return errors.New("nil dialer")
		}
		c.dial = dial
		return nil
	}
}

// WithBackoffReset sets how long a connection must last for the
// reconnection after it to start again from the shortest wait of
// [WithReconnectBackoff] (default [DefaultBackoffReset]); a shorter one
// counts as a failed attempt and the waits keep growing. 0 starts over
// after every connection that came up, which suits tests that bounce
// their broker; d must not be negative.
func WithBackoffReset(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithBackoffReset(%v): negative duration", d)
		}
		c.backoffReset = d
		return nil
	}
}
