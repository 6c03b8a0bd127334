package msg

import (
	"encoding/base64"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gousp/gousp/proto/uspmsg"
)

func TestTypePairs(t *testing.T) {
	pairs := map[uspmsg.Header_MsgType]uspmsg.Header_MsgType{
		uspmsg.Header_GET: uspmsg.Header_GET_RESP, uspmsg.Header_SET: uspmsg.Header_SET_RESP,
		uspmsg.Header_ADD: uspmsg.Header_ADD_RESP, uspmsg.Header_DELETE: uspmsg.Header_DELETE_RESP,
		uspmsg.Header_OPERATE: uspmsg.Header_OPERATE_RESP, uspmsg.Header_NOTIFY: uspmsg.Header_NOTIFY_RESP,
		uspmsg.Header_GET_SUPPORTED_DM:    uspmsg.Header_GET_SUPPORTED_DM_RESP,
		uspmsg.Header_GET_INSTANCES:       uspmsg.Header_GET_INSTANCES_RESP,
		uspmsg.Header_GET_SUPPORTED_PROTO: uspmsg.Header_GET_SUPPORTED_PROTO_RESP,
		uspmsg.Header_REGISTER:            uspmsg.Header_REGISTER_RESP,
		uspmsg.Header_DEREGISTER:          uspmsg.Header_DEREGISTER_RESP,
	}
	for v := range uspmsg.Header_MsgType_name {
		mt := uspmsg.Header_MsgType(v)
		resp, isReq := pairs[mt]
		isResp := false
		for _, r := range pairs {
			if r == mt {
				isResp = true
			}
		}
		if IsRequest(mt) != isReq || IsResponse(mt) != isResp {
			t.Errorf("%v: IsRequest %v IsResponse %v", mt, IsRequest(mt), IsResponse(mt))
		}
		if isReq && (ResponseType(mt) != resp || RequestType(resp) != mt) {
			t.Errorf("%v: ResponseType %v", mt, ResponseType(mt))
		}
		if !isReq && ResponseType(mt) != uspmsg.Header_ERROR {
			t.Errorf("%v is no request but ResponseType gives %v", mt, ResponseType(mt))
		}
	}
	if IsRequest(uspmsg.Header_ERROR) || IsResponse(uspmsg.Header_ERROR) || IsRequest(99) {
		t.Error("ERROR or 99 classified")
	}
}

func TestParamsHelpers(t *testing.T) {
	if Params(nil) != nil {
		t.Error("Params(nil) != nil")
	}
	m := map[string]string{"Enable": "true", "Alias": "a", "Zeta": "", "ID": "x"}
	want := []Param{{"Alias", "a", true}, {"Enable", "true", true}, {"ID", "x", true}, {"Zeta", "", true}}
	// Map order is random: several runs must give the same list.
	for range 20 {
		if got := Params(m); !reflect.DeepEqual(got, want) {
			t.Fatalf("Params = %v", got)
		}
	}
	s := SetParams("Device.X.1.", m)
	if len(s.Objects) != 1 || s.Objects[0].Path != "Device.X.1." || !reflect.DeepEqual(s.Objects[0].Params, want) || s.AllowPartial {
		t.Errorf("SetParams = %+v", s)
	}
	a := AddParams("Device.X.", m)
	if len(a.Objects) != 1 || a.Objects[0].Path != "Device.X." || !reflect.DeepEqual(a.Objects[0].Params, want) {
		t.Errorf("AddParams = %+v", a)
	}
}

func TestParamPaths(t *testing.T) {
	tests := []struct {
		obj, wire, full string
		rewire          string // what Build sends back, when not wire
	}{
		{"Device.X.1.", "Alias", "Device.X.1.Alias", ""},
		{"Device.X.1", "Alias", "Device.X.1.Alias", ""},
		{"Device.X.1.", "Device.X.1.Alias", "Device.X.1.Alias", "Alias"},
		{"Device.X.1.", "Device.Other.Alias", "Device.Other.Alias", ""},
		{"Device.X.1.", "Sub.Alias", "Sub.Alias", ""},
		{"", "Alias", "Alias", ""},
		{"Device.X.1.", "", "Device.X.1.", "Device.X.1."},
	}
	for _, tc := range tests {
		full := joinParam(tc.obj, tc.wire)
		if full != tc.full {
			t.Errorf("joinParam(%q, %q) = %q, want %q", tc.obj, tc.wire, full, tc.full)
		}
		want := tc.wire
		if tc.rewire != "" {
			want = tc.rewire
		}
		if got := relParam(tc.obj, full); got != want {
			t.Errorf("relParam(%q, %q) = %q, want %q", tc.obj, full, got, want)
		}
		if again := joinParam(tc.obj, relParam(tc.obj, full)); again != full {
			t.Errorf("%q does not survive a round trip: %q", full, again)
		}
	}
}

func TestResultHelpers(t *testing.T) {
	get := GetResp{Results: []GetResult{
		{Requested: "Device.A.", Resolved: []Resolved{{Path: "Device.A.", Params: map[string]string{"X": "1"}}}},
		{Requested: "Device.B.", Err: &Error{Code: CodeInvalidPath}, Resolved: []Resolved{{Path: "Device.B.", Params: map[string]string{"Y": "2"}}}},
	}}
	if got := get.Values(); !reflect.DeepEqual(got, map[string]string{"Device.A.X": "1"}) {
		t.Errorf("Values skips failed paths: %v", got)
	}
	if len(get.Results[1].Values()) != 0 || !reflect.DeepEqual(get.Results[0].Values(), map[string]string{"Device.A.X": "1"}) {
		t.Errorf("GetResult.Values: %v %v", get.Results[0].Values(), get.Results[1].Values())
	}
	if get.Err() == nil || !strings.HasPrefix(get.Err().Error(), `"Device.B.": usp error 7026`) {
		t.Errorf("Err() = %v", get.Err())
	}
	if (GetResp{}).Err() != nil {
		t.Error("empty GetResp has an error")
	}

	inst := GetInstancesResp{Results: []InstancesResult{
		{Requested: "Device.X.", Instances: []Instance{{Path: "Device.X.1."}, {Path: "Device.X.2."}}},
		{Requested: "Device.Y.", Err: &Error{Code: CodeNotATable}},
	}}
	if !slices.Equal(inst.Paths(), []string{"Device.X.1.", "Device.X.2."}) || len(inst.Failed()) != 1 || CodeOf(inst.Err()) != CodeNotATable {
		t.Errorf("GetInstancesResp helpers: %v %v", inst.Paths(), inst.Err())
	}

	reg := RegisterResp{Results: []RegisterResult{{Requested: "A.", Path: "A."}, {Requested: "B.", Err: &Error{Code: CodeAlreadyInUse}}}}
	if len(reg.Failed()) != 1 || CodeOf(reg.Err()) != CodeAlreadyInUse {
		t.Errorf("RegisterResp: %v", reg.Err())
	}
	dereg := DeregisterResp{Results: []DeregisterResult{{Requested: "A.", Err: &Error{Code: CodePathAlreadyRegistered}}}}
	if len(dereg.Failed()) != 1 || CodeOf(dereg.Err()) != CodePathAlreadyRegistered {
		t.Errorf("DeregisterResp: %v", dereg.Err())
	}

	op := OperateResp{Results: []OperateResult{
		{ExecutedCommand: "A()", OutputArgs: map[string]string{}},
		{ExecutedCommand: "B()", RequestObjPath: "Device.LocalAgent.Request.1"},
		{ExecutedCommand: "C()", Err: &Error{Code: CodeCommandFailure}, RequestObjPath: "ignored"},
	}}
	outcomes := []Outcome{OutcomeSync, OutcomeAsync, OutcomeFailed}
	for i, res := range op.Results {
		if res.Outcome() != outcomes[i] {
			t.Errorf("result %d: %v", i, res.Outcome())
		}
	}
	if len(op.Failed()) != 1 || !strings.HasPrefix(op.Err().Error(), `"C()"`) {
		t.Errorf("OperateResp.Err() = %v", op.Err())
	}
	if OutcomeSync.String() != "sync" || OutcomeAsync.String() != "async" || OutcomeFailed.String() != "failed" || Outcome(9).String() != "unknown" {
		t.Error("Outcome.String")
	}

	if got := VersionList(" 1.3, ,1.4,"); !slices.Equal(got, []string{"1.3", "1.4"}) {
		t.Errorf("VersionList = %v", got)
	}
	if VersionList("") != nil {
		t.Error("VersionList(\"\") != nil")
	}
}

func TestSupportedDM(t *testing.T) {
	tests := []struct{ path, parent string }{
		{"Device.", ""},
		{"Device.LocalAgent.", "Device."},
		{"Device.LocalAgent.Controller.{i}.", "Device.LocalAgent."},
		{"Device.LocalAgent.Controller.{i}.MTP.{i}.", "Device.LocalAgent.Controller.{i}."},
		{"Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.", "Device.LocalAgent.Controller.{i}.MTP.{i}."},
		{"", ""},
	}
	for _, tc := range tests {
		if got := parentObject(tc.path); got != tc.parent {
			t.Errorf("parentObject(%q) = %q, want %q", tc.path, got, tc.parent)
		}
	}
	enums := []struct{ got, want string }{
		{ObjAddDelete.String(), "ADD_DELETE"}, {ObjReadOnly.String(), "READ_ONLY"},
		{ParamWriteOnly.String(), "WRITE_ONLY"}, {TypeUnsignedLong.String(), "unsignedLong"},
		{TypeDateTime.String(), "dateTime"}, {ParamType(42).String(), "42"},
		{ValueChangeWillIgnore.String(), "WILL_IGNORE"}, {CmdAsync.String(), "ASYNC"},
	}
	for _, e := range enums {
		if e.got != e.want {
			t.Errorf("enum String() = %q, want %q", e.got, e.want)
		}
	}
	// The Go constants carry the wire numbers.
	if int32(TypeUnsignedLong) != int32(uspmsg.GetSupportedDMResp_PARAM_UNSIGNED_LONG) ||
		int32(ObjDeleteOnly) != int32(uspmsg.GetSupportedDMResp_OBJ_DELETE_ONLY) ||
		int32(ParamWriteOnly) != int32(uspmsg.GetSupportedDMResp_PARAM_WRITE_ONLY) ||
		int32(ValueChangeWillIgnore) != int32(uspmsg.GetSupportedDMResp_VALUE_CHANGE_WILL_IGNORE) ||
		int32(CmdAsync) != int32(uspmsg.GetSupportedDMResp_CMD_ASYNC) {
		t.Error("enum numbers differ from the wire")
	}

	res := SupportedDMResult{Objects: []SupportedObject{
		{Path: "Device.A.{i}.B."}, {Path: "Device."}, {Path: "Device.A.{i}."}, {Path: "Device.C."},
	}}
	roots := res.Tree()
	if len(roots) != 1 || roots[0].Object.Path != "Device." || len(roots[0].Children) != 2 ||
		roots[0].Children[0].Object.Path != "Device.A.{i}." || roots[0].Children[0].Children[0].Object.Path != "Device.A.{i}.B." {
		t.Fatalf("Tree() wrong")
	}
	var order []string
	roots[0].Walk(func(n *DMNode) bool {
		order = append(order, n.Object.Path)
		return n.Object.Path != "Device.A.{i}.B."
	})
	if !slices.Equal(order, []string{"Device.", "Device.A.{i}.", "Device.A.{i}.B."}) {
		t.Errorf("Walk order %v", order)
	}
	if _, ok := (GetSupportedDMResp{Results: []SupportedDMResult{res}}).Object("Device.C."); !ok {
		t.Error("Object lookup")
	}
	if _, ok := res.Object("Device.Z."); ok {
		t.Error("Object found a missing path")
	}
}

func TestNewID(t *testing.T) {
	const goroutines, each = 8, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = NewID()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
	id := NewID()
	if len(id) != 16 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("id %q: want 16 characters of base64url", id)
	}
}

// TestNewIDUnpredictable checks that IDs carry no structure an agent could
// extrapolate from: consecutive IDs share no prefix beyond chance, and every
// bit position of many IDs takes both values.
func TestNewIDUnpredictable(t *testing.T) {
	const n = 4096
	var ones [idBytes * 8]int
	prev := NewID()
	shared := 0
	for range n {
		id := NewID()
		for shared < len(id) && id[:shared+1] == prev[:shared+1] {
			shared++
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != idBytes {
			t.Fatalf("id %q does not decode to %d bytes: %v", id, idBytes, err)
		}
		for i := range ones {
			if raw[i/8]&(1<<(i%8)) != 0 {
				ones[i]++
			}
		}
		prev = id
	}
	if shared > 3 {
		t.Errorf("consecutive IDs shared a %d-character prefix", shared)
	}
	for i, k := range ones {
		// Each bit is a fair coin: 4096 draws land within 1700..2400 with
		// probability far above 1 - 1e-12.
		if k < 1700 || k > 2400 {
			t.Errorf("bit %d was set in %d of %d IDs", i, k, n)
		}
	}
}

// BenchmarkNewIDCounter is the counter-based scheme NewID replaced (random
// per-process prefix, "-", atomic counter in base 36), kept as the baseline
// the random IDs are measured against.
func BenchmarkNewIDCounter(b *testing.B) {
	prefix := "k5d3q7r2m1x0a"
	var counter atomic.Uint64
	b.ReportAllocs()
	for b.Loop() {
		var buf [40]byte
		p := append(buf[:0], prefix...)
		p = append(p, '-')
		p = strconv.AppendUint(p, counter.Add(1), 36)
		idSink = string(p)
	}
}

var idSink string

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		idSink = NewID()
	}
}

func BenchmarkNewIDParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = NewID()
		}
	})
}

// TestRequestSetClosed checks that the request kinds, and only they,
// satisfy Request, so a response cannot be sent where a request belongs.
func TestRequestSetClosed(t *testing.T) {
	requests := []Message{Get{}, Set{}, Add{}, Delete{}, Operate{}, GetSupportedDM{}, GetInstances{},
		GetSupportedProtocol{}, Register{}, Deregister{}, Notify{}}
	others := []Message{GetResp{}, SetResp{}, AddResp{}, DeleteResp{}, OperateResp{}, GetSupportedDMResp{},
		GetInstancesResp{}, GetSupportedProtocolResp{}, RegisterResp{}, DeregisterResp{}, NotifyResp{}, &Error{}}
	for _, m := range requests {
		if _, ok := m.(Request); !ok || !IsRequest(m.MsgType()) {
			t.Errorf("%T is not a Request", m)
		}
	}
	for _, m := range others {
		if _, ok := m.(Request); ok || IsRequest(m.MsgType()) {
			t.Errorf("%T is a Request", m)
		}
	}
}
