package mqtt_test

import (
	"context"
	"fmt"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
)

// An agent and a controller exchange one record through a broker. The
// agent answers on the address the record came with.
func Example() {
	// An embedded broker for the example; use your broker's URL instead.
	broker, err := mqtttest.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	brokerURL := broker.URL()
	ctx := context.Background()

	agent, err := mqtt.New(brokerURL, "proto::agent", mqtt.WithTopic("usp/agent/1"))
	if err != nil {
		panic(err)
	}
	err = agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		fmt.Printf("agent got %q, answers to %v\n", in.Data, in.ReplyTo)
		// Answer from a goroutine: handlers should return quickly.
		go func() { _ = agent.Send(ctx, in.ReplyTo, []byte("response")) }()
	}})
	if err != nil {
		panic(err)
	}
	defer agent.Close(ctx)

	got := make(chan mtp.Inbound, 1)
	ctl, err := mqtt.New(brokerURL, "proto::controller", mqtt.WithTopic("usp/controller"))
	if err != nil {
		panic(err)
	}
	if err := ctl.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { got <- in }}); err != nil {
		panic(err)
	}
	defer ctl.Close(ctx)

	if err := ctl.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: "usp/agent/1"}, []byte("request")); err != nil {
		panic(err)
	}
	in := <-got
	fmt.Printf("controller got %q from %v\n", in.Data, in.ReplyTo)
	// Output:
	// agent got "request", answers to mqtt:usp/controller
	// controller got "response" from mqtt:usp/agent/1
}

// Two controller processes share one endpoint ID and topic; each passes
// its own reply topic to agents.
func ExampleWithSharedSubscription() {
	// An embedded broker for the example; use your broker's URL instead.
	broker, err := mqtttest.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	brokerURL := broker.URL()
	ctx := context.Background()
	for _, id := range []string{"controller-a", "controller-b"} {
		ctl, err := mqtt.New(brokerURL, "proto::controller",
			mqtt.WithTopic("usp/controller"),
			mqtt.WithSharedSubscription("controllers"),
			mqtt.WithClientID(id))
		if err != nil {
			panic(err)
		}
		err = ctl.Start(ctx, mtp.HandlerFuncs{Event: func(ev mtp.Event) {
			fmt.Println(ev.Kind, ev.Local)
		}})
		if err != nil {
			panic(err)
		}
		defer ctl.Close(ctx)
	}
	// Output:
	// up mqtt:usp/controller/reply/controller-a
	// up mqtt:usp/controller/reply/controller-b
}

func ExampleSplitReplyTo() {
	topic := mqtt.JoinReplyTo("usp/agent/1", "usp/controller")
	fmt.Println(topic)
	base, replyTo, ok := mqtt.SplitReplyTo(topic)
	fmt.Println(base, replyTo, ok)
	// Output:
	// usp/agent/1/reply-to=usp%2Fcontroller
	// usp/agent/1 usp/controller true
}
