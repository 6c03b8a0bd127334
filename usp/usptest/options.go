package usptest

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// Defaults for the options.
const (
	// DefaultVersions is what GetSupportedProtocolResp and OnBoardRequest
	// advertise, as OB-USP-A does.
	DefaultVersions = "1.0,1.1,1.2,1.3"
	// DefaultNotifyRetryMin and DefaultNotifyRetryMax bound the wait
	// between retransmissions of a Notify that asked for a response: it
	// starts at the minimum and doubles up to the maximum (TR-369's
	// USPNotifRetryMinimumWaitInterval default is 5 s).
	DefaultNotifyRetryMin = 5 * time.Second
	DefaultNotifyRetryMax = 5 * time.Minute
)

// Option configures an [Agent].
type Option func(*config) error

type controllerConf struct {
	id   string
	addr mtp.Address
}

type config struct {
	transports     []mtp.Transport
	controllers    []controllerConf
	model          *Model
	log            *slog.Logger
	retryMin       time.Duration
	retryMax       time.Duration
	clock          func() time.Time
	version        string
	versions       string
	knownOnly      bool
	bootCause      string
	noBootSubs     bool
	maxRecordSize  int
	rebootDowntime time.Duration
	session        *SessionConfig
	integrity      *RecordIntegrity
	notifyToCtrl   bool
	access         bool
	bulk           bulkOptions
}

// ErrInvalidOption reports an option given a value it cannot use.
var ErrInvalidOption = errors.New("usptest: invalid option")

func optErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, args...))
}

// WithTransport adds a transport the agent serves, in agent role: an
// mtp/memory endpoint named after the agent's endpoint ID, or an MQTT,
// STOMP, WebSocket client or UDS transport configured for the agent. More
// than one may be given; the agent answers each record over the transport it
// came in on and sends notifications over the one whose kind matches the
// controller's address. Start starts them and Close closes them.
func WithTransport(t mtp.Transport) Option {
	return func(c *config) error {
		if t == nil {
			return optErr("nil transport")
		}
		c.transports = append(c.transports, t)
		return nil
	}
}

// WithController names a controller the agent knows from the start, and
// where to reach it: it gets the connect record, the Boot! event and the
// notifications of its subscriptions. The agent creates a
// Device.LocalAgent.Controller.{i}. instance for it (and, unless
// [WithoutBootSubscription], a Subscription to Device.Boot!). More than one
// may be given. addr may be zero for WebSocket and UDS, where the agent
// reaches the controller by its endpoint ID.
func WithController(controllerID string, addr mtp.Address) Option {
	return func(c *config) error {
		if controllerID == "" {
			return optErr("empty controller endpoint ID")
		}
		if addr.IsZero() && (addr.MTP == mtp.WebSocket || addr.MTP == mtp.UDS || addr.MTP == mtp.Memory) {
			addr.To = controllerID
		}
		c.controllers = append(c.controllers, controllerConf{id: controllerID, addr: addr})
		return nil
	}
}

// WithModel makes the agent serve m instead of [DefaultModel]. A model
// serves one agent at a time.
func WithModel(m *Model) Option {
	return func(c *config) error {
		if m == nil {
			return optErr("nil model")
		}
		c.model = m
		return nil
	}
}

// WithLogger sets where the agent logs what it ignores and why; the default
// discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return optErr("nil logger")
		}
		c.log = l
		return nil
	}
}

// WithNotifyRetry sets how a Notify that asks for a response is resent
// until its NotifyResp arrives: first after first, then after twice the
// previous wait, up to limit. Tests use milliseconds.
func WithNotifyRetry(first, limit time.Duration) Option {
	return func(c *config) error {
		if first <= 0 || limit < first {
			return optErr("notify retry interval [%v, %v]", first, limit)
		}
		c.retryMin, c.retryMax = first, limit
		return nil
	}
}

// WithClock sets the clock used for notification msg_ids, UpTime and
// dateTime values the agent writes; the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return optErr("nil clock")
		}
		c.clock = now
		return nil
	}
}

// WithRecordVersion sets the USP version written in every record the agent
// sends (default record.DefaultVersion, "1.3", as OB-USP-A writes whatever
// the request carried).
func WithRecordVersion(v string) Option {
	return func(c *config) error {
		if !record.ValidVersion(v) {
			return optErr("record version %q", v)
		}
		c.version = v
		return nil
	}
}

// WithSupportedVersions sets the comma-separated USP versions the agent
// advertises in GetSupportedProtocolResp and OnBoardRequest (default
// [DefaultVersions]).
func WithSupportedVersions(versions string) Option {
	return func(c *config) error {
		vs := msg.VersionList(versions)
		if len(vs) == 0 {
			return optErr("no supported versions")
		}
		for _, v := range vs {
			if !record.ValidVersion(v) {
				return optErr("supported version %q", v)
			}
		}
		c.versions = versions
		return nil
	}
}

// WithKnownControllersOnly makes the agent ignore records from controllers
// that are not in Device.LocalAgent.Controller.{i}., as OB-USP-A does. By
// default a controller the agent has not seen is added to that table on its
// first record, which is what most tests want.
func WithKnownControllersOnly() Option {
	return func(c *config) error {
		c.knownOnly = true
		return nil
	}
}

// WithBootCause sets the Cause argument of the Boot! event sent at Start
// (default "LocalReboot"; OB-USP-A says "LocalFactoryReset" on its first
// start).
func WithBootCause(cause string) Option {
	return func(c *config) error {
		if cause == "" {
			return optErr("empty boot cause")
		}
		c.bootCause = cause
		return nil
	}
}

// WithoutBootSubscription stops [WithController] from creating a Boot!
// subscription for each controller, so that no Boot! event is sent unless
// the model has one.
func WithoutBootSubscription() Option {
	return func(c *config) error {
		c.noBootSubs = true
		return nil
	}
}

// WithNotificationsToController sends every notification to the
// controller's configured address ([WithController]) instead of to where
// the subscription was created from: an agent whose controller entry names
// the controller's topic, which several controller processes share (see
// usp.WithCluster).
func WithNotificationsToController() Option {
	return func(c *config) error {
		c.notifyToCtrl = true
		return nil
	}
}

// WithMaxRecordSize bounds the records the agent decodes (default
// record.DefaultMaxSize); larger ones are ignored.
func WithMaxRecordSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return optErr("max record size %d", n)
		}
		c.maxRecordSize = n
		return nil
	}
}

// WithRebootDowntime sets how long a simulated Reboot() or FactoryReset()
// keeps the agent silent before it sends its connect records and Boot!
// again (default 10ms).
func WithRebootDowntime(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return optErr("negative reboot downtime")
		}
		c.rebootDowntime = d
		return nil
	}
}
