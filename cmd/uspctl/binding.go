package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strings"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/record"
)

// newBinding makes the transport the settings ask for. Settings that
// cannot work are usage errors.
func newBinding(a *app) (binding, error) {
	switch mtp.Kind(a.s.mtp) {
	case mtp.MQTT:
		return newMQTTBinding(a)
	case mtp.STOMP:
		return newSTOMPBinding(a)
	case mtp.WebSocket:
		return newWebSocketBinding(a)
	case mtp.UDS:
		return newUDSBinding(a)
	}
	return binding{}, usageErrorf("--mtp must be mqtt, stomp, websocket or uds, not %q", a.s.mtp)
}

// randomTag returns a short random string for default reply topics, so
// that two uspctl runs with the same controller ID do not take each other's
// answers.
func randomTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// instanceOf returns the instance part of an endpoint ID, for names.
func instanceOf(endpointID string) string {
	if id, err := record.ParseEndpointID(endpointID); err == nil {
		return id.Instance
	}
	return "uspctl"
}

// tlsConfig builds the TLS configuration from --tls-* flags, or nil when
// none is given.
func (s *settings) tlsConfig() (*tls.Config, error) {
	if s.tlsCA == "" && s.tlsCert == "" && s.tlsKey == "" && !s.tlsInsecure {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.tlsInsecure}
	if s.tlsCA != "" {
		pem, err := os.ReadFile(s.tlsCA)
		if err != nil {
			return nil, usageErrorf("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--tls-ca: no PEM certificate in %s", s.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return nil, usageErrorf("--tls-cert and --tls-key go together")
	}
	if s.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
		if err != nil {
			return nil, usageErrorf("--tls-cert/--tls-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// connectTimeout bounds one connection attempt inside --timeout.
func (s *settings) connectTimeout() time.Duration { return min(s.timeout, 10*time.Second) }

func newMQTTBinding(a *app) (binding, error) {
	s := &a.s
	broker := s.broker
	if broker == "" {
		broker = defaultMQTTBroker
	}
	topic, random := s.topic, ""
	if topic == "" {
		topic = "/usp/controller/" + instanceOf(s.controllerID) + "-" + randomTag()
		random = topic
	}
	if s.qos != 0 && s.qos != 1 {
		return binding{}, usageErrorf("--qos must be 0 or 1")
	}
	opts := []mqtt.Option{
		mqtt.WithTopic(topic),
		mqtt.WithQoS(byte(s.qos)),
		mqtt.WithLogger(a.log),
		mqtt.WithConnectTimeout(s.connectTimeout()),
		mqtt.WithReconnectBackoff(100*time.Millisecond, 2*time.Second),
		// An agent that is not on the broker: say so at once rather than
		// after --timeout.
		mqtt.WithNoSubscriberError(),
	}
	if s.username != "" || s.password != "" {
		opts = append(opts, mqtt.WithCredentials(s.username, s.password))
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return binding{}, err
	}
	if tlsCfg != nil {
		opts = append(opts, mqtt.WithTLS(tlsCfg))
	}
	t, err := mqtt.New(broker, s.controllerID, opts...)
	if err != nil {
		return binding{}, usageErrorf("%v", err)
	}
	return binding{
		t:        t,
		describe: "MQTT broker " + broker,
		address: func(ag agentSpec) (mtp.Address, bool) {
			return topicAddress(mtp.MQTT, ag, s.agentTopic)
		},
		hint:        "give the agent's topic with --agent-topic",
		randomLocal: random,
		local:       topic,
		localFlag:   "--topic",
	}, nil
}

// topicAddress is the address of an agent behind a broker: its own from
// the agents list, else the configured pattern.
func topicAddress(kind mtp.Kind, ag agentSpec, pattern string) (mtp.Address, bool) {
	switch {
	case ag.Addr != "":
		return mtp.Address{MTP: kind, To: ag.Addr}, true
	case pattern != "":
		return mtp.Address{MTP: kind, To: expand(pattern, ag.ID)}, true
	}
	return mtp.Address{}, false
}

func newWebSocketBinding(a *app) (binding, error) {
	s := &a.s
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return binding{}, err
	}
	var roots *x509.CertPool
	if s.tlsAgentID {
		if tlsCfg == nil || tlsCfg.RootCAs == nil || s.tlsInsecure {
			return binding{}, usageErrorf("--tls-agent-id needs --tls-ca (the CA of the agents' certificates) and no --tls-insecure")
		}
		roots = tlsCfg.RootCAs
	}
	switch {
	case s.listen != "" && s.wsURL != "":
		return binding{}, usageErrorf("--listen (server role) and --ws-url (client role) exclude each other")
	case s.listen != "":
		opts := []websocket.Option{
			websocket.WithListenAddr(s.listen),
			websocket.WithEndpointID(s.controllerID),
			websocket.WithLogger(a.log),
			websocket.WithHandshakeTimeout(s.connectTimeout()),
		}
		if tlsCfg != nil {
			opts = append(opts, websocket.WithTLS(tlsCfg))
		}
		if roots != nil {
			opts = append(opts, websocket.WithClientCertificates(roots))
		}
		srv, err := websocket.NewServer(opts...)
		if err != nil {
			return binding{}, usageErrorf("%v", err)
		}
		return binding{
			t:        srv,
			describe: "WebSocket listener " + s.listen,
			// Agents dial in; their address is their session.
			address: func(agentSpec) (mtp.Address, bool) { return mtp.Address{}, false },
			hint:    "the agent must dial ws://" + s.listen + "/",
		}, nil
	case s.wsURL != "":
		var peer string
		opts := []websocket.Option{
			websocket.WithLogger(a.log),
			websocket.WithHandshakeTimeout(s.connectTimeout()),
			websocket.WithBackoff(100*time.Millisecond, 2*time.Second),
		}
		if len(s.agents) == 1 && s.agentsFile == "" {
			peer, _, _ = strings.Cut(s.agents[0], "=")
			opts = append(opts, websocket.WithPeerID(peer))
		} else if len(s.agents) > 1 || s.agentsFile != "" {
			return binding{}, usageErrorf("--ws-url reaches one agent; give one --agent")
		}
		if tlsCfg != nil {
			opts = append(opts, websocket.WithTLS(tlsCfg))
		}
		if roots != nil {
			opts = append(opts, websocket.WithServerCertificate(roots))
		}
		c, err := websocket.NewClient(s.wsURL, s.controllerID, opts...)
		if err != nil {
			return binding{}, usageErrorf("%v", err)
		}
		return binding{
			t:        c,
			describe: "WebSocket server " + s.wsURL,
			address: func(ag agentSpec) (mtp.Address, bool) {
				return mtp.Address{MTP: mtp.WebSocket, To: ag.ID}, ag.ID == peer
			},
		}, nil
	}
	return binding{}, usageErrorf("--mtp websocket needs --listen ADDR (agents dial in) or --ws-url URL (dial the agent)")
}

func newUDSBinding(a *app) (binding, error) {
	s := &a.s
	if s.socket == "" {
		return binding{}, usageErrorf("--mtp uds needs --socket PATH")
	}
	if len(s.agents) > 1 || s.agentsFile != "" {
		return binding{}, usageErrorf("--socket reaches one agent; give one --agent")
	}
	c, err := uds.NewClient(s.socket, s.controllerID,
		uds.WithLogger(a.log),
		uds.WithHandshakeTimeout(s.connectTimeout()),
		uds.WithRetryInterval(100*time.Millisecond, time.Second))
	if err != nil {
		return binding{}, usageErrorf("%v", err)
	}
	return binding{
		t:        c,
		describe: "Unix socket " + s.socket,
		address: func(ag agentSpec) (mtp.Address, bool) {
			return mtp.Address{MTP: mtp.UDS, To: ag.ID}, true
		},
	}, nil
}

func newSTOMPBinding(a *app) (binding, error) {
	s := &a.s
	broker := s.broker
	if broker == "" {
		broker = defaultSTOMPBroker
	}
	dest, random := s.destination, ""
	if dest == "" {
		dest = "/queue/usp-controller-" + instanceOf(s.controllerID) + "-" + randomTag()
		random = dest
	}
	opts := []stomp.Option{
		stomp.WithDestination(dest),
		stomp.WithLogger(a.log),
		stomp.WithConnectTimeout(s.connectTimeout()),
		stomp.WithReconnectBackoff(100*time.Millisecond, 2*time.Second),
	}
	if s.username != "" || s.password != "" {
		opts = append(opts, stomp.WithCredentials(s.username, s.password))
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return binding{}, err
	}
	if tlsCfg != nil {
		opts = append(opts, stomp.WithTLS(tlsCfg))
	}
	t, err := stomp.New(broker, s.controllerID, opts...)
	if err != nil {
		return binding{}, usageErrorf("%v", err)
	}
	return binding{
		t:        t,
		describe: "STOMP broker " + broker,
		address: func(ag agentSpec) (mtp.Address, bool) {
			return topicAddress(mtp.STOMP, ag, s.agentDestination)
		},
		hint:        "give the agent's destination with --agent-destination",
		randomLocal: random,
		local:       dest,
		localFlag:   "--destination",
	}, nil
}
