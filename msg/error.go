package msg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gousp/gousp/proto/uspmsg"
)

// Code is a USP error code (TR-369 section "Error Codes"). Message errors use
// 7000-7031, record errors 7100-7106, data models define 7200-7299 and
// vendors 7800-7999.
type Code uint32

// Message error codes.
const (
	CodeMessageFailed         Code = 7000 // general failure, described in the message
	CodeNotSupported          Code = 7001 // message not understood
	CodeRequestDenied         Code = 7002 // request denied, no reason given
	CodeInternal              Code = 7003 // internal error
	CodeInvalidArguments      Code = 7004 // invalid values in the request
	CodeResourcesExceeded     Code = 7005 // memory or processing limits
	CodePermissionDenied      Code = 7006 // sender not authorised
	CodeInvalidConfiguration  Code = 7007 // would leave the agent unstable
	CodeInvalidPathSyntax     Code = 7008 // path not understood
	CodeParamActionFailed     Code = 7009 // parameter failed to update
	CodeUnsupportedParam      Code = 7010 // no such instantiated parameter
	CodeInvalidType           Code = 7011 // value of the wrong type
	CodeInvalidValue          Code = 7012 // value out of range
	CodeParamReadOnly         Code = 7013 // parameter is not writeable
	CodeValueConflict         Code = 7014 // conflicts with other values
	CodeOperationError        Code = 7015 // create/update/delete failed
	CodeObjectNotFound        Code = 7016 // object does not exist
	CodeObjectNotCreated      Code = 7017 // object could not be created
	CodeNotATable             Code = 7018 // object is not multi-instance
	CodeNotCreatable          Code = 7019 // object cannot be created
	CodeObjectNotUpdated      Code = 7020 // object could not be updated
	CodeRequiredParamFailed   Code = 7021 // a required parameter failed
	CodeCommandFailure        Code = 7022 // command failed
	CodeCommandCanceled       Code = 7023 // command canceled
	CodeDeleteFailure         Code = 7024 // instance could not be deleted
	CodeDuplicateKey          Code = 7025 // unique keys already in use
	CodeInvalidPath           Code = 7026 // path not in the supported data model
	CodeInvalidCommandArgs    Code = 7027 // invalid or unknown command arguments
	CodeRegisterFailure       Code = 7028 // Register of a path failed
	CodeAlreadyInUse          Code = 7029 // Register: path registered by another service
	CodeDeregisterFailure     Code = 7030 // Deregister of a path failed
	CodePathAlreadyRegistered Code = 7031 // Deregister: path registered by another service (the spec's name)
)

// Record error codes, carried by DisconnectRecord and record-level errors.
const (
	CodeRecordNotParsed           Code = 7100
	CodeSecureSessionRequired     Code = 7101
	CodeSecureSessionNotSupported Code = 7102
	CodeSegmentationNotSupported  Code = 7103
	CodeInvalidRecordValue        Code = 7104
	CodeSessionContextTerminated  Code = 7105
	CodeSessionContextNotAllowed  Code = 7106
)

var codeNames = map[Code]string{
	CodeMessageFailed:             "message failed",
	CodeNotSupported:              "message not supported",
	CodeRequestDenied:             "request denied",
	CodeInternal:                  "internal error",
	CodeInvalidArguments:          "invalid arguments",
	CodeResourcesExceeded:         "resources exceeded",
	CodePermissionDenied:          "permission denied",
	CodeInvalidConfiguration:      "invalid configuration",
	CodeInvalidPathSyntax:         "invalid path syntax",
	CodeParamActionFailed:         "parameter action failed",
	CodeUnsupportedParam:          "unsupported parameter",
	CodeInvalidType:               "invalid type",
	CodeInvalidValue:              "invalid value",
	CodeParamReadOnly:             "attempt to update non-writeable parameter",
	CodeValueConflict:             "value conflict",
	CodeOperationError:            "operation error",
	CodeObjectNotFound:            "object does not exist",
	CodeObjectNotCreated:          "object could not be created",
	CodeNotATable:                 "object is not a table",
	CodeNotCreatable:              "attempt to create non-creatable object",
	CodeObjectNotUpdated:          "object could not be updated",
	CodeRequiredParamFailed:       "required parameter failed",
	CodeCommandFailure:            "command failure",
	CodeCommandCanceled:           "command canceled",
	CodeDeleteFailure:             "delete failure",
	CodeDuplicateKey:              "object exists with duplicate key",
	CodeInvalidPath:               "invalid path",
	CodeInvalidCommandArgs:        "invalid command arguments",
	CodeRegisterFailure:           "register failure",
	CodeAlreadyInUse:              "already in use",
	CodeDeregisterFailure:         "deregister failure",
	CodePathAlreadyRegistered:     "path already registered",
	CodeRecordNotParsed:           "record could not be parsed",
	CodeSecureSessionRequired:     "secure session required",
	CodeSecureSessionNotSupported: "secure session not supported",
	CodeSegmentationNotSupported:  "segmentation and reassembly not supported",
	CodeInvalidRecordValue:        "invalid record value",
	CodeSessionContextTerminated:  "session context terminated",
	CodeSessionContextNotAllowed:  "session context not allowed",
}

// String gives the name the specification gives c (lower case), or the
// range it falls in for codes the specification does not name.
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	switch {
	case c.IsDataModelDefined():
		return "data model defined error"
	case c.IsVendor():
		return "vendor error"
	case c >= 7100 && c <= 7199:
		return "record error"
	}
	return "unknown error " + strconv.FormatUint(uint64(c), 10)
}

// IsDataModelDefined reports whether c is in the range 7200-7299 that data
// models define.
func (c Code) IsDataModelDefined() bool { return c >= 7200 && c <= 7299 }

// IsVendor reports whether c is in the vendor range 7800-7999.
func (c Code) IsVendor() bool { return c >= 7800 && c <= 7999 }

// IsRecord reports whether c is a record error (7100-7199).
func (c Code) IsRecord() bool { return c >= 7100 && c <= 7199 }

// IsKnown reports whether the specification names c.
func (c Code) IsKnown() bool { _, ok := codeNames[c]; return ok }

// Error is a USP error: the body of an Error message, or the failure of one
// path, object or command inside a response. Its Is method compares codes,
// so errors.Is(err, [ErrInvalidPath]) matches any *Error with code 7026.
type Error struct {
	Code      Code
	Message   string
	ParamErrs []ParamError
}

// ParamError is the failure of one parameter (or path) inside an [Error] or
// a response. Path is a full path where the response allows rebuilding one.
type ParamError struct {
	Path    string
	Code    Code
	Message string
}

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Error renders e as "usp error 7026 (invalid path): message", followed by
// its parameter errors.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("usp error ")
	b.WriteString(strconv.FormatUint(uint64(e.Code), 10))
	b.WriteString(" (")
	b.WriteString(e.Code.String())
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, p := range e.ParamErrs {
		b.WriteString("; ")
		b.WriteString(p.String())
	}
	return b.String()
}

// String renders p as "path: 7013 (parameter not writeable): message".
func (p ParamError) String() string {
	s := p.Path + ": " + strconv.FormatUint(uint64(p.Code), 10) + " (" + p.Code.String() + ")"
	if p.Message != "" {
		s += ": " + p.Message
	}
	return s
}

// Is reports whether target is an *Error with the same code; messages and
// parameter errors are not compared.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Unwrap returns the parameter errors as *Error values, so that
// errors.Is and errors.As also find the cause of a failure that the agent
// reported per parameter: errors.Is(err, ErrParamReadOnly) holds for a 7004
// whose parameter error is a 7013.
func (e *Error) Unwrap() []error {
	if e == nil || len(e.ParamErrs) == 0 {
		return nil
	}
	out := make([]error, len(e.ParamErrs))
	for i, p := range e.ParamErrs {
		out[i] = &Error{Code: p.Code, Message: p.Path + ": " + p.Message}
	}
	return out
}

// MsgType returns ERROR.
func (e *Error) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_ERROR }

// Build returns an Error message answering the request with msgID.
func (e *Error) Build(msgID string) *uspmsg.Msg {
	return newMsg(msgID, uspmsg.Header_ERROR, &uspmsg.Body{
		MsgBody: &uspmsg.Body_Error{Error: e.proto()},
	})
}

func (e *Error) proto() *uspmsg.Error {
	pe := &uspmsg.Error{ErrCode: uint32(e.Code), ErrMsg: e.Message}
	for _, p := range e.ParamErrs {
		pe.ParamErrs = append(pe.ParamErrs, &uspmsg.Error_ParamError{
			ParamPath: p.Path, ErrCode: uint32(p.Code), ErrMsg: p.Message,
		})
	}
	return pe
}

func parseError(pe *uspmsg.Error) *Error {
	e := &Error{Code: Code(pe.GetErrCode()), Message: pe.GetErrMsg()}
	for _, p := range pe.GetParamErrs() {
		e.ParamErrs = append(e.ParamErrs, ParamError{
			Path: p.GetParamPath(), Code: Code(p.GetErrCode()), Message: p.GetErrMsg(),
		})
	}
	return e
}

// codeErr returns nil for code 0 (success) and an *Error otherwise: responses
// carry per-path errors as (code, message) pairs.
func codeErr(code uint32, message string) *Error {
	if code == 0 {
		return nil
	}
	return &Error{Code: Code(code), Message: message}
}

// errCode splits e into the (code, message) pair used inside responses.
func errCode(e *Error) (uint32, string) {
	if e == nil {
		return 0, ""
	}
	return uint32(e.Code), e.Message
}

// CodeOf returns the code of the first *Error in err's chain, or 0.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Sentinels for errors.Is; each matches any *Error with its code.
var (
	ErrMessageFailed         = &Error{Code: CodeMessageFailed}
	ErrNotSupported          = &Error{Code: CodeNotSupported}
	ErrRequestDenied         = &Error{Code: CodeRequestDenied}
	ErrInternal              = &Error{Code: CodeInternal}
	ErrInvalidArguments      = &Error{Code: CodeInvalidArguments}
	ErrResourcesExceeded     = &Error{Code: CodeResourcesExceeded}
	ErrPermissionDenied      = &Error{Code: CodePermissionDenied}
	ErrInvalidConfiguration  = &Error{Code: CodeInvalidConfiguration}
	ErrInvalidPathSyntax     = &Error{Code: CodeInvalidPathSyntax}
	ErrParamActionFailed     = &Error{Code: CodeParamActionFailed}
	ErrUnsupportedParam      = &Error{Code: CodeUnsupportedParam}
	ErrInvalidType           = &Error{Code: CodeInvalidType}
	ErrInvalidValue          = &Error{Code: CodeInvalidValue}
	ErrParamReadOnly         = &Error{Code: CodeParamReadOnly}
	ErrValueConflict         = &Error{Code: CodeValueConflict}
	ErrOperationError        = &Error{Code: CodeOperationError}
	ErrObjectNotFound        = &Error{Code: CodeObjectNotFound}
	ErrObjectNotCreated      = &Error{Code: CodeObjectNotCreated}
	ErrNotATable             = &Error{Code: CodeNotATable}
	ErrNotCreatable          = &Error{Code: CodeNotCreatable}
	ErrObjectNotUpdated      = &Error{Code: CodeObjectNotUpdated}
	ErrRequiredParamFailed   = &Error{Code: CodeRequiredParamFailed}
	ErrCommandFailure        = &Error{Code: CodeCommandFailure}
	ErrCommandCanceled       = &Error{Code: CodeCommandCanceled}
	ErrDeleteFailure         = &Error{Code: CodeDeleteFailure}
	ErrDuplicateKey          = &Error{Code: CodeDuplicateKey}
	ErrInvalidPath           = &Error{Code: CodeInvalidPath}
	ErrInvalidCommandArgs    = &Error{Code: CodeInvalidCommandArgs}
	ErrRegisterFailure       = &Error{Code: CodeRegisterFailure}
	ErrAlreadyInUse          = &Error{Code: CodeAlreadyInUse}
	ErrDeregisterFailure     = &Error{Code: CodeDeregisterFailure}
	ErrPathAlreadyRegistered = &Error{Code: CodePathAlreadyRegistered}

	ErrRecordNotParsed           = &Error{Code: CodeRecordNotParsed}
	ErrSecureSessionRequired     = &Error{Code: CodeSecureSessionRequired}
	ErrSecureSessionNotSupported = &Error{Code: CodeSecureSessionNotSupported}
	ErrSegmentationNotSupported  = &Error{Code: CodeSegmentationNotSupported}
	ErrInvalidRecordValue        = &Error{Code: CodeInvalidRecordValue}
	ErrSessionContextTerminated  = &Error{Code: CodeSessionContextTerminated}
	ErrSessionContextNotAllowed  = &Error{Code: CodeSessionContextNotAllowed}
)
