package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"

	"github.com/gousp/gousp/internal/backoff"
	"github.com/gousp/gousp/internal/writeguard"
	"github.com/gousp/gousp/mtp"
)

// Kind is the binding this package implements.
const Kind = mtp.MQTT

// Content types of a USP Record in a PUBLISH (TR-369 R-MQTT.27, R-MQTT.27a).
const (
	// ContentType is put on every publish.
	ContentType = "usp.msg"
	// ContentTypeMIME is the registered MIME type, accepted on receipt.
	ContentTypeMIME = "application/vnd.bbf.usp.msg"
)

// MQTT 5 User Property names TR-369 defines.
const (
	// PropEndpointID carries the endpoint ID in CONNECT (R-MQTT.13).
	PropEndpointID = "usp-endpoint-id"
	// PropSubscribeTopic in CONNACK names a topic filter the broker wants
	// the client to subscribe to (R-MQTT.15).
	PropSubscribeTopic = "subscribe-topic"
)

// ErrNoTopic reports that the transport has no topic to receive on: none
// configured and no Response Information from the broker.
var ErrNoTopic = errors.New("mqtt: no topic to receive on: configure WithTopic or WithReplyTopic")

var errConnectionLost = errors.New("mqtt: connection to broker lost")

// ErrNo311Subscription is what [Transport.NoAnswerReason] wraps when a
// peer is an MQTT 3.1.1 client and no subscription of the transport covers
// the suffixed topic its answers go to.
var ErrNo311Subscription = errors.New("mqtt: no subscription for the answers of MQTT 3.1.1 peers")

// packetOverhead bounds the bytes a PUBLISH adds around a record besides
// its two topics, for the Maximum Packet Size we announce.
const packetOverhead = 64

// downErrWait bounds how long the Down event waits for paho to say why the
// connection ended (paho reports it on a goroutine of its own, after the
// client has shut down).
const downErrWait = 200 * time.Millisecond

// Transport is the MQTT 5 binding of [mtp.Transport], for controllers and
// agents alike. It is safe for concurrent use. See the package doc.
type Transport struct {
	cfg        config
	endpointID string
	url        *url.URL
	tls        *tls.Config
	tag        string // stands for this process in a derived reply topic
	log        *slog.Logger

	ctx     context.Context // lives until Close; autopaho runs under it
	cancel  context.CancelFunc
	started atomic.Bool
	closing atomic.Bool
	state   atomic.Int32
	h       mtp.Handler
	hmu     sync.Mutex // serialises handler calls

	firstUp     chan struct{}
	firstUpOnce sync.Once
	fatal       chan error
	closeOnce   sync.Once
	closed      chan struct{}

	mu           sync.Mutex
	cm           *autopaho.ConnectionManager // nil before Start, and in lean mode
	client       leanClient                  // lean mode: the latest connected client
	dialed       *guardConn                  // connection of the latest attempt
	cur          *link                       // the connection we are Up on, nil while down
	leanDone     chan struct{}               // lean mode: closed when the supervisor has ended for good
	assignedID   string                      // Assigned Client Identifier to reuse (R-MQTT.9)
	responseInfo string                      // Response Information of the latest CONNACK
	extra        map[string]byte             // filters of Subscribe, with their QoS
	lastErr      error                       // latest connection or subscription failure

	// Used only on autopaho's connection goroutine, which makes the
	// attempts and calls OnConnectionUp and OnConnectionDown in turn.
	attempt int       // numbers the next wait for backoffDelay
	wasUp   bool      // Up was reported for the current connection
	upAt    time.Time // when it was

	legacyMu    sync.Mutex
	legacy      map[string]struct{} // peer topics that only understand the reply-to suffix
	legacyBytes int                 // their total length, bounded by maxLegacyBytes
	legacyFull  bool                // the bound was hit (warned once)
	nLegacy     atomic.Int32        // len(legacy), read without the lock
}

// link is a connection the transport is Up on.
type link struct {
	conn      *guardConn
	pub       publisher // autopaho's connection manager, or the paho client in lean mode
	reply     string    // our Response Topic on it
	maxPacket uint32    // the broker's Maximum Packet Size, 0 if none
	// suffixOK: a granted subscription covers <reply>/reply-to=..., where
	// MQTT 3.1.1 peers answer.
	suffixOK bool
}

var (
	_ mtp.Transport    = (*Transport)(nil)
	_ mtp.PeerVersions = (*Transport)(nil)
	_ mtp.Identified   = (*Transport)(nil)
)

// LocalEndpointID returns the endpoint ID given to [New].
func (t *Transport) LocalEndpointID() string { return t.endpointID }

// New checks the configuration and returns a transport for the broker at
// brokerURL (mqtt:// or mqtts://host:port; tcp://, ssl:// and tls:// are
// synonyms) that names itself endpointID. Nothing connects before
// [Transport.Start]. A bare host:port, as stomp.New takes it, is accepted
// too: mqtts:// when [WithTLS] is given, else mqtt://.
func New(brokerURL, endpointID string, opts ...Option) (*Transport, error) {
	if endpointID == "" {
		return nil, errors.New("mqtt: empty endpoint ID")
	}
	cfg := config{
		qos:            DefaultQoS,
		keepAlive:      DefaultKeepAlive,
		connectTimeout: DefaultConnectTimeout,
		minBackoff:     DefaultMinBackoff,
		backoffReset:   DefaultBackoffReset,
		maxBackoff:     DefaultMaxBackoff,
		maxRecord:      DefaultMaxRecordSize,
		writeTimeout:   DefaultWriteTimeout,
		receiveMax:     DefaultReceiveMaximum,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
	}
	if cfg.lean && len(cfg.pahoHooks) > 0 {
		return nil, fmt.Errorf("mqtt: %w", errLeanPahoConfig)
	}
	if cfg.lean && cfg.autopaho {
		return nil, errors.New("mqtt: WithPahoClient does not combine with WithLeanConnection, WithMinimalClient or WithOwnClient")
	}
	if !cfg.lean && !cfg.autopaho && len(cfg.pahoHooks) == 0 {
		// The default: the transport's own client with its delivery
		// goroutine (WithOwnClient). WithPahoConfig configures autopaho,
		// so it keeps it, as WithPahoClient does.
		cfg.lean, cfg.minimal, cfg.queued = true, true, true
	}
	if cfg.shareGroup != "" && cfg.topic == "" {
		return nil, errors.New("mqtt: WithSharedSubscription needs WithTopic")
	}
	if cfg.shareGroup != "" && cfg.responseTopicFor != nil {
		return nil, errors.New("mqtt: WithResponseTopicFor does not combine with WithSharedSubscription")
	}
	if !strings.Contains(brokerURL, "://") {
		// host:port, as stomp.New takes it: TLS exactly when WithTLS is
		// given.
		if _, _, err := net.SplitHostPort(brokerURL); err != nil {
			return nil, fmt.Errorf("mqtt: broker address %q: %w", brokerURL, err)
		}
		if cfg.tls != nil {
			brokerURL = "mqtts://" + brokerURL
		} else {
			brokerURL = "mqtt://" + brokerURL
		}
	}
	u, err := url.Parse(brokerURL)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker URL: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("mqtt: broker URL %q has no host", brokerURL)
	}
	var tlsCfg *tls.Config
	port := "1883"
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp":
		if cfg.tls != nil {
			return nil, fmt.Errorf("mqtt: WithTLS given but URL scheme %q is not TLS (use mqtts://)", u.Scheme)
		}
	case "mqtts", "ssl", "tls", "tcps", "mqtt+ssl":
		port = "8883"
		tlsCfg = &tls.Config{}
		if cfg.tls != nil {
			tlsCfg = cfg.tls.Clone()
		}
		if tlsCfg.MinVersion < tls.VersionTLS12 {
			tlsCfg.MinVersion = tls.VersionTLS12 // R-MQTT.48
		}
	default:
		if cfg.dial == nil {
			return nil, fmt.Errorf("mqtt: unsupported URL scheme %q (WithDialer can handle others)", u.Scheme)
		}
		if cfg.tls != nil {
			// The dialer decides whether to use it; if it does, never
			// below TLS 1.2 either (R-MQTT.48).
			tlsCfg = cfg.tls.Clone()
			if tlsCfg.MinVersion < tls.VersionTLS12 {
				tlsCfg.MinVersion = tls.VersionTLS12
			}
		}
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	logger := cfg.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tag := sanitizeLevel(cfg.clientID)
	if tag == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		tag = hex.EncodeToString(b[:])
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:        cfg,
		endpointID: endpointID,
		url:        u,
		tls:        tlsCfg,
		tag:        tag,
		log:        logger.With("mtp", "mqtt", "broker", u.Redacted()),
		ctx:        ctx,
		cancel:     cancel,
		firstUp:    make(chan struct{}),
		fatal:      make(chan error, 1),
		closed:     make(chan struct{}),
		legacy:     make(map[string]struct{}),
	}
	t.state.Store(int32(mtp.Disconnected))
	return t, nil
}

// sanitizeLevel makes s usable as one topic level.
func sanitizeLevel(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', 0:
			return '_'
		}
		return r
	}, s)
}

// Kind returns [Kind].
func (t *Transport) Kind() mtp.Kind { return Kind }

// State reports the connection state.
func (t *Transport) State() mtp.State { return mtp.State(t.state.Load()) }

// setState changes the state unless the transport is closing; the caller
// holds t.mu, as Close does when it sets Closed.
func (t *Transport) setState(s mtp.State) {
	if !t.closing.Load() {
		t.state.Store(int32(s))
	}
}

// Start connects to the broker, subscribes, and returns once the
// transport is Up (it reports that [mtp.Event] to h too). If ctx ends
// first, or the configuration cannot work, Start returns an error and the
// transport is closed. After Start the transport reconnects by itself,
// with jittered exponential backoff, until [Transport.Close].
func (t *Transport) Start(ctx context.Context, h mtp.Handler) error {
	if h == nil {
		return errors.New("mqtt: nil handler")
	}
	if t.closing.Load() {
		return fmt.Errorf("mqtt: start: %w", mtp.ErrClosed)
	}
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("mqtt: Start called twice")
	}
	t.h = h
	cc := t.clientConfig() // outside t.mu: it runs WithPahoConfig functions
	// Under t.mu so that Close sees either no connection manager or the
	// one it has to wait for.
	t.mu.Lock()
	if t.closing.Load() {
		t.mu.Unlock()
		return fmt.Errorf("mqtt: start: %w", mtp.ErrClosed)
	}
	t.setState(mtp.Connecting)
	if t.cfg.lean {
		t.leanDone = make(chan struct{})
		go t.supervise(cc.ClientConfig)
		t.mu.Unlock()
		return t.awaitFirstUp(ctx)
	}
	cm, err := autopaho.NewConnection(t.ctx, cc)
	if err != nil {
		t.mu.Unlock()
		_ = t.Close(context.Background())
		return fmt.Errorf("mqtt: start: %w", err)
	}
	t.cm = cm
	t.mu.Unlock()
	return t.awaitFirstUp(ctx)
}

// awaitFirstUp is the end of Start: it waits for the first Up, or for
// what makes Start fail.
func (t *Transport) awaitFirstUp(ctx context.Context) error {
	select {
	case <-t.firstUp:
		return nil
	case err := <-t.fatal:
		_ = t.Close(context.Background())
		return err
	case <-t.closed:
		return fmt.Errorf("mqtt: start: %w", mtp.ErrClosed)
	case <-ctx.Done():
		t.mu.Lock()
		last := t.lastErr
		t.mu.Unlock()
		_ = t.Close(context.Background())
		if last != nil {
			return fmt.Errorf("mqtt: start: %w (last error: %v)", ctx.Err(), last)
		}
		return fmt.Errorf("mqtt: start: %w", ctx.Err())
	}
}

// clientConfig is the autopaho configuration: autopaho makes the attempts
// and keeps the connection; the transport supplies the network connection
// (with its packet guard and write lock), the CONNECT packet, the backoff,
// and subscribes in OnConnectionUp.
func (t *Transport) clientConfig() autopaho.ClientConfig {
	t.mu.Lock() // SetKeepAlive and SetClientID may run at any time
	keepAlive, clientID := t.cfg.keepAlive, t.cfg.clientID
	t.mu.Unlock()
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{t.url},
		TlsCfg:                        t.tls,
		KeepAlive:                     uint16(keepAlive / time.Second),
		CleanStartOnInitialConnection: true,
		ReconnectBackoff:              t.reconnectDelay,
		ConnectTimeout:                t.cfg.connectTimeout,
		AttemptConnection:             t.attemptConnection,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			t.onConnectionUp(cm, ca)
		},
		OnConnectionDown: t.onConnectionDown,
		OnConnectError:   t.onConnectError,
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			return t.connectPacket(cp), nil
		},
		Debug:      pahoLogger{t.log, slog.LevelDebug - 4},
		Errors:     pahoLogger{t.log, slog.LevelDebug},
		PahoDebug:  pahoLogger{t.log, slog.LevelDebug - 4},
		PahoErrors: pahoLogger{t.log, slog.LevelDebug},
		ClientConfig: paho.ClientConfig{
			ClientID:          clientID,
			PacketTimeout:     t.cfg.connectTimeout,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){t.onPublish},
			OnClientError: func(err error) {
				if !strings.HasPrefix(err.Error(), "mqtt: ") { // the guard's own errors
					err = fmt.Errorf("mqtt: %w", err)
				}
				t.report(err)
			},
			OnServerDisconnect: func(d *paho.Disconnect) {
				reason := ""
				if d.Properties != nil {
					reason = d.Properties.ReasonString
				}
				t.report(fmt.Errorf("mqtt: broker sent DISCONNECT (reason %#x) %s", d.ReasonCode, reason))
			},
		},
	}
	for _, fn := range t.cfg.pahoHooks {
		fn(&cc)
	}
	return cc
}

// reconnectDelay is autopaho's ReconnectBackoff. autopaho numbers the attempts
// from 0 (no wait) again after every lost connection, which would
// reconnect at once, and in a tight loop to a broker that drops us right
// after the CONNACK; so the transport keeps its own count across
// connections (see backoff.Next) and ignores autopaho's.
func (t *Transport) reconnectDelay(int) time.Duration {
	if r := t.connectRetry(); r != nil {
		d := r.delay(t.attempt)
		t.attempt++
		return d
	}
	d := backoff.Delay(t.attempt, t.cfg.minBackoff, t.cfg.maxBackoff)
	t.attempt++
	return d
}

func (t *Transport) dial(ctx context.Context) (net.Conn, error) {
	if t.cfg.dial != nil {
		return t.cfg.dial(ctx, t.url, t.tls)
	}
	if t.tls != nil {
		d := tls.Dialer{Config: t.tls}
		return d.DialContext(ctx, "tcp", t.url.Host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", t.url.Host)
}

// attemptConnection is autopaho's AttemptConnection: it opens the network
// connection and wraps it in the packet guard, which also serialises
// paho's writes (see guardConn), so a tls.Conn needs no other lock.
func (t *Transport) attemptConnection(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
	gc, err := t.dialGuarded(ctx, u)
	if err != nil {
		return nil, err // not a nil *guardConn in an interface
	}
	return gc, nil
}

// dialGuarded dials the broker within the connect timeout (ctx is the
// transport's, not the attempt's: autopaho passes the context of the
// whole connection manager) and wraps the connection in the guard.
func (t *Transport) dialGuarded(ctx context.Context, _ *url.URL) (*guardConn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.connectTimeout)
	defer cancel()
	conn, err := t.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("mqtt: dial %s: %w", t.url.Host, err)
	}
	gc := newGuardConn(writeguard.New(conn, t.cfg.writeTimeout), t.maxInbound(), t.connEnded)
	t.mu.Lock()
	t.dialed = gc
	t.mu.Unlock()
	return gc, nil
}

// connEnded runs once a connection has ended, on whichever goroutine
// noticed: from then on sends fail fast, before autopaho has noticed too.
func (t *Transport) connEnded(gc *guardConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.conn == gc {
		t.cur = nil
		t.setState(mtp.Disconnected)
	}
}

// report passes on paho's reason for the end of the latest connection.
func (t *Transport) report(err error) {
	t.mu.Lock()
	gc := t.dialed
	t.mu.Unlock()
	if gc != nil {
		gc.setReason(err)
	}
}

func (t *Transport) onConnectError(err error) {
	if ce := (*autopaho.ConnackError)(nil); errors.As(err, &ce) {
		err = fmt.Errorf("mqtt: broker refused connection (reason %#x) %s", ce.ReasonCode, ce.Reason)
	}
	t.log.Debug("connection attempt failed", "err", err)
	t.setLastErr(err)
}

func (t *Transport) setLastErr(err error) {
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
}

// hangUp ends a connection the transport cannot use, with a DISCONNECT
// (R-MQTT.17); paho then reports the connection lost, and autopaho
// reconnects after the backoff.
func (t *Transport) hangUp(gc *guardConn) {
	if gc == nil {
		return
	}
	d := packets.NewControlPacket(packets.DISCONNECT)
	_ = gc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = d.WriteTo(gc) // takes gc's lock
	_ = gc.Close()
}

// onConnectionUp is autopaho's OnConnectionUp, called after each CONNACK:
// it subscribes, and only then reports Up. It blocks autopaho's
// connection goroutine for the SUBSCRIBE, which is what makes a
// connection without a working subscription count as a failed attempt.
func (t *Transport) onConnectionUp(pub publisher, ca *paho.Connack) {
	t.mu.Lock()
	gc := t.dialed
	t.mu.Unlock()
	if t.closing.Load() {
		return
	}
	var maxPacket uint32
	if ca.Properties != nil {
		t.mu.Lock()
		if ca.Properties.AssignedClientID != "" && t.cfg.clientID == "" {
			t.assignedID = ca.Properties.AssignedClientID
		}
		t.mu.Unlock()
		if ca.Properties.MaximumPacketSize != nil {
			maxPacket = *ca.Properties.MaximumPacketSize
		}
		t.mu.Lock()
		t.responseInfo = ca.Properties.ResponseInfo
		t.mu.Unlock()
	}

	reply, err := t.replyTopicFor(ca)
	if err != nil {
		t.setLastErr(err)
		select {
		case t.fatal <- err:
		default:
		}
		t.hangUp(gc)
		return
	}
	filters := t.subscriptionFilters(reply, ca)
	extra := t.extraSubscriptions()
	sub := &paho.Subscribe{}
	for _, f := range filters {
		qos := t.cfg.qos
		if q, ok := extra[f]; ok {
			qos = q
		}
		// Retain Handling 2: a retained record is stale by definition
		// and must not be replayed at every (re)subscription.
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: qos, RetainHandling: 2})
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.connectTimeout)
	defer cancel()
	// Hold records that arrive right after the SUBACK until Up is out
	// (paho hands them over on a goroutine other than the SUBACK's). The
	// minimal client delivers on its reader, which must go on reading to
	// see the SUBACK: it holds them itself until release.
	mc, minimal := pub.(*minClient)
	if minimal {
		defer mc.release()
	} else {
		t.hmu.Lock()
		defer t.hmu.Unlock()
	}
	sa, err := pub.Subscribe(ctx, sub)
	if sa == nil {
		if err == nil {
			err = errors.New("no SUBACK")
		}
		if t.ctx.Err() == nil {
			t.log.Debug("subscription failed", "err", err)
		}
		t.setLastErr(fmt.Errorf("mqtt: subscribe: %w", err))
		t.hangUp(gc)
		return
	}
	replyOK, suffixOK := false, false
	suffixed := JoinReplyTo(reply, "p") // where a 3.1.1 peer answers
	var failed []string
	for i, f := range filters {
		if i < len(sa.Reasons) && sa.Reasons[i] < 0x80 {
			if !strings.HasPrefix(f, "$share/") {
				replyOK = replyOK || matchTopic(f, reply)
				suffixOK = suffixOK || matchTopic(f, suffixed)
			}
			continue
		}
		code := byte(0x80)
		if i < len(sa.Reasons) {
			code = sa.Reasons[i]
		}
		failed = append(failed, fmt.Sprintf("%s (reason %#x)", f, code))
	}
	if len(failed) > 0 {
		t.log.Warn("broker refused subscriptions", "filters", failed)
	}
	if replyOK && !suffixOK && !t.cfg.no311Peers {
		t.log.Warn("no subscription for the answers of MQTT 3.1.1 agents: requests to them will time out; let the broker's ACL allow the filter",
			"filter", reply+"/+")
	}
	if !replyOK {
		// R-MQTT.17: without a subscription we cannot receive answers, so
		// we must not publish either, and must disconnect.
		t.setLastErr(fmt.Errorf("mqtt: broker refused the subscription to reply topic %q: %s", reply, strings.Join(failed, ", ")))
		t.hangUp(gc)
		return
	}

	t.mu.Lock()
	if t.closing.Load() || gc == nil || gc.ended.Err() != nil {
		// Closed, or lost while subscribing: autopaho reports it next.
		t.mu.Unlock()
		return
	}
	t.cur = &link{conn: gc, pub: pub, reply: reply, maxPacket: maxPacket, suffixOK: suffixOK}
	t.lastErr = nil
	t.setState(mtp.Connected)
	t.mu.Unlock()
	t.wasUp, t.upAt = true, time.Now()
	t.log.Debug("connected", "reply_topic", reply, "subscriptions", filters)
	if up := (mtp.Event{Kind: mtp.Up, Local: mtp.Address{MTP: Kind, To: reply}}); minimal {
		t.emitEvent(up) // hmu is not held
	} else if !t.closing.Load() {
		t.h.HandleEvent(up)
	}
	t.firstUpOnce.Do(func() { close(t.firstUp) })
}

// onConnectionDown is autopaho's OnConnectionDown, called once paho has
// shut down the connection that onConnectionUp saw: it reports Down if
// that connection had been Up, and lets autopaho reconnect.
func (t *Transport) onConnectionDown() bool {
	t.mu.Lock()
	gc := t.dialed
	if t.cur != nil && t.cur.conn == gc {
		t.cur = nil
		t.setState(mtp.Disconnected)
	}
	t.mu.Unlock()
	wasUp := t.wasUp
	t.wasUp = false
	if wasUp {
		t.attempt = backoff.Next(t.attempt-1, time.Since(t.upAt), t.cfg.backoffReset)
		if t.connectRetry() != nil {
			// TR-369 counts the retries from 1 after every connection
			// that was up; its shortest wait (ConnectRetryTime, at least
			// a second for an agent) keeps a broker that drops the
			// client at once from being hammered.
			t.attempt = 1
		}
	}
	if t.closing.Load() {
		return false
	}
	if !wasUp || gc == nil {
		return true
	}
	var err error
	select {
	case err = <-gc.reason:
	case <-time.After(downErrWait):
		err = context.Cause(gc.ended)
	case <-t.ctx.Done():
		return false
	}
	if err == nil {
		err = errConnectionLost
	}
	t.log.Info("connection lost", "err", err)
	t.emitEvent(mtp.Event{Kind: mtp.Down, Err: err})
	return true
}

// connectPacket completes the CONNECT autopaho built (cp, which carries
// what a [WithPahoConfig] function set, such as a Will): our client ID,
// Clean Start, the properties TR-369 asks for, our Maximum Packet Size and
// Receive Maximum.
func (t *Transport) connectPacket(cp *paho.Connect) *paho.Connect {
	t.mu.Lock()
	id := t.cfg.clientID
	if id == "" {
		id = t.assignedID
	}
	keepAlive := t.cfg.keepAlive
	t.mu.Unlock()
	if cp == nil {
		cp = &paho.Connect{}
	}
	maxPacket := uint32(t.maxInbound())
	receiveMax := t.cfg.receiveMax
	cp.ClientID = id
	cp.KeepAlive = uint16(keepAlive / time.Second)
	cp.CleanStart = true
	if cp.Properties == nil {
		cp.Properties = &paho.ConnectProperties{}
	}
	cp.Properties.RequestProblemInfo = true
	cp.Properties.RequestResponseInfo = true // R-MQTT.12
	cp.Properties.MaximumPacketSize = &maxPacket
	// Receive Maximum also sizes paho's queue of received publishes.
	cp.Properties.ReceiveMaximum = &receiveMax
	cp.Properties.User = append(cp.Properties.User, paho.UserProperty{Key: PropEndpointID, Value: t.endpointID}) // R-MQTT.13
	if t.cfg.hasCreds {
		cp.UsernameFlag, cp.Username = true, t.cfg.user
		cp.PasswordFlag, cp.Password = true, t.cfg.pass
	}
	for _, fn := range t.cfg.connectHooks {
		fn(cp)
	}
	return cp
}

// maxInbound is the Maximum Packet Size we announce and enforce: a record
// of the largest size we accept with the longest topics.
func (t *Transport) maxInbound() int {
	return t.cfg.maxRecord + 2*maxTopicLen + packetOverhead
}

// replyTopicFor picks our Response Topic for a connection.
func (t *Transport) replyTopicFor(ca *paho.Connack) (string, error) {
	if ca != nil && ca.Properties != nil && ca.Properties.ResponseInfo != "" {
		ri := ca.Properties.ResponseInfo
		err := checkTopicName(ri)
		if err == nil {
			return ri, nil // R-MQTT.21
		}
		t.log.Warn("ignoring CONNACK Response Information", "response_info", ri, "err", err)
	}
	switch {
	case t.cfg.replyTopic != "":
		return t.cfg.replyTopic, nil
	case t.cfg.topic != "" && t.cfg.shareGroup != "":
		return t.cfg.topic + "/" + replyTopicInstanceLevel + "/" + t.tag, nil
	case t.cfg.topic != "":
		return t.cfg.topic, nil
	}
	return "", ErrNoTopic
}

// subscriptionFilters lists what to subscribe to on a connection.
func (t *Transport) subscriptionFilters(reply string, ca *paho.Connack) []string {
	var out []string
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	withChildren := func(topic string) []string {
		if !t.cfg.no311Peers {
			return []string{topic, topic + "/+"}
		}
		return []string{topic}
	}
	if t.cfg.topic != "" {
		for _, f := range withChildren(t.cfg.topic) {
			if t.cfg.shareGroup != "" {
				f = "$share/" + t.cfg.shareGroup + "/" + f
			}
			add(f)
		}
	}
	for _, f := range t.cfg.subscriptions {
		add(f)
	}
	for _, f := range slices.Sorted(maps.Keys(t.extraSubscriptions())) {
		add(f)
	}
	if ca != nil && ca.Properties != nil {
		for _, p := range ca.Properties.User {
			if p.Key != PropSubscribeTopic {
				continue
			}
			if err := checkTopicFilter(p.Value); err != nil {
				t.log.Warn("ignoring CONNACK subscribe-topic", "filter", p.Value, "err", err)
				continue
			}
			add(p.Value)
		}
	}
	// The reply topic needs a subscription of its own unless one of the
	// above already covers it; a shared subscription does not, as the
	// broker would hand answers to any member of the group.
	for _, r := range withChildren(reply) {
		covered := false
		for _, f := range out {
			if !strings.HasPrefix(f, "$share/") && matchTopic(f, r) {
				covered = true
				break
			}
		}
		if !covered {
			add(r)
		}
	}
	return out
}

func (t *Transport) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if t.closing.Load() {
		return true, nil
	}
	var ct, rt string
	if p.Properties != nil {
		ct, rt = p.Properties.ContentType, p.Properties.ResponseTopic
	}
	switch ct {
	case "", ContentType, ContentTypeMIME:
		// An absent Content Type is what a 3.1.1 sender's message looks
		// like after the broker bridged it to MQTT 5.
	default:
		// R-MQTT.27a names the content types of USP Records; anything
		// else on our topics is not for us (e.g. the deprecated
		// usp.error).
		t.log.Warn("dropping message with foreign content type", "topic", p.Topic, "content_type", ct)
		return true, nil
	}
	if len(p.Payload) > t.cfg.maxRecord {
		t.log.Warn("dropping oversized record", "topic", p.Topic, "size", len(p.Payload), "max", t.cfg.maxRecord)
		return true, nil
	}
	in := mtp.Inbound{Data: p.Payload, ReceivedOn: mtp.Address{MTP: Kind, To: p.Topic}}
	if rt != "" {
		if err := checkTopicName(rt); err != nil {
			t.log.Warn("ignoring unusable Response Topic", "topic", p.Topic, "response_topic", rt, "err", err)
		} else {
			in.ReplyTo = mtp.Address{MTP: Kind, To: rt} // R-MQTT.26
			t.setLegacy(rt, false)
		}
	}
	if in.ReplyTo.IsZero() {
		if base, r, ok := SplitReplyTo(p.Topic); ok {
			in.ReplyTo = mtp.Address{MTP: Kind, To: r} // R-MQTT.25
			in.ReceivedOn.To = base
			t.setLegacy(r, true)
		}
	}
	// paho acknowledges a QoS 1 PUBLISH when this returns: a handler that
	// holds the record back (a controller's intake when its budget is
	// spent) holds the broker's flow back too. hmu only keeps handler
	// calls apart, as mtp.Handler asks; the controller's HandleRecord just
	// files the record for a worker.
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if !t.closing.Load() {
		t.h.HandleRecord(in)
	}
	return true, nil
}

func (t *Transport) emitEvent(ev mtp.Event) {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if !t.closing.Load() {
		t.h.HandleEvent(ev)
	}
}

// setLegacy records whether a peer topic is served by an MQTT 3.1.1 client
// that needs the reply-to suffix. The set is bounded by the length of its
// topics (maxLegacyBytes, room for some 200 000 typical ones), since any
// client can publish with made-up suffixes: past the bound, further 3.1.1
// peers are answered without the suffix, and a warning says so once.
// While the set is empty (the usual case: every peer speaks MQTT 5),
// neither the receive path nor Send takes its lock.
func (t *Transport) setLegacy(topic string, legacy bool) {
	if !legacy && t.nLegacy.Load() == 0 {
		return
	}
	t.legacyMu.Lock()
	_, known := t.legacy[topic]
	switch {
	case !legacy:
		if known {
			delete(t.legacy, topic)
			t.legacyBytes -= len(topic)
			t.nLegacy.Store(int32(len(t.legacy)))
		}
		t.legacyMu.Unlock()
		return
	case known:
		t.legacyMu.Unlock()
		return
	case t.legacyBytes+len(topic) > maxLegacyBytes:
		warn := !t.legacyFull
		t.legacyFull = true
		n := len(t.legacy)
		t.legacyMu.Unlock()
		if warn {
			t.log.Warn("too many MQTT 3.1.1 peers to remember: further ones are sent records without the reply-to suffix",
				"peers", n, "topic", topic)
		}
		return
	}
	t.legacy[topic] = struct{}{}
	t.legacyBytes += len(topic)
	t.nLegacy.Store(int32(len(t.legacy)))
	t.legacyMu.Unlock()
	if err := t.no311Answers(topic); err != nil {
		t.log.Warn("MQTT 3.1.1 peer cannot answer our requests", "peer_topic", topic, "err", err)
	}
}

// SetPeerVersion tells the transport which MQTT version the client of the
// peer at to speaks, as the peer's MQTTConnect record says: "3.1.1" makes
// every send to that topic carry the reply-to suffix from the first one on,
// "5.0" (or "5") sends plainly. Records with a Response Topic or a reply-to
// suffix from that topic update it later. Other versions are ignored. It
// implements [mtp.PeerVersions].
func (t *Transport) SetPeerVersion(to mtp.Address, version string) {
	if (to.MTP != Kind && to.MTP != "") || checkTopicName(to.To) != nil {
		return
	}
	switch version {
	case "3.1.1":
		t.setLegacy(to.To, true)
	case "5.0", "5":
		t.setLegacy(to.To, false)
	}
}

// NoAnswerReason returns an error wrapping [ErrNo311Subscription] when the
// peer at to is known to be an MQTT 3.1.1 client and no subscription of
// the current connection covers the topic its answers go to: the option
// [WithoutMQTT311Peers] is set, or the broker refused the filter. It
// returns nil otherwise. It implements [mtp.PeerVersions]; the usp
// controller adds it to the error of a request that timed out.
func (t *Transport) NoAnswerReason(to mtp.Address) error {
	if (to.MTP != Kind && to.MTP != "") || !t.isLegacy(to.To) {
		return nil
	}
	return t.no311Answers(to.To)
}

// no311Answers explains why a 3.1.1 peer at topic cannot answer us, or
// returns nil while it can (or while we are down, which is another story).
func (t *Transport) no311Answers(topic string) error {
	t.mu.Lock()
	l := t.cur
	t.mu.Unlock()
	if l == nil || l.suffixOK {
		return nil
	}
	why := "the broker refused the subscription to " + l.reply + "/+"
	if t.cfg.no311Peers {
		why = "WithoutMQTT311Peers is set"
	}
	return fmt.Errorf("%w: %s is an MQTT 3.1.1 client, which answers on %s, and %s",
		ErrNo311Subscription, topic, JoinReplyTo(l.reply, topic), why)
}

func (t *Transport) isLegacy(topic string) bool {
	if t.nLegacy.Load() == 0 {
		return false
	}
	t.legacyMu.Lock()
	defer t.legacyMu.Unlock()
	_, ok := t.legacy[topic]
	return ok
}

// Send publishes record to the topic in to.To with our reply topic as
// Response Topic and Content Type usp.msg, at the configured QoS. To a peer
// that reached us with an MQTT 3.1.1 reply-to suffix, the topic also gets
// our reply-to suffix. At QoS 1 Send waits for the broker's PUBACK.
func (t *Transport) Send(ctx context.Context, to mtp.Address, record []byte) error {
	return t.send(ctx, to, record, outgoing{contentType: ContentType, qos: t.cfg.qos, usp: true})
}

// send is [Transport.Send] with o's Content Type, QoS and retain flag;
// only a USP record (o.usp) carries our Response Topic and reply-to suffix.
func (t *Transport) send(ctx context.Context, to mtp.Address, record []byte, o outgoing) error {
	if t.closing.Load() {
		return fmt.Errorf("mqtt: send: %w", mtp.ErrClosed)
	}
	if !t.started.Load() {
		return fmt.Errorf("mqtt: send: %w", mtp.ErrNotStarted)
	}
	if to.MTP != Kind && to.MTP != "" {
		return fmt.Errorf("mqtt: send to %s: %w: not an MQTT address", to, mtp.ErrBadAddress)
	}
	if err := checkTopicName(to.To); err != nil {
		return fmt.Errorf("mqtt: send to %q: %w: %v", to.To, mtp.ErrBadAddress, err)
	}
	if len(record) > t.cfg.maxRecord {
		return fmt.Errorf("mqtt: send %d bytes (max %d): %w", len(record), t.cfg.maxRecord, mtp.ErrTooLarge)
	}
	t.mu.Lock()
	l := t.cur
	t.mu.Unlock()
	if l == nil || l.conn.ended.Err() != nil {
		return fmt.Errorf("mqtt: send to %q: %w", to.To, mtp.ErrNotConnected)
	}
	topic, reply := to.To, l.reply
	if f := t.cfg.responseTopicFor; f != nil {
		if rt := f(to.To); rt != "" {
			if err := checkTopicName(rt); err != nil {
				return fmt.Errorf("mqtt: send to %q: response topic %q: %w: %v", to.To, rt, mtp.ErrBadAddress, err)
			}
			reply = rt
		}
	}
	if !o.usp {
		reply = ""
	} else if t.isLegacy(topic) {
		topic = JoinReplyTo(topic, reply)
	}
	if l.maxPacket > 0 && publishSize(topic, o.contentType, reply, len(record)) > int(l.maxPacket) {
		return fmt.Errorf("mqtt: send %d bytes: broker accepts packets up to %d bytes: %w", len(record), l.maxPacket, mtp.ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mqtt: send to %q: %w", topic, err)
	}
	// A broker that stopped reading blocks the write of our PUBLISH (or of
	// the packet before it); the caller's context ends it. paho waits for
	// a QoS 1 PUBACK until its packet timeout even when the connection is
	// gone; the wait is made on a context of its own that the caller's
	// context and the connection's end both cancel, so that a send fails at
	// once when either goes, as the package promises. That context keeps
	// ctx's values but is not registered with it (WithoutCancel): one
	// registration with ctx per send (none for a context that never ends),
	// and the connection's end is a list entry (cancelOnEnd), not a child of
	// a context that Go would keep a map for.
	pctx := ctx
	switch {
	case o.qos > 0:
		var cancel context.CancelFunc
		pctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer l.conn.cancelOnEnd(cancel)()
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, func() { cancel(); l.conn.abortWrites() })
			defer stop()
		}
	case ctx.Done() != nil:
		stop := context.AfterFunc(ctx, func() { l.conn.abortWrites() })
		defer stop()
	}
	resp, err := l.pub.Publish(pctx, &paho.Publish{
		Topic:   topic,
		QoS:     o.qos,
		Retain:  o.retain,
		Payload: record,
		Properties: &paho.PublishProperties{
			ContentType:   o.contentType, // R-MQTT.27 for a record
			ResponseTopic: reply,         // R-MQTT.23
		},
	})
	if err == nil {
		if t.cfg.noSubscriberErr && resp != nil && resp.ReasonCode == reasonNoMatchingSubscribers {
			return fmt.Errorf("mqtt: send to %q: %w: the broker has no subscriber for the topic", topic, mtp.ErrUnknownPeer)
		}
		return nil
	}
	if l.conn.ended.Err() != nil || errors.Is(err, autopaho.ConnectionDownError) ||
		errors.Is(err, paho.ErrConnectionLost) || errors.Is(err, session.ErrNoConnection) {
		return fmt.Errorf("mqtt: send to %q: %w: %v", topic, mtp.ErrNotConnected, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("mqtt: send to %q: %w", topic, ctx.Err())
	}
	return fmt.Errorf("mqtt: send to %q: %w", topic, err)
}

// reasonNoMatchingSubscribers is the PUBACK reason code a broker gives when
// no client subscribes to the topic (MQTT 5, a success code).
const reasonNoMatchingSubscribers = 0x10

// publishSize is the size of a PUBLISH packet carrying n payload bytes.
func publishSize(topic, contentType, responseTopic string, n int) int {
	props := 0
	for _, p := range []string{contentType, responseTopic} {
		if p != "" {
			props += 1 + 2 + len(p)
		}
	}
	rem := 2 + len(topic) + 2 + varintLen(props) + props + n
	return 1 + varintLen(rem) + rem
}

func varintLen(n int) int {
	l := 1
	for n >= 128 {
		n /= 128
		l++
	}
	return l
}

// Close disconnects from the broker (sending DISCONNECT) and waits until
// every goroutine of the transport has ended, or ctx ends. It is
// idempotent; later calls wait for the first. Do not call it from a
// [mtp.Handler] callback: it waits for those to return.
func (t *Transport) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closing.Store(true)
		t.state.Store(int32(mtp.Closed))
		cm, client, leanDone := t.cm, t.client, t.leanDone
		t.mu.Unlock()
		// autopaho runs under t.ctx: cancelling it sends DISCONNECT if
		// the connection is up (R-MQTT.35) and stops reconnecting.
		t.cancel()
		if leanDone != nil {
			go func() {
				if client != nil {
					// R-MQTT.35; paho then closes the connection, which
					// ends the supervisor's wait for it.
					_ = client.Disconnect(&paho.Disconnect{})
				}
				<-leanDone
				close(t.closed)
			}()
			return
		}
		if cm == nil {
			close(t.closed)
			return
		}
		go func() {
			<-cm.Done()
			close(t.closed)
		}()
	})
	select {
	case <-t.closed:
		return nil
	case <-ctx.Done():
		// The DISCONNECT (or something before it) is stuck in a write
		// to a broker that stopped reading: cut the connection, so that
		// paho and autopaho end now rather than after the write timeout.
		t.mu.Lock()
		gc := t.dialed
		t.mu.Unlock()
		if gc != nil {
			_ = gc.Close()
		}
		return fmt.Errorf("mqtt: close: %w", ctx.Err())
	}
}

// pahoLogger sends paho's log lines to slog at one level.
type pahoLogger struct {
	l     *slog.Logger
	level slog.Level
}

func (p pahoLogger) Println(v ...any) {
	if p.l.Enabled(context.Background(), p.level) {
		p.l.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintln(v...)), "source", "paho")
	}
}

func (p pahoLogger) Printf(format string, v ...any) {
	if p.l.Enabled(context.Background(), p.level) {
		p.l.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "paho")
	}
}
