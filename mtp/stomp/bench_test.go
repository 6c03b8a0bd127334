package stomp_test

import (
	"context"
	"testing"

	gostomp "github.com/go-stomp/stomp/v3"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

type echo struct{ in chan mtp.Inbound }

func (e echo) HandleRecord(in mtp.Inbound) { e.in <- in }
func (echo) HandleEvent(mtp.Event)         {}

// BenchmarkRoundTrip measures one 1 KiB record out and back through a
// broker, with gousp transports at both ends, and with bare go-stomp
// connections for comparison.
func BenchmarkRoundTrip(b *testing.B) {
	record := make([]byte, 1024)
	for _, br := range []struct {
		name  string
		start func(b *testing.B) (string, []stomp.Option, []func(*gostomp.Conn) error)
	}{
		{"go-stomp-server", func(b *testing.B) (string, []stomp.Option, []func(*gostomp.Conn) error) {
			return brokertest.StartStompServer(b), nil, nil
		}},
		{"rabbitmq", func(b *testing.B) (string, []stomp.Option, []func(*gostomp.Conn) error) {
			return brokertest.StartRabbitMQ(b), rabbitOpts,
				[]func(*gostomp.Conn) error{gostomp.ConnOpt.Host("/"), gostomp.ConnOpt.Login("guest", "guest")}
		}},
	} {
		b.Run("gousp/"+br.name, func(b *testing.B) {
			addr, opts, _ := br.start(b)
			agent, err := stomp.New(addr, "proto::agent", append(opts, stomp.WithDestination("/queue/bench-agent"))...)
			if err != nil {
				b.Fatal(err)
			}
			e := echo{in: make(chan mtp.Inbound, 16)}
			if err := agent.Start(context.Background(), e); err != nil {
				b.Fatal(err)
			}
			go func() {
				for in := range e.in {
					_ = agent.Send(context.Background(), in.ReplyTo, in.Data)
				}
			}()
			b.Cleanup(func() {
				_ = agent.Close(context.Background())
				close(e.in)
			})
			ctl, rec, _ := start(b, addr, "proto::ctl", append(opts, stomp.WithDestination("/queue/bench-ctl"))...)
			to := mtp.Address{MTP: stomp.Kind, To: "/queue/bench-agent"}
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
		b.Run("bare-go-stomp/"+br.name, func(b *testing.B) {
			addr, _, connOpts := br.start(b)
			dial := func() *gostomp.Conn {
				c, err := gostomp.Dial("tcp", addr, append(connOpts, gostomp.ConnOpt.Logger(nopLogger{}))...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = c.Disconnect() })
				return c
			}
			agent, ctl := dial(), dial()
			asub, err := agent.Subscribe("/queue/bare-agent", gostomp.AckAuto)
			if err != nil {
				b.Fatal(err)
			}
			csub, err := ctl.Subscribe("/queue/bare-ctl", gostomp.AckAuto)
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for m := range asub.C {
					if m.Err != nil {
						return
					}
					_ = agent.Send(m.Header.Get("reply-to-dest"), m.ContentType, m.Body)
				}
			}()
			b.SetBytes(int64(len(record)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ctl.Send("/queue/bare-agent", stomp.ContentType, record,
					gostomp.SendOpt.Header("reply-to-dest", "/queue/bare-ctl")); err != nil {
					b.Fatal(err)
				}
				<-csub.C
			}
		})
	}
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any)   {}
func (nopLogger) Infof(string, ...any)    {}
func (nopLogger) Warningf(string, ...any) {}
func (nopLogger) Errorf(string, ...any)   {}
func (nopLogger) Debug(string)            {}
func (nopLogger) Info(string)             {}
func (nopLogger) Warning(string)          {}
func (nopLogger) Error(string)            {}
