package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// PahoPeer is a bare paho.golang MQTT 5 client (no autopaho, no gousp
// code): a reference point for benchmarks and a scriptable peer for tests.
// It subscribes to one topic and queues what arrives there.
type PahoPeer struct {
	Topic string
	cli   *paho.Client
	in    chan *paho.Publish

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// DialPaho connects a bare paho client to brokerURL (mqtt://host:port) and
// subscribes it to topic at QoS 1 (unless topic is empty). It disconnects
// when the test ends.
func DialPaho(tb testing.TB, brokerURL, topic string) *PahoPeer {
	tb.Helper()
	var id [6]byte
	_, _ = rand.Read(id[:])
	return DialPahoAs(tb, brokerURL, "bare-"+hex.EncodeToString(id[:]), topic)
}

// DialPahoAs is [DialPaho] with the given MQTT client ID, which broker
// ACLs may match (mosquitto's %c).
func DialPahoAs(tb testing.TB, brokerURL, clientID, topic string) *PahoPeer {
	tb.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		tb.Fatalf("brokertest: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		tb.Fatalf("brokertest: dial %s: %v", u.Host, err)
	}
	p := &PahoPeer{Topic: topic, in: make(chan *paho.Publish, 1024), stop: make(chan struct{})}
	p.cli = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				select {
				case p.in <- pr.Packet:
				case <-p.stop:
				}
				return true, nil
			},
		},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.cli.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 60}); err != nil {
		_ = conn.Close()
		tb.Fatalf("brokertest: paho connect: %v", err)
	}
	tb.Cleanup(p.Close)
	if topic != "" {
		if _, err := p.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
			tb.Fatalf("brokertest: paho subscribe %s: %v", topic, err)
		}
	}
	return p
}

// Client is the underlying paho client.
func (p *PahoPeer) Client() *paho.Client { return p.cli }

// Publish publishes payload to topic with Content Type usp.msg and the
// given Response Topic (none if empty).
func (p *PahoPeer) Publish(ctx context.Context, topic, responseTopic string, qos byte, payload []byte) error {
	_, err := p.cli.Publish(ctx, &paho.Publish{
		Topic:      topic,
		QoS:        qos,
		Payload:    payload,
		Properties: &paho.PublishProperties{ContentType: "usp.msg", ResponseTopic: responseTopic},
	})
	return err
}

// Receive returns the next message that arrived on the peer's topic.
func (p *PahoPeer) Receive(ctx context.Context) (*paho.Publish, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// RoundTrip publishes payload to topic with the peer's own topic as
// Response Topic and waits for the next message on that topic: one
// request/response exchange with bare paho.
func (p *PahoPeer) RoundTrip(ctx context.Context, topic string, qos byte, payload []byte) ([]byte, error) {
	if err := p.Publish(ctx, topic, p.Topic, qos, payload); err != nil {
		return nil, err
	}
	m, err := p.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return m.Payload, nil
}

// Echo answers every message that arrives on the peer's topic by
// publishing its payload to the message's Response Topic (with the peer's
// topic as Response Topic), at qos, until the peer is closed. Messages
// without a Response Topic are dropped.
func (p *PahoPeer) Echo(qos byte) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case m := <-p.in:
				if m.Properties == nil || m.Properties.ResponseTopic == "" {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = p.Publish(ctx, m.Properties.ResponseTopic, p.Topic, qos, m.Payload)
				cancel()
			case <-p.stop:
				return
			}
		}
	}()
}

// Close disconnects the peer and stops [PahoPeer.Echo].
func (p *PahoPeer) Close() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		_ = p.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
	})
}
