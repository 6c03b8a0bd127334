package peerconn_test

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var discard = slog.New(slog.DiscardHandler)

// fake is a session without a connection: it serves until the test ends
// it or the transport stops it.
type fake struct {
	id   string
	core *peerconn.Core // delivers the records given to put

	records   chan []byte
	end       chan error    // the test ends the session with a cause
	stop      chan struct{} // closed by Stop
	stopOnce  sync.Once
	dropped   atomic.Bool
	cause     peerconn.Cause
	servedOut chan struct{} // closed when Serve returns
}

func newFake(core *peerconn.Core, id string) *fake {
	return &fake{
		id:        id,
		core:      core,
		records:   make(chan []byte),
		end:       make(chan error, 1),
		stop:      make(chan struct{}),
		servedOut: make(chan struct{}),
	}
}

func (f *fake) PeerID() string    { return f.id }
func (f *fake) Peer() mtp.Address { return mtp.Address{MTP: mtp.UDS, To: f.id} }
func (f *fake) Drop()             { f.dropped.Store(true) }

func (f *fake) Stop() {
	f.cause.Set(mtp.ErrClosed)
	f.stopOnce.Do(func() { close(f.stop) })
}

func (f *fake) Serve() error {
	defer close(f.servedOut)
	for {
		select {
		case data := <-f.records:
			f.core.Deliver(mtp.Inbound{Data: data, ReplyTo: f.Peer(), PeerID: f.id})
		case err := <-f.end:
			return f.cause.Or(err)
		case <-f.stop:
			return f.cause.Or(nil)
		}
	}
}

// started returns a core for kind UDS on which Begin succeeded with r.
func started(t *testing.T, h mtp.Handler) *peerconn.Core {
	t.Helper()
	c := peerconn.NewCore(mtp.UDS, discard)
	if err := c.Begin(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	return c
}
