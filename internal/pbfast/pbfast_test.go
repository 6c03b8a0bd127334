package pbfast

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func sampleGet() *uspmsg.Msg {
	return &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: "get-deviceinfo", MsgType: uspmsg.Header_GET},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: &uspmsg.Request{
			ReqType: &uspmsg.Request_Get{Get: &uspmsg.Get{ParamPaths: []string{"Device.DeviceInfo."}, MaxDepth: 2}},
		}}},
	}
}

// sampleGetResp answers with 100 parameters, the size of a typical
// Device.DeviceInfo. subtree.
func sampleGetResp() *uspmsg.Msg {
	params := make(map[string]string, 100)
	for i := range 100 {
		params[fmt.Sprintf("Parameter%03d", i)] = fmt.Sprintf("value-%d-of-the-parameter", i)
	}
	return &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: "get-deviceinfo", MsgType: uspmsg.Header_GET_RESP},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Response{Response: &uspmsg.Response{
			RespType: &uspmsg.Response_GetResp{GetResp: &uspmsg.GetResp{
				ReqPathResults: []*uspmsg.GetResp_RequestedPathResult{{
					RequestedPath: "Device.DeviceInfo.",
					ResolvedPathResults: []*uspmsg.GetResp_ResolvedPathResult{{
						ResolvedPath: "Device.DeviceInfo.",
						ResultParams: params,
					}},
				}},
			}},
		}}},
	}
}

func sampleRecord(t testing.TB) []byte {
	payload, err := proto.Marshal(sampleGet())
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&usprecord.Record{
		Version: "1.3", ToId: "proto::agent", FromId: "proto::controller",
		RecordType: &usprecord.Record_NoSessionContext{NoSessionContext: &usprecord.NoSessionContextRecord{Payload: payload}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// captures returns the OB-USP-A records (the repository's copy of the
// team's captures, in msg/testdata, or GOUSP_CAPTURES) by file name.
func captures(t testing.TB) map[string][]byte {
	dir := os.Getenv("GOUSP_CAPTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "msg", "testdata", "obuspa")
	}
	bins, err := filepath.Glob(filepath.Join(dir, "*.record.bin"))
	if err != nil || len(bins) == 0 {
		t.Fatalf("OB-USP-A captures not found in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, path := range bins {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(path)] = b
	}
	return out
}

// same decodes b with Unmarshal into got and with proto.Unmarshal into
// want, and fails t unless both accept or both reject, with equal results.
func same(t *testing.T, b []byte, got, want proto.Message) error {
	t.Helper()
	errGot := Unmarshal(b, got)
	errWant := proto.Unmarshal(b, want)
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("Unmarshal: %v, proto.Unmarshal: %v", errGot, errWant)
	}
	if errGot == nil && !proto.Equal(got, want) {
		t.Fatalf("results differ:\n got %v\nwant %v", got, want)
	}
	return errWant
}

func TestUnmarshalCaptures(t *testing.T) {
	recs := captures(t)
	if len(recs) != 100 {
		t.Fatalf("%d captures, MANIFEST lists 100", len(recs))
	}
	payloads := 0
	for name, b := range recs {
		var got, want usprecord.Record
		if err := same(t, b, &got, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p := wireProblem(b, schemaFor(got.ProtoReflect().Descriptor())); p != "" {
			t.Errorf("%s: a well-formed record takes the slow path: %s", name, p)
		}
		nsc := got.GetNoSessionContext()
		if nsc == nil {
			continue
		}
		payloads++
		var gotMsg, wantMsg uspmsg.Msg
		if err := same(t, nsc.GetPayload(), &gotMsg, &wantMsg); err != nil {
			t.Fatalf("%s payload: %v", name, err)
		}
		if p := wireProblem(nsc.GetPayload(), schemaFor(gotMsg.ProtoReflect().Descriptor())); p != "" {
			t.Errorf("%s: a well-formed payload takes the slow path: %s", name, p)
		}
	}
	if payloads != 89 {
		t.Fatalf("%d payloads, MANIFEST lists 89 no_session_context records", payloads)
	}
}

// appendField appends field num holding v (bytes wire type).
func appendField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func TestUnmarshalMatchesProtobufGo(t *testing.T) {
	get, _ := proto.Marshal(sampleGet())
	getResp, _ := proto.Marshal(sampleGetResp())
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
			if err := same(t, tc.in, &got, &want); (err == nil) != tc.ok {
				t.Fatalf("protobuf-go: %v; the test expects ok=%v", err, tc.ok)
			}
		})
	}
}

// Records go through the same machinery as messages; these are the cases
// where the generated decoder alone would differ from protobuf-go.
func TestUnmarshalRecordMatchesProtobufGo(t *testing.T) {
	rec := sampleRecord(t)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"no session context", rec, true},
		{"from_id not UTF-8", appendField(append([]byte(nil), rec...), 3, []byte{0xff}), false},
		{"version as varint (unknown for protobuf-go)", protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), rec...), 1, protowire.VarintType), 7), true},
		{"payload not UTF-8 (bytes, not checked)", appendField(nil, 7, appendField(nil, 2, []byte{0xff, 0xfe})), true},
		{"truncated", rec[:len(rec)-1], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got, want usprecord.Record
			if err := same(t, tc.in, &got, &want); (err == nil) != tc.ok {
				t.Fatalf("protobuf-go: %v; the test expects ok=%v", err, tc.ok)
			}
		})
	}
}

func TestUnmarshalResets(t *testing.T) {
	m := sampleGetResp()
	get, _ := proto.Marshal(sampleGet())
	if err := Unmarshal(get, m); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, sampleGet()) {
		t.Fatalf("old content kept: %v", m)
	}
}

func TestUnmarshalWithoutFastPath(t *testing.T) {
	b, _ := proto.Marshal(wrapperspb.String("hello"))
	var got wrapperspb.StringValue
	if err := Unmarshal(b, &got); err != nil || got.Value != "hello" {
		t.Fatalf("%v %v", &got, err)
	}
	bad := appendField(nil, 1, []byte{0xff})
	if err := Unmarshal(bad, &got); err == nil {
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

// FuzzUnmarshal decodes each input both as a usp.Msg and as a Record and
// compares with protobuf-go.
func FuzzUnmarshal(f *testing.F) {
	get, _ := proto.Marshal(sampleGet())
	f.Add(get)
	f.Add(sampleRecord(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want uspmsg.Msg
		same(t, b, &got, &want)
		var gotRec, wantRec usprecord.Record
		same(t, b, &gotRec, &wantRec)
	})
}

func benchUnmarshal(b *testing.B, m *uspmsg.Msg, fast bool) {
	in, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var out uspmsg.Msg
		if fast {
			err = Unmarshal(in, &out)
		} else {
			err = proto.Unmarshal(in, &out)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalGet(b *testing.B)          { benchUnmarshal(b, sampleGet(), true) }
func BenchmarkProtoUnmarshalGet(b *testing.B)     { benchUnmarshal(b, sampleGet(), false) }
func BenchmarkUnmarshalGetResp(b *testing.B)      { benchUnmarshal(b, sampleGetResp(), true) }
func BenchmarkProtoUnmarshalGetResp(b *testing.B) { benchUnmarshal(b, sampleGetResp(), false) }
