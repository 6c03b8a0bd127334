package usptest

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// mqttTransport is what the agent needs of an MQTT transport to show it
// as a Device.MQTT.Client.{i}. object; mtp/mqtt's Transport has it.
type mqttTransport interface {
	Settings() mqtt.Settings
	SetClientID(id string)
	SetKeepAlive(d time.Duration) error
	Subscribe(ctx context.Context, filter string, qos byte) error
	Unsubscribe(ctx context.Context, filter string) error
}

// mqttRetrier is the part of an MQTT transport that follows TR-369's
// reconnection rule; mtp/mqtt's Transport has it.
type mqttRetrier interface {
	SetConnectRetry(mqtt.ConnectRetry) error
}

// mqttSubscribeTimeout bounds one SUBSCRIBE or UNSUBSCRIBE made for a
// Subscription object.
const mqttSubscribeTimeout = 5 * time.Second

// seedMQTTClients gives each MQTT transport a Device.MQTT.Client.{i}.
// instance that reports its real connection settings. ClientID and
// KeepAliveTime are writable and apply from the next connection, as in an
// agent; the other settings are read-only, since the transport cannot
// change them while it runs and a writable parameter that changes nothing
// would lie. Subscription.{i}. objects added under it are real
// subscriptions (see syncMQTT).
func (a *Agent) seedMQTTClients() {
	for _, b := range a.bindings {
		mt, ok := b.t.(mqttTransport)
		if !ok || b.t.Kind() != mtp.MQTT {
			continue
		}
		s := mt.Settings()
		host, port := "", "1883"
		if s.Broker != nil {
			host = s.Broker.Hostname()
			if p := s.Broker.Port(); p != "" {
				port = p
			} else if s.Broker.Scheme == "mqtts" {
				port = "8883"
			}
		}
		transport := "TCP/IP"
		if s.Broker != nil && s.Broker.Scheme == "mqtts" {
			transport = "TLS"
		}
		n := len(a.mqttClients) + 1
		vals := map[string]string{
			"Alias": "cpe-" + strconv.Itoa(n), "Name": "mqtt" + strconv.Itoa(n),
			"Status": "Connecting", "BrokerAddress": host, "BrokerPort": port, "TransportProtocol": transport,
			"ClientID": s.ClientID, "Username": s.Username,
			"KeepAliveTime": strconv.Itoa(int(s.KeepAlive / time.Second)),
		}
		// A transport given mqtt.WithConnectRetry reports its rule; one
		// with gousp's default backoff shows TR-181's defaults, which it
		// follows once a controller sets any of the three.
		if r := s.ConnectRetry; r != nil {
			vals["ConnectRetryTime"] = strconv.Itoa(int(max(r.Time/time.Second, 1)))
			vals["ConnectRetryIntervalMultiplier"] = strconv.Itoa(int(r.Multiplier))
			vals["ConnectRetryMaxInterval"] = strconv.Itoa(int(max(r.MaxInterval/time.Second, 1)))
		}
		path, err := a.model.AddInstance("Device.MQTT.Client.", vals)
		if err != nil { // a model without Device.MQTT.
			return
		}
		a.mu.Lock()
		b.mqttClient = path
		a.mqttClients = append(a.mqttClients, b)
		a.mu.Unlock()
	}
}

// mqttUp refreshes what a new connection changed: the Status, the client
// identifier the broker may have assigned, its Response Information.
func (a *Agent) mqttUp(b *binding, up bool) {
	a.mu.Lock()
	path := b.mqttClient
	a.mu.Unlock()
	mt, ok := b.t.(mqttTransport)
	if path == "" || !ok {
		return
	}
	m := a.model
	if !up {
		_ = m.Set(path+"Status", "Connecting")
		return
	}
	s := mt.Settings()
	_ = m.Set(path+"ClientID", s.ClientID)
	_ = m.Set(path+"ResponseInformation", s.ResponseInformation)
	_ = m.Set(path+"Status", "Connected")
}

// mqttChanged reports whether changes touch a Device.MQTT.Client.
// subscription, or the client's settings.
func mqttChanged(chs []change) (subs, settings bool) {
	for _, c := range chs {
		if !strings.HasPrefix(c.path, "Device.MQTT.Client.") {
			continue
		}
		switch {
		case strings.Contains(c.path, ".Subscription."):
			subs = subs || !strings.HasSuffix(c.path, ".Status")
		case strings.HasSuffix(c.path, ".ClientID"), strings.HasSuffix(c.path, ".KeepAliveTime"),
			strings.Contains(c.path, ".ConnectRetry"):
			settings = true
		}
	}
	return subs, settings
}

// applyMQTTSettings hands the ClientID and KeepAliveTime of each
// Device.MQTT.Client.{i}. to its transport, for the next connection.
func (a *Agent) applyMQTTSettings() {
	a.mu.Lock()
	clients := append([]*binding(nil), a.mqttClients...)
	a.mu.Unlock()
	for _, b := range clients {
		mt := b.t.(mqttTransport)
		vals, err := a.model.Values(b.mqttClient)
		if err != nil {
			continue
		}
		s := mt.Settings()
		if id := vals[b.mqttClient+"ClientID"]; id != s.ClientID {
			mt.SetClientID(id)
		}
		if secs, err := datamodel.ParseUnsignedInt(vals[b.mqttClient+"KeepAliveTime"]); err == nil &&
			time.Duration(secs)*time.Second != s.KeepAlive {
			_ = mt.SetKeepAlive(time.Duration(secs) * time.Second)
		}
		a.applyConnectRetry(b, vals, s.ConnectRetry)
	}
}

// applyConnectRetry hands the client's ConnectRetryTime,
// ConnectRetryIntervalMultiplier and ConnectRetryMaxInterval to its
// transport when they differ from the rule it follows (whole seconds:
// a transport given a shorter mqtt.WithConnectRetry keeps it until they
// are set).
func (a *Agent) applyConnectRetry(b *binding, vals map[string]string, cur *mqtt.ConnectRetry) {
	rt, ok := b.t.(mqttRetrier)
	if !ok {
		return
	}
	num := func(name string) uint64 {
		v, _ := datamodel.ParseUnsignedInt(vals[b.mqttClient+name])
		return uint64(v)
	}
	secs, mult, maxSecs := num("ConnectRetryTime"), num("ConnectRetryIntervalMultiplier"), num("ConnectRetryMaxInterval")
	if cur == nil && secs == 5 && mult == 2000 && maxSecs == 30720 {
		return // TR-181's defaults, never set: the default backoff stays
	}
	if cur != nil && uint64(max(cur.Time/time.Second, 1)) == secs && uint64(cur.Multiplier) == mult &&
		uint64(max(cur.MaxInterval/time.Second, 1)) == maxSecs {
		return
	}
	_ = rt.SetConnectRetry(mqtt.ConnectRetry{Time: time.Duration(secs) * time.Second,
		Multiplier: uint32(min(mult, 65535)), MaxInterval: time.Duration(maxSecs) * time.Second})
}

// mqttSub is one enabled Subscription object.
type mqttSub struct {
	path  string
	topic string
	qos   byte
}

// syncMQTT makes each MQTT transport's subscriptions what the enabled
// Device.MQTT.Client.{i}.Subscription.{i}. objects ask for: SUBSCRIBE for
// a new or changed one, UNSUBSCRIBE for one disabled, deleted or moved to
// another topic. It runs on the worker, after the response to the
// request that changed them.
func (a *Agent) syncMQTT() {
	a.mu.Lock()
	clients := append([]*binding(nil), a.mqttClients...)
	a.mu.Unlock()
	m := a.model
	for _, b := range clients {
		mt := b.t.(mqttTransport)
		want := map[string]mqttSub{}
		var disabled []string
		m.mu.RLock()
		if c := m.instByPath(b.mqttClient); c != nil {
			if t := c.tables.get("Subscription"); t != nil {
				for _, o := range t.sorted() {
					en, _ := datamodel.ParseBool(o.val("Enable"))
					q, _ := datamodel.ParseUnsignedInt(o.val("QoS"))
					if !en || o.val("Topic") == "" {
						disabled = append(disabled, o.path)
						continue
					}
					want[o.val("Topic")] = mqttSub{path: o.path, topic: o.val("Topic"), qos: byte(min(q, 255))}
				}
			}
		}
		m.mu.RUnlock()
		ctx, cancel := context.WithTimeout(a.runCtx, mqttSubscribeTimeout)
		for topic, qos := range b.mqttSubs {
			if s, ok := want[topic]; ok && s.qos == qos {
				continue
			}
			_ = mt.Unsubscribe(ctx, topic)
			delete(b.mqttSubs, topic)
		}
		for _, p := range disabled {
			_ = m.Set(p+"Status", "Unsubscribed")
		}
		for topic, s := range want {
			if _, ok := b.mqttSubs[topic]; ok {
				continue
			}
			if err := mt.Subscribe(ctx, topic, s.qos); err != nil {
				_ = m.Set(s.path+"Status", "Error")
				continue
			}
			if b.mqttSubs == nil {
				b.mqttSubs = map[string]byte{}
			}
			b.mqttSubs[topic] = s.qos
			_ = m.Set(s.path+"Status", "Subscribed")
		}
		cancel()
	}
}
