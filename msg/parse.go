package msg

import (
	"fmt"

	"github.com/gousp/gousp/proto/uspmsg"
)

// Parse validates m and returns its typed form: *Get, *Set, *Add, *Delete,
// *Operate, *GetSupportedDM, *GetInstances, *GetSupportedProtocol,
// *Register, *Deregister or *Notify for requests; *GetResp, *SetResp,
// *AddResp, *DeleteResp, *OperateResp, *GetSupportedDMResp,
// *GetInstancesResp, *GetSupportedProtocolResp, *NotifyResp, *RegisterResp
// or *DeregisterResp for responses; *Error for an Error message (returned
// as the Message, not as the error).
func Parse(m *uspmsg.Msg) (Message, error) {
	if err := Validate(m); err != nil {
		return nil, err
	}
	b := m.GetBody()
	if e := b.GetError(); e != nil {
		return parseError(e), nil
	}
	if r := b.GetRequest(); r != nil {
		switch q := r.GetReqType().(type) {
		case *uspmsg.Request_Get:
			return parseGet(q.Get), nil
		case *uspmsg.Request_GetSupportedDm:
			return parseGetSupportedDM(q.GetSupportedDm), nil
		case *uspmsg.Request_GetInstances:
			return parseGetInstances(q.GetInstances), nil
		case *uspmsg.Request_Set:
			return parseSet(q.Set), nil
		case *uspmsg.Request_Add:
			return parseAdd(q.Add), nil
		case *uspmsg.Request_Delete:
			return parseDelete(q.Delete), nil
		case *uspmsg.Request_Operate:
			return parseOperate(q.Operate), nil
		case *uspmsg.Request_Notify:
			return parseNotify(q.Notify), nil
		case *uspmsg.Request_GetSupportedProtocol:
			return parseGetSupportedProtocol(q.GetSupportedProtocol), nil
		case *uspmsg.Request_Register:
			return parseRegister(q.Register), nil
		case *uspmsg.Request_Deregister:
			return parseDeregister(q.Deregister), nil
		}
	}
	switch q := b.GetResponse().GetRespType().(type) {
	case *uspmsg.Response_GetResp:
		return parseGetResp(q.GetResp), nil
	case *uspmsg.Response_GetSupportedDmResp:
		return parseGetSupportedDMResp(q.GetSupportedDmResp), nil
	case *uspmsg.Response_GetInstancesResp:
		return parseGetInstancesResp(q.GetInstancesResp), nil
	case *uspmsg.Response_SetResp:
		return parseSetResp(q.SetResp), nil
	case *uspmsg.Response_AddResp:
		return parseAddResp(q.AddResp), nil
	case *uspmsg.Response_DeleteResp:
		return parseDeleteResp(q.DeleteResp), nil
	case *uspmsg.Response_OperateResp:
		return parseOperateResp(q.OperateResp), nil
	case *uspmsg.Response_NotifyResp:
		return parseNotifyResp(q.NotifyResp), nil
	case *uspmsg.Response_GetSupportedProtocolResp:
		return parseGetSupportedProtocolResp(q.GetSupportedProtocolResp), nil
	case *uspmsg.Response_RegisterResp:
		return parseRegisterResp(q.RegisterResp), nil
	case *uspmsg.Response_DeregisterResp:
		return parseDeregisterResp(q.DeregisterResp), nil
	}
	// Validate accepted the body, so this is unreachable; fail softly anyway.
	return nil, &ValidationError{MsgID: m.GetHeader().GetMsgId(), Reason: "unhandled body"}
}

// ParseAs parses m and returns it as T (for example *GetResp). An Error
// message is returned as the error (an *Error, so errors.Is against the
// Err* sentinels works); any other kind than T gives [ErrUnexpectedType].
func ParseAs[T Message](m *uspmsg.Msg) (T, error) {
	var zero T
	v, err := Parse(m)
	if err != nil {
		return zero, err
	}
	if e, ok := v.(*Error); ok {
		if _, wantErr := any(zero).(*Error); !wantErr {
			return zero, e
		}
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%w: got %v, want %T", ErrUnexpectedType, v.MsgType(), zero)
	}
	return t, nil
}

// ParseResponse parses m as the answer to a request of type req: the
// matching response (as a Message) or the *Error of an Error message (as
// the error). Any other kind gives [ErrUnexpectedType].
func ParseResponse(m *uspmsg.Msg, req uspmsg.Header_MsgType) (Message, error) {
	v, err := Parse(m)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(*Error); ok {
		return nil, e
	}
	if want := ResponseType(req); !IsRequest(req) || v.MsgType() != want {
		return nil, fmt.Errorf("%w: got %v in answer to %v", ErrUnexpectedType, v.MsgType(), req)
	}
	return v, nil
}

// ParseGetResp parses the answer to a [Get]; see [ParseAs].
func ParseGetResp(m *uspmsg.Msg) (*GetResp, error) { return ParseAs[*GetResp](m) }

// ParseSetResp parses the answer to a [Set]; see [ParseAs].
func ParseSetResp(m *uspmsg.Msg) (*SetResp, error) { return ParseAs[*SetResp](m) }

// ParseAddResp parses the answer to an [Add]; see [ParseAs].
func ParseAddResp(m *uspmsg.Msg) (*AddResp, error) { return ParseAs[*AddResp](m) }

// ParseDeleteResp parses the answer to a [Delete]; see [ParseAs].
func ParseDeleteResp(m *uspmsg.Msg) (*DeleteResp, error) { return ParseAs[*DeleteResp](m) }

// ParseOperateResp parses the answer to an [Operate]; see [ParseAs].
func ParseOperateResp(m *uspmsg.Msg) (*OperateResp, error) { return ParseAs[*OperateResp](m) }

// ParseGetSupportedDMResp parses the answer to a [GetSupportedDM]; see
// [ParseAs].
func ParseGetSupportedDMResp(m *uspmsg.Msg) (*GetSupportedDMResp, error) {
	return ParseAs[*GetSupportedDMResp](m)
}

// ParseGetInstancesResp parses the answer to a [GetInstances]; see
// [ParseAs].
func ParseGetInstancesResp(m *uspmsg.Msg) (*GetInstancesResp, error) {
	return ParseAs[*GetInstancesResp](m)
}

// ParseGetSupportedProtocolResp parses the answer to a
// [GetSupportedProtocol]; see [ParseAs].
func ParseGetSupportedProtocolResp(m *uspmsg.Msg) (*GetSupportedProtocolResp, error) {
	return ParseAs[*GetSupportedProtocolResp](m)
}

// ParseNotifyResp parses the answer to a [Notify]; see [ParseAs].
func ParseNotifyResp(m *uspmsg.Msg) (*NotifyResp, error) { return ParseAs[*NotifyResp](m) }

// ParseRegisterResp parses the answer to a [Register]; see [ParseAs].
func ParseRegisterResp(m *uspmsg.Msg) (*RegisterResp, error) { return ParseAs[*RegisterResp](m) }

// ParseDeregisterResp parses the answer to a [Deregister]; see [ParseAs].
func ParseDeregisterResp(m *uspmsg.Msg) (*DeregisterResp, error) {
	return ParseAs[*DeregisterResp](m)
}

// ParseNotify parses a [Notify] sent by an agent; see [ParseAs].
func ParseNotify(m *uspmsg.Msg) (*Notify, error) { return ParseAs[*Notify](m) }
