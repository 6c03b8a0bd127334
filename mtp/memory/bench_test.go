package memory_test

import (
	"context"
	"testing"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

// BenchmarkRoundTrip sends a 1 KiB record to an echoing peer and waits for
// the echo.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	n := memory.NewNetwork()
	a, _ := n.Endpoint("a")
	e, _ := n.Endpoint("echo")
	defer a.Close(ctx)
	defer e.Close(ctx)
	if err := e.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { _ = e.Send(ctx, in.ReplyTo, in.Data) }}); err != nil {
		b.Fatal(err)
	}
	back := make(chan struct{}, 1)
	if err := a.Start(ctx, mtp.HandlerFuncs{Record: func(mtp.Inbound) { back <- struct{}{} }}); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 1024)
	to := mtp.Address{MTP: mtp.Memory, To: "echo"}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Send(ctx, to, rec); err != nil {
			b.Fatal(err)
		}
		<-back
	}
}
