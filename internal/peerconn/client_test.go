package peerconn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp"
)

// dialer scripts the attempts of a client: each dial takes the next
// outcome, an error or a session to open.
type dialer struct {
	core     *peerconn.Core
	outcomes chan any // error or *fake

	mu      sync.Mutex
	retries []int // the retry counts the client asked a wait for
}

func (d *dialer) dial(ctx context.Context) (*fake, error) {
	select {
	case o := <-d.outcomes:
		if err, ok := o.(error); ok {
			return nil, err
		}
		return o.(*fake), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *dialer) backoff(retry int) time.Duration {
	d.mu.Lock()
	d.retries = append(d.retries, retry)
	d.mu.Unlock()
	return time.Millisecond
}

func (d *dialer) askedFor() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.retries)
}

func newClient() (*peerconn.Core, *peerconn.Client[*fake], *dialer) {
	core := peerconn.NewCore(mtp.UDS, discard)
	d := &dialer{core: core, outcomes: make(chan any, 10)}
	return core, peerconn.NewClient(core, "/run/usp.sock", d.dial, d.backoff), d
}

func TestClientLifecycle(t *testing.T) {
	core, cli, d := newClient()
	if _, err := cli.Current(mtp.Address{}); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("Current before Start = %v", err)
	}
	refused := errors.New("connection refused")
	first := newFake(core, "proto::server")
	d.outcomes <- refused
	d.outcomes <- refused
	d.outcomes <- first
	r := peerconntest.NewRecorder(t)
	if err := cli.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if s := core.State(); s != mtp.Connected {
		t.Errorf("state after Start = %v", s)
	}
	if got, err := cli.Current(mtp.Address{}); err != nil || got != first {
		t.Errorf("Current = %v, %v", got, err)
	}
	first.records <- []byte("hello")
	if in := r.WaitRecords(1)[0]; string(in.Data) != "hello" || in.PeerID != "proto::server" {
		t.Errorf("record = %+v", in)
	}

	// The session ends: the client reports it and dials again, with the
	// retry count started afresh.
	lost := errors.New("connection reset")
	second := newFake(core, "proto::server")
	first.end <- lost
	r.WaitEvent(mtp.Down, 0)
	if _, err := cli.Current(mtp.Address{}); !errors.Is(err, mtp.ErrNotConnected) {
		t.Errorf("Current between sessions = %v", err)
	}
	d.outcomes <- second
	r.WaitEvent(mtp.PeerUp, 1)
	if got := d.askedFor(); !slices.Equal(got, []int{1, 2, 1}) {
		t.Errorf("backoff asked for retries %v, want [1 2 1]", got)
	}

	if err := core.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-second.servedOut
	_, evs := r.Snapshot()
	peer := first.Peer()
	want := []mtp.Event{
		{Kind: mtp.Up},
		{Kind: mtp.PeerUp, Peer: peer, PeerID: "proto::server"},
		{Kind: mtp.PeerDown, Peer: peer, PeerID: "proto::server", Err: lost},
		{Kind: mtp.Down, Err: lost},
		{Kind: mtp.Up},
		{Kind: mtp.PeerUp, Peer: peer, PeerID: "proto::server"},
		{Kind: mtp.PeerDown, Peer: peer, PeerID: "proto::server", Err: mtp.ErrClosed},
		{Kind: mtp.Down, Err: mtp.ErrClosed},
	}
	if !slices.Equal(evs, want) {
		t.Errorf("events = %+v\nwant %+v", evs, want)
	}
	if _, err := cli.Current(mtp.Address{}); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Current after Close = %v", err)
	}
}

func TestClientCurrentWhileDown(t *testing.T) {
	core, cli, d := newClient()
	s := newFake(core, "proto::server")
	d.outcomes <- s
	r := peerconntest.NewRecorder(t)
	if err := cli.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	defer core.Close(context.Background())
	s.end <- errors.New("gone")
	r.WaitEvent(mtp.Down, 0)
	_, err := cli.Current(mtp.Address{})
	if !errors.Is(err, mtp.ErrNotConnected) || err.Error() != "uds: /run/usp.sock: mtp: not connected" {
		t.Errorf("Current while down = %v", err)
	}
	if got := cli.Session(); got != nil {
		t.Errorf("Session while down = %v", got)
	}
	if _, err := cli.Current(mtp.Address{MTP: mtp.WebSocket}); !errors.Is(err, mtp.ErrBadAddress) {
		t.Errorf("Current for another binding = %v", err)
	}
}

func TestClientStartTimesOut(t *testing.T) {
	core, cli, d := newClient()
	for range cap(d.outcomes) {
		d.outcomes <- errors.New("connection refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := cli.Start(ctx, peerconntest.NewRecorder(t))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last attempt: connection refused") ||
		!strings.HasPrefix(err.Error(), "uds: start: ") {
		t.Errorf("Start = %v", err)
	}
	if s := core.State(); s != mtp.Closed {
		t.Errorf("state after failed Start = %v", s)
	}
}

// TestClientClosedWhileDialling checks that a session opened after Close
// began is dropped unreported.
func TestClientClosedWhileDialling(t *testing.T) {
	core := peerconn.NewCore(mtp.UDS, discard)
	late := newFake(core, "proto::server")
	dialling := make(chan struct{})
	dial := func(ctx context.Context) (*fake, error) {
		close(dialling)
		<-ctx.Done() // Close began
		return late, nil
	}
	cli := peerconn.NewClient(core, "/run/usp.sock", dial, func(int) time.Duration { return time.Millisecond })
	r := peerconntest.NewRecorder(t)
	started := make(chan error, 1)
	go func() { started <- cli.Start(context.Background(), r) }()
	<-dialling
	if err := core.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-started; !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Start = %v", err)
	}
	if !late.dropped.Load() {
		t.Error("session opened after Close was not dropped")
	}
	if k := r.Kinds(); len(k) != 0 {
		t.Errorf("events = %v", k)
	}
}

// refusedForGood is a dial error that retrying cannot fix.
type refusedForGood struct{}

func (refusedForGood) Error() string   { return "HTTP 403" }
func (refusedForGood) Permanent() bool { return true }

// TestClientPermanentRefusal: before any session, a permanent refusal ends
// Start at once; after one, the client keeps trying as after any loss.
func TestClientPermanentRefusal(t *testing.T) {
	t.Run("first attempt", func(t *testing.T) {
		core, cli, d := newClient()
		d.outcomes <- errors.New("connection refused") // retried
		d.outcomes <- fmt.Errorf("dial: %w", refusedForGood{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := cli.Start(ctx, peerconntest.NewRecorder(t))
		var p peerconn.Permanent
		if !errors.As(err, &p) || ctx.Err() != nil {
			t.Fatalf("Start = %v, want the refusal at once", err)
		}
		if s := core.State(); s != mtp.Closed {
			t.Errorf("state = %v, want closed", s)
		}
	})
	t.Run("after a session", func(t *testing.T) {
		core, cli, d := newClient()
		first := newFake(core, "proto::server")
		d.outcomes <- first
		r := peerconntest.NewRecorder(t)
		if err := cli.Start(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		d.outcomes <- refusedForGood{}
		second := newFake(core, "proto::server")
		d.outcomes <- second
		first.end <- errors.New("lost")
		r.WaitEvent(mtp.PeerUp, 1)
		if got, err := cli.Current(mtp.Address{}); err != nil || got != second {
			t.Errorf("Current = %v, %v", got, err)
		}
		if err := core.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
