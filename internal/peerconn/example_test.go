package peerconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

// line is a session of the example: it serves until it is stopped.
type line struct {
	id   string
	done chan struct{}
}

func (l *line) PeerID() string    { return l.id }
func (l *line) Peer() mtp.Address { return mtp.Address{MTP: mtp.UDS, To: l.id} }
func (l *line) Serve() error      { <-l.done; return mtp.ErrClosed }
func (l *line) Stop()             { close(l.done) }
func (l *line) Drop()             {}

// A server whose newer session replaces the older one of the same
// endpoint: the handler sees the old session go before the new one comes.
func ExamplePeers() {
	core := peerconn.NewCore(mtp.UDS, slog.New(slog.DiscardHandler))
	show := func(ev mtp.Event) {
		fmt.Println(ev.Kind, ev.PeerID, ev.Err)
	}
	_ = core.Begin(context.Background(), mtp.HandlerFuncs{Event: show})
	_ = core.Up(nil)

	errReplaced := errors.New("replaced by a newer connection")
	peers := peerconn.NewPeers[*line](core, true, errReplaced)
	first := &line{id: "proto::agent", done: make(chan struct{})}
	_, _ = peers.Add(first)
	second := &line{id: "proto::agent", done: make(chan struct{})}
	old, _ := peers.Add(second)
	old.Stop()
	peers.Remove(old, old.Serve()) // reported already: no second PeerDown
	fmt.Println(peers.IDs())
	_ = core.Close(context.Background())
	// Output:
	// up  <nil>
	// peer-up proto::agent <nil>
	// peer-down proto::agent replaced by a newer connection
	// peer-up proto::agent <nil>
	// [proto::agent]
}
