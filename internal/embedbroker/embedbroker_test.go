package embedbroker

import (
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartAcceptsConnections(t *testing.T) {
	b, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(b.URL(), "mqtt://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("broker not listening on %s: %v", addr, err)
	}
	_ = c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatal("still listening after Close")
	}
}

func TestStartRejectsBadAddress(t *testing.T) {
	if _, err := Start("no-port"); err == nil {
		t.Fatal("accepted an address without port")
	}
}
