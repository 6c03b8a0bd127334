package record

import (
	"fmt"
	"slices"

	"github.com/gousp/gousp/internal/pbfast"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxSize is the largest record Decode accepts unless [WithMaxSize]
// says otherwise: 16 MiB. It is far above what agents send (the largest
// OB-USP-A capture, a full GetSupportedDMResp, is 8 KiB) yet bounds the
// memory one peer can make us allocate.
const DefaultMaxSize = 16 << 20

var marshalOpts = proto.MarshalOptions{}

// Encode validates r (see [Validate]) and returns its wire form.
func Encode(r *usprecord.Record) ([]byte, error) {
	return AppendEncode(nil, r)
}

// AppendEncode is [Encode] appending to dst, so that a caller can reuse a
// buffer across records.
func AppendEncode(dst []byte, r *usprecord.Record) ([]byte, error) {
	if e := validate(r); e != nil {
		return dst, e
	}
	if hasNilRecordType(r) {
		// protobuf-go writes an empty message for a oneof wrapper holding
		// nil, the generated fast path writes nothing; keep protobuf-go's
		// bytes.
		b, err := marshalOpts.MarshalAppend(dst, r)
		if err != nil {
			return dst, &Error{Code: CodeInvalidRecordValue, Msg: "cannot encode", Err: err}
		}
		return b, nil
	}
	// The vtprotobuf fast path: same bytes as proto.Marshal, no reflection.
	n := r.SizeVT()
	b := slices.Grow(dst, n)[:len(dst)+n]
	if _, err := r.MarshalToSizedBufferVT(b[len(dst):]); err != nil {
		return dst, &Error{Code: CodeInvalidRecordValue, Msg: "cannot encode", Err: err}
	}
	return b, nil
}

// hasNilRecordType reports a record_type wrapper whose message is nil.
func hasNilRecordType(r *usprecord.Record) bool {
	switch t := r.RecordType.(type) {
	case *usprecord.Record_NoSessionContext:
		return t.NoSessionContext == nil
	case *usprecord.Record_SessionContext:
		return t.SessionContext == nil
	case *usprecord.Record_WebsocketConnect:
		return t.WebsocketConnect == nil
	case *usprecord.Record_MqttConnect:
		return t.MqttConnect == nil
	case *usprecord.Record_StompConnect:
		return t.StompConnect == nil
	case *usprecord.Record_Disconnect:
		return t.Disconnect == nil
	case *usprecord.Record_UdsConnect:
		return t.UdsConnect == nil
	}
	return false
}

// DecodeOption configures [Decode].
//
// Unlike the func(*config) error options elsewhere in gousp, these take
// and return a copy of the configuration, and a bad value is reported by
// Decode itself: a pointer handed to an option function would move the
// configuration to the heap, and Decode is on every record's path, where it
// allocates nothing but the record. The option functions behave the same
// for a caller.
type DecodeOption func(decodeConfig) decodeConfig

type decodeConfig struct {
	maxSize   int
	strictIDs bool
	validate  bool
	err       error
}

// WithMaxSize sets the largest record, in bytes, that Decode accepts
// (default [DefaultMaxSize]). n must be positive; otherwise Decode fails
// with [ErrInvalidOption] before looking at its input.
func WithMaxSize(n int) DecodeOption {
	return func(c decodeConfig) decodeConfig {
		if n <= 0 {
			c.err = fmt.Errorf("%w: WithMaxSize(%d): size must be positive", ErrInvalidOption, n)
			return c
		}
		c.maxSize = n
		return c
	}
}

// WithStrictEndpointIDs makes Decode check to_id and from_id against
// TR-369's endpoint ID syntax (see [ParseEndpointID]) and fail with 7104 when
// they do not follow it. Off by default: a controller usually prefers to
// talk to an agent whose ID is slightly off than to drop it.
func WithStrictEndpointIDs() DecodeOption {
	return func(c decodeConfig) decodeConfig { c.strictIDs = true; return c }
}

// WithoutValidation makes Decode skip [Validate], for tools that want to
// show whatever a peer sent. The size limit still applies.
func WithoutValidation() DecodeOption {
	return func(c decodeConfig) decodeConfig { c.validate = false; return c }
}

// Decode parses one record and validates it.
//
// Errors are [*Error] values: code 7100 ([ErrRecordNotParsed]) when b is larger
// than the size limit (the cause is then [ErrTooLarge]) or is not a
// protobuf Record, and 7104 ([ErrInvalidRecordValue]) when a field breaks a rule
// of [Validate]. On a 7104 error the decoded record is returned as well, so
// that the caller can address an answer (a DisconnectRecord or an Error
// message) to its from_id.
//
// Fields unknown to the 1.4 schema, such as USP 1.5's originator_id and
// destination_id, are kept as unknown fields and re-encoded unchanged. The
// record may share no memory with b: bytes fields are copied.
func Decode(b []byte, opts ...DecodeOption) (*usprecord.Record, error) {
	cfg := decodeConfig{maxSize: DefaultMaxSize, validate: true}
	for _, o := range opts {
		cfg = o(cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	if len(b) > cfg.maxSize {
		return nil, &Error{
			Code: CodeRecordNotParsed,
			Msg:  fmt.Sprintf("record is %d bytes, limit %d", len(b), cfg.maxSize),
			Err:  ErrTooLarge,
		}
	}
	r := &usprecord.Record{}
	// The generated fast path decodes well-formed records; pbfast sends
	// anything it would judge differently to protobuf-go, so that Decode
	// accepts exactly what proto.Unmarshal accepts.
	if err := pbfast.Unmarshal(b, r); err != nil {
		return nil, &Error{Code: CodeRecordNotParsed, Msg: "not a USP Record", Err: err}
	}
	if !cfg.validate {
		return r, nil
	}
	if e := validate(r); e != nil {
		return r, e
	}
	if cfg.strictIDs {
		if _, err := ParseEndpointID(r.ToId); err != nil {
			return r, &Error{Code: CodeInvalidRecordValue, Msg: "to_id", Err: err}
		}
		if _, err := ParseEndpointID(r.FromId); err != nil {
			return r, &Error{Code: CodeInvalidRecordValue, Msg: "from_id", Err: err}
		}
	}
	return r, nil
}
