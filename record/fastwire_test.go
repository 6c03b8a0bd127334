package record

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/proto"
)

// capturePayloads returns the Msg bytes of every NoSessionContext capture.
func capturePayloads(t testing.TB) map[string][]byte {
	dir := captureDir(t)
	bins, _ := filepath.Glob(filepath.Join(dir, "*.record.bin"))
	out := map[string][]byte{}
	for _, path := range bins {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := Payload(r); err == nil {
			out[filepath.Base(path)] = p
		}
	}
	return out
}

func TestUnmarshalPayloadCaptures(t *testing.T) {
	payloads := capturePayloads(t)
	if len(payloads) != 89 {
		t.Fatalf("%d payloads, MANIFEST lists 89 no_session_context records", len(payloads))
	}
	for name, p := range payloads {
		var got, want uspmsg.Msg
		if err := UnmarshalPayload(p, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := proto.Unmarshal(p, &want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, &want) {
			t.Errorf("%s: UnmarshalPayload and proto.Unmarshal differ", name)
		}
	}
}

// The cases where the generated decoder alone would differ from
// protobuf-go are tested in internal/pbfast, which UnmarshalPayload calls.

func FuzzUnmarshalPayload(f *testing.F) {
	get, _ := proto.Marshal(benchGet())
	f.Add(get)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want uspmsg.Msg
		errGot := UnmarshalPayload(b, &got)
		errWant := proto.Unmarshal(b, &want)
		if (errGot == nil) != (errWant == nil) {
			t.Fatalf("UnmarshalPayload: %v, proto.Unmarshal: %v", errGot, errWant)
		}
		if errGot == nil && !proto.Equal(&got, &want) {
			t.Fatal("results differ")
		}
	})
}
