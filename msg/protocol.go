package msg

import (
	"strings"

	"github.com/gousp/gousp/proto/uspmsg"
)

// GetSupportedProtocol tells the agent which USP versions the controller
// supports (comma-separated, e.g. "1.3,1.4") and asks for the agent's.
type GetSupportedProtocol struct {
	Versions string
}

// MsgType returns GET_SUPPORTED_PROTO.
func (GetSupportedProtocol) MsgType() uspmsg.Header_MsgType {
	return uspmsg.Header_GET_SUPPORTED_PROTO
}

// Build returns the GetSupportedProtocol message with msgID.
func (g GetSupportedProtocol) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_GET_SUPPORTED_PROTO, &uspmsg.Request{ReqType: &uspmsg.Request_GetSupportedProtocol{
		GetSupportedProtocol: &uspmsg.GetSupportedProtocol{ControllerSupportedProtocolVersions: g.Versions},
	}})
}

func parseGetSupportedProtocol(p *uspmsg.GetSupportedProtocol) *GetSupportedProtocol {
	return &GetSupportedProtocol{Versions: p.GetControllerSupportedProtocolVersions()}
}

// GetSupportedProtocolResp carries the agent's USP versions,
// comma-separated (obuspa sends "1.0,1.1,1.2,1.3").
type GetSupportedProtocolResp struct {
	Versions string
}

// MsgType returns GET_SUPPORTED_PROTO_RESP.
func (GetSupportedProtocolResp) MsgType() uspmsg.Header_MsgType {
	return uspmsg.Header_GET_SUPPORTED_PROTO_RESP
}

// Build returns the GetSupportedProtocolResp message answering the request
// with msgID.
func (r GetSupportedProtocolResp) Build(msgID string) *uspmsg.Msg {
	return newResponse(msgID, uspmsg.Header_GET_SUPPORTED_PROTO_RESP, &uspmsg.Response{RespType: &uspmsg.Response_GetSupportedProtocolResp{
		GetSupportedProtocolResp: &uspmsg.GetSupportedProtocolResp{AgentSupportedProtocolVersions: r.Versions},
	}})
}

func parseGetSupportedProtocolResp(p *uspmsg.GetSupportedProtocolResp) *GetSupportedProtocolResp {
	return &GetSupportedProtocolResp{Versions: p.GetAgentSupportedProtocolVersions()}
}

// VersionList splits a comma-separated version list, trimming spaces and
// dropping empty entries.
func VersionList(versions string) []string {
	var out []string
	for v := range strings.SplitSeq(versions, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
