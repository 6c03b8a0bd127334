package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

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

	mu         sync.Mutex
	running    bool         // the connection loop was started
	cli        *paho.Client // current connection, nil while down
	replyTopic string       // our Response Topic on the current connection
	maxPacket  uint32       // the broker's Maximum Packet Size, 0 if none
	assignedID string       // Assigned Client Identifier to reuse (R-MQTT.9)
	lastErr    error        // latest connection or subscription failure

	legacyMu sync.Mutex
	legacy   map[string]struct{} // peer topics that only understand the reply-to suffix
}

var _ mtp.Transport = (*Transport)(nil)

// fatalError marks a connection failure that retrying cannot fix.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// New checks the configuration and returns a transport for the broker at
// brokerURL (mqtt:// or mqtts://host:port; tcp://, ssl:// and tls:// are
// synonyms) that names itself endpointID. Nothing connects before
// [Transport.Start].
func New(brokerURL, endpointID string, opts ...Option) (*Transport, error) {
	if endpointID == "" {
		return nil, errors.New("mqtt: empty endpoint ID")
	}
	cfg := config{
		qos:            DefaultQoS,
		keepAlive:      DefaultKeepAlive,
		connectTimeout: DefaultConnectTimeout,
		minBackoff:     DefaultMinBackoff,
		maxBackoff:     DefaultMaxBackoff,
		maxRecord:      DefaultMaxRecordSize,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
	}
	if cfg.shareGroup != "" && cfg.topic == "" {
		return nil, errors.New("mqtt: WithSharedSubscription needs WithTopic")
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
		tlsCfg = cfg.tls
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
		loopDone:   make(chan struct{}),
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
	t.state.Store(int32(mtp.Connecting))
	// Under t.mu so that Close sees either no loop or the loop it has to
	// wait for.
	t.mu.Lock()
	if t.closing.Load() {
		t.mu.Unlock()
		return fmt.Errorf("mqtt: start: %w", mtp.ErrClosed)
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

// run keeps a connection to the broker until Close. paho.golang's own
// reconnecting client (autopaho) would do this, but it needs a module this
// repository does not depend on (golang.org/x/net); this loop is the small
// part of it gousp needs.
func (t *Transport) run() {
	defer close(t.loopDone)
	attempt := 0
	for {
		if d := backoffDelay(attempt, t.cfg.minBackoff, t.cfg.maxBackoff); d > 0 {
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
		cli, errs, err := t.connect()
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
		select {
		case <-cli.Done():
			t.down(errs)
			attempt = nextAttempt(attempt, time.Since(upAt))
		case <-t.ctx.Done():
			// R-MQTT.35: say goodbye with DISCONNECT.
			_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
			t.mu.Lock()
			t.cli = nil
			t.mu.Unlock()
			return
		}
	}
}

// stableAfter is how long a connection must last for the backoff to
// start over when it ends.
const stableAfter = 10 * time.Second

// nextAttempt numbers the reconnection after a connection that was Up for
// lasted. After a stable connection it is 1, a short wait that still
// spreads out the clients of a restarted broker; after a short-lived one
// (a broker that refuses the subscription with an ERROR, or another client
// taking over our client ID) the backoff keeps growing instead of
// reconnecting in a tight loop.
func nextAttempt(prev int, lasted time.Duration) int {
	if lasted >= stableAfter {
		return 1
	}
	return prev + 1
}

// backoffDelay is the wait before attempt (0: none): a random duration
// between minDelay and a ceiling that doubles per attempt up to maxDelay.
func backoffDelay(attempt int, minDelay, maxDelay time.Duration) time.Duration {
	if attempt <= 0 {
		return 0
	}
	ceil := minDelay
	for i := 0; i < attempt && ceil < maxDelay; i++ {
		ceil *= 2
	}
	if ceil > maxDelay {
		ceil = maxDelay
	}
	return minDelay + randDuration(ceil-minDelay)
}

// randDuration returns a random duration in [0, d].
func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	n := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7]&0x7f)<<56
	return time.Duration(n % (uint64(d) + 1))
}

func (t *Transport) dial(ctx context.Context) (net.Conn, error) {
	if t.cfg.dial != nil {
		return t.cfg.dial(ctx, t.url, t.tls)
	}
	if t.tls != nil {
		d := tls.Dialer{Config: t.tls}
		c, err := d.DialContext(ctx, "tcp", t.url.Host)
		if err != nil {
			return nil, err
		}
		// paho writes from several goroutines; tls.Conn needs a lock.
		return packets.NewThreadSafeConn(c), nil
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", t.url.Host)
}

// connect makes one connection: dial, CONNECT, SUBSCRIBE. On success the
// transport is Up and errs will receive why the connection ends.
func (t *Transport) connect() (*paho.Client, <-chan error, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.connectTimeout)
	defer cancel()
	conn, err := t.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtt: dial %s: %w", t.url.Host, err)
	}
	conn = &guardConn{Conn: conn, g: packetGuard{max: t.maxInbound()}}
	errs := make(chan error, 1)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	pc := paho.ClientConfig{
		ClientID:          t.cfg.clientID,
		Conn:              conn,
		PacketTimeout:     t.cfg.connectTimeout,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){t.onPublish},
		OnClientError:     func(err error) { report(fmt.Errorf("mqtt: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			reason := ""
			if d.Properties != nil {
				reason = d.Properties.ReasonString
			}
			report(fmt.Errorf("mqtt: broker sent DISCONNECT (reason %#x) %s", d.ReasonCode, reason))
		},
	}
	for _, fn := range t.cfg.pahoHooks {
		fn(&pc)
	}
	cli := paho.NewClient(pc)
	cli.SetDebugLogger(pahoLogger{t.log, slog.LevelDebug - 4})
	cli.SetErrorLogger(pahoLogger{t.log, slog.LevelDebug})
	ca, err := cli.Connect(ctx, t.connectPacket())
	if err != nil {
		// Connect closed conn.
		if ca != nil {
			reason := ""
			if ca.Properties != nil {
				reason = ca.Properties.ReasonString
			}
			return nil, nil, fmt.Errorf("mqtt: broker refused connection (reason %#x) %s", ca.ReasonCode, reason)
		}
		return nil, nil, fmt.Errorf("mqtt: connect: %w", err)
	}
	t.mu.Lock()
	if ca.Properties != nil {
		if ca.Properties.AssignedClientID != "" && t.cfg.clientID == "" {
			t.assignedID = ca.Properties.AssignedClientID
		}
		t.maxPacket = 0
		if ca.Properties.MaximumPacketSize != nil {
			t.maxPacket = *ca.Properties.MaximumPacketSize
		}
	}
	t.mu.Unlock()

	reply, err := t.replyTopicFor(ca)
	if err != nil {
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		return nil, nil, fatalError{err}
	}
	filters := t.subscriptionFilters(reply, ca)
	sub := &paho.Subscribe{}
	for _, f := range filters {
		// Retain Handling 2: a retained record is stale by definition
		// and must not be replayed at every (re)subscription.
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: t.cfg.qos, RetainHandling: 2})
	}
	// Hold records that arrive right after the SUBACK until Up is out.
	t.hmu.Lock()
	defer t.hmu.Unlock()
	sa, err := cli.Subscribe(ctx, sub)
	if sa == nil {
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		if err == nil {
			err = errors.New("no SUBACK")
		}
		return nil, nil, fmt.Errorf("mqtt: subscribe: %w", err)
	}
	replyOK := false
	var failed []string
	for i, f := range filters {
		if i < len(sa.Reasons) && sa.Reasons[i] < 0x80 {
			if !strings.HasPrefix(f, "$share/") && matchTopic(f, reply) {
				replyOK = true
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
	if !replyOK {
		// R-MQTT.17: without a subscription we cannot receive answers, so
		// we must not publish either, and must disconnect.
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		return nil, nil, fmt.Errorf("mqtt: broker refused the subscription to reply topic %q: %s", reply, strings.Join(failed, ", "))
	}

	t.mu.Lock()
	t.cli = cli
	t.replyTopic = reply
	t.lastErr = nil
	t.mu.Unlock()
	t.state.Store(int32(mtp.Connected))
	t.log.Debug("connected", "reply_topic", reply, "subscriptions", filters)
	if !t.closing.Load() {
		t.h.HandleEvent(mtp.Event{Kind: mtp.Up, Local: mtp.Address{MTP: Kind, To: reply}})
	}
	t.firstUpOnce.Do(func() { close(t.firstUp) })
	return cli, errs, nil
}

func (t *Transport) connectPacket() *paho.Connect {
	t.mu.Lock()
	id := t.cfg.clientID
	if id == "" {
		id = t.assignedID
	}
	t.mu.Unlock()
	maxPacket := uint32(t.maxInbound())
	cp := &paho.Connect{
		ClientID:   id,
		KeepAlive:  uint16(t.cfg.keepAlive / time.Second),
		CleanStart: true,
		Properties: &paho.ConnectProperties{
			RequestProblemInfo:  true,
			RequestResponseInfo: true, // R-MQTT.12
			MaximumPacketSize:   &maxPacket,
			User:                paho.UserProperties{{Key: PropEndpointID, Value: t.endpointID}}, // R-MQTT.13
		},
	}
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
		if t.cfg.mqtt311Peers {
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

// down handles the end of a connection that was Up.
func (t *Transport) down(errs <-chan error) {
	t.mu.Lock()
	t.cli = nil
	t.mu.Unlock()
	if t.closing.Load() {
		return
	}
	t.state.Store(int32(mtp.Disconnected))
	var err error
	select {
	case err = <-errs:
	case <-time.After(downErrWait):
		err = errConnectionLost
	case <-t.ctx.Done():
		return
	}
	t.log.Info("connection lost", "err", err)
	t.emitEvent(mtp.Event{Kind: mtp.Down, Err: err})
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
	in := mtp.Inbound{Data: p.Payload}
	if rt != "" {
		if err := checkTopicName(rt); err != nil {
			t.log.Warn("ignoring unusable Response Topic", "topic", p.Topic, "response_topic", rt, "err", err)
		} else {
			in.ReplyTo = mtp.Address{MTP: Kind, To: rt} // R-MQTT.26
			t.setLegacy(rt, false)
		}
	}
	if in.ReplyTo.IsZero() {
		if _, r, ok := SplitReplyTo(p.Topic); ok {
			in.ReplyTo = mtp.Address{MTP: Kind, To: r} // R-MQTT.25
			t.setLegacy(r, true)
		}
	}
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
// that needs the reply-to suffix. The set is bounded: past the bound,
// further 3.1.1 peers are answered without the suffix.
func (t *Transport) setLegacy(topic string, legacy bool) {
	t.legacyMu.Lock()
	defer t.legacyMu.Unlock()
	if !legacy {
		delete(t.legacy, topic)
		return
	}
	if _, ok := t.legacy[topic]; ok || len(t.legacy) >= maxLegacyTopicsTracked {
		return
	}
	t.legacy[topic] = struct{}{}
}

func (t *Transport) isLegacy(topic string) bool {
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
	cli, reply, maxPacket := t.cli, t.replyTopic, t.maxPacket
	t.mu.Unlock()
	if cli == nil || t.State() != mtp.Connected {
		return fmt.Errorf("mqtt: send to %q: %w", to.To, mtp.ErrNotConnected)
	}
	topic := to.To
	if t.isLegacy(topic) {
		topic = JoinReplyTo(topic, reply)
	}
	if maxPacket > 0 && publishSize(topic, reply, len(record)) > int(maxPacket) {
		return fmt.Errorf("mqtt: send %d bytes: broker accepts packets up to %d bytes: %w", len(record), maxPacket, mtp.ErrTooLarge)
	}
	// paho waits for a QoS 1 PUBACK until its packet timeout even when the
	// connection is gone; end the wait when it goes, so that a send fails
	// at once as the package promises.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if t.cfg.qos > 0 {
		go func() {
			select {
			case <-cli.Done():
				cancel()
			case <-pctx.Done():
			}
		}()
	}
	_, err := cli.Publish(pctx, &paho.Publish{
		Topic:   topic,
		QoS:     t.cfg.qos,
		Payload: record,
		Properties: &paho.PublishProperties{
			ContentType:   ContentType, // R-MQTT.27
			ResponseTopic: reply,       // R-MQTT.23
		},
	})
	if err == nil {
		return nil
	}
	select {
	case <-cli.Done():
		return fmt.Errorf("mqtt: send to %q: %w: %v", topic, mtp.ErrNotConnected, err)
	default:
	}
	if errors.Is(err, paho.ErrConnectionLost) {
		return fmt.Errorf("mqtt: send to %q: %w: %v", topic, mtp.ErrNotConnected, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("mqtt: send to %q: %w", topic, ctx.Err())
	}
	return fmt.Errorf("mqtt: send to %q: %w", topic, err)
}

// publishSize is the size of a PUBLISH packet carrying n payload bytes.
func publishSize(topic, responseTopic string, n int) int {
	props := 1 + 2 + len(ContentType) + 1 + 2 + len(responseTopic)
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
