package embedbroker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/goleak"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/embedbroker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg embedbroker.Config) *embedbroker.Broker {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	b, err := embedbroker.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// client is a paho.golang MQTT 5 client whose received messages queue up.
type client struct {
	cli  *paho.Client
	in   chan *paho.Publish
	errs chan error
	// hold, when set, delays acknowledging each message until a value
	// arrives (a slow subscriber).
	hold chan struct{}
	ack  *paho.Connack
}

func dial(t *testing.T, b *embedbroker.Broker, id string, conf func(*paho.ClientConfig, *paho.Connect)) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{in: make(chan *paho.Publish, 10000), errs: make(chan error, 10)}
	cfg := paho.ClientConfig{Conn: nc, OnClientError: func(err error) {
		select {
		case c.errs <- err:
		default:
		}
	}, OnServerDisconnect: func(d *paho.Disconnect) {
		select {
		case c.errs <- fmt.Errorf("server disconnect 0x%02x", d.ReasonCode):
		default:
		}
	}}
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if conf != nil {
		conf(&cfg, cp)
	}
	cfg.OnPublishReceived = append(cfg.OnPublishReceived, func(pr paho.PublishReceived) (bool, error) {
		if c.hold != nil {
			<-c.hold
		}
		c.in <- pr.Packet
		return true, nil
	})
	c.cli = paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.cli.Connect(ctx, cp)
	if err != nil {
		_ = nc.Close()
		t.Fatalf("connect %s: %v", id, err)
	}
	c.ack = ca
	if ca.Properties == nil || ca.Properties.MaximumQoS == nil || *ca.Properties.MaximumQoS != 1 {
		t.Fatalf("CONNACK Maximum QoS: %+v", ca.Properties)
	}
	t.Cleanup(func() { _ = c.cli.Disconnect(&paho.Disconnect{}) })
	return c
}

func (c *client) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	if sa.Reasons[0] > 1 {
		t.Fatalf("subscribe %s: reason %#x", filter, sa.Reasons[0])
	}
}

func (c *client) pub(t *testing.T, topic string, qos byte, payload string, props *paho.PublishProperties) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.cli.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload), Properties: props}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func (c *client) recv(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.in:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// none asserts that nothing arrives: a round trip through the broker on a
// topic c is subscribed to (sync) comes back first.
func (c *client) none(t *testing.T, via *client, sync string) {
	t.Helper()
	via.pub(t, sync, 1, "sync", nil)
	if p := c.recv(t); p.Topic != sync {
		t.Fatalf("unexpected message on %s: %q", p.Topic, p.Payload)
	}
}

func TestStartAcceptsConnections(t *testing.T) {
	b, err := embedbroker.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(b.URL(), "mqtt://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("broker not listening on %s: %v", addr, err)
	}
	_ = c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatal("still listening after Close")
	}
}

func TestStartRejectsBadAddress(t *testing.T) {
	if _, err := embedbroker.Start("no-port"); err == nil {
		t.Fatal("accepted an address without port")
	}
}

func TestPropertiesForwarded(t *testing.T) {
	b := start(t, embedbroker.Config{})
	sub := dial(t, b, "sub", nil)
	sub.sub(t, "a/b", 1)
	pub := dial(t, b, "pub", nil)
	pf := byte(1)
	exp := uint32(60)
	pub.pub(t, "a/b", 1, "hello", &paho.PublishProperties{ResponseTopic: "r/t", CorrelationData: []byte{1, 2},
		ContentType: "usp.msg", PayloadFormat: &pf, MessageExpiry: &exp, User: paho.UserProperties{{Key: "k", Value: "v"}}})
	p := sub.recv(t)
	if string(p.Payload) != "hello" || p.QoS != 1 {
		t.Fatalf("got %q qos %d", p.Payload, p.QoS)
	}
	pp := p.Properties
	if pp == nil || pp.ResponseTopic != "r/t" || !bytes.Equal(pp.CorrelationData, []byte{1, 2}) || pp.ContentType != "usp.msg" ||
		pp.PayloadFormat == nil || *pp.PayloadFormat != 1 || pp.MessageExpiry == nil || *pp.MessageExpiry == 0 || *pp.MessageExpiry > 60 ||
		pp.User.Get("k") != "v" {
		t.Fatalf("properties: %+v", pp)
	}
}

func TestWildcardsAndShared(t *testing.T) {
	b := start(t, embedbroker.Config{})
	plus := dial(t, b, "plus", nil)
	plus.sub(t, "x/+/z", 1)
	hash := dial(t, b, "hash", nil)
	hash.sub(t, "x/#", 1)
	dollar := dial(t, b, "dollar", nil)
	dollar.sub(t, "#", 0)
	m1 := dial(t, b, "m1", nil)
	m1.sub(t, "$share/g/jobs/#", 1)
	m2 := dial(t, b, "m2", nil)
	m2.sub(t, "$share/g/jobs/#", 1)
	pub := dial(t, b, "pub", nil)

	pub.pub(t, "x/y/z", 1, "1", nil)
	if p := plus.recv(t); p.Topic != "x/y/z" {
		t.Fatalf("plus got %s", p.Topic)
	}
	if p := hash.recv(t); p.Topic != "x/y/z" {
		t.Fatalf("hash got %s", p.Topic)
	}
	if p := dollar.recv(t); p.Topic != "x/y/z" {
		t.Fatalf("# got %s", p.Topic)
	}
	pub.pub(t, "x", 1, "parent", nil) // x/# matches x
	if p := hash.recv(t); p.Topic != "x" {
		t.Fatalf("hash got %s", p.Topic)
	}
	if p := dollar.recv(t); p.Topic != "x" {
		t.Fatalf("# got %s", p.Topic)
	}
	pub.pub(t, "$SYS/x", 1, "sys", nil) // # does not match $ topics
	pub.pub(t, "x/y/y", 1, "2", nil)    // x/+/z does not match
	if p := hash.recv(t); p.Topic != "x/y/y" {
		t.Fatalf("hash got %s", p.Topic)
	}
	plus.none(t, pub, "x/sync/z")
	if p := dollar.recv(t); p.Topic != "x/y/y" {
		t.Fatalf("# got %s (a $ topic leaked to #?)", p.Topic)
	}

	for i := range 6 {
		pub.pub(t, "jobs/"+fmt.Sprint(i), 1, "j", nil)
	}
	time.Sleep(0) // deliveries are counted below, not timed
	got := map[string]int{}
	for range 6 {
		select {
		case <-m1.in:
			got["m1"]++
		case <-m2.in:
			got["m2"]++
		case <-time.After(5 * time.Second):
			t.Fatalf("shared deliveries: %v of 6", got)
		}
	}
	if got["m1"] != 3 || got["m2"] != 3 {
		t.Fatalf("round-robin: %v", got)
	}
}

func TestRejections(t *testing.T) {
	b := start(t, embedbroker.Config{ACL: func(id, topic string, write bool) bool {
		return !strings.HasPrefix(topic, "secret")
	}})
	c := dial(t, b, "c", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "secret/#", QoS: 1}, {Topic: "a/#/b", QoS: 1}, {Topic: "ok", QoS: 2}}})
	if sa == nil {
		t.Fatal(err)
	}
	if want := []byte{0x87, 0x8F, 1}; !bytes.Equal(sa.Reasons, want) {
		t.Fatalf("SUBACK reasons %x, want %x", sa.Reasons, want)
	}
	pr, err := c.cli.Publish(ctx, &paho.Publish{Topic: "secret/x", QoS: 1, Payload: []byte("x")})
	if err == nil && (pr == nil || pr.ReasonCode != 0x87) {
		t.Fatalf("publish to a refused topic: %+v", pr)
	}
	ua, err := c.cli.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"ok", "never"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ua.Reasons, []byte{0, 0x11}) {
		t.Fatalf("UNSUBACK reasons %x", ua.Reasons)
	}
}

// rawConnect opens a connection and sends an MQTT 5 CONNECT with the given
// will (nil: none); it returns the connection after CONNACK.
func rawConnect(t *testing.T, b *embedbroker.Broker, id string, will []byte) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	flags := byte(0x02)
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 5}
	if will != nil {
		flags |= 0x04 | 0x08 // will, QoS 1
	}
	body = append(body, flags, 0, 0, 0) // keep-alive 0, no properties
	body = append(body, 0, byte(len(id)))
	body = append(body, id...)
	if will != nil {
		body = append(body, 0)    // will properties
		body = append(body, 0, 4) // will topic
		body = append(body, "will"...)
		body = append(body, 0, byte(len(will)))
		body = append(body, will...)
	}
	if _, err := nc.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 2)
	if _, err := nc.Read(hdr); err != nil || hdr[0] != 0x20 {
		t.Fatalf("CONNACK: %x %v", hdr, err)
	}
	rest := make([]byte, hdr[1])
	if _, err := readFull(nc, rest); err != nil || rest[1] != 0 {
		t.Fatalf("CONNACK body %x %v", rest, err)
	}
	return nc
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// watchWills starts a broker and a client subscribed to the topic rawConnect
// puts Wills on and to "sync" (for [client.none]).
func watchWills(t *testing.T) (*embedbroker.Broker, *client) {
	t.Helper()
	b := start(t, embedbroker.Config{})
	w := dial(t, b, "watcher", nil)
	w.sub(t, "will", 1)
	w.sub(t, "sync", 1)
	return b, w
}

func TestWill(t *testing.T) {
	b, w := watchWills(t)

	// Dropped connection: Will published.
	nc := rawConnect(t, b, "dies", []byte("gone"))
	_ = nc.Close()
	if p := w.recv(t); string(p.Payload) != "gone" {
		t.Fatalf("will: %q", p.Payload)
	}
	// DISCONNECT 0x00: no Will.
	nc = rawConnect(t, b, "leaves", []byte("left"))
	if _, err := nc.Write([]byte{0xE0, 1, 0}); err != nil {
		t.Fatal(err)
	}
	w.none(t, w, "sync")
	// DISCONNECT 0x04: Will.
	nc = rawConnect(t, b, "leaves-with-will", []byte("asked"))
	if _, err := nc.Write([]byte{0xE0, 1, 4}); err != nil {
		t.Fatal(err)
	}
	if p := w.recv(t); string(p.Payload) != "asked" {
		t.Fatalf("will: %q", p.Payload)
	}
	// Malformed packet: Will, and a DISCONNECT 0x81 before the close.
	nc = rawConnect(t, b, "garbles", []byte("garbled"))
	if _, err := nc.Write([]byte{0x82, 2, 0, 0}); err != nil { // SUBSCRIBE with id 0 and no filter
		t.Fatal(err)
	}
	hdr := make([]byte, 3)
	if _, err := readFull(nc, hdr); err != nil || hdr[0] != 0xE0 || hdr[2] != 0x81 {
		t.Fatalf("DISCONNECT: %x %v", hdr, err)
	}
	if p := w.recv(t); string(p.Payload) != "garbled" {
		t.Fatalf("will: %q", p.Payload)
	}
	// Takeover: the old connection gets DISCONNECT 0x8E and its Will goes.
	old := rawConnect(t, b, "twin", []byte("taken"))
	_ = rawConnect(t, b, "twin", nil)
	if _, err := readFull(old, hdr); err != nil || hdr[0] != 0xE0 || hdr[2] != 0x8E {
		t.Fatalf("takeover DISCONNECT: %x %v", hdr, err)
	}
	if p := w.recv(t); string(p.Payload) != "taken" {
		t.Fatalf("will: %q", p.Payload)
	}
}

// TestClientDisconnectWithServerReference: MQTT 5 allows a Server
// Reference on any DISCONNECT; a client that sends one with reason 0x00
// leaves normally (no Will, no DISCONNECT 0x81 from the broker).
func TestClientDisconnectWithServerReference(t *testing.T) {
	b, w := watchWills(t)

	nc := rawConnect(t, b, "refers", []byte("referred"))
	ref := "other.example:1883"
	props := append([]byte{0x1C, 0, byte(len(ref))}, ref...)
	body := append([]byte{0x00, byte(len(props))}, props...)
	if _, err := nc.Write(append([]byte{0xE0, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	// The broker closes without a word (rawConnect set a read deadline).
	if n, err := readFull(nc, make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after DISCONNECT: read %d bytes, %v; want EOF", n, err)
	}
	w.none(t, w, "sync")
}

func TestQoS2Refused(t *testing.T) {
	b := start(t, embedbroker.Config{})
	nc := rawConnect(t, b, "q2", nil)
	// PUBLISH QoS 2, topic "t", id 1, no properties.
	if _, err := nc.Write([]byte{0x34, 7, 0, 1, 't', 0, 1, 0, 'x'}); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 3)
	if _, err := readFull(nc, hdr); err != nil || hdr[0] != 0xE0 || hdr[2] != 0x9B {
		t.Fatalf("DISCONNECT: %x %v", hdr, err)
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	b := start(t, embedbroker.Config{})
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// MQTT 5 CONNECT, keep-alive 1 s.
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 1, 0, 0, 1, 'k'}
	if _, err := nc.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	var got []byte
	start := time.Now()
	for {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %v, before 1.5x keep-alive", d)
	}
	if i := bytes.IndexByte(got, 0xE0); i < 0 || len(got) < i+3 || got[i+2] != 0x8D {
		t.Fatalf("no DISCONNECT 0x8D in %x", got)
	}
}

func TestMQTT311AndV5Together(t *testing.T) {
	b := start(t, embedbroker.Config{})
	old := brokertest.DialMQTT311(t, b.URL(), "old")
	if err := old.Subscribe("t/#", 1); err != nil {
		t.Fatal(err)
	}
	v5 := dial(t, b, "v5", nil)
	v5.sub(t, "t/#", 1)
	v5.pub(t, "t/1", 1, "from5", &paho.PublishProperties{ResponseTopic: "r", User: paho.UserProperties{{Key: "a", Value: "b"}}})
	topic, payload, err := old.Receive(5 * time.Second)
	if err != nil || topic != "t/1" || string(payload) != "from5" {
		t.Fatalf("3.1.1 got %q %q %v", topic, payload, err)
	}
	if p := v5.recv(t); string(p.Payload) != "from5" {
		t.Fatalf("v5 got %q", p.Payload)
	}
	if err := old.Publish("t/2", []byte("from311")); err != nil {
		t.Fatal(err)
	}
	if p := v5.recv(t); string(p.Payload) != "from311" || p.Properties != nil && p.Properties.ResponseTopic != "" {
		t.Fatalf("v5 got %q %+v", p.Payload, p.Properties)
	}
	if topic, _, err := old.Receive(5 * time.Second); err != nil || topic != "t/2" {
		t.Fatalf("3.1.1 own message: %q %v", topic, err)
	}
}

func TestMosquittoClients311(t *testing.T) {
	b := start(t, embedbroker.Config{})
	s := brokertest.SubscribeMQTT311(t, b.URL(), "mosq-sub", "m/#")
	if err := brokertest.PublishMQTT311(t, b.URL(), "m/x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := s.Receive(10 * time.Second)
	if err != nil || string(m.Payload) != "hi" {
		t.Fatalf("got %+v %v", m, err)
	}
}

// TestReceiveMaximumOne: with Receive Maximum 1 the broker has one message
// unacknowledged at a time, and all arrive, in order.
func TestReceiveMaximumOne(t *testing.T) {
	b := start(t, embedbroker.Config{})
	var inflight, most atomic.Int32
	slow := dial(t, b, "slow", func(cfg *paho.ClientConfig, cp *paho.Connect) {
		one := uint16(1)
		cp.Properties = &paho.ConnectProperties{ReceiveMaximum: &one}
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) {
			n := inflight.Add(1)
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(2 * time.Millisecond)
			inflight.Add(-1)
			return false, nil
		}}
	})
	slow.sub(t, "q", 1)
	pub := dial(t, b, "pub", nil)
	const n = 50
	for i := range n {
		pub.pub(t, "q", 1, fmt.Sprint(i), nil)
	}
	for i := range n {
		if p := slow.recv(t); string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, p.Payload)
		}
	}
	if most.Load() != 1 {
		t.Fatalf("%d in flight at once", most.Load())
	}
}

// TestSlowSubscriberHoldsPublisher: a subscriber that does not
// acknowledge fills its queue; the publisher is then held (its PUBACKs
// wait) rather than its messages dropped, until the subscriber reads.
func TestSlowSubscriberHoldsPublisher(t *testing.T) {
	b, err := embedbroker.Listen(embedbroker.Config{Addr: "127.0.0.1:0", QueueLimit: 4, QueueWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	slow := dial(t, b, "slow", func(cfg *paho.ClientConfig, cp *paho.Connect) {
		one := uint16(1)
		cp.Properties = &paho.ConnectProperties{ReceiveMaximum: &one}
	})
	slow.hold = make(chan struct{})
	slow.sub(t, "q", 1)
	pub := dial(t, b, "pub", nil)
	const n = 20
	var acked atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := pub.cli.Publish(ctx, &paho.Publish{Topic: "q", QoS: 1, Payload: []byte(fmt.Sprint(i))})
			cancel()
			if err != nil {
				return
			}
			acked.Add(1)
		}
	}()
	// One in flight at the subscriber, four queued, one publish held:
	// the publisher cannot get past six acknowledgements.
	deadline := time.Now().Add(5 * time.Second)
	for acked.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if a := acked.Load(); a < 5 || a > 6 {
		t.Fatalf("publisher got %d acknowledgements with the subscriber stalled", a)
	}
	close(slow.hold)
	<-done
	for i := range n {
		if p := slow.recv(t); string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, p.Payload)
		}
	}
	if s := b.Stats(); s.Dropped != 0 {
		t.Fatalf("dropped %d", s.Dropped)
	}
}

// TestManyPublishersOneSubscriber is the pattern that deadlocked
// mochi-mqtt: many clients publishing at QoS 1 to one subscriber that
// acknowledges while they publish.
func TestManyPublishersOneSubscriber(t *testing.T) {
	b := start(t, embedbroker.Config{QueueLimit: 64, QueueWait: time.Minute})
	ctrl := dial(t, b, "ctrl", func(cfg *paho.ClientConfig, cp *paho.Connect) {
		rm := uint16(8)
		cp.Properties = &paho.ConnectProperties{ReceiveMaximum: &rm}
	})
	ctrl.sub(t, "ctrl", 1)
	const pubs, each = 50, 40
	var wg sync.WaitGroup
	errs := make(chan error, pubs)
	for i := range pubs {
		p := dial(t, b, fmt.Sprint("p", i), nil)
		p.sub(t, fmt.Sprint("agent/", i), 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := p.cli.Publish(ctx, &paho.Publish{Topic: "ctrl", QoS: 1, Payload: []byte(fmt.Sprint(i, "/", j))})
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The subscriber answers each message, publishing back to its sender
	// at QoS 1 as a controller does.
	got := 0
	var replies sync.WaitGroup
	defer replies.Wait()
	for got < pubs*each {
		select {
		case m := <-ctrl.in:
			got++
			from, _, _ := strings.Cut(string(m.Payload), "/")
			replies.Add(1)
			go func() {
				defer replies.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, _ = ctrl.cli.Publish(ctx, &paho.Publish{Topic: "agent/" + from, QoS: 1, Payload: m.Payload})
			}()
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(20 * time.Second):
			t.Fatalf("stalled after %d of %d (%+v)", got, pubs*each, b.Stats())
		}
	}
	wg.Wait()
	replies.Wait()
	if s := b.Stats(); s.Dropped != 0 {
		t.Fatalf("dropped %d", s.Dropped)
	}
}

func TestRetained(t *testing.T) {
	b := start(t, embedbroker.Config{})
	pub := dial(t, b, "pub", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pub.cli.Publish(ctx, &paho.Publish{Topic: "r/1", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	s := dial(t, b, "late", nil)
	s.sub(t, "r/+", 1)
	if p := s.recv(t); string(p.Payload) != "kept" || !p.Retain {
		t.Fatalf("retained: %q retain %v", p.Payload, p.Retain)
	}
}

func TestMaximumPacketSize(t *testing.T) {
	b := start(t, embedbroker.Config{MaximumPacketSize: 512})
	small := dial(t, b, "small", func(_ *paho.ClientConfig, cp *paho.Connect) {
		m := uint32(200)
		cp.Properties = &paho.ConnectProperties{MaximumPacketSize: &m}
	})
	small.sub(t, "big", 1)
	small.sub(t, "sync", 1)
	pub := dial(t, b, "pub", nil)
	pub.pub(t, "big", 1, strings.Repeat("x", 300), nil) // over the subscriber's limit: not sent
	small.none(t, pub, "sync")
	if s := b.Stats(); s.TooLarge != 1 {
		t.Fatalf("TooLarge %d", s.TooLarge)
	}
	// Over the broker's limit: the publisher is disconnected with 0x95.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = pub.cli.Publish(ctx, &paho.Publish{Topic: "big", QoS: 1, Payload: bytes.Repeat([]byte("y"), 1000)})
	select {
	case err := <-pub.errs:
		if !strings.Contains(err.Error(), "0x95") && !errors.Is(err, net.ErrClosed) {
			t.Logf("publisher error: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publisher over the limit not disconnected")
	}
}

func TestInlinePublish(t *testing.T) {
	b := start(t, embedbroker.Config{})
	c := dial(t, b, "c", nil)
	c.sub(t, "in", 1)
	if err := b.Publish("in", []byte("inline"), 1, false, &embedbroker.Properties{ContentType: "usp.msg"}); err != nil {
		t.Fatal(err)
	}
	if p := c.recv(t); string(p.Payload) != "inline" || p.Properties.ContentType != "usp.msg" {
		t.Fatalf("got %q %+v", p.Payload, p.Properties)
	}
	_ = b.Close()
	if err := b.Publish("in", nil, 0, false, nil); !errors.Is(err, embedbroker.ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

// TestCloseWithSilentAndBadClients: Close returns promptly with a client
// that never sent CONNECT, and a bad CONNECT gets a refusal, not a panic.
func TestCloseWithSilentAndBadClients(t *testing.T) {
	b, err := embedbroker.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	bad, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	// CONNECT for protocol level 3 (MQTT 3.1): CONNACK 0x01.
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 3, 2, 0, 0, 0, 1, 'x'}
	if _, err := bad.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := readFull(bad, ack); err != nil || ack[0] != 0x20 || ack[3] != 0x01 {
		t.Fatalf("CONNACK %x %v", ack, err)
	}
	v5 := dial(t, b, "v5", nil)
	began := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	select {
	case err := <-v5.errs:
		if !strings.Contains(err.Error(), "0x8b") {
			t.Logf("v5 client saw %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("v5 client not told of the shutdown")
	}
}
