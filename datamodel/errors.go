package datamodel

import (
	"errors"
	"strconv"

	"github.com/gousp/gousp/usperr"
)

// USP error codes that this package produces, of the module's one code type
// [usperr.Code]. They are the codes an Agent uses for the same faults, so a
// Controller can predict the answer and a fake Agent can give it.
const (
	CodeInvalidPathSyntax  usperr.Code = 7008 // the path cannot be parsed
	CodeUnsupportedParam   usperr.Code = 7010 // the parameter is not in the supported data model
	CodeInvalidType        usperr.Code = 7011 // the value is not of the parameter's type
	CodeInvalidValue       usperr.Code = 7012 // the value is of the right type but not acceptable
	CodeParamReadOnly      usperr.Code = 7013 // Set or Add of a read-only parameter
	CodeNotATable          usperr.Code = 7018 // Add or Delete on a single-instance object
	CodeNotCreatable       usperr.Code = 7019 // Add on a table that does not allow it
	CodeDeleteFailure      usperr.Code = 7024 // Delete on a table that does not allow it
	CodeInvalidPath        usperr.Code = 7026 // well formed, but not in the supported data model
	CodeInvalidCommandArgs usperr.Code = 7027 // unknown input argument of a command
)

// Sentinel errors, one per code. A *PathError or *ValueError unwraps to the
// sentinel of its code, so errors.Is(err, ErrInvalidPathSyntax) works on them;
// ErrorCode gives the number. They match every error of the module with the
// same code, and the other packages' sentinels match them: errors.Is(err,
// msg.ErrInvalidPath) holds for a *PathError with Code 7026.
var (
	ErrInvalidPathSyntax  error = sentinels[0] // 7008
	ErrUnsupportedParam   error = sentinels[1] // 7010
	ErrInvalidType        error = sentinels[2] // 7011
	ErrInvalidValue       error = sentinels[3] // 7012
	ErrParamReadOnly      error = sentinels[4] // 7013
	ErrNotATable          error = sentinels[5] // 7018
	ErrNotCreatable       error = sentinels[6] // 7019
	ErrDeleteFailure      error = sentinels[7] // 7024
	ErrInvalidPath        error = sentinels[8] // 7026
	ErrInvalidCommandArgs error = sentinels[9] // 7027

	// ErrNeedValues is returned by matching and resolving functions that meet a
	// search expression or a reference to follow but were given no way to read
	// parameter values.
	ErrNeedValues = errors.New("datamodel: values are needed to evaluate this path")
)

var sentinels = []*codeError{
	{CodeInvalidPathSyntax, "invalid path syntax"},
	{CodeUnsupportedParam, "unsupported parameter"},
	{CodeInvalidType, "invalid type"},
	{CodeInvalidValue, "invalid value"},
	{CodeParamReadOnly, "parameter is read-only"},
	{CodeNotATable, "object is not a table"},
	{CodeNotCreatable, "object cannot be created"},
	{CodeDeleteFailure, "object cannot be deleted"},
	{CodeInvalidPath, "invalid path"},
	{CodeInvalidCommandArgs, "invalid command arguments"},
}

// codeError is the type of the sentinels: a USP error code with its name.
type codeError struct {
	code usperr.Code
	name string
}

func (e *codeError) Error() string { return "datamodel: " + e.name }

// USPCode makes the sentinels [usperr.Coder]s.
func (e *codeError) USPCode() usperr.Code { return e.code }

// Is reports whether target is any error of the module with the same code
// (another package's sentinel, a *msg.Error from an agent).
func (e *codeError) Is(target error) bool { return usperr.Matches(e.code, target) }

func sentinelFor(code usperr.Code) error {
	for _, s := range sentinels {
		if s.code == code {
			return s
		}
	}
	return nil
}

// PathError reports a path that cannot be used: a syntax error (Code 7008), a
// path that is not in the supported data model (7026), or a schema check that
// failed (7010, 7011, 7013, 7018, 7019, 7024, 7027).
//
// Pos is the byte offset in Path where the problem starts; it is -1 when the
// fault is not tied to one place. Err, when set, is the underlying cause (for
// example a *ValueError for a bad value in a Set).
type PathError struct {
	Path string
	Pos  int
	Msg  string
	Code usperr.Code
	Err  error
}

// USPCode returns e.Code (0 for a nil e), so that msg.CodeOf and
// [usperr.Of] find it.
func (e *PathError) USPCode() usperr.Code {
	if e == nil {
		return 0
	}
	return e.Code
}

// Error returns a message naming the fault and where it is, for example
//
//	datamodel: invalid path syntax at offset 29 in "Device.LocalAgent.Controller.[Enable==true.X": unterminated search expression
func (e *PathError) Error() string {
	name := "error " + strconv.FormatUint(uint64(e.Code), 10)
	if s, ok := sentinelFor(e.Code).(*codeError); ok {
		name = s.name
	}
	b := make([]byte, 0, 32+len(e.Path)+len(e.Msg))
	b = append(b, "datamodel: "...)
	b = append(b, name...)
	if e.Pos >= 0 {
		b = append(b, " at offset "...)
		b = strconv.AppendInt(b, int64(e.Pos), 10)
	}
	b = append(b, " in "...)
	b = strconv.AppendQuote(b, e.Path)
	if e.Msg != "" {
		b = append(b, ": "...)
		b = append(b, e.Msg...)
	}
	return string(b)
}

// Unwrap returns the sentinel for Code and the underlying cause, if any.
func (e *PathError) Unwrap() []error {
	var errs []error
	if s := sentinelFor(e.Code); s != nil {
		errs = append(errs, s)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func syntaxErr(path string, pos int, msg string) *PathError {
	return &PathError{Path: path, Pos: pos, Msg: msg, Code: CodeInvalidPathSyntax}
}

// ValueError reports a value that is not in the lexical form of its TR-106
// type, or out of the type's range. It unwraps to ErrInvalidType.
type ValueError struct {
	Type  ValueType
	Value string
	Msg   string
}

func (e *ValueError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return "datamodel: invalid " + e.Type.String() + " " + strconv.Quote(v) + ": " + e.Msg
}

// Unwrap returns ErrInvalidType, the code an Agent answers for such a value.
func (e *ValueError) Unwrap() error { return ErrInvalidType }

// USPCode returns 7011 (invalid type).
func (e *ValueError) USPCode() usperr.Code { return CodeInvalidType }

func valueErr(t ValueType, v, msg string) *ValueError {
	return &ValueError{Type: t, Value: v, Msg: msg}
}

// ErrorCode returns the USP error code an error from this package carries: the
// Code of the first *PathError in its chain, or the code of a sentinel (a
// *ValueError gives 7011). ok is false for other errors.
func ErrorCode(err error) (code usperr.Code, ok bool) {
	var pe *PathError
	if errors.As(err, &pe) {
		return pe.Code, true
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code, true
	}
	return 0, false
}
