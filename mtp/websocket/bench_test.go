package websocket_test

import (
	"context"
	"testing"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

// BenchmarkRoundTrip sends a 1 KiB record from a client to an echoing
// server over loopback TCP and waits for the echo.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	srv, _ := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"))
	if err := srv.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { _ = srv.Send(ctx, in.ReplyTo, in.Data) }}); err != nil {
		b.Fatal(err)
	}
	defer srv.Close(ctx)
	back := make(chan struct{}, 1)
	cli, _ := websocket.NewClient(srv.URL(), "proto::bench")
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
