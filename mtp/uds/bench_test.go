package uds_test

import (
	"testing"

	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp/uds"
)

// BenchmarkRoundTrip sends a 1 KiB record to an echoing server and waits
// for the echo.
func BenchmarkRoundTrip(b *testing.B) {
	path := sockPath(b)
	srv, err := uds.NewServer(path, "proto::echo")
	if err != nil {
		b.Fatal(err)
	}
	peerconntest.StartEcho(b, srv)
	cli, err := uds.NewClient(path, "proto::bench")
	if err != nil {
		b.Fatal(err)
	}
	peerconntest.RoundTrips(b, cli, 1024)
}
