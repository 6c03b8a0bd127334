package record

import (
	"fmt"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/proto"
)

// The benchmarks compare the record path (marshal the Msg and wrap it in a
// validated record with EncodeMsg; Decode with size check and validation,
// then UnmarshalPayload of the payload) with bare protobuf-go doing the same
// marshal and unmarshal steps without any checks. BENCHMARKS.md records the
// ratios.

func benchGet() *uspmsg.Msg {
	return &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: "get-deviceinfo", MsgType: uspmsg.Header_GET},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: &uspmsg.Request{
			ReqType: &uspmsg.Request_Get{Get: &uspmsg.Get{ParamPaths: []string{"Device.DeviceInfo."}, MaxDepth: 2}},
		}}},
	}
}

// benchGetResp answers with 100 parameters, the size of a typical
// Device.DeviceInfo. or LocalAgent subtree.
func benchGetResp() *uspmsg.Msg {
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

func TestEncodeMsgMatchesEncode(t *testing.T) {
	for _, m := range []*uspmsg.Msg{benchGet(), benchGetResp()} {
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Encode(NewNoSessionContext("1.3", agentID, controllerID, payload))
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeMsg("1.3", agentID, controllerID, m)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("EncodeMsg %d bytes, Encode %d", len(got), len(want))
		}
		// Map order varies between marshals, so compare the record fields
		// and the decoded payload rather than the bytes.
		r := mustDecode(t, got)
		p, err := Payload(r)
		if err != nil {
			t.Fatal(err)
		}
		var back uspmsg.Msg
		if err := proto.Unmarshal(p, &back); err != nil || !proto.Equal(&back, m) {
			t.Fatalf("payload does not decode to the message: %v", err)
		}
		r.GetNoSessionContext().Payload = payload
		if !proto.Equal(r, mustDecode(t, want)) {
			t.Fatal("EncodeMsg and Encode give different records")
		}
	}
	// Without maps the bytes are identical.
	payload, _ := proto.Marshal(benchGet())
	want, _ := Encode(NewNoSessionContext("1.3", agentID, controllerID, payload))
	got, _ := EncodeMsg("1.3", agentID, controllerID, benchGet())
	if string(got) != string(want) {
		t.Fatalf("EncodeMsg = %x\nEncode    = %x", got, want)
	}
	tests := []struct {
		name, version, to, from string
		m                       proto.Message
	}{
		{"no version", "", agentID, controllerID, benchGet()},
		{"bad version", "x", agentID, controllerID, benchGet()},
		{"no to", "1.3", "", controllerID, benchGet()},
		{"no from", "1.3", agentID, "", benchGet()},
		{"bad utf8", "1.3", "\xff", controllerID, benchGet()},
		{"nil msg", "1.3", agentID, controllerID, nil},
		{"empty msg", "1.3", agentID, controllerID, &uspmsg.Msg{}},
	}
	for _, tc := range tests {
		if _, err := EncodeMsg(tc.version, tc.to, tc.from, tc.m); !isInvalid(err) {
			t.Errorf("%s: EncodeMsg = %v, want 7104", tc.name, err)
		}
	}
}

func isInvalid(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == CodeInvalidRecordValue
}

func mustDecode(t *testing.T, b []byte) *usprecord.Record {
	t.Helper()
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func benchRecordEncode(b *testing.B, m *uspmsg.Msg) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := EncodeMsg(DefaultVersion, agentID, controllerID, m)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.SetBytes(int64(n))
}

func benchBareEncode(b *testing.B, m *uspmsg.Msg) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		payload, err := proto.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		out, err := proto.Marshal(&usprecord.Record{
			Version: DefaultVersion, ToId: agentID, FromId: controllerID,
			RecordType: &usprecord.Record_NoSessionContext{NoSessionContext: &usprecord.NoSessionContextRecord{Payload: payload}},
		})
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.SetBytes(int64(n))
}

func benchRecordDecode(b *testing.B, m *uspmsg.Msg) {
	in, err := EncodeMsg(DefaultVersion, agentID, controllerID, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r, err := Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Payload(r)
		if err != nil {
			b.Fatal(err)
		}
		var out uspmsg.Msg
		if err := UnmarshalPayload(p, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBareDecode(b *testing.B, m *uspmsg.Msg) {
	in, err := EncodeMsg(DefaultVersion, agentID, controllerID, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var r usprecord.Record
		if err := proto.Unmarshal(in, &r); err != nil {
			b.Fatal(err)
		}
		var out uspmsg.Msg
		if err := proto.Unmarshal(r.GetNoSessionContext().GetPayload(), &out); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecordDecodeProto is benchRecordDecode with proto.Unmarshal for the
// payload, to show what the envelope alone contributes.
func benchRecordDecodeProto(b *testing.B, m *uspmsg.Msg) {
	in, err := EncodeMsg(DefaultVersion, agentID, controllerID, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r, err := Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Payload(r)
		if err != nil {
			b.Fatal(err)
		}
		var out uspmsg.Msg
		if err := proto.Unmarshal(p, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordEncodeGet(b *testing.B)     { benchRecordEncode(b, benchGet()) }
func BenchmarkBareEncodeGet(b *testing.B)       { benchBareEncode(b, benchGet()) }
func BenchmarkRecordDecodeGet(b *testing.B)     { benchRecordDecode(b, benchGet()) }
func BenchmarkBareDecodeGet(b *testing.B)       { benchBareDecode(b, benchGet()) }
func BenchmarkRecordEncodeGetResp(b *testing.B) { benchRecordEncode(b, benchGetResp()) }
func BenchmarkBareEncodeGetResp(b *testing.B)   { benchBareEncode(b, benchGetResp()) }
func BenchmarkRecordDecodeGetResp(b *testing.B) { benchRecordDecode(b, benchGetResp()) }
func BenchmarkBareDecodeGetResp(b *testing.B)   { benchBareDecode(b, benchGetResp()) }

func BenchmarkRecordDecodeProtoPayloadGet(b *testing.B) { benchRecordDecodeProto(b, benchGet()) }
func BenchmarkRecordDecodeProtoPayloadGetResp(b *testing.B) {
	benchRecordDecodeProto(b, benchGetResp())
}

func BenchmarkParseEndpointID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEndpointID("urn:bbf:usp:id:ops::00256D-STB-0123456789"); err != nil {
			b.Fatal(err)
		}
	}
}

// The envelope alone: Decode and Encode of a record holding a GetResp
// payload, against proto.Unmarshal and proto.Marshal of the same record.
func BenchmarkRecordDecodeEnvelope(b *testing.B) {
	in, _ := EncodeMsg(DefaultVersion, agentID, controllerID, benchGetResp())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareDecodeEnvelope(b *testing.B) {
	in, _ := EncodeMsg(DefaultVersion, agentID, controllerID, benchGetResp())
	b.ReportAllocs()
	for b.Loop() {
		var r usprecord.Record
		if err := proto.Unmarshal(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordEncodeEnvelope(b *testing.B) {
	payload, _ := proto.Marshal(benchGetResp())
	r := NewNoSessionContext(DefaultVersion, agentID, controllerID, payload)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareEncodeEnvelope(b *testing.B) {
	payload, _ := proto.Marshal(benchGetResp())
	r := NewNoSessionContext(DefaultVersion, agentID, controllerID, payload)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}
