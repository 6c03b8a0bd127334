package msg

import (
	"github.com/gousp/gousp/proto/uspmsg"
)

// Get asks for the values of parameters. Paths may name parameters,
// objects (ending in "."), wildcards and search expressions. MaxDepth limits
// how deep an object path is expanded; 0 means no limit.
type Get struct {
	Paths    []string
	MaxDepth uint32
}

// MsgType returns GET.
func (Get) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_GET }

// Build returns the Get message with msgID.
func (g Get) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_GET, &uspmsg.Request{ReqType: &uspmsg.Request_Get{
		Get: &uspmsg.Get{ParamPaths: copyStrings(g.Paths), MaxDepth: g.MaxDepth},
	}})
}

func parseGet(p *uspmsg.Get) *Get {
	return &Get{Paths: copyStrings(p.GetParamPaths()), MaxDepth: p.GetMaxDepth()}
}

// GetResp answers a [Get]: one result per requested path, in request order.
type GetResp struct {
	Results []GetResult
}

// GetResult is the outcome of one requested path: Err is set when the path
// failed as a whole; otherwise Resolved lists every object it resolved to.
type GetResult struct {
	Requested string
	Err       *Error
	Resolved  []Resolved
}

// Resolved is one object a requested path resolved to, with its parameter
// values keyed by their names relative to Path.
type Resolved struct {
	Path   string
	Params map[string]string
}

// MsgType returns GET_RESP.
func (GetResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_GET_RESP }

// Build returns the GetResp message answering the request with msgID.
func (r GetResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.GetResp{}
	for _, res := range r.Results {
		code, text := errCode(res.Err)
		pr := &uspmsg.GetResp_RequestedPathResult{RequestedPath: res.Requested, ErrCode: code, ErrMsg: text}
		for _, rv := range res.Resolved {
			pr.ResolvedPathResults = append(pr.ResolvedPathResults, &uspmsg.GetResp_ResolvedPathResult{
				ResolvedPath: rv.Path, ResultParams: copyMap(rv.Params),
			})
		}
		p.ReqPathResults = append(p.ReqPathResults, pr)
	}
	return newResponse(msgID, uspmsg.Header_GET_RESP, &uspmsg.Response{RespType: &uspmsg.Response_GetResp{GetResp: p}})
}

func parseGetResp(p *uspmsg.GetResp) *GetResp {
	r := &GetResp{}
	for _, pr := range p.GetReqPathResults() {
		res := GetResult{Requested: pr.GetRequestedPath(), Err: codeErr(pr.GetErrCode(), pr.GetErrMsg())}
		for _, rv := range pr.GetResolvedPathResults() {
			res.Resolved = append(res.Resolved, Resolved{Path: rv.GetResolvedPath(), Params: copyMap(rv.GetResultParams())})
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Values flattens every successful result into full parameter path ->
// value (resolved path + parameter name). Failed paths are skipped; see
// [GetResp.Err].
func (r GetResp) Values() map[string]string {
	out := make(map[string]string)
	for _, res := range r.Results {
		res.addValues(out)
	}
	return out
}

// Values flattens this result into full parameter path -> value; it is
// empty when the path failed.
func (r GetResult) Values() map[string]string {
	out := make(map[string]string)
	r.addValues(out)
	return out
}

func (r GetResult) addValues(out map[string]string) {
	if r.Err != nil {
		return
	}
	for _, rv := range r.Resolved {
		for k, v := range rv.Params {
			out[rv.Path+k] = v
		}
	}
}

// Failed returns the results whose requested path failed.
func (r GetResp) Failed() []GetResult {
	return filter(r.Results, func(res GetResult) bool { return res.Err != nil })
}

// Err joins the errors of the failed paths, each prefixed with its
// requested path, or returns nil when every path succeeded. errors.Is and
// errors.As see the *Error values inside.
func (r GetResp) Err() error {
	return joinErrs(r.Results, func(res GetResult) (string, *Error) { return res.Requested, res.Err })
}
