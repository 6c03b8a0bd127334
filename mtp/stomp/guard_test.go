package stomp

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3/frame"
)

// encode writes frames the way a broker (or go-stomp) would.
func encode(t testing.TB, frames ...*frame.Frame) []byte {
	var b bytes.Buffer
	w := frame.NewWriter(&b)
	for _, f := range frames {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func message(body string, withLength bool) *frame.Frame {
	f := frame.New(frame.MESSAGE, frame.Destination, "/queue/a", "reply-to-dest", "/queue/b")
	if withLength {
		f.Header.Add(frame.ContentLength, strconv.Itoa(len(body)))
	}
	f.Body = []byte(body)
	return f
}

func TestFrameGuard(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		fails bool
	}{
		{"connected", encode(t, frame.New(frame.CONNECTED, frame.Version, "1.2", frame.HeartBeat, "0,0")), false},
		{"messages with length", encode(t, message("a\x00b\nc", true), message("", true), message(strings.Repeat("x", 100), true)), false},
		{"messages without length", encode(t, message("abc", false), message("", false)), false},
		{"heart beats between frames", append(append([]byte("\n\r\n\n"), encode(t, message("x", true))...), "\r\n\n"...), false},
		{"body at the limit", encode(t, message(strings.Repeat("x", 100), true)), false},
		{"body over the limit, with length", encode(t, message(strings.Repeat("x", 101), true)), true},
		{"body over the limit, without length", encode(t, message(strings.Repeat("x", 101), false)), true},
		{"content-length claims too much", []byte("MESSAGE\ncontent-length:4294967295\n\n"), true},
		{"second content-length ignored", []byte("MESSAGE\ncontent-length:3\ncontent-length:999999\n\nabc\x00"), false},
		{"no NUL after body", []byte("MESSAGE\ncontent-length:1\n\nab"), true},
		{"headers over the limit", []byte("MESSAGE\nx:" + strings.Repeat("y", 300) + "\n\n\x00"), true},
		{"CRLF lines", []byte("MESSAGE\r\ncontent-length:2\r\n\r\nab\x00"), false},
	} {
		for _, chunk := range []int{1, 2, 5, 64, 1 << 20} {
			g := newFrameGuard(256, 100)
			var err error
			for rest := tc.data; len(rest) > 0 && err == nil; {
				k := min(chunk, len(rest))
				err = g.scan(rest[:k])
				rest = rest[k:]
			}
			if (err != nil) != tc.fails {
				t.Errorf("%s (chunks of %d): err = %v, want failure %v", tc.name, chunk, err, tc.fails)
			}
			if !tc.fails && g.state != guardBetween {
				t.Errorf("%s: guard ends mid-frame (state %d)", tc.name, g.state)
			}
		}
	}
}

func TestFrameGuardSeesERROR(t *testing.T) {
	g := newFrameGuard(1024, 1024)
	if err := g.scan(encode(t, frame.New(frame.MESSAGE), frame.New(frame.RECEIPT))); err != nil || g.sawError.Load() {
		t.Fatalf("err %v sawError %v", err, g.sawError.Load())
	}
	if err := g.scan(encode(t, frame.New(frame.ERROR, frame.Message, "bad"))); err != nil || !g.sawError.Load() {
		t.Fatalf("err %v sawError %v", err, g.sawError.Load())
	}
}

// FuzzFrameGuard feeds arbitrary bytes: no panics, and the verdict does
// not depend on how reads cut the stream.
func FuzzFrameGuard(f *testing.F) {
	f.Add(encode(f, message("abc", true), message("de", false)), 3, uint8(1))
	f.Add([]byte("MESSAGE\ncontent-length:99999\n\n"), 10, uint8(7))
	f.Add([]byte("\r\n\nERROR\nmessage:x\n\n\x00"), 100, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, maxBody int, split uint8) {
		if maxBody < 0 || maxBody > 1<<20 {
			return
		}
		whole := newFrameGuard(512, maxBody)
		errWhole := whole.scan(data)
		chunked := newFrameGuard(512, maxBody)
		var errChunked error
		k := int(split) + 1
		for rest := data; len(rest) > 0 && errChunked == nil; {
			n := min(k, len(rest))
			errChunked = chunked.scan(rest[:n])
			rest = rest[n:]
		}
		if (errWhole == nil) != (errChunked == nil) {
			t.Fatalf("whole: %v, in chunks of %d: %v", errWhole, k, errChunked)
		}
		if errWhole == nil && whole.state != chunked.state {
			t.Fatalf("states differ: %d vs %d", whole.state, chunked.state)
		}
	})
}

// FuzzFrameGuardFrames encodes one MESSAGE as a broker would and checks
// that the guard accepts it exactly when its body fits.
func FuzzFrameGuardFrames(f *testing.F) {
	f.Add("reply-to-dest", "/queue/x", []byte("record"), true, 10)
	f.Add("k", "v:\n\\", []byte("a\x00b"), true, 2)
	f.Add("x", "y", []byte("plain"), false, 5)
	f.Fuzz(func(t *testing.T, key, value string, body []byte, withLength bool, maxBody int) {
		if maxBody < 0 || maxBody > 1<<20 || key == "" || strings.EqualFold(key, frame.ContentLength) {
			return
		}
		if !withLength && bytes.IndexByte(body, 0) >= 0 {
			return // the NUL would end the frame early
		}
		m := frame.New(frame.MESSAGE, key, value)
		if withLength {
			m.Header.Add(frame.ContentLength, strconv.Itoa(len(body)))
		}
		m.Body = body
		g := newFrameGuard(1<<20, maxBody)
		err := g.scan(encode(t, m))
		if (err == nil) != (len(body) <= maxBody) {
			t.Fatalf("%d-byte body, limit %d: err = %v", len(body), maxBody, err)
		}
		if err == nil && g.state != guardBetween {
			t.Fatalf("guard ends mid-frame (state %d)", g.state)
		}
	})
}
