package stomp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// restartTest stops the broker under two connected transports, checks
// Down and fail-fast sends, starts it again on the same port and checks
// that both resubscribed.
func restartTest(t *testing.T, addr string, stop, startAgain func(), opts ...stomp.Option) {
	agent, agentRec, _ := start(t, addr, "proto::agent", append(opts, stomp.WithDestination("/queue/restart-agent"))...)
	ctl, ctlRec, _ := start(t, addr, "proto::ctl", append(opts, stomp.WithDestination("/queue/restart-ctl"))...)
	send(t, ctl, "/queue/restart-agent", "before")
	if got := agentRec.Record(); string(got.Data) != "before" {
		t.Fatalf("got %q", got.Data)
	}
	stop()
	for _, rec := range []*recorder{agentRec, ctlRec} {
		if down := rec.Event(mtp.Down); down.Err == nil {
			t.Error("Down without an error")
		}
	}
	began := time.Now()
	err := ctl.Send(context.Background(), mtp.Address{MTP: stomp.Kind, To: "/queue/restart-agent"}, []byte("lost"))
	if !errors.Is(err, mtp.ErrNotConnected) {
		t.Fatalf("Send while down = %v", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("Send while down took %v", d)
	}
	startAgain()
	agentRec.Event(mtp.Up)
	ctlRec.Event(mtp.Up)
	send(t, ctl, "/queue/restart-agent", "after")
	if got := agentRec.Record(); string(got.Data) != "after" {
		t.Fatalf("got %q", got.Data)
	}
	send(t, agent, "/queue/restart-ctl", "back")
	if got := ctlRec.Record(); string(got.Data) != "back" {
		t.Fatalf("got %q", got.Data)
	}
}

func TestStompServerRestart(t *testing.T) {
	s := brokertest.NewStompServer(t)
	restartTest(t, s.Addr(), s.Stop, s.Start)
}

func TestRabbitMQRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a private RabbitMQ node twice")
	}
	r := brokertest.NewRabbitMQ(t, brokertest.RabbitMQConfig{})
	restartTest(t, r.StompAddr(), r.Stop, func() {
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
	}, append(rabbitOpts, stomp.WithReconnectBackoff(50*time.Millisecond, time.Second))...)
}

func TestRabbitMQTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a private RabbitMQ node")
	}
	ca := testcert.NewCA(t)
	r := brokertest.NewRabbitMQ(t, brokertest.RabbitMQConfig{TLS: &brokertest.TLS{
		Cert: ca.Server(t), CA: ca.Cert, ClientCAs: []*x509.Certificate{ca.Cert},
	}})
	cert := ca.Client(t, "proto::agent")
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"mutual", ca.ClientConfig(&cert), true},
		{"no client certificate", ca.ClientConfig(nil), false},
		{"unknown server CA", testcert.NewCA(t).ClientConfig(&cert), false},
		{"TLS 1.1 only", func() *tls.Config { c := ca.ClientConfig(&cert); c.MaxVersion = tls.VersionTLS11; return c }(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append(rabbitOpts, stomp.WithDestination("/queue/tls"), stomp.WithTLS(tc.cfg))
			if !tc.ok {
				tr, err := stomp.New(r.StompTLSAddr(), "proto::agent", append(fastOpts(t), opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := tr.Start(ctx, newRecorder(t)); err == nil {
					t.Fatal("Start succeeded")
				}
				return
			}
			tr, rec, _ := start(t, r.StompTLSAddr(), "proto::agent", opts...)
			send(t, tr, "/queue/tls", "over tls")
			if got := rec.Record(); string(got.Data) != "over tls" {
				t.Fatalf("got %q", got.Data)
			}
		})
	}
}

// TestRabbitMQMessageHeaders checks what RabbitMQ delivers: the record
// that was queued before its reader subscribed, with reply-to-dest, as in
// the OB-USP-A captures (stomp-01-connect was queued the same way).
func TestRabbitMQMessageHeaders(t *testing.T) {
	addr := brokertest.StartRabbitMQ(t)
	agent, _, _ := start(t, addr, "proto::agent", append(rabbitOpts, stomp.WithDestination("/queue/usp-agent-hdr"))...)
	send(t, agent, "/queue/usp-controller-hdr", "connect record")
	_, rec, _ := start(t, addr, "proto::ctl", append(rabbitOpts, stomp.WithDestination("/queue/usp-controller-hdr"))...)
	in := rec.Record()
	if string(in.Data) != "connect record" || in.ReplyTo != (mtp.Address{MTP: stomp.Kind, To: "/queue/usp-agent-hdr"}) {
		t.Fatalf("got %q reply-to %v", in.Data, in.ReplyTo)
	}
}
