package msg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usperr"
)

// Code is a USP error code (TR-369 section "Error Codes"): the module's one
// code type, defined in [usperr] so that the layers below msg share it.
type Code = usperr.Code

// Message error codes 7000-7031 and record error codes 7100-7106, the same
// constants as in [usperr].
const (
	CodeMessageFailed             = usperr.CodeMessageFailed
	CodeNotSupported              = usperr.CodeNotSupported
	CodeRequestDenied             = usperr.CodeRequestDenied
	CodeInternal                  = usperr.CodeInternal
	CodeInvalidArguments          = usperr.CodeInvalidArguments
	CodeResourcesExceeded         = usperr.CodeResourcesExceeded
	CodePermissionDenied          = usperr.CodePermissionDenied
	CodeInvalidConfiguration      = usperr.CodeInvalidConfiguration
	CodeInvalidPathSyntax         = usperr.CodeInvalidPathSyntax
	CodeParamActionFailed         = usperr.CodeParamActionFailed
	CodeUnsupportedParam          = usperr.CodeUnsupportedParam
	CodeInvalidType               = usperr.CodeInvalidType
	CodeInvalidValue              = usperr.CodeInvalidValue
	CodeParamReadOnly             = usperr.CodeParamReadOnly
	CodeValueConflict             = usperr.CodeValueConflict
	CodeOperationError            = usperr.CodeOperationError
	CodeObjectNotFound            = usperr.CodeObjectNotFound
	CodeObjectNotCreated          = usperr.CodeObjectNotCreated
	CodeNotATable                 = usperr.CodeNotATable
	CodeNotCreatable              = usperr.CodeNotCreatable
	CodeObjectNotUpdated          = usperr.CodeObjectNotUpdated
	CodeRequiredParamFailed       = usperr.CodeRequiredParamFailed
	CodeCommandFailure            = usperr.CodeCommandFailure
	CodeCommandCanceled           = usperr.CodeCommandCanceled
	CodeDeleteFailure             = usperr.CodeDeleteFailure
	CodeDuplicateKey              = usperr.CodeDuplicateKey
	CodeInvalidPath               = usperr.CodeInvalidPath
	CodeInvalidCommandArgs        = usperr.CodeInvalidCommandArgs
	CodeRegisterFailure           = usperr.CodeRegisterFailure
	CodeAlreadyInUse              = usperr.CodeAlreadyInUse
	CodeDeregisterFailure         = usperr.CodeDeregisterFailure
	CodePathAlreadyRegistered     = usperr.CodePathAlreadyRegistered
	CodeRecordNotParsed           = usperr.CodeRecordNotParsed
	CodeSecureSessionRequired     = usperr.CodeSecureSessionRequired
	CodeSecureSessionNotSupported = usperr.CodeSecureSessionNotSupported
	CodeSegmentationNotSupported  = usperr.CodeSegmentationNotSupported
	CodeInvalidRecordValue        = usperr.CodeInvalidRecordValue
	CodeSessionContextTerminated  = usperr.CodeSessionContextTerminated
	CodeSessionContextNotAllowed  = usperr.CodeSessionContextNotAllowed
)

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

// Is reports whether target carries the same code: another *Error, or any
// error of this module that reports a code ([usperr.Coder]: a record error,
// a data model path error, ...). Messages and parameter errors are not
// compared.
func (e *Error) Is(target error) bool {
	return e != nil && usperr.Matches(e.Code, target)
}

// USPCode returns e.Code, or 0 for a nil e; it makes *Error a
// [usperr.Coder].
func (e *Error) USPCode() Code {
	if e == nil {
		return 0
	}
	return e.Code
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

// CodeOf returns the code of the first coded error in err's chain (an
// *Error, or any other [usperr.Coder] such as a *datamodel.PathError), or 0.
// For a response error that is the top-level code, which for a failed Set or
// Add is often the general 7004 or 7021; [ParamCode] gives the code of the
// parameter that failed, and [Codes] every code in the chain.
func CodeOf(err error) Code { return usperr.Of(err) }

// Codes returns every USP error code in err's tree, outermost first: for a
// failed Set, for example, [7004 7013] (invalid arguments, because a
// parameter is read-only). A code met twice is listed once; nil for an error
// without codes.
func Codes(err error) []Code { return usperr.All(err) }

// ParamCode returns the most specific code in err: the code of the first
// parameter error of the first *Error in err's chain, or that error's own
// code when it has no parameter errors, or [CodeOf] for other coded errors.
// It is the code to branch on after a failed Set or Add, where the top-level
// code says only that something in the request was wrong.
func ParamCode(err error) Code {
	var e *Error
	if errors.As(err, &e) && e != nil {
		for _, p := range e.ParamErrs {
			if p.Code != 0 {
				return p.Code
			}
		}
		return e.Code
	}
	return CodeOf(err)
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
