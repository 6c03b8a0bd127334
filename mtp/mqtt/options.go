package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/gousp/gousp/internal/backoff"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// Defaults for the options.
const (
	DefaultQoS            = 1
	DefaultKeepAlive      = 60 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
	// DefaultBackoffReset is how long a connection must last for the
	// next reconnection to start again from the shortest wait (see
	// [WithBackoffReset]).
	DefaultBackoffReset   = backoff.StableAfter
	DefaultMaxRecordSize  = 16 << 20
	DefaultReceiveMaximum = 65535
	// DefaultWriteTimeout bounds each write to the broker (see
	// [WithWriteTimeout]).
	DefaultWriteTimeout     = 30 * time.Second
	minimumBackoffAllowed   = 10 * time.Millisecond
	maxLegacyBytes          = 16 << 20 // topic bytes of known 3.1.1 peers
	replyTopicInstanceLevel = "reply"
)

// Option configures a [Transport]; options are checked by [New].
type Option func(*config) error

type config struct {
	topic           string
	replyTopic      string
	subscriptions   []string
	shareGroup      string
	qos             byte
	tls             *tls.Config
	user            string
	pass            []byte
	hasCreds        bool
	clientID        string
	keepAlive       time.Duration
	connectTimeout  time.Duration
	backoffReset    time.Duration
	minBackoff      time.Duration
	maxBackoff      time.Duration
	retry           *ConnectRetry // TR-369's rule instead of the backoff
	maxRecord       int
	receiveMax      uint16
	no311Peers      bool
	noSubscriberErr bool
	lean            bool
	minimal         bool // WithMinimalClient, WithOwnClient
	queued          bool // WithOwnClient
	autopaho        bool // WithPahoClient
	logger          *slog.Logger
	pahoHooks       []func(*autopaho.ClientConfig)
	connectHooks    []func(*paho.Connect)
	dial            func(context.Context, *url.URL, *tls.Config) (net.Conn, error)

	responseTopicFor func(to string) string
	writeTimeout     time.Duration
}

// WithTopic sets the topic this endpoint is reached on: it subscribes to
// it and, unless [WithReplyTopic] or [WithSharedSubscription] say
// otherwise, gives it as Response Topic on every publish. An agent puts
// this topic in its MQTTConnect record; a controller configures it in its
// agents. It must not contain wildcards.
func WithTopic(topic string) Option {
	return func(c *config) error {
		if err := checkTopicName(topic); err != nil {
			return fmt.Errorf("topic %q: %w", topic, err)
		}
		c.topic = topic
		return nil
	}
}

// WithReplyTopic sets the Response Topic put on every publish (and
// subscribed to), instead of the [WithTopic] topic. It must not contain
// wildcards. A Response Information property in the broker's CONNACK
// still takes precedence, as TR-369 R-MQTT.21 requires.
func WithReplyTopic(topic string) Option {
	return func(c *config) error {
		if err := checkTopicName(topic); err != nil {
			return fmt.Errorf("reply topic %q: %w", topic, err)
		}
		c.replyTopic = topic
		return nil
	}
}

// WithWriteTimeout bounds each write to the broker (default
// [DefaultWriteTimeout]): a broker that stops reading for that long loses
// the connection, which the transport then makes again. A Send whose
// context ends while its record is stuck in a write returns at once, and
// ends the connection too, since half a packet cannot be taken back.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("write timeout %v, want > 0", d)
		}
		c.writeTimeout = d
		return nil
	}
}

// WithResponseTopicFor makes the Response Topic of each publish depend on
// its destination: f gets the topic published to and returns the Response
// Topic to give (no wildcards), or "" for the usual one. It lets a
// controller ask each agent to answer on a topic of that agent's own
// (e.g. usp/agent/A answers on usp/controller/A), which a broker ACL can
// reserve to that agent, so that where a record arrives names its sender
// (see SECURITY.md). Subscribe to those topics with [WithSubscriptions].
// Not with [WithSharedSubscription], whose processes need answers on
// topics of their own.
func WithResponseTopicFor(f func(to string) string) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("nil response topic function")
		}
		c.responseTopicFor = f
		return nil
	}
}

// WithSubscriptions adds topic filters to subscribe to besides the
// endpoint's own topics (wildcards and $share/ filters allowed).
func WithSubscriptions(filters ...string) Option {
	return func(c *config) error {
		for _, f := range filters {
			if err := checkTopicFilter(f); err != nil {
				return fmt.Errorf("subscription %q: %w", f, err)
			}
		}
		c.subscriptions = append(c.subscriptions, filters...)
		return nil
	}
}

// WithSharedSubscription lets several processes share one endpoint ID and
// one [WithTopic] topic behind one broker (scale-out). Each process
// subscribes to the topic as the MQTT 5 shared subscription
// $share/<group>/<topic>, so the broker hands each unsolicited record
// (notifications, connect records, requests from agents) to one of them;
// and each process puts its own reply topic in Response Topic, so the
// answers to its requests come back to it alone. That reply topic is
// [WithReplyTopic] if given, else <topic>/reply/<client ID or a random
// tag>. Processes of one group must use the same group name and topic.
func WithSharedSubscription(group string) Option {
	return func(c *config) error {
		if err := checkShareGroup(group); err != nil {
			return err
		}
		c.shareGroup = group
		return nil
	}
}

// WithQoS sets the QoS of publishes and subscriptions: 0 or 1 (TR-369
// R-MQTT.20). The default is [DefaultQoS].
func WithQoS(qos byte) Option {
	return func(c *config) error {
		if qos > 1 {
			return fmt.Errorf("QoS %d not supported: use 0 or 1", qos)
		}
		c.qos = qos
		return nil
	}
}

// WithTLS sets the TLS configuration for mqtts:// (and wss://) brokers;
// add client certificates for mutual TLS. Versions below TLS 1.2 are never
// offered (TR-369 R-MQTT.48). Without it, mqtts:// brokers are verified
// against the system roots.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("nil TLS config")
		}
		c.tls = cfg
		return nil
	}
}

// WithCredentials sets the CONNECT User Name and Password.
func WithCredentials(user, password string) Option {
	return func(c *config) error {
		c.user, c.pass, c.hasCreds = user, []byte(password), true
		return nil
	}
}

// WithClientID sets the MQTT Client Identifier. Without it the client
// sends an empty one and keeps the identifier the broker assigns for later
// connections (TR-369 R-MQTT.8, R-MQTT.9). Processes sharing an endpoint ID
// need distinct client IDs.
func WithClientID(id string) Option {
	return func(c *config) error {
		if len(id) > maxTopicLen {
			return errors.New("client ID too long")
		}
		c.clientID = id
		return nil
	}
}

// WithKeepAlive sets the MQTT Keep Alive (whole seconds, at most 65535 s;
// 0 disables it). The default is [DefaultKeepAlive].
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 65535*time.Second {
			return fmt.Errorf("keep alive %v out of range", d)
		}
		c.keepAlive = d
		return nil
	}
}

// WithConnectTimeout bounds the two steps of each connection attempt:
// dial, TLS, CONNECT and CONNACK; then SUBSCRIBE and SUBACK. It is also
// paho's packet timeout (how long a QoS 1 send waits for its PUBACK while
// the connection is up). The default is [DefaultConnectTimeout].
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
// doubles with every failed attempt up to max (the random part spreads
// out the clients of a restarted broker). The defaults are
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
// Larger sends fail with [mtp.ErrTooLarge]; the broker is told (CONNECT
// Maximum Packet Size) not to deliver larger ones. The default is
// [DefaultMaxRecordSize].
func WithMaxRecordSize(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > 256<<20 {
			return fmt.Errorf("max record size %d out of range", n)
		}
		c.maxRecord = n
		return nil
	}
}

// WithReceiveMaximum sets the CONNECT Receive Maximum: how many QoS 1
// records the broker may send before we acknowledge them (its flow
// control). paho.golang sizes a queue of that many slots for every
// connection, 8 bytes each: the default, [DefaultReceiveMaximum] (MQTT's
// own), costs 512 KiB per connection, nothing to a controller but too much
// for a process that simulates thousands of agents. An agent answers one
// request at a time and needs a few (the fleet simulator uses 32).
//
// The default stays at MQTT's because a window that a burst fills puts the
// broker's flow control to work, and not every broker gets it right:
// mochi-mqtt v2.7 loses track of its window once a client has held records
// back, and stops delivering to that client; a controller taking a boot
// storm through such a broker must not have a small window.
func WithReceiveMaximum(n uint16) Option {
	return func(c *config) error {
		if n == 0 {
			return errors.New("receive maximum must be at least 1")
		}
		c.receiveMax = n
		return nil
	}
}

// WithoutMQTT311Peers stops the transport from subscribing to the topics
// that peers whose MQTT client is 3.1.1 answer on. By default the
// transport serves them: such a client cannot send or receive a Response
// Topic and instead publishes to <our topic>/reply-to=<its topic>, so the
// transport subscribes to <topic>/+ beside each of its topics and its
// reply topic, and sends to a 3.1.1 peer with its own reply-to suffix (see
// [SplitReplyTo] and [Transport.SetPeerVersion]).
//
// The subscription costs one more topic filter per topic, and nothing per
// message while no 3.1.1 peer publishes. A broker whose ACL grants exact
// topics only must also allow <topic>/+ for reading. mosquitto grants
// every SUBSCRIBE and drops at delivery what its acl_file does not allow,
// so there a missing line shows only as 3.1.1 agents that never answer;
// brokers that refuse the filter in the SUBACK (mochi-mqtt and the embedded
// broker of mtp/mqtt/mqtttest, for two) make
// the transport log a warning at each connection, and
// [Transport.NoAnswerReason] names the refusal. AWS IoT Core policies
// match '+' literally: the topicfilter resource must name "<topic>/+" or
// end in "*". Use this option where every agent speaks MQTT 5 and the ACL
// is not to mention the extra filter. A record that still arrives with a
// reply-to suffix (through another subscription) is answered with one.
func WithoutMQTT311Peers() Option {
	return func(c *config) error {
		c.no311Peers = true
		return nil
	}
}

// WithNoSubscriberError makes a QoS 1 send fail with an error matching
// mtp.ErrUnknownPeer when the broker answers that no client subscribes to
// the topic (PUBACK reason code 0x10, "No matching subscribers"): the
// agent is not on the broker, and waiting for its answer is pointless.
// Off by default, because not every broker reports it, and publishing to a
// topic nobody listens to is not an error in MQTT.
func WithNoSubscriberError() Option {
	return func(c *config) error {
		c.noSubscriberErr = true
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

// WithPahoConfig puts the connection on paho.golang's autopaho connection
// manager ([WithPahoClient]) and lets fn adjust its configuration once, in
// [Transport.Start], after the transport has filled it in: an escape hatch for settings this
// package does not cover (the embedded paho.ClientConfig's ping handler,
// auth handler or packet timeout, a Will...). Replacing what the transport
// installs breaks it: AttemptConnection, ConnectPacketBuilder,
// ReconnectBackoff, OnConnectionUp, OnConnectionDown, OnConnectError, and
// in the embedded paho.ClientConfig OnPublishReceived, OnClientError and
// OnServerDisconnect. The CONNECT fields the transport sets (client ID,
// Keep Alive, Clean Start, credentials, its properties) win over those set
// here; use [WithConnectPacket] to change them.
func WithPahoConfig(fn func(*autopaho.ClientConfig)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("nil paho config function")
		}
		c.pahoHooks = append(c.pahoHooks, fn)
		return nil
	}
}

// WithConnectPacket lets fn adjust every CONNECT packet after the
// transport has filled it in (e.g. to add User Properties or a Will).
func WithConnectPacket(fn func(*paho.Connect)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("nil connect packet function")
		}
		c.connectHooks = append(c.connectHooks, fn)
		return nil
	}
}

// WithDialer replaces how the transport opens the network connection to
// the broker, e.g. to go through a proxy or a WebSocket. dial gets the
// broker URL and the TLS configuration the transport would use (nil for
// plain TCP); the connection it returns must be ready for MQTT bytes.
func WithDialer(dial func(ctx context.Context, broker *url.URL, tlsCfg *tls.Config) (net.Conn, error)) Option {
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
