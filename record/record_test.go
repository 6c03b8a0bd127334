package record

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

const (
	agentID      = "proto::obuspa-test-agent"
	controllerID = "proto::test-controller"
)

// roundTripCases holds one valid record per record type.
func roundTripCases() []struct {
	name string
	rec  *usprecord.Record
	kind RecordType
} {
	return []struct {
		name string
		rec  *usprecord.Record
		kind RecordType
	}{
		{"no_session_context", NewNoSessionContext("1.3", agentID, controllerID, []byte{0x0a, 0x02, 0x0a, 0x00}), TypeNoSessionContext},
		{"session_context", NewSessionContext("1.4", agentID, controllerID, &usprecord.SessionContextRecord{
			SessionId: 7, SequenceId: 3, ExpectedId: 2, RetransmitId: 1,
			PayloadSarState: SARInProcess, PayloadrecSarState: SARInProcess,
			Payload: [][]byte{[]byte("segment")},
		}), TypeSessionContext},
		{"session_context_empty_payload", NewSessionContext("1.3", agentID, controllerID, &usprecord.SessionContextRecord{
			SessionId: 1, SequenceId: 1, ExpectedId: 1,
		}), TypeSessionContext},
		{"websocket_connect", NewWebSocketConnect("1.3", controllerID, agentID), TypeWebSocketConnect},
		{"mqtt_connect_v5", NewMQTTConnect("1.3", controllerID, agentID, usprecord.MQTTConnectRecord_V5, "/usp/agent/obuspa"), TypeMQTTConnect},
		{"mqtt_connect_v311", NewMQTTConnect("1.3", controllerID, agentID, usprecord.MQTTConnectRecord_V3_1_1, "usp/agent"), TypeMQTTConnect},
		{"stomp_connect", NewSTOMPConnect("1.3", controllerID, agentID, "/queue/usp-agent-obuspa"), TypeSTOMPConnect},
		{"disconnect", NewDisconnect("1.3", agentID, controllerID, "bye", CodeSessionContextTerminated), TypeDisconnect},
		{"disconnect_empty", NewDisconnect("1.3", agentID, controllerID, "", 0), TypeDisconnect},
		{"uds_connect", NewUDSConnect("1.3", agentID, controllerID), TypeUDSConnect},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.rec)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			// Our encoding must be what protobuf-go writes.
			want, err := proto.Marshal(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("Encode = %x, proto.Marshal = %x", b, want)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d := cmp.Diff(tc.rec, got, protocmp.Transform()); d != "" {
				t.Fatalf("round trip changed the record (-want +got):\n%s", d)
			}
			if k := Kind(got); k != tc.kind {
				t.Fatalf("Kind = %v, want %v", k, tc.kind)
			}
			if got.Version != tc.rec.Version || got.ToId != tc.rec.ToId || got.FromId != tc.rec.FromId {
				t.Fatalf("header fields changed: %v", got)
			}
		})
	}
}

func TestAppendEncodeReusesBuffer(t *testing.T) {
	r := NewWebSocketConnect("1.3", controllerID, agentID)
	prefix := []byte("prefix")
	b, err := AppendEncode(prefix, r)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(r)
	if !bytes.HasPrefix(b, prefix) || !bytes.Equal(b[len(prefix):], want) {
		t.Fatalf("AppendEncode = %q", b)
	}
	// A failing AppendEncode leaves dst as it was.
	b2, err := AppendEncode(prefix, &usprecord.Record{})
	if err == nil || !bytes.Equal(b2, prefix) {
		t.Fatalf("AppendEncode invalid = %q, %v", b2, err)
	}
}

func TestValidate(t *testing.T) {
	valid := func() *usprecord.Record { return NewNoSessionContext("1.3", agentID, controllerID, []byte{1}) }
	sess := func(mod func(*usprecord.SessionContextRecord)) *usprecord.Record {
		sc := &usprecord.SessionContextRecord{SessionId: 1, SequenceId: 1, ExpectedId: 1, Payload: [][]byte{{1}}}
		mod(sc)
		return NewSessionContext("1.3", agentID, controllerID, sc)
	}
	tests := []struct {
		name    string
		rec     *usprecord.Record
		wantErr string // substring; "" means valid
	}{
		{"valid", valid(), ""},
		{"nil", nil, "nil record"},
		{"no version", func() *usprecord.Record { r := valid(); r.Version = ""; return r }(), "version is empty"},
		{"bad version", func() *usprecord.Record { r := valid(); r.Version = "v1"; return r }(), "not Major.Minor"},
		{"version with patch", func() *usprecord.Record { r := valid(); r.Version = "1.4.1"; return r }(), ""},
		{"future version", func() *usprecord.Record { r := valid(); r.Version = "2.0"; return r }(), ""},
		{"no to_id", func() *usprecord.Record { r := valid(); r.ToId = ""; return r }(), "to_id is empty"},
		{"no from_id", func() *usprecord.Record { r := valid(); r.FromId = ""; return r }(), "from_id is empty"},
		{"no record type", &usprecord.Record{Version: "1.3", ToId: agentID, FromId: controllerID}, "no record_type"},
		{"empty payload", NewNoSessionContext("1.3", agentID, controllerID, nil), "payload is empty"},
		{"nil nsc", func() *usprecord.Record {
			r := valid()
			r.RecordType = &usprecord.Record_NoSessionContext{}
			return r
		}(), "payload is empty"},
		{"tls12 without session", func() *usprecord.Record { r := valid(); r.PayloadSecurity = usprecord.Record_TLS12; return r }(), "TLS12 requires"},
		{"unknown payload security", func() *usprecord.Record { r := valid(); r.PayloadSecurity = 5; return r }(), "unknown payload_security"},
		{"session ok", sess(func(*usprecord.SessionContextRecord) {}), ""},
		{"session tls12 several payloads", func() *usprecord.Record {
			r := sess(func(sc *usprecord.SessionContextRecord) { sc.Payload = [][]byte{{1}, {2}} })
			r.PayloadSecurity = usprecord.Record_TLS12
			return r
		}(), ""},
		{"session id 0", sess(func(sc *usprecord.SessionContextRecord) { sc.SessionId = 0 }), "session_id is 0"},
		{"sequence id 0", sess(func(sc *usprecord.SessionContextRecord) { sc.SequenceId = 0 }), "sequence_id is 0"},
		{"expected id 0", sess(func(sc *usprecord.SessionContextRecord) { sc.ExpectedId = 0 }), "expected_id is 0"},
		{"bad sar", sess(func(sc *usprecord.SessionContextRecord) { sc.PayloadSarState = 4 }), "unknown payload_sar_state"},
		{"bad rec sar", sess(func(sc *usprecord.SessionContextRecord) {
			sc.PayloadSarState = SARBegin
			sc.PayloadrecSarState = -1
		}), "unknown payloadrec_sar_state"},
		{"rec sar without sar", sess(func(sc *usprecord.SessionContextRecord) { sc.PayloadrecSarState = SARBegin }), "without payload_sar_state"},
		{"plaintext two payloads", sess(func(sc *usprecord.SessionContextRecord) { sc.Payload = [][]byte{{1}, {2}} }), "at most 1"},
		{"nil session", NewSessionContext("1.3", agentID, controllerID, nil), "session_id is 0"},
		{"mqtt no topic", NewMQTTConnect("1.3", controllerID, agentID, usprecord.MQTTConnectRecord_V5, ""), "subscribed_topic is empty"},
		{"mqtt wildcard +", NewMQTTConnect("1.3", controllerID, agentID, usprecord.MQTTConnectRecord_V5, "usp/+/x"), "wildcard"},
		{"mqtt wildcard #", NewMQTTConnect("1.3", controllerID, agentID, usprecord.MQTTConnectRecord_V5, "usp/#"), "wildcard"},
		{"mqtt bad version", NewMQTTConnect("1.3", controllerID, agentID, 9, "usp/a"), "unknown MQTT version"},
		{"stomp no dest", NewSTOMPConnect("1.3", controllerID, agentID, ""), "subscribed_destination is empty"},
		{"stomp bad version", func() *usprecord.Record {
			r := NewSTOMPConnect("1.3", controllerID, agentID, "/q")
			r.GetStompConnect().Version = 1
			return r
		}(), "unknown STOMP version"},
		{"nil websocket connect", func() *usprecord.Record {
			r := NewWebSocketConnect("1.3", controllerID, agentID)
			r.RecordType = &usprecord.Record_WebsocketConnect{}
			return r
		}(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.rec)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				// A valid record must also encode and decode back.
				b, err := Encode(tc.rec)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if _, err := Decode(b); err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %q, want it to contain %q", err, tc.wantErr)
			}
			var re *Error
			if !errors.As(err, &re) || re.Code != CodeInvalidRecordValue || !errors.Is(err, ErrInvalidRecordValue) {
				t.Fatalf("Validate error %#v is not a 7104 *Error", err)
			}
			if errors.Is(err, ErrRecordNotParsed) {
				t.Fatal("7104 error matches ErrRecordNotParsed")
			}
			if _, err := Encode(tc.rec); !errors.Is(err, ErrInvalidRecordValue) {
				t.Fatalf("Encode of invalid record = %v, want 7104", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, err := Encode(NewNoSessionContext("1.3", agentID, controllerID, []byte{1, 2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	noVersion, _ := proto.Marshal(NewNoSessionContext("", agentID, controllerID, []byte{1}))
	tests := []struct {
		name     string
		in       []byte
		opts     []DecodeOption
		code     uint32
		tooLarge bool
		record   bool // a record is returned with the error
	}{
		{"garbage", []byte("this is not protobuf \xff\xff"), nil, CodeRecordNotParsed, false, false},
		{"truncated", valid[:len(valid)-1], nil, CodeRecordNotParsed, false, false},
		{"empty input", nil, nil, CodeInvalidRecordValue, false, true},
		{"too large", valid, []DecodeOption{WithMaxSize(len(valid) - 1)}, CodeRecordNotParsed, true, false},
		{"exactly at limit", valid, []DecodeOption{WithMaxSize(len(valid))}, 0, false, true},
		{"missing version", noVersion, nil, CodeInvalidRecordValue, false, true},
		{"bad utf8 in to_id", func() []byte {
			b := protowire.AppendTag(nil, 1, protowire.BytesType)
			b = protowire.AppendString(b, "1.3")
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			return protowire.AppendBytes(b, []byte{0xff, 0xfe})
		}(), nil, CodeRecordNotParsed, false, false},
		{"strict ids ok", valid, []DecodeOption{WithStrictEndpointIDs()}, 0, false, true},
		{"strict ids bad", func() []byte {
			b, _ := Encode(NewNoSessionContext("1.3", "agent", controllerID, []byte{1}))
			return b
		}(), []DecodeOption{WithStrictEndpointIDs()}, CodeInvalidRecordValue, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode(tc.in, tc.opts...)
			if tc.code == 0 {
				if err != nil || r == nil {
					t.Fatalf("Decode = %v, %v; want success", r, err)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Decode error = %v (%T), want *Error", err, err)
			}
			if re.Code != tc.code {
				t.Fatalf("code = %d, want %d (%v)", re.Code, tc.code, err)
			}
			if got := errors.Is(err, ErrTooLarge); got != tc.tooLarge {
				t.Fatalf("errors.Is(err, ErrTooLarge) = %v, want %v", got, tc.tooLarge)
			}
			if (r != nil) != tc.record {
				t.Fatalf("record returned = %v, want %v", r != nil, tc.record)
			}
		})
	}
}

func TestDecodeOptions(t *testing.T) {
	b, _ := Encode(NewUDSConnect("1.3", agentID, controllerID))
	for _, n := range []int{0, -1} {
		if _, err := Decode(b, WithMaxSize(n)); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("WithMaxSize(%d): err = %v, want ErrInvalidOption", n, err)
		}
	}
	// Without validation a record missing required fields still decodes.
	raw, _ := proto.Marshal(&usprecord.Record{Version: "1.3"})
	r, err := Decode(raw, WithoutValidation())
	if err != nil || r.Version != "1.3" {
		t.Fatalf("WithoutValidation: %v, %v", r, err)
	}
	if _, err := Decode(raw); !errors.Is(err, ErrInvalidRecordValue) {
		t.Fatalf("validated decode = %v, want 7104", err)
	}
	// The size limit holds without validation too.
	if _, err := Decode(raw, WithoutValidation(), WithMaxSize(1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WithoutValidation ignores the size limit: %v", err)
	}
}

func TestDecodeDefaultMaxSize(t *testing.T) {
	big := make([]byte, DefaultMaxSize+1)
	if _, err := Decode(big); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrRecordNotParsed) {
		t.Fatalf("Decode of %d bytes = %v, want 7100 ErrTooLarge", len(big), err)
	}
	// A payload just under the default limit decodes.
	rec := NewNoSessionContext("1.3", agentID, controllerID, make([]byte, DefaultMaxSize-100))
	b, err := Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > DefaultMaxSize {
		t.Fatalf("test record is %d bytes", len(b))
	}
	if _, err := Decode(b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
}

// USP 1.5 adds Record fields 14 and 15; a 1.4 decoder must keep working and
// carry them through unchanged.
func TestDecodeToleratesUnknownFields(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			var extra []byte
			extra = protowire.AppendTag(extra, 14, protowire.BytesType) // originator_id
			extra = protowire.AppendString(extra, "proto::originator")
			extra = protowire.AppendTag(extra, 15, protowire.BytesType) // destination_id
			extra = protowire.AppendString(extra, "proto::destination")
			extra = protowire.AppendTag(extra, 99, protowire.VarintType)
			extra = protowire.AppendVarint(extra, 12345)
			in := append(append([]byte(nil), b...), extra...)

			got, err := Decode(in)
			if err != nil {
				t.Fatalf("Decode with unknown fields: %v", err)
			}
			if !bytes.Equal(got.ProtoReflect().GetUnknown(), extra) {
				t.Fatalf("unknown fields = %x, want %x", got.ProtoReflect().GetUnknown(), extra)
			}
			// Apart from the unknown fields, the record is the same.
			clean := proto.Clone(got).(*usprecord.Record)
			clean.ProtoReflect().SetUnknown(nil)
			if d := cmp.Diff(tc.rec, clean, protocmp.Transform()); d != "" {
				t.Fatalf("decoded record differs (-want +got):\n%s", d)
			}
			// Re-encoding keeps them, so a relay forwards them intact.
			out, err := Encode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("re-encoded %x, want %x", out, in)
			}
		})
	}
	// Unknown fields inside a nested record are kept too.
	b, _ := Encode(NewMQTTConnect("1.3", controllerID, agentID, usprecord.MQTTConnectRecord_V5, "t"))
	r, _ := Decode(b)
	inner := r.GetMqttConnect()
	inner.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 7, protowire.VarintType), 1))
	b2, _ := Encode(r)
	r2, err := Decode(b2)
	if err != nil || len(r2.GetMqttConnect().ProtoReflect().GetUnknown()) == 0 {
		t.Fatalf("nested unknown field lost: %v %v", r2, err)
	}
}

func TestKind(t *testing.T) {
	if k := Kind(nil); k != TypeNone {
		t.Errorf("Kind(nil) = %v", k)
	}
	if k := Kind(&usprecord.Record{}); k != TypeNone {
		t.Errorf("Kind(empty) = %v", k)
	}
	tests := []struct {
		t       RecordType
		name    string
		connect bool
	}{
		{TypeNone, "none", false},
		{TypeNoSessionContext, "no_session_context", false},
		{TypeSessionContext, "session_context", false},
		{TypeWebSocketConnect, "websocket_connect", true},
		{TypeMQTTConnect, "mqtt_connect", true},
		{TypeSTOMPConnect, "stomp_connect", true},
		{TypeDisconnect, "disconnect", false},
		{TypeUDSConnect, "uds_connect", true},
		{RecordType(42), "RecordType(42)", false},
		{RecordType(-1), "RecordType(-1)", false},
	}
	for _, tc := range tests {
		if got := tc.t.String(); got != tc.name {
			t.Errorf("String(%d) = %q, want %q", int(tc.t), got, tc.name)
		}
		if got := tc.t.IsConnect(); got != tc.connect {
			t.Errorf("%v.IsConnect() = %v", tc.t, got)
		}
	}
	// The names are the schema's oneof field names.
	fields := (&usprecord.Record{}).ProtoReflect().Descriptor().Oneofs().ByName("record_type").Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		rt := RecordType(int(f.Number()) - 6)
		if rt.String() != string(f.Name()) {
			t.Errorf("field %d is %s, RecordType says %s", f.Number(), f.Name(), rt)
		}
	}
}

func TestPayload(t *testing.T) {
	p := []byte{9, 8, 7}
	got, err := Payload(NewNoSessionContext("1.3", agentID, controllerID, p))
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("Payload = %v, %v", got, err)
	}
	if _, err := Payload(NewUDSConnect("1.3", agentID, controllerID)); !errors.Is(err, ErrWrongType) {
		t.Fatalf("Payload(uds_connect) = %v, want ErrWrongType", err)
	}
	if _, err := Payload(nil); !errors.Is(err, ErrWrongType) {
		t.Fatalf("Payload(nil) = %v, want ErrWrongType", err)
	}
	if _, err := Payload(NewNoSessionContext("1.3", agentID, controllerID, nil)); !errors.Is(err, ErrInvalidRecordValue) {
		t.Fatalf("Payload(empty) = %v, want 7104", err)
	}
}

func TestErrorMatching(t *testing.T) {
	e := &Error{Code: CodeInvalidRecordValue, Msg: "to_id is empty"}
	if !errors.Is(e, ErrInvalidRecordValue) || errors.Is(e, ErrRecordNotParsed) || errors.Is(e, ErrTooLarge) {
		t.Fatal("code matching is wrong")
	}
	wrapped := &Error{Code: CodeRecordNotParsed, Msg: "x", Err: ErrTooLarge}
	if !errors.Is(wrapped, ErrTooLarge) || !errors.Is(wrapped, ErrRecordNotParsed) {
		t.Fatal("cause not reachable")
	}
	if got := e.Error(); got != "record: invalid record value (7104): to_id is empty" {
		t.Fatalf("Error() = %q", got)
	}
	if got := (&Error{Code: 7199}).Error(); got != "record: error 7199" {
		t.Fatalf("Error() = %q", got)
	}
	sentinels := []*Error{ErrRecordNotParsed, ErrSecureSessionRequired, ErrSecureSessionNotSupported,
		ErrSegmentationNotSupported, ErrInvalidRecordValue, ErrSessionContextTerminated, ErrSessionContextNotAllowed}
	for i, s := range sentinels {
		if s.Code != uint32(7100+i) {
			t.Errorf("sentinel %d has code %d", i, s.Code)
		}
		if CodeText(s.Code) == "" {
			t.Errorf("no text for %d", s.Code)
		}
		for j, o := range sentinels {
			if (i == j) != errors.Is(s, o) {
				t.Errorf("errors.Is(%d, %d) wrong", s.Code, o.Code)
			}
		}
	}
	if CodeText(7000) != "" {
		t.Error("CodeText(7000) should be empty")
	}
}
