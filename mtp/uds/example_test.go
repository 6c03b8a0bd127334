package uds_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/uds"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "usp")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "usp.sock")

	// The agent listens; it echoes every record to whoever sent it.
	agent, _ := uds.NewServer(path, "proto::agent")
	_ = agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		_ = agent.Send(ctx, in.ReplyTo, append([]byte("echo: "), in.Data...))
	}})
	defer agent.Close(ctx)

	// The controller dials it.
	answers := make(chan mtp.Inbound, 1)
	controller, _ := uds.NewClient(path, "proto::controller")
	if err := controller.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { answers <- in }}); err != nil {
		fmt.Println(err)
		return
	}
	defer controller.Close(ctx)

	_ = controller.Send(ctx, mtp.Address{MTP: mtp.UDS, To: controller.PeerID()}, []byte("hello"))
	in := <-answers
	fmt.Printf("%s from %s\n", in.Data, in.PeerID)
	// Output: echo: hello from proto::agent
}
