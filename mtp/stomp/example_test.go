package stomp_test

import (
	"context"
	"fmt"
	"net"

	"github.com/go-stomp/stomp/v3/server"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// An agent and a controller exchange one record through a STOMP broker;
// the agent answers on the record's reply-to-dest.
func Example() {
	// go-stomp's embedded server for the example; use your broker's
	// address (host:port or stomp://host:port) instead.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() { _ = server.Serve(l) }()
	addr := "stomp://" + l.Addr().String()
	ctx := context.Background()

	agent, err := stomp.New(addr, "proto::agent", stomp.WithDestination("/queue/usp-agent"))
	if err != nil {
		panic(err)
	}
	err = agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		fmt.Printf("agent got %q, answers to %v\n", in.Data, in.ReplyTo)
		go func() { _ = agent.Send(ctx, in.ReplyTo, []byte("response")) }()
	}})
	if err != nil {
		panic(err)
	}
	defer agent.Close(ctx)

	got := make(chan mtp.Inbound, 1)
	ctl, err := stomp.New(addr, "proto::controller",
		stomp.WithDestination("/queue/usp-controller"),
		stomp.WithCredentials("guest", "guest"))
	if err != nil {
		panic(err)
	}
	if err := ctl.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { got <- in }}); err != nil {
		panic(err)
	}
	defer ctl.Close(ctx)

	if err := ctl.Send(ctx, mtp.Address{MTP: stomp.Kind, To: "/queue/usp-agent"}, []byte("request")); err != nil {
		panic(err)
	}
	in := <-got
	fmt.Printf("controller got %q from %v\n", in.Data, in.ReplyTo)
	// Output:
	// agent got "request", answers to stomp:/queue/usp-controller
	// controller got "response" from stomp:/queue/usp-agent
}
