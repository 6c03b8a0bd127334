package record

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Encode and Decode use vtprotobuf's generated code; these tests pin that
// they accept and write exactly what protobuf-go does.

// Every string field of the Record schema, at any depth, is checked for
// UTF-8 the way protobuf-go checks it. Walking the descriptor makes a new
// string field in a later schema fail here until invalidUTF8Field knows it.
func TestDecodeRejectsInvalidUTF8LikeProtobufGo(t *testing.T) {
	bad := []byte{'a', 0xff, 'b'}
	rd := (&usprecord.Record{}).ProtoReflect().Descriptor()
	var checked int
	fields := rd.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		var in []byte
		switch {
		case f.Kind() == protoreflect.StringKind:
			in = protowire.AppendTag(nil, f.Number(), protowire.BytesType)
			in = protowire.AppendBytes(in, bad)
		case f.Kind() == protoreflect.MessageKind:
			sub := f.Message().Fields()
			for j := 0; j < sub.Len(); j++ {
				sf := sub.Get(j)
				if sf.Kind() != protoreflect.StringKind {
					continue
				}
				inner := protowire.AppendTag(nil, sf.Number(), protowire.BytesType)
				inner = protowire.AppendBytes(inner, bad)
				in = protowire.AppendTag(nil, f.Number(), protowire.BytesType)
				in = protowire.AppendBytes(in, inner)
			}
		}
		if in == nil {
			continue
		}
		checked++
		t.Run(string(f.Name()), func(t *testing.T) {
			if err := proto.Unmarshal(in, &usprecord.Record{}); err == nil {
				t.Fatal("protobuf-go accepts it; test input is wrong")
			}
			for _, opts := range [][]DecodeOption{nil, {WithoutValidation()}} {
				if _, err := Decode(in, opts...); !errors.Is(err, ErrRecordNotParsed) {
					t.Fatalf("Decode = %v, want 7100", err)
				}
			}
		})
	}
	if checked != 6 {
		t.Fatalf("checked %d string fields, the 1.4 schema has 6", checked)
	}
}

// protobuf-go writes an empty message for a oneof wrapper holding nil; so
// must Encode.
func TestEncodeNilWrapperLikeProtobufGo(t *testing.T) {
	for _, r := range []*usprecord.Record{
		{RecordType: &usprecord.Record_WebsocketConnect{}},
		{RecordType: &usprecord.Record_UdsConnect{}},
		{RecordType: &usprecord.Record_Disconnect{}},
	} {
		r.Version, r.ToId, r.FromId = "1.3", agentID, controllerID
		w := r.RecordType
		got, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.Marshal(r)
		if !bytes.Equal(got, want) {
			t.Errorf("%T: Encode %x, proto.Marshal %x", w, got, want)
		}
		back, err := Decode(got)
		if err != nil || Kind(back) != Kind(r) {
			t.Errorf("%T: decoded %v, %v", w, back, err)
		}
	}
}

func TestEncodeMatchesProtobufGo(t *testing.T) {
	cases := roundTripCases()
	with := NewDisconnect("1.4", agentID, controllerID, "ünïcödé", 7)
	with.MacSignature = []byte{1, 2}
	with.SenderCert = []byte("-----BEGIN CERTIFICATE-----")
	with.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 14, protowire.BytesType), "proto::o"))
	for _, r := range append([]*usprecord.Record{with}, func() (out []*usprecord.Record) {
		for _, c := range cases {
			out = append(out, c.rec)
		}
		return out
	}()...) {
		got, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.Marshal(r)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: Encode %x, proto.Marshal %x", Kind(r), got, want)
		}
	}
}

// hasMultiEntryMap reports a map field with two or more entries anywhere in
// m: their order on the wire is unspecified, so bytes cannot be compared.
func hasMultiEntryMap(m protoreflect.Message) bool {
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if v.Map().Len() > 1 {
				found = true
			}
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					found = found || hasMultiEntryMap(mv.Message())
					return !found
				})
			}
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := 0; i < v.List().Len() && !found; i++ {
				found = hasMultiEntryMap(v.List().Get(i).Message())
			}
		case fd.Kind() == protoreflect.MessageKind:
			found = hasMultiEntryMap(v.Message())
		}
		return !found
	})
	return found
}

// EncodeMsg, which writes the Msg with vtprotobuf's code, reproduces the
// agent's records byte for byte wherever the Msg has no multi-entry map.
func TestEncodeMsgReproducesCaptures(t *testing.T) {
	dir := captureDir(t)
	bins, _ := filepath.Glob(filepath.Join(dir, "*.record.bin"))
	var same, maps int
	for _, path := range bins {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if Kind(r) != TypeNoSessionContext {
			continue
		}
		var m uspmsg.Msg
		if err := proto.Unmarshal(r.GetNoSessionContext().Payload, &m); err != nil {
			t.Fatal(err)
		}
		out, err := EncodeMsg(r.Version, r.ToId, r.FromId, &m)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		vt, err := m.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		pg, _ := proto.Marshal(&m)
		if hasMultiEntryMap(m.ProtoReflect()) {
			maps++
			back, err := Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			var m2 uspmsg.Msg
			if err := proto.Unmarshal(back.GetNoSessionContext().Payload, &m2); err != nil || !proto.Equal(&m, &m2) {
				t.Errorf("%s: EncodeMsg changed the message", filepath.Base(path))
			}
			continue
		}
		same++
		if !bytes.Equal(vt, pg) {
			t.Errorf("%s: MarshalVT and proto.Marshal differ", filepath.Base(path))
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s: EncodeMsg does not reproduce the capture", filepath.Base(path))
		}
	}
	t.Logf("%d records reproduced byte for byte, %d with multi-entry maps compared decoded", same, maps)
	if same < 50 {
		t.Fatalf("only %d comparable captures", same)
	}
}
