package msg

import "github.com/gousp/gousp/proto/uspmsg"

// GetInstances asks which instances of multi-instance objects exist under
// object paths. FirstLevelOnly stops at the instances of the named object.
type GetInstances struct {
	Paths          []string
	FirstLevelOnly bool
}

// MsgType returns GET_INSTANCES.
func (GetInstances) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_GET_INSTANCES }

// Build returns the GetInstances message with msgID.
func (g GetInstances) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_GET_INSTANCES, &uspmsg.Request{ReqType: &uspmsg.Request_GetInstances{
		GetInstances: &uspmsg.GetInstances{ObjPaths: copyStrings(g.Paths), FirstLevelOnly: g.FirstLevelOnly},
	}})
}

func parseGetInstances(p *uspmsg.GetInstances) *GetInstances {
	return &GetInstances{Paths: copyStrings(p.GetObjPaths()), FirstLevelOnly: p.GetFirstLevelOnly()}
}

// GetInstancesResp answers a [GetInstances]: one result per requested path.
type GetInstancesResp struct {
	Results []InstancesResult
}

// InstancesResult is the outcome of one requested path: Err, or the
// instances found (none for a single-instance object).
type InstancesResult struct {
	Requested string
	Err       *Error
	Instances []Instance
}

// Instance is one object instance ("Device.LocalAgent.Controller.1.") with
// its unique keys.
type Instance struct {
	Path       string
	UniqueKeys map[string]string
}

// MsgType returns GET_INSTANCES_RESP.
func (GetInstancesResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_GET_INSTANCES_RESP }

// Build returns the GetInstancesResp message answering the request with
// msgID.
func (r GetInstancesResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.GetInstancesResp{}
	for _, res := range r.Results {
		code, text := errCode(res.Err)
		pr := &uspmsg.GetInstancesResp_RequestedPathResult{RequestedPath: res.Requested, ErrCode: code, ErrMsg: text}
		for _, in := range res.Instances {
			pr.CurrInsts = append(pr.CurrInsts, &uspmsg.GetInstancesResp_CurrInstance{
				InstantiatedObjPath: in.Path, UniqueKeys: copyMap(in.UniqueKeys),
			})
		}
		p.ReqPathResults = append(p.ReqPathResults, pr)
	}
	return newResponse(msgID, uspmsg.Header_GET_INSTANCES_RESP, &uspmsg.Response{RespType: &uspmsg.Response_GetInstancesResp{GetInstancesResp: p}})
}

func parseGetInstancesResp(p *uspmsg.GetInstancesResp) *GetInstancesResp {
	r := &GetInstancesResp{}
	for _, pr := range p.GetReqPathResults() {
		res := InstancesResult{Requested: pr.GetRequestedPath(), Err: codeErr(pr.GetErrCode(), pr.GetErrMsg())}
		for _, in := range pr.GetCurrInsts() {
			res.Instances = append(res.Instances, Instance{Path: in.GetInstantiatedObjPath(), UniqueKeys: copyMap(in.GetUniqueKeys())})
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Paths returns the instance paths of every successful result, in order.
func (r GetInstancesResp) Paths() []string {
	var out []string
	for _, res := range r.Results {
		for _, in := range res.Instances {
			out = append(out, in.Path)
		}
	}
	return out
}

// Failed returns the results whose requested path failed.
func (r GetInstancesResp) Failed() []InstancesResult {
	return filter(r.Results, func(res InstancesResult) bool { return res.Err != nil })
}

// Err joins the errors of the failed paths, each prefixed with its
// requested path, or returns nil.
func (r GetInstancesResp) Err() error {
	return joinErrs(r.Results, func(res InstancesResult) (string, *Error) { return res.Requested, res.Err })
}
