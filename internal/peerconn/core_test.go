package peerconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp"
)

func TestBegin(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	h := mtp.HandlerFuncs{}
	tests := []struct {
		name    string
		prepare func(c *peerconn.Core)
		ctx     context.Context
		h       mtp.Handler
		want    error  // matched with errors.Is, if set
		wantMsg string // contained in the error, if set
	}{
		{"first start", nil, context.Background(), h, nil, ""},
		{"nil handler", nil, context.Background(), nil, nil, "uds: nil handler"},
		{"context ended", nil, cancelled, h, context.Canceled, ""},
		{"twice", func(c *peerconn.Core) { _ = c.Begin(context.Background(), h) }, context.Background(), h, nil, "uds: Start called twice"},
		{"after close", func(c *peerconn.Core) { _ = c.Close(context.Background()) }, context.Background(), h, mtp.ErrClosed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := peerconn.NewCore(mtp.UDS, discard)
			if tt.prepare != nil {
				tt.prepare(c)
			}
			err := c.Begin(tt.ctx, tt.h)
			switch {
			case tt.want == nil && tt.wantMsg == "":
				if err != nil {
					t.Fatalf("Begin = %v", err)
				}
				if s := c.State(); s != mtp.Connecting {
					t.Errorf("state after Begin = %v", s)
				}
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Begin = %v, want %v", err, tt.want)
			case tt.wantMsg != "" && (err == nil || err.Error() != tt.wantMsg):
				t.Errorf("Begin = %v, want %q", err, tt.wantMsg)
			}
		})
	}
}

func TestStates(t *testing.T) {
	r := peerconntest.NewRecorder(t)
	c := peerconn.NewCore(mtp.WebSocket, discard)
	if s := c.State(); s != mtp.Disconnected {
		t.Errorf("new core is %v", s)
	}
	if err := c.Begin(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	if err := c.Up(func() { close(ran) }); err != nil {
		t.Fatal(err)
	}
	<-ran
	if s := c.State(); s != mtp.Connected {
		t.Errorf("state after Up = %v", s)
	}
	if k := r.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up}) {
		t.Errorf("events = %v", k)
	}
	for range 2 {
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := c.State(); s != mtp.Closed {
			t.Errorf("state after Close = %v", s)
		}
	}
	if err := c.Up(nil); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Up after Close = %v", err)
	}
	if c.Go(func() { t.Error("ran after Close") }) {
		t.Error("Go after Close reported success")
	}
	if c.Context().Err() == nil {
		t.Error("context still alive after Close")
	}
}

func TestCheckSend(t *testing.T) {
	notStarted := peerconn.NewCore(mtp.UDS, discard)
	running := started(t, mtp.HandlerFuncs{})
	closed := started(t, mtp.HandlerFuncs{})
	_ = closed.Close(context.Background())
	tests := []struct {
		name string
		c    *peerconn.Core
		to   mtp.Address
		want error
	}{
		{"not started", notStarted, mtp.Address{To: "x"}, mtp.ErrNotStarted},
		{"closed", closed, mtp.Address{To: "x"}, mtp.ErrClosed},
		{"other binding", running, mtp.Address{MTP: mtp.MQTT, To: "x"}, mtp.ErrBadAddress},
		{"same binding", running, mtp.Address{MTP: mtp.UDS, To: "x"}, nil},
		{"binding not named", running, mtp.Address{To: "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.CheckSend(tt.to)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckSend = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCloseWaits(t *testing.T) {
	c := started(t, mtp.HandlerFuncs{})
	if c.Enter() {
		t.Fatal("Enter before Up succeeded")
	}
	if err := c.Up(nil); err != nil {
		t.Fatal(err)
	}
	if !c.Enter() {
		t.Fatal("Enter after Up failed")
	}
	release := make(chan struct{})
	var exited sync.WaitGroup
	exited.Add(1)
	go func() {
		defer exited.Done()
		<-release
		c.Exit()
	}()
	var stopped sync.WaitGroup
	stopped.Add(1)
	if !c.Go(func() {
		defer stopped.Done()
		<-c.Context().Done()
	}) {
		t.Fatal("Go failed")
	}

	// The Enter above is still in progress: Close gives up at ctx's end.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "uds: close: ") {
		t.Errorf("Close = %v, want a deadline error", err)
	}
	stopped.Wait() // the goroutine of Go saw the context end
	if c.Enter() {
		t.Error("Enter after Close succeeded")
	}
	close(release)
	exited.Wait()
}

// TestHandlerSerialised checks that deliveries and events from many
// goroutines reach the handler one at a time; the recorder fails the test
// otherwise.
func TestHandlerSerialised(t *testing.T) {
	r := peerconntest.NewRecorder(t)
	c := started(t, r)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c.Deliver(mtp.Inbound{Data: []byte{byte(i)}})
			c.Emit(mtp.Event{Kind: mtp.PeerUp, PeerID: fmt.Sprint(i)})
		})
	}
	wg.Wait()
	recs, evs := r.Snapshot()
	if len(recs) != n || len(evs) != n {
		t.Errorf("got %d records, %d events, want %d each", len(recs), len(evs), n)
	}
}

// timeoutErr is a net.Error that timed out, as a write past its deadline
// fails.
var timeoutErr error = &net.OpError{Op: "write", Err: os.ErrDeadlineExceeded}

func TestContextError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	other := errors.New("broken pipe")
	tests := []struct {
		name        string
		ctx         context.Context
		hadDeadline bool
		err         error
		want        error
	}{
		{"context cancelled", cancelled, false, other, context.Canceled},
		{"context deadline hit first by the socket", context.Background(), true, timeoutErr, context.DeadlineExceeded},
		{"write timeout, context without deadline", context.Background(), false, timeoutErr, nil},
		{"other failure", context.Background(), true, other, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := peerconn.ContextError(tt.ctx, tt.hadDeadline, tt.err); got != tt.want {
				t.Errorf("ContextError = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCause(t *testing.T) {
	var c peerconn.Cause
	readErr := errors.New("read: connection reset")
	if got := c.Or(readErr); got != readErr {
		t.Errorf("empty cause gave %v", got)
	}
	first, second := errors.New("replaced"), errors.New("closed")
	c.Set(first)
	c.Set(second)
	if got := c.Or(readErr); got != first {
		t.Errorf("cause = %v, want the first one set", got)
	}
}

func BenchmarkDeliver(b *testing.B) {
	c := peerconn.NewCore(mtp.UDS, discard)
	if err := c.Begin(context.Background(), mtp.HandlerFuncs{Record: func(mtp.Inbound) {}}); err != nil {
		b.Fatal(err)
	}
	in := mtp.Inbound{Data: make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		c.Deliver(in)
	}
}
