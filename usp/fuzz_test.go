package usp

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

// FuzzHandleRecord feeds arbitrary bytes to the controller's inbound path,
// as a transport would deliver them, from a peer with and without a
// transport-level identity. Nothing may panic; the controller must stay
// usable. The corpus is seeded from the reference agent's records.
func FuzzHandleRecord(f *testing.F) {
	caps, _ := filepath.Glob(filepath.Join("..", "msg", "testdata", "obuspa", "*.record.bin"))
	for _, p := range caps {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, false)
		}
	}
	f.Add([]byte{}, true)
	net := memory.NewNetwork()
	ep, err := net.Endpoint("proto::test-controller")
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewController("proto::test-controller", WithTransport(ep), WithSessionContext(SessionConfig{Agents: []string{"proto::sess"}}))
	if err != nil {
		f.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close(context.Background()) })
	r := c.routes[0]
	f.Fuzz(func(t *testing.T, data []byte, withPeer bool) {
		in := mtp.Inbound{Data: data, ReplyTo: mtp.Address{MTP: mtp.Memory, To: "proto::obuspa-test-agent"}}
		if withPeer {
			in.PeerID = "proto::obuspa-test-agent"
		}
		c.handleRecord(r, in)
		// Filed for a worker: wait for it, so that a panic there is this
		// input's.
		for c.IntakeStats().Records > 0 {
			runtime.Gosched()
		}
	})
}
