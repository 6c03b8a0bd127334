package msg

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gousp/gousp/internal/pbfast"
	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/proto"
)

// Errors of decoding and validation; test with errors.Is.
var (
	// ErrDecode means the bytes are not a protobuf usp.Msg.
	ErrDecode = errors.New("msg: cannot decode message")
	// ErrInvalid means the message decoded but breaks a rule of the
	// specification; the error is a [*ValidationError].
	ErrInvalid = errors.New("msg: invalid message")
	// ErrUnexpectedType means a valid message is not of the kind asked for.
	ErrUnexpectedType = errors.New("msg: unexpected message type")
)

// ValidationError tells why [Validate] rejected a message. MsgID is the
// message's msg_id when it has one, so that a receiver can still answer
// with an Error message.
type ValidationError struct {
	MsgID  string
	Reason string
}

// Error renders e as `msg: invalid message "id": reason`.
func (e *ValidationError) Error() string {
	if e.MsgID == "" {
		return ErrInvalid.Error() + ": " + e.Reason
	}
	return ErrInvalid.Error() + " " + strconv.Quote(e.MsgID) + ": " + e.Reason
}

// Unwrap returns [ErrInvalid].
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Decode unmarshals a usp.Msg (the payload of a USP Record) and validates
// it. When the bytes decode but the message is invalid, Decode returns the
// message together with the [*ValidationError].
func Decode(b []byte) (*uspmsg.Msg, error) {
	m := &uspmsg.Msg{}
	// pbfast decodes with the generated code, not reflection, and accepts
	// and rejects exactly what proto.Unmarshal does.
	if err := pbfast.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if err := Validate(m); err != nil {
		return m, err
	}
	return m, nil
}

// Encode marshals m deterministically (map entries in key order).
func Encode(m *uspmsg.Msg) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Validate checks the rules a receiver relies on: a header with a non-empty
// msg_id and a known msg_type, a body whose kind agrees with msg_type, and
// the fields each kind requires (object paths of Set and Add, the command
// of Operate, the notification of Notify, one outcome per result in
// responses, non-zero error codes). ERROR is 0 and so absent on the wire:
// an Error message without msg_type is valid.
func Validate(m *uspmsg.Msg) error {
	if m == nil {
		return &ValidationError{Reason: "nil message"}
	}
	h := m.GetHeader()
	if h == nil {
		return &ValidationError{Reason: "missing header"}
	}
	v := validator{id: h.GetMsgId()}
	if v.id == "" {
		return v.fail("empty msg_id")
	}
	t := h.GetMsgType()
	if _, ok := uspmsg.Header_MsgType_name[int32(t)]; !ok {
		return v.fail("unknown msg_type " + strconv.Itoa(int(t)))
	}
	body, err := bodyType(m)
	if err != "" {
		return v.fail(err)
	}
	if body != t {
		return v.fail(fmt.Sprintf("header msg_type %v does not match body %v", t, body))
	}
	v.body(m.GetBody())
	return v.err
}

// bodyType returns the message type the body holds, or why it holds none.
func bodyType(m *uspmsg.Msg) (uspmsg.Header_MsgType, string) {
	b := m.GetBody()
	switch b.GetMsgBody().(type) {
	case *uspmsg.Body_Error:
		return uspmsg.Header_ERROR, ""
	case *uspmsg.Body_Request:
		if t, ok := requestBodyType(b.GetRequest()); ok {
			return t, ""
		}
		return 0, "request body holds no known request"
	case *uspmsg.Body_Response:
		if t, ok := responseBodyType(b.GetResponse()); ok {
			return t, ""
		}
		return 0, "response body holds no known response"
	}
	if b == nil {
		return 0, "missing body"
	}
	return 0, "empty body"
}

func requestBodyType(r *uspmsg.Request) (uspmsg.Header_MsgType, bool) {
	switch r.GetReqType().(type) {
	case *uspmsg.Request_Get:
		return uspmsg.Header_GET, true
	case *uspmsg.Request_GetSupportedDm:
		return uspmsg.Header_GET_SUPPORTED_DM, true
	case *uspmsg.Request_GetInstances:
		return uspmsg.Header_GET_INSTANCES, true
	case *uspmsg.Request_Set:
		return uspmsg.Header_SET, true
	case *uspmsg.Request_Add:
		return uspmsg.Header_ADD, true
	case *uspmsg.Request_Delete:
		return uspmsg.Header_DELETE, true
	case *uspmsg.Request_Operate:
		return uspmsg.Header_OPERATE, true
	case *uspmsg.Request_Notify:
		return uspmsg.Header_NOTIFY, true
	case *uspmsg.Request_GetSupportedProtocol:
		return uspmsg.Header_GET_SUPPORTED_PROTO, true
	case *uspmsg.Request_Register:
		return uspmsg.Header_REGISTER, true
	case *uspmsg.Request_Deregister:
		return uspmsg.Header_DEREGISTER, true
	}
	return 0, false
}

func responseBodyType(r *uspmsg.Response) (uspmsg.Header_MsgType, bool) {
	switch r.GetRespType().(type) {
	case *uspmsg.Response_GetResp:
		return uspmsg.Header_GET_RESP, true
	case *uspmsg.Response_GetSupportedDmResp:
		return uspmsg.Header_GET_SUPPORTED_DM_RESP, true
	case *uspmsg.Response_GetInstancesResp:
		return uspmsg.Header_GET_INSTANCES_RESP, true
	case *uspmsg.Response_SetResp:
		return uspmsg.Header_SET_RESP, true
	case *uspmsg.Response_AddResp:
		return uspmsg.Header_ADD_RESP, true
	case *uspmsg.Response_DeleteResp:
		return uspmsg.Header_DELETE_RESP, true
	case *uspmsg.Response_OperateResp:
		return uspmsg.Header_OPERATE_RESP, true
	case *uspmsg.Response_NotifyResp:
		return uspmsg.Header_NOTIFY_RESP, true
	case *uspmsg.Response_GetSupportedProtocolResp:
		return uspmsg.Header_GET_SUPPORTED_PROTO_RESP, true
	case *uspmsg.Response_RegisterResp:
		return uspmsg.Header_REGISTER_RESP, true
	case *uspmsg.Response_DeregisterResp:
		return uspmsg.Header_DEREGISTER_RESP, true
	}
	return 0, false
}

// validator keeps the first failure so that checks read as a flat list.
type validator struct {
	id  string
	err error
}

func (v *validator) fail(reason string) error {
	if v.err == nil {
		v.err = &ValidationError{MsgID: v.id, Reason: reason}
	}
	return v.err
}

func (v *validator) check(ok bool, format string, args ...any) {
	if !ok && v.err == nil {
		v.fail(fmt.Sprintf(format, args...))
	}
}

func (v *validator) body(b *uspmsg.Body) {
	switch b.GetMsgBody().(type) {
	case *uspmsg.Body_Error:
		e := b.GetError()
		v.check(e.GetErrCode() != 0, "error without err_code")
		for i, pe := range e.GetParamErrs() {
			v.check(pe.GetErrCode() != 0, "error param_errs[%d] without err_code", i)
		}
	case *uspmsg.Body_Request:
		v.request(b.GetRequest())
	case *uspmsg.Body_Response:
		v.response(b.GetResponse())
	}
}

func (v *validator) request(r *uspmsg.Request) {
	switch q := r.GetReqType().(type) {
	case *uspmsg.Request_Set:
		for i, o := range q.Set.GetUpdateObjs() {
			v.check(o.GetObjPath() != "", "set update_objs[%d] without obj_path", i)
			for j, p := range o.GetParamSettings() {
				v.check(p.GetParam() != "", "set update_objs[%d].param_settings[%d] without param", i, j)
			}
		}
	case *uspmsg.Request_Add:
		for i, o := range q.Add.GetCreateObjs() {
			v.check(o.GetObjPath() != "", "add create_objs[%d] without obj_path", i)
			for j, p := range o.GetParamSettings() {
				v.check(p.GetParam() != "", "add create_objs[%d].param_settings[%d] without param", i, j)
			}
		}
	case *uspmsg.Request_Operate:
		v.check(q.Operate.GetCommand() != "", "operate without command")
	case *uspmsg.Request_Notify:
		v.notify(q.Notify)
	}
}

func (v *validator) notify(n *uspmsg.Notify) {
	switch k := n.GetNotification().(type) {
	case *uspmsg.Notify_Event_:
		v.check(k.Event.GetObjPath() != "" && k.Event.GetEventName() != "", "event notification without obj_path or event_name")
	case *uspmsg.Notify_ValueChange_:
		v.check(k.ValueChange.GetParamPath() != "", "value_change notification without param_path")
	case *uspmsg.Notify_ObjCreation:
		v.check(k.ObjCreation.GetObjPath() != "", "obj_creation notification without obj_path")
	case *uspmsg.Notify_ObjDeletion:
		v.check(k.ObjDeletion.GetObjPath() != "", "obj_deletion notification without obj_path")
	case *uspmsg.Notify_OperComplete:
		oc := k.OperComplete
		v.check(oc.GetObjPath() != "" && oc.GetCommandName() != "", "oper_complete notification without obj_path or command_name")
		switch r := oc.GetOperationResp().(type) {
		case *uspmsg.Notify_OperationComplete_CmdFailure:
			v.check(r.CmdFailure.GetErrCode() != 0, "oper_complete cmd_failure without err_code")
		case nil:
			v.fail("oper_complete notification without req_output_args or cmd_failure")
		}
	case *uspmsg.Notify_OnBoardReq:
	default:
		v.fail("notify without notification")
	}
}

func (v *validator) response(r *uspmsg.Response) {
	switch q := r.GetRespType().(type) {
	case *uspmsg.Response_SetResp:
		for i, res := range q.SetResp.GetUpdatedObjResults() {
			st := res.GetOperStatus()
			switch {
			case st.GetOperFailure() != nil:
				v.check(st.GetOperFailure().GetErrCode() != 0, "set_resp result %d: oper_failure without err_code", i)
			case st.GetOperSuccess() == nil:
				v.fail(fmt.Sprintf("set_resp result %d without oper_status", i))
			}
		}
	case *uspmsg.Response_AddResp:
		for i, res := range q.AddResp.GetCreatedObjResults() {
			st := res.GetOperStatus()
			switch {
			case st.GetOperFailure() != nil:
				v.check(st.GetOperFailure().GetErrCode() != 0, "add_resp result %d: oper_failure without err_code", i)
			case st.GetOperSuccess() == nil:
				v.fail(fmt.Sprintf("add_resp result %d without oper_status", i))
			}
		}
	case *uspmsg.Response_DeleteResp:
		for i, res := range q.DeleteResp.GetDeletedObjResults() {
			st := res.GetOperStatus()
			switch {
			case st.GetOperFailure() != nil:
				v.check(st.GetOperFailure().GetErrCode() != 0, "delete_resp result %d: oper_failure without err_code", i)
			case st.GetOperSuccess() == nil:
				v.fail(fmt.Sprintf("delete_resp result %d without oper_status", i))
			}
		}
	case *uspmsg.Response_RegisterResp:
		for i, res := range q.RegisterResp.GetRegisteredPathResults() {
			st := res.GetOperStatus()
			switch {
			case st.GetOperFailure() != nil:
				v.check(st.GetOperFailure().GetErrCode() != 0, "register_resp result %d: oper_failure without err_code", i)
			case st.GetOperSuccess() == nil:
				v.fail(fmt.Sprintf("register_resp result %d without oper_status", i))
			}
		}
	case *uspmsg.Response_DeregisterResp:
		for i, res := range q.DeregisterResp.GetDeregisteredPathResults() {
			st := res.GetOperStatus()
			switch {
			case st.GetOperFailure() != nil:
				v.check(st.GetOperFailure().GetErrCode() != 0, "deregister_resp result %d: oper_failure without err_code", i)
			case st.GetOperSuccess() == nil:
				v.fail(fmt.Sprintf("deregister_resp result %d without oper_status", i))
			}
		}
	case *uspmsg.Response_OperateResp:
		for i, res := range q.OperateResp.GetOperationResults() {
			switch o := res.GetOperationResp().(type) {
			case *uspmsg.OperateResp_OperationResult_CmdFailure:
				v.check(o.CmdFailure.GetErrCode() != 0, "operate_resp result %d: cmd_failure without err_code", i)
			case *uspmsg.OperateResp_OperationResult_ReqObjPath:
				v.check(o.ReqObjPath != "", "operate_resp result %d: empty req_obj_path", i)
			case nil:
				v.fail(fmt.Sprintf("operate_resp result %d without req_obj_path, req_output_args or cmd_failure", i))
			}
		}
	}
}
