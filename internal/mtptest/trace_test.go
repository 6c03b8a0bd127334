package mtptest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/mtptest"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

func TestFormatTrace(t *testing.T) {
	enc := func(r *usprecord.Record) []byte {
		b, err := record.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t0 := time.Now()
	sess := enc(record.NewSessionContext("1.3", "proto::a", "proto::c",
		&usprecord.SessionContextRecord{SessionId: 7, SequenceId: 3, ExpectedId: 2, RetransmitId: 1, Payload: [][]byte{{}}}))
	disc := enc(record.NewDisconnect("1.3", "proto::c", "proto::a", "bye", record.CodeSessionContextTerminated))
	out := mtptest.FormatTrace(
		mtptest.Side{Name: "agent", Events: []mtptest.Event{{At: t0.Add(2 * time.Millisecond), Action: mtptest.Arrived, Data: disc}}},
		mtptest.Side{Name: "ctrl", Events: []mtptest.Event{
			{At: t0, Action: mtptest.Drop, Data: sess},
			{At: t0.Add(time.Millisecond), Action: mtptest.Pass, Data: []byte{0xff, 0x01}},
		}},
	)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"ctrl     DROP  session 7 seq 3 exp 2 retransmit 1 sar NONE/NONE 0B",
		"ctrl     pass  undecodable",
		`agent    recv  disconnect 7105 "bye"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("trace:\n%s", out)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d: %q, want it to contain %q", i, lines[i], w)
		}
	}
}
