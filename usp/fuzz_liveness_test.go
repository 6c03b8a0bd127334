package usp

import (
	"context"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

// FuzzLivenessInput feeds what agents control to the liveness code: the
// ParameterMap of a Boot! event (JSON the agent writes) and the payload of
// a message on a broker binding that is not a record (read as an MQTT
// Will). Nothing may panic, and the inventory keeps only DeviceInfo
// parameters.
func FuzzLivenessInput(f *testing.F) {
	f.Add(`{"Device.DeviceInfo.ModelName":"m","Device.DeviceInfo.SerialNumber":"s"}`, []byte("proto::fuzz-agent"))
	f.Add(`{"Device.DeviceInfo.":"x","Device.DeviceInfo.Sub.Param":"y"}`, []byte(" proto::fuzz-agent\n"))
	f.Add(`not json`, []byte{0xff, 0x00})
	f.Add(`[]`, []byte("os::012345-ABC"))
	net := memory.NewNetwork()
	ep, err := net.Endpoint("proto::test-controller")
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewController("proto::test-controller", WithTransport(ep), WithLiveness(LivenessConfig{Hold: -1}))
	if err != nil {
		f.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close(context.Background()) })
	const id = "proto::fuzz-agent"
	c.live.seen(id, mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/fuzz"}, time.Now(), mqttUnknown)
	broker := &route{c: c, t: ep, kind: mtp.MQTT}
	f.Fuzz(func(t *testing.T, paramMap string, will []byte) {
		c.live.bootInfo(id, &msg.Event{ObjPath: "Device.", EventName: "Boot!", Params: map[string]string{"ParameterMap": paramMap}}, time.Now())
		if e, ok := c.Inventory().Get(id); !ok || e.EndpointID != id {
			t.Fatalf("agent entry %+v %v", e, ok)
		}
		c.live.will(broker, will, func(string) error { return nil })
		c.live.seen(id, mtp.Address{}, time.Now(), mqttUnknown)
	})
}
