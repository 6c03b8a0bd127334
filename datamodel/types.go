package datamodel

import "strconv"

// The enumerations in this file carry the numbers of the matching enums in the
// USP protobuf schema (usp-msg-1-4.proto), so that a package holding the
// generated code can convert in either direction with a plain cast, e.g.
// datamodel.ValueType(pb.GetValueType()). Do not renumber them.

// ValueType is the TR-106 type of a parameter. Its values equal the wire values
// of GetSupportedDMResp.ParamValueType (PARAM_UNKNOWN=0 ... PARAM_UNSIGNED_LONG=10).
type ValueType int32

// Value types, numbered as on the wire.
const (
	TypeUnknown      ValueType = 0  // PARAM_UNKNOWN
	TypeBase64       ValueType = 1  // PARAM_BASE_64
	TypeBoolean      ValueType = 2  // PARAM_BOOLEAN
	TypeDateTime     ValueType = 3  // PARAM_DATE_TIME
	TypeDecimal      ValueType = 4  // PARAM_DECIMAL
	TypeHexBinary    ValueType = 5  // PARAM_HEX_BINARY
	TypeInt          ValueType = 6  // PARAM_INT
	TypeLong         ValueType = 7  // PARAM_LONG
	TypeString       ValueType = 8  // PARAM_STRING
	TypeUnsignedInt  ValueType = 9  // PARAM_UNSIGNED_INT
	TypeUnsignedLong ValueType = 10 // PARAM_UNSIGNED_LONG
)

var valueTypeNames = [...]string{
	TypeUnknown:      "unknown",
	TypeBase64:       "base64",
	TypeBoolean:      "boolean",
	TypeDateTime:     "dateTime",
	TypeDecimal:      "decimal",
	TypeHexBinary:    "hexBinary",
	TypeInt:          "int",
	TypeLong:         "long",
	TypeString:       "string",
	TypeUnsignedInt:  "unsignedInt",
	TypeUnsignedLong: "unsignedLong",
}

// String returns the TR-106 name of the type ("unsignedInt", "dateTime", ...).
func (t ValueType) String() string {
	if t >= 0 && int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "ValueType(" + strconv.Itoa(int(t)) + ")"
}

// ParseValueType maps a TR-106 type name ("boolean", "unsignedInt", ...) to its
// ValueType. Unknown names give TypeUnknown and false.
func ParseValueType(name string) (ValueType, bool) {
	for i, n := range valueTypeNames {
		if i != 0 && n == name {
			return ValueType(i), true
		}
	}
	return TypeUnknown, false
}

// numeric reports whether values of the type are numbers (ordered comparisons allowed).
func (t ValueType) numeric() bool {
	switch t {
	case TypeInt, TypeLong, TypeUnsignedInt, TypeUnsignedLong, TypeDecimal:
		return true
	}
	return false
}

// ObjectAccess says what a Controller may do with the instances of an object.
// Its values equal the wire values of GetSupportedDMResp.ObjAccessType.
type ObjectAccess int32

// Object access values, numbered as on the wire.
const (
	ObjReadOnly   ObjectAccess = 0 // OBJ_READ_ONLY
	ObjAddDelete  ObjectAccess = 1 // OBJ_ADD_DELETE
	ObjAddOnly    ObjectAccess = 2 // OBJ_ADD_ONLY
	ObjDeleteOnly ObjectAccess = 3 // OBJ_DELETE_ONLY
)

// String returns the wire name of the access value.
func (a ObjectAccess) String() string {
	switch a {
	case ObjReadOnly:
		return "OBJ_READ_ONLY"
	case ObjAddDelete:
		return "OBJ_ADD_DELETE"
	case ObjAddOnly:
		return "OBJ_ADD_ONLY"
	case ObjDeleteOnly:
		return "OBJ_DELETE_ONLY"
	}
	return "ObjectAccess(" + strconv.Itoa(int(a)) + ")"
}

// CanAdd reports whether Add is allowed.
func (a ObjectAccess) CanAdd() bool { return a == ObjAddDelete || a == ObjAddOnly }

// CanDelete reports whether Delete is allowed.
func (a ObjectAccess) CanDelete() bool { return a == ObjAddDelete || a == ObjDeleteOnly }

// ParamAccess says whether a parameter can be read and written.
// Its values equal the wire values of GetSupportedDMResp.ParamAccessType.
type ParamAccess int32

// Parameter access values, numbered as on the wire.
const (
	ParamReadOnly  ParamAccess = 0 // PARAM_READ_ONLY
	ParamReadWrite ParamAccess = 1 // PARAM_READ_WRITE
	ParamWriteOnly ParamAccess = 2 // PARAM_WRITE_ONLY
)

// String returns the wire name of the access value.
func (a ParamAccess) String() string {
	switch a {
	case ParamReadOnly:
		return "PARAM_READ_ONLY"
	case ParamReadWrite:
		return "PARAM_READ_WRITE"
	case ParamWriteOnly:
		return "PARAM_WRITE_ONLY"
	}
	return "ParamAccess(" + strconv.Itoa(int(a)) + ")"
}

// Writable reports whether Set may change the parameter.
func (a ParamAccess) Writable() bool { return a == ParamReadWrite || a == ParamWriteOnly }

// ValueChange says whether an Agent honours value-change subscriptions on a
// parameter. Its values equal the wire values of GetSupportedDMResp.ValueChangeType.
type ValueChange int32

// Value-change values, numbered as on the wire.
const (
	ValueChangeUnknown    ValueChange = 0 // VALUE_CHANGE_UNKNOWN
	ValueChangeAllowed    ValueChange = 1 // VALUE_CHANGE_ALLOWED
	ValueChangeWillIgnore ValueChange = 2 // VALUE_CHANGE_WILL_IGNORE
)

// String returns the wire name of the value.
func (v ValueChange) String() string {
	switch v {
	case ValueChangeUnknown:
		return "VALUE_CHANGE_UNKNOWN"
	case ValueChangeAllowed:
		return "VALUE_CHANGE_ALLOWED"
	case ValueChangeWillIgnore:
		return "VALUE_CHANGE_WILL_IGNORE"
	}
	return "ValueChange(" + strconv.Itoa(int(v)) + ")"
}

// CommandType says whether a command runs synchronously or asynchronously.
// Its values equal the wire values of GetSupportedDMResp.CmdType.
type CommandType int32

// Command types, numbered as on the wire.
const (
	CmdUnknown CommandType = 0 // CMD_UNKNOWN
	CmdSync    CommandType = 1 // CMD_SYNC
	CmdAsync   CommandType = 2 // CMD_ASYNC
)

// String returns the wire name of the command type.
func (c CommandType) String() string {
	switch c {
	case CmdUnknown:
		return "CMD_UNKNOWN"
	case CmdSync:
		return "CMD_SYNC"
	case CmdAsync:
		return "CMD_ASYNC"
	}
	return "CommandType(" + strconv.Itoa(int(c)) + ")"
}
