package usptest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

// Intercept scripts the answer to one request type; the model answers the
// rest. Here the first Set is refused, and the controller sees the error.
func ExampleAgent_Intercept() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx)
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	sets := p.Fake.Intercept(uspmsg.Header_SET).Fail(msg.CodeRequestDenied, "maintenance window").Times(1)
	params := map[string]string{"ProvisioningCode": "abc"}

	_, err = p.Agent.SetValues(ctx, "Device.DeviceInfo.", params)
	fmt.Println(errors.Is(err, msg.ErrRequestDenied))
	_, err = p.Agent.SetValues(ctx, "Device.DeviceInfo.", params) // the model answers this one
	fmt.Println(err, sets.Calls())
	// Output:
	// true
	// <nil> 1
}

// Control gives full control: the function sees each request and decides.
// An agent whose model is empty and whose last control drops everything
// answers only what the test scripts.
func ExampleAgent_Control() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx, usptest.WithAgentOptions(usptest.WithModel(usptest.NewModel())))
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	p.Fake.Control(func(r usptest.Request) (msg.Message, bool) {
		if r.Type() != uspmsg.Header_GET {
			return nil, false
		}
		path := r.Msg.GetBody().GetRequest().GetGet().GetParamPaths()[0]
		return msg.GetResp{Results: []msg.GetResult{{
			Requested: path,
			Resolved:  []msg.Resolved{{Path: "Device.DeviceInfo.", Params: map[string]string{"ModelName": "scripted"}}},
		}}}, true
	})
	p.Fake.Control(func(usptest.Request) (msg.Message, bool) { return nil, true }) // drop the rest

	v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.ModelName")
	fmt.Println(v, err)
	// Output: scripted <nil>
}
