package uds_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/uds"
)

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// frameHeader announces a frame body of n bytes.
func frameHeader(n uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uds.Sync)
	return binary.BigEndian.AppendUint32(b, n)
}

// TestHostileAnnouncedLength: peers that announce the largest frame and
// send nothing more cost the server no more than what they sent, and are
// dropped when the frame does not arrive in time; an honest client is
// served meanwhile.
func TestHostileAnnouncedLength(t *testing.T) {
	path := sockPath(t)
	srv, rs := startServer(t, path, uds.WithHandshakeTimeout(2*time.Second))
	_, rc := startClient(t, path, agentID)
	rs.WaitEvent(mtp.PeerUp, 0)
	rc.WaitEvent(mtp.PeerUp, 0)
	base := heapAfterGC()
	const peers = 10
	var conns []*rawConn
	for i := range peers {
		c := dialRaw(t, path)
		if i%2 == 0 {
			// In the handshake: a frame that would carry it.
			c.sendBytes(frameHeader(uds.DefaultMaxRecordSize))
		} else {
			c.send(hs("proto::evil-" + string(rune('a'+i))))
			c.expect(uds.TypeHandshake)
			c.sendBytes(frameHeader(uds.DefaultMaxRecordSize))
		}
		conns = append(conns, c)
	}
	waitFor(t, func() bool { return srv.Connections() == peers+1 })
	if grown := heapAfterGC() - base; grown > 4<<20 {
		t.Errorf("%d peers announcing %d-byte frames grew the heap by %d bytes", peers, uds.DefaultMaxRecordSize, grown)
	}
	// The honest client still gets through.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Send(ctx, mtp.Address{MTP: mtp.UDS, To: agentID}, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if got := string(rc.WaitRecords(1)[0].Data); got != "ok" {
		t.Fatalf("client got %q", got)
	}
	for _, c := range conns {
		c.expectClosed()
	}
	waitFor(t, func() bool { return srv.Connections() == 1 })
}

// TestHostileSessionCap: beyond WithMaxSessions, connections are closed
// at once; the places come back when connections end.
func TestHostileSessionCap(t *testing.T) {
	path := sockPath(t)
	srv, _ := startServer(t, path, uds.WithMaxSessions(3))
	var conns []*rawConn
	for range 3 {
		conns = append(conns, dialRaw(t, path))
	}
	waitFor(t, func() bool { return srv.Connections() == 3 })
	extra := dialRaw(t, path)
	extra.expectClosed()
	conns[0].Close()
	waitFor(t, func() bool { return srv.Connections() == 2 })
	c := dialRaw(t, path)
	c.send(hs(agentID))
	c.expect(uds.TypeHandshake)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHostileIdleHandshake: a connection that never sends its handshake
// is closed after the handshake timeout and gives its place back.
func TestHostileIdleHandshake(t *testing.T) {
	path := sockPath(t)
	srv, _ := startServer(t, path, uds.WithHandshakeTimeout(200*time.Millisecond), uds.WithMaxSessions(1))
	c := dialRaw(t, path)
	c.expectClosed()
	waitFor(t, func() bool { return srv.Connections() == 0 })
}
