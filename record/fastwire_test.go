package record

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
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
		if wireProblem(p, schemaFor(got.ProtoReflect().Descriptor())) != "" {
			t.Errorf("%s: a well-formed capture takes the slow path", name)
		}
	}
}

// appendField appends field num holding v (bytes wire type).
func appendField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func TestUnmarshalPayloadMatchesProtobufGo(t *testing.T) {
	get, _ := proto.Marshal(benchGet())
	getResp, _ := proto.Marshal(benchGetResp())
	// A GetResp whose result_params map value, five levels down, is not
	// UTF-8.
	entry := appendField(appendField(nil, 1, []byte("Name")), 2, []byte{0xc3, 0x28})
	resolved := appendField(appendField(nil, 1, []byte("Device.")), 2, entry)
	requested := appendField(appendField(nil, 1, []byte("Device.")), 4, resolved)
	deepBad := appendField(nil, 2, appendField(nil, 2, appendField(nil, 2, appendField(nil, 1, requested))))
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"get", get, true},
		{"get resp", getResp, true},
		{"empty", nil, true},
		{"deep invalid UTF-8", deepBad, false},
		{"deep valid", appendField(nil, 2, appendField(nil, 2, appendField(nil, 2, appendField(nil, 1, appendField(appendField(nil, 1, []byte("Device.")), 4, appendField(nil, 2, appendField(appendField(nil, 1, []byte("k")), 2, []byte("v")))))))), true},
		{"header as varint (unknown for protobuf-go)", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5), true},
		{"group with wrong end", []byte{0x1b, 0x24}, false},
		{"field number too large", protowire.AppendVarint(protowire.AppendTag(nil, 1<<30, protowire.VarintType), 1), false},
		{"truncated", getResp[:len(getResp)-3], false},
		{"duplicate header merges", append(append([]byte(nil), get...), appendField(nil, 1, appendField(nil, 1, []byte("other-id")))...), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got, want uspmsg.Msg
			errGot := UnmarshalPayload(tc.in, &got)
			errWant := proto.Unmarshal(tc.in, &want)
			if (errWant == nil) != tc.ok {
				t.Fatalf("protobuf-go: %v; the test expects ok=%v", errWant, tc.ok)
			}
			if (errGot == nil) != (errWant == nil) {
				t.Fatalf("UnmarshalPayload: %v, proto.Unmarshal: %v", errGot, errWant)
			}
			if errGot == nil && !proto.Equal(&got, &want) {
				t.Fatalf("results differ:\n got %v\nwant %v", &got, &want)
			}
		})
	}
}

func TestUnmarshalPayloadResets(t *testing.T) {
	m := benchGetResp()
	get, _ := proto.Marshal(benchGet())
	if err := UnmarshalPayload(get, m); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, benchGet()) {
		t.Fatalf("old content kept: %v", m)
	}
}

func TestUnmarshalPayloadWithoutFastPath(t *testing.T) {
	b, _ := proto.Marshal(wrapperspb.String("hello"))
	var got wrapperspb.StringValue
	if err := UnmarshalPayload(b, &got); err != nil || got.Value != "hello" {
		t.Fatalf("%v %v", &got, err)
	}
	bad := appendField(nil, 1, []byte{0xff})
	if err := UnmarshalPayload(bad, &got); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}

// google.protobuf.Struct is recursive (Struct -> Value -> Struct): the
// schema builder must terminate, and the walk must stop at its depth limit
// rather than recurse without bound.
func TestWireProblemRecursiveSchema(t *testing.T) {
	schema := schemaFor((&structpb.Struct{}).ProtoReflect().Descriptor())
	nest := func(levels int) []byte {
		b := []byte(nil)
		for range levels {
			value := appendField(nil, 5, b)                                  // Value.struct_value
			entry := appendField(appendField(nil, 1, []byte("k")), 2, value) // map entry
			b = appendField(nil, 1, entry)                                   // Struct.fields
		}
		return b
	}
	if p := wireProblem(nest(10), schema); p != "" {
		t.Fatalf("10 levels: %q", p)
	}
	// Each Struct level is three nested messages on the wire.
	if p := wireProblem(nest(maxWalkDepth), schema); p != "nested too deeply" {
		t.Fatalf("%d levels: %q", maxWalkDepth, p)
	}
	bad := appendField(nil, 1, appendField(appendField(nil, 1, []byte{0xff}), 2, nil))
	if p := wireProblem(bad, schema); p != "string is not valid UTF-8" {
		t.Fatalf("bad map key: %q", p)
	}
}

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
