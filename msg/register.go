package msg

import "github.com/gousp/gousp/proto/uspmsg"

// Register is sent by a USP Service to a USP Broker (acting as its
// controller) to take ownership of data model paths such as
// "Device.Example.".
type Register struct {
	AllowPartial bool
	Paths        []string
}

// MsgType returns REGISTER.
func (Register) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_REGISTER }

// Build returns the Register message with msgID.
func (r Register) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.Register{AllowPartial: r.AllowPartial}
	for _, path := range r.Paths {
		p.RegPaths = append(p.RegPaths, &uspmsg.Register_RegistrationPath{Path: path})
	}
	return newRequest(msgID, uspmsg.Header_REGISTER, &uspmsg.Request{ReqType: &uspmsg.Request_Register{Register: p}})
}

func parseRegister(p *uspmsg.Register) *Register {
	r := &Register{AllowPartial: p.GetAllowPartial()}
	for _, rp := range p.GetRegPaths() {
		r.Paths = append(r.Paths, rp.GetPath())
	}
	return r
}

// RegisterResp answers a [Register]: one result per requested path.
type RegisterResp struct {
	Results []RegisterResult
}

// RegisterResult is the outcome of one requested path: Err, or the path as
// registered.
type RegisterResult struct {
	Requested string
	Err       *Error
	Path      string
}

// MsgType returns REGISTER_RESP.
func (RegisterResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_REGISTER_RESP }

// Build returns the RegisterResp message answering the request with msgID.
func (r RegisterResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.RegisterResp{}
	for _, res := range r.Results {
		st := &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus{}
		if res.Err != nil {
			st.OperStatus = &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperationFailure{
					ErrCode: uint32(res.Err.Code), ErrMsg: res.Err.Message,
				},
			}
		} else {
			st.OperStatus = &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperSuccess{
				OperSuccess: &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperationSuccess{RegisteredPath: res.Path},
			}
		}
		p.RegisteredPathResults = append(p.RegisteredPathResults, &uspmsg.RegisterResp_RegisteredPathResult{
			RequestedPath: res.Requested, OperStatus: st,
		})
	}
	return newResponse(msgID, uspmsg.Header_REGISTER_RESP, &uspmsg.Response{RespType: &uspmsg.Response_RegisterResp{RegisterResp: p}})
}

func parseRegisterResp(p *uspmsg.RegisterResp) *RegisterResp {
	r := &RegisterResp{}
	for _, pr := range p.GetRegisteredPathResults() {
		res := RegisterResult{Requested: pr.GetRequestedPath()}
		st := pr.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			res.Err = &Error{Code: Code(f.GetErrCode()), Message: f.GetErrMsg()}
		} else {
			res.Path = st.GetOperSuccess().GetRegisteredPath()
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Failed returns the results whose path failed to register.
func (r RegisterResp) Failed() []RegisterResult {
	return filter(r.Results, func(res RegisterResult) bool { return res.Err != nil })
}

// Err joins the errors of the failed paths, each prefixed with its
// requested path, or returns nil.
func (r RegisterResp) Err() error {
	return joinErrs(r.Results, func(res RegisterResult) (string, *Error) { return res.Requested, res.Err })
}

// Deregister is sent by a USP Service to give up paths it registered; an
// empty path "" deregisters all of them.
type Deregister struct {
	Paths []string
}

// MsgType returns DEREGISTER.
func (Deregister) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_DEREGISTER }

// Build returns the Deregister message with msgID.
func (d Deregister) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_DEREGISTER, &uspmsg.Request{ReqType: &uspmsg.Request_Deregister{
		Deregister: &uspmsg.Deregister{Paths: copyStrings(d.Paths)},
	}})
}

func parseDeregister(p *uspmsg.Deregister) *Deregister {
	return &Deregister{Paths: copyStrings(p.GetPaths())}
}

// DeregisterResp answers a [Deregister]: one result per requested path.
type DeregisterResp struct {
	Results []DeregisterResult
}

// DeregisterResult is the outcome of one requested path: Err, or the paths
// deregistered.
type DeregisterResult struct {
	Requested string
	Err       *Error
	Paths     []string
}

// MsgType returns DEREGISTER_RESP.
func (DeregisterResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_DEREGISTER_RESP }

// Build returns the DeregisterResp message answering the request with msgID.
func (r DeregisterResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.DeregisterResp{}
	for _, res := range r.Results {
		st := &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus{}
		if res.Err != nil {
			st.OperStatus = &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperationFailure{
					ErrCode: uint32(res.Err.Code), ErrMsg: res.Err.Message,
				},
			}
		} else {
			st.OperStatus = &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperSuccess{
				OperSuccess: &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperationSuccess{
					DeregisteredPath: copyStrings(res.Paths),
				},
			}
		}
		p.DeregisteredPathResults = append(p.DeregisteredPathResults, &uspmsg.DeregisterResp_DeregisteredPathResult{
			RequestedPath: res.Requested, OperStatus: st,
		})
	}
	return newResponse(msgID, uspmsg.Header_DEREGISTER_RESP, &uspmsg.Response{RespType: &uspmsg.Response_DeregisterResp{DeregisterResp: p}})
}

func parseDeregisterResp(p *uspmsg.DeregisterResp) *DeregisterResp {
	r := &DeregisterResp{}
	for _, pr := range p.GetDeregisteredPathResults() {
		res := DeregisterResult{Requested: pr.GetRequestedPath()}
		st := pr.GetOperStatus()
		if f := st.GetOperFailure(); f != nil {
			res.Err = &Error{Code: Code(f.GetErrCode()), Message: f.GetErrMsg()}
		} else {
			res.Paths = copyStrings(st.GetOperSuccess().GetDeregisteredPath())
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Failed returns the results whose path failed to deregister.
func (r DeregisterResp) Failed() []DeregisterResult {
	return filter(r.Results, func(res DeregisterResult) bool { return res.Err != nil })
}

// Err joins the errors of the failed paths, each prefixed with its
// requested path, or returns nil.
func (r DeregisterResp) Err() error {
	return joinErrs(r.Results, func(res DeregisterResult) (string, *Error) { return res.Requested, res.Err })
}
