package msg_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usperr"
)

// TestOneVocabulary checks that the errors of every package that reports a
// USP code match the sentinels of every other package with that code, and
// that CodeOf, Codes and ParamCode read them.
func TestOneVocabulary(t *testing.T) {
	schema, err := datamodel.NewSchema([]datamodel.SupportedObject{{
		Path: "Device.DeviceInfo.",
		Params: []datamodel.SupportedParam{
			{Name: "SerialNumber", Access: datamodel.ParamReadOnly, Type: datamodel.TypeString},
			{Name: "Enable", Access: datamodel.ParamReadWrite, Type: datamodel.TypeBoolean},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, lookupErr := schema.LookupString("Device.NoSuch.")
	_, syntaxErr := datamodel.Parse("Device.[x")
	_, valueErr := datamodel.ParseBool("perhaps")
	setErr := schema.CheckSet(datamodel.MustParse("Device.DeviceInfo."), map[string]string{"SerialNumber": "x"})
	_, decodeErr := record.Decode([]byte{0xff, 0xff, 0xff})
	failedSet := msg.SetResp{Results: []msg.SetResult{{
		Requested: "Device.DeviceInfo.",
		Err:       &msg.Error{Code: msg.CodeInvalidArguments, Message: "no"},
		Failed: []msg.FailedInstance{{ParamErrs: []msg.ParamError{
			{Path: "Device.DeviceInfo.SerialNumber", Code: msg.CodeParamReadOnly, Message: "read-only"},
		}}},
	}}}.Err()

	tests := []struct {
		name      string
		err       error
		same      []error // sentinels that must match
		other     []error // sentinels that must not
		code      msg.Code
		paramCode msg.Code
		codes     []msg.Code
	}{
		{
			name: "datamodel lookup", err: lookupErr,
			same:  []error{msg.ErrInvalidPath, datamodel.ErrInvalidPath},
			other: []error{msg.ErrInvalidPathSyntax, record.ErrInvalidRecordValue},
			code:  7026, paramCode: 7026, codes: []msg.Code{7026},
		},
		{
			name: "datamodel syntax", err: fmt.Errorf("wrapped: %w", syntaxErr),
			same:  []error{msg.ErrInvalidPathSyntax, datamodel.ErrInvalidPathSyntax},
			other: []error{msg.ErrInvalidPath},
			code:  7008, paramCode: 7008, codes: []msg.Code{7008},
		},
		{
			name: "datamodel value", err: valueErr,
			same:  []error{msg.ErrInvalidType, datamodel.ErrInvalidType},
			other: []error{msg.ErrInvalidValue},
			code:  7011, paramCode: 7011, codes: []msg.Code{7011},
		},
		{
			name: "datamodel CheckSet", err: setErr,
			same:  []error{msg.ErrParamReadOnly, datamodel.ErrParamReadOnly},
			other: []error{msg.ErrInvalidArguments},
			code:  7013, paramCode: 7013, codes: []msg.Code{7013},
		},
		{
			name: "record decode", err: decodeErr,
			same:  []error{msg.ErrRecordNotParsed, record.ErrRecordNotParsed},
			other: []error{record.ErrInvalidRecordValue, msg.ErrMessageFailed},
			code:  7100, paramCode: 7100, codes: []msg.Code{7100},
		},
		{
			name: "record error", err: &record.Error{Code: record.CodeInvalidRecordValue, Msg: "bad"},
			same:  []error{msg.ErrInvalidRecordValue, record.ErrInvalidRecordValue},
			other: []error{msg.ErrInvalidValue, datamodel.ErrInvalidValue},
			code:  7104, paramCode: 7104, codes: []msg.Code{7104},
		},
		{
			name: "e2e protocol error", err: &e2e.ProtocolError{Code: record.CodeSessionContextTerminated, SessionID: 3},
			same:  []error{msg.ErrSessionContextTerminated, record.ErrSessionContextTerminated},
			other: []error{msg.ErrSessionContextNotAllowed},
			code:  7105, paramCode: 7105, codes: []msg.Code{7105},
		},
		{
			name: "agent error", err: fmt.Errorf("get: %w", &msg.Error{Code: 7026}),
			same:  []error{msg.ErrInvalidPath, datamodel.ErrInvalidPath},
			other: []error{datamodel.ErrInvalidPathSyntax},
			code:  7026, paramCode: 7026, codes: []msg.Code{7026},
		},
		{
			name: "failed Set", err: failedSet,
			same:  []error{msg.ErrInvalidArguments, msg.ErrParamReadOnly, datamodel.ErrParamReadOnly},
			other: []error{msg.ErrInvalidType},
			code:  7004, paramCode: 7013, codes: []msg.Code{7004, 7013},
		},
		{
			name: "plain error", err: errors.New("x"),
			other: []error{msg.ErrInternal, record.ErrRecordNotParsed, datamodel.ErrInvalidPath},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to test")
			}
			for _, s := range tc.same {
				if !errors.Is(tc.err, s) {
					t.Errorf("errors.Is(%v, %v) = false", tc.err, s)
				}
			}
			for _, s := range tc.other {
				if errors.Is(tc.err, s) {
					t.Errorf("errors.Is(%v, %v) = true", tc.err, s)
				}
			}
			if got := msg.CodeOf(tc.err); got != tc.code {
				t.Errorf("CodeOf = %d, want %d", got, tc.code)
			}
			if got := msg.ParamCode(tc.err); got != tc.paramCode {
				t.Errorf("ParamCode = %d, want %d", got, tc.paramCode)
			}
			if got := msg.Codes(tc.err); !slices.Equal(got, tc.codes) {
				t.Errorf("Codes = %v, want %v", got, tc.codes)
			}
			var c usperr.Coder
			if errors.As(tc.err, &c) != (tc.code != 0) {
				t.Errorf("errors.As(usperr.Coder) = %v", c)
			}
		})
	}
}

// TestSentinelsMatchAcrossPackages pairs the sentinels that share a code and
// checks both directions.
func TestSentinelsMatchAcrossPackages(t *testing.T) {
	pairs := []struct{ a, b error }{
		{msg.ErrInvalidPath, datamodel.ErrInvalidPath},
		{msg.ErrInvalidPathSyntax, datamodel.ErrInvalidPathSyntax},
		{msg.ErrUnsupportedParam, datamodel.ErrUnsupportedParam},
		{msg.ErrInvalidType, datamodel.ErrInvalidType},
		{msg.ErrInvalidValue, datamodel.ErrInvalidValue},
		{msg.ErrParamReadOnly, datamodel.ErrParamReadOnly},
		{msg.ErrNotATable, datamodel.ErrNotATable},
		{msg.ErrNotCreatable, datamodel.ErrNotCreatable},
		{msg.ErrDeleteFailure, datamodel.ErrDeleteFailure},
		{msg.ErrInvalidCommandArgs, datamodel.ErrInvalidCommandArgs},
		{msg.ErrRecordNotParsed, record.ErrRecordNotParsed},
		{msg.ErrSecureSessionRequired, record.ErrSecureSessionRequired},
		{msg.ErrSecureSessionNotSupported, record.ErrSecureSessionNotSupported},
		{msg.ErrSegmentationNotSupported, record.ErrSegmentationNotSupported},
		{msg.ErrInvalidRecordValue, record.ErrInvalidRecordValue},
		{msg.ErrSessionContextTerminated, record.ErrSessionContextTerminated},
		{msg.ErrSessionContextNotAllowed, record.ErrSessionContextNotAllowed},
	}
	for _, p := range pairs {
		if !errors.Is(p.a, p.b) || !errors.Is(p.b, p.a) {
			t.Errorf("%v and %v do not match both ways", p.a, p.b)
		}
		if msg.CodeOf(p.a) != msg.CodeOf(p.b) || msg.CodeOf(p.a) == 0 {
			t.Errorf("%v and %v: codes %d, %d", p.a, p.b, msg.CodeOf(p.a), msg.CodeOf(p.b))
		}
	}
	// The record package's constants are the shared ones.
	if msg.CodeRecordNotParsed != record.CodeRecordNotParsed || msg.CodeSessionContextNotAllowed != record.CodeSessionContextNotAllowed {
		t.Error("record and msg codes differ")
	}
}
