package usperr

import (
	"errors"
	"strconv"
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
	case c.IsRecord():
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

// Coder is implemented by every error of this module that carries a USP
// error code: *msg.Error, *record.Error, the data model's path and value
// errors, the end-to-end session's protocol errors. A nil receiver reports 0.
type Coder interface {
	error
	USPCode() Code
}

// Matches reports whether target is a [Coder] with code c. The Is methods
// of the module's error types call it, which is what makes an error of one
// package match the sentinel of another with the same code.
func Matches(c Code, target error) bool {
	t, ok := target.(Coder)
	return ok && c != 0 && t.USPCode() == c
}

// Of returns the code of the first [Coder] in err's tree (depth first, as
// [errors.As] looks), or 0 when there is none.
func Of(err error) Code {
	var c Coder
	if errors.As(err, &c) {
		return c.USPCode()
	}
	return 0
}

// All returns the codes of every [Coder] in err's tree, depth first, in the
// order [errors.As] would meet them; a code met twice is listed once.
func All(err error) []Code {
	var out []Code
	seen := map[Code]bool{}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if c, ok := e.(Coder); ok {
			if code := c.USPCode(); code != 0 && !seen[code] {
				seen[code] = true
				out = append(out, code)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}
