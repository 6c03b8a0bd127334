package record

import (
	"errors"
	"fmt"
	"strings"
)

// Record error codes (TR-369 "USP Record Errors", range 7100-7199). They are
// untyped so they fit DisconnectRecord.reason_code (fixed32) and the msg
// package's error codes without conversion.
const (
	CodeCannotParse               = 7100 // record could not be parsed
	CodeSecureSessionRequired     = 7101 // E2E secure session required
	CodeSecureSessionNotSupported = 7102 // E2E secure session not supported
	CodeSARNotSupported           = 7103 // segmentation and reassembly not supported
	CodeInvalidValue              = 7104 // at least one record field is invalid
	CodeSessionTerminated         = 7105 // session context terminated
	CodeSessionNotAllowed         = 7106 // session context not allowed or not supported
)

// CodeText returns the specification's name of a record error code, or ""
// for a code outside 7100-7106.
func CodeText(code uint32) string {
	switch code {
	case CodeCannotParse:
		return "record could not be parsed"
	case CodeSecureSessionRequired:
		return "secure session required"
	case CodeSecureSessionNotSupported:
		return "secure session not supported"
	case CodeSARNotSupported:
		return "segmentation and reassembly not supported"
	case CodeInvalidValue:
		return "invalid record value"
	case CodeSessionTerminated:
		return "session context terminated"
	case CodeSessionNotAllowed:
		return "session context not allowed"
	}
	return ""
}

// Error is a record-level failure carrying the TR-369 record error code to
// report to the peer (for example in a DisconnectRecord). Decode and Validate
// return it.
//
// Two *Error values match under [errors.Is] when their codes are equal, so
// errors.Is(err, ErrInvalidValue) holds for every 7104 error whatever its
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

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// Sentinels, one per record error code; compare with errors.Is.
var (
	ErrCannotParse               = &Error{Code: CodeCannotParse}
	ErrSecureSessionRequired     = &Error{Code: CodeSecureSessionRequired}
	ErrSecureSessionNotSupported = &Error{Code: CodeSecureSessionNotSupported}
	ErrSARNotSupported           = &Error{Code: CodeSARNotSupported}
	ErrInvalidValue              = &Error{Code: CodeInvalidValue}
	ErrSessionTerminated         = &Error{Code: CodeSessionTerminated}
	ErrSessionNotAllowed         = &Error{Code: CodeSessionNotAllowed}
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
	return &Error{Code: CodeInvalidValue, Msg: fmt.Sprintf(format, args...)}
}
