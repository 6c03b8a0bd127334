package msg

import "github.com/gousp/gousp/proto/uspmsg"

// Delete removes object instances. Paths name instances ("...Controller.2.")
// and may contain wildcards or search expressions. Without AllowPartial,
// any failure makes the agent answer with an [*Error] and delete nothing.
type Delete struct {
	AllowPartial bool
	Paths        []string
}

// MsgType returns DELETE.
func (Delete) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_DELETE }

// Build returns the Delete message with msgID.
func (d Delete) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_DELETE, &uspmsg.Request{ReqType: &uspmsg.Request_Delete{
		Delete: &uspmsg.Delete{AllowPartial: d.AllowPartial, ObjPaths: copyStrings(d.Paths)},
	}})
}

func parseDelete(p *uspmsg.Delete) *Delete {
	return &Delete{AllowPartial: p.GetAllowPartial(), Paths: copyStrings(p.GetObjPaths())}
}

// DeleteResp answers a [Delete]: one result per requested path.
type DeleteResp struct {
	Results []DeleteResult
}

// DeleteResult is the outcome of one requested path. On success Err is nil,
// Affected lists the instances deleted (empty when none matched) and
// Unaffected the instances that matched but could not be deleted (as
// ParamError values whose Path is the instance). On failure only Err is set.
type DeleteResult struct {
	Requested  string
	Err        *Error
	Affected   []string
	Unaffected []ParamError
}

// MsgType returns DELETE_RESP.
func (DeleteResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_DELETE_RESP }

// Build returns the DeleteResp message answering the request with msgID.
func (r DeleteResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.DeleteResp{}
	for _, res := range r.Results {
		st := &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus{}
		if res.Err != nil {
			st.OperStatus = &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperationFailure{
					ErrCode: uint32(res.Err.Code), ErrMsg: res.Err.Message,
				},
			}
		} else {
			s := &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperationSuccess{
				AffectedPaths: copyStrings(res.Affected),
			}
			for _, u := range res.Unaffected {
				s.UnaffectedPathErrs = append(s.UnaffectedPathErrs, &uspmsg.DeleteResp_UnaffectedPathError{
					UnaffectedPath: u.Path, ErrCode: uint32(u.Code), ErrMsg: u.Message,
				})
			}
			st.OperStatus = &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperSuccess{OperSuccess: s}
		}
		p.DeletedObjResults = append(p.DeletedObjResults, &uspmsg.DeleteResp_DeletedObjectResult{
			RequestedPath: res.Requested, OperStatus: st,
		})
	}
	return newResponse(msgID, uspmsg.Header_DELETE_RESP, &uspmsg.Response{RespType: &uspmsg.Response_DeleteResp{DeleteResp: p}})
}

func parseDeleteResp(p *uspmsg.DeleteResp) *DeleteResp {
	r := &DeleteResp{}
	for _, pr := range p.GetDeletedObjResults() {
		res := DeleteResult{Requested: pr.GetRequestedPath()}
		st := pr.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			res.Err = &Error{Code: Code(f.GetErrCode()), Message: f.GetErrMsg()}
		} else {
			s := st.GetOperSuccess()
			res.Affected = copyStrings(s.GetAffectedPaths())
			for _, u := range s.GetUnaffectedPathErrs() {
				res.Unaffected = append(res.Unaffected, ParamError{
					Path: u.GetUnaffectedPath(), Code: Code(u.GetErrCode()), Message: u.GetErrMsg(),
				})
			}
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Succeeded returns the results whose path was processed.
func (r DeleteResp) Succeeded() []DeleteResult {
	return filter(r.Results, func(res DeleteResult) bool { return res.Err == nil })
}

// Failed returns the results whose path failed as a whole.
func (r DeleteResp) Failed() []DeleteResult {
	return filter(r.Results, func(res DeleteResult) bool { return res.Err != nil })
}

// Affected returns every instance deleted, over all results.
func (r DeleteResp) Affected() []string {
	var out []string
	for _, res := range r.Results {
		out = append(out, res.Affected...)
	}
	return out
}

// Err joins the errors of the failed paths, each prefixed with its
// requested path, or returns nil. Unaffected instances of successful
// results are not errors of the request; inspect them on each result.
func (r DeleteResp) Err() error {
	return joinErrs(r.Results, func(res DeleteResult) (string, *Error) { return res.Requested, res.Err })
}
