package usp

import (
	"bytes"
	"testing"
)

// FuzzClusterEnvelope feeds arbitrary bytes to the decoder of the records
// processes forward to each other: it must never panic, and what it
// accepts must encode back to the same bytes.
func FuzzClusterEnvelope(f *testing.F) {
	secret := []byte("fleet secret")
	fwd := envelope{kind: envForward, dup: true, id: "m-1", process: "p1", agent: "os::012345-A", body: []byte{0x0a, 0x03, 'a', 'b', 'c'}}
	f.Add(fwd.encode(nil), false)
	f.Add(fwd.encode(secret), true)
	f.Add(envelope{kind: envVerdict, id: "m-1", process: "p2", body: []byte("refused")}.encode(nil), false)
	f.Add(envelope{kind: envAnswer, id: "gousp@p2:m-2", process: "p1", agent: "os::012345-A", body: []byte{0x0a, 0x03, 'x', 'y', 'z'}}.encode(secret), true)
	f.Add(envMagic, false)
	f.Add([]byte{0x0a, 0x03, '1', '.', '3'}, false)
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		var key []byte
		if signed {
			key = secret
		}
		e, err := decodeEnvelope(data, key)
		if err != nil {
			return
		}
		if again := e.encode(key); !bytes.Equal(again, data) {
			t.Fatalf("decoded %+v re-encodes differently:\n%q\n%q", e, data, again)
		}
	})
}

func TestClusterEnvelope(t *testing.T) {
	e := envelope{kind: envForward, id: "m-1", process: "p1", agent: "os::012345-A", body: []byte("payload")}
	b := e.encode([]byte("k"))
	if _, err := decodeEnvelope(b, []byte("other")); err == nil {
		t.Fatal("a record signed with another secret was accepted")
	}
	if _, err := decodeEnvelope(b[:len(b)-1], []byte("k")); err == nil {
		t.Fatal("a truncated record was accepted")
	}
	got, err := decodeEnvelope(b, []byte("k"))
	if err != nil || got.id != e.id || got.process != e.process || got.agent != e.agent || string(got.body) != "payload" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for key, want := range map[string]string{"gousp@p1:x-1": "p1", "gousp-x-1": "", "gousp@p:1": "p", "gousp@:x": "", "gousp@a b:x": "", "user-key": ""} {
		if got := ownerOf(key); got != want {
			t.Errorf("ownerOf(%q) = %q, want %q", key, got, want)
		}
	}
}
