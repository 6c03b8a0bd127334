package msg

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gousp/gousp/proto/uspmsg"
)

// Message is any typed USP message of this package: a request, a response,
// a [Notify] or an [*Error]. [Parse] returns one; Build turns it back into
// a protobuf message carrying msgID.
type Message interface {
	MsgType() uspmsg.Header_MsgType
	Build(msgID string) *uspmsg.Msg
}

// Request is a message that asks for an answer: [Get], [Set], [Add],
// [Delete], [Operate], [GetSupportedDM], [GetInstances],
// [GetSupportedProtocol], [Register], [Deregister] and [Notify]. An
// unexported method closes the set, so that passing a response where a
// request belongs (Agent.Do(ctx, msg.GetResp{})) does not compile. Every
// Request is a [Message].
type Request interface {
	Message
	request()
}

// The request kinds; the methods live here so that the list is in one place.
func (Get) request()                  {}
func (Set) request()                  {}
func (Add) request()                  {}
func (Delete) request()               {}
func (Operate) request()              {}
func (GetSupportedDM) request()       {}
func (GetInstances) request()         {}
func (GetSupportedProtocol) request() {}
func (Register) request()             {}
func (Deregister) request()           {}
func (Notify) request()               {}

// Param is one parameter setting of a [Set] or [Add]. Required makes the
// whole object fail when this parameter cannot be set.
type Param struct {
	Name     string
	Value    string
	Required bool
}

// Params turns a map into required parameters sorted by name, so that the
// messages built from it are deterministic.
func Params(m map[string]string) []Param {
	if len(m) == 0 {
		return nil
	}
	ps := make([]Param, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ps = append(ps, Param{Name: k, Value: m[k], Required: true})
	}
	return ps
}

var responseOf = map[uspmsg.Header_MsgType]uspmsg.Header_MsgType{
	uspmsg.Header_GET:                 uspmsg.Header_GET_RESP,
	uspmsg.Header_SET:                 uspmsg.Header_SET_RESP,
	uspmsg.Header_ADD:                 uspmsg.Header_ADD_RESP,
	uspmsg.Header_DELETE:              uspmsg.Header_DELETE_RESP,
	uspmsg.Header_OPERATE:             uspmsg.Header_OPERATE_RESP,
	uspmsg.Header_NOTIFY:              uspmsg.Header_NOTIFY_RESP,
	uspmsg.Header_GET_SUPPORTED_DM:    uspmsg.Header_GET_SUPPORTED_DM_RESP,
	uspmsg.Header_GET_INSTANCES:       uspmsg.Header_GET_INSTANCES_RESP,
	uspmsg.Header_GET_SUPPORTED_PROTO: uspmsg.Header_GET_SUPPORTED_PROTO_RESP,
	uspmsg.Header_REGISTER:            uspmsg.Header_REGISTER_RESP,
	uspmsg.Header_DEREGISTER:          uspmsg.Header_DEREGISTER_RESP,
}

var requestOf = func() map[uspmsg.Header_MsgType]uspmsg.Header_MsgType {
	m := make(map[uspmsg.Header_MsgType]uspmsg.Header_MsgType, len(responseOf))
	for req, resp := range responseOf {
		m[resp] = req
	}
	return m
}()

// IsRequest reports whether t is a request type (Notify included).
func IsRequest(t uspmsg.Header_MsgType) bool { _, ok := responseOf[t]; return ok }

// IsResponse reports whether t is a response type (NotifyResp included).
// ERROR is not: it may answer any request.
func IsResponse(t uspmsg.Header_MsgType) bool { _, ok := requestOf[t]; return ok }

// ResponseType returns the response type that answers a request of type
// req (GET -> GET_RESP, NOTIFY -> NOTIFY_RESP, ...), or ERROR when req is
// not a request type.
func ResponseType(req uspmsg.Header_MsgType) uspmsg.Header_MsgType { return responseOf[req] }

// RequestType returns the request type that resp answers, or ERROR when resp
// is not a response type.
func RequestType(resp uspmsg.Header_MsgType) uspmsg.Header_MsgType { return requestOf[resp] }

func newMsg(msgID string, t uspmsg.Header_MsgType, body *uspmsg.Body) *uspmsg.Msg {
	return &uspmsg.Msg{Header: &uspmsg.Header{MsgId: msgID, MsgType: t}, Body: body}
}

func newRequest(msgID string, t uspmsg.Header_MsgType, r *uspmsg.Request) *uspmsg.Msg {
	return newMsg(msgID, t, &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: r}})
}

func newResponse(msgID string, t uspmsg.Header_MsgType, r *uspmsg.Response) *uspmsg.Msg {
	return newMsg(msgID, t, &uspmsg.Body{MsgBody: &uspmsg.Body_Response{Response: r}})
}

// copyMap returns nil for an empty map so that parsed values compare equal
// to values built with nil maps.
func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// copyStrings returns nil for an empty slice, for the same reason.
func copyStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// joinParam rebuilds a full parameter path from an object path and the
// parameter name a response carries. The spec sends the bare name
// ("Alias"); a name holding a dot is taken as a path already, which is what
// some agents send.
func joinParam(obj, param string) string {
	if obj == "" || strings.Contains(param, ".") {
		return param
	}
	return objPrefix(obj) + param
}

// relParam is the inverse of joinParam, used when building responses: a
// path naming a parameter directly under obj is sent as the bare name.
func relParam(obj, path string) string {
	if obj == "" {
		return path
	}
	if name, ok := strings.CutPrefix(path, objPrefix(obj)); ok && name != "" && !strings.Contains(name, ".") {
		return name
	}
	return path
}

func objPrefix(obj string) string {
	if strings.HasSuffix(obj, ".") {
		return obj
	}
	return obj + "."
}

// filter returns the elements of rs for which keep is true, nil if none.
func filter[T any](rs []T, keep func(T) bool) []T {
	var out []T
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// joinErrs joins the non-nil per-path errors of rs, each prefixed with its
// requested path, so that errors.Is and errors.As still reach the *Error.
func joinErrs[T any](rs []T, f func(T) (string, *Error)) error {
	var errs []error
	for _, r := range rs {
		if path, e := f(r); e != nil {
			errs = append(errs, fmt.Errorf("%q: %w", path, e))
		}
	}
	return errors.Join(errs...)
}
