package pbfast

import (
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// vtprotobuf's generated unmarshalers are several times faster than
// protobuf-go's but judge a few malformed inputs differently: they do not
// check strings for UTF-8, do not match group start and end numbers, read
// field numbers above 2^29-1 modulo 2^32, and reject a known field number
// with an unexpected wire type where protobuf-go keeps it as an unknown
// field (or, for a map entry's key and value, read it as if it had the
// expected type). The code here makes them a drop-in for proto.Unmarshal: a quick walk
// over the wire form finds what protobuf-go would reject, and any input the
// walk or the fast path objects to is decoded by protobuf-go instead.

// Field kinds the walk distinguishes.
const (
	kindOther   = iota // scalar, enum or bytes: skipped
	kindString         // checked for UTF-8
	kindMessage        // walked into
)

// wireSchema is what the walk needs to know about one message type,
// indexed by field number.
type wireSchema struct {
	kinds  []uint8
	nested []*wireSchema
}

// schemaCache maps a protoreflect.MessageDescriptor (an interface value,
// so that Load does not allocate as a string key would) to its schema.
var schemaCache sync.Map

// schemaFor returns the walk's schema for md, built once from the
// descriptor so that it follows the .proto files without a hand-kept list.
func schemaFor(md protoreflect.MessageDescriptor) *wireSchema {
	if s, ok := schemaCache.Load(md); ok {
		return s.(*wireSchema)
	}
	building := map[protoreflect.FullName]*wireSchema{}
	s := buildSchema(md, building)
	schemaCache.LoadOrStore(md, s)
	return s
}

func buildSchema(md protoreflect.MessageDescriptor, building map[protoreflect.FullName]*wireSchema) *wireSchema {
	if s, ok := building[md.FullName()]; ok {
		return s // recursive message type
	}
	s := &wireSchema{}
	building[md.FullName()] = s
	fields := md.Fields()
	maxNum := 0
	for i := 0; i < fields.Len(); i++ {
		maxNum = max(maxNum, int(fields.Get(i).Number()))
	}
	s.kinds = make([]uint8, maxNum+1)
	s.nested = make([]*wireSchema, maxNum+1)
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		switch f.Kind() {
		case protoreflect.StringKind:
			// Checked whatever the syntax: where protobuf-go would not
			// check (proto2), a false alarm only costs the slow path.
			s.kinds[f.Number()] = kindString
		case protoreflect.MessageKind: // map entries included
			s.kinds[f.Number()] = kindMessage
			s.nested[f.Number()] = buildSchema(f.Message(), building)
		}
	}
	return s
}

// maxWalkDepth bounds the walk's recursion on hostile nesting; deeper
// inputs are left to protobuf-go, which has its own limit.
const maxWalkDepth = 100

// wireProblem reports whether protobuf-go could judge b differently from
// vtprotobuf's code, as a short reason ("" when they agree). Bytes fields,
// such as a record's payload, are stepped over without being read.
func wireProblem(b []byte, s *wireSchema) string {
	return walk(b, s, 0)
}

func walk(b []byte, s *wireSchema, depth int) string {
	if depth > maxWalkDepth {
		return "nested too deeply"
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return "malformed tag"
		}
		if n != protowire.SizeTag(num) {
			// protobuf-go keeps an unknown field under a tag it encodes
			// again, vtprotobuf's code under the bytes it read: the two
			// differ when the tag was not written in the fewest bytes.
			return "tag not minimally encoded"
		}
		b = b[n:]
		if typ != protowire.BytesType {
			// A string or message field with another wire type is an
			// unknown field to protobuf-go. vtprotobuf's code rejects it in
			// a message, but inside a map entry it reads the key or value
			// without looking at the wire type (a varint taken for a
			// length): leave every such input to protobuf-go.
			if int(num) < len(s.kinds) && s.kinds[num] != kindOther {
				return "string or message field with another wire type"
			}
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "malformed field"
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "malformed length"
		}
		b = b[n:]
		if int(num) >= len(s.kinds) {
			continue // unknown field
		}
		switch s.kinds[num] {
		case kindString:
			if !validUTF8(v) {
				return "string is not valid UTF-8"
			}
		case kindMessage:
			if p := walk(v, s.nested[num], depth+1); p != "" {
				return p
			}
		}
	}
	return ""
}

// validUTF8 has an ASCII fast path: field names, paths and values in USP
// are nearly always ASCII.
func validUTF8(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] >= 0x80 {
			return utf8.Valid(b[i:])
		}
	}
	return true
}

type vtUnmarshaler interface {
	UnmarshalVT([]byte) error
}

// Unmarshal decodes b into m exactly as proto.Unmarshal does (same
// accepted inputs, same result, same errors for rejected input) but, for
// messages with vtprotobuf's generated code such as *uspmsg.Msg and
// *usprecord.Record, at the generated code's speed. Other messages go to
// proto.Unmarshal.
func Unmarshal(b []byte, m proto.Message) error {
	vt, ok := m.(vtUnmarshaler)
	if !ok {
		return proto.Unmarshal(b, m)
	}
	proto.Reset(m)
	if wireProblem(b, schemaFor(m.ProtoReflect().Descriptor())) == "" {
		if err := vt.UnmarshalVT(b); err == nil {
			return nil
		}
	}
	return proto.Unmarshal(b, m)
}
