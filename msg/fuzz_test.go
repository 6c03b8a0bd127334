package msg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/proto"
)

// FuzzDecode feeds arbitrary payloads to Decode and Parse. Whatever is
// accepted must survive Parse -> Build -> Parse unchanged and render to
// JSON and back; whatever is rejected must be rejected with this package's
// errors, never a panic.
func FuzzDecode(f *testing.F) {
	for _, c := range loadCaptures(f) {
		if c.raw != nil {
			f.Add(c.raw)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			var ve *ValidationError
			switch {
			case errors.Is(err, ErrDecode) && m == nil:
			case errors.As(err, &ve) && m != nil:
				if _, perr := Parse(m); perr == nil {
					t.Fatalf("Parse accepted what Validate rejected: %v", err)
				}
			default:
				t.Fatalf("unexpected error %v (message %v)", err, m)
			}
			return
		}
		v, err := Parse(m)
		if err != nil {
			t.Fatalf("Parse rejected a valid message: %v", err)
		}
		if v.MsgType() != m.GetHeader().GetMsgType() {
			t.Fatalf("typed %v for header %v", v.MsgType(), m.GetHeader().GetMsgType())
		}
		rebuilt := v.Build(m.GetHeader().GetMsgId())
		if err := Validate(rebuilt); err != nil {
			t.Fatalf("rebuilt message invalid: %v", err)
		}
		again, err := Parse(rebuilt)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("Parse(Build(v)) != v (err %v)\n got %#v\nwant %#v", err, again, v)
		}
		j, err := JSON(m)
		if err != nil {
			t.Fatalf("JSON: %v", err)
		}
		// JSON has no room for unknown fields: compare with them dropped.
		known := &uspmsg.Msg{}
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, known); err != nil {
			t.Fatal(err)
		}
		back, err := FromJSON(j)
		if err != nil || !proto.Equal(back, known) {
			t.Fatalf("FromJSON(JSON(m)) != m (err %v)", err)
		}
	})
}

// FuzzValidate rewrites the header of arbitrary messages and checks
// Validate against the rule it must enforce: a message is accepted only
// with a msg_id and a msg_type naming the kind its body holds.
func FuzzValidate(f *testing.F) {
	for _, c := range loadCaptures(f) {
		if c.raw != nil {
			f.Add(c.raw, int32(c.m.GetHeader().GetMsgType()), c.m.GetHeader().GetMsgId())
		}
	}
	f.Add([]byte{}, int32(99), "x")
	f.Fuzz(func(t *testing.T, data []byte, msgType int32, msgID string) {
		m := &uspmsg.Msg{}
		if proto.Unmarshal(data, m) != nil {
			return
		}
		if m.Header == nil {
			m.Header = &uspmsg.Header{}
		}
		m.Header.MsgId, m.Header.MsgType = msgID, uspmsg.Header_MsgType(msgType)
		err := Validate(m)
		v, perr := Parse(m)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Validate %v but Parse %v", err, perr)
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.MsgID != msgID {
				t.Fatalf("error %v is not a ValidationError for %q", err, msgID)
			}
			return
		}
		if msgID == "" {
			t.Fatalf("accepted an empty msg_id")
		}
		if v.MsgType() != uspmsg.Header_MsgType(msgType) {
			t.Fatalf("accepted header %d for a %v body", msgType, v.MsgType())
		}
	})
}

// FuzzFromJSON reads arbitrary JSON; accepted messages must parse and
// render back to an equal message.
func FuzzFromJSON(f *testing.F) {
	for _, c := range loadCaptures(f) {
		if c.m != nil {
			j, err := JSON(c.m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(j)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := FromJSON(data)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if _, err := Parse(m); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		j, err := JSONIndent(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromJSON(j)
		if err != nil || !proto.Equal(back, m) {
			t.Fatalf("round trip through JSONIndent changed the message (err %v)", err)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from the captures when
// MSG_WRITE_CORPUS=1, so that the committed corpus is reproducible.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MSG_WRITE_CORPUS") != "1" {
		t.Skip("set MSG_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(target, name string, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, l := range lines {
			body += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesLit := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for _, c := range loadCaptures(t) {
		if c.m == nil {
			continue
		}
		name := "capture-" + c.name
		write("FuzzDecode", name, bytesLit(c.raw))
		write("FuzzValidate", name, bytesLit(c.raw),
			fmt.Sprintf("int32(%d)", c.m.GetHeader().GetMsgType()), "string("+strconv.Quote(c.m.GetHeader().GetMsgId())+")")
		j, err := JSON(c.m)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzFromJSON", name, bytesLit(j))
	}
	for _, tc := range roundTripCases() {
		b, err := Encode(tc.m.Build("fuzz-seed"))
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzDecode", "built-"+strings.ReplaceAll(tc.name, " ", "-"), bytesLit(b))
	}
}
