package usp_test

import (
	"context"
	"fmt"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// A controller reports each agent's state as it changes, and lists its
// inventory by state and endpoint ID prefix.
func ExampleController_Inventory() {
	net := memory.NewNetwork()
	ct, _ := net.Endpoint("proto::example-controller")
	at, _ := net.Endpoint("os::012345-EXAMPLE02")
	changes := make(chan usp.StateChange, 8)
	c, err := usp.NewController("proto::example-controller", usp.WithTransport(ct),
		usp.WithLiveness(usp.LivenessConfig{DeviceInfo: true}),
		usp.WithStateHandler(func(ch usp.StateChange) { changes <- ch }))
	if err != nil {
		panic(err)
	}
	if err := c.Start(context.Background()); err != nil {
		panic(err)
	}
	defer c.Close(context.Background())
	agent, _ := usptest.NewAgent("os::012345-EXAMPLE02", usptest.WithTransport(at),
		usptest.WithController("proto::example-controller", mtp.Address{MTP: mtp.Memory, To: "proto::example-controller"}))
	if err := agent.Start(context.Background()); err != nil {
		panic(err)
	}
	ch := <-changes
	fmt.Println(ch.EndpointID, ch.From, "->", ch.To)

	for e := range c.Inventory().Query(usp.Query{State: usp.StateOnline, Prefix: "os::012345-"}) {
		fmt.Println(e.EndpointID, e.State, e.Address)
	}
	_ = agent.Close(context.Background()) // gone without a word: over a broker, only a heartbeat or probe would tell
	// Output:
	// os::012345-EXAMPLE02 unknown -> online
	// os::012345-EXAMPLE02 online memory:os::012345-EXAMPLE02
}
