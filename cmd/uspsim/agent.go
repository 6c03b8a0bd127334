package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp/usptest"
)

// agentReceiveMaximum is the MQTT Receive Maximum of a simulated agent: it
// answers one request at a time, so a few in flight are plenty, and paho
// sizes a queue per connection by it.
const agentReceiveMaximum = 32

// simAgent is one simulated device: a usptest agent whose transport it
// wraps, to see what goes out and comes in without touching the agent's
// handling. It is the mtp.Transport the agent serves and the mtp.Handler
// of the real transport.
type simAgent struct {
	idx   int
	id    string
	inner mtp.Transport
	h     mtp.Handler
	c     *counters
	agent *usptest.Agent
	fault string

	mu       sync.Mutex
	pending  map[string]time.Time // msg_id of a notification that wants a NotifyResp -> first sent
	answered map[string]bool      // msg_ids answered, kept only for agents that resend them anyway
	bootAt   time.Time
	gotFirst bool
	wasUp    bool
	downAt   time.Time
	conn     net.Conn // current network connection, to drop it on purpose
}

// agentID names agent i of a fleet.
func agentID(prefix string, i int) string { return fmt.Sprintf("proto::%s-%06d", prefix, i) }

// newSimAgent builds agent i of the fleet on the transport cfg asks for.
func newSimAgent(cfg *config, i int, c *counters) (*simAgent, error) {
	s := &simAgent{idx: i, id: agentID(cfg.prefix, i), c: c}
	var err error
	s.inner, err = s.transport(cfg, i)
	if err != nil {
		return nil, err
	}
	ctrl := mtp.Address{MTP: s.inner.Kind(), To: cfg.controllerAddr}
	if cfg.mtp == mtp.WebSocket {
		ctrl.To = cfg.controllerID // the agent's session with the controller it dialled
	}
	opts := []usptest.Option{
		usptest.WithTransport(s),
		usptest.WithController(cfg.controllerID, ctrl),
		usptest.WithNotifyRetry(cfg.notifyRetry, 16*cfg.notifyRetry),
	}
	s.agent, err = usptest.NewAgent(s.id, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.subscribe {
		// As if the controller had subscribed on an earlier visit: the
		// periodic event and the changing value reach it without a
		// setup phase.
		ctrlPath := "Device.LocalAgent.Controller.1"
		m := s.agent.Model()
		for j, sub := range []map[string]string{
			{"NotifType": "Event", "ReferenceList": periodicEvent},
			{"NotifType": "ValueChange", "ReferenceList": changingParam},
		} {
			sub["ID"] = fmt.Sprintf("uspsim-%d", j+1)
			sub["Enable"], sub["Recipient"], sub["NotifRetry"], sub["Persistent"] = "true", ctrlPath, "true", "true"
			if _, err := m.AddInstance("Device.LocalAgent.Subscription.", sub); err != nil {
				return nil, fmt.Errorf("uspsim: subscription: %w", err)
			}
		}
	}
	return s, nil
}

// transport returns the agent's real transport; its dialer remembers the
// network connection so that the script can drop it.
func (s *simAgent) transport(cfg *config, i int) (mtp.Transport, error) {
	target := cfg.targets[i%len(cfg.targets)]
	switch cfg.mtp {
	case mtp.MQTT:
		opts := []mqtt.Option{
			mqtt.WithTopic(cfg.topicPrefix + s.id),
			mqtt.WithClientID(s.id),
			mqtt.WithReceiveMaximum(agentReceiveMaximum),
			mqtt.WithKeepAlive(cfg.keepAlive),
			mqtt.WithReconnectBackoff(cfg.backoffMin, cfg.backoffMax),
			mqtt.WithDialer(func(ctx context.Context, u *url.URL, tlsCfg *tls.Config) (net.Conn, error) {
				return s.dial(ctx, u.Host, tlsCfg)
			}),
		}
		switch cfg.mqttClient {
		case "lean":
			// paho's client alone: half the memory of autopaho's
			// connection (see BENCHMARKS.md, Fleet simulation).
			opts = append(opts, mqtt.WithLeanConnection())
		case "own":
		case "autopaho":
			opts = append(opts, mqtt.WithPahoClient())
		default:
			// One goroutine a connection (BENCHMARKS.md, Memory
			// per agent: the minimal client).
			opts = append(opts, mqtt.WithMinimalClient())
		}
		return mqtt.New(target, s.id, opts...)
	case mtp.STOMP:
		return stomp.New(target, s.id,
			stomp.WithDestination(cfg.topicPrefix+s.id),
			stomp.WithReconnectBackoff(cfg.backoffMin, cfg.backoffMax),
			stomp.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return s.dial(ctx, addr, nil)
			}))
	case mtp.WebSocket:
		d := &gws.Dialer{NetDialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return s.dial(ctx, addr, nil)
		}}
		return websocket.NewClient(target, s.id, websocket.WithPeerID(cfg.controllerID),
			websocket.WithBackoff(cfg.backoffMin, cfg.backoffMax), websocket.WithDialer(d))
	}
	return nil, fmt.Errorf("uspsim: MTP %q not supported", cfg.mtp)
}

func (s *simAgent) dial(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	var conn net.Conn
	var err error
	if tlsCfg != nil {
		d := tls.Dialer{Config: tlsCfg}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	return conn, nil
}

// drop closes the network connection under the transport, as a network
// failure would; the transport reconnects by itself.
func (s *simAgent) drop() bool {
	s.mu.Lock()
	conn := s.conn
	s.conn = nil
	s.mu.Unlock()
	if conn == nil {
		return false
	}
	_ = conn.Close()
	return true
}

// pendingCount is the number of notifications still waiting for their
// NotifyResp.
func (s *simAgent) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Kind, State and Close pass through to the real transport.
func (s *simAgent) Kind() mtp.Kind                  { return s.inner.Kind() }
func (s *simAgent) State() mtp.State                { return s.inner.State() }
func (s *simAgent) Close(ctx context.Context) error { return s.inner.Close(ctx) }

// Start starts the real transport with s as its handler.
func (s *simAgent) Start(ctx context.Context, h mtp.Handler) error {
	s.h = h
	return s.inner.Start(ctx, s)
}

// Send looks at what the agent sends, then sends it.
func (s *simAgent) Send(ctx context.Context, to mtp.Address, data []byte) error {
	s.outgoing(data)
	err := s.inner.Send(ctx, to, data)
	if err != nil {
		s.c.sendErrors.Add(1)
	}
	return err
}

// HandleRecord looks at what the controller sent, then hands it to the
// agent.
func (s *simAgent) HandleRecord(in mtp.Inbound) {
	s.incoming(in.Data)
	s.h.HandleRecord(in)
}

// HandleEvent counts lost connections and reconnections.
func (s *simAgent) HandleEvent(ev mtp.Event) {
	now := time.Now()
	switch ev.Kind {
	case mtp.Up:
		s.mu.Lock()
		again, downAt := s.wasUp, s.downAt
		s.wasUp = true
		s.mu.Unlock()
		if again {
			s.c.reconnects.Add(1)
			if !downAt.IsZero() {
				s.c.observe(&s.c.reconnectIn, now.Sub(downAt))
			}
		}
	case mtp.Down:
		s.mu.Lock()
		s.downAt = now
		s.mu.Unlock()
		s.c.downs.Add(1)
	}
	s.h.HandleEvent(ev)
}

// decode returns the record and, for a NoSessionContext record, its
// message.
func decode(data []byte) (*usprecord.Record, *uspmsg.Msg, error) {
	rec, err := record.Decode(data, record.WithoutValidation())
	if err != nil {
		return nil, nil, err
	}
	nsc := rec.GetNoSessionContext()
	if nsc == nil {
		return rec, nil, nil
	}
	m := &uspmsg.Msg{}
	if err := m.UnmarshalVT(nsc.GetPayload()); err != nil {
		return rec, nil, err
	}
	return rec, m, nil
}

func (s *simAgent) outgoing(data []byte) {
	rec, m, err := decode(data)
	if err != nil {
		return // a fault the agent injects on purpose
	}
	if m == nil {
		switch rec.GetRecordType().(type) {
		case *usprecord.Record_MqttConnect, *usprecord.Record_StompConnect, *usprecord.Record_WebsocketConnect:
			s.c.connectsSent.Add(1)
		}
		return
	}
	if m.GetBody().GetResponse() != nil || m.GetBody().GetError() != nil {
		s.c.responses.Add(1)
		return
	}
	n := m.GetBody().GetRequest().GetNotify()
	if n == nil {
		return
	}
	now := time.Now()
	boot := n.GetEvent().GetEventName() == "Boot!"
	if !n.GetSendResp() {
		s.c.notifyNoAck.Add(1)
		if boot {
			s.c.bootsSent.Add(1)
			s.mu.Lock()
			if s.bootAt.IsZero() {
				s.bootAt = now
			}
			s.mu.Unlock()
		}
		return
	}
	id := m.GetHeader().GetMsgId()
	s.mu.Lock()
	if _, again := s.pending[id]; again || s.answered[id] {
		s.mu.Unlock()
		s.c.notifyRetrans.Add(1)
		return
	}
	if s.pending == nil {
		s.pending = map[string]time.Time{}
	}
	s.pending[id] = now
	if boot && s.bootAt.IsZero() {
		s.bootAt = now
	}
	s.mu.Unlock()
	s.c.notifySent.Add(1)
	if boot {
		s.c.bootsSent.Add(1)
	}
}

func (s *simAgent) incoming(data []byte) {
	rec, m, err := decode(data)
	if err != nil {
		s.c.undecodable.Add(1)
		return
	}
	if m == nil {
		if rec.GetDisconnect() != nil {
			s.c.countType("DisconnectRecord")
		}
		return
	}
	now := time.Now()
	t := m.GetHeader().GetMsgType()
	switch {
	case t == uspmsg.Header_NOTIFY_RESP:
		id := m.GetHeader().GetMsgId()
		s.mu.Lock()
		sent, ok := s.pending[id]
		delete(s.pending, id)
		if ok && s.fault == "ignore-notify-resp" {
			if s.answered == nil {
				s.answered = map[string]bool{}
			}
			s.answered[id] = true
		}
		s.mu.Unlock()
		if !ok {
			s.c.notifyRespUnknown.Add(1)
			return
		}
		s.c.notifyAnswered.Add(1)
		s.c.observe(&s.c.notifyResp, now.Sub(sent))
	case t == uspmsg.Header_ERROR || m.GetBody().GetError() != nil:
		s.c.errorsFromCtl.Add(1)
	case m.GetBody().GetRequest() != nil:
		s.c.requests.Add(1)
		s.c.countType(t.String())
		s.mu.Lock()
		first := !s.gotFirst && !s.bootAt.IsZero()
		s.gotFirst = s.gotFirst || first
		bootAt := s.bootAt
		s.mu.Unlock()
		if first {
			s.c.observe(&s.c.firstReq, now.Sub(bootAt))
		}
	}
}
