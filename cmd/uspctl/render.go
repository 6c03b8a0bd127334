package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gousp/gousp/msg"
)

// result is what one command got from one agent. It marshals to the JSON
// shape documented for the command and writes itself as text for people.
type result interface {
	writeText(w io.Writer)
	// failed reports per-path failures inside a successful answer.
	failed() bool
}

// jsonError is an error in JSON output. Kind is "agent" for an error the
// agent answered (Code is then the USP error code), "timeout", "connection"
// or "failed" for the others.
type jsonError struct {
	Kind        string      `json:"kind"`
	Code        uint32      `json:"code,omitempty"`
	Message     string      `json:"message"`
	ParamErrors []pathError `json:"param_errors,omitempty"`
}

// pathError is the failure of one path, object or parameter.
type pathError struct {
	Path        string      `json:"path"`
	Code        uint32      `json:"code"`
	Message     string      `json:"message"`
	ParamErrors []pathError `json:"param_errors,omitempty"`
}

func newJSONError(err error) *jsonError {
	if err == nil {
		return nil
	}
	var me *msg.Error
	if errors.As(err, &me) {
		return &jsonError{Kind: "agent", Code: uint32(me.Code), Message: errorText(me), ParamErrors: paramErrors(me.ParamErrs)}
	}
	kind := "failed"
	switch exitCode(err) {
	case exitTimeout:
		kind = "timeout"
	case exitConnection:
		kind = "connection"
	}
	return &jsonError{Kind: kind, Message: err.Error()}
}

// errorText is the agent's message, or the code's meaning when the agent
// gave none.
func errorText(e *msg.Error) string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code.String()
}

func paramErrors(ps []msg.ParamError) []pathError {
	if len(ps) == 0 {
		return nil
	}
	out := make([]pathError, len(ps))
	for i, p := range ps {
		m := p.Message
		if m == "" {
			m = p.Code.String()
		}
		out[i] = pathError{Path: p.Path, Code: uint32(p.Code), Message: m}
	}
	return out
}

func newPathError(path string, e *msg.Error) pathError {
	return pathError{Path: path, Code: uint32(e.Code), Message: errorText(e), ParamErrors: paramErrors(e.ParamErrs)}
}

// writeErrors writes per-path errors as "ERROR code path: message" lines,
// their parameter errors indented below.
func writeErrors(w io.Writer, errs []pathError) {
	for _, e := range errs {
		writeErrorLine(w, "", e)
		for _, p := range e.ParamErrors {
			writeErrorLine(w, "  ", p)
		}
	}
}

func writeErrorLine(w io.Writer, indent string, e pathError) {
	path := e.Path
	if path == "" {
		path = `""`
	}
	fmt.Fprintf(w, "%sERROR %d %s: %s\n", indent, e.Code, path, oneLine(e.Message))
}

// writeRequestError writes an error that failed the whole request.
func writeRequestError(w io.Writer, err error) {
	var me *msg.Error
	if errors.As(err, &me) {
		fmt.Fprintf(w, "ERROR %d %s\n", me.Code, oneLine(errorText(me)))
		for _, p := range paramErrors(me.ParamErrs) {
			writeErrorLine(w, "  ", p)
		}
		return
	}
	fmt.Fprintf(w, "ERROR %s\n", oneLine(err.Error()))
}

// table aligns tab-separated cells in columns, without the padding
// tabwriter leaves after the last non-empty cell of a line.
type table struct {
	*tabwriter.Writer
	trim *trimWriter
}

func newTable(w io.Writer) *table {
	tr := &trimWriter{w: w}
	return &table{Writer: tabwriter.NewWriter(tr, 0, 0, 2, ' ', 0), trim: tr}
}

// Flush writes the aligned lines.
func (t *table) Flush() {
	_ = t.Writer.Flush()
	t.trim.flush()
}

// trimWriter removes trailing spaces from every line written through it.
type trimWriter struct {
	w    io.Writer
	line []byte
}

func (t *trimWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			t.line = append(bytes.TrimRight(t.line, " "), '\n')
			if _, err := t.w.Write(t.line); err != nil {
				return 0, err
			}
			t.line = t.line[:0]
			continue
		}
		t.line = append(t.line, c)
	}
	return len(p), nil
}

func (t *trimWriter) flush() {
	if len(t.line) > 0 {
		_, _ = t.w.Write(bytes.TrimRight(t.line, " "))
		t.line = t.line[:0]
	}
}

// cell makes a value safe for one tab-separated cell: values with tabs,
// line breaks or other control characters are quoted.
func cell(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// sortedKeys returns the keys of m in natural path order.
func sortedKeys(m map[string]string) []string {
	return slices.SortedFunc(maps.Keys(m), naturalCompare)
}

// keyValues renders a map as "k=v k=v" sorted by key.
func keyValues(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return cell(strings.Join(parts, " "))
}

// naturalCompare orders paths so that instance numbers sort as numbers:
// "Controller.2." before "Controller.10.".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := len(ta) - len(tb); c != 0 {
				return sign(c)
			}
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
			if c := len(na) - len(nb); c != 0 {
				return sign(c)
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return sign(int(a[0]) - int(b[0]))
		}
		a, b = a[1:], b[1:]
	}
	return sign(len(a) - len(b))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// ---- get ----

// getResult: {"values": {path: value}, "errors": [pathError]}.
type getResult struct {
	Values map[string]string `json:"values"`
	Errors []pathError       `json:"errors"`
}

func newGetResult(r *msg.GetResp) *getResult {
	out := &getResult{Values: r.Values(), Errors: []pathError{}}
	for _, f := range r.Failed() {
		out.Errors = append(out.Errors, newPathError(f.Requested, f.Err))
	}
	return out
}

func (r *getResult) failed() bool { return len(r.Errors) > 0 }

func (r *getResult) writeText(w io.Writer) {
	t := newTable(w)
	for _, k := range sortedKeys(r.Values) {
		fmt.Fprintf(t, "%s\t%s\n", k, cell(r.Values[k]))
	}
	t.Flush()
	writeErrors(w, r.Errors)
}

// ---- set ----

// setResult: {"updated": [{"path", "params": {name: value}, "param_errors"}],
// "errors": [pathError]}.
type setResult struct {
	Updated []updatedInstance `json:"updated"`
	Errors  []pathError       `json:"errors"`
}

type updatedInstance struct {
	Path        string            `json:"path"`
	Params      map[string]string `json:"params"`
	ParamErrors []pathError       `json:"param_errors,omitempty"`
}

func newSetResult(r *msg.SetResp) *setResult {
	out := &setResult{Updated: []updatedInstance{}, Errors: []pathError{}}
	for _, res := range r.Results {
		if res.Err != nil {
			pe := newPathError(res.Requested, res.Err)
			for _, f := range res.Failed {
				pe.ParamErrors = append(pe.ParamErrors, paramErrors(f.ParamErrs)...)
			}
			out.Errors = append(out.Errors, pe)
			continue
		}
		for _, u := range res.Updated {
			params := u.Params
			if params == nil {
				params = map[string]string{}
			}
			out.Updated = append(out.Updated, updatedInstance{Path: u.Path, Params: params, ParamErrors: paramErrors(u.ParamErrs)})
		}
	}
	return out
}

func (r *setResult) failed() bool {
	if len(r.Errors) > 0 {
		return true
	}
	for _, u := range r.Updated {
		if len(u.ParamErrors) > 0 {
			return true
		}
	}
	return false
}

func (r *setResult) writeText(w io.Writer) {
	t := newTable(w)
	for _, u := range r.Updated {
		for _, k := range sortedKeys(u.Params) {
			fmt.Fprintf(t, "%s%s\t%s\n", u.Path, k, cell(u.Params[k]))
		}
	}
	t.Flush()
	for _, u := range r.Updated {
		for _, p := range u.ParamErrors {
			writeErrorLine(w, "", p)
		}
	}
	writeErrors(w, r.Errors)
}

// ---- add ----

// addResult: {"created": [{"path", "unique_keys", "param_errors"}],
// "errors": [pathError]}.
type addResult struct {
	Created []createdInstance `json:"created"`
	Errors  []pathError       `json:"errors"`
}

type createdInstance struct {
	Path        string            `json:"path"`
	UniqueKeys  map[string]string `json:"unique_keys"`
	ParamErrors []pathError       `json:"param_errors,omitempty"`
}

func newAddResult(r *msg.AddResp) *addResult {
	out := &addResult{Created: []createdInstance{}, Errors: []pathError{}}
	for _, res := range r.Results {
		if res.Err != nil {
			out.Errors = append(out.Errors, newPathError(res.Requested, res.Err))
			continue
		}
		keys := res.UniqueKeys
		if keys == nil {
			keys = map[string]string{}
		}
		out.Created = append(out.Created, createdInstance{Path: res.Path, UniqueKeys: keys, ParamErrors: paramErrors(res.ParamErrs)})
	}
	return out
}

func (r *addResult) failed() bool {
	if len(r.Errors) > 0 {
		return true
	}
	for _, c := range r.Created {
		if len(c.ParamErrors) > 0 {
			return true
		}
	}
	return false
}

func (r *addResult) writeText(w io.Writer) {
	t := newTable(w)
	for _, c := range r.Created {
		fmt.Fprintf(t, "%s\t%s\n", c.Path, keyValues(c.UniqueKeys))
	}
	t.Flush()
	for _, c := range r.Created {
		for _, p := range c.ParamErrors {
			writeErrorLine(w, "", p)
		}
	}
	writeErrors(w, r.Errors)
}

// ---- delete ----

// deleteResult: {"deleted": [path], "unaffected": [pathError],
// "errors": [pathError]}.
type deleteResult struct {
	Deleted    []string    `json:"deleted"`
	Unaffected []pathError `json:"unaffected"`
	Errors     []pathError `json:"errors"`
}

func newDeleteResult(r *msg.DeleteResp) *deleteResult {
	out := &deleteResult{Deleted: []string{}, Unaffected: []pathError{}, Errors: []pathError{}}
	for _, res := range r.Results {
		if res.Err != nil {
			out.Errors = append(out.Errors, newPathError(res.Requested, res.Err))
			continue
		}
		out.Deleted = append(out.Deleted, res.Affected...)
		out.Unaffected = append(out.Unaffected, paramErrors(res.Unaffected)...)
	}
	return out
}

func (r *deleteResult) failed() bool { return len(r.Errors)+len(r.Unaffected) > 0 }

func (r *deleteResult) writeText(w io.Writer) {
	for _, p := range r.Deleted {
		fmt.Fprintln(w, p)
	}
	writeErrors(w, r.Unaffected)
	writeErrors(w, r.Errors)
}

// ---- operate ----

// operateResult: {"results": [{"command", "status", "output",
// "request_path", "error"}]}; status is "completed" (output holds the
// output arguments), "started" (an asynchronous command runs on as
// request_path; only with --no-wait or wildcards) or "failed" (error).
type operateResult struct {
	Results []operateItem `json:"results"`
}

type operateItem struct {
	Command     string            `json:"command"`
	Status      string            `json:"status"`
	Output      map[string]string `json:"output,omitempty"`
	RequestPath string            `json:"request_path,omitempty"`
	Error       *jsonError        `json:"error,omitempty"`
}

const (
	statusCompleted = "completed"
	statusStarted   = "started"
	statusFailed    = "failed"
)

func newOperateResult(r *msg.OperateResp) *operateResult {
	out := &operateResult{Results: []operateItem{}}
	for _, res := range r.Results {
		it := operateItem{Command: res.ExecutedCommand}
		switch res.Outcome() {
		case msg.OutcomeFailed:
			it.Status, it.Error = statusFailed, newJSONError(res.Err)
		case msg.OutcomeAsync:
			it.Status, it.RequestPath = statusStarted, res.RequestObjPath
		default:
			it.Status, it.Output = statusCompleted, nonNil(res.OutputArgs)
		}
		out.Results = append(out.Results, it)
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (r *operateResult) failed() bool {
	for _, it := range r.Results {
		if it.Status == statusFailed {
			return true
		}
	}
	return false
}

func (r *operateResult) writeText(w io.Writer) {
	for _, it := range r.Results {
		switch it.Status {
		case statusFailed:
			fmt.Fprintf(w, "%s  %s  %d %s\n", it.Command, it.Status, it.Error.Code, oneLine(it.Error.Message))
		case statusStarted:
			fmt.Fprintf(w, "%s  %s  %s\n", it.Command, it.Status, it.RequestPath)
		default:
			fmt.Fprintf(w, "%s  %s\n", it.Command, it.Status)
			t := newTable(w)
			for _, k := range sortedKeys(it.Output) {
				fmt.Fprintf(t, "  %s\t%s\n", k, cell(it.Output[k]))
			}
			t.Flush()
		}
	}
}

// ---- gsdm ----

// gsdmResult: {"objects": [{"path", "access", "multi_instance", "params":
// [{"name", "access", "type", "value_change"}], "commands": [{"name",
// "type", "inputs", "outputs"}], "events": [{"name", "args"}],
// "unique_keys": [[name]]}], "errors": [pathError]}.
type gsdmResult struct {
	Objects []gsdmObject `json:"objects"`
	Errors  []pathError  `json:"errors"`
}

type gsdmObject struct {
	Path          string        `json:"path"`
	Access        string        `json:"access"`
	MultiInstance bool          `json:"multi_instance"`
	Params        []gsdmParam   `json:"params,omitempty"`
	Commands      []gsdmCommand `json:"commands,omitempty"`
	Events        []gsdmEvent   `json:"events,omitempty"`
	UniqueKeys    [][]string    `json:"unique_keys,omitempty"`
}

type gsdmParam struct {
	Name        string `json:"name"`
	Access      string `json:"access"`
	Type        string `json:"type"`
	ValueChange string `json:"value_change"`
}

type gsdmCommand struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

type gsdmEvent struct {
	Name string   `json:"name"`
	Args []string `json:"args"`
}

func newGSDMResult(r *msg.GetSupportedDMResp) *gsdmResult {
	out := &gsdmResult{Objects: []gsdmObject{}, Errors: []pathError{}}
	for _, res := range r.Results {
		if res.Err != nil {
			out.Errors = append(out.Errors, newPathError(res.Requested, res.Err))
			continue
		}
		for _, o := range res.Objects {
			g := gsdmObject{Path: o.Path, Access: o.Access.String(), MultiInstance: o.MultiInstance, UniqueKeys: o.UniqueKeySets}
			for _, p := range o.Params {
				g.Params = append(g.Params, gsdmParam{Name: p.Name, Access: p.Access.String(), Type: p.Type.String(), ValueChange: p.ValueChange.String()})
			}
			for _, c := range o.Commands {
				g.Commands = append(g.Commands, gsdmCommand{Name: c.Name, Type: c.Type.String(), Inputs: nonNilList(c.Inputs), Outputs: nonNilList(c.Outputs)})
			}
			for _, e := range o.Events {
				g.Events = append(g.Events, gsdmEvent{Name: e.Name, Args: nonNilList(e.Args)})
			}
			out.Objects = append(out.Objects, g)
		}
	}
	return out
}

func nonNilList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (r *gsdmResult) failed() bool { return len(r.Errors) > 0 }

func (r *gsdmResult) writeText(w io.Writer) {
	t := newTable(w)
	for _, o := range r.Objects {
		kind := "object"
		if o.MultiInstance {
			kind = "multi-instance"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t\n", o.Path, kind, o.Access)
		for _, keys := range o.UniqueKeys {
			fmt.Fprintf(t, "  unique key\t%s\t\t\n", strings.Join(keys, ","))
		}
		for _, p := range o.Params {
			fmt.Fprintf(t, "  %s\t%s\t%s\t%s\n", p.Name, p.Type, p.Access, valueChangeText(p.ValueChange))
		}
		for _, c := range o.Commands {
			fmt.Fprintf(t, "  %s\tcommand\t%s\t%s\n", c.Name, c.Type, argsText("in", c.Inputs)+" "+argsText("out", c.Outputs))
		}
		for _, e := range o.Events {
			fmt.Fprintf(t, "  %s\tevent\t\t%s\n", e.Name, argsText("args", e.Args))
		}
	}
	t.Flush()
	writeErrors(w, r.Errors)
}

func valueChangeText(v string) string {
	if v == msg.ValueChangeWillIgnore.String() {
		return "no value change"
	}
	return ""
}

func argsText(label string, args []string) string {
	if len(args) == 0 {
		return label + ": -"
	}
	return label + ": " + strings.Join(args, ",")
}

// ---- instances ----

// instancesResult: {"instances": [{"path", "unique_keys"}], "errors":
// [pathError]}.
type instancesResult struct {
	Instances []instance  `json:"instances"`
	Errors    []pathError `json:"errors"`
}

type instance struct {
	Path       string            `json:"path"`
	UniqueKeys map[string]string `json:"unique_keys"`
}

func newInstancesResult(r *msg.GetInstancesResp) *instancesResult {
	out := &instancesResult{Instances: []instance{}, Errors: []pathError{}}
	for _, res := range r.Results {
		if res.Err != nil {
			out.Errors = append(out.Errors, newPathError(res.Requested, res.Err))
			continue
		}
		for _, in := range res.Instances {
			out.Instances = append(out.Instances, instance{Path: in.Path, UniqueKeys: nonNil(in.UniqueKeys)})
		}
	}
	return out
}

func (r *instancesResult) failed() bool { return len(r.Errors) > 0 }

func (r *instancesResult) writeText(w io.Writer) {
	t := newTable(w)
	for _, in := range r.Instances {
		fmt.Fprintf(t, "%s\t%s\n", in.Path, keyValues(in.UniqueKeys))
	}
	t.Flush()
	writeErrors(w, r.Errors)
}

// ---- proto ----

// protoResult: {"versions": ["1.0", ...]}.
type protoResult struct {
	Versions []string `json:"versions"`
}

func (r *protoResult) failed() bool { return false }

func (r *protoResult) writeText(w io.Writer) {
	fmt.Fprintln(w, strings.Join(r.Versions, ","))
}
