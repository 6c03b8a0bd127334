package msg

import "github.com/gousp/gousp/proto/uspmsg"

// Notify is a notification an agent sends. SubscriptionID names the
// Subscription that caused it (empty for [OnBoardRequest]); SendResp=true
// means the receiver must answer with a [NotifyResp] or the agent keeps
// resending it.
type Notify struct {
	SubscriptionID string
	SendResp       bool
	Notification   Notification
}

// Notification is one of the six notification kinds: [*Event],
// [*ValueChange], [*ObjectCreation], [*ObjectDeletion], [*OperationComplete]
// and [*OnBoardRequest].
type Notification interface {
	// Kind returns the name the spec and the Subscription NotifType
	// parameter use: "Event", "ValueChange", "ObjectCreation",
	// "ObjectDeletion", "OperationComplete" or "OnBoardRequest".
	Kind() string
	set(n *uspmsg.Notify)
}

// Event is an event notification, e.g. ObjPath "Device." and EventName
// "Boot!" with its arguments in Params.
type Event struct {
	ObjPath   string
	EventName string
	Params    map[string]string
}

// Path returns the full event path, e.g. "Device.Boot!".
func (e *Event) Path() string { return e.ObjPath + e.EventName }

// ValueChange reports a new parameter value.
type ValueChange struct {
	ParamPath  string
	ParamValue string
}

// ObjectCreation reports a new instance and its unique keys.
type ObjectCreation struct {
	ObjPath    string
	UniqueKeys map[string]string
}

// ObjectDeletion reports a deleted instance.
type ObjectDeletion struct {
	ObjPath string
}

// OperationComplete reports the end of an asynchronous command: ObjPath
// "Device." and CommandName "SelfTestDiagnostics()" with the CommandKey
// given in the [Operate]. Err is set when the command failed; otherwise
// OutputArgs holds its results (non-nil after parsing, possibly empty).
type OperationComplete struct {
	ObjPath     string
	CommandName string
	CommandKey  string
	OutputArgs  map[string]string
	Err         *Error
}

// Path returns the full command path, e.g. "Device.SelfTestDiagnostics()".
func (o *OperationComplete) Path() string { return o.ObjPath + o.CommandName }

// OnBoardRequest asks a controller to take an agent on board. It comes with
// an empty SubscriptionID and SendResp=true.
type OnBoardRequest struct {
	OUI                            string
	ProductClass                   string
	SerialNumber                   string
	AgentSupportedProtocolVersions string
}

// Kind returns "Event".
func (*Event) Kind() string { return "Event" }

// Kind returns "ValueChange".
func (*ValueChange) Kind() string { return "ValueChange" }

// Kind returns "ObjectCreation".
func (*ObjectCreation) Kind() string { return "ObjectCreation" }

// Kind returns "ObjectDeletion".
func (*ObjectDeletion) Kind() string { return "ObjectDeletion" }

// Kind returns "OperationComplete".
func (*OperationComplete) Kind() string { return "OperationComplete" }

// Kind returns "OnBoardRequest".
func (*OnBoardRequest) Kind() string { return "OnBoardRequest" }

func (e *Event) set(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_Event_{Event: &uspmsg.Notify_Event{
		ObjPath: e.ObjPath, EventName: e.EventName, Params: copyMap(e.Params),
	}}
}

func (v *ValueChange) set(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_ValueChange_{ValueChange: &uspmsg.Notify_ValueChange{
		ParamPath: v.ParamPath, ParamValue: v.ParamValue,
	}}
}

func (o *ObjectCreation) set(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_ObjCreation{ObjCreation: &uspmsg.Notify_ObjectCreation{
		ObjPath: o.ObjPath, UniqueKeys: copyMap(o.UniqueKeys),
	}}
}

func (o *ObjectDeletion) set(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_ObjDeletion{ObjDeletion: &uspmsg.Notify_ObjectDeletion{ObjPath: o.ObjPath}}
}

func (o *OperationComplete) set(n *uspmsg.Notify) {
	oc := &uspmsg.Notify_OperationComplete{ObjPath: o.ObjPath, CommandName: o.CommandName, CommandKey: o.CommandKey}
	if o.Err != nil {
		oc.OperationResp = &uspmsg.Notify_OperationComplete_CmdFailure{
			CmdFailure: &uspmsg.Notify_OperationComplete_CommandFailure{ErrCode: uint32(o.Err.Code), ErrMsg: o.Err.Message},
		}
	} else {
		oc.OperationResp = &uspmsg.Notify_OperationComplete_ReqOutputArgs{
			ReqOutputArgs: &uspmsg.Notify_OperationComplete_OutputArgs{OutputArgs: copyMap(o.OutputArgs)},
		}
	}
	n.Notification = &uspmsg.Notify_OperComplete{OperComplete: oc}
}

func (o *OnBoardRequest) set(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_OnBoardReq{OnBoardReq: &uspmsg.Notify_OnBoardRequest{
		Oui: o.OUI, ProductClass: o.ProductClass, SerialNumber: o.SerialNumber,
		AgentSupportedProtocolVersions: o.AgentSupportedProtocolVersions,
	}}
}

// MsgType returns NOTIFY.
func (Notify) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_NOTIFY }

// Build returns the Notify message with msgID. A nil Notification builds a
// Notify that [Validate] rejects.
func (n Notify) Build(msgID string) *uspmsg.Msg {
	p := &uspmsg.Notify{SubscriptionId: n.SubscriptionID, SendResp: n.SendResp}
	if n.Notification != nil {
		n.Notification.set(p)
	}
	return newRequest(msgID, uspmsg.Header_NOTIFY, &uspmsg.Request{ReqType: &uspmsg.Request_Notify{Notify: p}})
}

// Resp returns the [NotifyResp] that acknowledges n.
func (n Notify) Resp() NotifyResp { return NotifyResp{SubscriptionID: n.SubscriptionID} }

func parseNotify(p *uspmsg.Notify) *Notify {
	n := &Notify{SubscriptionID: p.GetSubscriptionId(), SendResp: p.GetSendResp()}
	switch v := p.GetNotification().(type) {
	case *uspmsg.Notify_Event_:
		n.Notification = &Event{ObjPath: v.Event.GetObjPath(), EventName: v.Event.GetEventName(), Params: copyMap(v.Event.GetParams())}
	case *uspmsg.Notify_ValueChange_:
		n.Notification = &ValueChange{ParamPath: v.ValueChange.GetParamPath(), ParamValue: v.ValueChange.GetParamValue()}
	case *uspmsg.Notify_ObjCreation:
		n.Notification = &ObjectCreation{ObjPath: v.ObjCreation.GetObjPath(), UniqueKeys: copyMap(v.ObjCreation.GetUniqueKeys())}
	case *uspmsg.Notify_ObjDeletion:
		n.Notification = &ObjectDeletion{ObjPath: v.ObjDeletion.GetObjPath()}
	case *uspmsg.Notify_OperComplete:
		oc := v.OperComplete
		o := &OperationComplete{ObjPath: oc.GetObjPath(), CommandName: oc.GetCommandName(), CommandKey: oc.GetCommandKey()}
		switch r := oc.GetOperationResp().(type) {
		case *uspmsg.Notify_OperationComplete_CmdFailure:
			o.Err = &Error{Code: Code(r.CmdFailure.GetErrCode()), Message: r.CmdFailure.GetErrMsg()}
		case *uspmsg.Notify_OperationComplete_ReqOutputArgs:
			o.OutputArgs = outputArgs(r.ReqOutputArgs.GetOutputArgs())
		}
		n.Notification = o
	case *uspmsg.Notify_OnBoardReq:
		ob := v.OnBoardReq
		n.Notification = &OnBoardRequest{
			OUI: ob.GetOui(), ProductClass: ob.GetProductClass(), SerialNumber: ob.GetSerialNumber(),
			AgentSupportedProtocolVersions: ob.GetAgentSupportedProtocolVersions(),
		}
	}
	return n
}

// NotifyResp acknowledges a [Notify] with SendResp=true; SubscriptionID
// echoes the Notify's, even when empty.
type NotifyResp struct {
	SubscriptionID string
}

// MsgType returns NOTIFY_RESP.
func (NotifyResp) MsgType() uspmsg.Header_MsgType { return uspmsg.Header_NOTIFY_RESP }

// Build returns the NotifyResp message answering the Notify with msgID.
func (r NotifyResp) Build(msgID string) *uspmsg.Msg {
	return newResponse(msgID, uspmsg.Header_NOTIFY_RESP, &uspmsg.Response{RespType: &uspmsg.Response_NotifyResp{
		NotifyResp: &uspmsg.NotifyResp{SubscriptionId: r.SubscriptionID},
	}})
}

func parseNotifyResp(p *uspmsg.NotifyResp) *NotifyResp {
	return &NotifyResp{SubscriptionID: p.GetSubscriptionId()}
}
