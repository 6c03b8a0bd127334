package peerconntest_test

import (
	"slices"
	"testing"

	"github.com/gousp/gousp/internal/peerconn/peerconntest"
	"github.com/gousp/gousp/mtp"
)

func TestRecorder(t *testing.T) {
	r := peerconntest.NewRecorder(t)
	r.HandleEvent(mtp.Event{Kind: mtp.Up})
	r.HandleEvent(mtp.Event{Kind: mtp.PeerUp, PeerID: "a"})
	r.HandleRecord(mtp.Inbound{Data: []byte("x")})
	r.HandleEvent(mtp.Event{Kind: mtp.PeerUp, PeerID: "b"})
	if ev := r.WaitEvent(mtp.PeerUp, 1); ev.PeerID != "b" {
		t.Errorf("second PeerUp = %+v", ev)
	}
	if recs := r.WaitRecords(1); len(recs) != 1 || string(recs[0].Data) != "x" {
		t.Errorf("records = %+v", recs)
	}
	if k := r.Kinds(); !slices.Equal(k, []mtp.EventKind{mtp.Up, mtp.PeerUp, mtp.PeerUp}) {
		t.Errorf("kinds = %v", k)
	}
}
