package brokertest

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/embedbroker"
)

// EmbeddedConfig configures the project's own embedded broker
// (internal/embedbroker); see [embedbroker.Config] for each field.
type EmbeddedConfig struct {
	TLS               *tls.Config
	ACL               func(clientID, topic string, write bool) bool
	Interceptor       embedbroker.Interceptor
	MaximumPacketSize uint32
	Logger            *slog.Logger
}

// Embedded is an embedded broker owned by one test. Every Start creates a
// fresh broker (no state survives a restart) on the same port.
type Embedded struct {
	t    testing.TB
	cfg  EmbeddedConfig
	port int
	url  string

	mu sync.Mutex
	b  *embedbroker.Broker
}

// StartEmbedded starts an embedded MQTT 3.1.1/5 broker on a free loopback
// port for the rest of the test and returns its URL (mqtt://127.0.0.1:port).
func StartEmbedded(t testing.TB) string {
	t.Helper()
	return NewEmbedded(t, EmbeddedConfig{}).URL()
}

// NewEmbedded starts an embedded broker as cfg says; it is closed when
// the test ends.
func NewEmbedded(t testing.TB, cfg EmbeddedConfig) *Embedded {
	t.Helper()
	e := &Embedded{t: t, cfg: cfg, port: FreePort(t)}
	scheme := "mqtt"
	if cfg.TLS != nil {
		scheme = "mqtts"
	}
	e.url = fmt.Sprintf("%s://%s", scheme, hostPort(e.port))
	t.Cleanup(e.Stop)
	e.Start()
	return e
}

// URL is the broker's URL.
func (e *Embedded) URL() string { return e.url }

// Addr is the broker's host:port.
func (e *Embedded) Addr() string { return hostPort(e.port) }

// Broker is the running broker (nil while stopped), for inline publishes
// and its counters.
func (e *Embedded) Broker() *embedbroker.Broker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.b
}

// Start starts a fresh broker on the port; starting a running broker does
// nothing.
func (e *Embedded) Start() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.b != nil {
		return
	}
	cfg := embedbroker.Config{Addr: e.Addr(), TLS: e.cfg.TLS, ACL: e.cfg.ACL, Interceptor: e.cfg.Interceptor,
		MaximumPacketSize: e.cfg.MaximumPacketSize, Logger: e.cfg.Logger}
	// The port was free a moment ago, or was ours before a restart; give
	// the kernel a moment if it is still busy.
	var err error
	for range 50 {
		if e.b, err = embedbroker.Listen(cfg); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("brokertest: embedded broker: %v", err)
}

// Stop closes the broker and every client connection. Stopping a stopped
// broker does nothing. It may be called from any goroutine.
func (e *Embedded) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.b == nil {
		return
	}
	_ = e.b.Close()
	e.b = nil
}

// Restart closes the broker and starts a fresh one on the same port.
func (e *Embedded) Restart() {
	e.t.Helper()
	e.Stop()
	e.Start()
}
