package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/boltstore"
)

func entries(n int) []usp.InventoryEntry {
	now := time.Now()
	out := make([]usp.InventoryEntry, n)
	for i := range out {
		id := fmt.Sprintf("os::012345-%010d", i)
		out[i] = usp.InventoryEntry{EndpointID: id, Address: mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/" + id},
			SupportedVersions: "1.3,1.4", State: usp.StateOnline, Since: now, FirstSeen: now, LastSeen: now,
			DeviceInfo: usp.DeviceInfo{ModelName: "model", SerialNumber: id[11:], SoftwareVersion: "1.0.0"}, Heartbeat: time.Minute}
	}
	return out
}

// BenchmarkFlush measures one flush of the controller: 1,000 changed
// agents written in one transaction (with fsync), beside the same batch
// into MemoryStore.
func BenchmarkFlush(b *testing.B) {
	batch := entries(1000)
	run := func(b *testing.B, s usp.Store) {
		for b.Loop() {
			if err := s.PutAgents(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(batch)), "ns/agent")
	}
	b.Run("bolt", func(b *testing.B) {
		s, err := boltstore.Open(filepath.Join(b.TempDir(), "gousp.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("memory", func(b *testing.B) { run(b, &usp.MemoryStore{}) })
}

// BenchmarkLoad100k measures reading a 100,000-agent inventory back, as a
// restarted controller does.
func BenchmarkLoad100k(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "gousp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	all := entries(100000)
	for i := 0; i < len(all); i += 10000 {
		if err := s.PutAgents(context.Background(), all[i:i+10000]); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		n := 0
		for _, err := range s.Agents(context.Background()) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != len(all) {
			b.Fatalf("%d agents", n)
		}
	}
}
