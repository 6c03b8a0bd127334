package mqtttest

import (
	"fmt"
	"strings"

	"github.com/gousp/gousp/internal/embedbroker"
)

// TB is the part of testing.TB that [NewBroker] uses; *testing.T,
// *testing.B and *testing.F satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Broker is a running embedded MQTT broker.
type Broker struct {
	b *embedbroker.Broker
}

// Start starts a broker listening on addr ("127.0.0.1:0" picks a free
// port). The caller closes it.
func Start(addr string) (*Broker, error) {
	b, err := embedbroker.Start(addr)
	if err != nil {
		return nil, fmt.Errorf("mqtttest: %w", err)
	}
	return &Broker{b: b}, nil
}

// NewBroker starts a broker on a free loopback port for the rest of the
// test: it is closed by t.Cleanup, and a failure to start ends the test.
func NewBroker(t TB) *Broker {
	t.Helper()
	b, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// URL returns the address to give mqtt.New: mqtt://host:port.
func (b *Broker) URL() string { return b.b.URL() }

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return strings.TrimPrefix(b.b.URL(), "mqtt://") }

// Close stops the broker and disconnects its clients.
func (b *Broker) Close() error { return b.b.Close() }
