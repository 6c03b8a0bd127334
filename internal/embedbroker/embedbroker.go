// Package embedbroker runs an MQTT 5 broker inside the process (mochi-mqtt)
// so that examples and demos need nothing installed. Its public face is
// mtp/mqtt/mqtttest; internal/brokertest builds its configurable brokers on
// the [Listener] here.
package embedbroker

import (
	"fmt"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
}

// Start starts a broker listening on addr ("127.0.0.1:0" picks a free
// port) that lets every client in.
func Start(addr string) (*Broker, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(openDoor), nil); err != nil {
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	l := NewListener("tcp", addr, nil)
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("embedbroker: listen %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	return &Broker{srv: srv, addr: l.Address()}, nil
}

// URL returns the broker's address as mqtt://host:port.
func (b *Broker) URL() string { return "mqtt://" + b.addr }

// Close stops the broker and disconnects its clients.
func (b *Broker) Close() error { return b.srv.Close() }

// openDoor lets every client connect and use every topic: the broker
// listens on loopback for a demo.
type openDoor struct{ mochi.HookBase }

func (*openDoor) ID() string { return "gousp-open-door" }

func (*openDoor) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (*openDoor) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (*openDoor) OnACLCheck(*mochi.Client, string, bool) bool { return true }
