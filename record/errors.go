package record

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gousp/gousp/usperr"
)

// Record error codes (TR-369 "USP Record Errors", range 7100-7199), under
// the same names and values as in [usperr] and msg. They are untyped so they
// fit DisconnectRecord.reason_code (fixed32) without conversion.
const (
	CodeRecordNotParsed           = 7100 // record could not be parsed
	CodeSecureSessionRequired     = 7101 // E2E secure session required
	CodeSecureSessionNotSupported = 7102 // E2E secure session not supported
	CodeSegmentationNotSupported  = 7103 // segmentation and reassembly not supported
	CodeInvalidRecordValue        = 7104 // at least one record field is invalid
	CodeSessionContextTerminated  = 7105 // session context terminated
	CodeSessionContextNotAllowed  = 7106 // session context not allowed or not supported
)

// Former names of the record error codes.
//
// Deprecated: use the names above, which msg and [usperr] share.
const (
	CodeCannotParse       = CodeRecordNotParsed
	CodeSARNotSupported   = CodeSegmentationNotSupported
	CodeInvalidValue      = CodeInvalidRecordValue
	CodeSessionTerminated = CodeSessionContextTerminated
	CodeSessionNotAllowed = CodeSessionContextNotAllowed
)

// CodeText returns the specification's name of a record error code, or ""
// for a code outside 7100-7106.
func CodeText(code uint32) string {
	if c := usperr.Code(code); c.IsRecord() && c.IsKnown() {
		return c.String()
	}
	return ""
}

// Error is a record-level failure carrying the TR-369 record error code to
// report to the peer (for example in a DisconnectRecord). Decode and Validate
// return it.
//
// Two *Error values match under [errors.Is] when their codes are equal, so
// errors.Is(err, ErrInvalidRecordValue) holds for every 7104 error whatever its
// message. Err holds the underlying cause (a protobuf error, [ErrTooLarge],
// ...) and is reachable through Unwrap.
type Error struct {
	Code uint32 // 7100-7106
	Msg  string // what is wrong, for humans
	Err  error  // underlying cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	if text := CodeText(e.Code); text != "" {
		fmt.Fprintf(&b, "record: %s (%d)", text, e.Code)
	} else {
		fmt.Fprintf(&b, "record: error %d", e.Code)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Err != nil {
		// Our own causes carry the same prefix; say it once.
		b.WriteString(": " + strings.TrimPrefix(e.Err.Error(), "record: "))
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target carries the same code: another *Error, or any
// error of the module with that code ([usperr.Coder]), such as
// msg.ErrInvalidRecordValue for a 7104.
func (e *Error) Is(target error) bool {
	return e != nil && usperr.Matches(usperr.Code(e.Code), target)
}

// USPCode returns e.Code as the module's code type (0 for a nil e).
func (e *Error) USPCode() usperr.Code {
	if e == nil {
		return 0
	}
	return usperr.Code(e.Code)
}

// Sentinels, one per record error code; compare with errors.Is. Each
// matches every error of the module with its code, and the msg package's
// sentinels of the same names match record errors.
var (
	ErrRecordNotParsed           = &Error{Code: CodeRecordNotParsed}
	ErrSecureSessionRequired     = &Error{Code: CodeSecureSessionRequired}
	ErrSecureSessionNotSupported = &Error{Code: CodeSecureSessionNotSupported}
	ErrSegmentationNotSupported  = &Error{Code: CodeSegmentationNotSupported}
	ErrInvalidRecordValue        = &Error{Code: CodeInvalidRecordValue}
	ErrSessionContextTerminated  = &Error{Code: CodeSessionContextTerminated}
	ErrSessionContextNotAllowed  = &Error{Code: CodeSessionContextNotAllowed}
)

// Former names of the sentinels.
//
// Deprecated: use the names above, which msg shares.
var (
	ErrCannotParse       = ErrRecordNotParsed
	ErrSARNotSupported   = ErrSegmentationNotSupported
	ErrInvalidValue      = ErrInvalidRecordValue
	ErrSessionTerminated = ErrSessionContextTerminated
	ErrSessionNotAllowed = ErrSessionContextNotAllowed
)

// Finer-grained causes, found in the Err chain of an *Error or returned on
// their own.
var (
	// ErrTooLarge: a record or a reassembled payload is larger than the
	// configured limit. Decode reports it as a 7100 *Error.
	ErrTooLarge = errors.New("record: too large")
	// ErrWrongType: the record is not of the type the caller asked for
	// (for example [Payload] on an MQTTConnectRecord).
	ErrWrongType = errors.New("record: wrong record type")
	// ErrInvalidOption: an option given to Decode or NewReassembler is out
	// of range.
	ErrInvalidOption = errors.New("record: invalid option")
	// ErrInvalidEndpointID: an endpoint ID does not follow TR-369's syntax.
	ErrInvalidEndpointID = errors.New("record: invalid endpoint ID")
	// ErrSAR: segments arrived in a state order that cannot be reassembled.
	// The Reassembler reports it as a 7104 *Error.
	ErrSAR = errors.New("record: bad segmentation state")
)

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRecordValue, Msg: fmt.Sprintf(format, args...)}
}
