package e2e_test

import (
	"testing"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/record"
)

// BenchmarkWrapReceive measures one 64 KiB message cut into 8 KiB segments,
// wrapped by one Session and reassembled by another, without the codec.
func BenchmarkWrapReceive(b *testing.B) {
	ctrl, agent := pair(b, 1, func(c *e2e.Config) { c.MaxSegment = 8 << 10 })
	msg := make([]byte, 64<<10)
	for i := range msg {
		msg[i] = byte(i)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		recs, err := ctrl.Wrap(msg)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			p, _, err := agent.Receive(r)
			if err != nil {
				b.Fatal(err)
			}
			n += len(p)
		}
		if n != 1 {
			b.Fatalf("%d messages", n)
		}
	}
}

// BenchmarkWrapReceiveWire is BenchmarkWrapReceive with every record
// encoded and decoded, as over a real transport.
func BenchmarkWrapReceiveWire(b *testing.B) {
	ctrl, agent := pair(b, 1, func(c *e2e.Config) { c.MaxSegment = 8 << 10 })
	msg := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		recs, err := ctrl.Wrap(msg)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			buf, err = record.AppendEncode(buf[:0], r)
			if err != nil {
				b.Fatal(err)
			}
			d, err := record.Decode(buf)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := agent.Receive(d); err != nil {
				b.Fatal(err)
			}
		}
	}
}
