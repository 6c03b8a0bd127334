package mqtt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// ErrSubscriptionRefused reports a SUBSCRIBE or UNSUBSCRIBE the broker
// answered with a failure reason code.
var ErrSubscriptionRefused = errors.New("mqtt: broker refused the subscription")

// Settings is what a transport uses for its connection, as an agent's
// Device.MQTT.Client.{i}. object reports it.
type Settings struct {
	// Broker is the broker's URL as given to [New] (normalised to
	// mqtt:// or mqtts://).
	Broker *url.URL
	// ClientID is the client identifier of the next CONNECT: the one set
	// with [WithClientID] or [Transport.SetClientID], else the Assigned Client Identifier of the
	// broker's latest CONNACK (R-MQTT.9), else "".
	ClientID string
	// Username is the user name of [WithCredentials] ("" without).
	Username string
	// KeepAlive is the Keep Alive of the next CONNECT.
	KeepAlive time.Duration
	// Topic is the topic of [WithTopic].
	Topic string
	// ResponseInformation is the Response Information of the latest
	// CONNACK ("" when the broker gave none).
	ResponseInformation string
	// ConnectRetry is the TR-369 reconnection rule of [WithConnectRetry]
	// or [Transport.SetConnectRetry]; nil when the transport uses its
	// default backoff.
	ConnectRetry *ConnectRetry
}

// Settings returns the connection settings in use.
func (t *Transport) Settings() Settings {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.cfg.clientID
	if id == "" {
		id = t.assignedID
	}
	s := Settings{Broker: t.url, ClientID: id, Username: t.cfg.user, KeepAlive: t.cfg.keepAlive,
		Topic: t.cfg.topic, ResponseInformation: t.responseInfo}
	if t.cfg.retry != nil {
		r := *t.cfg.retry
		s.ConnectRetry = &r
	}
	return s
}

// SetClientID changes the client identifier of the next connection, as an
// agent does when its Device.MQTT.Client.{i}.ClientID is set: the
// current connection keeps its own. An empty id also forgets the
// identifier the broker assigned, so that the next CONNECT asks for a new
// one (which is then kept, R-MQTT.9).
func (t *Transport) SetClientID(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.clientID, t.assignedID = id, ""
}

// SetKeepAlive changes the Keep Alive of the next connection (whole
// seconds; 0 turns keep-alive off). The broker's Server Keep Alive, when
// it sends one, still wins.
func (t *Transport) SetKeepAlive(d time.Duration) error {
	if d < 0 || d > 65535*time.Second {
		return fmt.Errorf("mqtt: keep alive %v out of range", d)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg.keepAlive = d.Truncate(time.Second)
	return nil
}

// Subscribe adds a subscription to filter at QoS qos (0 or 1) besides
// the transport's own topics, as an agent does for a new
// Device.MQTT.Client.{i}.Subscription.{i}. Records published there reach
// the handler like any other. The subscription is kept across
// reconnections; while the transport is down it is only recorded and made
// on the next connection. Subscribing again to a filter changes its QoS.
func (t *Transport) Subscribe(ctx context.Context, filter string, qos byte) error {
	if err := checkTopicFilter(filter); err != nil {
		return err
	}
	if qos > 1 {
		return fmt.Errorf("mqtt: subscribe %q: QoS %d (USP uses 0 or 1)", filter, qos)
	}
	t.mu.Lock()
	if t.extra == nil {
		t.extra = map[string]byte{}
	}
	t.extra[filter] = qos
	var pub publisher
	if t.cur != nil {
		pub = t.cur.pub
	}
	t.mu.Unlock()
	if pub == nil {
		return nil
	}
	sa, err := pub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos, RetainHandling: 2}}})
	if err != nil {
		return fmt.Errorf("mqtt: subscribe %q: %w", filter, err)
	}
	if len(sa.Reasons) == 0 || sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("%w: %q (reasons %v)", ErrSubscriptionRefused, filter, sa.Reasons)
	}
	return nil
}

// Unsubscribe ends a subscription made with [Transport.Subscribe]. A
// filter that was not subscribed that way is left alone.
func (t *Transport) Unsubscribe(ctx context.Context, filter string) error {
	t.mu.Lock()
	_, had := t.extra[filter]
	delete(t.extra, filter)
	var pub publisher
	if t.cur != nil {
		pub = t.cur.pub
	}
	t.mu.Unlock()
	if !had || pub == nil {
		return nil
	}
	ua, err := pub.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}})
	if err != nil {
		return fmt.Errorf("mqtt: unsubscribe %q: %w", filter, err)
	}
	if len(ua.Reasons) > 0 && ua.Reasons[0] >= 0x80 {
		return fmt.Errorf("%w: unsubscribe %q (reason %#x)", ErrSubscriptionRefused, filter, ua.Reasons[0])
	}
	return nil
}

// extraSubscriptions returns the filters of [Transport.Subscribe] with
// their QoS.
func (t *Transport) extraSubscriptions() map[string]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.extra)
}
