package memory_test

import (
	"context"
	"fmt"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

func Example() {
	ctx := context.Background()
	network := memory.NewNetwork()
	controller, _ := network.Endpoint("proto::controller")
	agent, _ := network.Endpoint("proto::agent")

	// The agent echoes every record back to where it came from.
	_ = agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		_ = agent.Send(ctx, in.ReplyTo, append([]byte("echo: "), in.Data...))
	}})
	answers := make(chan mtp.Inbound, 1)
	_ = controller.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { answers <- in }})

	_ = controller.Send(ctx, mtp.Address{MTP: mtp.Memory, To: "proto::agent"}, []byte("hello"))
	in := <-answers
	fmt.Printf("%s from %s\n", in.Data, in.PeerID)

	_ = controller.Close(ctx)
	_ = agent.Close(ctx)
	// Output: echo: hello from proto::agent
}
