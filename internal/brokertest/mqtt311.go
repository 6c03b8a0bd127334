package brokertest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// MQTT311 is a minimal MQTT 3.1.1 client for tests: it plays an agent
// whose client (or broker bridge) only speaks 3.1.1, which the paho.golang
// library cannot do. QoS 0 and 1 receive, QoS 0 publish, no keep-alive
// pings (keep-alive is 0), no TLS.
type MQTT311 struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
	pid  uint16
}

// DialMQTT311 connects to brokerURL (mqtt://host:port) with a clean
// session and clientID; the connection is closed when the test ends.
func DialMQTT311(t testing.TB, brokerURL, clientID string) *MQTT311 {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("brokertest: dial %s: %v", u.Host, err)
	}
	c := &MQTT311{conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(c.Close)
	// CONNECT: protocol name, level 4, flags clean session, keep-alive 0.
	var vh []byte
	vh = appendString(vh, "MQTT")
	vh = append(vh, 4, 0x02, 0, 0)
	vh = appendString(vh, clientID)
	if err := c.write(0x10, vh); err != nil {
		t.Fatalf("brokertest: CONNECT: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, body, err := c.read()
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil || typ>>4 != 2 || len(body) != 2 || body[1] != 0 {
		t.Fatalf("brokertest: CONNACK: type %#x body %v err %v", typ, body, err)
	}
	return c
}

// Subscribe subscribes to filter and waits for the SUBACK. Call it before
// anything is published to the client.
func (c *MQTT311) Subscribe(filter string, qos byte) error {
	c.pid++
	var b []byte
	b = binary.BigEndian.AppendUint16(b, c.pid)
	b = appendString(b, filter)
	b = append(b, qos)
	if err := c.write(0x82, b); err != nil {
		return err
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.conn.SetReadDeadline(time.Time{}) }()
	typ, body, err := c.read()
	if err != nil {
		return err
	}
	if typ>>4 != 9 || len(body) < 3 || body[2] > 2 {
		return fmt.Errorf("brokertest: bad SUBACK %#x %v", typ, body)
	}
	return nil
}

// Publish publishes payload to topic at QoS 0.
func (c *MQTT311) Publish(topic string, payload []byte) error {
	b := appendString(nil, topic)
	b = append(b, payload...)
	return c.write(0x30, b)
}

// Receive waits up to timeout for the next PUBLISH and returns its topic
// and payload, acknowledging QoS 1.
func (c *MQTT311) Receive(timeout time.Duration) (topic string, payload []byte, err error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.conn.SetReadDeadline(time.Time{}) }()
	for {
		typ, body, err := c.read()
		if err != nil {
			return "", nil, err
		}
		if typ>>4 != 3 {
			continue
		}
		qos := (typ >> 1) & 3
		if len(body) < 2 {
			return "", nil, errors.New("brokertest: short PUBLISH")
		}
		n := int(binary.BigEndian.Uint16(body))
		if len(body) < 2+n {
			return "", nil, errors.New("brokertest: short PUBLISH topic")
		}
		topic, rest := string(body[2:2+n]), body[2+n:]
		if qos > 0 {
			if len(rest) < 2 {
				return "", nil, errors.New("brokertest: PUBLISH without packet id")
			}
			if err := c.write(0x40, rest[:2]); err != nil {
				return "", nil, err
			}
			rest = rest[2:]
		}
		return topic, rest, nil
	}
}

// Close sends DISCONNECT and closes the connection.
func (c *MQTT311) Close() {
	_ = c.write(0xe0, nil)
	_ = c.conn.Close()
}

func (c *MQTT311) write(header byte, body []byte) error {
	b := []byte{header}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			break
		}
	}
	b = append(b, body...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

func (c *MQTT311) read() (byte, []byte, error) {
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("brokertest: bad remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
