package embedbroker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a [Broker]. The zero value (plus Addr) is an open
// broker with the defaults below.
type Config struct {
	// Addr is the listen address; "127.0.0.1:0" picks a free port.
	Addr string
	// TLS, when set, makes the listener speak TLS (URL scheme mqtts).
	TLS *tls.Config
	// ACL decides whether a client may publish to a topic (write) or
	// subscribe to a filter (read, checked once at SUBSCRIBE). Nil allows
	// everything.
	ACL func(clientID, topic string, write bool) bool
	// Interceptor, when set, sees every packet clients send and the
	// broker's answers, and may change or drop them.
	Interceptor Interceptor
	// MaximumPacketSize is the largest packet the broker accepts, told to
	// MQTT 5 clients in CONNACK; 0 accepts up to DefaultMaxPacket without
	// telling.
	MaximumPacketSize uint32
	// ReceiveMaximum is told to MQTT 5 clients in CONNACK (0: 1024).
	ReceiveMaximum uint16
	// QueueLimit bounds the messages queued for one client behind its
	// Receive Maximum (0: DefaultQueueLimit).
	QueueLimit int
	// QueueWait is how long a publisher waits for room in a full
	// subscriber queue before the message is dropped for that subscriber
	// (0: DefaultQueueWait).
	QueueWait time.Duration
	// Logger receives connection errors at debug level; nil discards.
	Logger *slog.Logger
}

// Defaults for [Config].
const (
	DefaultMaxPacket  = 64 << 20
	DefaultQueueLimit = 8192
	DefaultQueueWait  = 10 * time.Second
)

// Timeouts on the network.
const (
	connectTimeout = 10 * time.Second // from accept to CONNECT
	writeTimeout   = 10 * time.Second // one packet write
	finalTimeout   = time.Second      // the last DISCONNECT before close
	closeWait      = 5 * time.Second  // Close waiting for its goroutines
)

// ConnectInfo is a CONNECT's content ([Packet.Connect]); its properties
// are the packet's Props.
type ConnectInfo struct {
	ClientID    string // as sent; empty asks the broker to assign one
	Version     byte   // 4 for MQTT 3.1.1, 5 for MQTT 5
	CleanStart  bool
	KeepAlive   uint16
	Username    string
	HasUsername bool
	Password    []byte
	HasPassword bool
	Will        *Will // nil without a Will
}

// Stats counts what the broker did not deliver.
type Stats struct {
	Dropped  int64 // a subscriber's queue stayed full past QueueWait
	TooLarge int64 // over the subscriber's Maximum Packet Size
	Expired  int64 // Message Expiry passed while queued
}

// ErrClosed is returned by [Broker.Publish] on a closed broker.
var ErrClosed = errors.New("embedbroker: broker closed")

// Broker is a running embedded broker.
//
// Lock order: Broker.mu before conn.mu; neither is held while writing to
// a socket or calling a Config callback.
type Broker struct {
	cfg    Config
	l      net.Listener
	scheme string
	log    *slog.Logger

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}           // every live connection
	clients  map[string]*conn             // connected, by client ID
	exact    map[string]map[*sub]struct{} // filters without wildcards
	wild     filterTree                   // filters with wildcards, by level
	shared   map[string]*group            // by group + "\x00" + filter
	retained map[string]*message

	wg                         sync.WaitGroup
	dropped, tooLarge, expired atomic.Int64
	autoID                     atomic.Uint64
}

// sub is one client's subscription.
type sub struct {
	c     *conn
	key   string // as subscribed, with any $share prefix
	opts  subscription
	subID uint32
	group *group
}

// group is a shared subscription's members, served round-robin.
type group struct {
	filter  string
	members []*sub
	next    int
}

// message is a PUBLISH on its way through the broker.
type message struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	props   *Properties
	arrived time.Time
}

// Listen starts a broker as cfg says.
func Listen(cfg Config) (*Broker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	if cfg.ReceiveMaximum == 0 {
		cfg.ReceiveMaximum = 1024
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	b := &Broker{cfg: cfg, scheme: "mqtt", log: cfg.Logger,
		conns: map[*conn]struct{}{}, clients: map[string]*conn{}, exact: map[string]map[*sub]struct{}{},
		shared: map[string]*group{}, retained: map[string]*message{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if cfg.TLS != nil {
		b.scheme = "mqtts"
		b.l, err = tls.Listen("tcp", cfg.Addr, cfg.TLS)
	} else {
		b.l, err = net.Listen("tcp", cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("embedbroker: listen %s: %w", cfg.Addr, err)
	}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Start starts an open broker on addr ("127.0.0.1:0" picks a free port).
func Start(addr string) (*Broker, error) { return Listen(Config{Addr: addr}) }

// URL returns the broker's address as mqtt://host:port (mqtts with TLS).
func (b *Broker) URL() string { return b.scheme + "://" + b.Addr() }

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return b.l.Addr().String() }

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	return Stats{Dropped: b.dropped.Load(), TooLarge: b.tooLarge.Load(), Expired: b.expired.Load()}
}

// Close stops accepting, disconnects every client (MQTT 5 ones with
// DISCONNECT 0x8B) and waits, at most a few seconds, for every goroutine
// of the broker to end.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	conns := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	_ = b.l.Close()
	for _, c := range conns {
		c.kill(rcServerShuttingDown, "")
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	// A peer that does not read its last DISCONNECT: close the sockets.
	for _, c := range conns {
		_ = c.nc.Close()
	}
	select {
	case <-done:
		return nil
	case <-time.After(closeWait):
		return errors.New("embedbroker: connections did not end")
	}
}

func (b *Broker) accept() {
	defer b.wg.Done()
	for {
		nc, err := b.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		c := newConn(b, nc)
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = nc.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go c.serve()
	}
}

// Publish publishes a message from the broker itself, as a client would
// (no ACL, no Interceptor); props may be nil. At QoS 1 it waits for room in
// full subscriber queues as a client's publish does.
func (b *Broker) Publish(topic string, payload []byte, qos byte, retain bool, props *Properties) error {
	if !validTopicName(topic) {
		return fmt.Errorf("embedbroker: topic %q is not a topic name", topic)
	}
	if qos > 1 {
		qos = 1
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	b.route(nil, &message{topic: topic, payload: append([]byte(nil), payload...), qos: qos, retain: retain, props: props, arrived: time.Now()})
	return nil
}

// target is one delivery of a routed message.
type target struct {
	c      *conn
	qos    byte
	retain bool
	subIDs []uint32
	shared bool // for a shared subscription: never merged with another
}

// route delivers m to every matching subscription; from is the
// publishing connection (nil for the broker's own) and waits, without
// locks, while a subscriber's queue is full.
func (b *Broker) route(from *conn, m *message) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if m.retain {
		if len(m.payload) == 0 {
			delete(b.retained, m.topic)
		} else {
			b.retained[m.topic] = m
		}
	}
	// A message mostly has one target (always, in USP's use): a client's
	// earlier target is found by a scan while there are few, and through a
	// map made only once there are many (a broadcast to a fleet).
	const scanTargets = 8
	var one [1]target
	targets := one[:0]
	var idx map[*conn]int
	add := func(s *sub) {
		if s.opts.noLocal && s.c == from {
			return
		}
		q := min(m.qos, s.opts.qos)
		if s.group == nil {
			i, ok := -1, false
			if idx != nil {
				i, ok = idx[s.c]
			} else {
				for j := range targets {
					if targets[j].c == s.c && !targets[j].shared {
						i, ok = j, true
						break
					}
				}
			}
			if ok {
				t := &targets[i]
				t.qos = max(t.qos, q)
				if s.subID != 0 {
					t.subIDs = append(t.subIDs, s.subID)
				}
				return
			}
		}
		t := target{c: s.c, qos: q, retain: m.retain && s.opts.retainAsPub, shared: s.group != nil}
		if s.subID != 0 {
			t.subIDs = []uint32{s.subID}
		}
		targets = append(targets, t)
		switch {
		case idx != nil && !t.shared:
			idx[s.c] = len(targets) - 1
		case idx == nil && len(targets) > scanTargets:
			idx = make(map[*conn]int, 2*len(targets))
			for j := range targets {
				if !targets[j].shared {
					idx[targets[j].c] = j
				}
			}
		}
	}
	for s := range b.exact[m.topic] {
		add(s)
	}
	b.wild.match(m.topic, add)
	for _, g := range b.shared {
		if len(g.members) > 0 && match(g.filter, m.topic) {
			s := g.members[g.next%len(g.members)]
			g.next++
			add(s)
		}
	}
	b.mu.Unlock()
	for _, t := range targets {
		t.c.enqueue(from, m, t)
	}
}

// subscribe adds or replaces c's subscription; it returns the retained
// messages to send for it.
func (b *Broker) subscribe(c *conn, s subscription, subID uint32) (byte, []*message) {
	gname, filter, isShared := splitShared(s.filter)
	if isShared && gname == "" || !validFilter(filter) {
		return rcTopicFilterInvalid, nil
	}
	if isShared && s.noLocal {
		return rcProtocolError, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, existed := c.subs[s.filter]
	if existed {
		b.unindex(old)
	}
	ns := &sub{c: c, key: s.filter, opts: s, subID: subID}
	ns.opts.filter = filter
	c.subs[s.filter] = ns
	switch {
	case isShared:
		k := gname + "\x00" + filter
		g := b.shared[k]
		if g == nil {
			g = &group{filter: filter}
			b.shared[k] = g
		}
		ns.group = g
		g.members = append(g.members, ns)
		return s.qos, nil
	case filter == s.filter && !containsWildcard(filter):
		m := b.exact[filter]
		if m == nil {
			m = map[*sub]struct{}{}
			b.exact[filter] = m
		}
		m[ns] = struct{}{}
	default:
		b.wild.add(ns)
	}
	if s.retainHandling == 2 || (s.retainHandling == 1 && existed) {
		return s.qos, nil
	}
	var ret []*message
	for t, m := range b.retained {
		if match(filter, t) {
			ret = append(ret, m)
		}
	}
	return s.qos, ret
}

func containsWildcard(f string) bool {
	for i := 0; i < len(f); i++ {
		if f[i] == '+' || f[i] == '#' {
			return true
		}
	}
	return false
}

// unindex removes s from the routing tables; b.mu is held.
func (b *Broker) unindex(s *sub) {
	if g := s.group; g != nil {
		for i, m := range g.members {
			if m == s {
				g.members = append(g.members[:i:i], g.members[i+1:]...)
				break
			}
		}
		if len(g.members) == 0 {
			for k, v := range b.shared {
				if v == g {
					delete(b.shared, k)
				}
			}
		}
		return
	}
	if m := b.exact[s.opts.filter]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.exact, s.opts.filter)
		}
	}
	if s.opts.filter != s.key || containsWildcard(s.opts.filter) {
		b.wild.remove(s)
	}
}

func (b *Broker) unsubscribe(c *conn, filter string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := c.subs[filter]
	if ok {
		b.unindex(s)
		delete(c.subs, filter)
	}
	return ok
}

// Disconnect ends the connection of the client with that identifier, as
// the broker knows it: an MQTT 5 client is first sent a DISCONNECT with
// reason code rc (0x8B: server shutting down). It reports whether the
// client was connected. Test equipment uses it to make a client connect
// again.
func (b *Broker) Disconnect(clientID string, rc byte) bool {
	b.mu.Lock()
	c := b.clients[clientID]
	b.mu.Unlock()
	if c == nil {
		return false
	}
	c.kill(rc, "")
	return true
}

// assignID gives c a client ID of the broker's making.
func (b *Broker) assignID(c *conn) {
	c.id = "embedbroker-" + strconv.FormatUint(b.autoID.Add(1), 10)
	c.assignedID = true
}

// register makes c the connection of its client ID and returns the one it
// takes over from, if any. It fails once the broker is closed.
func (b *Broker) register(c *conn) (*conn, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	old := b.clients[c.id]
	b.clients[c.id] = c
	return old, true
}

// forget removes c's subscriptions and registration.
func (b *Broker) forget(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range c.subs {
		b.unindex(s)
	}
	c.subs = nil
	if b.clients[c.id] == c {
		delete(b.clients, c.id)
	}
	delete(b.conns, c)
}
