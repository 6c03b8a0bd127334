package msg

import (
	"github.com/gousp/gousp/proto/uspmsg"
)

// Set updates parameters of existing objects. Without AllowPartial, any
// failure makes the agent answer with an [*Error] and change nothing.
type Set struct {
	AllowPartial bool
	Objects      []SetObject
}

// SetObject names an object (a path ending in ".", which may contain
// wildcards or search expressions) and the parameters to set on it.
type SetObject struct {
	Path   string
	Params []Param
}

// SetParams returns a Set of one object whose parameters are all required,
// in sorted name order.
func SetParams(path string, params map[string]string) Set {
	return Set{Objects: []SetObject{{Path: path, Params: Params(params)}}}
}

// MsgType returns SET.
func (Set) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_SET }

// Build returns the Set message with msgID.
func (s Set) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.Set{AllowPartial: s.AllowPartial}
	for _, o := range s.Objects {
		po := &uspmsg.Set_UpdateObject{ObjPath: o.Path}
		for _, prm := range o.Params {
			po.ParamSettings = append(po.ParamSettings, &uspmsg.Set_UpdateParamSetting{
				Param: prm.Name, Value: prm.Value, Required: prm.Required,
			})
		}
		p.UpdateObjs = append(p.UpdateObjs, po)
	}
	return newRequest(msgID, uspmsg.Header_SET, &uspmsg.Request{ReqType: &uspmsg.Request_Set{Set: p}})
}

func parseSet(p *uspmsg.Set) *Set {
	s := &Set{AllowPartial: p.GetAllowPartial()}
	for _, po := range p.GetUpdateObjs() {
		o := SetObject{Path: po.GetObjPath()}
		for _, ps := range po.GetParamSettings() {
			o.Params = append(o.Params, Param{Name: ps.GetParam(), Value: ps.GetValue(), Required: ps.GetRequired()})
		}
		s.Objects = append(s.Objects, o)
	}
	return s
}

// SetResp answers a [Set]: one result per [SetObject], in request order.
type SetResp struct {
	Results []SetResult
}

// SetResult is the outcome of one requested object path. On success Err is
// nil and Updated lists every instance changed; on failure Err holds the
// code and message (its ParamErrs are not sent; [SetResp.Err] fills them
// from Failed) and Failed the parameters that failed per instance.
type SetResult struct {
	Requested string
	Err       *Error
	Updated   []UpdatedInstance
	Failed    []FailedInstance
}

// UpdatedInstance is one object instance a Set changed. Params holds the
// values set, keyed by name relative to Path; ParamErrs the non-required
// parameters that could not be set (full paths).
type UpdatedInstance struct {
	Path      string
	Params    map[string]string
	ParamErrs []ParamError
}

// FailedInstance is one object instance of a failed [SetResult], with the
// parameters that failed (full paths).
type FailedInstance struct {
	Path      string
	ParamErrs []ParamError
}

// MsgType returns SET_RESP.
func (SetResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_SET_RESP }

// Build returns the SetResp message answering the request with msgID.
// ParamError paths under an instance path are sent relative to it, as the
// specification asks.
func (r SetResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.SetResp{}
	for _, res := range r.Results {
		st := &uspmsg.SetResp_UpdatedObjectResult_OperationStatus{}
		if res.Err != nil {
			f := &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperationFailure{
				ErrCode: uint32(res.Err.Code), ErrMsg: res.Err.Message,
			}
			for _, fi := range res.Failed {
				f.UpdatedInstFailures = append(f.UpdatedInstFailures, &uspmsg.SetResp_UpdatedInstanceFailure{
					AffectedPath: fi.Path, ParamErrs: setParamErrs(fi.Path, fi.ParamErrs),
				})
			}
			st.OperStatus = &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperFailure{OperFailure: f}
		} else {
			s := &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperationSuccess{}
			for _, u := range res.Updated {
				s.UpdatedInstResults = append(s.UpdatedInstResults, &uspmsg.SetResp_UpdatedInstanceResult{
					AffectedPath: u.Path, ParamErrs: setParamErrs(u.Path, u.ParamErrs), UpdatedParams: copyMap(u.Params),
				})
			}
			st.OperStatus = &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperSuccess{OperSuccess: s}
		}
		p.UpdatedObjResults = append(p.UpdatedObjResults, &uspmsg.SetResp_UpdatedObjectResult{
			RequestedPath: res.Requested, OperStatus: st,
		})
	}
	return newResponse(msgID, uspmsg.Header_SET_RESP, &uspmsg.Response{RespType: &uspmsg.Response_SetResp{SetResp: p}})
}

func setParamErrs(obj string, pes []ParamError) []*uspmsg.SetResp_ParameterError {
	var out []*uspmsg.SetResp_ParameterError
	for _, pe := range pes {
		out = append(out, &uspmsg.SetResp_ParameterError{
			Param: relParam(obj, pe.Path), ErrCode: uint32(pe.Code), ErrMsg: pe.Message,
		})
	}
	return out
}

func parseSetParamErrs(obj string, pes []*uspmsg.SetResp_ParameterError) []ParamError {
	var out []ParamError
	for _, pe := range pes {
		out = append(out, ParamError{
			Path: joinParam(obj, pe.GetParam()), Code: Code(pe.GetErrCode()), Message: pe.GetErrMsg(),
		})
	}
	return out
}

func parseSetResp(p *uspmsg.SetResp) *SetResp {
	r := &SetResp{}
	for _, pr := range p.GetUpdatedObjResults() {
		res := SetResult{Requested: pr.GetRequestedPath()}
		st := pr.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			res.Err = &Error{Code: Code(f.GetErrCode()), Message: f.GetErrMsg()}
			for _, fi := range f.GetUpdatedInstFailures() {
				res.Failed = append(res.Failed, FailedInstance{
					Path: fi.GetAffectedPath(), ParamErrs: parseSetParamErrs(fi.GetAffectedPath(), fi.GetParamErrs()),
				})
			}
		} else {
			for _, u := range st.GetOperSuccess().GetUpdatedInstResults() {
				res.Updated = append(res.Updated, UpdatedInstance{
					Path:      u.GetAffectedPath(),
					Params:    copyMap(u.GetUpdatedParams()),
					ParamErrs: parseSetParamErrs(u.GetAffectedPath(), u.GetParamErrs()),
				})
			}
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Succeeded returns the results whose object was updated.
func (r SetResp) Succeeded() []SetResult {
	return filter(r.Results, func(res SetResult) bool { return res.Err == nil })
}

// Failed returns the results whose object failed.
func (r SetResp) Failed() []SetResult {
	return filter(r.Results, func(res SetResult) bool { return res.Err != nil })
}

// Values flattens the parameters actually set into full path -> value.
func (r SetResp) Values() map[string]string {
	out := make(map[string]string)
	for _, res := range r.Results {
		for _, u := range res.Updated {
			for k, v := range u.Params {
				out[u.Path+k] = v
			}
		}
	}
	return out
}

// Err joins the errors of the failed objects, each prefixed with its
// requested path, or returns nil. Each *Error carries the failed parameters
// of its result (from Failed) as ParamErrs.
func (r SetResp) Err() error {
	return joinErrs(r.Results, func(res SetResult) (string, *Error) {
		if res.Err == nil {
			return res.Requested, nil
		}
		e := &Error{Code: res.Err.Code, Message: res.Err.Message}
		for _, fi := range res.Failed {
			e.ParamErrs = append(e.ParamErrs, fi.ParamErrs...)
		}
		return res.Requested, e
	})
}
