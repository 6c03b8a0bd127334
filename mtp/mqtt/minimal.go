package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// WithMinimalClient runs each connection on the transport's own MQTT
// client (the default, [WithOwnClient]) without its delivery goroutine:
// one goroutine per connection, which reads packets and delivers records; everything else is done by the
// caller (a send writes its PUBLISH under the connection's lock and waits
// for its PUBACK in a slot of its own) or by a timer (PINGREQ). It implies
// [WithLeanConnection]: no supervisor goroutine while the transport is Up.
// The reader's stack stays at 2 KiB and the connection keeps no large
// buffers: a transport on it costs less than half a bare paho.golang
// client (whose client keeps three goroutines; see BENCHMARKS.md), which
// is what a process simulating tens of thousands of agents needs;
// cmd/uspsim's agents use it. A busy connection (a controller's) is
// better on the default.
//
// Behaviour is the transport's: events, errors, reconnection with the
// backoff or TR-369's connect retry rule, the packet guard, Receive
// Maximum both ways, keep-alive, TLS, [Transport.Close]. One difference:
// the connection reads nothing more while the [mtp.Handler]'s HandleRecord
// runs, so it must not wait for a send's acknowledgement on the same
// transport (hand the record to a worker, as usptest agents do); a QoS 1
// record is acknowledged once it returns.
//
// It does not combine with [WithPahoConfig].
func WithMinimalClient() Option {
	return func(c *config) error {
		c.lean = true
		c.minimal = true
		return nil
	}
}

// WithOwnClient runs each connection on the transport's own MQTT client,
// as [WithMinimalClient] does, with a second goroutine that delivers the
// records: the reader goes on reading acknowledgements and PINGRESPs while
// an [mtp.Handler]'s HandleRecord runs, so a handler may wait for a send
// on the same transport, and records wait for it in a queue of the
// Receive Maximum we announce (a full queue stops the reader, as paho's
// client does). It is the transport's default, the option only says so:
// the connection decodes and encodes PUBLISH and PUBACK itself, in one
// allocation per packet, where paho's codec takes about 7 KiB for a small
// record (see BENCHMARKS.md), and a connection has two goroutines where
// autopaho keeps five.
//
// It does not combine with [WithPahoConfig] or [WithPahoClient].
func WithOwnClient() Option {
	return func(c *config) error {
		c.lean = true
		c.minimal = true
		c.queued = true
		return nil
	}
}

// WithPahoClient runs the connection on paho.golang's autopaho connection
// manager and client, the transport's default before [WithOwnClient]
// became it; [WithPahoConfig] implies it. Behaviour is the same; paho's
// codec costs more per record (see BENCHMARKS.md).
func WithPahoClient() Option {
	return func(c *config) error {
		c.autopaho = true
		return nil
	}
}

// leanClient is what lean mode needs of a connected client: paho's, or
// minClient.
type leanClient interface {
	publisher
	Disconnect(*paho.Disconnect) error
	Done() <-chan struct{}
}

// errMinProtocol wraps what the minimal client finds wrong in the
// broker's packets.
var errMinProtocol = errors.New("mqtt: protocol error from broker")

// minClient is the transport's own MQTT 5 client on one connection
// (WithMinimalClient, and with queued set WithOwnClient, the default). Its
// goroutines are the reader (read) and, when queued, the delivery
// goroutine (deliverQueued); writes are made by callers under the
// connection's lock; the keep-alive is a timer.
type minClient struct {
	conn     *guardConn
	onPub    func(paho.PublishReceived) (bool, error)
	onErr    func(error)
	onServer func(*paho.Disconnect)

	// dmu orders deliveries: held records, delivered by release, go
	// before those the reader reads after.
	dmu sync.Mutex

	mu        sync.Mutex
	nextID    uint16
	waits     []minWait     // requests waiting for their acknowledgement; nil when none
	quota     chan struct{} // the broker's Receive Maximum: a token per QoS 1 PUBLISH in flight
	held      bool          // records are held until release (the first SUBSCRIBE)
	pending   []*paho.Publish
	ended     bool          // the reader has ended
	closing   bool          // Disconnect was called
	keepAlive time.Duration // 0: none
	// WithOwnClient: records go to the delivery goroutine through queue
	// (nil: the reader delivers them); delivered is closed when it has
	// ended, failed is the error it ended the connection with.
	queued    bool
	queue     *pubQueue
	delivered chan struct{}
	failed    error
	ping      *time.Timer   // keep-alive timer
	pingOut   bool          // a PINGREQ waits for its PINGRESP
	done      chan struct{} // closed when the reader has ended
}

// maxHeldRecords bounds the records a minimal client holds while its
// first SUBSCRIBE is under way: a broker has no reason to send many then
// (QoS 1 ones are bounded by our Receive Maximum besides).
const maxHeldRecords = 1024

// minWait is a request waiting for the acknowledgement with its packet
// identifier; ch gets it, or is closed when the connection ends.
type minWait struct {
	id uint16
	ch chan minPacket
}

func newMinClient(conn *guardConn, pc paho.ClientConfig) *minClient {
	conn.small = true
	c := &minClient{conn: conn, onErr: pc.OnClientError, onServer: pc.OnServerDisconnect,
		done: make(chan struct{}), held: true}
	if len(pc.OnPublishReceived) > 0 {
		c.onPub = pc.OnPublishReceived[0]
	}
	return c
}

// Connect sends cp and reads the CONNACK, within ctx; on success it starts
// the reader and the keep-alive timer. A refusal returns the CONNACK with
// the error, as paho's Connect does.
func (c *minClient) Connect(ctx context.Context, cp *paho.Connect) (*paho.Connack, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	ccp := cp.Packet()
	ccp.ProtocolName, ccp.ProtocolVersion = "MQTT", 5
	if err := c.write(ccp); err != nil {
		return nil, err
	}
	pkt, err := readPacket(c.conn)
	if !stop() {
		// The deadline was set, or is about to be: the attempt is
		// over, even if the CONNACK came in time.
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	ack, ok := pkt.Content.(*packets.Connack)
	if !ok {
		return nil, fmt.Errorf("%w: %s packet instead of CONNACK", errMinProtocol, pkt.PacketType())
	}
	ca := paho.ConnackFromPacketConnack(ack)
	if ca.ReasonCode >= 0x80 {
		return ca, fmt.Errorf("mqtt: CONNACK reason %#x", ca.ReasonCode)
	}
	receiveMax := uint16(65535) // MQTT 5's default when the broker names none
	keepAlive := time.Duration(cp.KeepAlive) * time.Second
	if ca.Properties != nil {
		if ca.Properties.ReceiveMaximum != nil && *ca.Properties.ReceiveMaximum > 0 {
			receiveMax = *ca.Properties.ReceiveMaximum
		}
		if ca.Properties.ServerKeepAlive != nil {
			keepAlive = time.Duration(*ca.Properties.ServerKeepAlive) * time.Second
		}
	}
	// A channel of empty structs has no buffer: a large Receive Maximum
	// costs nothing.
	c.quota = make(chan struct{}, receiveMax)
	c.keepAlive = keepAlive
	if keepAlive > 0 {
		c.mu.Lock()
		c.ping = time.AfterFunc(keepAlive, c.keepAliveTick)
		c.mu.Unlock()
	}
	if c.queued {
		n := 65535
		if cp.Properties != nil && cp.Properties.ReceiveMaximum != nil && *cp.Properties.ReceiveMaximum > 0 {
			n = int(*cp.Properties.ReceiveMaximum)
		}
		c.queue, c.delivered = newPubQueue(n), make(chan struct{})
		go c.deliverQueued()
	}
	go c.read()
	return ca, nil
}

// write sends one packet whole: paho's packets take the guard's lock (a
// sync.Locker) around their pieces, which keeps them from mixing with
// another writer's.
func (c *minClient) write(p io.WriterTo) error {
	_, err := p.WriteTo(c.conn)
	return err
}

// writeBytes sends a packet of our own encoding, head then tail (which
// may be nil), under the guard's lock, as paho's packets are sent.
func (c *minClient) writeBytes(head, tail []byte) error {
	c.conn.Lock()
	defer c.conn.Unlock()
	if _, err := c.conn.Write(head); err != nil {
		return err
	}
	if len(tail) > 0 {
		if _, err := c.conn.Write(tail); err != nil {
			return err
		}
	}
	return nil
}

// keepAliveTick sends a PINGREQ every keep-alive period, and ends the
// connection when the previous one has had no PINGRESP.
func (c *minClient) keepAliveTick() {
	c.mu.Lock()
	if c.ended || c.closing {
		c.mu.Unlock()
		return
	}
	if c.pingOut {
		c.mu.Unlock()
		err := errors.New("mqtt: keep-alive: no PINGRESP from the broker")
		if c.onErr != nil {
			c.onErr(err)
		}
		c.conn.finish(err)
		_ = c.conn.Close()
		return
	}
	c.pingOut = true
	c.ping.Reset(c.keepAlive)
	c.mu.Unlock()
	_ = c.write(packets.NewControlPacket(packets.PINGREQ)) // a failure ends the reader
}

// readPacket reads the next packet with paho's decoder (the CONNACK, and
// what readMinPacket does not decode itself), which sees only what the
// packet guard let through (no packet over our Maximum Packet Size); a
// panic in it on malformed bytes is turned into an error, so that
// no broker can bring the process down.
func readPacket(r io.Reader) (pkt *packets.ControlPacket, err error) {
	defer func() {
		if v := recover(); v != nil {
			pkt, err = nil, fmt.Errorf("%w: undecodable packet (%v)", errMinProtocol, v)
		}
	}()
	return packets.ReadPacket(r)
}

// read is the connection's goroutine: it reads packets until the
// connection ends, delivers records (or queues them for the delivery
// goroutine), and hands acknowledgements to their waiters.
//
// Without the delivery goroutine (WithMinimalClient), its stack stays at the 2 KiB a goroutine starts with: it waits for the
// next bytes in guardConn.fill, a shallow call, and has them decoded and
// handled (the decoder, the transport's and the handler's code, which
// go deeper) by a goroutine of their own that ends once the buffered
// bytes are used up, while it waits. A goroutine's stack never shrinks
// below four times what it uses when parked, so one that grew once to
// decode would keep 4 KiB for the connection's life, twice what the
// connection's other state costs.
func (c *minClient) read() {
	if c.queued {
		// A busy connection: its stack's size does not matter.
		for {
			if err := c.next(); err != nil {
				c.end(err)
				return
			}
		}
	}
	step := make(chan error, 1)
	for {
		if err := c.conn.fill(); err != nil && c.conn.rpos == c.conn.rend {
			c.end(err)
			return
		}
		go c.drain(step)
		if err := <-step; err != nil {
			c.end(err)
			return
		}
	}
}

// drain reads and handles packets while the connection's buffer holds
// bytes (the end of a packet may still be read from the connection), and
// sends the first error, or nil, on step.
func (c *minClient) drain(step chan<- error) {
	for {
		if err := c.next(); err != nil {
			step <- err
			return
		}
		if c.conn.rpos == c.conn.rend {
			step <- nil
			return
		}
	}
}

// next reads and handles one packet; an error ends the connection.
func (c *minClient) next() error {
	mp, err := readMinPacket(c.conn)
	if err != nil {
		return err
	}
	switch {
	case mp.pub != nil:
		return c.receivedOrQueued(mp.pub)
	case mp.cp == nil: // a PUBACK without properties
		c.acknowledged(mp.id, mp)
		return nil
	}
	pkt := mp.cp
	switch p := pkt.Content.(type) {
	case *packets.Publish:
		return c.receivedOrQueued(p)
	case *packets.Puback, *packets.Suback, *packets.Unsuback:
		c.acknowledged(pkt.PacketID(), mp)
	case *packets.Pingresp:
		c.mu.Lock()
		c.pingOut = false
		c.mu.Unlock()
	case *packets.Disconnect:
		if c.onServer != nil {
			c.onServer(paho.DisconnectFromPacketDisconnect(p))
		}
		return fmt.Errorf("mqtt: broker sent DISCONNECT (reason %#x)", p.ReasonCode)
	default:
		return fmt.Errorf("%w: unexpected %s packet", errMinProtocol, pkt.PacketType())
	}
	return nil
}

// receivedOrQueued hands a PUBLISH to the delivery goroutine, waiting for
// room in its queue, or delivers it (received) without one.
func (c *minClient) receivedOrQueued(p *packets.Publish) error {
	if c.queue == nil {
		return c.received(p)
	}
	if !c.queue.put(p, c.conn.ended.Done()) {
		return context.Cause(c.conn.ended)
	}
	return nil
}

// deliverQueued is WithOwnClient's delivery goroutine: it delivers the
// queued records in order until the reader closes the queue. An error
// (a record we cannot take, a PUBACK that cannot be written) ends the
// connection; the records queued after it are dropped.
func (c *minClient) deliverQueued() {
	defer close(c.delivered)
	var failed bool
	for {
		p, ok := c.queue.take()
		if !ok {
			return
		}
		if failed {
			continue
		}
		if err := c.received(p); err != nil {
			failed = true
			c.mu.Lock()
			c.failed = err
			c.mu.Unlock()
			c.conn.finish(err)
			_ = c.conn.Close()
		}
	}
}

// received delivers a PUBLISH, or holds it while the first SUBSCRIBE is
// under way (see release), and acknowledges a QoS 1 one once delivered.
func (c *minClient) received(p *packets.Publish) error {
	if p.QoS > 1 {
		// We subscribe at QoS 0 or 1 only.
		return fmt.Errorf("%w: PUBLISH at QoS %d", errMinProtocol, p.QoS)
	}
	if p.Topic == "" {
		// A topic alias: we announce no Topic Alias Maximum.
		return fmt.Errorf("%w: PUBLISH without a topic name", errMinProtocol)
	}
	pub := paho.PublishFromPacketPublish(p)
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.mu.Lock()
	if c.held {
		if len(c.pending) >= maxHeldRecords {
			c.mu.Unlock()
			return fmt.Errorf("%w: over %d records before our subscription was answered", errMinProtocol, maxHeldRecords)
		}
		c.pending = append(c.pending, pub)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.deliver(pub)
}

// deliver hands a record to the transport and acknowledges it; the
// caller holds dmu.
func (c *minClient) deliver(p *paho.Publish) error {
	if c.onPub != nil {
		_, _ = c.onPub(paho.PublishReceived{Packet: p})
	}
	if p.QoS == 0 {
		return nil
	}
	// PUBACK, reason Success and no properties (MQTT 5.0 3.4.2.1).
	return c.writeBytes([]byte{packets.PUBACK << 4, 2, byte(p.PacketID >> 8), byte(p.PacketID)}, nil)
}

// release delivers the records held since the connection started and
// lets the reader deliver the next ones itself. The transport calls it
// once Up is reported, so that no record goes before it.
func (c *minClient) release() {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.mu.Lock()
	c.held = false
	held := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range held {
		if c.deliver(p) != nil {
			return // the connection has ended; the reader reports it
		}
	}
}

// acknowledged hands an acknowledgement to the request waiting for it; one
// nobody waits for (the request gave up) is dropped.
func (c *minClient) acknowledged(id uint16, pkt minPacket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.waits {
		if w.id == id {
			w.ch <- pkt // buffered, one acknowledgement per identifier
			c.waits = slices.Delete(c.waits, i, i+1)
			if len(c.waits) == 0 {
				c.waits = nil
			}
			return
		}
	}
}

// register reserves a packet identifier and a slot for its
// acknowledgement.
func (c *minClient) register() (uint16, chan minPacket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return 0, nil, paho.ErrConnectionLost
	}
	if len(c.waits) >= 65535 {
		return 0, nil, errors.New("mqtt: no packet identifier free")
	}
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if !slices.ContainsFunc(c.waits, func(w minWait) bool { return w.id == c.nextID }) {
			break
		}
	}
	ch := make(chan minPacket, 1)
	c.waits = append(c.waits, minWait{id: c.nextID, ch: ch})
	return c.nextID, ch, nil
}

// unregister gives up the slot of id.
func (c *minClient) unregister(id uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.IndexFunc(c.waits, func(w minWait) bool { return w.id == id }); i >= 0 {
		c.waits = slices.Delete(c.waits, i, i+1)
		if len(c.waits) == 0 {
			c.waits = nil
		}
	}
}

// request sends a packet with a packet identifier of its own (send
// writes it with the identifier given) and waits for its
// acknowledgement.
func (c *minClient) request(ctx context.Context, send func(id uint16) error) (minPacket, error) {
	id, ch, err := c.register()
	if err != nil {
		return minPacket{}, err
	}
	if err := send(id); err != nil {
		c.unregister(id)
		return minPacket{}, fmt.Errorf("%w: %v", paho.ErrConnectionLost, err)
	}
	select {
	case ack, ok := <-ch:
		if !ok {
			return minPacket{}, paho.ErrConnectionLost
		}
		return ack, nil
	case <-ctx.Done():
		c.unregister(id)
		return minPacket{}, ctx.Err()
	}
}

// requestPacket is request for a packet paho encodes; setID gives it its
// identifier.
func (c *minClient) requestPacket(ctx context.Context, pkt *packets.ControlPacket, setID func(uint16)) (*packets.ControlPacket, error) {
	ack, err := c.request(ctx, func(id uint16) error {
		setID(id)
		return c.write(pkt)
	})
	if err != nil {
		return nil, err
	}
	if ack.cp == nil {
		return nil, fmt.Errorf("%w: PUBACK answers a %s", errMinProtocol, pkt.PacketType())
	}
	return ack.cp, nil
}

// Publish sends p; at QoS 1 it waits for a place among the broker's
// Receive Maximum, then for the PUBACK. The response's Properties are
// those of the PUBACK, nil when it had none.
func (c *minClient) Publish(ctx context.Context, p *paho.Publish) (*paho.PublishResponse, error) {
	if p.QoS > 1 {
		return nil, fmt.Errorf("mqtt: the minimal client publishes at QoS 0 or 1, not %d", p.QoS)
	}
	if p.QoS == 0 {
		head, tail, err := encodePublish(p, 0)
		if err != nil {
			return nil, err
		}
		if err := c.writeBytes(head, tail); err != nil {
			return nil, fmt.Errorf("%w: %v", paho.ErrConnectionLost, err)
		}
		return &paho.PublishResponse{}, nil
	}
	select {
	case c.quota <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, paho.ErrConnectionLost
	}
	defer func() { <-c.quota }()
	ack, err := c.request(ctx, func(id uint16) error {
		head, tail, err := encodePublish(p, id)
		if err != nil {
			return err
		}
		return c.writeBytes(head, tail)
	})
	if err != nil {
		return nil, err
	}
	if ack.cp == nil {
		resp := &paho.PublishResponse{ReasonCode: ack.reason}
		if ack.reason >= 0x80 {
			return resp, fmt.Errorf("mqtt: broker refused the PUBLISH (reason %#x)", ack.reason)
		}
		return resp, nil
	}
	pa, ok := ack.cp.Content.(*packets.Puback)
	if !ok {
		return nil, fmt.Errorf("%w: %s packet answers a PUBLISH", errMinProtocol, ack.cp.PacketType())
	}
	resp := paho.PublishResponseFromPuback(pa)
	if pa.ReasonCode >= 0x80 {
		return resp, fmt.Errorf("mqtt: broker refused the PUBLISH (reason %#x)", pa.ReasonCode)
	}
	return resp, nil
}

// Subscribe sends s and returns the SUBACK.
func (c *minClient) Subscribe(ctx context.Context, s *paho.Subscribe) (*paho.Suback, error) {
	sp := s.Packet()
	cp := &packets.ControlPacket{FixedHeader: packets.FixedHeader{Type: packets.SUBSCRIBE, Flags: 2}, Content: sp}
	ack, err := c.requestPacket(ctx, cp, func(id uint16) { sp.PacketID = id })
	if err != nil {
		return nil, err
	}
	sa, ok := ack.Content.(*packets.Suback)
	if !ok {
		return nil, fmt.Errorf("%w: %s packet answers a SUBSCRIBE", errMinProtocol, ack.PacketType())
	}
	return paho.SubackFromPacketSuback(sa), nil
}

// Unsubscribe sends u and returns the UNSUBACK.
func (c *minClient) Unsubscribe(ctx context.Context, u *paho.Unsubscribe) (*paho.Unsuback, error) {
	up := u.Packet()
	cp := &packets.ControlPacket{FixedHeader: packets.FixedHeader{Type: packets.UNSUBSCRIBE, Flags: 2}, Content: up}
	ack, err := c.requestPacket(ctx, cp, func(id uint16) { up.PacketID = id })
	if err != nil {
		return nil, err
	}
	ua, ok := ack.Content.(*packets.Unsuback)
	if !ok {
		return nil, fmt.Errorf("%w: %s packet answers an UNSUBSCRIBE", errMinProtocol, ack.PacketType())
	}
	return paho.UnsubackFromPacketUnsuback(ua), nil
}

// Disconnect sends DISCONNECT (bounded by a second's write deadline) and
// closes the connection; the reader then ends.
func (c *minClient) Disconnect(d *paho.Disconnect) error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	err := c.write(d.Packet())
	_ = c.conn.Close()
	return err
}

// Done is closed once the reader has ended.
func (c *minClient) Done() <-chan struct{} { return c.done }

// end runs once, on the reader, when the connection has ended: waiters
// fail, the timer stops, the transport hears why, and Done closes before
// the connection does (lean mode's reconnection waits for Done).
func (c *minClient) end(err error) {
	if c.queue != nil {
		// The reader, the queue's only sender, has stopped: let the
		// delivery goroutine finish what was queued.
		c.queue.close()
		<-c.delivered
	}
	c.mu.Lock()
	if c.failed != nil {
		err = c.failed
	}
	c.ended = true
	waits := c.waits
	c.waits, c.pending = nil, nil
	if c.ping != nil {
		c.ping.Stop()
	}
	closing := c.closing
	c.mu.Unlock()
	for _, w := range waits {
		close(w.ch)
	}
	if !closing && c.onErr != nil {
		c.onErr(err)
	}
	close(c.done)
	_ = c.conn.Close()
}
