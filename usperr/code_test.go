package usperr_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gousp/gousp/usperr"
)

// coded is a minimal Coder, as another package would define one.
type coded struct {
	c     usperr.Code
	cause []error
}

func (e *coded) Error() string { return fmt.Sprintf("coded %d", e.c) }
func (e *coded) USPCode() usperr.Code {
	if e == nil {
		return 0
	}
	return e.c
}
func (e *coded) Is(target error) bool { return e != nil && usperr.Matches(e.c, target) }
func (e *coded) Unwrap() []error      { return e.cause }

func TestMatchesOfAll(t *testing.T) {
	inner := &coded{c: usperr.CodeParamReadOnly}
	outer := &coded{c: usperr.CodeInvalidArguments, cause: []error{inner, &coded{c: usperr.CodeParamReadOnly}}}
	tests := []struct {
		name  string
		err   error
		of    usperr.Code
		all   []usperr.Code
		match []usperr.Code
	}{
		{"nil", nil, 0, nil, nil},
		{"plain", errors.New("x"), 0, nil, nil},
		{"one", inner, 7013, []usperr.Code{7013}, []usperr.Code{7013}},
		{"wrapped", fmt.Errorf("a: %w", inner), 7013, []usperr.Code{7013}, []usperr.Code{7013}},
		{"nested, duplicates once", outer, 7004, []usperr.Code{7004, 7013}, []usperr.Code{7004, 7013}},
		{"joined", errors.Join(errors.New("x"), fmt.Errorf("b: %w", outer)), 7004, []usperr.Code{7004, 7013}, []usperr.Code{7004, 7013}},
	}
	for _, tc := range tests {
		if got := usperr.Of(tc.err); got != tc.of {
			t.Errorf("%s: Of = %d, want %d", tc.name, got, tc.of)
		}
		if got := usperr.All(tc.err); !slices.Equal(got, tc.all) {
			t.Errorf("%s: All = %v, want %v", tc.name, got, tc.all)
		}
		for c := usperr.Code(7000); c <= 7031; c++ {
			want := slices.Contains(tc.match, c)
			if got := errors.Is(tc.err, &coded{c: c}); got != want {
				t.Errorf("%s: errors.Is(code %d) = %v, want %v", tc.name, c, got, want)
			}
		}
	}
	// Targets that carry no code never match, nor does code 0.
	if usperr.Matches(7013, nil) || usperr.Matches(7013, errors.New("7013")) || usperr.Matches(7013, (*coded)(nil)) {
		t.Error("Matches accepted a target without a code")
	}
	if usperr.Matches(0, &coded{}) {
		t.Error("code 0 matched")
	}
}

func TestCodeNames(t *testing.T) {
	tests := []struct {
		c                    usperr.Code
		name                 string
		known, record, dm, v bool
	}{
		{usperr.CodeMessageFailed, "message failed", true, false, false, false},
		{usperr.CodeInvalidPath, "invalid path", true, false, false, false},
		{usperr.CodeRecordNotParsed, "record could not be parsed", true, true, false, false},
		{usperr.CodeSessionContextNotAllowed, "session context not allowed", true, true, false, false},
		{7107, "record error", false, true, false, false},
		{7250, "data model defined error", false, false, true, false},
		{7900, "vendor error", false, false, false, true},
		{7032, "unknown error 7032", false, false, false, false},
	}
	for _, tc := range tests {
		if tc.c.String() != tc.name || tc.c.IsKnown() != tc.known || tc.c.IsRecord() != tc.record ||
			tc.c.IsDataModelDefined() != tc.dm || tc.c.IsVendor() != tc.v {
			t.Errorf("%d: %q known=%v record=%v dm=%v vendor=%v", uint32(tc.c), tc.c, tc.c.IsKnown(), tc.c.IsRecord(), tc.c.IsDataModelDefined(), tc.c.IsVendor())
		}
	}
}
