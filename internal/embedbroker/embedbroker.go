// Package embedbroker runs an MQTT 5 broker inside the process (mochi-mqtt)
// for the examples and the command line's demo mode, so that they need
// nothing installed. Tests use internal/brokertest instead.
package embedbroker

import (
	"fmt"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
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
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	if port == "0" {
		// Find a free port; mochi's listener wants a fixed address.
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("embedbroker: %w", err)
		}
		addr = l.Addr().String()
		_ = l.Close()
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(openDoor), nil); err != nil {
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("embedbroker: listen %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedbroker: %w", err)
	}
	return &Broker{srv: srv, addr: addr}, nil
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
