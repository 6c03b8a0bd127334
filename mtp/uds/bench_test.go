package uds_test

import (
	"context"
	"testing"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/uds"
)

// BenchmarkRoundTrip sends a 1 KiB record to an echoing server and waits
// for the echo.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	path := sockPath(b)
	srv, _ := uds.NewServer(path, "proto::echo")
	if err := srv.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { _ = srv.Send(ctx, in.ReplyTo, in.Data) }}); err != nil {
		b.Fatal(err)
	}
	defer srv.Close(ctx)
	back := make(chan struct{}, 1)
	cli, _ := uds.NewClient(path, "proto::bench")
	if err := cli.Start(ctx, mtp.HandlerFuncs{Record: func(mtp.Inbound) { back <- struct{}{} }}); err != nil {
		b.Fatal(err)
	}
	defer cli.Close(ctx)
	rec := make([]byte, 1024)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := cli.Send(ctx, mtp.Address{}, rec); err != nil {
			b.Fatal(err)
		}
		<-back
	}
}
