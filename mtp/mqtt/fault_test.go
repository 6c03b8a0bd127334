package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

type restartable interface {
	URL() string
	Stop()
	Start()
}

func TestBrokerRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broker func(t *testing.T) restartable
	}{
		{"embedded", func(t *testing.T) restartable { return brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{}) }},
		{"mosquitto", func(t *testing.T) restartable { return brokertest.NewMosquitto(t, brokertest.MosquittoConfig{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.broker(t)
			agent, agentRec, _ := start(t, b.URL(), "proto::agent", mqtt.WithTopic("agent"))
			ctl, ctlRec, _ := start(t, b.URL(), "proto::ctl", mqtt.WithTopic("ctl"))
			send(t, ctl, "agent", "before")
			if got := agentRec.Record(); string(got.Data) != "before" {
				t.Fatalf("got %q", got.Data)
			}

			b.Stop()
			for _, rec := range []*recorder{agentRec, ctlRec} {
				down := rec.Event(mtp.Down)
				if down.Err == nil {
					t.Error("Down event without an error")
				}
			}
			if s := ctl.State(); s != mtp.Disconnected {
				t.Errorf("state while broker is down: %v", s)
			}
			began := time.Now()
			err := ctl.Send(context.Background(), mtp.Address{MTP: mqtt.Kind, To: "agent"}, []byte("lost"))
			if !errors.Is(err, mtp.ErrNotConnected) {
				t.Fatalf("Send while down = %v, want ErrNotConnected", err)
			}
			if d := time.Since(began); d > time.Second {
				t.Errorf("Send while down took %v; it must fail fast", d)
			}
			time.Sleep(300 * time.Millisecond) // let a few reconnection attempts fail

			b.Start()
			agentRec.Event(mtp.Up)
			ctlRec.Event(mtp.Up)
			// Both resubscribed: records flow both ways again.
			send(t, ctl, "agent", "after")
			if got := agentRec.Record(); string(got.Data) != "after" {
				t.Fatalf("got %q", got.Data)
			}
			send(t, agent, "ctl", "back")
			if got := ctlRec.Record(); string(got.Data) != "back" {
				t.Fatalf("got %q", got.Data)
			}
		})
	}
}

// TestRestartMidStream keeps sending while the broker goes away and comes
// back: every send either succeeds or fails with ErrNotConnected, and
// traffic resumes.
func TestRestartMidStream(t *testing.T) {
	b := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{})
	_, agentRec, _ := start(t, b.URL(), "proto::agent", mqtt.WithTopic("agent"))
	ctl, ctlRec, _ := start(t, b.URL(), "proto::ctl", mqtt.WithTopic("ctl"), mqtt.WithQoS(1))
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := ctl.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: "agent"}, fmt.Appendf(nil, "msg %d", i))
			cancel()
			if err != nil && !errors.Is(err, mtp.ErrNotConnected) {
				done <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	b.Restart()
	ctlRec.Event(mtp.Down)
	ctlRec.Event(mtp.Up)
	agentRec.Event(mtp.Up)
	// Drain what arrived before, then expect fresh traffic.
	deadline := time.After(wait)
	for fresh := 0; fresh < 5; {
		select {
		case <-agentRec.Records:
			fresh++
		case <-deadline:
			t.Fatal("no traffic after restart")
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// fakeBroker accepts one MQTT 5 client, answers CONNECT and SUBSCRIBE, and
// then lets the test write raw bytes to it.
type fakeBroker struct {
	l     net.Listener
	conns chan *fakeConn
}

// fakeConn is a subscribed client connection; gone closes when the client
// hangs up.
type fakeConn struct {
	net.Conn
	gone chan struct{}
}

func newFakeBroker(t *testing.T) *fakeBroker {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{l: l, conns: make(chan *fakeConn, 16)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeBroker) url() string { return "mqtt://" + f.l.Addr().String() }

func (f *fakeBroker) serve(conn net.Conn) {
	c := &fakeConn{Conn: conn, gone: make(chan struct{})}
	defer close(c.gone)
	for {
		p, err := packets.ReadPacket(c)
		if err != nil {
			c.Close()
			return
		}
		switch p.Type {
		case packets.CONNECT:
			ack := packets.NewControlPacket(packets.CONNACK)
			if _, err := ack.WriteTo(c); err != nil {
				c.Close()
				return
			}
		case packets.SUBSCRIBE:
			sub := p.Content.(*packets.Subscribe)
			ack := packets.NewControlPacket(packets.SUBACK)
			sa := ack.Content.(*packets.Suback)
			sa.PacketID = sub.PacketID
			sa.Reasons = make([]byte, len(sub.Subscriptions))
			if _, err := ack.WriteTo(c); err != nil {
				c.Close()
				return
			}
			f.conns <- c
		case packets.DISCONNECT:
			c.Close()
			return
		}
	}
}

func (f *fakeBroker) next(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-f.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		t.Fatal("client did not subscribe")
	}
	return nil
}

func rawPublish(topic string, payload []byte) []byte {
	p := packets.NewControlPacket(packets.PUBLISH)
	pub := p.Content.(*packets.Publish)
	pub.Topic = topic
	pub.Payload = payload
	pub.Properties = &packets.Properties{ContentType: "usp.msg", ResponseTopic: "peer"}
	var b bytes.Buffer
	_, _ = p.WriteTo(&b)
	return b.Bytes()
}

func TestMalformedPackets(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		// rejected: the client must hang up by itself; otherwise the
		// broker vanishes after sending the bytes.
		rejected bool
	}{
		{"unknown packet type", []byte{0x00, 0x00}, true},
		{"remaining length overflow", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, true},
		{"over the announced maximum", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, true},
		{"topic length past end", []byte{0x30, 0x03, 0xff, 0xff, 'a'}, true},
		{"bad property", []byte{0x30, 0x07, 0x00, 0x01, 'a', 0x02, 0x7f, 0x00, 0x00}, true},
		{"unexpected CONNACK", []byte{0x20, 0x03, 0x00, 0x00, 0x00}, true},
		{"truncated publish, then the broker vanishes", []byte{0x30, 0x10, 0x00, 0x05, 'a'}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBroker(t)
			_, rec, _ := start(t, fb.url(), "proto::a", mqtt.WithTopic("a"), mqtt.WithKeepAlive(0))
			c := fb.next(t)
			if _, err := c.Write(rawPublish("a", []byte("good"))); err != nil {
				t.Fatal(err)
			}
			if got := rec.Record(); string(got.Data) != "good" {
				t.Fatalf("got %q", got.Data)
			}
			if _, err := c.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			// A broken stream ends the connection; the transport reports
			// it and reconnects.
			if tc.rejected {
				select {
				case <-c.gone:
				case <-time.After(5 * time.Second):
					t.Fatal("client did not hang up")
				}
			} else {
				c.Close()
			}
			rec.Event(mtp.Down)
			rec.Event(mtp.Up)
			c2 := fb.next(t)
			if _, err := c2.Write(rawPublish("a", []byte("again"))); err != nil {
				t.Fatal(err)
			}
			if got := rec.Record(); string(got.Data) != "again" {
				t.Fatalf("got %q", got.Data)
			}
		})
	}
}

func TestBrokerRefusesSubscription(t *testing.T) {
	// A broker that accepts the connection but refuses the subscription:
	// the transport must not come Up (R-MQTT.17) and must not spin.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	attempts := make(chan time.Time, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					p, err := packets.ReadPacket(c)
					if err != nil {
						return
					}
					switch p.Type {
					case packets.CONNECT:
						attempts <- time.Now()
						_, _ = packets.NewControlPacket(packets.CONNACK).WriteTo(c)
					case packets.SUBSCRIBE:
						sub := p.Content.(*packets.Subscribe)
						ack := packets.NewControlPacket(packets.SUBACK)
						sa := ack.Content.(*packets.Suback)
						sa.PacketID = sub.PacketID
						for range sub.Subscriptions {
							sa.Reasons = append(sa.Reasons, 0x87) // not authorized
						}
						_, _ = ack.WriteTo(c)
					}
				}
			}()
		}
	}()
	tr, err := mqtt.New("mqtt://"+l.Addr().String(), "proto::a", append(fastOpts(t),
		mqtt.WithTopic("a"), mqtt.WithReconnectBackoff(50*time.Millisecond, 400*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err = tr.Start(ctx, newRecorder(t))
	if err == nil {
		t.Fatal("Start succeeded although the broker refused the subscription")
	}
	if n := len(attempts); n < 2 || n > 10 {
		t.Fatalf("%d connection attempts in 700ms; want a few, with backoff", n)
	}
}

// TestBrokerStopsAnswering: a broker that keeps the connection open but
// stops answering (the peer vanished) is noticed through keep-alive pings.
func TestBrokerStopsAnswering(t *testing.T) {
	fb := newFakeBroker(t) // it never answers PINGREQ
	_, rec, _ := start(t, fb.url(), "proto::a", mqtt.WithTopic("a"), mqtt.WithKeepAlive(time.Second))
	fb.next(t)
	began := time.Now()
	down := rec.Event(mtp.Down)
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("silent broker noticed after %v", d)
	}
	if down.Err == nil {
		t.Error("Down without an error")
	}
	rec.Event(mtp.Up)
}

// TestKeepAliveHoldsIdleConnection: an idle connection with a one-second
// keep-alive stays up on mosquitto, which hangs up on a client silent for
// 1.5 keep-alive periods: PINGREQs go out, and their PINGRESPs are taken
// as the broker's sign of life.
func TestKeepAliveHoldsIdleConnection(t *testing.T) {
	url := brokertest.StartMosquitto(t)
	_, rec, _ := start(t, url, "proto::idle", mqtt.WithTopic("idle"), mqtt.WithKeepAlive(time.Second))
	peer, _, _ := start(t, url, "proto::peer", mqtt.WithTopic("peer"))
	idle := time.After(4 * time.Second)
	for waiting := true; waiting; {
		select {
		case ev := <-rec.Events:
			t.Fatalf("idle connection: %v event (%v)", ev.Kind, ev.Err)
		case <-idle:
			waiting = false
		}
	}
	send(t, peer, "idle", "still there")
	if got := rec.Record(); string(got.Data) != "still there" {
		t.Fatalf("record %q", got.Data)
	}
}

// TestShortLivedConnectionsBackOff: a broker that drops the client right
// after every SUBACK (as when another client takes over the client ID)
// must see the reconnection backoff grow. autopaho numbers its attempts
// from zero again after each lost connection, which would reconnect at
// once, in a tight loop.
func TestShortLivedConnectionsBackOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var connects atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					p, err := packets.ReadPacket(c)
					if err != nil {
						return
					}
					switch p.Type {
					case packets.CONNECT:
						connects.Add(1)
						_, _ = packets.NewControlPacket(packets.CONNACK).WriteTo(c)
					case packets.SUBSCRIBE:
						sub := p.Content.(*packets.Subscribe)
						ack := packets.NewControlPacket(packets.SUBACK)
						sa := ack.Content.(*packets.Suback)
						sa.PacketID = sub.PacketID
						sa.Reasons = make([]byte, len(sub.Subscriptions))
						_, _ = ack.WriteTo(c)
						// Hang up, once the client has had time to
						// come Up.
						time.Sleep(20 * time.Millisecond)
						return
					}
				}
			}()
		}
	}()
	_, rec, _ := start(t, "mqtt://"+l.Addr().String(), "proto::a", mqtt.WithTopic("a"),
		mqtt.WithReconnectBackoff(50*time.Millisecond, 400*time.Millisecond))
	rec.Event(mtp.Down)
	before := connects.Load()
	time.Sleep(time.Second)
	// Waits of 50-100, 50-200, then 50-400 ms: a handful of connections.
	if n := connects.Load() - before; n < 2 || n > 12 {
		t.Fatalf("%d connections in about a second; want a few, with a growing backoff", n)
	}
}
