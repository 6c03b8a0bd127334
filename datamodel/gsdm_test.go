package datamodel

// A test-only reader for the protobuf text (Go prototext output) of the
// OB-USP-A captures, enough to turn a GetSupportedDMResp into
// []SupportedObject without the generated protobuf packages.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Copies of shared/testdata/obuspa captures (OB-USP-A v11.0.4), kept here so
// the tests do not depend on files outside the module.
const obuspaDir = "testdata/obuspa"

// ptNode is one field of a prototext message: a scalar (Value) or a message (Fields).
type ptNode struct {
	Name   string
	Value  string
	Fields []*ptNode
}

func (n *ptNode) all(name string) []*ptNode {
	var out []*ptNode
	for _, f := range n.Fields {
		if f.Name == name {
			out = append(out, f)
		}
	}
	return out
}

func (n *ptNode) one(name string) *ptNode {
	if fs := n.all(name); len(fs) > 0 {
		return fs[0]
	}
	return &ptNode{Name: name}
}

func (n *ptNode) values(name string) []string {
	var out []string
	for _, f := range n.all(name) {
		out = append(out, f.Value)
	}
	return out
}

type ptLexer struct {
	s   string
	pos int
}

// next returns the next token: "{", "}", ":", an identifier or a quoted string.
func (l *ptLexer) next() (string, error) {
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		switch {
		case c == '#':
			for l.pos < len(l.s) && l.s[l.pos] != '\n' {
				l.pos++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.pos++
		case c == '{' || c == '}' || c == ':':
			l.pos++
			return string(c), nil
		case c == '"':
			start := l.pos
			l.pos++
			for l.pos < len(l.s) && l.s[l.pos] != '"' {
				if l.s[l.pos] == '\\' {
					l.pos++
				}
				l.pos++
			}
			l.pos++
			if l.pos > len(l.s) {
				return "", fmt.Errorf("unterminated string at %d", start)
			}
			return l.s[start:l.pos], nil
		default:
			start := l.pos
			for l.pos < len(l.s) && !strings.ContainsRune(" \t\r\n{}:#\"", rune(l.s[l.pos])) {
				l.pos++
			}
			return l.s[start:l.pos], nil
		}
	}
	return "", nil
}

// parsePrototext parses a message body until EOF or a closing brace.
func parsePrototext(l *ptLexer, top bool) (*ptNode, error) {
	n := &ptNode{}
	for {
		tok, err := l.next()
		if err != nil {
			return nil, err
		}
		switch tok {
		case "":
			if !top {
				return nil, fmt.Errorf("unexpected end of text")
			}
			return n, nil
		case "}":
			if top {
				return nil, fmt.Errorf("unbalanced '}' at %d", l.pos)
			}
			return n, nil
		}
		name := tok
		if tok, err = l.next(); err != nil || tok != ":" {
			return nil, fmt.Errorf("want ':' after %s at %d", name, l.pos)
		}
		if tok, err = l.next(); err != nil {
			return nil, err
		}
		if tok == "{" {
			child, err := parsePrototext(l, false)
			if err != nil {
				return nil, err
			}
			child.Name = name
			n.Fields = append(n.Fields, child)
			continue
		}
		if strings.HasPrefix(tok, "\"") {
			if tok, err = strconv.Unquote(tok); err != nil {
				return nil, fmt.Errorf("field %s: %v", name, err)
			}
		}
		n.Fields = append(n.Fields, &ptNode{Name: name, Value: tok})
	}
}

var (
	objAccessNames   = map[string]ObjectAccess{"": ObjReadOnly, "OBJ_READ_ONLY": ObjReadOnly, "OBJ_ADD_DELETE": ObjAddDelete, "OBJ_ADD_ONLY": ObjAddOnly, "OBJ_DELETE_ONLY": ObjDeleteOnly}
	paramAccessNames = map[string]ParamAccess{"": ParamReadOnly, "PARAM_READ_ONLY": ParamReadOnly, "PARAM_READ_WRITE": ParamReadWrite, "PARAM_WRITE_ONLY": ParamWriteOnly}
	valueTypeNamesPB = map[string]ValueType{"": TypeUnknown, "PARAM_UNKNOWN": TypeUnknown, "PARAM_BASE_64": TypeBase64, "PARAM_BOOLEAN": TypeBoolean,
		"PARAM_DATE_TIME": TypeDateTime, "PARAM_DECIMAL": TypeDecimal, "PARAM_HEX_BINARY": TypeHexBinary, "PARAM_INT": TypeInt, "PARAM_LONG": TypeLong,
		"PARAM_STRING": TypeString, "PARAM_UNSIGNED_INT": TypeUnsignedInt, "PARAM_UNSIGNED_LONG": TypeUnsignedLong}
	valueChangeNames = map[string]ValueChange{"": ValueChangeUnknown, "VALUE_CHANGE_UNKNOWN": ValueChangeUnknown, "VALUE_CHANGE_ALLOWED": ValueChangeAllowed, "VALUE_CHANGE_WILL_IGNORE": ValueChangeWillIgnore}
	cmdTypeNames     = map[string]CommandType{"": CmdUnknown, "CMD_UNKNOWN": CmdUnknown, "CMD_SYNC": CmdSync, "CMD_ASYNC": CmdAsync}
)

func enumOf[T any](m map[string]T, field *ptNode) (T, error) {
	v, ok := m[field.Value]
	if !ok {
		return v, fmt.Errorf("unknown enum value %q for %s", field.Value, field.Name)
	}
	return v, nil
}

// gsdmObjects converts the supported_objs of every req_obj_result of a
// GetSupportedDMResp in prototext form.
func gsdmObjects(text string) ([]SupportedObject, error) {
	root, err := parsePrototext(&ptLexer{s: text}, true)
	if err != nil {
		return nil, err
	}
	resp := root.one("body").one("response").one("get_supported_dm_resp")
	var out []SupportedObject
	for _, res := range resp.all("req_obj_results") {
		for _, so := range res.all("supported_objs") {
			var o SupportedObject
			o.Path = so.one("supported_obj_path").Value
			o.MultiInstance = so.one("is_multi_instance").Value == "true"
			if o.Access, err = enumOf(objAccessNames, so.one("access")); err != nil {
				return nil, err
			}
			for _, ks := range so.all("unique_key_sets") {
				o.UniqueKeySets = append(o.UniqueKeySets, ks.values("key_names"))
			}
			for _, sp := range so.all("supported_params") {
				p := SupportedParam{Name: sp.one("param_name").Value}
				if p.Access, err = enumOf(paramAccessNames, sp.one("access")); err != nil {
					return nil, err
				}
				if p.Type, err = enumOf(valueTypeNamesPB, sp.one("value_type")); err != nil {
					return nil, err
				}
				if p.ValueChange, err = enumOf(valueChangeNames, sp.one("value_change")); err != nil {
					return nil, err
				}
				o.Params = append(o.Params, p)
			}
			for _, sc := range so.all("supported_commands") {
				c := SupportedCommand{Name: sc.one("command_name").Value, InputArgs: sc.values("input_arg_names"), OutputArgs: sc.values("output_arg_names")}
				if c.Type, err = enumOf(cmdTypeNames, sc.one("command_type")); err != nil {
					return nil, err
				}
				o.Commands = append(o.Commands, c)
			}
			for _, se := range so.all("supported_events") {
				o.Events = append(o.Events, SupportedEvent{Name: se.one("event_name").Value, Args: se.values("arg_names")})
			}
			o.DivergentPaths = so.values("divergent_paths")
			out = append(out, o)
		}
	}
	return out, nil
}

// loadObuspaSchema reads capture file name (without extension) and builds its schema.
func loadObuspaSchema(t testing.TB, name string) (*Schema, []SupportedObject) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(obuspaDir, name+".record.txt"))
	if err != nil {
		t.Fatalf("reading capture: %v", err)
	}
	objs, err := gsdmObjects(string(text))
	if err != nil {
		t.Fatalf("parsing capture %s: %v", name, err)
	}
	s, err := NewSchema(objs)
	if err != nil {
		t.Fatalf("NewSchema(%s): %v", name, err)
	}
	return s, objs
}
