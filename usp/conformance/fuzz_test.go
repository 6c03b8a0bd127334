package conformance

import (
	"slices"
	"testing"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// FuzzParseConfig: a configuration file never panics the kit, and what it
// accepts has only TP-469 feature numbers.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"response_timeout":"2s","features":{"24":true},"skip":{"1.5":"lab"}}`))
	f.Add([]byte(`{"quiet_period":3,"max_slow":"1m","async_command_args":{"Host":"x"}}`))
	f.Add([]byte(`{"features":{"x":true}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		_ = c.responseTimeout() + c.notifyTimeout() + c.quietPeriod() + c.rebootTimeout()
	})
}

// FuzzDescribe: whatever an agent sends, the trace decodes it or says why
// not, without panicking.
func FuzzDescribe(f *testing.F) {
	good, err := record.EncodeMsg("1.3", "a", "b", msg.Get{Paths: []string{"Device."}}.Build("1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x0a, 0x03, '1', '.', '3', 0x3a, 0x7f, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := describe(Received, mtp.Address{MTP: mtp.Memory, To: "x"}, b)
		if e.Size != len(b) {
			t.Fatalf("size %d of %d bytes", e.Size, len(b))
		}
		_ = e.Summary()
	})
}

// FuzzParseAnswer: the WebSocket observer reads whatever the server wrote
// first on a hijacked connection; it never panics.
func FuzzParseAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		status, _, _ := parseAnswer(b)
		if status < 0 {
			t.Fatalf("status %d", status)
		}
		// 7.11's rewriting of the answer: nothing of the extension
		// header is left in a head that parses.
		if status, _, ext := parseAnswer(stripExtensions(b)); status != 0 && ext != "" {
			t.Fatalf("extensions %q left in %q", ext, stripExtensions(b))
		}
	})
}

// FuzzWebSocketFrames: the observer's frame parser never panics on what
// either side writes, and finds the same frames however the stream is cut
// into reads.
func FuzzWebSocketFrames(f *testing.F) {
	f.Add(append([]byte{0x82, 0x85, 1, 2, 3, 4}, "hello"...), uint8(3))
	f.Add(append([]byte{0x88, 0x02}, CloseBody(1003, "")...), uint8(1))
	f.Add([]byte{0x89, 0x00, 0x8A, 0x00}, uint8(2))
	f.Add([]byte{0x02, 0x7E, 0x00, 0x01, 'x', 0x80, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		var whole, split []WebSocketFrame
		var p, q frameParser
		p.feed(b, func(fr WebSocketFrame) { whole = append(whole, fr) })
		i := min(int(cut), len(b))
		q.feed(b[:i], func(fr WebSocketFrame) { split = append(split, fr) })
		q.feed(b[i:], func(fr WebSocketFrame) { split = append(split, fr) })
		if len(whole) != len(split) {
			t.Fatalf("%d frames whole, %d split at %d", len(whole), len(split), i)
		}
		for k := range whole {
			a, c := whole[k], split[k]
			if a.Opcode != c.Opcode || a.Length != c.Length || a.CloseCode != c.CloseCode || string(a.Payload) != string(c.Payload) {
				t.Fatalf("frame %d: %v whole, %v split", k, a, c)
			}
			if len(a.Payload) > 125 {
				t.Fatalf("control payload of %d bytes kept", len(a.Payload))
			}
		}
		if p.atBoundary() != q.atBoundary() {
			t.Fatal("boundary differs")
		}
	})
}

// TestStripExtensions: 7.11's rewriting drops the extension header, its
// continuation lines and nothing else, with CRLF or LF line ends.
func TestStripExtensions(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: bbf-usp-protocol; eid=\"x\"\r\nSec-WebSocket-Protocol: v1.usp\r\n\r\n\x82\x00",
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: v1.usp\r\n\r\n\x82\x00"},
		{"HTTP/1.1 101 OK\nsec-websocket-extensions: a\n  b\nUpgrade: websocket\n\n",
			"HTTP/1.1 101 OK\nUpgrade: websocket\n\n"},
		{"HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: a\r\n", // no end of head yet
			"HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: a\r\n"},
	} {
		if got := string(stripExtensions([]byte(c.in))); got != c.want {
			t.Errorf("stripExtensions(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzReadFlight: whatever TLS bytes an agent sends in its session
// context, 3.5 names them without panicking, and every handshake message
// it lists comes from a handshake record.
func FuzzReadFlight(f *testing.F) {
	f.Add([]byte{22, 3, 3, 0, 8, 11, 0, 0, 0, 16, 0, 0, 0}, []byte{})
	f.Add(fatalHandshakeFailure, []byte{20, 3, 3, 0, 1, 1})
	f.Add([]byte{22, 3, 3, 0, 6, 1, 0, 0, 9, 3, 3}, []byte{99})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		fl := readFlight([][]byte{a, b})
		if len(fl.handshake) > 0 && !slices.Contains(fl.records, tlsrec.TypeHandshake) {
			t.Fatalf("handshake messages %v without a handshake record (%v)", fl.handshake, fl.records)
		}
		_ = fl.String()
		_ = fl.onlyAlerts()
	})
}
