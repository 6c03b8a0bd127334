package websocket_test

import (
	"testing"

	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp/websocket"
)

// BenchmarkRoundTrip sends a 1 KiB record from a client to an echoing
// server over loopback TCP and waits for the echo.
func BenchmarkRoundTrip(b *testing.B) {
	srv, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	peerconntest.StartEcho(b, srv)
	cli, err := websocket.NewClient(srv.URL(), "proto::bench")
	if err != nil {
		b.Fatal(err)
	}
	peerconntest.RoundTrips(b, cli, 1024)
}
