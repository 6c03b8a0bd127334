package mqtt_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/embedbroker"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
)

// brokers are the brokers every behaviour test runs against.
var brokers = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"embedded", func(t *testing.T) string { return brokertest.StartEmbedded(t) }},
	{"mosquitto", func(t *testing.T) string { return brokertest.StartMosquitto(t) }},
}

func TestRoundTrip(t *testing.T) {
	for _, b := range brokers {
		for _, qos := range []byte{0, 1} {
			t.Run(fmt.Sprintf("%s/qos%d", b.name, qos), func(t *testing.T) {
				url := b.start(t)
				agent, agentRec, agentUp := start(t, url, "proto::agent", mqtt.WithTopic("usp/agent/a"), mqtt.WithQoS(qos))
				ctl, ctlRec, ctlUp := start(t, url, "proto::controller", mqtt.WithTopic("usp/controller/c"), mqtt.WithQoS(qos))
				if want := (mtp.Address{MTP: mtp.MQTT, To: "usp/agent/a"}); agentUp.Local != want {
					t.Errorf("agent Up.Local = %v, want %v", agentUp.Local, want)
				}
				if want := (mtp.Address{MTP: mtp.MQTT, To: "usp/controller/c"}); ctlUp.Local != want {
					t.Errorf("controller Up.Local = %v, want %v", ctlUp.Local, want)
				}

				send(t, ctl, "usp/agent/a", "request")
				req := agentRec.Record()
				if string(req.Data) != "request" {
					t.Fatalf("agent got %q", req.Data)
				}
				if want := (mtp.Address{MTP: mtp.MQTT, To: "usp/controller/c"}); req.ReplyTo != want {
					t.Fatalf("request ReplyTo = %v, want %v", req.ReplyTo, want)
				}
				if req.PeerID != "" {
					t.Errorf("PeerID = %q, MQTT gives none", req.PeerID)
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				if err := agent.Send(ctx, req.ReplyTo, []byte("response")); err != nil {
					t.Fatal(err)
				}
				resp := ctlRec.Record()
				if string(resp.Data) != "response" || resp.ReplyTo.To != "usp/agent/a" {
					t.Fatalf("controller got %q reply-to %v", resp.Data, resp.ReplyTo)
				}
			})
		}
	}
}

func TestBinaryRecordIntact(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	_, rec, _ := start(t, url, "proto::a", mqtt.WithTopic("a"))
	b, _, _ := start(t, url, "proto::b", mqtt.WithTopic("b"))
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := b.Send(context.Background(), mtp.Address{MTP: mqtt.Kind, To: "a"}, data); err != nil {
		t.Fatal(err)
	}
	if got := rec.Record(); !bytes.Equal(got.Data, data) {
		t.Fatalf("record changed in transit (%d bytes back)", len(got.Data))
	}
}

// connackProps makes the embedded broker add properties to every MQTT 5
// CONNACK, as a broker that assigns reply topics would.
func connackProps(shape func(c embedbroker.Client, p *embedbroker.Properties)) brokertest.EmbeddedConfig {
	return brokertest.EmbeddedConfig{Interceptor: embedbroker.InterceptorFuncs{Out: func(c embedbroker.Client, p *embedbroker.Packet) bool {
		if p.Type == embedbroker.PacketConnack && p.Props != nil {
			shape(c, p.Props)
		}
		return true
	}}}
}

// wireLog keeps what the embedded broker saw of CONNECTs and PUBLISHes.
type wireLog struct {
	mu       sync.Mutex
	connects []embedbroker.Packet
	pubs     []embedbroker.Packet
}

func (w *wireLog) config() brokertest.EmbeddedConfig {
	return brokertest.EmbeddedConfig{Interceptor: embedbroker.InterceptorFuncs{In: func(_ embedbroker.Client, p *embedbroker.Packet) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch p.Type {
		case embedbroker.PacketConnect:
			w.connects = append(w.connects, *p)
		case embedbroker.PacketPublish:
			w.pubs = append(w.pubs, *p)
		}
		return true
	}}}
}

func TestWireProperties(t *testing.T) {
	hook := &wireLog{}
	b := brokertest.NewEmbedded(t, hook.config())
	ctl, _, _ := start(t, b.URL(), "proto::ctl", mqtt.WithTopic("ctl"), mqtt.WithCredentials("user", "secret"), mqtt.WithQoS(0))
	agent := brokertest.DialPaho(t, b.URL(), "agent")
	send(t, ctl, "agent", "x")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := agent.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.connects) != 2 { // ours and the bare peer's
		t.Fatalf("%d CONNECTs", len(hook.connects))
	}
	c := hook.connects[0].Connect
	props := hook.connects[0].Props
	if c.Version != 5 || props == nil {
		t.Fatalf("protocol version %d, properties %v", c.Version, props)
	}
	if props.RequestResponse == nil || *props.RequestResponse != 1 {
		t.Error("CONNECT does not request Response Information")
	}
	if props.ReceiveMaximum != nil && *props.ReceiveMaximum != mqtt.DefaultReceiveMaximum {
		t.Errorf("CONNECT Receive Maximum %d, want %d", *props.ReceiveMaximum, mqtt.DefaultReceiveMaximum)
	}
	found := false
	for _, p := range props.User {
		if p.Key == mqtt.PropEndpointID && p.Value == "proto::ctl" {
			found = true
		}
	}
	if !found {
		t.Errorf("CONNECT User Properties %v lack %s", props.User, mqtt.PropEndpointID)
	}
	if c.Username != "user" || string(c.Password) != "secret" {
		t.Errorf("credentials %q/%q", c.Username, c.Password)
	}
	if c.ClientID != "" {
		t.Errorf("client identifier %q: without a configured one R-MQTT.8 wants it empty", c.ClientID)
	}
	if len(hook.pubs) != 1 {
		t.Fatalf("%d PUBLISHes", len(hook.pubs))
	}
	p := hook.pubs[0]
	if p.Topic != "agent" || p.Props == nil || p.Props.ContentType != "usp.msg" || p.Props.ResponseTopic != "ctl" || p.QoS != 0 {
		t.Errorf("PUBLISH topic %q properties %+v qos %d", p.Topic, p.Props, p.QoS)
	}
}

func TestConnackResponseInfoAndSubscribeTopic(t *testing.T) {
	b := brokertest.NewEmbedded(t, connackProps(func(c embedbroker.Client, p *embedbroker.Properties) {
		p.ResponseInfo = "broker/assigned/" + c.ID
		p.User = append(p.User, embedbroker.UserProperty{Key: mqtt.PropSubscribeTopic, Value: "extra/#"})
	}))
	tr, rec, up := start(t, b.URL(), "proto::agent", mqtt.WithClientID("agent-1"))
	if want := "broker/assigned/agent-1"; up.Local.To != want {
		t.Fatalf("Up.Local = %v, want the Response Information %s", up.Local, want)
	}
	peer := brokertest.DialPaho(t, b.URL(), "peer")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, topic := range []string{"broker/assigned/agent-1", "extra/deep/topic"} {
		if err := peer.Publish(ctx, topic, "peer", 1, []byte(topic)); err != nil {
			t.Fatal(err)
		}
		if got := rec.Record(); string(got.Data) != topic || got.ReplyTo.To != "peer" {
			t.Fatalf("got %q reply-to %v", got.Data, got.ReplyTo)
		}
	}
	if err := tr.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: "peer"}, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := peer.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Properties.ResponseTopic != "broker/assigned/agent-1" {
		t.Fatalf("Response Topic %q, want the Response Information", m.Properties.ResponseTopic)
	}
}

func TestWildcardResponseInfoIgnored(t *testing.T) {
	b := brokertest.NewEmbedded(t, connackProps(func(_ embedbroker.Client, p *embedbroker.Properties) {
		p.ResponseInfo = "bad/+/topic"
	}))
	_, _, up := start(t, b.URL(), "proto::agent", mqtt.WithTopic("good"))
	if up.Local.To != "good" {
		t.Fatalf("Up.Local = %v: a wildcard Response Information must not become the reply topic", up.Local)
	}
}

func TestNoTopicFailsStart(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	tr, err := mqtt.New(url, "proto::x", fastOpts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = tr.Start(ctx, newRecorder(t))
	if !errors.Is(err, mqtt.ErrNoTopic) {
		t.Fatalf("Start = %v, want ErrNoTopic", err)
	}
	if tr.State() != mtp.Closed {
		t.Fatalf("state %v after failed Start", tr.State())
	}
}

func TestContentTypes(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	_, rec, _ := start(t, url, "proto::agent", mqtt.WithTopic("agent"))
	peer := brokertest.DialPaho(t, url, "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, tc := range []struct {
		contentType string
		delivered   bool
	}{
		{"usp.msg", true},
		{"application/vnd.bbf.usp.msg", true},
		{"", true},
		{"usp.error", false},
		{"text/plain", false},
	} {
		_, err := peer.Client().Publish(ctx, publish("agent", tc.contentType, "ctl", []byte("ct="+tc.contentType)))
		if err != nil {
			t.Fatal(err)
		}
		if tc.delivered {
			if got := rec.Record(); string(got.Data) != "ct="+tc.contentType {
				t.Fatalf("content type %q: got %q", tc.contentType, got.Data)
			}
		}
	}
	rec.NoRecord(200 * time.Millisecond)
}

func TestSendErrors(t *testing.T) {
	// The embedded broker announces its limit in CONNACK.
	b := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{MaximumPacketSize: 2048})
	unstarted, err := mqtt.New(b.URL(), "proto::x", mqtt.WithTopic("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := unstarted.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: "y"}, []byte("r")); !errors.Is(err, mtp.ErrNotStarted) {
		t.Errorf("Send before Start = %v", err)
	}
	tr, _, _ := start(t, b.URL(), "proto::a", mqtt.WithTopic("a"), mqtt.WithMaxRecordSize(4096))
	for _, tc := range []struct {
		name string
		to   mtp.Address
		size int
		want error
	}{
		{"wildcard topic", mtp.Address{MTP: mqtt.Kind, To: "b/+"}, 1, mtp.ErrBadAddress},
		{"empty topic", mtp.Address{MTP: mqtt.Kind}, 1, mtp.ErrBadAddress},
		{"other binding", mtp.Address{MTP: mtp.STOMP, To: "/queue/b"}, 1, mtp.ErrBadAddress},
		{"over our limit", mtp.Address{MTP: mqtt.Kind, To: "b"}, 5000, mtp.ErrTooLarge},
		{"over the broker's limit", mtp.Address{MTP: mqtt.Kind, To: "b"}, 3000, mtp.ErrTooLarge},
		{"fits", mtp.Address{MTP: mqtt.Kind, To: "b"}, 1900, nil},
		{"no binding named", mtp.Address{To: "b"}, 10, nil},
	} {
		err := tr.Send(ctx, tc.to, make([]byte, tc.size))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Send = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(ctx, mtp.Address{MTP: mqtt.Kind, To: "b"}, []byte("r")); !errors.Is(err, mtp.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	tr, err := mqtt.New(url, "proto::x", mqtt.WithTopic("x"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Kind() != mtp.MQTT || tr.State() != mtp.Disconnected {
		t.Fatalf("new transport: kind %v state %v", tr.Kind(), tr.State())
	}
	ctx := context.Background()
	if err := tr.Start(ctx, nil); err == nil {
		t.Fatal("Start with nil handler succeeded")
	}
	if err := tr.Start(ctx, newRecorder(t)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(ctx, newRecorder(t)); err == nil {
		t.Fatal("second Start succeeded")
	}
	for range 3 {
		if err := tr.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if tr.State() != mtp.Closed {
		t.Fatalf("state %v", tr.State())
	}

	closedFirst, _ := mqtt.New(url, "proto::y", mqtt.WithTopic("y"))
	if err := closedFirst.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := closedFirst.Start(ctx, newRecorder(t)); !errors.Is(err, mtp.ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
}

func TestStartTimesOutWithoutBroker(t *testing.T) {
	addr := fmt.Sprintf("mqtt://127.0.0.1:%d", brokertest.FreePort(t))
	tr, err := mqtt.New(addr, "proto::x", append(fastOpts(t), mqtt.WithTopic("x"))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = tr.Start(ctx, newRecorder(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want deadline exceeded", err)
	}
	if tr.State() != mtp.Closed {
		t.Fatalf("state %v", tr.State())
	}
}

func TestOversizedInboundDropped(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	_, rec, _ := start(t, url, "proto::a", mqtt.WithTopic("a"), mqtt.WithMaxRecordSize(1000))
	peer := brokertest.DialPaho(t, url, "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// The broker holds back what exceeds our CONNECT Maximum Packet Size.
	big := make([]byte, 2*65535+2000)
	if err := peer.Publish(ctx, "a", "p", 1, big); err != nil {
		t.Fatal(err)
	}
	if err := peer.Publish(ctx, "a", "p", 1, []byte("small")); err != nil {
		t.Fatal(err)
	}
	if got := rec.Record(); string(got.Data) != "small" {
		t.Fatalf("got %d bytes", len(got.Data))
	}
}

func TestTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	serverCert := ca.Server(t)
	clientCert := ca.Client(t, "proto::ctl")
	for _, tc := range []struct {
		name   string
		mutual bool
		client *tls.Config
		ok     bool
	}{
		{"server auth", false, ca.ClientConfig(nil), true},
		{"mutual", true, ca.ClientConfig(&clientCert), true},
		{"mutual without client cert", true, ca.ClientConfig(nil), false},
		{"unknown server CA", false, testcert.NewCA(t).ClientConfig(nil), false},
	} {
		for _, broker := range []string{"embedded", "mosquitto"} {
			t.Run(broker+"/"+tc.name, func(t *testing.T) {
				var url string
				if broker == "embedded" {
					var clientCAs *testcert.CA
					if tc.mutual {
						clientCAs = ca
					}
					url = brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{TLS: ca.ServerConfig(t, clientCAs)}).URL()
				} else {
					cfg := brokertest.TLS{Cert: serverCert, CA: ca.Cert}
					if tc.mutual {
						cfg.ClientCAs = []*x509.Certificate{ca.Cert}
					}
					url = brokertest.StartMosquittoTLS(t, cfg)
				}
				if !tc.ok {
					tr, err := mqtt.New(url, "proto::ctl", append(fastOpts(t), mqtt.WithTopic("ctl"), mqtt.WithTLS(tc.client))...)
					if err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
					defer cancel()
					if err := tr.Start(ctx, newRecorder(t)); err == nil {
						t.Fatal("Start succeeded")
					}
					return
				}
				a, rec, _ := start(t, url, "proto::a", mqtt.WithTopic("a"), mqtt.WithTLS(tc.client))
				send(t, a, "a", "over tls")
				if got := rec.Record(); string(got.Data) != "over tls" {
					t.Fatalf("got %q", got.Data)
				}
			})
		}
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		id   string
		opts []mqtt.Option
	}{
		{"empty endpoint ID", "mqtt://127.0.0.1:1883", "", nil},
		{"no host", "mqtt://", "proto::x", nil},
		{"unknown scheme", "http://127.0.0.1:1", "proto::x", nil},
		{"TLS config on plain URL", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithTLS(&tls.Config{})}},
		{"wildcard topic +", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithTopic("a/+/b")}},
		{"wildcard topic #", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithTopic("a/#")}},
		{"wildcard reply topic", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithReplyTopic("r/#")}},
		{"empty topic", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithTopic("")}},
		{"bad filter", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithSubscriptions("a/#/b")}},
		{"QoS 2", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithQoS(2)}},
		{"shared without topic", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithSharedSubscription("g")}},
		{"bad share group", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithTopic("t"), mqtt.WithSharedSubscription("a/b")}},
		{"backoff inverted", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithReconnectBackoff(time.Second, time.Millisecond)}},
		{"keep alive too long", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithKeepAlive(100000 * time.Second)}},
		{"max record zero", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithMaxRecordSize(0)}},
		{"receive maximum zero", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithReceiveMaximum(0)}},
		{"nil logger", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithLogger(nil)}},
		{"host without port", "127.0.0.1", "proto::x", nil},
		{"negative backoff reset", "mqtt://127.0.0.1:1", "proto::x", []mqtt.Option{mqtt.WithBackoffReset(-time.Second)}},
	} {
		if _, err := mqtt.New(tc.url, tc.id, tc.opts...); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	if _, err := mqtt.New("mqtts://127.0.0.1", "proto::x", mqtt.WithTopic("t"), mqtt.WithTLS(&tls.Config{})); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
	if _, err := mqtt.New("127.0.0.1:8883", "proto::x", mqtt.WithTopic("t"), mqtt.WithTLS(&tls.Config{})); err != nil {
		t.Errorf("host:port with WithTLS rejected: %v", err)
	}
}

// New takes host:port as stomp.New does, besides the mqtt:// URL.
func TestNewHostPort(t *testing.T) {
	url := mqtttest.NewBroker(t).URL()
	start(t, strings.TrimPrefix(url, "mqtt://"), "proto::hostport", mqtt.WithTopic("usp/hostport"))
}

// A small Receive Maximum is announced, and a burst larger than it still
// arrives whole: the broker holds records back until we acknowledge. The
// burst goes through the embedded broker, whose Receive Maximum handling
// the test exercises too, and through mosquitto.
func TestReceiveMaximum(t *testing.T) {
	hook := &wireLog{}
	b := brokertest.NewEmbedded(t, hook.config())
	start(t, b.URL(), "proto::probe", mqtt.WithTopic("probe"), mqtt.WithReceiveMaximum(2))
	hook.mu.Lock()
	got := hook.connects[0].Props.ReceiveMaximum
	hook.mu.Unlock()
	if got == nil || *got != 2 {
		t.Fatalf("CONNECT Receive Maximum %v, want 2", got)
	}
	for _, url := range []string{b.URL(), brokertest.StartMosquitto(t)} {
		receiveMaximumBurst(t, url)
	}
}

func receiveMaximumBurst(t *testing.T, url string) {
	t.Helper()
	_, rec, _ := start(t, url, "proto::agent", mqtt.WithTopic("agent"), mqtt.WithReceiveMaximum(2))
	ctl, _, _ := start(t, url, "proto::ctl", mqtt.WithTopic("ctl"))
	const n = 50
	for i := range n {
		send(t, ctl, "agent", fmt.Sprintf("r%d", i))
	}
	for i := range n {
		if in := rec.Record(); string(in.Data) != fmt.Sprintf("r%d", i) {
			t.Fatalf("record %d is %q", i, in.Data)
		}
	}
}
