package msg

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sentinels pairs every exported sentinel with the code it must carry.
var sentinels = []struct {
	err  *Error
	code Code
}{
	{ErrMessageFailed, 7000}, {ErrNotSupported, 7001}, {ErrRequestDenied, 7002}, {ErrInternal, 7003},
	{ErrInvalidArguments, 7004}, {ErrResourcesExceeded, 7005}, {ErrPermissionDenied, 7006},
	{ErrInvalidConfiguration, 7007}, {ErrInvalidPathSyntax, 7008}, {ErrParamActionFailed, 7009},
	{ErrUnsupportedParam, 7010}, {ErrInvalidType, 7011}, {ErrInvalidValue, 7012}, {ErrParamReadOnly, 7013},
	{ErrValueConflict, 7014}, {ErrOperationError, 7015}, {ErrObjectNotFound, 7016}, {ErrObjectNotCreated, 7017},
	{ErrNotATable, 7018}, {ErrNotCreatable, 7019}, {ErrObjectNotUpdated, 7020}, {ErrRequiredParamFailed, 7021},
	{ErrCommandFailure, 7022}, {ErrCommandCanceled, 7023}, {ErrDeleteFailure, 7024}, {ErrDuplicateKey, 7025},
	{ErrInvalidPath, 7026}, {ErrInvalidCommandArgs, 7027}, {ErrRegisterFailure, 7028}, {ErrAlreadyInUse, 7029},
	{ErrDeregisterFailure, 7030}, {ErrPathAlreadyRegistered, 7031},
	{ErrRecordNotParsed, 7100}, {ErrSecureSessionRequired, 7101}, {ErrSecureSessionNotSupported, 7102},
	{ErrSegmentationNotSupported, 7103}, {ErrInvalidRecordValue, 7104}, {ErrSessionContextTerminated, 7105},
	{ErrSessionContextNotAllowed, 7106},
}

func TestSentinels(t *testing.T) {
	names := map[string]Code{}
	for _, s := range sentinels {
		if s.err.Code != s.code {
			t.Errorf("sentinel for %d has code %d", s.code, s.err.Code)
		}
		if !s.code.IsKnown() {
			t.Errorf("%d has no name", s.code)
		}
		name := s.code.String()
		if other, dup := names[name]; dup {
			t.Errorf("%d and %d share the name %q", s.code, other, name)
		}
		names[name] = s.code
		// Every received error with that code matches, however wrapped,
		// and no other sentinel does.
		got := fmt.Errorf("get: %w", &Error{Code: s.code, Message: "from the agent"})
		for _, o := range sentinels {
			if errors.Is(got, o.err) != (o.code == s.code) {
				t.Errorf("errors.Is(%d, sentinel %d) = %v", s.code, o.code, !(o.code == s.code))
			}
		}
	}
	named := 0
	for c := Code(7000); c <= 7999; c++ {
		if c.IsKnown() {
			named++
		}
	}
	if named != len(sentinels) {
		t.Errorf("%d named codes, %d sentinels", named, len(sentinels))
	}
}

func TestCodeString(t *testing.T) {
	tests := []struct {
		code             Code
		want             string
		dataModel, vendr bool
	}{
		{CodeInvalidPath, "invalid path", false, false},
		{CodeObjectNotFound, "object does not exist", false, false},
		{CodeSessionContextTerminated, "session context terminated", false, false},
		{7199, "record error", false, false},
		{7200, "data model defined error", true, false},
		{7299, "data model defined error", true, false},
		{7300, "unknown error 7300", false, false},
		{7799, "unknown error 7799", false, false},
		{7800, "vendor error", false, true},
		{7999, "vendor error", false, true},
		{8000, "unknown error 8000", false, false},
		{0, "unknown error 0", false, false},
	}
	for _, tc := range tests {
		if got := tc.code.String(); got != tc.want {
			t.Errorf("%d: String() = %q, want %q", tc.code, got, tc.want)
		}
		if tc.code.IsDataModelDefined() != tc.dataModel || tc.code.IsVendor() != tc.vendr {
			t.Errorf("%d: ranges wrong", tc.code)
		}
	}
	if !Code(7100).IsRecord() || !Code(7199).IsRecord() || Code(7031).IsRecord() {
		t.Error("IsRecord range wrong")
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Code: 7026, Message: "no such path"}, "usp error 7026 (invalid path): no such path"},
		{&Error{Code: 7002}, "usp error 7002 (request denied)"},
		{&Error{Code: 7004, Message: "bad", ParamErrs: []ParamError{
			{Path: "Device.DeviceInfo.SerialNumber", Code: 7013, Message: "read-only"},
			{Path: "Device.X.Y", Code: 7011},
		}}, "usp error 7004 (invalid arguments): bad; Device.DeviceInfo.SerialNumber: 7013 (attempt to update non-writeable parameter): read-only; Device.X.Y: 7011 (invalid type)"},
		{Errorf(7850, "vendor %d", 1), "usp error 7850 (vendor error): vendor 1"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q\nwant %q", got, tc.want)
		}
	}
}

func TestErrorIsAndCodeOf(t *testing.T) {
	e := &Error{Code: CodeInvalidPath, Message: "x"}
	if e.Is(nil) || e.Is(errors.New("usp error 7026")) || e.Is((*Error)(nil)) {
		t.Error("Is matched a non-*Error or nil target")
	}
	if !e.Is(&Error{Code: CodeInvalidPath, Message: "other"}) {
		t.Error("Is ignores messages")
	}
	joined := errors.Join(fmt.Errorf("a: %w", &Error{Code: 7016}), fmt.Errorf("b: %w", e))
	if !errors.Is(joined, ErrObjectNotFound) || !errors.Is(joined, ErrInvalidPath) || errors.Is(joined, ErrInternal) {
		t.Error("errors.Is through Join")
	}
	if CodeOf(joined) != 7016 || CodeOf(errors.New("x")) != 0 || CodeOf(nil) != 0 {
		t.Error("CodeOf")
	}
	if got := strings.Count(joined.Error(), "usp error"); got != 2 {
		t.Errorf("joined text: %q", joined.Error())
	}
}

func TestErrorUnwrapsParamErrors(t *testing.T) {
	err := error(&Error{Code: CodeInvalidArguments, Message: "read-only", ParamErrs: []ParamError{
		{Path: "Device.DeviceInfo.SerialNumber", Code: CodeParamReadOnly, Message: "not writable"},
	}})
	if !errors.Is(err, ErrInvalidArguments) || !errors.Is(err, ErrParamReadOnly) {
		t.Fatal("errors.Is must match the error's code and its parameters' codes")
	}
	if errors.Is(err, ErrInvalidType) {
		t.Fatal("errors.Is matched a code that is not there")
	}
	if CodeOf(err) != CodeInvalidArguments {
		t.Fatalf("CodeOf = %d, want the outer code", CodeOf(err))
	}
	if (&Error{Code: CodeInternal}).Unwrap() != nil {
		t.Fatal("an error without parameter errors unwraps to nothing")
	}
}
