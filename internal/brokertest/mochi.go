package brokertest

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gousp/gousp/internal/mochilisten"
)

// MochiConfig configures an embedded mochi-mqtt broker.
type MochiConfig struct {
	// TLS, when set, makes the listener speak TLS (URL scheme mqtts).
	TLS *tls.Config
	// Hooks are added after the allow-all authentication hook, in order;
	// they see every connection, packet and publish (useful to inspect
	// CONNECT properties or to add CONNACK properties).
	Hooks []mqtt.Hook
	// MaximumPacketSize is the broker's packet size limit (0: none).
	MaximumPacketSize uint32
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
	// ACL, when set, decides which topics a client may publish to (write)
	// and which filters it may subscribe to or receive from; a refused
	// subscription gets SUBACK reason 0x87. Nil allows everything.
	ACL func(cl *mqtt.Client, topic string, write bool) bool
}

// Mochi is an embedded mochi-mqtt broker owned by one test. Every Start
// creates a fresh broker (no state survives a restart) on the same port.
type Mochi struct {
	t    testing.TB
	cfg  MochiConfig
	port int
	url  string

	mu  sync.Mutex
	srv *mqtt.Server
}

// NewMochi starts an embedded broker as cfg says; it is closed when the
// test ends.
func NewMochi(t testing.TB, cfg MochiConfig) *Mochi {
	t.Helper()
	m := &Mochi{t: t, cfg: cfg, port: FreePort(t)}
	scheme := "mqtt"
	if cfg.TLS != nil {
		scheme = "mqtts"
	}
	m.url = fmt.Sprintf("%s://%s", scheme, hostPort(m.port))
	t.Cleanup(m.Stop)
	m.Start()
	return m
}

// URL is the broker's URL.
func (m *Mochi) URL() string { return m.url }

// Addr is the broker's host:port.
func (m *Mochi) Addr() string { return hostPort(m.port) }

// Server is the running broker (nil while stopped), for inline publishes
// and inspection.
func (m *Mochi) Server() *mqtt.Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.srv
}

// Start starts a fresh broker on the port; starting a running broker does
// nothing.
func (m *Mochi) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil {
		return
	}
	logger := m.cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = m.cfg.MaximumPacketSize
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: logger, Capabilities: caps})
	if err := srv.AddHook(&allowAll{acl: m.cfg.ACL}, nil); err != nil {
		m.t.Fatalf("brokertest: mochi hook: %v", err)
	}
	for _, h := range m.cfg.Hooks {
		if err := srv.AddHook(h, nil); err != nil {
			m.t.Fatalf("brokertest: mochi hook %s: %v", h.ID(), err)
		}
	}
	l := mochilisten.New("tcp", m.Addr(), m.cfg.TLS)
	// The port was free a moment ago, or was ours before a restart; give
	// the kernel a moment if it is still busy.
	var err error
	for range 50 {
		if err = srv.AddListener(l); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		m.t.Fatalf("brokertest: mochi listen %s: %v", m.Addr(), err)
	}
	if err := srv.Serve(); err != nil {
		m.t.Fatalf("brokertest: mochi serve: %v", err)
	}
	m.srv = srv
}

// Stop closes the broker and every client connection. Stopping a stopped
// broker does nothing. It may be called from any goroutine.
func (m *Mochi) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv == nil {
		return
	}
	_ = m.srv.Close()
	m.srv = nil
}

// Restart closes the broker and starts a fresh one on the same port.
func (m *Mochi) Restart() {
	m.t.Helper()
	m.Stop()
	m.Start()
}

// allowAll lets every client connect and use every topic that acl, if
// set, allows (mochi's own allow-all hook lives in a package with
// dependencies outside go.mod).
type allowAll struct {
	mqtt.HookBase
	acl func(*mqtt.Client, string, bool) bool
}

func (*allowAll) ID() string { return "gousp-allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (a *allowAll) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return a.acl == nil || a.acl(cl, topic, write)
}
