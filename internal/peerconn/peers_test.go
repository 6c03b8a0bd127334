package peerconn_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp"
)

var errReplaced = errors.New("uds: replaced")

func TestPeersAddRemove(t *testing.T) {
	r := peerconntest.NewRecorder(t)
	c := started(t, r)
	p := peerconn.NewPeers[*fake](c, true, errReplaced)
	if ids := p.IDs(); ids == nil || len(ids) != 0 {
		t.Errorf("IDs of an empty table = %#v, want empty and not nil", ids)
	}
	b, a := newFake(c, "proto::b"), newFake(c, "proto::a")
	for _, s := range []*fake{b, a} {
		if old, err := p.Add(s); err != nil || old != nil {
			t.Fatalf("Add(%s) = %v, %v", s.id, old, err)
		}
	}
	if ids := p.IDs(); !slices.Equal(ids, []string{"proto::a", "proto::b"}) {
		t.Errorf("IDs = %v, want sorted", ids)
	}
	if !p.Has("proto::a") || p.Has("proto::c") {
		t.Error("Has disagrees with the table")
	}
	if got, err := p.Get(mtp.Address{MTP: mtp.UDS, To: "proto::b"}); err != nil || got != b {
		t.Errorf("Get = %v, %v", got, err)
	}
	cause := errors.New("peer hung up")
	p.Remove(a, cause)
	if p.Has("proto::a") {
		t.Error("removed session still in the table")
	}
	_, evs := r.Snapshot()
	want := []mtp.Event{
		{Kind: mtp.PeerUp, Peer: b.Peer(), PeerID: "proto::b"},
		{Kind: mtp.PeerUp, Peer: a.Peer(), PeerID: "proto::a"},
		{Kind: mtp.PeerDown, Peer: a.Peer(), PeerID: "proto::a", Err: cause},
	}
	if !slices.Equal(evs, want) {
		t.Errorf("events = %+v\nwant %+v", evs, want)
	}
}

func TestPeersDuplicates(t *testing.T) {
	for _, replace := range []bool{true, false} {
		name := map[bool]string{true: "replace", false: "refuse"}[replace]
		t.Run(name, func(t *testing.T) {
			r := peerconntest.NewRecorder(t)
			c := started(t, r)
			p := peerconn.NewPeers[*fake](c, replace, errReplaced)
			first, second := newFake(c, "proto::a"), newFake(c, "proto::a")
			if _, err := p.Add(first); err != nil {
				t.Fatal(err)
			}
			old, err := p.Add(second)
			if !replace {
				if !errors.Is(err, peerconn.ErrTaken) || old != nil {
					t.Fatalf("Add of a duplicate = %v, %v; want ErrTaken", old, err)
				}
				if got, _ := p.Get(mtp.Address{To: "proto::a"}); got != first {
					t.Error("the refused session took the place of the first")
				}
				if k := r.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.PeerUp}) {
					t.Errorf("events = %v", k)
				}
				return
			}
			if err != nil || old != first {
				t.Fatalf("Add of a duplicate = %v, %v; want the first session back", old, err)
			}
			// The first session ends later, as its connection closes: no
			// second PeerDown for it.
			p.Remove(first, errors.New("closed by us"))
			if got, _ := p.Get(mtp.Address{To: "proto::a"}); got != second {
				t.Error("removing the replaced session removed its successor")
			}
			_, evs := r.Snapshot()
			want := []mtp.Event{
				{Kind: mtp.PeerUp, Peer: first.Peer(), PeerID: "proto::a"},
				{Kind: mtp.PeerDown, Peer: first.Peer(), PeerID: "proto::a", Err: errReplaced},
				{Kind: mtp.PeerUp, Peer: second.Peer(), PeerID: "proto::a"},
			}
			if !slices.Equal(evs, want) {
				t.Errorf("events = %+v\nwant %+v", evs, want)
			}
		})
	}
}

func TestPeersErrors(t *testing.T) {
	c := peerconn.NewCore(mtp.UDS, discard)
	p := peerconn.NewPeers[*fake](c, true, errReplaced)
	if _, err := p.Get(mtp.Address{To: "proto::a"}); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("Get before Start = %v", err)
	}
	if err := c.Begin(context.Background(), mtp.HandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Get(mtp.Address{To: "proto::nobody"})
	if !errors.Is(err, mtp.ErrUnknownPeer) || err.Error() != `uds: send to "proto::nobody": mtp: no session with that peer` {
		t.Errorf("Get of an unknown peer = %v", err)
	}
	if _, err := p.Get(mtp.Address{MTP: mtp.STOMP, To: "proto::a"}); !errors.Is(err, mtp.ErrBadAddress) {
		t.Errorf("Get with another binding = %v", err)
	}
	_ = c.Close(context.Background())
	if _, err := p.Add(newFake(c, "proto::a")); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
	if p.Has("proto::a") {
		t.Error("Add after Close changed the table")
	}
}

func BenchmarkPeersGet(b *testing.B) {
	c := peerconn.NewCore(mtp.UDS, discard)
	if err := c.Begin(context.Background(), mtp.HandlerFuncs{}); err != nil {
		b.Fatal(err)
	}
	p := peerconn.NewPeers[*fake](c, true, errReplaced)
	if _, err := p.Add(newFake(c, "proto::a")); err != nil {
		b.Fatal(err)
	}
	to := mtp.Address{MTP: mtp.UDS, To: "proto::a"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Get(to); err != nil {
			b.Fatal(err)
		}
	}
}
