package usptest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// The captures are answers of the Broadband Forum reference agent OB-USP-A
// to a scripted sequence of requests (see MANIFEST.md beside them). This
// file replays the same requests, in the same order, against a usptest
// agent and compares the structure of both answers: message and result
// kinds, error codes, resolved, affected and instantiated paths (for the
// objects both data models have), parameter and unique key names.

const (
	obuspaAgent = "proto::obuspa-test-agent"
	obuspaCtrl  = "proto::test-controller"
)

func captureDir(t testing.TB) string {
	dir := os.Getenv("GOUSP_CAPTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "msg", "testdata", "obuspa")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		t.Fatalf("OB-USP-A captures not found: %v", err)
	}
	return dir
}

// capture is one captured record and the request that produced it.
type capture struct {
	name    string
	rec     *usprecord.Record
	msg     *uspmsg.Msg       // decoded payload of a NoSessionContext record
	req     *uspmsg.Msg       // request message, when the capture answers one
	reqRec  *usprecord.Record // request record, for record-level probes
	handEnc bool              // the request was hand-encoded (no text form)
}

func loadCaptures(t testing.TB) map[string]*capture {
	dir := captureDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.record.bin"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*capture{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".record.bin")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := &capture{name: name, rec: &usprecord.Record{}}
		if err := proto.Unmarshal(b, c.rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p := c.rec.GetNoSessionContext().GetPayload(); p != nil {
			c.msg = &uspmsg.Msg{}
			if err := proto.Unmarshal(p, c.msg); err != nil {
				t.Fatalf("%s payload: %v", name, err)
			}
		}
		txt, err := os.ReadFile(strings.TrimSuffix(f, ".bin") + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		parseRequest(t, c, string(txt))
		out[name] = c
	}
	return out
}

// parseRequest reads the request quoted in the comment header of a .txt
// capture: protobuf text of a usp.Msg or, for record-level probes, of a
// usp_record.Record.
func parseRequest(t testing.TB, c *capture, txt string) {
	var lines []string
	on := false
	for _, l := range strings.Split(txt, "\n") {
		switch {
		case strings.Contains(l, "request sent by the capturing controller"):
			on = true
		case strings.HasPrefix(l, "# ----"):
			on = false
		case on:
			l = strings.TrimPrefix(l, "#")
			if strings.Contains(l, "(hand-encoded)") {
				c.handEnc = true
				return
			}
			lines = append(lines, l)
		}
	}
	text := strings.TrimSpace(strings.Join(lines, "\n"))
	if text == "" {
		return
	}
	if strings.HasPrefix(text, "version:") {
		c.reqRec = &usprecord.Record{}
		if err := prototext.Unmarshal([]byte(text), c.reqRec); err != nil {
			t.Fatalf("%s request record: %v", c.name, err)
		}
		return
	}
	c.req = &uspmsg.Msg{}
	if err := prototext.Unmarshal([]byte(text), c.req); err != nil {
		t.Fatalf("%s request: %v", c.name, err)
	}
}

// supportedSet lists the supported object paths of a GetSupportedDMResp.
func supportedSet(m *uspmsg.Msg) map[string]bool {
	out := map[string]bool{}
	for _, r := range m.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults() {
		for _, o := range r.GetSupportedObjs() {
			out[o.GetSupportedObjPath()] = true
		}
	}
	return out
}

// sharedObjects are the objects whose parameter names both models agree
// on, so that their parameter sets are compared too.
var sharedObjects = map[string]bool{
	"Device.LocalAgent.Controller.{i}.":                   true,
	"Device.LocalAgent.Controller.{i}.MTP.{i}.":           true,
	"Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.":      true,
	"Device.LocalAgent.Controller.{i}.MTP.{i}.STOMP.":     true,
	"Device.LocalAgent.Controller.{i}.BootParameter.{i}.": true,
	"Device.LocalAgent.Subscription.{i}.":                 true,
	"Device.LocalAgent.MTP.{i}.":                          true,
	"Device.LocalAgent.MTP.{i}.MQTT.":                     true,
	"Device.LocalAgent.MTP.{i}.STOMP.":                    true,
}

// comparer compares one of our answers with the captured one.
type comparer struct {
	t      *testing.T
	theirs map[string]bool // OB-USP-A's supported objects
	ours   *Model
}

func supportedOf(path string) string {
	p, err := datamodel.Parse(path)
	if err != nil {
		return path
	}
	return p.SupportedPath()
}

// common reports whether both data models have the object of path.
func (c *comparer) common(path string) bool {
	sp := supportedOf(path)
	if !c.theirs[sp] {
		return false
	}
	p, err := datamodel.Parse(sp)
	if err != nil {
		return false
	}
	c.ours.mu.RLock()
	defer c.ours.mu.RUnlock()
	return c.ours.defOf(p, p.Len()) != nil
}

func (c *comparer) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(format, args...)
}

func keysOf[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (c *comparer) compare(ours, theirs *uspmsg.Msg) {
	c.t.Helper()
	if ot, tt := ours.GetHeader().GetMsgType(), theirs.GetHeader().GetMsgType(); ot != tt {
		c.errorf("msg_type %v, OB-USP-A %v\nours: %v", ot, tt, prototext.Format(ours))
		return
	}
	if ours.GetHeader().GetMsgId() != theirs.GetHeader().GetMsgId() {
		c.errorf("msg_id %q, want %q", ours.GetHeader().GetMsgId(), theirs.GetHeader().GetMsgId())
	}
	ob, tb := ours.GetBody(), theirs.GetBody()
	if e := tb.GetError(); e != nil {
		c.compareError(ob.GetError(), e)
		return
	}
	or, tr := ob.GetResponse(), tb.GetResponse()
	switch {
	case tr.GetGetResp() != nil:
		c.compareGet(or.GetGetResp(), tr.GetGetResp())
	case tr.GetSetResp() != nil:
		c.compareSet(or.GetSetResp(), tr.GetSetResp())
	case tr.GetAddResp() != nil:
		c.compareAdd(or.GetAddResp(), tr.GetAddResp())
	case tr.GetDeleteResp() != nil:
		c.compareDelete(or.GetDeleteResp(), tr.GetDeleteResp())
	case tr.GetOperateResp() != nil:
		c.compareOperate(or.GetOperateResp(), tr.GetOperateResp())
	case tr.GetGetSupportedDmResp() != nil:
		c.compareGSDM(or.GetGetSupportedDmResp(), tr.GetGetSupportedDmResp())
	case tr.GetGetInstancesResp() != nil:
		c.compareInstances(or.GetGetInstancesResp(), tr.GetGetInstancesResp())
	case tr.GetGetSupportedProtocolResp() != nil:
		if o, w := or.GetGetSupportedProtocolResp().GetAgentSupportedProtocolVersions(),
			tr.GetGetSupportedProtocolResp().GetAgentSupportedProtocolVersions(); o != w {
			c.errorf("versions %q, want %q", o, w)
		}
	default:
		c.errorf("no comparison for %v", prototext.Format(theirs))
	}
}

func (c *comparer) compareError(ours, theirs *uspmsg.Error) {
	c.t.Helper()
	if ours == nil {
		c.errorf("no Error, OB-USP-A answered %d", theirs.GetErrCode())
		return
	}
	if ours.GetErrCode() != theirs.GetErrCode() {
		c.errorf("err_code %d (%s), want %d", ours.GetErrCode(), ours.GetErrMsg(), theirs.GetErrCode())
	}
	var o, w []string
	for _, p := range ours.GetParamErrs() {
		o = append(o, fmt.Sprintf("%s=%d", p.GetParamPath(), p.GetErrCode()))
	}
	for _, p := range theirs.GetParamErrs() {
		w = append(w, fmt.Sprintf("%s=%d", p.GetParamPath(), p.GetErrCode()))
	}
	if !slices.Equal(o, w) {
		c.errorf("param_errs %v, want %v", o, w)
	}
}

func (c *comparer) compareGet(ours, theirs *uspmsg.GetResp) {
	c.t.Helper()
	or, tr := ours.GetReqPathResults(), theirs.GetReqPathResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		if o.GetRequestedPath() != w.GetRequestedPath() || o.GetErrCode() != w.GetErrCode() {
			c.errorf("result %d: %q err %d (%s), want %q err %d", i, o.GetRequestedPath(), o.GetErrCode(), o.GetErrMsg(),
				w.GetRequestedPath(), w.GetErrCode())
			continue
		}
		if w.GetErrCode() != 0 {
			continue
		}
		c.compareResolved(o.GetRequestedPath(), o.GetResolvedPathResults(), w.GetResolvedPathResults())
	}
}

// compareResolved compares the resolved objects both models have.
func (c *comparer) compareResolved(req string, ours, theirs []*uspmsg.GetResp_ResolvedPathResult) {
	c.t.Helper()
	set := func(rs []*uspmsg.GetResp_ResolvedPathResult) map[string][]string {
		out := map[string][]string{}
		for _, r := range rs {
			if c.common(r.GetResolvedPath()) {
				out[r.GetResolvedPath()] = keysOf(r.GetResultParams())
			}
		}
		return out
	}
	o, w := set(ours), set(theirs)
	if !slices.Equal(keysOf(o), keysOf(w)) {
		c.errorf("%s: resolved %v, want %v", req, keysOf(o), keysOf(w))
		return
	}
	for p, wk := range w {
		sp := supportedOf(p)
		param := !strings.HasSuffix(req, ".")
		if (sharedObjects[sp] || param) && !slices.Equal(o[p], wk) {
			c.errorf("%s: %s params %v, want %v", req, p, o[p], wk)
		}
	}
}

func paramErrs[T interface {
	GetParam() string
	GetErrCode() uint32
}](pes []T) []string {
	var out []string
	for _, p := range pes {
		out = append(out, fmt.Sprintf("%s=%d", p.GetParam(), p.GetErrCode()))
	}
	return out
}

func (c *comparer) compareSet(ours, theirs *uspmsg.SetResp) {
	c.t.Helper()
	or, tr := ours.GetUpdatedObjResults(), theirs.GetUpdatedObjResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		if o.GetRequestedPath() != w.GetRequestedPath() {
			c.errorf("result %d: %q, want %q", i, o.GetRequestedPath(), w.GetRequestedPath())
		}
		of, wf := o.GetOperStatus().GetOperFailure(), w.GetOperStatus().GetOperFailure()
		if (of == nil) != (wf == nil) {
			c.errorf("result %d: failure %v, want %v", i, of, wf)
			continue
		}
		if wf != nil {
			if of.GetErrCode() != wf.GetErrCode() {
				c.errorf("result %d: err %d, want %d", i, of.GetErrCode(), wf.GetErrCode())
			}
			var op, wp []string
			for _, f := range of.GetUpdatedInstFailures() {
				op = append(op, f.GetAffectedPath()+strings.Join(paramErrs(f.GetParamErrs()), ","))
			}
			for _, f := range wf.GetUpdatedInstFailures() {
				wp = append(wp, f.GetAffectedPath()+strings.Join(paramErrs(f.GetParamErrs()), ","))
			}
			if !slices.Equal(op, wp) {
				c.errorf("result %d: failures %v, want %v", i, op, wp)
			}
			continue
		}
		var op, wp []string
		for _, u := range o.GetOperStatus().GetOperSuccess().GetUpdatedInstResults() {
			op = append(op, fmt.Sprint(u.GetAffectedPath(), keysOf(u.GetUpdatedParams()), paramErrs(u.GetParamErrs())))
		}
		for _, u := range w.GetOperStatus().GetOperSuccess().GetUpdatedInstResults() {
			wp = append(wp, fmt.Sprint(u.GetAffectedPath(), keysOf(u.GetUpdatedParams()), paramErrs(u.GetParamErrs())))
		}
		if !slices.Equal(op, wp) {
			c.errorf("result %d: updated %v, want %v", i, op, wp)
		}
	}
}

func (c *comparer) compareAdd(ours, theirs *uspmsg.AddResp) {
	c.t.Helper()
	or, tr := ours.GetCreatedObjResults(), theirs.GetCreatedObjResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		of, wf := o.GetOperStatus().GetOperFailure(), w.GetOperStatus().GetOperFailure()
		if (of == nil) != (wf == nil) {
			c.errorf("result %d: failure %v, want %v", i, of, wf)
			continue
		}
		if wf != nil {
			if of.GetErrCode() != wf.GetErrCode() {
				c.errorf("result %d: err %d (%s), want %d", i, of.GetErrCode(), of.GetErrMsg(), wf.GetErrCode())
			}
			continue
		}
		os, ws := o.GetOperStatus().GetOperSuccess(), w.GetOperStatus().GetOperSuccess()
		if os.GetInstantiatedPath() != ws.GetInstantiatedPath() {
			c.errorf("result %d: instantiated %q, want %q", i, os.GetInstantiatedPath(), ws.GetInstantiatedPath())
		}
		if o, w := keysOf(os.GetUniqueKeys()), keysOf(ws.GetUniqueKeys()); !slices.Equal(o, w) {
			c.errorf("result %d: unique keys %v, want %v", i, o, w)
		}
		if o, w := paramErrs(os.GetParamErrs()), paramErrs(ws.GetParamErrs()); !slices.Equal(o, w) {
			c.errorf("result %d: param_errs %v, want %v", i, o, w)
		}
	}
}

func (c *comparer) compareDelete(ours, theirs *uspmsg.DeleteResp) {
	c.t.Helper()
	or, tr := ours.GetDeletedObjResults(), theirs.GetDeletedObjResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		of, wf := o.GetOperStatus().GetOperFailure(), w.GetOperStatus().GetOperFailure()
		if (of == nil) != (wf == nil) || of.GetErrCode() != wf.GetErrCode() {
			c.errorf("result %d: failure %v, want %v", i, of, wf)
			continue
		}
		oa := o.GetOperStatus().GetOperSuccess().GetAffectedPaths()
		wa := w.GetOperStatus().GetOperSuccess().GetAffectedPaths()
		if !slices.Equal(oa, wa) {
			c.errorf("result %d: affected %v, want %v", i, oa, wa)
		}
	}
}

func (c *comparer) compareOperate(ours, theirs *uspmsg.OperateResp) {
	c.t.Helper()
	or, tr := ours.GetOperationResults(), theirs.GetOperationResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		if o.GetExecutedCommand() != w.GetExecutedCommand() {
			c.errorf("result %d: executed %q, want %q", i, o.GetExecutedCommand(), w.GetExecutedCommand())
		}
		switch {
		case w.GetCmdFailure() != nil:
			if o.GetCmdFailure().GetErrCode() != w.GetCmdFailure().GetErrCode() {
				c.errorf("result %d: failure %v, want %v", i, o.GetCmdFailure(), w.GetCmdFailure())
			}
		case w.GetReqObjPath() != "":
			if o.GetReqObjPath() != w.GetReqObjPath() {
				c.errorf("result %d: req_obj_path %q, want %q", i, o.GetReqObjPath(), w.GetReqObjPath())
			}
		default:
			if o.GetReqOutputArgs() == nil {
				c.errorf("result %d: %v, want output args", i, o)
			}
		}
	}
}

func (c *comparer) compareGSDM(ours, theirs *uspmsg.GetSupportedDMResp) {
	c.t.Helper()
	or, tr := ours.GetReqObjResults(), theirs.GetReqObjResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		if o.GetReqObjPath() != w.GetReqObjPath() || o.GetErrCode() != w.GetErrCode() {
			c.errorf("result %d: %q err %d, want %q err %d", i, o.GetReqObjPath(), o.GetErrCode(), w.GetReqObjPath(), w.GetErrCode())
			continue
		}
		if o.GetDataModelInstUri() != w.GetDataModelInstUri() {
			c.errorf("result %d: uri %q, want %q", i, o.GetDataModelInstUri(), w.GetDataModelInstUri())
		}
		objs := func(r *uspmsg.GetSupportedDMResp_RequestedObjectResult) map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult {
			out := map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult{}
			for _, so := range r.GetSupportedObjs() {
				if c.common(so.GetSupportedObjPath()) {
					out[so.GetSupportedObjPath()] = so
				}
			}
			return out
		}
		oo, wo := objs(o), objs(w)
		if !slices.Equal(keysOf(oo), keysOf(wo)) {
			c.errorf("result %d: objects %v, want %v", i, keysOf(oo), keysOf(wo))
			continue
		}
		if len(o.GetSupportedObjs()) > 0 && len(w.GetSupportedObjs()) > 0 &&
			o.GetSupportedObjs()[0].GetSupportedObjPath() != w.GetSupportedObjs()[0].GetSupportedObjPath() {
			c.errorf("result %d: first object %q, want %q", i, o.GetSupportedObjs()[0].GetSupportedObjPath(),
				w.GetSupportedObjs()[0].GetSupportedObjPath())
		}
		for p, ws := range wo {
			os := oo[p]
			if os.GetAccess() != ws.GetAccess() || os.GetIsMultiInstance() != ws.GetIsMultiInstance() {
				c.errorf("%s: access %v multi %v, want %v %v", p, os.GetAccess(), os.GetIsMultiInstance(), ws.GetAccess(), ws.GetIsMultiInstance())
			}
			params := func(so *uspmsg.GetSupportedDMResp_SupportedObjectResult) []string {
				var out []string
				for _, sp := range so.GetSupportedParams() {
					out = append(out, fmt.Sprint(sp.GetParamName(), sp.GetAccess(), sp.GetValueType(), sp.GetValueChange()))
				}
				sort.Strings(out)
				return out
			}
			if op, wp := params(os), params(ws); (sharedObjects[p] || len(wp) == 0) && !slices.Equal(op, wp) {
				c.errorf("%s: params\n%v\nwant\n%v", p, op, wp)
			}
			keys := func(so *uspmsg.GetSupportedDMResp_SupportedObjectResult) []string {
				var out []string
				for _, ks := range so.GetUniqueKeySets() {
					k := slices.Clone(ks.GetKeyNames())
					sort.Strings(k)
					out = append(out, strings.Join(k, "+"))
				}
				sort.Strings(out)
				return out
			}
			if ok, wk := keys(os), keys(ws); sharedObjects[p] && !slices.Equal(ok, wk) {
				c.errorf("%s: unique keys %v, want %v", p, ok, wk)
			}
			for _, wc := range ws.GetSupportedCommands() {
				if p+wc.GetCommandName() == "Device.SelfTestDiagnostics()" {
					continue // OB-USP-A adds a vendor argument
				}
				for _, oc := range os.GetSupportedCommands() {
					if oc.GetCommandName() == wc.GetCommandName() && (oc.GetCommandType() != wc.GetCommandType() ||
						!slices.Equal(oc.GetInputArgNames(), wc.GetInputArgNames())) {
						c.errorf("%s%s: %v, want %v", p, wc.GetCommandName(), oc, wc)
					}
				}
			}
		}
	}
}

func (c *comparer) compareInstances(ours, theirs *uspmsg.GetInstancesResp) {
	c.t.Helper()
	or, tr := ours.GetReqPathResults(), theirs.GetReqPathResults()
	if len(or) != len(tr) {
		c.errorf("%d results, want %d", len(or), len(tr))
		return
	}
	for i := range tr {
		o, w := or[i], tr[i]
		if o.GetRequestedPath() != w.GetRequestedPath() || o.GetErrCode() != w.GetErrCode() {
			c.errorf("result %d: %q err %d, want %q err %d", i, o.GetRequestedPath(), o.GetErrCode(), w.GetRequestedPath(), w.GetErrCode())
			continue
		}
		list := func(r *uspmsg.GetInstancesResp_RequestedPathResult) []string {
			var out []string
			for _, ci := range r.GetCurrInsts() {
				if c.common(ci.GetInstantiatedObjPath()) {
					out = append(out, fmt.Sprint(ci.GetInstantiatedObjPath(), keysOf(ci.GetUniqueKeys())))
				}
			}
			return out
		}
		// Order matters: OB-USP-A sorts names as text and numbers by value.
		if ol, wl := list(o), list(w); !slices.Equal(ol, wl) {
			c.errorf("result %d: instances\n%v\nwant\n%v", i, ol, wl)
		}
	}
}

var notifyIDPattern = regexp.MustCompile(`^(Event|ValueChange|ObjectCreation|ObjectDeletion|OperationComplete|OnBoardRequest)-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ-\d+$`)

// compareNotify compares one of our notifications with a captured one.
func (c *comparer) compareNotify(ours, theirs *uspmsg.Msg) {
	c.t.Helper()
	on, tn := ours.GetBody().GetRequest().GetNotify(), theirs.GetBody().GetRequest().GetNotify()
	if !notifyIDPattern.MatchString(ours.GetHeader().GetMsgId()) {
		c.errorf("notification msg_id %q does not follow <Type>-<time>-<n>", ours.GetHeader().GetMsgId())
	}
	if on.GetSubscriptionId() != tn.GetSubscriptionId() || on.GetSendResp() != tn.GetSendResp() {
		c.errorf("subscription %q send_resp %v, want %q %v", on.GetSubscriptionId(), on.GetSendResp(), tn.GetSubscriptionId(), tn.GetSendResp())
	}
	summary := func(n *uspmsg.Notify) string {
		switch {
		case n.GetEvent() != nil:
			return fmt.Sprint("event ", n.GetEvent().GetObjPath(), n.GetEvent().GetEventName(), keysOf(n.GetEvent().GetParams()))
		case n.GetValueChange() != nil:
			return fmt.Sprint("value ", n.GetValueChange().GetParamPath(), "=", n.GetValueChange().GetParamValue())
		case n.GetObjCreation() != nil:
			return fmt.Sprint("created ", n.GetObjCreation().GetObjPath(), keysOf(n.GetObjCreation().GetUniqueKeys()))
		case n.GetObjDeletion() != nil:
			return fmt.Sprint("deleted ", n.GetObjDeletion().GetObjPath())
		case n.GetOperComplete() != nil:
			oc := n.GetOperComplete()
			return fmt.Sprint("complete ", oc.GetObjPath(), oc.GetCommandName(), " key=", oc.GetCommandKey(),
				" out=", keysOf(oc.GetReqOutputArgs().GetOutputArgs()), " fail=", oc.GetCmdFailure().GetErrCode())
		case n.GetOnBoardReq() != nil:
			return fmt.Sprint("onboard ", n.GetOnBoardReq().GetAgentSupportedProtocolVersions())
		}
		return "?"
	}
	if o, w := summary(on), summary(tn); o != w {
		c.errorf("notification %s\nwant %s", o, w)
	}
}

// captureScenario runs the agent the captures came from: OB-USP-A's
// endpoint IDs, its Controller.1 and MQTT MTP entries, and its Boot!
// subscription boot-1 (created by WithController).
func captureScenario(t *testing.T) (*Agent, *testController) {
	m := DefaultModel()
	if err := m.LoadValues(map[string]string{
		"Device.LocalAgent.Controller.1.Alias":                 "test-controller",
		"Device.LocalAgent.Controller.1.Enable":                "true",
		"Device.LocalAgent.Controller.1.EndpointID":            obuspaCtrl,
		"Device.LocalAgent.Controller.1.MTP.1.Alias":           "ctrl-mqtt",
		"Device.LocalAgent.Controller.1.MTP.1.Enable":          "true",
		"Device.LocalAgent.Controller.1.MTP.1.Protocol":        "MQTT",
		"Device.LocalAgent.Controller.1.MTP.1.MQTT.Topic":      "/usp/controller/test",
		"Device.LocalAgent.MTP.1.Alias":                        "mtp-mqtt",
		"Device.LocalAgent.MTP.1.Enable":                       "true",
		"Device.LocalAgent.MTP.1.Protocol":                     "MQTT",
		"Device.LocalAgent.MTP.1.MQTT.ResponseTopicConfigured": "/usp/agent/obuspa",
		// OB-USP-A's MQTT client (the replay runs over mtp/memory, which
		// has no Device.MQTT.Client of its own).
		"Device.MQTT.Client.1.Alias":         "mqtt-1",
		"Device.MQTT.Client.1.Name":          "mqtt-1",
		"Device.MQTT.Client.1.BrokerAddress": "127.0.0.1",
		"Device.MQTT.Client.1.Status":        "Connected",
	}); err != nil {
		t.Fatal(err)
	}
	// OB-USP-A's ScheduleTimer waits for real; the replay need not.
	if err := m.HandleCommand("Device.ScheduleTimer()", func(ctx context.Context, _ string, _ map[string]string) (map[string]string, error) {
		return nil, wait(ctx, 10*time.Millisecond)
	}); err != nil {
		t.Fatal(err)
	}
	net := memory.NewNetwork()
	c := &testController{t: t, net: net, id: obuspaCtrl, agentID: obuspaAgent, version: "1.3", arrived: make(chan struct{}, 1)}
	var err error
	if c.ep, err = net.Endpoint(obuspaCtrl); err != nil {
		t.Fatal(err)
	}
	if err := c.ep.Start(context.Background(), mtp.HandlerFuncs{Record: c.receive}); err != nil {
		t.Fatal(err)
	}
	aep, err := net.Endpoint(obuspaAgent)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(obuspaAgent, WithTransport(aep), WithModel(m), WithKnownControllersOnly(),
		WithController(obuspaCtrl, mtp.Address{MTP: mtp.Memory, To: obuspaCtrl}),
		WithBootCause("LocalFactoryReset"), WithNotifyRetry(30*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := c.ep.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return a, c
}

// skipped lists captures the replay leaves out, and why.
var skipped = map[string]string{
	"01-mqtt-connect":                             "connect record of the MQTT binding (covered by TestConnectRecords)",
	"55-operate-async-selftest-fail":              "uses OB-USP-A's vendor argument X_ARRIS-COM_TestNumber",
	"56-notify-opcomplete-selftest-fail":          "follows 55",
	"58-operate-async-bad-arg-range":              "uses OB-USP-A's vendor argument X_ARRIS-COM_TestNumber",
	"64-add-challenge":                            "ControllerTrust is not in the usptest model",
	"65-operate-sync-output-args":                 "ControllerTrust is not in the usptest model",
	"66-operate-sync-cmd-failure":                 "ControllerTrust is not in the usptest model",
	"67-operate-sync-bad-arg":                     "ControllerTrust is not in the usptest model",
	"81-disconnect-encrypted-payload-reconnect":   "MQTT reconnection",
	"83-disconnect-session-context-reconnect":     "MQTT reconnection",
	"85-disconnect-reply-to-disconnect-reconnect": "MQTT reconnection",
	"86-delete-two-paths":                         "its second path is in ControllerTrust",
	"88-mqtt-connect-after-publishqos-1":          "MQTT reconnection",
}

func TestOBUSPACaptures(t *testing.T) {
	caps := loadCaptures(t)
	a, c := captureScenario(t)
	cmp := &comparer{t: t, theirs: supportedSet(caps["68-gsdm-device-full"].msg), ours: a.Model()}
	if len(cmp.theirs) == 0 {
		t.Fatal("no supported objects in 68-gsdm-device-full")
	}

	var names []string
	for n := range caps {
		if n[0] >= '0' && n[0] <= '9' {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var lastNotify *usprecord.Record
	compared := 0
	for _, name := range names {
		cp := caps[name]
		if why, ok := skipped[name]; ok {
			t.Logf("skipping %s: %s", name, why)
			continue
		}
		t.Run(name, func(t *testing.T) {
			c.t = t
			cmp.t = t
			switch {
			case cp.req != nil:
				id := cp.req.GetHeader().GetMsgId()
				if name == "17-get-reqrecord-v1.4" {
					c.version = "1.4"
					defer func() { c.version = "1.3" }()
				}
				c.sendMsg(cp.req)
				r := c.take(5*time.Second, msgWithID(id))
				if r == nil {
					t.Fatalf("no answer to %s", id)
				}
				if r.GetVersion() != "1.3" {
					t.Errorf("record version %q, want 1.3", r.GetVersion())
				}
				cmp.compare(payloadMsg(r), cp.msg)
				compared++
			case cp.reqRec != nil:
				c.sendRecord(cp.reqRec)
				r := c.take(5*time.Second, func(r *usprecord.Record) bool { return r.GetDisconnect() != nil })
				if r == nil {
					t.Fatal("no DisconnectRecord")
				}
				if got, want := r.GetDisconnect().GetReasonCode(), cp.rec.GetDisconnect().GetReasonCode(); got != want {
					t.Errorf("reason_code %d, want %d", got, want)
				}
				compared++
			case cp.handEnc:
				// 77: a Get header whose request holds only unknown field 99.
				req := protowire.AppendTag(nil, 99, protowire.BytesType)
				req = protowire.AppendString(req, "unknown")
				body := protowire.AppendTag(nil, 1, protowire.BytesType)
				body = protowire.AppendBytes(body, req)
				hdr, _ := proto.Marshal(&uspmsg.Header{MsgId: cp.msg.GetHeader().GetMsgId(), MsgType: uspmsg.Header_GET})
				m := protowire.AppendTag(nil, 1, protowire.BytesType)
				m = protowire.AppendBytes(m, hdr)
				m = protowire.AppendTag(m, 2, protowire.BytesType)
				m = protowire.AppendBytes(m, body)
				r, _ := proto.Marshal(record.NewNoSessionContext("1.3", obuspaAgent, obuspaCtrl, m))
				c.sendBytes(r)
				got := c.take(5*time.Second, msgWithID(cp.msg.GetHeader().GetMsgId()))
				if got == nil {
					t.Fatal("no answer")
				}
				cmp.compare(payloadMsg(got), cp.msg)
				compared++
			case cp.msg.GetBody().GetRequest().GetNotify() != nil:
				if strings.Contains(name, "retry") {
					// Unanswered: the same record again, then acknowledged.
					again := c.take(5*time.Second, notifyOfID(payloadMsg(lastNotify).GetHeader().GetMsgId()))
					if again == nil {
						t.Fatal("no retransmission")
					}
					if d := gocmp.Diff(lastNotify, again, protocmp.Transform()); d != "" {
						t.Errorf("retransmission differs from the first (-first +again):\n%s", d)
					}
					c.ack(again)
					compared++
					return
				}
				if name == "59-notify-opcomplete-sendresp-false" {
					// The Operate with send_resp=false that precedes it gets no answer.
					c.sendMsg(opNoResp())
					c.quiet(50*time.Millisecond, msgWithID("operate-send-resp-false"))
				}
				kind := notifyKind(cp.msg)
				r := c.take(5*time.Second, notifyOf(kind))
				if r == nil {
					t.Fatalf("no %s notification", kind)
				}
				cmp.compareNotify(payloadMsg(r), cp.msg)
				lastNotify = r
				compared++
				if cp.msg.GetBody().GetRequest().GetNotify().GetSendResp() && !strings.Contains(caps[nextName(names, name)].name, "retry") {
					c.ack(r)
				}
			case cp.msg.GetBody().GetRequest().GetNotify() == nil && cp.rec.GetMqttConnect() != nil:
				t.Skip("MQTT connect record")
			default:
				t.Fatalf("capture %s not understood", name)
			}
		})
	}
	c.t = t
	if compared < 70 {
		t.Errorf("compared %d captures, expected at least 70", compared)
	}
}

func nextName(names []string, name string) string {
	i := slices.Index(names, name)
	if i+1 < len(names) {
		return names[i+1]
	}
	return name
}

func notifyKind(m *uspmsg.Msg) string {
	n := m.GetBody().GetRequest().GetNotify()
	switch {
	case n.GetEvent() != nil:
		return "Event"
	case n.GetValueChange() != nil:
		return "ValueChange"
	case n.GetObjCreation() != nil:
		return "ObjectCreation"
	case n.GetObjDeletion() != nil:
		return "ObjectDeletion"
	case n.GetOperComplete() != nil:
		return "OperationComplete"
	}
	return "OnBoardRequest"
}

func notifyOfID(id string) func(*usprecord.Record) bool {
	return func(r *usprecord.Record) bool {
		m := payloadMsg(r)
		return m.GetBody().GetRequest().GetNotify() != nil && m.GetHeader().GetMsgId() == id
	}
}

// opNoResp is the Operate of the MANIFEST's "operate-send-resp-false"
// step, which produced no capture of its own.
func opNoResp() *uspmsg.Msg {
	return &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: "operate-send-resp-false", MsgType: uspmsg.Header_OPERATE},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: &uspmsg.Request{ReqType: &uspmsg.Request_Operate{
			Operate: &uspmsg.Operate{Command: "Device.ScheduleTimer()", CommandKey: "probe-timer-noresp",
				InputArgs: map[string]string{"DelaySeconds": "1"}},
		}}}},
	}
}

// TestOBUSPAIgnored sends what OB-USP-A ignores silently and checks that
// usptest ignores it too.
func TestOBUSPAIgnored(t *testing.T) {
	_, c := captureScenario(t)
	if c.take(time.Second, notifyOf("Event")) == nil {
		t.Fatal("no Boot!")
	}
	getMsg := func(id string, t uspmsg.Header_MsgType) *uspmsg.Msg {
		return &uspmsg.Msg{Header: &uspmsg.Header{MsgId: id, MsgType: t},
			Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: &uspmsg.Request{ReqType: &uspmsg.Request_Get{
				Get: &uspmsg.Get{ParamPaths: []string{"Device.DeviceInfo.ModelName"}}}}}}}
	}
	get := func(id string) []byte {
		b, _ := proto.Marshal(getMsg(id, uspmsg.Header_GET))
		return b
	}
	rec := func(to, from string, payload []byte) []byte {
		r := record.NewNoSessionContext("1.3", to, from, payload)
		b, _ := proto.Marshal(r)
		return b
	}
	getResp, _ := proto.Marshal(&uspmsg.Msg{Header: &uspmsg.Header{MsgId: "ignored-getresp", MsgType: uspmsg.Header_GET_RESP},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Response{Response: &uspmsg.Response{RespType: &uspmsg.Response_GetResp{GetResp: &uspmsg.GetResp{}}}}}})
	mqttConn, _ := proto.Marshal(record.NewMQTTConnect("1.3", obuspaAgent, obuspaCtrl, usprecord.MQTTConnectRecord_V5, "/usp/controller/test"))
	undefinedType, _ := proto.Marshal(getMsg("error-unknown-msg-type", uspmsg.Header_MsgType(99)))
	cases := []struct {
		name string
		data []byte
	}{
		{"ignored-getresp", rec(obuspaAgent, obuspaCtrl, getResp)},
		{"ignored-empty-payload", rec(obuspaAgent, obuspaCtrl, nil)},
		{"ignored-wrong-to-id", rec("proto::somebody-else", obuspaCtrl, get("ignored-wrong-to-id"))},
		{"ignored-unknown-from-id", rec(obuspaAgent, "proto::stranger", get("ignored-unknown-from-id"))},
		{"ignored-mqtt-connect-record", mqttConn},
		{"ignored-garbage", []byte("this is not protobuf \xff\xff")},
		{"ignored-garbage-payload", rec(obuspaAgent, obuspaCtrl, []byte("\xff\xff\xff not a usp.Msg"))},
		{"error-unknown-msg-type", rec(obuspaAgent, obuspaCtrl, undefinedType)},
	}
	for _, tc := range cases {
		c.sendBytes(tc.data)
	}
	// Every probe is handled in order; a Get sent last proves they were
	// all processed, and nothing may have come before its answer.
	r := c.doID("after", getMsg("after", uspmsg.Header_GET))
	if r.GetHeader().GetMsgType() != uspmsg.Header_GET_RESP {
		t.Fatalf("answer %v", r)
	}
	c.quiet(20*time.Millisecond, anyRecord)
}
