package msg

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// The OB-USP-A v11.0.4 captures of /work/shared/testdata/obuspa, copied
// into testdata so that the tests run anywhere; GOUSP_CAPTURES points at
// another copy.
func captureDir() string {
	if d := os.Getenv("GOUSP_CAPTURES"); d != "" {
		return d
	}
	return filepath.Join("testdata", "obuspa")
}

// manifestRow is what MANIFEST.md's tables say about one capture.
type manifestRow struct {
	recordType string
	msgType    string
	msgID      string
	notes      string
}

func readManifest(t testing.TB) map[string]manifestRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captureDir(), "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]manifestRow{}
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.TrimSpace(line), " | ")
		if len(cells) < 6 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(cells[0], "| `"), "`")
		rows[name] = manifestRow{recordType: cells[2], msgType: cells[3], msgID: cells[4], notes: cells[5]}
	}
	return rows
}

// capture is one decoded capture file.
type capture struct {
	name   string // e.g. "10-get-multi-one-bad"
	record *usprecord.Record
	raw    []byte // no_session_context payload, nil for other records
	m      *uspmsg.Msg
}

func loadCaptures(t testing.TB) []capture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(captureDir(), "*.record.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var out []capture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := capture{name: strings.TrimSuffix(filepath.Base(f), ".record.bin"), record: &usprecord.Record{}}
		if err := proto.Unmarshal(b, c.record); err != nil {
			t.Fatalf("%s: record: %v", c.name, err)
		}
		if nsc := c.record.GetNoSessionContext(); nsc != nil {
			c.raw = nsc.GetPayload()
			if c.m, err = Decode(c.raw); err != nil {
				t.Fatalf("%s: Decode: %v", c.name, err)
			}
		}
		out = append(out, c)
	}
	return out
}

// txtMsg reads the usp.Msg that the capture's .txt file prints.
func txtMsg(t *testing.T, name string) *uspmsg.Msg {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captureDir(), name+".record.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, text, ok := strings.Cut(string(b), "# ---- usp.Msg")
	if !ok {
		t.Fatalf("%s.record.txt has no usp.Msg section", name)
	}
	_, text, _ = strings.Cut(text, "\n")
	m := &uspmsg.Msg{}
	if err := prototext.Unmarshal([]byte(text), m); err != nil {
		t.Fatalf("%s.record.txt: %v", name, err)
	}
	return m
}

// TestCaptures decodes every capture, checks it against its .txt file and
// MANIFEST.md, and checks that the typed view carries everything: building
// it again gives the same message.
func TestCaptures(t *testing.T) {
	rows := readManifest(t)
	caps := loadCaptures(t)
	if len(caps) != 100 {
		t.Fatalf("found %d captures, want 100", len(caps))
	}
	kinds := map[string]bool{}
	for _, c := range caps {
		t.Run(c.name, func(t *testing.T) {
			row, ok := rows[c.name]
			if !ok {
				t.Fatalf("no MANIFEST row")
			}
			if c.m == nil {
				if row.recordType == "no_session_context" {
					t.Fatalf("manifest says no_session_context")
				}
				return
			}
			if got := c.m.GetHeader().GetMsgType().String(); got != row.msgType {
				t.Errorf("msg_type %s, manifest %s", got, row.msgType)
			}
			if got := c.m.GetHeader().GetMsgId(); got != row.msgID {
				t.Errorf("msg_id %q, manifest %q", got, row.msgID)
			}
			if d := cmp.Diff(txtMsg(t, c.name), c.m, protocmp.Transform()); d != "" {
				t.Errorf("decoded message differs from the .txt file (-txt +decoded):\n%s", d)
			}
			v, err := Parse(c.m)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			kinds[row.msgType] = true
			if got := summary(v); row.notes != got && !strings.HasPrefix(row.notes, got+"; ") {
				t.Errorf("typed view disagrees with MANIFEST:\n got: %s\nwant: %s", got, row.notes)
			}
			rebuilt := v.Build(c.m.GetHeader().GetMsgId())
			if d := cmp.Diff(c.m, rebuilt, protocmp.Transform()); d != "" {
				t.Errorf("Build(Parse(m)) differs from m (-m +rebuilt):\n%s", d)
			}
			if again, err := Parse(rebuilt); err != nil || !reflect.DeepEqual(again, v) {
				t.Errorf("Parse(Build(v)) != v (err %v)", err)
			}
			if _, err := ParseResponse(c.m, RequestType(c.m.GetHeader().GetMsgType())); IsResponse(c.m.GetHeader().GetMsgType()) && err != nil {
				t.Errorf("ParseResponse: %v", err)
			}
		})
	}
	for _, k := range []string{"GET_RESP", "SET_RESP", "ADD_RESP", "DELETE_RESP", "OPERATE_RESP", "NOTIFY",
		"GET_SUPPORTED_DM_RESP", "GET_INSTANCES_RESP", "GET_SUPPORTED_PROTO_RESP", "ERROR"} {
		if !kinds[k] {
			t.Errorf("no capture of kind %s was checked", k)
		}
	}
}

// summary renders a typed message the way MANIFEST.md's notes column does,
// so that the manifest checks every field of every capture's typed view.
func summary(v Message) string {
	var parts []string
	switch r := v.(type) {
	case *GetResp:
		if len(r.Results) == 0 {
			return "empty get_resp {} (no req_path_results)"
		}
		for _, res := range r.Results {
			if res.Err != nil {
				parts = append(parts, res.Requested+": "+errText("err", res.Err))
				continue
			}
			n := 0
			for _, rv := range res.Resolved {
				n += len(rv.Params)
			}
			parts = append(parts, fmt.Sprintf("%s: ok, %d resolved_path_results, %d params", res.Requested, len(res.Resolved), n))
		}
	case *Error:
		parts = append(parts, "ERROR err_code="+strconv.Itoa(int(r.Code))+" ("+strconv.Quote(r.Message)+")")
		for _, pe := range r.ParamErrs {
			parts = append(parts, "param_err "+pe.Path+" -> "+paramErrText(pe))
		}
	case *GetInstancesResp:
		for _, res := range r.Results {
			if res.Err != nil {
				parts = append(parts, res.Requested+": "+errText("err", res.Err))
				continue
			}
			parts = append(parts, fmt.Sprintf("%s: ok, %d curr_insts", res.Requested, len(res.Instances)))
		}
	case *GetSupportedDMResp:
		for _, res := range r.Results {
			if res.Err != nil {
				parts = append(parts, res.Requested+": "+errText("err", res.Err))
				continue
			}
			var params, cmds, events int
			for _, o := range res.Objects {
				params, cmds, events = params+len(o.Params), cmds+len(o.Commands), events+len(o.Events)
			}
			parts = append(parts, fmt.Sprintf("%s: ok data_model_inst_uri=%q, %d supported_objs, %d params, %d commands, %d events",
				res.Requested, res.DataModelInstURI, len(res.Objects), params, cmds, events))
		}
	case *GetSupportedProtocolResp:
		return "agent_supported_protocol_versions=" + strconv.Quote(r.Versions)
	case *Notify:
		s := fmt.Sprintf("subscription_id=%q send_resp=%t ", r.SubscriptionID, r.SendResp)
		switch n := r.Notification.(type) {
		case *Event:
			s += "event " + n.Path() + " params=" + mapText(n.Params)
		case *ValueChange:
			s += "value_change " + n.ParamPath + "=" + strconv.Quote(n.ParamValue)
		case *ObjectCreation:
			s += "obj_creation " + n.ObjPath + " unique_keys=" + mapText(n.UniqueKeys)
		case *ObjectDeletion:
			s += "obj_deletion " + n.ObjPath
		case *OperationComplete:
			s += "oper_complete " + n.Path() + " command_key=" + strconv.Quote(n.CommandKey) + " "
			if n.Err != nil {
				s += errText("cmd_failure", n.Err)
			} else {
				s += "req_output_args=" + mapText(n.OutputArgs)
			}
		case *OnBoardRequest:
			s += fmt.Sprintf("on_board_req oui=%q product_class=%q serial_number=%q agent_supported_protocol_versions=%q",
				n.OUI, n.ProductClass, n.SerialNumber, n.AgentSupportedProtocolVersions)
		}
		return s
	case *OperateResp:
		for _, res := range r.Results {
			switch res.Outcome() {
			case OutcomeFailed:
				parts = append(parts, res.ExecutedCommand+": "+errText("cmd_failure", res.Err))
			case OutcomeAsync:
				parts = append(parts, res.ExecutedCommand+": req_obj_path="+res.RequestObjPath)
			default:
				parts = append(parts, res.ExecutedCommand+": req_output_args="+mapText(res.OutputArgs))
			}
		}
	case *AddResp:
		for _, res := range r.Results {
			if res.Err != nil {
				parts = append(parts, res.Requested+": "+errText("oper_failure", res.Err))
				continue
			}
			s := res.Requested + ": oper_success instantiated_path=" + res.Path + " unique_keys=" + mapText(res.UniqueKeys)
			for _, pe := range res.ParamErrs {
				s += " param_err " + relParam(res.Path, pe.Path) + " -> " + paramErrText(pe)
			}
			parts = append(parts, s)
		}
	case *SetResp:
		for _, res := range r.Results {
			s := res.Requested + ": "
			if res.Err != nil {
				s += errText("oper_failure", res.Err)
				for _, fi := range res.Failed {
					for _, pe := range fi.ParamErrs {
						s += " [" + pe.Path + " -> " + paramErrText(pe) + "]"
					}
				}
			} else {
				s += "oper_success"
				for _, u := range res.Updated {
					s += " [" + u.Path + " updated_params=" + mapText(u.Params)
					for _, pe := range u.ParamErrs {
						s += " param_err " + relParam(u.Path, pe.Path) + " -> " + paramErrText(pe)
					}
					s += "]"
				}
			}
			parts = append(parts, s)
		}
	case *DeleteResp:
		for _, res := range r.Results {
			if res.Err != nil {
				parts = append(parts, res.Requested+": "+errText("oper_failure", res.Err))
				continue
			}
			parts = append(parts, res.Requested+": oper_success affected_paths=["+strings.Join(res.Affected, ", ")+"]")
		}
	default:
		return fmt.Sprintf("(no summary for %T)", v)
	}
	return strings.Join(parts, "; ")
}

func errText(label string, e *Error) string {
	return fmt.Sprintf("%s %d (%s)", label, e.Code, strconv.Quote(e.Message))
}

func paramErrText(pe ParamError) string {
	return fmt.Sprintf("%d (%s)", pe.Code, strconv.Quote(pe.Message))
}

func mapText(m map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, k+"="+strconv.Quote(m[k]))
	}
	return "{" + strings.Join(kv, ", ") + "}"
}

// capturesByName indexes the parsed captures for the per-file tests.
func capturesByName(t *testing.T) map[string]Message {
	t.Helper()
	out := map[string]Message{}
	for _, c := range loadCaptures(t) {
		if c.m == nil {
			continue
		}
		v, err := Parse(c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		out[c.name] = v
	}
	return out
}

func want[T Message](t *testing.T, caps map[string]Message, name string) T {
	t.Helper()
	v, ok := caps[name].(T)
	if !ok {
		var zero T
		t.Fatalf("%s: got %T, want %T", name, caps[name], zero)
	}
	return v
}

// TestCaptureDetails spells out, file by file, what the typed views must
// give for the cases the SDK's users care most about.
func TestCaptureDetails(t *testing.T) {
	caps := capturesByName(t)

	t.Run("10 get multi one bad", func(t *testing.T) {
		r := want[*GetResp](t, caps, "10-get-multi-one-bad")
		if len(r.Results) != 4 {
			t.Fatalf("%d results", len(r.Results))
		}
		failed := r.Failed()
		if len(failed) != 1 || failed[0].Requested != "Device.DeviceInfo.NoSuchParam" || failed[0].Err.Code != CodeInvalidPath {
			t.Fatalf("failed = %+v", failed)
		}
		ok := 0
		for _, res := range r.Results {
			if res.Err == nil {
				ok++
			}
		}
		if ok != 3 {
			t.Errorf("%d ok paths, want 3", ok)
		}
		vals := r.Values()
		if vals["Device.DeviceInfo.Manufacturer"] != "Manufacturer" ||
			vals["Device.LocalAgent.EndpointID"] != "proto::obuspa-test-agent" ||
			vals["Device.LocalAgent.Controller.1.MTP.1.Protocol"] != "MQTT" {
			t.Errorf("Values() = %v", vals)
		}
		if len(vals) != 1+1+21 {
			t.Errorf("%d values, want 23", len(vals))
		}
		err := r.Err()
		if !errors.Is(err, ErrInvalidPath) || errors.Is(err, ErrObjectNotFound) {
			t.Errorf("Err() = %v", err)
		}
		if !strings.Contains(err.Error(), `"Device.DeviceInfo.NoSuchParam"`) {
			t.Errorf("Err() does not name the path: %v", err)
		}
	})

	t.Run("14 get no paths", func(t *testing.T) {
		r := want[*GetResp](t, caps, "14-get-no-paths")
		if len(r.Results) != 0 || r.Err() != nil || len(r.Values()) != 0 {
			t.Errorf("%+v", r)
		}
	})

	t.Run("22 set optional param bad", func(t *testing.T) {
		r := want[*SetResp](t, caps, "22-set-ok-optional-param-bad")
		if r.Err() != nil || len(r.Succeeded()) != 1 {
			t.Fatalf("Err() = %v", r.Err())
		}
		u := r.Results[0].Updated[0]
		wantErrs := []ParamError{{Path: "Device.LocalAgent.Controller.2.NoSuchParam", Code: CodeUnsupportedParam,
			Message: "DM_PRIV_GetNodeFromPath: Path is invalid: Device.LocalAgent.Controller.2.NoSuchParam"}}
		if !reflect.DeepEqual(u.ParamErrs, wantErrs) {
			t.Errorf("ParamErrs = %+v", u.ParamErrs)
		}
		if got := r.Values(); !reflect.DeepEqual(got, map[string]string{"Device.LocalAgent.Controller.2.ProvisioningCode": "probe-prov-4"}) {
			t.Errorf("Values() = %v", got)
		}
	})

	t.Run("24 error with param error", func(t *testing.T) {
		e := want[*Error](t, caps, "24-set-readonly-strict")
		if e.Code != CodeInvalidArguments || len(e.ParamErrs) != 1 ||
			e.ParamErrs[0].Path != "Device.DeviceInfo.SerialNumber" || e.ParamErrs[0].Code != CodeParamReadOnly {
			t.Fatalf("%+v", e)
		}
		// The outer code and the parameter's code match; others do not.
		if !errors.Is(e, ErrInvalidArguments) || !errors.Is(e, ErrParamReadOnly) || errors.Is(e, ErrInvalidType) {
			t.Errorf("errors.Is matches the wrong code")
		}
	})

	t.Run("28 set mixed partial", func(t *testing.T) {
		r := want[*SetResp](t, caps, "28-set-mixed-partial")
		if len(r.Succeeded()) != 1 || len(r.Failed()) != 1 {
			t.Fatalf("%+v", r)
		}
		var e *Error
		if !errors.As(r.Err(), &e) || e.Code != CodeRequiredParamFailed || len(e.ParamErrs) != 1 ||
			e.ParamErrs[0].Path != "Device.LocalAgent.Controller.2.PeriodicNotifInterval" || e.ParamErrs[0].Code != CodeInvalidType {
			t.Errorf("Err() = %v", r.Err())
		}
	})

	t.Run("34 add error schema path", func(t *testing.T) {
		e := want[*Error](t, caps, "34-add-dup-key-strict")
		if e.ParamErrs[0].Path != "Device.LocalAgent.Subscription.{i}.ID" || e.ParamErrs[0].Code != CodeDuplicateKey {
			t.Errorf("%+v", e.ParamErrs)
		}
	})

	t.Run("39 add two", func(t *testing.T) {
		r := want[*AddResp](t, caps, "39-add-sub-objlife-two")
		if got := r.Paths(); !slices.Equal(got, []string{"Device.LocalAgent.Subscription.3.", "Device.LocalAgent.Subscription.4."}) {
			t.Errorf("Paths() = %v", got)
		}
	})

	t.Run("38 add optional param bad", func(t *testing.T) {
		r := want[*AddResp](t, caps, "38-add-optional-param-bad")
		res := r.Results[0]
		if res.Err != nil || len(res.ParamErrs) != 1 ||
			res.ParamErrs[0].Path != "Device.LocalAgent.Controller.1.BootParameter.1.NoSuchParam" {
			t.Errorf("%+v", res)
		}
	})

	t.Run("44 delete nothing", func(t *testing.T) {
		r := want[*DeleteResp](t, caps, "44-delete-missing-instance-strict")
		if r.Err() != nil || len(r.Affected()) != 0 || len(r.Succeeded()) != 1 {
			t.Errorf("%+v", r)
		}
	})

	t.Run("46 delete mixed", func(t *testing.T) {
		r := want[*DeleteResp](t, caps, "46-delete-mixed-partial")
		err := r.Err()
		if !errors.Is(err, ErrInvalidPath) || !errors.Is(err, ErrNotCreatable) || len(r.Failed()) != 2 {
			t.Errorf("Err() = %v", err)
		}
		if got := r.Affected(); !slices.Equal(got, []string{"Device.LocalAgent.Controller.1.BootParameter.1."}) {
			t.Errorf("Affected() = %v", got)
		}
	})

	t.Run("50 operate async", func(t *testing.T) {
		r := want[*OperateResp](t, caps, "50-operate-async-scheduletimer")
		res := r.Results[0]
		if res.Outcome() != OutcomeAsync || res.RequestObjPath != "Device.LocalAgent.Request.1" || res.OutputArgs != nil || res.Err != nil {
			t.Errorf("%+v", res)
		}
	})

	t.Run("57 operate cmd failure", func(t *testing.T) {
		r := want[*OperateResp](t, caps, "57-operate-async-missing-arg")
		if !errors.Is(r.Err(), ErrInvalidCommandArgs) || r.Results[0].Outcome() != OutcomeFailed {
			t.Errorf("%+v", r)
		}
	})

	t.Run("61 operate two sync results", func(t *testing.T) {
		r := want[*OperateResp](t, caps, "61-operate-wildcard-sync")
		if len(r.Results) != 2 {
			t.Fatalf("%d results", len(r.Results))
		}
		for i, res := range r.Results {
			if res.Outcome() != OutcomeSync || res.OutputArgs == nil || len(res.OutputArgs) != 0 {
				t.Errorf("result %d: %+v", i, res)
			}
		}
		if r.Results[1].ExecutedCommand != "Device.LocalAgent.Controller.2.SendOnBoardRequest()" {
			t.Errorf("%q", r.Results[1].ExecutedCommand)
		}
	})

	t.Run("62 onboard request", func(t *testing.T) {
		n := want[*Notify](t, caps, "62-notify-onboardrequest")
		ob, ok := n.Notification.(*OnBoardRequest)
		if !ok || n.SubscriptionID != "" || !n.SendResp || ob.OUI != "012345" || ob.ProductClass != "USP Agent" {
			t.Fatalf("%+v %+v", n, n.Notification)
		}
		// The acknowledgement echoes the empty subscription id.
		resp := n.Resp().Build("OnBoardRequest-2026-11-27T08:26:19Z-1")
		if resp.GetBody().GetResponse().GetNotifyResp().GetSubscriptionId() != "" || Validate(resp) != nil {
			t.Errorf("NotifyResp: %v", resp)
		}
	})

	t.Run("02 boot event", func(t *testing.T) {
		n := want[*Notify](t, caps, "02-notify-boot")
		ev, ok := n.Notification.(*Event)
		if !ok || ev.Path() != "Device.Boot!" || ev.Params["Cause"] != "LocalFactoryReset" || n.SendResp {
			t.Errorf("%+v", n.Notification)
		}
	})

	t.Run("56 operation complete failure", func(t *testing.T) {
		n := want[*Notify](t, caps, "56-notify-opcomplete-selftest-fail")
		oc, ok := n.Notification.(*OperationComplete)
		if !ok || oc.Path() != "Device.SelfTestDiagnostics()" || !errors.Is(oc.Err, ErrCommandFailure) || oc.OutputArgs != nil {
			t.Errorf("%+v", n.Notification)
		}
	})

	t.Run("68 supported dm tree", func(t *testing.T) {
		r := want[*GetSupportedDMResp](t, caps, "68-gsdm-device-full")
		roots := r.Results[0].Tree()
		if len(roots) != 1 || roots[0].Object.Path != "Device." {
			t.Fatalf("%d roots", len(roots))
		}
		seen := 0
		roots[0].Walk(func(n *DMNode) bool {
			seen++
			for _, c := range n.Children {
				if parentObject(c.Object.Path) != n.Object.Path {
					t.Errorf("%s under %s", c.Object.Path, n.Object.Path)
				}
			}
			return true
		})
		if seen != 47 {
			t.Errorf("tree holds %d objects, want 47", seen)
		}
		ctrl, ok := r.Object("Device.LocalAgent.Controller.{i}.")
		if !ok || !ctrl.MultiInstance || ctrl.Access != ObjAddDelete {
			t.Fatalf("%+v", ctrl)
		}
		dev, _ := r.Object("Device.")
		var timer SupportedCommand
		for _, c := range dev.Commands {
			if c.Name == "ScheduleTimer()" {
				timer = c
			}
		}
		if timer.Type != CmdAsync || !slices.Equal(timer.Inputs, []string{"DelaySeconds"}) {
			t.Errorf("ScheduleTimer() = %+v", timer)
		}
		la, _ := r.Object("Device.LocalAgent.")
		for _, p := range la.Params {
			if p.Name == "UpTime" && (p.Type != TypeUnsignedInt || p.Access != ParamReadOnly || p.ValueChange != ValueChangeAllowed) {
				t.Errorf("UpTime = %+v", p)
			}
		}
	})

	t.Run("71 supported dm instance and bad", func(t *testing.T) {
		r := want[*GetSupportedDMResp](t, caps, "71-gsdm-instance-and-bad")
		roots := r.Results[0].Tree()
		if len(roots) != 1 || roots[0].Object.Path != "Device.LocalAgent.Controller.{i}." || len(roots[0].Children) != 2 {
			t.Errorf("tree: %d roots", len(roots))
		}
		if !errors.Is(r.Err(), ErrInvalidPath) || len(r.Failed()) != 1 {
			t.Errorf("Err() = %v", r.Err())
		}
	})

	t.Run("73 instances", func(t *testing.T) {
		r := want[*GetInstancesResp](t, caps, "73-getinstances-first-level")
		in := r.Results[0].Instances
		if len(in) != 2 || in[1].Path != "Device.LocalAgent.Controller.2." || in[1].UniqueKeys["EndpointID"] != "proto::other-controller" {
			t.Errorf("%+v", in)
		}
	})

	t.Run("75 supported protocol", func(t *testing.T) {
		r := want[*GetSupportedProtocolResp](t, caps, "75-get-supported-protocol")
		if got := VersionList(r.Versions); !slices.Equal(got, []string{"1.0", "1.1", "1.2", "1.3"}) {
			t.Errorf("%v", got)
		}
	})
}

// benchPayload is the biggest GetResp of the captures (Get "Device.", 190
// parameters), a realistic worst case for a controller.
func benchPayload(b *testing.B) []byte {
	b.Helper()
	for _, c := range loadCaptures(b) {
		if c.name == "16-get-device-all" {
			return c.raw
		}
	}
	b.Fatal("capture 16 missing")
	return nil
}

func BenchmarkDecode(b *testing.B) {
	raw := benchPayload(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseGetResp(b *testing.B) {
	m, err := Decode(benchPayload(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseGetResp(m)
		if err != nil || len(r.Values()) != 190 {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildGetResp(b *testing.B) {
	m, err := Decode(benchPayload(b))
	if err != nil {
		b.Fatal(err)
	}
	r, err := ParseGetResp(m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(r.Build("id")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildGet(b *testing.B) {
	g := Get{Paths: []string{"Device.DeviceInfo.", "Device.LocalAgent.EndpointID"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(g.Build(NewID())); err != nil {
			b.Fatal(err)
		}
	}
}
