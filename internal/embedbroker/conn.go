package embedbroker

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// conn is one client connection: its reader goroutine (serve) decodes and
// handles packets; its writer goroutine (write) alone writes to the
// socket, taking control packets and queued messages under conn.mu and
// writing them without it.
type conn struct {
	b  *Broker
	nc net.Conn

	// Set by the reader before the writer starts, then read-only
	// (version under mu, as kill reads it from other goroutines).
	version    byte
	id         string
	assignedID bool
	keepAlive  time.Duration
	maxOut     uint32 // the client's Maximum Packet Size (0: none)
	recvMax    int    // the client's Receive Maximum
	will       *Will

	subs map[string]*sub // guarded by Broker.mu

	mu       sync.Mutex
	ctrl     [][]byte // acknowledgements and other packets, sent first
	queue    []queued // messages not yet sent
	inflight map[uint16]struct{}
	nextID   uint16
	closing  bool
	writing  bool          // the writer goroutine runs (it closes the socket)
	final    []byte        // written last, then the socket closes
	space    chan struct{} // closed (and replaced) when queue room frees

	wake       chan struct{} // capacity 1: the writer has work
	done       chan struct{} // closed when the connection is ending
	writerDone chan struct{}
	doneOnce   sync.Once
}

type queued struct {
	m *message
	t target
}

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{b: b, nc: nc, subs: map[string]*sub{}, inflight: map[uint16]struct{}{},
		space: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{}),
		writerDone: make(chan struct{}), recvMax: 65535}
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send queues a control packet.
func (c *conn) send(p []byte) {
	c.mu.Lock()
	if !c.closing {
		c.ctrl = append(c.ctrl, p)
	}
	c.mu.Unlock()
	c.signal()
}

// kill ends the connection: an MQTT 5 client is sent DISCONNECT rc
// (unless rc is 0) and the socket is closed.
func (c *conn) kill(rc byte, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		if c.version == 5 && rc != 0 {
			c.final = encodeDisconnect(rc, reason)
		}
	}
	if !c.writing {
		// Still before CONNACK: nothing to tell, and the reader may be
		// waiting for CONNECT.
		_ = c.nc.Close()
	}
	c.mu.Unlock()
	c.doneOnce.Do(func() { close(c.done) })
	c.signal()
}

// enqueue queues m for c. A full queue makes a QoS 1 publisher wait (at
// most QueueWait) for room: the broker's flow control. A QoS 0 message, or
// one published by c itself (whose reader must stay free to take c's
// acknowledgements), is dropped at once instead.
func (c *conn) enqueue(from *conn, m *message, t target) {
	var deadline *time.Timer
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return
		}
		if len(c.queue) < c.b.cfg.QueueLimit {
			c.queue = append(c.queue, queued{m: m, t: t})
			c.mu.Unlock()
			c.signal()
			return
		}
		space := c.space
		c.mu.Unlock()
		if t.qos == 0 || from == c {
			c.b.dropped.Add(1)
			return
		}
		if deadline == nil {
			deadline = time.NewTimer(c.b.cfg.QueueWait)
		}
		var fromDone <-chan struct{}
		if from != nil {
			fromDone = from.done
		}
		select {
		case <-space:
		case <-c.done:
			return
		case <-fromDone:
			return
		case <-deadline.C:
			c.b.dropped.Add(1)
			return
		}
	}
}

// take returns the packets the writer may send now: control packets, then
// messages the client's Receive Maximum allows. last is true once the
// connection is closing.
func (c *conn) take() (out [][]byte, last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, c.ctrl = c.ctrl, nil
	if c.closing {
		if c.final != nil {
			out = append(out, c.final)
			c.final = nil
		}
		return out, true
	}
	n := 0
	for n < len(c.queue) {
		q := c.queue[n]
		if q.t.qos > 0 && len(c.inflight) >= c.recvMax {
			break
		}
		n++
		if p := c.encode(q); p != nil {
			out = append(out, p)
		}
	}
	if n > 0 {
		clear(c.queue[:n])
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		close(c.space)
		c.space = make(chan struct{})
	}
	return out, false
}

// encode encodes a queued message for this client, taking a packet
// identifier at QoS 1; nil drops it (expired, or too large). c.mu is held.
func (c *conn) encode(q queued) []byte {
	m := q.m
	var props *Properties
	if c.version == 5 && (m.props != nil || len(q.t.subIDs) > 0) {
		p := Properties{}
		if m.props != nil {
			p = Properties{PayloadFormat: m.props.PayloadFormat, ContentType: m.props.ContentType,
				ResponseTopic: m.props.ResponseTopic, CorrelationData: m.props.CorrelationData, User: m.props.User}
			if e := m.props.MessageExpiry; e != nil {
				left := int64(*e) - int64(time.Since(m.arrived)/time.Second)
				if left <= 0 {
					c.b.expired.Add(1)
					return nil
				}
				l := uint32(left)
				p.MessageExpiry = &l
			}
		}
		p.SubscriptionIDs = q.t.subIDs
		props = &p
	}
	var id uint16
	if q.t.qos > 0 {
		for {
			c.nextID++
			if c.nextID == 0 {
				continue
			}
			if _, used := c.inflight[c.nextID]; !used {
				break
			}
		}
		id = c.nextID
	}
	pkt := encodePublish(c.version, m.topic, q.t.qos, q.t.retain, false, id, props, m.payload)
	if c.maxOut > 0 && uint32(len(pkt)) > c.maxOut {
		c.b.tooLarge.Add(1)
		return nil
	}
	if q.t.qos > 0 {
		c.inflight[id] = struct{}{}
	}
	return pkt
}

// write is the writer goroutine.
func (c *conn) write() {
	defer close(c.writerDone)
	defer func() { _ = c.nc.Close() }()
	for {
		out, last := c.take()
		for i, p := range out {
			d := writeTimeout
			if last && i == len(out)-1 {
				d = finalTimeout
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(d))
			if _, err := c.nc.Write(p); err != nil {
				c.kill(0, "")
				return
			}
		}
		if last {
			return
		}
		if len(out) > 0 {
			continue
		}
		select {
		case <-c.wake:
		case <-c.done:
		}
	}
}

// ack releases a QoS 1 packet identifier on PUBACK.
func (c *conn) ack(id uint16) bool {
	c.mu.Lock()
	_, ok := c.inflight[id]
	delete(c.inflight, id)
	c.mu.Unlock()
	if ok {
		c.signal()
	}
	return ok
}

// serve is the reader goroutine: CONNECT, then packets until the
// connection ends; then it waits for the writer and cleans up.
func (c *conn) serve() {
	defer c.b.wg.Done()
	br := bufio.NewReaderSize(c.nc, 4096)
	registered, publishWill := c.handshake(br)
	if registered {
		publishWill = c.loop(br)
	}
	c.kill(0, "")
	if registered {
		<-c.writerDone
	} else {
		_ = c.nc.Close()
	}
	c.b.forget(c)
	if publishWill && c.will != nil {
		w := c.will
		c.b.route(nil, &message{topic: w.Topic, payload: w.Payload, qos: min(w.QoS, 1), retain: w.Retain,
			props: w.Props, arrived: time.Now()})
	}
}

func (c *conn) maxIn() uint32 {
	if c.b.cfg.MaximumPacketSize > 0 {
		return c.b.cfg.MaximumPacketSize
	}
	return DefaultMaxPacket
}

// handshake reads CONNECT and answers it; registered says whether the
// connection went on (its writer runs).
func (c *conn) handshake(br *bufio.Reader) (registered, will bool) {
	_ = c.nc.SetReadDeadline(time.Now().Add(connectTimeout))
	first, body, err := readPacket(br, c.maxIn())
	if err != nil || first>>4 != typeConnect {
		return false, false
	}
	cp, err := decodeConnect(first&0x0f, body)
	var version byte
	if cp != nil {
		version = cp.version
	}
	refuse := func(v5, v4 byte) {
		p := &Packet{Type: PacketConnack, ReasonCode: v4}
		if version == 5 {
			p.ReasonCode, p.Props = v5, &Properties{}
		}
		if i := c.b.cfg.Interceptor; i != nil && !i.Outbound(Client{ID: c.id, Version: version, Remote: c.nc.RemoteAddr()}, p) {
			return
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(finalTimeout))
		_, _ = c.nc.Write(encodeConnack(version, p.ReasonCode, p.Props))
	}
	switch {
	case errors.Is(err, errBadVersion):
		refuse(rcUnsupportedVersion, 0x01)
		return false, false
	case err != nil:
		refuse(rcMalformed, 0x02) // 3.1.1 has no code for it; close
		return false, false
	}
	c.mu.Lock() // kill (from Broker.Close) reads it
	c.version = cp.version
	c.mu.Unlock()
	if cp.props != nil {
		if cp.props.AuthMethod != "" {
			refuse(rcBadAuthMethod, 0x05)
			return false, false
		}
		if v := cp.props.ReceiveMaximum; v != nil {
			c.recvMax = int(*v)
		}
		if v := cp.props.MaximumPacket; v != nil {
			c.maxOut = *v
		}
	}
	if cp.clientID == "" && cp.version == 4 && !cp.cleanStart {
		refuse(0, 0x02)
		return false, false
	}
	c.id, c.will, c.keepAlive = cp.clientID, cp.will, time.Duration(cp.keepAlive)*time.Second
	if c.id == "" {
		c.b.assignID(c)
	}
	if c.b.cfg.Interceptor != nil && !c.inbound(&Packet{Type: PacketConnect, Props: cp.props, Connect: &ConnectInfo{
		ClientID: cp.clientID, Version: cp.version, CleanStart: cp.cleanStart, KeepAlive: cp.keepAlive,
		Username: cp.username, HasUsername: cp.hasUser, Password: cp.password, HasPassword: cp.hasPass, Will: cp.will}}) {
		refuse(rcNotAuthorized, 0x05)
		return false, false
	}
	old, ok := c.b.register(c)
	if !ok {
		refuse(rcServerShuttingDown, 0x03)
		return false, false
	}
	if old != nil {
		old.kill(rcSessionTakenOver, "")
	}
	ack := &Packet{Type: PacketConnack}
	if c.version == 5 {
		recvMax, maxQoS, aliasMax := c.b.cfg.ReceiveMaximum, byte(1), uint16(0) // no topic aliases
		p := &Properties{ReceiveMaximum: &recvMax, MaximumQoS: &maxQoS, TopicAliasMax: &aliasMax}
		if cp.props != nil && cp.props.SessionExpiry != nil && *cp.props.SessionExpiry != 0 {
			p.SessionExpiry = new(uint32) // sessions end with their connection
		}
		if m := c.b.cfg.MaximumPacketSize; m > 0 {
			p.MaximumPacket = &m
		}
		if c.assignedID {
			p.AssignedClientID = c.id
		}
		ack.Props = p
	}
	tell := c.b.cfg.Interceptor == nil || c.b.cfg.Interceptor.Outbound(c.client(), ack)
	c.mu.Lock()
	c.writing = true
	c.mu.Unlock()
	if tell {
		// The reason code stays the broker's: the connection goes on.
		c.send(encodeConnack(c.version, rcSuccess, ack.Props))
	}
	go c.write()
	return true, true
}

// loop reads packets until the connection ends; it returns whether the
// Will is to be published.
func (c *conn) loop(br *bufio.Reader) bool {
	for {
		if c.keepAlive > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		first, body, err := readPacket(br, c.maxIn())
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, errTooLarge):
				c.kill(rcPacketTooLarge, "")
			case errors.Is(err, errMalformed):
				c.kill(rcMalformed, err.Error())
			case errors.As(err, &ne) && ne.Timeout():
				c.kill(rcKeepAliveTimeout, "")
			}
			return true
		}
		select {
		case <-c.done:
			return true
		default:
		}
		more, will := c.handle(first, body)
		if !more {
			return will
		}
	}
}

// handle handles one packet; more is false when the connection ends.
func (c *conn) handle(first byte, body []byte) (more, will bool) {
	flags := first & 0x0f
	fail := func(rc byte, err error) (bool, bool) {
		reason := ""
		if err != nil {
			reason = err.Error()
		}
		c.kill(rc, reason)
		return false, true
	}
	intercept := c.b.cfg.Interceptor != nil
	switch first >> 4 {
	case typePublish:
		p, err := decodePublish(c.version, flags, body)
		if err != nil {
			return fail(rcMalformed, err)
		}
		if intercept {
			ip := &Packet{Type: PacketPublish, ID: p.id, Props: p.props, Topic: p.topic, Payload: p.payload,
				QoS: p.qos, Retain: p.retain, Dup: p.dup}
			if !c.inbound(ip) {
				return true, false
			}
			p.topic, p.payload, p.retain, p.props = ip.Topic, ip.Payload, ip.Retain, ip.Props
		}
		return c.publish(p)
	case typePuback:
		if flags != 0 {
			return fail(rcMalformed, errors.New("PUBACK flags"))
		}
		id, rc, props, err := decodeAck(c.version, body)
		if err != nil {
			return fail(rcMalformed, err)
		}
		if intercept && !c.inbound(&Packet{Type: PacketPuback, ID: id, ReasonCode: rc, Props: props}) {
			return true, false
		}
		c.ack(id)
	case typeSubscribe:
		s, err := decodeSubscribe(c.version, flags, body)
		if err != nil {
			return fail(rcMalformed, err)
		}
		if intercept {
			ip := &Packet{Type: PacketSubscribe, ID: s.id}
			if c.version == 5 {
				ip.Props = &Properties{User: s.user}
				if s.subID != 0 {
					ip.Props.SubscriptionIDs = []uint32{s.subID}
				}
			}
			for _, sb := range s.subs {
				ip.Subscriptions = append(ip.Subscriptions, Subscription{Filter: sb.filter, QoS: sb.qos,
					NoLocal: sb.noLocal, RetainAsPublished: sb.retainAsPub, RetainHandling: sb.retainHandling})
			}
			if !c.inbound(ip) {
				return true, false
			}
		}
		return c.subscribe(s)
	case typeUnsubscribe:
		u, err := decodeUnsubscribe(c.version, flags, body)
		if err != nil {
			return fail(rcMalformed, err)
		}
		if intercept && !c.inbound(&Packet{Type: PacketUnsubscribe, ID: u.id, Props: u.props, Filters: u.filters}) {
			return true, false
		}
		ack := &Packet{Type: PacketUnsuback, ID: u.id}
		for _, f := range u.filters {
			rc := byte(rcSuccess)
			if !c.b.unsubscribe(c, f) {
				rc = rcNoSubscription
			}
			ack.Reasons = append(ack.Reasons, rc)
		}
		if c.version == 5 {
			ack.Props = &Properties{}
		} else {
			ack.Reasons = nil // 3.1.1 UNSUBACKs carry no codes
		}
		c.reply(ack)
	case typePingreq:
		if flags != 0 || len(body) != 0 {
			return fail(rcMalformed, errors.New("PINGREQ with flags or body"))
		}
		if intercept && !c.inbound(&Packet{Type: PacketPingreq}) {
			return true, false
		}
		c.reply(&Packet{Type: PacketPingresp})
	case typeDisconnect:
		rc, props, err := decodeDisconnect(c.version, flags, body)
		if err != nil {
			return fail(rcMalformed, err)
		}
		if intercept && !c.inbound(&Packet{Type: PacketDisconnect, ReasonCode: rc, Props: props}) {
			return true, false
		}
		return false, rc == rcDisconnectWithWill
	case typePubrec, typePubrel, typePubcomp:
		// The broker neither sends nor accepts QoS 2.
		return fail(rcProtocolError, errors.New("QoS 2 flow on a broker without QoS 2"))
	default: // CONNECT again, AUTH, server-only packets
		return fail(rcProtocolError, errors.New("unexpected packet type"))
	}
	return true, false
}

func (c *conn) publish(p *publishPacket) (more, will bool) {
	if p.qos == 2 {
		c.kill(rcQoSNotSupported, "QoS 2 is not supported (CONNACK Maximum QoS 1)")
		return false, true
	}
	if p.props != nil && p.props.TopicAlias != nil {
		c.kill(rcTopicAliasInvalid, "topic aliases are off (Topic Alias Maximum 0)")
		return false, true
	}
	if !validTopicName(p.topic) {
		c.kill(rcTopicNameInvalid, "")
		return false, true
	}
	allowed := c.b.cfg.ACL == nil || c.b.cfg.ACL(c.id, p.topic, true)
	if allowed {
		c.b.route(c, &message{topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, props: p.props, arrived: time.Now()})
	}
	if p.qos == 1 {
		rc := byte(rcSuccess)
		if !allowed {
			rc = rcNotAuthorized
		}
		if c.b.cfg.Interceptor == nil {
			// The common case, without building a Packet per message.
			c.send(encodeAck(typePuback, c.version, p.id, rc, nil))
		} else {
			c.reply(&Packet{Type: PacketPuback, ID: p.id, ReasonCode: rc})
		}
	}
	return true, false
}

func (c *conn) subscribe(s *subscribePacket) (more, will bool) {
	codes := make([]byte, len(s.subs))
	var retained []*message
	var retainedQoS []byte
	for i, sb := range s.subs {
		sb.qos = min(sb.qos, 1)
		if c.b.cfg.ACL != nil && !c.b.cfg.ACL(c.id, sb.filter, false) {
			codes[i] = rcNotAuthorized
			continue
		}
		rc, ret := c.b.subscribe(c, sb, s.subID)
		if rc == rcProtocolError {
			c.kill(rcProtocolError, "No Local on a shared subscription")
			return false, true
		}
		codes[i] = rc
		for _, m := range ret {
			retained = append(retained, m)
			retainedQoS = append(retainedQoS, sb.qos)
		}
	}
	ack := &Packet{Type: PacketSuback, ID: s.id, Reasons: codes}
	if c.version == 5 {
		ack.Props = &Properties{}
	} else {
		for i, rc := range codes {
			if rc > 1 {
				codes[i] = 0x80
			}
		}
	}
	c.reply(ack)
	for i, m := range retained {
		var ids []uint32
		if s.subID != 0 {
			ids = []uint32{s.subID}
		}
		c.enqueue(c, m, target{c: c, qos: min(m.qos, retainedQoS[i]), retain: true, subIDs: ids})
	}
	return true, false
}
