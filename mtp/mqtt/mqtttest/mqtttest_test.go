package mqtttest_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewBrokerClosedByCleanup(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		b := mqtttest.NewBroker(t)
		if !strings.HasPrefix(b.URL(), "mqtt://127.0.0.1:") || b.URL() != "mqtt://"+b.Addr() {
			t.Fatalf("URL %q, Addr %q", b.URL(), b.Addr())
		}
		addr = b.Addr()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("not listening: %v", err)
		}
		_ = c.Close()
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatal("still listening after the test that started it ended")
	}
}

// fakeTB records what NewBroker does with a failing start.
type fakeTB struct {
	fatal    string
	cleanups int
}

func (*fakeTB) Helper()                          {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Cleanup(func())                 { f.cleanups++ }

func TestStartErrors(t *testing.T) {
	if _, err := mqtttest.Start("no-port"); err == nil || !strings.HasPrefix(err.Error(), "mqtttest: ") {
		t.Fatalf("Start(no-port) = %v", err)
	}
	// A port in use cannot be taken by a second broker.
	b := mqtttest.NewBroker(t)
	if _, err := mqtttest.Start(b.Addr()); err == nil {
		t.Fatal("second broker on the same port started")
	}
}

func TestNewBrokerCleanupCount(t *testing.T) {
	f := &fakeTB{}
	b := mqtttest.NewBroker(f)
	if f.fatal != "" || f.cleanups != 1 {
		t.Fatalf("fatal %q, %d cleanups", f.fatal, f.cleanups)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
