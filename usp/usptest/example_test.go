package usptest_test

import (
	"context"
	"fmt"
	"log"
	"sort"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp/usptest"
	"google.golang.org/protobuf/proto"
)

// exampleController is the smallest possible controller: it sends one
// request to the agent over a memory network and returns the answer. Real
// tests use the usp package's Controller instead.
type exampleController struct {
	ep  *memory.Endpoint
	in  chan *uspmsg.Msg
	id  string
	dst string
}

func newExampleController(net *memory.Network, id, agent string) *exampleController {
	ep, err := net.Endpoint(id)
	if err != nil {
		log.Fatal(err)
	}
	c := &exampleController{ep: ep, in: make(chan *uspmsg.Msg, 16), id: id, dst: agent}
	err = ep.Start(context.Background(), mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		rec, err := record.Decode(in.Data)
		if err != nil {
			return
		}
		payload, err := record.Payload(rec)
		if err != nil {
			return // connect records and the like
		}
		m := &uspmsg.Msg{}
		if proto.Unmarshal(payload, m) == nil {
			c.in <- m
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// call sends a request and waits for the message with its msg_id.
func (c *exampleController) call(req msg.Request, id string) *uspmsg.Msg {
	payload, err := proto.Marshal(req.Build(id))
	if err != nil {
		log.Fatal(err)
	}
	data, err := record.Encode(record.NewNoSessionContext("1.3", c.dst, c.id, payload))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.ep.Send(context.Background(), mtp.Address{MTP: mtp.Memory, To: c.dst}, data); err != nil {
		log.Fatal(err)
	}
	for m := range c.in {
		if m.GetHeader().GetMsgId() == id {
			return m
		}
	}
	return nil
}

// Start an agent on an in-process memory network and ask it for values.
func Example() {
	ctx := context.Background()
	net := memory.NewNetwork()
	ctrl := newExampleController(net, "proto::controller", "proto::agent")
	defer ctrl.ep.Close(ctx)

	// The agent's memory endpoint is named after its endpoint ID.
	ep, err := net.Endpoint("proto::agent")
	if err != nil {
		log.Fatal(err)
	}
	agent, err := usptest.NewAgent("proto::agent",
		usptest.WithTransport(ep),
		usptest.WithController("proto::controller", mtp.Address{MTP: mtp.Memory, To: "proto::controller"}))
	if err != nil {
		log.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer agent.Close(ctx)

	boot := <-ctrl.in // Start sends Boot! to the controller's subscription
	fmt.Println(boot.GetBody().GetRequest().GetNotify().GetEvent().GetEventName())

	resp := ctrl.call(msg.Get{Paths: []string{"Device.WiFi.SSID.*.SSID"}}, "get-1")
	var lines []string
	for _, r := range resp.GetBody().GetResponse().GetGetResp().GetReqPathResults() {
		for _, rp := range r.GetResolvedPathResults() {
			for k, v := range rp.GetResultParams() {
				lines = append(lines, rp.GetResolvedPath()+k+" = "+v)
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// Boot!
	// Device.WiFi.SSID.1.SSID = usptest
	// Device.WiFi.SSID.2.SSID = usptest-5G
}

// Make the next Set fail, as a device short of memory would, and check
// that nothing changed.
func ExampleFaults() {
	ctx := context.Background()
	net := memory.NewNetwork()
	ctrl := newExampleController(net, "proto::controller", "proto::agent")
	defer ctrl.ep.Close(ctx)
	ep, err := net.Endpoint("proto::agent")
	if err != nil {
		log.Fatal(err)
	}
	agent, err := usptest.NewAgent("proto::agent", usptest.WithTransport(ep))
	if err != nil {
		log.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer agent.Close(ctx)

	agent.Faults().FailNext(uspmsg.Header_SET, msg.CodeResourcesExceeded)
	set := msg.SetParams("Device.WiFi.SSID.1.", map[string]string{"SSID": "guest"})
	resp := ctrl.call(set, "set-1")
	fmt.Println("error", resp.GetBody().GetError().GetErrCode())
	v, _ := agent.Model().Get("Device.WiFi.SSID.1.SSID")
	fmt.Println("SSID", v)

	resp = ctrl.call(set, "set-2") // the fault is used up
	fmt.Println("updated", len(resp.GetBody().GetResponse().GetSetResp().GetUpdatedObjResults()))
	v, _ = agent.Model().Get("Device.WiFi.SSID.1.SSID")
	fmt.Println("SSID", v)
	// Output:
	// error 7005
	// SSID usptest
	// updated 1
	// SSID guest
}

// Give the agent a vendor object and a command of its own.
func ExampleModel_Define() {
	m := usptest.DefaultModel()
	err := m.Define(`
Device.X_EXAMPLE-COM_Fan.
  Speed      unsignedInt  rw  = 1200
  Mode       string       rw  enum=Auto,Manual = Auto
  Boost()    sync   in=Seconds  out=Speed
`)
	if err != nil {
		log.Fatal(err)
	}
	err = m.HandleCommand("Device.X_EXAMPLE-COM_Fan.Boost()", func(ctx context.Context, path string, args map[string]string) (map[string]string, error) {
		return map[string]string{"Speed": "3000"}, m.Set("Device.X_EXAMPLE-COM_Fan.Speed", "3000")
	})
	if err != nil {
		log.Fatal(err)
	}
	err = m.Set("Device.X_EXAMPLE-COM_Fan.Mode", "Turbo")
	fmt.Println(msg.CodeOf(err) == msg.CodeInvalidValue)
	mode, _ := m.Get("Device.X_EXAMPLE-COM_Fan.Mode")
	fmt.Println(mode)
	// Output:
	// true
	// Auto
}
