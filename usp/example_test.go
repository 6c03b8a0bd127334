package usp_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// The examples run against a controller and a usptest agent on an
// in-process network, which usptest.StartPair sets up; real programs use
// mtp/mqtt, mtp/stomp, mtp/websocket or mtp/uds.
func ExampleAgent_GetValues() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx)
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	dev := p.Agent // p.Controller.Agent(usptest.PairAgentID)
	vals, err := dev.GetValues(ctx, "Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.NoSuchParam")
	fmt.Println(vals["Device.DeviceInfo.SoftwareVersion"])
	fmt.Println(errors.Is(err, msg.ErrInvalidPath)) // the bad path's own error
	// Output:
	// 1.0.0
	// true
}

func ExampleAgent_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx)
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	dev := p.Agent
	sub, err := dev.Subscribe(ctx, usp.SubscriptionSpec{
		NotifType:     usp.NotifValueChange,
		ReferenceList: []string{"Device.WiFi.SSID.*.SSID"},
		NotifRetry:    true,
	})
	if err != nil {
		panic(err)
	}
	defer sub.Unsubscribe(ctx)

	// The device changes a value on its own.
	_ = p.Fake.Model().Set("Device.WiFi.SSID.2.SSID", "guest")
	for n, err := range sub.Notifications(ctx) {
		if err != nil {
			panic(err)
		}
		vc := n.Body.(*msg.ValueChange)
		fmt.Println(vc.ParamPath, "=", vc.ParamValue)
		break
	}
	// Output:
	// Device.WiFi.SSID.2.SSID = guest
}

func ExampleAgent_Call() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx)
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	// IPPing() is asynchronous: Call waits for its OperationComplete.
	out, err := p.Agent.Call(ctx, "Device.IP.Diagnostics.IPPing()",
		map[string]string{"Host": "127.0.0.1", "NumberOfRepetitions": "2"})
	if err != nil {
		panic(err)
	}
	fmt.Println(out["Status"], out["SuccessCount"])
	// Output:
	// Complete 2
}

func ExampleController_OnAgentEvent() {
	net := memory.NewNetwork()
	ct, _ := net.Endpoint("proto::example-controller")
	c, _ := usp.NewController("proto::example-controller", usp.WithTransport(ct))
	arrived := make(chan string, 1)
	remove := c.OnAgentEvent(func(ev usp.AgentEvent) {
		if ev.Kind == usp.AgentConnected {
			arrived <- ev.Agent.EndpointID
		}
	})
	defer remove()
	_ = c.Start(context.Background())
	defer c.Close(context.Background())

	// An agent that knows the controller announces itself (Boot!).
	at, _ := net.Endpoint("os::012345-EXAMPLE02")
	agent, _ := usptest.NewAgent("os::012345-EXAMPLE02", usptest.WithTransport(at),
		usptest.WithController("proto::example-controller", mtp.Address{MTP: mtp.Memory, To: "proto::example-controller"}))
	_ = agent.Start(context.Background())
	defer agent.Close(context.Background())

	fmt.Println(<-arrived)
	// Output:
	// os::012345-EXAMPLE02
}

// A USP Broker: a Service registers the paths it serves, and the Broker
// asks it for their supported data model once the RegisterResp is out.
func ExampleRegistry() {
	net := memory.NewNetwork()
	bt, _ := net.Endpoint("proto::example-broker")
	st, _ := net.Endpoint("proto::example-service")
	described := make(chan int, 1)
	reg := &usp.Registry{
		Registered: func(ctx context.Context, svc *usp.Agent, paths []string) {
			dm, err := svc.GetSupportedDM(ctx, msg.GetSupportedDM{Paths: paths, FirstLevelOnly: true})
			if err != nil {
				described <- -1
				return
			}
			described <- len(dm.Results[0].Objects)
		},
	}
	broker, _ := usp.NewController("proto::example-broker", usp.WithTransport(bt), usp.WithBrokerHandler(reg))
	_ = broker.Start(context.Background())
	defer broker.Close(context.Background())
	svc, _ := usptest.NewAgent("proto::example-service", usptest.WithTransport(st),
		usptest.WithController("proto::example-broker", mtp.Address{MTP: mtp.Memory, To: "proto::example-broker"}))
	_ = svc.Start(context.Background())
	defer svc.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := svc.Register(ctx, "proto::example-broker", msg.Register{Paths: []string{"Device.WiFi.", "Device.Nope"}})
	fmt.Println(resp, err) // allow_partial false: one bad path fails all
	resp, _ = svc.Register(ctx, "proto::example-broker", msg.Register{Paths: []string{"Device.WiFi."}})
	fmt.Println(resp.Results[0].Path, <-described > 0)
	owner, _ := reg.Owner("Device.WiFi.SSID.1.SSID")
	fmt.Println(owner)
	// Output:
	// <nil> usp error 7028 (register failure): registration failed and allow_partial is false: no path was registered; Device.Nope: 7028 (register failure): not an object path of the supported data model
	// Device.WiFi. true
	// proto::example-service
}
