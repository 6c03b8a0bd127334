package msg

import (
	"maps"

	"github.com/gousp/gousp/proto/uspmsg"
)

// Operate runs a command ("Device.Reboot()", wildcards allowed). CommandKey
// is echoed in the OperationComplete notification of asynchronous commands;
// SendResp=false asks the agent not to send an [OperateResp].
type Operate struct {
	Command    string
	CommandKey string
	SendResp   bool
	Args       map[string]string
}

// MsgType returns OPERATE.
func (Operate) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_OPERATE }

// Build returns the Operate message with msgID.
func (o Operate) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_OPERATE, &uspmsg.Request{ReqType: &uspmsg.Request_Operate{
		Operate: &uspmsg.Operate{
			Command: o.Command, CommandKey: o.CommandKey, SendResp: o.SendResp, InputArgs: copyMap(o.Args),
		},
	}})
}

func parseOperate(p *uspmsg.Operate) *Operate {
	return &Operate{
		Command: p.GetCommand(), CommandKey: p.GetCommandKey(), SendResp: p.GetSendResp(),
		Args: copyMap(p.GetInputArgs()),
	}
}

// OperateResp answers an [Operate]: one result per command executed (a
// wildcard command runs once per matching instance).
type OperateResp struct {
	Results []OperateResult
}

// OperateResult is the outcome of one executed command, exactly one of:
//   - Err set: the command failed;
//   - RequestObjPath set: an asynchronous command started, tracked by that
//     Request object (obuspa sends it without a trailing dot); its outcome
//     comes later in an [OperationComplete] notification;
//   - otherwise: a synchronous command succeeded with OutputArgs (non-nil
//     after parsing, possibly empty).
type OperateResult struct {
	ExecutedCommand string
	RequestObjPath  string
	OutputArgs      map[string]string
	Err             *Error
}

// Outcome tells which of the three outcomes an [OperateResult] holds.
type Outcome int

// The outcomes of an [OperateResult].
const (
	OutcomeSync   Outcome = iota // synchronous success with output arguments
	OutcomeAsync                 // asynchronous command started
	OutcomeFailed                // command failed
)

// String returns "sync", "async" or "failed".
func (o Outcome) String() string {
	switch o {
	case OutcomeSync:
		return "sync"
	case OutcomeAsync:
		return "async"
	case OutcomeFailed:
		return "failed"
	}
	return "unknown"
}

// Outcome returns which field of r holds its result.
func (r OperateResult) Outcome() Outcome {
	switch {
	case r.Err != nil:
		return OutcomeFailed
	case r.RequestObjPath != "":
		return OutcomeAsync
	}
	return OutcomeSync
}

// MsgType returns OPERATE_RESP.
func (OperateResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_OPERATE_RESP }

// Build returns the OperateResp message answering the request with msgID.
func (r OperateResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.OperateResp{}
	for _, res := range r.Results {
		pr := &uspmsg.OperateResp_OperationResult{ExecutedCommand: res.ExecutedCommand}
		switch res.Outcome() {
		case OutcomeFailed:
			pr.OperationResp = &uspmsg.OperateResp_OperationResult_CmdFailure{
				CmdFailure: &uspmsg.OperateResp_OperationResult_CommandFailure{
					ErrCode: uint32(res.Err.Code), ErrMsg: res.Err.Message,
				},
			}
		case OutcomeAsync:
			pr.OperationResp = &uspmsg.OperateResp_OperationResult_ReqObjPath{ReqObjPath: res.RequestObjPath}
		default:
			pr.OperationResp = &uspmsg.OperateResp_OperationResult_ReqOutputArgs{
				ReqOutputArgs: &uspmsg.OperateResp_OperationResult_OutputArgs{OutputArgs: copyMap(res.OutputArgs)},
			}
		}
		p.OperationResults = append(p.OperationResults, pr)
	}
	return newResponse(msgID, uspmsg.Header_OPERATE_RESP, &uspmsg.Response{RespType: &uspmsg.Response_OperateResp{OperateResp: p}})
}

func parseOperateResp(p *uspmsg.OperateResp) *OperateResp {
	r := &OperateResp{}
	for _, pr := range p.GetOperationResults() {
		res := OperateResult{ExecutedCommand: pr.GetExecutedCommand()}
		switch v := pr.GetOperationResp().(type) {
		case *uspmsg.OperateResp_OperationResult_CmdFailure:
			res.Err = &Error{Code: Code(v.CmdFailure.GetErrCode()), Message: v.CmdFailure.GetErrMsg()}
		case *uspmsg.OperateResp_OperationResult_ReqObjPath:
			res.RequestObjPath = v.ReqObjPath
		case *uspmsg.OperateResp_OperationResult_ReqOutputArgs:
			res.OutputArgs = outputArgs(v.ReqOutputArgs.GetOutputArgs())
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// outputArgs keeps "synchronous success with no arguments" distinguishable
// from "no outcome" by returning a non-nil map.
func outputArgs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

// Failed returns the results whose command failed.
func (r OperateResp) Failed() []OperateResult {
	return filter(r.Results, func(res OperateResult) bool { return res.Err != nil })
}

// Err joins the errors of the failed commands, each prefixed with its
// executed command, or returns nil.
func (r OperateResp) Err() error {
	return joinErrs(r.Results, func(res OperateResult) (string, *Error) { return res.ExecutedCommand, res.Err })
}
