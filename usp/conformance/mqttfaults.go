package conformance

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/gousp/gousp/internal/embedbroker"
)

// brokerFaults are the kit broker's deliberate misbehaviours towards the
// agent's connections (never the equipment's own), guarded by the hook's
// lock.
type brokerFaults struct {
	// noResponseInfo: CONNACKs without Response Information and
	// subscribe-topic (11.10).
	noResponseInfo bool
	// refuseSubscribe: every SUBACK reason code is 0x87, Not authorized
	// (11.11).
	refuseSubscribe bool
	// refuse is how many of the next agent CONNECTs are refused (11.6).
	refuse int
}

// refuseConnect reports whether to refuse this CONNECT, and counts it.
func (f *brokerFaults) refuseConnect() bool {
	if f.refuse <= 0 {
		return false
	}
	f.refuse--
	return true
}

// WithholdResponseInfo makes the broker's CONNACKs to agents leave out
// the Response Information and subscribe-topic it normally adds (on:
// true), as TP-469 11.10 asks.
func (b *MQTTBroker) WithholdResponseInfo(on bool) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.faults.noResponseInfo = on
}

// RefuseSubscribe makes the broker answer the agents' SUBSCRIBEs with
// reason code 0x87 (Not authorized) for every filter (on: true), as
// TP-469 11.11 asks. The broker still holds the subscriptions; only the
// client is told otherwise.
func (b *MQTTBroker) RefuseSubscribe(on bool) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.faults.refuseSubscribe = on
}

// RefuseConnects makes the broker refuse the next n CONNECTs from agents
// (CONNACK 0x87, Not authorized; 0x05 to MQTT 3.1.1 clients): the kit's
// "MQTT server disabled" of TP-469 11.6. Each refused CONNECT is
// recorded with Refused set. n = 0 stops refusing.
func (b *MQTTBroker) RefuseConnects(n int) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.faults.refuse = n
}

// tlsLog remembers the TLS version negotiated on each connection, by the
// client's address, and when client hellos arrived; guarded by the hook's
// lock.
type tlsLog struct {
	versions map[string]uint16
	hellos   []time.Time
	cert     *tls.Certificate // the certificate presented now
	ca       *TestCA          // its issuer
}

// version returns the TLS version of the connection from addr, 0 for one
// over plain TCP.
func (l *tlsLog) version(addr net.Addr) uint16 {
	if addr == nil {
		return 0
	}
	return l.versions[addr.String()]
}

// StartMQTTBrokerTLS is [StartMQTTBroker] with a TLS listener (URL
// scheme mqtts) presenting a certificate for the loopback addresses and
// localhost that ca issues: the agent must trust ca (its CertPEM).
// TP-469 11.3, 4.1 and 2.8 check the agent's TLS connection to it. The
// broker takes TLS 1.0 and later, so that an agent that would settle for
// less than TLS 1.2 is seen doing it; each CONNECT records the version of
// its connection.
func StartMQTTBrokerTLS(addr, equipmentID string, ca *TestCA) (*MQTTBroker, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: broker address: %w", ErrInvalidOption, err)
	}
	if ca == nil {
		return nil, fmt.Errorf("%w: nil CA", ErrInvalidOption)
	}
	now := time.Now()
	cert, err := ca.ServerCert(now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, err
	}
	h := &wireHook{equipmentID: equipmentID, endpoints: map[string]string{}}
	h.tls.versions, h.tls.cert, h.tls.ca = map[string]uint16{}, &cert, ca
	base := &tls.Config{MinVersion: tls.VersionTLS10}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		remote := hello.Conn.RemoteAddr().String()
		h.mu.Lock()
		h.tls.hellos = append(h.tls.hellos, time.Now())
		c := h.tls.cert
		h.mu.Unlock()
		cfg := &tls.Config{MinVersion: tls.VersionTLS10, Certificates: []tls.Certificate{*c},
			VerifyConnection: func(cs tls.ConnectionState) error {
				h.mu.Lock()
				h.tls.versions[remote] = cs.Version
				h.mu.Unlock()
				return nil
			}}
		return cfg, nil
	}
	srv, err := embedbroker.Listen(embedbroker.Config{Addr: addr, Interceptor: h, TLS: base})
	if err != nil {
		return nil, fmt.Errorf("conformance: broker: %w", err)
	}
	return &MQTTBroker{srv: srv, hook: h}, nil
}

// TLS reports whether the broker listens with TLS.
func (b *MQTTBroker) TLS() bool {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	return b.hook.tls.cert != nil
}

// setCertificate makes a TLS broker present cert to the connections that
// follow (2.8 presents an expired one).
func (b *MQTTBroker) setCertificate(cert tls.Certificate) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	b.hook.tls.cert = &cert
}

// issuer returns the CA of a TLS broker's certificates.
func (b *MQTTBroker) issuer() *TestCA {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	return b.hook.tls.ca
}

// certificate returns the certificate a TLS broker presents now.
func (b *MQTTBroker) certificate() (tls.Certificate, bool) {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	if b.hook.tls.cert == nil {
		return tls.Certificate{}, false
	}
	return *b.hook.tls.cert, true
}

// helloCount returns how many TLS client hellos the broker has seen.
func (b *MQTTBroker) helloCount() int {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	return len(b.hook.tls.hellos)
}

// tlsVersionName names a TLS version for the evidence.
func tlsVersionName(v uint16) string {
	if v == 0 {
		return "plain TCP"
	}
	return tls.VersionName(v)
}
