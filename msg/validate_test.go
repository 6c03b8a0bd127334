package msg

import (
	"errors"
	"strings"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/proto"
)

func TestValidate(t *testing.T) {
	req := func(t uspmsg.Header_MsgType, r *uspmsg.Request) *uspmsg.Msg { return newRequest("id", t, r) }
	resp := func(t uspmsg.Header_MsgType, r *uspmsg.Response) *uspmsg.Msg { return newResponse("id", t, r) }
	get := &uspmsg.Request{ReqType: &uspmsg.Request_Get{Get: &uspmsg.Get{}}}
	set := func(o ...*uspmsg.Set_UpdateObject) *uspmsg.Request {
		return &uspmsg.Request{ReqType: &uspmsg.Request_Set{Set: &uspmsg.Set{UpdateObjs: o}}}
	}
	notify := func(n *uspmsg.Notify) *uspmsg.Request {
		return &uspmsg.Request{ReqType: &uspmsg.Request_Notify{Notify: n}}
	}
	opResp := func(r ...*uspmsg.OperateResp_OperationResult) *uspmsg.Response {
		return &uspmsg.Response{RespType: &uspmsg.Response_OperateResp{OperateResp: &uspmsg.OperateResp{OperationResults: r}}}
	}
	setResp := func(st *uspmsg.SetResp_UpdatedObjectResult_OperationStatus) *uspmsg.Response {
		return &uspmsg.Response{RespType: &uspmsg.Response_SetResp{SetResp: &uspmsg.SetResp{
			UpdatedObjResults: []*uspmsg.SetResp_UpdatedObjectResult{{RequestedPath: "Device.", OperStatus: st}},
		}}}
	}
	addResp := func(st *uspmsg.AddResp_CreatedObjectResult_OperationStatus) *uspmsg.Response {
		return &uspmsg.Response{RespType: &uspmsg.Response_AddResp{AddResp: &uspmsg.AddResp{
			CreatedObjResults: []*uspmsg.AddResp_CreatedObjectResult{{RequestedPath: "Device.", OperStatus: st}},
		}}}
	}

	tests := []struct {
		name   string
		m      *uspmsg.Msg
		reason string // "" means valid
	}{
		{"get", Get{Paths: []string{"Device."}}.Build("id"), ""},
		{"error without msg_type", &uspmsg.Msg{Header: &uspmsg.Header{MsgId: "id"},
			Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Error{Error: &uspmsg.Error{ErrCode: 7001}}}}, ""},
		{"onboard with empty subscription", Notify{SendResp: true, Notification: &OnBoardRequest{}}.Build("id"), ""},
		{"get with no paths", req(uspmsg.Header_GET, get), ""},
		{"nil", nil, "nil message"},
		{"no header", &uspmsg.Msg{Body: Get{}.Build("x").Body}, "missing header"},
		{"empty msg_id", Get{}.Build(""), "empty msg_id"},
		{"unknown msg_type", req(99, get), "unknown msg_type 99"},
		{"no body", &uspmsg.Msg{Header: &uspmsg.Header{MsgId: "id"}}, "missing body"},
		{"empty body", &uspmsg.Msg{Header: &uspmsg.Header{MsgId: "id"}, Body: &uspmsg.Body{}}, "empty body"},
		{"header GET body Set", req(uspmsg.Header_GET, set()), "header msg_type GET does not match body SET"},
		{"header absent body Get", req(uspmsg.Header_ERROR, get), "header msg_type ERROR does not match body GET"},
		{"response typed as request", resp(uspmsg.Header_GET, &uspmsg.Response{RespType: &uspmsg.Response_GetResp{GetResp: &uspmsg.GetResp{}}}), "does not match body GET_RESP"},
		{"request without kind", req(uspmsg.Header_GET, &uspmsg.Request{}), "request body holds no known request"},
		{"response without kind", resp(uspmsg.Header_GET_RESP, &uspmsg.Response{}), "response body holds no known response"},
		{"error code 0", (&Error{Message: "x"}).Build("id"), "error without err_code"},
		{"error param code 0", (&Error{Code: 7004, ParamErrs: []ParamError{{Path: "a"}}}).Build("id"), "param_errs[0] without err_code"},
		{"set without obj_path", req(uspmsg.Header_SET, set(&uspmsg.Set_UpdateObject{})), "update_objs[0] without obj_path"},
		{"set param without name", Set{Objects: []SetObject{{Path: "Device.", Params: []Param{{Value: "x"}}}}}.Build("id"), "param_settings[0] without param"},
		{"add without obj_path", Add{Objects: []AddObject{{}}}.Build("id"), "create_objs[0] without obj_path"},
		{"operate without command", Operate{}.Build("id"), "operate without command"},
		{"notify without notification", Notify{SubscriptionID: "s"}.Build("id"), "notify without notification"},
		{"event without name", req(uspmsg.Header_NOTIFY, notify(&uspmsg.Notify{Notification: &uspmsg.Notify_Event_{Event: &uspmsg.Notify_Event{ObjPath: "Device."}}})), "without obj_path or event_name"},
		{"value change without path", Notify{Notification: &ValueChange{}}.Build("id"), "value_change notification without param_path"},
		{"creation without path", Notify{Notification: &ObjectCreation{}}.Build("id"), "obj_creation notification without obj_path"},
		{"deletion without path", Notify{Notification: &ObjectDeletion{}}.Build("id"), "obj_deletion notification without obj_path"},
		{"oper complete without outcome", req(uspmsg.Header_NOTIFY, notify(&uspmsg.Notify{Notification: &uspmsg.Notify_OperComplete{
			OperComplete: &uspmsg.Notify_OperationComplete{ObjPath: "Device.", CommandName: "X()"}}})), "without req_output_args or cmd_failure"},
		{"oper complete failure code 0", Notify{Notification: &OperationComplete{ObjPath: "Device.", CommandName: "X()", Err: &Error{}}}.Build("id"), "cmd_failure without err_code"},
		{"operate resp without outcome", resp(uspmsg.Header_OPERATE_RESP, opResp(&uspmsg.OperateResp_OperationResult{ExecutedCommand: "X()"})), "result 0 without req_obj_path"},
		{"operate resp empty req_obj_path", resp(uspmsg.Header_OPERATE_RESP, opResp(&uspmsg.OperateResp_OperationResult{
			OperationResp: &uspmsg.OperateResp_OperationResult_ReqObjPath{}})), "empty req_obj_path"},
		{"operate resp failure code 0", OperateResp{Results: []OperateResult{{ExecutedCommand: "X()", Err: &Error{}}}}.Build("id"), "cmd_failure without err_code"},
		{"set resp without status", resp(uspmsg.Header_SET_RESP, setResp(nil)), "set_resp result 0 without oper_status"},
		{"set resp empty status", resp(uspmsg.Header_SET_RESP, setResp(&uspmsg.SetResp_UpdatedObjectResult_OperationStatus{})), "without oper_status"},
		{"set resp failure code 0", SetResp{Results: []SetResult{{Requested: "Device.", Err: &Error{}}}}.Build("id"), "oper_failure without err_code"},
		{"add resp without status", resp(uspmsg.Header_ADD_RESP, addResp(nil)), "add_resp result 0 without oper_status"},
		{"delete resp failure code 0", DeleteResp{Results: []DeleteResult{{Err: &Error{}}}}.Build("id"), "delete_resp result 0: oper_failure without err_code"},
		{"register resp failure code 0", RegisterResp{Results: []RegisterResult{{Err: &Error{}}}}.Build("id"), "register_resp result 0: oper_failure without err_code"},
		{"deregister resp failure code 0", DeregisterResp{Results: []DeregisterResult{{Err: &Error{}}}}.Build("id"), "deregister_resp result 0: oper_failure without err_code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.m)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			if !strings.Contains(ve.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", ve.Reason, tc.reason)
			}
			if id := tc.m.GetHeader().GetMsgId(); ve.MsgID != id {
				t.Errorf("MsgID %q, want %q", ve.MsgID, id)
			}
			if _, err := Parse(tc.m); !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse accepted it: %v", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	if _, err := Decode([]byte{0xff, 0xff, 0xff}); !errors.Is(err, ErrDecode) {
		t.Errorf("garbage: %v", err)
	}
	// A message that decodes but is invalid comes back with its msg_id so
	// that the receiver can still answer it.
	b, _ := proto.Marshal(Operate{}.Build("op-1"))
	m, err := Decode(b)
	var ve *ValidationError
	if !errors.As(err, &ve) || m.GetHeader().GetMsgId() != "op-1" || ve.MsgID != "op-1" {
		t.Fatalf("Decode = %v, %v", m, err)
	}
	if got := ve.Error(); got != `msg: invalid message "op-1": operate without command` {
		t.Errorf("Error() = %q", got)
	}
	if got := (&ValidationError{Reason: "nil message"}).Error(); got != "msg: invalid message: nil message" {
		t.Errorf("Error() = %q", got)
	}
	// An empty payload is a Msg without header.
	if _, err := Decode(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty payload: %v", err)
	}
}

func TestParseAs(t *testing.T) {
	getResp := GetResp{Results: []GetResult{{Requested: "Device."}}}.Build("1")
	errMsg := (&Error{Code: CodeObjectNotFound, Message: "gone"}).Build("1")

	if r, err := ParseGetResp(getResp); err != nil || len(r.Results) != 1 {
		t.Errorf("ParseGetResp: %v %v", r, err)
	}
	if r, err := ParseGetResp(errMsg); r != nil || !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("ParseGetResp(Error) = %v, %v", r, err)
	}
	if r, err := ParseSetResp(getResp); r != nil || !errors.Is(err, ErrUnexpectedType) {
		t.Errorf("ParseSetResp(GetResp) = %v, %v", r, err)
	}
	if e, err := ParseAs[*Error](errMsg); err != nil || e.Code != CodeObjectNotFound {
		t.Errorf("ParseAs[*Error] = %v, %v", e, err)
	}
	if _, err := ParseNotify(Get{}.Build("")); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid message: %v", err)
	}

	if v, err := ParseResponse(getResp, uspmsg.Header_GET); err != nil || v.MsgType() != uspmsg.Header_GET_RESP {
		t.Errorf("ParseResponse: %v %v", v, err)
	}
	if _, err := ParseResponse(errMsg, uspmsg.Header_GET); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("ParseResponse(Error): %v", err)
	}
	if _, err := ParseResponse(getResp, uspmsg.Header_SET); !errors.Is(err, ErrUnexpectedType) {
		t.Errorf("ParseResponse(GetResp, SET): %v", err)
	}
	if _, err := ParseResponse(getResp, uspmsg.Header_GET_RESP); !errors.Is(err, ErrUnexpectedType) {
		t.Errorf("ParseResponse(GetResp, GET_RESP): %v", err)
	}

	typed := []struct {
		m     Message
		parse func(*uspmsg.Msg) (Message, error)
	}{
		{SetResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseSetResp(m) }},
		{AddResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseAddResp(m) }},
		{DeleteResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseDeleteResp(m) }},
		{OperateResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseOperateResp(m) }},
		{GetSupportedDMResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseGetSupportedDMResp(m) }},
		{GetInstancesResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseGetInstancesResp(m) }},
		{GetSupportedProtocolResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseGetSupportedProtocolResp(m) }},
		{NotifyResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseNotifyResp(m) }},
		{RegisterResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseRegisterResp(m) }},
		{DeregisterResp{}, func(m *uspmsg.Msg) (Message, error) { return ParseDeregisterResp(m) }},
		{Notify{Notification: &ObjectDeletion{ObjPath: "Device.X.1."}}, func(m *uspmsg.Msg) (Message, error) { return ParseNotify(m) }},
	}
	for _, tc := range typed {
		v, err := tc.parse(tc.m.Build("x"))
		if err != nil || v.MsgType() != tc.m.MsgType() {
			t.Errorf("%v: %v, %v", tc.m.MsgType(), v, err)
		}
		if _, err := tc.parse(getResp); !errors.Is(err, ErrUnexpectedType) {
			t.Errorf("%v parser accepted a GetResp: %v", tc.m.MsgType(), err)
		}
	}
}
