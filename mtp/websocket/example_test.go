package websocket_test

import (
	"context"
	"fmt"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

func Example() {
	ctx := context.Background()

	// The controller listens; agents dial it.
	controller, _ := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID("proto::controller"))
	fromAgents := make(chan mtp.Inbound, 1)
	agentUp := make(chan string, 1)
	_ = controller.Start(ctx, mtp.HandlerFuncs{
		Record: func(in mtp.Inbound) { fromAgents <- in },
		Event: func(ev mtp.Event) {
			if ev.Kind == mtp.PeerUp {
				agentUp <- ev.PeerID
			}
		},
	})
	defer controller.Close(ctx)

	// The agent dials the controller and echoes what it receives.
	agent, _ := websocket.NewClient(controller.URL(), "proto::agent", websocket.WithPeerID("proto::controller"))
	_ = agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		_ = agent.Send(ctx, in.ReplyTo, append([]byte("echo: "), in.Data...))
	}})
	defer agent.Close(ctx)

	// The controller learns of the agent's session from its PeerUp event.
	id := <-agentUp
	_ = controller.Send(ctx, mtp.Address{MTP: mtp.WebSocket, To: id}, []byte("hello"))
	in := <-fromAgents
	fmt.Printf("%s from %s\n", in.Data, in.PeerID)
	// Output: echo: hello from proto::agent
}
