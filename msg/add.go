package msg

import (
	"github.com/gousp/gousp/proto/uspmsg"
)

// Add creates object instances. Without AllowPartial, any failure makes the
// agent answer with an [*Error] and create nothing.
type Add struct {
	AllowPartial bool
	Objects      []AddObject
}

// AddObject names a multi-instance object (e.g. "Device.LocalAgent.
// Subscription.") and the parameters to give the new instance.
type AddObject struct {
	Path   string
	Params []Param
}

// AddParams returns an Add of one instance whose parameters are all
// required, in sorted name order.
func AddParams(path string, params map[string]string) Add {
	return Add{Objects: []AddObject{{Path: path, Params: Params(params)}}}
}

// MsgType returns ADD.
func (Add) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_ADD }

// Build returns the Add message with msgID.
func (a Add) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.Add{AllowPartial: a.AllowPartial}
	for _, o := range a.Objects {
		po := &uspmsg.Add_CreateObject{ObjPath: o.Path}
		for _, prm := range o.Params {
			po.ParamSettings = append(po.ParamSettings, &uspmsg.Add_CreateParamSetting{
				Param: prm.Name, Value: prm.Value, Required: prm.Required,
			})
		}
		p.CreateObjs = append(p.CreateObjs, po)
	}
	return newRequest(msgID, uspmsg.Header_ADD, &uspmsg.Request{ReqType: &uspmsg.Request_Add{Add: p}})
}

func parseAdd(p *uspmsg.Add) *Add {
	a := &Add{AllowPartial: p.GetAllowPartial()}
	for _, po := range p.GetCreateObjs() {
		o := AddObject{Path: po.GetObjPath()}
		for _, ps := range po.GetParamSettings() {
			o.Params = append(o.Params, Param{Name: ps.GetParam(), Value: ps.GetValue(), Required: ps.GetRequired()})
		}
		a.Objects = append(a.Objects, o)
	}
	return a
}

// AddResp answers an [Add]: one result per [AddObject], in request order.
type AddResp struct {
	Results []AddResult
}

// AddResult is the outcome of one object creation. On success Err is nil,
// Path is the new instance (e.g. "Device.LocalAgent.Subscription.2."),
// UniqueKeys its unique keys and ParamErrs the non-required parameters that
// could not be set (full paths). On failure only Err is set.
type AddResult struct {
	Requested  string
	Err        *Error
	Path       string
	UniqueKeys map[string]string
	ParamErrs  []ParamError
}

// MsgType returns ADD_RESP.
func (AddResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_ADD_RESP }

// Build returns the AddResp message answering the request with msgID.
func (r AddResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.AddResp{}
	for _, res := range r.Results {
		st := &uspmsg.AddResp_CreatedObjectResult_OperationStatus{}
		if res.Err != nil {
			st.OperStatus = &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperationFailure{
					ErrCode: uint32(res.Err.Code), ErrMsg: res.Err.Message,
				},
			}
		} else {
			s := &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperationSuccess{
				InstantiatedPath: res.Path, UniqueKeys: copyMap(res.UniqueKeys),
			}
			for _, pe := range res.ParamErrs {
				s.ParamErrs = append(s.ParamErrs, &uspmsg.AddResp_ParameterError{
					Param: relParam(res.Path, pe.Path), ErrCode: uint32(pe.Code), ErrMsg: pe.Message,
				})
			}
			st.OperStatus = &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperSuccess{OperSuccess: s}
		}
		p.CreatedObjResults = append(p.CreatedObjResults, &uspmsg.AddResp_CreatedObjectResult{
			RequestedPath: res.Requested, OperStatus: st,
		})
	}
	return newResponse(msgID, uspmsg.Header_ADD_RESP, &uspmsg.Response{RespType: &uspmsg.Response_AddResp{AddResp: p}})
}

func parseAddResp(p *uspmsg.AddResp) *AddResp {
	r := &AddResp{}
	for _, pr := range p.GetCreatedObjResults() {
		res := AddResult{Requested: pr.GetRequestedPath()}
		st := pr.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			res.Err = &Error{Code: Code(f.GetErrCode()), Message: f.GetErrMsg()}
		} else {
			s := st.GetOperSuccess()
			res.Path = s.GetInstantiatedPath()
			res.UniqueKeys = copyMap(s.GetUniqueKeys())
			for _, pe := range s.GetParamErrs() {
				res.ParamErrs = append(res.ParamErrs, ParamError{
					Path: joinParam(res.Path, pe.GetParam()), Code: Code(pe.GetErrCode()), Message: pe.GetErrMsg(),
				})
			}
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Succeeded returns the results whose instance was created.
func (r AddResp) Succeeded() []AddResult {
	return filter(r.Results, func(res AddResult) bool { return res.Err == nil })
}

// Failed returns the results whose creation failed.
func (r AddResp) Failed() []AddResult {
	return filter(r.Results, func(res AddResult) bool { return res.Err != nil })
}

// Paths returns the instantiated paths of the successful results.
func (r AddResp) Paths() []string {
	var out []string
	for _, res := range r.Succeeded() {
		out = append(out, res.Path)
	}
	return out
}

// Err joins the errors of the failed creations, each prefixed with its
// requested path, or returns nil.
func (r AddResp) Err() error {
	return joinErrs(r.Results, func(res AddResult) (string, *Error) { return res.Requested, res.Err })
}
