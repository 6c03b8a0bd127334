package brokertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Message311 is one PUBLISH a [Sub311] received.
type Message311 struct {
	Topic   string
	Payload []byte
}

// Sub311 is a mosquitto_sub process (Debian's mosquitto-clients) connected
// with MQTT 3.1.1: a 3.1.1 client that is not ours, to play the agents
// whose MQTT client is 3.1.1. Pair it with [PublishMQTT311].
type Sub311 struct {
	msgs chan Message311
	done chan struct{} // the reader has ended
	p    *process
}

// SubscribeMQTT311 starts mosquitto_sub -V mqttv311 on brokerURL
// (mqtt://host:port) with clientID, subscribed at QoS 1 to filters, and
// returns once the broker has acknowledged the subscription. The process
// is stopped when the test ends. Without mosquitto_sub the test is skipped
// (or fails when [RequireEnv] is set).
func SubscribeMQTT311(t testing.TB, brokerURL, clientID string, filters ...string) *Sub311 {
	t.Helper()
	bin, ok := lookBinary("mosquitto_sub")
	if !ok {
		missing(t, "mosquitto_sub not installed: apt-get install mosquitto-clients")
	}
	host, port := splitBrokerURL(t, brokerURL)
	// Every message comes as one line, MSG <topic> <payload in hex>, and
	// mosquitto_sub flushes after each. The probe topic tells when the
	// subscription is in place: mosquitto_sub says so only in a debug line
	// that stays in its stdout buffer.
	probe := "brokertest/probe/" + clientID
	args := []string{"-V", "mqttv311", "-h", host, "-p", port, "-i", clientID, "-q", "1", "-F", "MSG %t %x", "-t", probe}
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", watchdogScript, "sh", bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("brokertest: mosquitto_sub: %v", err)
	}
	errOut := &lockedBuffer{}
	cmd.Stderr = errOut
	keep, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("brokertest: mosquitto_sub: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("brokertest: start mosquitto_sub: %v", err)
	}
	s := &Sub311{msgs: make(chan Message311, 64), done: make(chan struct{}),
		p: &process{name: "mosquitto_sub", cmd: cmd, keep: keep, out: errOut, done: make(chan struct{})}}
	subscribed := make(chan struct{})
	go func() {
		defer close(s.done)
		defer close(s.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			line := sc.Text()
			rest, ok := strings.CutPrefix(line, "MSG ")
			i := strings.LastIndexByte(rest, ' ')
			if !ok || i < 0 {
				continue
			}
			payload, err := hex.DecodeString(rest[i+1:])
			switch {
			case err != nil:
			case rest[:i] == probe:
				select {
				case <-subscribed:
				default:
					close(subscribed)
				}
			default:
				s.msgs <- Message311{Topic: rest[:i], Payload: payload}
			}
		}
	}()
	go func() {
		// Wait closes stdout: only once the reader has seen its end.
		<-s.done
		s.p.err = cmd.Wait()
		close(s.p.done)
	}()
	t.Cleanup(func() {
		// Drain, so that the reader never blocks on a full channel.
		go func() {
			for range s.msgs {
			}
		}()
		s.p.stop(5 * time.Second)
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := PublishMQTT311(t, brokerURL, probe, []byte("?")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-subscribed:
			return s
		case <-s.p.done:
			t.Fatalf("brokertest: mosquitto_sub exited before subscribing: %v\n%s", s.p.err, errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokertest: mosquitto_sub did not subscribe\n%s", errOut.String())
		}
	}
}

// Receive waits up to timeout for the next message.
func (s *Sub311) Receive(timeout time.Duration) (Message311, error) {
	select {
	case m, ok := <-s.msgs:
		if !ok {
			return Message311{}, fmt.Errorf("brokertest: mosquitto_sub ended: %s", s.p.out.String())
		}
		return m, nil
	case <-time.After(timeout):
		return Message311{}, errors.New("brokertest: no message for mosquitto_sub")
	}
}

// PublishMQTT311 publishes payload to topic at QoS 1 with mosquitto_pub
// -V mqttv311 (Debian's mosquitto-clients) and returns once the broker has
// acknowledged it. Without mosquitto_pub the test is skipped (or fails when
// [RequireEnv] is set).
func PublishMQTT311(t testing.TB, brokerURL, topic string, payload []byte) error {
	t.Helper()
	bin, ok := lookBinary("mosquitto_pub")
	if !ok {
		missing(t, "mosquitto_pub not installed: apt-get install mosquitto-clients")
	}
	host, port := splitBrokerURL(t, brokerURL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// -s sends standard input whole, so binary records pass unchanged.
	cmd := exec.CommandContext(ctx, bin, "-V", "mqttv311", "-h", host, "-p", port, "-q", "1", "-t", topic, "-s")
	cmd.Stdin = bytes.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("brokertest: mosquitto_pub to %q: %v: %s", topic, err, out)
	}
	return nil
}

func splitBrokerURL(t testing.TB, brokerURL string) (host, port string) {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil || u.Scheme != "mqtt" || u.Port() == "" {
		t.Fatalf("brokertest: want mqtt://host:port, got %q (%v)", brokerURL, err)
	}
	return u.Hostname(), u.Port()
}
