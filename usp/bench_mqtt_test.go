package usp_test

import (
	"context"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// BenchmarkGetMQTT compares a Get round trip through the embedded MQTT
// broker, controller to usptest agent and back, with the ceiling: a bare
// paho.golang request and echoed response of the same size, at the same
// QoS, through the same broker, in the same run. The controller runs on
// the transport's default connection, its own client
// (GOUSP_CTRL_CONN=autopaho: on mqtt.WithPahoClient); the agent, as BenchmarkNotifyBurst's
// and uspsim's, on the minimal client (GOUSP_GET_AGENT_CONN=own, =lean or
// =autopaho put it on the transport's default, paho's client or autopaho).
func BenchmarkGetMQTT(b *testing.B) {
	url := brokertest.StartEmbedded(b)
	const path = "Device.DeviceInfo.Manufacturer"

	b.Run("gousp", func(b *testing.B) {
		ct, err := mqtt.New(url, ctrlID, append(benchCtrlConn(), mqtt.WithTopic("/usp/controller/bench"), mqtt.WithQoS(1))...)
		if err != nil {
			b.Fatal(err)
		}
		c, err := usp.NewController(ctrlID, usp.WithTransport(ct), usp.WithAgent(e2eAgentID, mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/bench"}))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer c.Close(context.Background())
		opts := []mqtt.Option{mqtt.WithTopic("/usp/agent/bench"), mqtt.WithQoS(1)}
		switch os.Getenv("GOUSP_GET_AGENT_CONN") {
		case "own":
		case "autopaho":
			opts = append(opts, mqtt.WithPahoClient())
		case "lean":
			opts = append(opts, mqtt.WithLeanConnection())
		default:
			opts = append(opts, mqtt.WithMinimalClient())
		}
		at, err := mqtt.New(url, e2eAgentID, opts...)
		if err != nil {
			b.Fatal(err)
		}
		agent, err := usptest.NewAgent(e2eAgentID, usptest.WithTransport(at),
			usptest.WithController(ctrlID, mtp.Address{MTP: mtp.MQTT, To: "/usp/controller/bench"}), usptest.WithoutBootSubscription())
		if err != nil {
			b.Fatal(err)
		}
		if err := agent.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer agent.Close(context.Background())
		ag := c.Agent(e2eAgentID)
		ctx := context.Background()
		if _, err := ag.GetValue(ctx, path); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := ag.GetValue(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("bare-paho", func(b *testing.B) {
		// A request record of the size gousp sends for this Get.
		payload, _ := proto.Marshal(msg.Get{Paths: []string{path}}.Build(msg.NewID()))
		req, _ := record.Encode(record.NewNoSessionContext("1.3", e2eAgentID, ctrlID, payload))
		client := brokertest.DialPaho(b, url, "/usp/controller/bare")
		server := brokertest.DialPaho(b, url, "/usp/agent/bare")
		server.Echo(1)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := client.RoundTrip(ctx, "/usp/agent/bare", 1, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchCtrlConn is the options of the benchmarks' controller connection:
// the transport's default, or mqtt.WithPahoClient with
// GOUSP_CTRL_CONN=autopaho (the default before the transport's own client).
func benchCtrlConn() []mqtt.Option {
	if os.Getenv("GOUSP_CTRL_CONN") == "autopaho" {
		return []mqtt.Option{mqtt.WithPahoClient()}
	}
	return nil
}
