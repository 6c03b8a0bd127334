package msg

import (
	"strings"

	"github.com/gousp/gousp/proto/uspmsg"
)

// GetSupportedDM asks for the agent's supported data model (its schema)
// under object paths such as "Device.". FirstLevelOnly stops at the direct
// children; the Return flags select what each object lists.
type GetSupportedDM struct {
	Paths               []string
	FirstLevelOnly      bool
	ReturnCommands      bool
	ReturnEvents        bool
	ReturnParams        bool
	ReturnUniqueKeySets bool
}

// MsgType returns GET_SUPPORTED_DM.
func (GetSupportedDM) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_GET_SUPPORTED_DM }

// Build returns the GetSupportedDM message with msgID.
func (g GetSupportedDM) Build(msgID string) *uspmsg.Msg {
	return newRequest(msgID, uspmsg.Header_GET_SUPPORTED_DM, &uspmsg.Request{ReqType: &uspmsg.Request_GetSupportedDm{
		GetSupportedDm: &uspmsg.GetSupportedDM{
			ObjPaths: copyStrings(g.Paths), FirstLevelOnly: g.FirstLevelOnly,
			ReturnCommands: g.ReturnCommands, ReturnEvents: g.ReturnEvents,
			ReturnParams: g.ReturnParams, ReturnUniqueKeySets: g.ReturnUniqueKeySets,
		},
	}})
}

func parseGetSupportedDM(p *uspmsg.GetSupportedDM) *GetSupportedDM {
	return &GetSupportedDM{
		Paths: copyStrings(p.GetObjPaths()), FirstLevelOnly: p.GetFirstLevelOnly(),
		ReturnCommands: p.GetReturnCommands(), ReturnEvents: p.GetReturnEvents(),
		ReturnParams: p.GetReturnParams(), ReturnUniqueKeySets: p.GetReturnUniqueKeySets(),
	}
}

// ObjAccess says whether a controller may add or delete instances of an
// object. Values are the wire numbers; OBJ_READ_ONLY (0) is absent on the
// wire.
type ObjAccess int32

// Object access kinds.
const (
	ObjReadOnly   ObjAccess = 0
	ObjAddDelete  ObjAccess = 1
	ObjAddOnly    ObjAccess = 2
	ObjDeleteOnly ObjAccess = 3
)

// String returns the enum name without its prefix, e.g. "ADD_DELETE".
func (a ObjAccess) String() string {
	return strings.TrimPrefix(uspmsg.GetSupportedDMResp_ObjAccessType(a).String(), "OBJ_")
}

// ParamAccess says whether a parameter may be read or written. Values are
// the wire numbers.
type ParamAccess int32

// Parameter access kinds.
const (
	ParamReadOnly  ParamAccess = 0
	ParamReadWrite ParamAccess = 1
	ParamWriteOnly ParamAccess = 2
)

// String returns the enum name without its prefix, e.g. "READ_WRITE".
func (a ParamAccess) String() string {
	return strings.TrimPrefix(uspmsg.GetSupportedDMResp_ParamAccessType(a).String(), "PARAM_")
}

// ParamType is the TR-106 type of a parameter. Values are the wire numbers.
type ParamType int32

// Parameter types.
const (
	TypeUnknown      ParamType = 0
	TypeBase64       ParamType = 1
	TypeBoolean      ParamType = 2
	TypeDateTime     ParamType = 3
	TypeDecimal      ParamType = 4
	TypeHexBinary    ParamType = 5
	TypeInt          ParamType = 6
	TypeLong         ParamType = 7
	TypeString       ParamType = 8
	TypeUnsignedInt  ParamType = 9
	TypeUnsignedLong ParamType = 10
)

var typeNames = [...]string{"unknown", "base64", "boolean", "dateTime", "decimal", "hexBinary",
	"int", "long", "string", "unsignedInt", "unsignedLong"}

// String returns the TR-106 type name, e.g. "unsignedInt".
func (t ParamType) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return uspmsg.GetSupportedDMResp_ParamValueType(t).String()
}

// ValueChangeType says whether a parameter may be watched with a
// ValueChange subscription. Values are the wire numbers.
type ValueChangeType int32

// Value change support.
const (
	ValueChangeUnknown    ValueChangeType = 0
	ValueChangeAllowed    ValueChangeType = 1
	ValueChangeWillIgnore ValueChangeType = 2
)

// String returns the enum name without its prefix, e.g. "ALLOWED".
func (v ValueChangeType) String() string {
	return strings.TrimPrefix(uspmsg.GetSupportedDMResp_ValueChangeType(v).String(), "VALUE_CHANGE_")
}

// CommandType says whether a command runs synchronously. Values are the
// wire numbers.
type CommandType int32

// Command kinds.
const (
	CmdUnknown CommandType = 0
	CmdSync    CommandType = 1
	CmdAsync   CommandType = 2
)

// String returns "UNKNOWN", "SYNC" or "ASYNC".
func (c CommandType) String() string {
	return strings.TrimPrefix(uspmsg.GetSupportedDMResp_CmdType(c).String(), "CMD_")
}

// GetSupportedDMResp answers a [GetSupportedDM]: one result per requested
// path.
type GetSupportedDMResp struct {
	Results []SupportedDMResult
}

// SupportedDMResult is the outcome of one requested path: Err, or the
// data model URI and the supported objects in the agent's order. Objects
// are listed flat; [SupportedDMResult.Tree] nests them.
type SupportedDMResult struct {
	Requested        string
	Err              *Error
	DataModelInstURI string
	Objects          []SupportedObject
}

// SupportedObject describes one object of the supported data model. Path
// uses "{i}" for instance numbers ("Device.LocalAgent.Controller.{i}.").
type SupportedObject struct {
	Path           string
	Access         ObjAccess
	MultiInstance  bool
	Commands       []SupportedCommand
	Events         []SupportedEvent
	Params         []SupportedParam
	DivergentPaths []string
	UniqueKeySets  [][]string
}

// SupportedParam describes one parameter of a [SupportedObject].
type SupportedParam struct {
	Name        string
	Access      ParamAccess
	Type        ParamType
	ValueChange ValueChangeType
}

// SupportedCommand describes one command, e.g. "Reboot()".
type SupportedCommand struct {
	Name    string
	Inputs  []string
	Outputs []string
	Type    CommandType
}

// SupportedEvent describes one event, e.g. "Boot!".
type SupportedEvent struct {
	Name string
	Args []string
}

// MsgType returns GET_SUPPORTED_DM_RESP.
func (GetSupportedDMResp) MsgType() uspmsg.Header_MsgType {
	return uspmsg.Header_GET_SUPPORTED_DM_RESP
}

// Build returns the GetSupportedDMResp message answering the request with
// msgID.
func (r GetSupportedDMResp) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.GetSupportedDMResp{}
	for _, res := range r.Results {
		code, text := errCode(res.Err)
		pr := &uspmsg.GetSupportedDMResp_RequestedObjectResult{
			ReqObjPath: res.Requested, ErrCode: code, ErrMsg: text, DataModelInstUri: res.DataModelInstURI,
		}
		for _, o := range res.Objects {
			pr.SupportedObjs = append(pr.SupportedObjs, o.proto())
		}
		p.ReqObjResults = append(p.ReqObjResults, pr)
	}
	return newResponse(msgID, uspmsg.Header_GET_SUPPORTED_DM_RESP, &uspmsg.Response{RespType: &uspmsg.Response_GetSupportedDmResp{GetSupportedDmResp: p}})
}

func (o SupportedObject) proto() *uspmsg.GetSupportedDMResp_SupportedObjectResult {
	po := &uspmsg.GetSupportedDMResp_SupportedObjectResult{
		SupportedObjPath: o.Path,
		Access:           uspmsg.GetSupportedDMResp_ObjAccessType(o.Access),
		IsMultiInstance:  o.MultiInstance,
		DivergentPaths:   copyStrings(o.DivergentPaths),
	}
	for _, c := range o.Commands {
		po.SupportedCommands = append(po.SupportedCommands, &uspmsg.GetSupportedDMResp_SupportedCommandResult{
			CommandName: c.Name, InputArgNames: copyStrings(c.Inputs), OutputArgNames: copyStrings(c.Outputs),
			CommandType: uspmsg.GetSupportedDMResp_CmdType(c.Type),
		})
	}
	for _, e := range o.Events {
		po.SupportedEvents = append(po.SupportedEvents, &uspmsg.GetSupportedDMResp_SupportedEventResult{
			EventName: e.Name, ArgNames: copyStrings(e.Args),
		})
	}
	for _, prm := range o.Params {
		po.SupportedParams = append(po.SupportedParams, &uspmsg.GetSupportedDMResp_SupportedParamResult{
			ParamName:   prm.Name,
			Access:      uspmsg.GetSupportedDMResp_ParamAccessType(prm.Access),
			ValueType:   uspmsg.GetSupportedDMResp_ParamValueType(prm.Type),
			ValueChange: uspmsg.GetSupportedDMResp_ValueChangeType(prm.ValueChange),
		})
	}
	for _, ks := range o.UniqueKeySets {
		po.UniqueKeySets = append(po.UniqueKeySets, &uspmsg.GetSupportedDMResp_SupportedUniqueKeySet{KeyNames: copyStrings(ks)})
	}
	return po
}

func parseSupportedObject(po *uspmsg.GetSupportedDMResp_SupportedObjectResult) SupportedObject {
	o := SupportedObject{
		Path:           po.GetSupportedObjPath(),
		Access:         ObjAccess(po.GetAccess()),
		MultiInstance:  po.GetIsMultiInstance(),
		DivergentPaths: copyStrings(po.GetDivergentPaths()),
	}
	for _, c := range po.GetSupportedCommands() {
		o.Commands = append(o.Commands, SupportedCommand{
			Name: c.GetCommandName(), Inputs: copyStrings(c.GetInputArgNames()),
			Outputs: copyStrings(c.GetOutputArgNames()), Type: CommandType(c.GetCommandType()),
		})
	}
	for _, e := range po.GetSupportedEvents() {
		o.Events = append(o.Events, SupportedEvent{Name: e.GetEventName(), Args: copyStrings(e.GetArgNames())})
	}
	for _, prm := range po.GetSupportedParams() {
		o.Params = append(o.Params, SupportedParam{
			Name: prm.GetParamName(), Access: ParamAccess(prm.GetAccess()),
			Type: ParamType(prm.GetValueType()), ValueChange: ValueChangeType(prm.GetValueChange()),
		})
	}
	for _, ks := range po.GetUniqueKeySets() {
		// Keep an empty key set as an empty, non-nil slice so it survives
		// a round trip as one entry.
		o.UniqueKeySets = append(o.UniqueKeySets, append([]string{}, ks.GetKeyNames()...))
	}
	return o
}

func parseGetSupportedDMResp(p *uspmsg.GetSupportedDMResp) *GetSupportedDMResp {
	r := &GetSupportedDMResp{}
	for _, pr := range p.GetReqObjResults() {
		res := SupportedDMResult{
			Requested: pr.GetReqObjPath(), Err: codeErr(pr.GetErrCode(), pr.GetErrMsg()),
			DataModelInstURI: pr.GetDataModelInstUri(),
		}
		for _, po := range pr.GetSupportedObjs() {
			res.Objects = append(res.Objects, parseSupportedObject(po))
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Failed returns the results whose requested path failed.
func (r GetSupportedDMResp) Failed() []SupportedDMResult {
	return filter(r.Results, func(res SupportedDMResult) bool { return res.Err != nil })
}

// Err joins the errors of the failed paths, each prefixed with its
// requested path, or returns nil.
func (r GetSupportedDMResp) Err() error {
	return joinErrs(r.Results, func(res SupportedDMResult) (string, *Error) { return res.Requested, res.Err })
}

// Object returns the supported object with the given path ("{i}" form)
// from any successful result.
func (r GetSupportedDMResp) Object(path string) (SupportedObject, bool) {
	for _, res := range r.Results {
		if o, ok := res.Object(path); ok {
			return o, true
		}
	}
	return SupportedObject{}, false
}

// Object returns the supported object with the given path ("{i}" form).
func (r SupportedDMResult) Object(path string) (SupportedObject, bool) {
	for _, o := range r.Objects {
		if o.Path == path {
			return o, true
		}
	}
	return SupportedObject{}, false
}

// DMNode is one object of the tree [SupportedDMResult.Tree] builds.
type DMNode struct {
	Object   SupportedObject
	Children []*DMNode
}

// Tree nests the objects of r under their parents ("Device.LocalAgent.
// Controller.{i}." under "Device.LocalAgent."). Objects whose parent is not
// in the result become roots, so a first-level or instance query still
// gives a usable tree. Order follows the response.
func (r SupportedDMResult) Tree() []*DMNode {
	nodes := make(map[string]*DMNode, len(r.Objects))
	all := make([]*DMNode, 0, len(r.Objects))
	for _, o := range r.Objects {
		n := &DMNode{Object: o}
		all = append(all, n)
		if _, dup := nodes[o.Path]; !dup {
			nodes[o.Path] = n
		}
	}
	var roots []*DMNode
	for _, n := range all {
		parent, ok := nodes[parentObject(n.Object.Path)]
		if ok && parent != n {
			parent.Children = append(parent.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return roots
}

// Walk calls f for n and every node below it, depth first, parents before
// children, and stops when f returns false.
func (n *DMNode) Walk(f func(*DMNode) bool) bool {
	if !f(n) {
		return false
	}
	for _, c := range n.Children {
		if !c.Walk(f) {
			return false
		}
	}
	return true
}

// parentObject returns the supported path of the object containing path:
// "A.B.{i}.C." -> "A.B.{i}.", "A.B.{i}." -> "A.", "Device." -> "".
func parentObject(path string) string {
	p := strings.TrimSuffix(path, ".")
	p = strings.TrimSuffix(p, ".{i}")
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return ""
	}
	return p[:i+1]
}
