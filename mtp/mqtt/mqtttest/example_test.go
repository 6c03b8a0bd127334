package mqtttest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
)

// Two MQTT transports exchange a record through a broker in the process.
func Example() {
	b, err := mqtttest.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got := make(chan []byte, 1)
	agent, err := mqtt.New(b.URL(), "proto::agent", mqtt.WithTopic("usp/agent"))
	if err != nil {
		panic(err)
	}
	if err := agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) { got <- in.Data }}); err != nil {
		panic(err)
	}
	defer agent.Close(ctx)

	ctl, err := mqtt.New(b.URL(), "proto::controller", mqtt.WithTopic("usp/controller"))
	if err != nil {
		panic(err)
	}
	if err := ctl.Start(ctx, mtp.HandlerFuncs{}); err != nil {
		panic(err)
	}
	defer ctl.Close(ctx)
	if err := ctl.Send(ctx, mtp.Address{MTP: mtp.MQTT, To: "usp/agent"}, []byte("hello")); err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", <-got)
	// Output: hello
}
