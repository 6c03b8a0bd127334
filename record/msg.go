package record

import (
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

// EncodeMsg serializes m (a *uspmsg.Msg) straight into a NoSessionContext
// record and returns the record's bytes. The result is byte for byte what
// Encode(NewNoSessionContext(version, to, from, proto.Marshal(m))) gives,
// without the intermediate payload buffer and its copy.
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
	// Size caches the sizes of nested messages, so the marshal below does
	// not compute them again.
	n := proto.Size(m)
	if n == 0 {
		return dst, invalid("no_session_context payload is empty")
	}
	b := dst
	b = protowire.AppendTag(b, fieldVersion, protowire.BytesType)
	b = protowire.AppendString(b, version)
	b = protowire.AppendTag(b, fieldToID, protowire.BytesType)
	b = protowire.AppendString(b, to)
	b = protowire.AppendTag(b, fieldFromID, protowire.BytesType)
	b = protowire.AppendString(b, from)
	b = protowire.AppendTag(b, fieldNoSessionContext, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(protowire.SizeTag(fieldNSCPayload)+protowire.SizeBytes(n)))
	b = protowire.AppendTag(b, fieldNSCPayload, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	start := len(b)
	b, err := cachedSizeOpts.MarshalAppend(b, m)
	if err != nil {
		return dst, &Error{Code: CodeInvalidValue, Msg: "cannot encode message", Err: err}
	}
	if len(b)-start != n {
		// m changed between Size and Marshal (a data race in the caller).
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
