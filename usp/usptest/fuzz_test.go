package usptest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

// fuzzAgent starts an agent whose commands return at once, so that no
// input leaves work running.
func fuzzAgent(t testing.TB) (*Agent, func()) {
	net := memory.NewNetwork()
	cep, err := net.Endpoint(ctrlID)
	if err != nil {
		t.Fatal(err)
	}
	if err := cep.Start(context.Background(), mtp.HandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	aep, err := net.Endpoint(agentID)
	if err != nil {
		t.Fatal(err)
	}
	m := DefaultModel()
	if err := m.HandleCommand("Device.ScheduleTimer()", nil); err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(agentID, WithTransport(aep), WithModel(m), WithRebootDowntime(0),
		WithController(ctrlID, mtp.Address{MTP: mtp.Memory, To: ctrlID}), WithNotifyRetry(time.Hour, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Error(err)
		}
		_ = cep.Close(ctx)
	}
}

// FuzzHandleRecord feeds arbitrary bytes to the agent as records from its
// controller: whatever they hold, the agent must neither panic nor hang.
func FuzzHandleRecord(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, stop := fuzzAgent(t)
		defer stop()
		b := a.bindings[0]
		done := make(chan struct{})
		a.enqueue(func() {
			defer close(done)
			a.handleRecord(b, mtp.Inbound{Data: data, ReplyTo: mtp.Address{MTP: mtp.Memory, To: ctrlID}, PeerID: ctrlID})
		})
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("record not handled in 10s")
		}
	})
}

// fuzzSeeds builds records from the requests of the OB-USP-A captures (when
// present) and a few of our own.
func fuzzSeeds(t testing.TB) [][]byte {
	wrap := func(m proto.Message) []byte {
		p, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		r, err := proto.Marshal(record.NewNoSessionContext("1.3", agentID, ctrlID, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	seeds := [][]byte{
		wrap(msg.Get{Paths: []string{"Device.WiFi.SSID.[SSID==\"x\"&&Enable==true].Name", "Device.WiFi.AccessPoint.*.SSIDReference+."}, MaxDepth: 2}.Build("g")),
		wrap(msg.AddParams("Device.LocalAgent.Subscription.", map[string]string{"ID": "s", "NotifType": "ValueChange", "ReferenceList": "Device.", "Enable": "true", "NotifRetry": "true"}).Build("a")),
		wrap(msg.Operate{Command: "Device.IP.Diagnostics.IPPing()", Args: map[string]string{"Host": "h"}, SendResp: true}.Build("o")),
		wrap(msg.Delete{AllowPartial: true, Paths: []string{"Device.WiFi.SSID.*."}}.Build("d")),
		{},
		[]byte("garbage"),
	}
	dir := os.Getenv("GOUSP_CAPTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "msg", "testdata", "obuspa")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		return seeds
	}
	caps := loadCaptures(t)
	names := make([]string, 0, len(caps))
	for n := range caps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := caps[n]
		switch {
		case c.req != nil:
			seeds = append(seeds, wrap(c.req))
		case c.reqRec != nil:
			rec := proto.Clone(c.reqRec).(*usprecord.Record)
			rec.ToId, rec.FromId = agentID, ctrlID
			b, err := proto.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzHandleRecord from the
// seeds when GOUSP_WRITE_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GOUSP_WRITE_CORPUS") == "" {
		t.Skip("set GOUSP_WRITE_CORPUS=1 to regenerate the fuzz corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzHandleRecord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fuzzSeeds(t) {
		name := fmt.Sprintf("seed-%x", sha256.Sum256(s))[:21]
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
