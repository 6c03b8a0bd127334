package usptest_test

import (
	"context"
	"fmt"

	"github.com/gousp/gousp/usp/usptest"
)

// exampleT stands in for the *testing.T a real test passes: it runs the
// cleanups when the example ends.
type exampleT struct{ cleanups []func() }

func (*exampleT) Helper()                        {}
func (*exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (t *exampleT) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// In a test, one call gives a started controller talking to a fake agent;
// both are closed when the test ends. Here t is a stand-in for the test's
// *testing.T.
func ExampleNewPair() {
	t := &exampleT{}
	defer t.end()

	p := usptest.NewPair(t)
	v, err := p.Agent.GetValue(context.Background(), "Device.DeviceInfo.ModelName")
	fmt.Println(v, err)
	// Output: usptest <nil>
}

// StartAgent starts a fake agent on the transports given; here a memory
// endpoint of the pair's network, as a second agent beside the first.
func ExampleStartAgent() {
	t := &exampleT{}
	defer t.end()

	p := usptest.NewPair(t)
	ep, err := p.Network.Endpoint("proto::second-agent")
	if err != nil {
		panic(err)
	}
	a := usptest.StartAgent(t, "proto::second-agent", usptest.WithTransport(ep))
	v, err := a.Model().Get("Device.DeviceInfo.Manufacturer")
	fmt.Println(a.EndpointID(), v, err)
	// Output: proto::second-agent gousp <nil>
}
