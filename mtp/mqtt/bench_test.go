package mqtt_test

import (
	"context"
	"testing"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// echo is an agent-side handler that sends every record back from a
// goroutine of its own, as handlers should not block the transport.
type echo struct {
	in chan mtp.Inbound
}

func (e echo) HandleRecord(in mtp.Inbound) { e.in <- in }

func (echo) HandleEvent(mtp.Event) {}

func (e echo) serve(tr *mqtt.Transport) {
	for in := range e.in {
		_ = tr.Send(context.Background(), in.ReplyTo, in.Data)
	}
}

// BenchmarkRoundTrip measures one 1 KiB record out and back through the
// embedded broker: gousp transports at both ends, and bare paho clients
// for comparison.
func BenchmarkRoundTrip(b *testing.B) {
	record := make([]byte, 1024)
	for _, qos := range []byte{0, 1} {
		name := map[byte]string{0: "qos0", 1: "qos1"}[qos]
		b.Run("gousp/"+name, func(b *testing.B) {
			url := brokertest.StartEmbedded(b)
			agent, err := mqtt.New(url, "proto::agent", mqtt.WithTopic("agent"), mqtt.WithQoS(qos))
			if err != nil {
				b.Fatal(err)
			}
			e := echo{in: make(chan mtp.Inbound, 16)}
			if err := agent.Start(context.Background(), e); err != nil {
				b.Fatal(err)
			}
			go e.serve(agent)
			b.Cleanup(func() {
				_ = agent.Close(context.Background())
				close(e.in)
			})
			ctl, rec, _ := start(b, url, "proto::ctl", mqtt.WithTopic("ctl"), mqtt.WithQoS(qos))
			to := mtp.Address{MTP: mqtt.Kind, To: "agent"}
			ctx := context.Background()
			b.SetBytes(int64(len(record)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ctl.Send(ctx, to, record); err != nil {
					b.Fatal(err)
				}
				<-rec.Records
			}
		})
		b.Run("bare-paho/"+name, func(b *testing.B) {
			url := brokertest.StartEmbedded(b)
			agent := brokertest.DialPaho(b, url, "agent")
			agent.Echo(qos)
			ctl := brokertest.DialPaho(b, url, "ctl")
			ctx := context.Background()
			b.SetBytes(int64(len(record)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ctl.RoundTrip(ctx, "agent", qos, record); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSplitReplyTo(b *testing.B) {
	topic := mqtt.JoinReplyTo("usp/agents/os::012345-ABCDEF", "usp/controllers/proto::controller-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := mqtt.SplitReplyTo(topic); !ok {
			b.Fatal("no suffix")
		}
	}
}
