package conformance

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/usp/usptest"
)

// TestMQTTTLSCases runs 11.3, 4.1 and 2.8 against usptest connected over
// TLS to the kit's broker, whose certificate the kit's own CA issued and
// the agent trusts: each passes, and the agent is back on the broker
// after 2.8's expired certificate.
func TestMQTTTLSCases(t *testing.T) {
	t.Parallel()
	eq, _ := bench(t, "mqtts-kit", usptest.WithSessionContext(usptest.SessionConfig{}))
	cs, err := Select(All(), "4.1", "11.3", "2.8", "11.17")
	if err != nil {
		t.Fatal(err)
	}
	cfg := quickConfig
	cfg.Features = map[string]bool{"24": true}
	rep := RunTests(t, eq, cfg, cs)
	if rep.Count(Pass) != len(cs) {
		t.Errorf("%d of %d passed", rep.Count(Pass), len(cs))
	}
	for _, res := range rep.Results {
		if res.ID == "11.3" && !strings.Contains(strings.Join(res.Notes, "\n"), "TLS 1.3") {
			t.Errorf("11.3: notes lack the TLS version: %q", res.Notes)
		}
	}
}

// TestMQTTNoTopicCase runs 11.10 against usptest without a topic of its
// own: it takes its topic from the CONNACK, and disconnects when the
// CONNACK has none.
func TestMQTTNoTopicCase(t *testing.T) {
	t.Parallel()
	eq, _ := benchFaulty(t, "mqtt-kit", wireFaults{noTopic: true})
	cs, err := Select(All(), "11.10", "11.12")
	if err != nil {
		t.Fatal(err)
	}
	rep := RunTests(t, eq, quickConfig, cs)
	if rep.Count(Pass) != len(cs) {
		t.Errorf("%d of %d passed", rep.Count(Pass), len(cs))
	}
}

// retryLiar reports a retry rule (and takes Sets of it) that its
// transport does not follow: it reconnects after a fixed 300 ms.
type retryLiar struct {
	*mqtt.Transport
	mu    sync.Mutex
	shown mqtt.ConnectRetry
}

func (l *retryLiar) Settings() mqtt.Settings {
	s := l.Transport.Settings()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.shown
	s.ConnectRetry = &r
	return s
}

func (l *retryLiar) SetConnectRetry(r mqtt.ConnectRetry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shown = r
	return nil
}

// subackForger is a connection on which every SUBACK reason code the
// broker sends reads as granted (QoS 1): an agent that never sees its
// SUBSCRIBE refused.
type subackForger struct {
	net.Conn
	in  *bufio.Reader
	out []byte
}

func (c *subackForger) Read(p []byte) (int, error) {
	if len(c.out) == 0 {
		pkt, err := readPacket(c.in)
		if err != nil {
			return 0, err
		}
		c.out = pkt
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// readPacket reads one MQTT 5 packet and grants a SUBACK's reason codes.
func readPacket(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	pkt := []byte{head}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		pkt = append(pkt, b)
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if head>>4 == 9 && len(body) > 2 { // SUBACK: id, properties, reasons
		plen, used := 0, 0
		for shift := 0; 2+used < len(body); shift += 7 {
			b := body[2+used]
			used++
			plen |= int(b&0x7f) << shift
			if b&0x80 == 0 {
				break
			}
		}
		for i := 2 + used + plen; i < len(body); i++ {
			if body[i] >= 0x80 {
				body[i] = 1
			}
		}
	}
	return append(pkt, body...), nil
}

// tlsDialer dials the broker with its own TLS configuration, in place of
// the transport's.
func tlsDialer(cfg *tls.Config) mqtt.Option {
	return mqtt.WithDialer(func(ctx context.Context, u *url.URL, _ *tls.Config) (net.Conn, error) {
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", u.Host)
	})
}

// TestBrokenMQTTRetryAndTLSFails gives usptest MQTT clients that break the
// rules of the cases above and checks that each fails on its metric with
// the evidence.
func TestBrokenMQTTRetryAndTLSFails(t *testing.T) {
	t.Parallel()
	liar := func(tr *mqtt.Transport) mtp.Transport {
		return &retryLiar{Transport: tr, shown: mqtt.ConnectRetry{Time: 3 * time.Second, Multiplier: 2000, MaxInterval: time.Minute}}
	}
	fast := mqtt.WithConnectRetry(mqtt.ConnectRetry{Time: 300 * time.Millisecond, Multiplier: 1000, MaxInterval: 300 * time.Millisecond})
	for _, tc := range []struct {
		name, binding, id string
		metric            int
		detail            string
		f                 wireFaults
	}{
		{"reconnects before ConnectRetryTime", "mqtt-kit", "11.16", 1, "want 3s to 6s",
			wireFaults{mqtt: []mqtt.Option{fast}, wrapMQTT: liar}},
		// The kit sets its shorter rule first (the liar's would take 42 s).
		{"retries before ConnectRetryTime", "mqtt-kit", "11.6", 1, "want 1s to 2s",
			wireFaults{mqtt: []mqtt.Option{fast}, wrapMQTT: liar}},
		{"goes on without a topic", "mqtt-kit", "11.10", 1, "SUBSCRIBE",
			wireFaults{noTopic: true, mqtt: []mqtt.Option{mqtt.WithPahoConfig(func(cc *autopaho.ClientConfig) {
				up := cc.OnConnectionUp
				cc.OnConnectionUp = func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
					if ca.Properties != nil && ca.Properties.ResponseInfo == "" {
						ca.Properties.ResponseInfo = "made/up/topic"
					}
					up(cm, ca)
				}
			})}}},
		{"ignores refused subscriptions", "mqtt-kit", "11.11", 1, "no DISCONNECT",
			wireFaults{mqtt: []mqtt.Option{mqtt.WithDialer(func(ctx context.Context, u *url.URL, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, "tcp", u.Host)
				if err != nil {
					return nil, err
				}
				return &subackForger{Conn: c, in: bufio.NewReader(c)}, nil
			})}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eq, _ := benchFaulty(t, tc.binding, tc.f)
			expectMQTTFail(t, runMQTTCase(t, eq, tc.id), tc.metric, tc.detail)
		})
	}
	// TLS faults: the agent's own dialer, trusting the kit's broker by
	// other means than its CA.
	for _, tc := range []struct {
		name, id string
		metric   int
		detail   string
		cfg      *tls.Config
	}{
		{"TLS 1.1", "11.3", 1, "uses TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}},                 //nolint:gosec // the fault under test
		{"TLS 1.1 at the MTP layer", "4.1", 1, "uses TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}}, //nolint:gosec // the fault under test
		{"accepts an expired certificate", "2.8", 1, "the agent answered", &tls.Config{InsecureSkipVerify: true}},                                                 //nolint:gosec // the fault under test
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eq, _ := benchFaulty(t, "mqtts-kit", wireFaults{mqtt: []mqtt.Option{tlsDialer(tc.cfg)}}, usptest.WithSessionContext(usptest.SessionConfig{}))
			expectMQTTFail(t, runMQTTCase(t, eq, tc.id), tc.metric, tc.detail)
		})
	}
}

// runMQTTCase runs one case with a short response timeout (what the
// faulty agents never send is waited for that long) and feature 24
// declared (2.8's tag; the agents of these tests have session context).
func runMQTTCase(t *testing.T, eq *Equipment, id string) *Result {
	t.Helper()
	cs, err := Select(All(), id)
	if err != nil {
		t.Fatal(err)
	}
	cfg := quickConfig
	cfg.ResponseTimeout = Duration(3 * time.Second)
	cfg.Features = map[string]bool{"24": true}
	r := &Runner{Equipment: eq, Config: cfg}
	return r.RunCase(t.Context(), r.Env(t.Context()), cs[0])
}

// expectMQTTFail checks that a case failed on metric with detail, and
// that its notes hold the wire evidence.
func expectMQTTFail(t *testing.T, res *Result, metric int, detail string) {
	t.Helper()
	if res.Verdict != Fail {
		t.Fatalf("%s: verdict %s (%s), want fail\n%s", res.ID, res.Verdict, res.Reason, TextEvidence(res))
	}
	f := res.Failed()
	if len(f) == 0 || f[0].Metric != metric || !strings.Contains(f[0].Detail, detail) {
		t.Errorf("%s: failed criteria %+v, want metric %d with %q\n%s", res.ID, f, metric, detail, TextEvidence(res))
	}
	if len(res.Notes) == 0 {
		t.Errorf("%s: no evidence in the notes", res.ID)
	}
}

// TestUSPTestAppliesConnectRetry checks that usptest reports its MQTT
// transport's retry rule in Device.MQTT.Client.{i}. and hands a Set of
// ConnectRetryTime and its siblings to the transport.
func TestUSPTestAppliesConnectRetry(t *testing.T) {
	t.Parallel()
	var tr *mqtt.Transport
	eq, _ := benchFaulty(t, "mqtt-kit", wireFaults{wrapMQTT: func(m *mqtt.Transport) mtp.Transport { tr = m; return m }})
	ctx := t.Context()
	get := func() map[string]string {
		ex := eq.Send(ctx, msg.Get{Paths: []string{"Device.MQTT.Client.1."}})
		r, err := msg.ParseGetResp(ex.Response)
		if ex.Err != nil || err != nil {
			t.Fatalf("Get: %v %v", ex.Err, err)
		}
		return r.Values()
	}
	if v := get(); v["Device.MQTT.Client.1.ConnectRetryTime"] != "1" || v["Device.MQTT.Client.1.ConnectRetryIntervalMultiplier"] != "1500" ||
		v["Device.MQTT.Client.1.ConnectRetryMaxInterval"] != "60" {
		t.Errorf("reported %v, want the transport's 1 s, 1500, 60 s", v)
	}
	ex := eq.Send(ctx, msg.SetParams("Device.MQTT.Client.1.", map[string]string{"ConnectRetryTime": "2",
		"ConnectRetryIntervalMultiplier": "3000", "ConnectRetryMaxInterval": "100"}))
	if r, err := msg.ParseSetResp(ex.Response); ex.Err != nil || err != nil || r.Err() != nil {
		t.Fatalf("Set: %v %v", ex.Err, err)
	}
	want := mqtt.ConnectRetry{Time: 2 * time.Second, Multiplier: 3000, MaxInterval: 100 * time.Second}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := tr.Settings().ConnectRetry
		if got != nil && *got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transport's rule %+v, want %+v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
