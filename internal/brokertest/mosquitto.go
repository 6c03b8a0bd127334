package brokertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// MosquittoConfig configures a private mosquitto broker.
type MosquittoConfig struct {
	// TLS, when set, makes the only listener a TLS one (URL scheme
	// mqtts); with TLS.ClientCAs it requires client certificates.
	TLS *TLS
	// MaxPacketSize sets mosquitto's max_packet_size (0: its default).
	MaxPacketSize int
	// Extra is appended to the generated configuration file.
	Extra string
}

// Mosquitto is a mosquitto broker process owned by one test.
type Mosquitto struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	log  string
	port int
	url  string

	mu   sync.Mutex
	proc *process
}

// StartMosquitto starts a plain-TCP mosquitto on a free loopback port for
// the rest of the test and returns its URL (mqtt://127.0.0.1:port).
func StartMosquitto(t testing.TB) string {
	t.Helper()
	return NewMosquitto(t, MosquittoConfig{}).URL()
}

// StartMosquittoTLS starts mosquitto with a TLS listener and returns its
// URL (mqtts://127.0.0.1:port).
func StartMosquittoTLS(t testing.TB, tlsCfg TLS) string {
	t.Helper()
	return NewMosquitto(t, MosquittoConfig{TLS: &tlsCfg}).URL()
}

// NewMosquitto starts mosquitto as cfg says and returns its handle; it is
// stopped when the test ends. Without the mosquitto binary the test is
// skipped (or fails when [RequireEnv] is set).
func NewMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	bin, ok := lookBinary("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
	if !ok {
		missing(t, "mosquitto not installed: apt-get install mosquitto")
	}
	dir := t.TempDir()
	m := &Mosquitto{t: t, bin: bin, dir: dir, port: FreePort(t), log: filepath.Join(dir, "mosquitto.log")}
	scheme := "mqtt"
	var b strings.Builder
	fmt.Fprintf(&b, "per_listener_settings false\nallow_anonymous true\npersistence false\n")
	// Without it Nagle's algorithm holds mosquitto's small writes until
	// the peer's delayed ACK (40 ms on Linux): every request/response
	// round trip through the broker would take that long.
	b.WriteString("set_tcp_nodelay true\n")
	fmt.Fprintf(&b, "log_dest file %s\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n", m.log)
	if os.Geteuid() == 0 {
		// mosquitto started as root switches to user "mosquitto", who
		// could not read this test's private temp directory.
		b.WriteString("user root\n")
	}
	if cfg.MaxPacketSize > 0 {
		fmt.Fprintf(&b, "max_packet_size %d\n", cfg.MaxPacketSize)
	}
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.port)
	if cfg.TLS != nil {
		scheme = "mqtts"
		certFile, keyFile, caFile := cfg.TLS.pemFiles(t, dir)
		fmt.Fprintf(&b, "certfile %s\nkeyfile %s\ntls_version tlsv1.2\n", certFile, keyFile)
		if caFile != "" {
			fmt.Fprintf(&b, "cafile %s\n", caFile)
		}
		if len(cfg.TLS.ClientCAs) > 0 {
			b.WriteString("require_certificate true\n")
		}
	}
	b.WriteString(cfg.Extra)
	b.WriteString("\n")
	m.conf = writeFile(t, dir, "mosquitto.conf", b.String())
	m.url = fmt.Sprintf("%s://%s", scheme, hostPort(m.port))
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto log (tail):\n%s", tailFile(m.log, 4000))
		}
	})
	m.Start()
	return m
}

// URL is the broker's URL, mqtt:// or mqtts://.
func (m *Mosquitto) URL() string { return m.url }

// Addr is the broker's host:port.
func (m *Mosquitto) Addr() string { return hostPort(m.port) }

// Log returns mosquitto's log so far.
func (m *Mosquitto) Log() string { return tailFile(m.log, 1<<20) }

// Start starts the broker (again) on its port and waits until it accepts
// connections. Starting a running broker does nothing.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return
	}
	p, err := startProcess("mosquitto", nil, m.dir, m.bin, "-c", m.conf)
	if err != nil {
		m.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitPort(ctx, "mosquitto", m.Addr(), p); err != nil {
		p.stop(time.Second)
		m.t.Fatalf("brokertest: %v\n%s\nlog:\n%s", err, p.out.String(), tailFile(m.log, 4000))
	}
	m.proc = p
}

// Stop stops the broker and waits until it is gone. Stopping a stopped
// broker does nothing. It may be called from any goroutine.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	m.proc.stop(10 * time.Second)
	m.proc = nil
	waitClosed(m.Addr(), 5*time.Second)
}

// Restart stops and starts the broker on the same port.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	m.Start()
}
