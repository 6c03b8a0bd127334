package record

import (
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Field numbers of the Record schema used by the direct encoder.
const (
	fieldVersion          = 1
	fieldToID             = 2
	fieldFromID           = 3
	fieldNoSessionContext = 7
	fieldNSCPayload       = 2
)

var cachedSizeOpts = proto.MarshalOptions{UseCachedSize: true}

// vtMessage is implemented by messages with vtprotobuf's generated
// marshaling code, such as every uspmsg type.
type vtMessage interface {
	SizeVT() int
	MarshalToSizedBufferVT([]byte) (int, error)
}

// EncodeMsg serializes m (a *uspmsg.Msg) straight into a NoSessionContext
// record and returns the record's bytes. The result is byte for byte what
// Encode(NewNoSessionContext(version, to, from, proto.Marshal(m))) gives,
// without the intermediate payload buffer and its copy.
//
// Messages with vtprotobuf's generated code (all of uspmsg) are written by
// it rather than by protobuf-go's reflection. The bytes are the same, map
// entries aside (their order is unspecified either way), with one
// exception: a oneof wrapper holding a nil message, such as
// &uspmsg.Body_Request{}, which protobuf-go writes as an empty message and
// vtprotobuf omits. Build messages without such wrappers.
func EncodeMsg(version, to, from string, m proto.Message) ([]byte, error) {
	return AppendEncodeMsg(nil, version, to, from, m)
}

// AppendEncodeMsg is [EncodeMsg] appending to dst.
func AppendEncodeMsg(dst []byte, version, to, from string, m proto.Message) ([]byte, error) {
	if e := validateHeader(version, to, from); e != nil {
		return dst, e
	}
	if m == nil {
		return dst, invalid("nil message")
	}
	vt, fast := m.(vtMessage)
	var n int
	if fast {
		n = vt.SizeVT()
	} else {
		// Size caches the sizes of nested messages, so the marshal below
		// does not compute them again.
		n = proto.Size(m)
	}
	if n == 0 {
		return dst, invalid("no_session_context payload is empty")
	}
	nsc := protowire.SizeTag(fieldNSCPayload) + protowire.SizeBytes(n)
	total := protowire.SizeTag(fieldVersion) + protowire.SizeBytes(len(version)) +
		protowire.SizeTag(fieldToID) + protowire.SizeBytes(len(to)) +
		protowire.SizeTag(fieldFromID) + protowire.SizeBytes(len(from)) +
		protowire.SizeTag(fieldNoSessionContext) + protowire.SizeBytes(nsc)
	b := slices.Grow(dst, total)
	b = protowire.AppendTag(b, fieldVersion, protowire.BytesType)
	b = protowire.AppendString(b, version)
	b = protowire.AppendTag(b, fieldToID, protowire.BytesType)
	b = protowire.AppendString(b, to)
	b = protowire.AppendTag(b, fieldFromID, protowire.BytesType)
	b = protowire.AppendString(b, from)
	b = protowire.AppendTag(b, fieldNoSessionContext, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(nsc))
	b = protowire.AppendTag(b, fieldNSCPayload, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	start := len(b)
	var err error
	if fast {
		b = b[:start+n]
		var w int
		if w, err = vt.MarshalToSizedBufferVT(b[start:]); err == nil && w != n {
			return dst, invalid("message changed while being encoded: %d bytes, sized %d", w, n)
		}
	} else {
		b, err = cachedSizeOpts.MarshalAppend(b, m)
	}
	if err != nil {
		return dst, &Error{Code: CodeInvalidRecordValue, Msg: "cannot encode message", Err: err}
	}
	if len(b)-start != n {
		// m changed between sizing and marshaling (a data race in the
		// caller).
		return dst, invalid("message changed while being encoded: %d bytes, sized %d", len(b)-start, n)
	}
	return b, nil
}

// validateHeader applies Validate's rules on version, to_id and from_id,
// plus the UTF-8 check protobuf-go makes on proto3 strings.
func validateHeader(version, to, from string) *Error {
	switch {
	case version == "":
		return invalid("version is empty")
	case !ValidVersion(version):
		return invalid("version %q is not Major.Minor", version)
	case to == "":
		return invalid("to_id is empty")
	case from == "":
		return invalid("from_id is empty")
	case !utf8.ValidString(to):
		return invalid("to_id is not valid UTF-8")
	case !utf8.ValidString(from):
		return invalid("from_id is not valid UTF-8")
	}
	return nil
}
