package brokertest

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

func TestMain(m *testing.M) { Main(m) }

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{{"", false}, {"0", false}, {"false", false}, {"1", true}, {"yes", true}} {
		t.Setenv(RequireEnv, tc.val)
		if got := Required(); got != tc.want {
			t.Errorf("%s=%q: Required() = %v, want %v", RequireEnv, tc.val, got, tc.want)
		}
	}
}

// mqttRoundTrip checks that a broker at url carries a message both ways
// between two bare paho peers.
func mqttRoundTrip(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	agent := DialPaho(t, url, "test/agent")
	agent.Echo(1)
	ctl := DialPaho(t, url, "test/controller")
	got, err := ctl.RoundTrip(ctx, "test/agent", 1, []byte("ping"))
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if string(got) != "ping" {
		t.Fatalf("round trip returned %q", got)
	}
}

func TestEmbedded(t *testing.T) {
	m := NewEmbedded(t, EmbeddedConfig{})
	if !strings.HasPrefix(m.URL(), "mqtt://127.0.0.1:") {
		t.Fatalf("URL %q", m.URL())
	}
	mqttRoundTrip(t, m.URL())
	m.Stop()
	if c, err := net.DialTimeout("tcp", m.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("stopped broker still accepts connections")
	}
	m.Start()
	mqttRoundTrip(t, m.URL())
}

func TestMosquitto(t *testing.T) {
	m := NewMosquitto(t, MosquittoConfig{})
	mqttRoundTrip(t, m.URL())
	m.Restart()
	mqttRoundTrip(t, m.URL())
	if !strings.Contains(m.Log(), "mosquitto version") {
		t.Errorf("log does not look like mosquitto's:\n%s", m.Log())
	}
}

func TestMosquittoLeavesNoProcess(t *testing.T) {
	var conf string
	t.Run("run", func(t *testing.T) {
		m := NewMosquitto(t, MosquittoConfig{})
		conf = m.conf
	})
	if conf == "" {
		t.Skip("mosquitto did not run")
	}
	out, _ := exec.Command("pgrep", "-f", conf).Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("mosquitto still running after its test ended: pids %s", out)
	}
}

func TestMQTT311(t *testing.T) {
	url := StartEmbedded(t)
	legacy := DialMQTT311(t, url, "legacy-agent")
	if err := legacy.Subscribe("agent/legacy/+", 1); err != nil {
		t.Fatal(err)
	}
	v5 := DialPaho(t, url, "ctl/v5")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v5.Publish(ctx, "agent/legacy/reply-to=ctl%2Fv5", "", 1, []byte("req")); err != nil {
		t.Fatal(err)
	}
	topic, payload, err := legacy.Receive(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if topic != "agent/legacy/reply-to=ctl%2Fv5" || string(payload) != "req" {
		t.Fatalf("3.1.1 client got %q %q", topic, payload)
	}
	if err := legacy.Publish("ctl/v5", []byte("resp")); err != nil {
		t.Fatal(err)
	}
	m, err := v5.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "resp" {
		t.Fatalf("v5 client got %q", m.Payload)
	}
}

func stompRoundTrip(t *testing.T, addr string, opts ...func(*stomp.Conn) error) {
	t.Helper()
	conn, err := stomp.Dial("tcp", addr, opts...)
	if err != nil {
		t.Fatalf("stomp dial %s: %v", addr, err)
	}
	defer conn.Disconnect()
	sub, err := conn.Subscribe("/queue/brokertest", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Send("/queue/brokertest", "application/vnd.bbf.usp.msg", []byte("hello"),
		stomp.SendOpt.Header("reply-to-dest", "/queue/back")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub.C:
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		if string(m.Body) != "hello" || m.Header.Get("reply-to-dest") != "/queue/back" {
			t.Fatalf("got body %q reply-to-dest %q", m.Body, m.Header.Get("reply-to-dest"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
}

func TestStompServer(t *testing.T) {
	s := NewStompServer(t)
	stompRoundTrip(t, s.Addr())
	s.Restart()
	stompRoundTrip(t, s.Addr())
}

func TestSharedRabbitMQ(t *testing.T) {
	addr := StartRabbitMQ(t)
	if again := StartRabbitMQ(t); again != addr {
		t.Fatalf("second call gave another node: %s vs %s", again, addr)
	}
	stompRoundTrip(t, addr, stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "guest"))
}

func TestMosquittoClients311(t *testing.T) {
	url := StartMosquitto(t)
	sub := SubscribeMQTT311(t, url, "legacy-agent", "agent/legacy/#", "other")
	v5 := DialPaho(t, url, "ctl/v5")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Binary payload with a newline and a space: lines carry it in hex.
	bin := []byte{0, 1, '\n', ' ', 0xff}
	if err := v5.Publish(ctx, "agent/legacy/reply-to=ctl%2Fv5", "ctl/v5", 1, bin); err != nil {
		t.Fatal(err)
	}
	m, err := sub.Receive(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic != "agent/legacy/reply-to=ctl%2Fv5" || !bytes.Equal(m.Payload, bin) {
		t.Fatalf("mosquitto_sub got %q %q", m.Topic, m.Payload)
	}
	if err := PublishMQTT311(t, url, "ctl/v5", bin); err != nil {
		t.Fatal(err)
	}
	got, err := v5.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A 3.1.1 publish reaches an MQTT 5 subscriber without properties.
	if !bytes.Equal(got.Payload, bin) || got.Properties.ResponseTopic != "" || got.Properties.ContentType != "" {
		t.Fatalf("v5 client got %q %+v", got.Payload, got.Properties)
	}
}

// TestRabbitMQCluster: three nodes form one cluster, and a message sent
// to a queue through one node reaches a consumer connected to another.
func TestRabbitMQCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("boots three RabbitMQ nodes")
	}
	start := time.Now()
	c := NewRabbitMQCluster(t, 3)
	t.Logf("three-node cluster up in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	running, err := c.RunningNodes(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Nodes {
		if !slices.Contains(running, r.Name()) {
			t.Errorf("node %s is not among the running members %v seen by node 3", r.Name(), running)
		}
	}
	recv := stompDial(t, c.Nodes[0].StompAddr())
	sub, err := recv.Subscribe("/queue/cluster-check", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	send := stompDial(t, c.Nodes[2].StompAddr())
	if err := send.Send("/queue/cluster-check", "text/plain", []byte("across nodes")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub.C:
		if m.Err != nil || string(m.Body) != "across nodes" {
			t.Fatalf("got %v %q", m.Err, m.Body)
		}
	case <-ctx.Done():
		t.Fatal("the message sent on node 3 never reached the consumer on node 1")
	}
}

func stompDial(t *testing.T, addr string) *stomp.Conn {
	t.Helper()
	conn, err := stomp.Dial("tcp", addr, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Disconnect() })
	return conn
}

func TestRabbitMQBootRetriesOnce(t *testing.T) {
	bin, epmd, msg := rabbitBinaries()
	if msg != "" {
		missing(t, msg)
	}
	var made int
	// The first node's server is /bin/false: it exits at once, as a node
	// that crashed while booting does. The second is a real one.
	r, err := bootRabbitMQ(func() (*RabbitMQ, error) {
		made++
		server := bin
		if made == 1 {
			server = "/bin/false"
		}
		return newRabbitMQ(server, epmd, t.TempDir(), RabbitMQConfig{}, rabbitNode{}, t)
	})
	if err != nil {
		t.Fatalf("boot after one failed attempt: %v", err)
	}
	t.Cleanup(r.Close)
	if made != 2 {
		t.Errorf("made %d nodes, want 2", made)
	}
	c, err := net.DialTimeout("tcp", r.StompAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("the second node does not listen: %v", err)
	}
	c.Close()

	// Two failures: both errors come back.
	made = 0
	_, err = bootRabbitMQ(func() (*RabbitMQ, error) {
		made++
		return newRabbitMQ("/bin/false", epmd, t.TempDir(), RabbitMQConfig{}, rabbitNode{}, t)
	})
	if err == nil || made != 2 || !strings.Contains(err.Error(), "attempt 1") || !strings.Contains(err.Error(), "attempt 2") {
		t.Errorf("two failed boots: made %d, err %v", made, err)
	}
}
