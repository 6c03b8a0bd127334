package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

func TestNaturalCompare(t *testing.T) {
	in := []string{"Device.X.10.A", "Device.X.2.A", "Device.X.1.B", "Device.X.1.A", "Device.X.02.A", "Device.Y.", "Device.X."}
	slices.SortFunc(in, naturalCompare)
	want := []string{"Device.X.", "Device.X.1.A", "Device.X.1.B", "Device.X.2.A", "Device.X.02.A", "Device.X.10.A", "Device.Y."}
	if !slices.Equal(in, want) {
		t.Errorf("sorted %v\nwant   %v", in, want)
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"a", "a", 0}, {"a1", "a01", -1}, {"a", "ab", -1}, {"b", "a", 1}, {"9", "10", -1}} {
		if got := naturalCompare(tt.a, tt.b); got != tt.want {
			t.Errorf("naturalCompare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a b": "a b", "tab\there": `"tab\there"`, "line\nbreak": `"line\nbreak"`, "": ""} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrefixLines(t *testing.T) {
	got := prefixLines("proto::a", 10, "one\ntwo\n")
	want := "proto::a    one\nproto::a    two\n"
	if got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 4, true)
	p.step(false)
	p.step(true)
	if got := p.line(); got != "[###############...............] 2/4 agents, 1 failed" {
		t.Errorf("line %q", got)
	}
	p.draw()
	p.finish()
	if out := buf.String(); !strings.HasPrefix(out, "\r[###") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("output %q", out)
	}
	var off bytes.Buffer
	q := newProgress(&off, 4, false)
	q.step(false)
	q.draw()
	q.finish()
	if off.Len() != 0 {
		t.Errorf("disabled bar wrote %q", off.String())
	}
}

func TestSplitObjects(t *testing.T) {
	objs, err := splitObjects("set", []string{"Device.A.1.", "X=1", "Y=a=b", `Device.B.[Name=="x"].`, "Z="}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].path != "Device.A.1." || objs[0].params["Y"] != "a=b" || objs[1].path != `Device.B.[Name=="x"].` ||
		objs[1].params["Z"] != "" || len(objs[1].params) != 1 {
		t.Errorf("%+v", objs)
	}
	opt, err := optionalSet("set", []string{"X", `Device.B.[Name=="x"].Z`}, objs)
	if err != nil {
		t.Fatal(err)
	}
	ps := paramList(objs[0], opt)
	if len(ps) != 2 || ps[0].Name != "X" || ps[0].Required || !ps[1].Required {
		t.Errorf("params %+v", ps)
	}
	if ps := paramList(objs[1], opt); ps[0].Required {
		t.Errorf("Z should be optional: %+v", ps)
	}
	for _, bad := range [][]string{{"X=1"}, {"Device.A.", "=1"}, {"Device.A.", "a b=1"}, {"Device.A.X", "Y=1"}} {
		if _, err := splitObjects("set", bad, false); exitCode(err) != exitUsage {
			t.Errorf("splitObjects(%q): %v", bad, err)
		}
	}
}

func TestResultRendering(t *testing.T) {
	get := newGetResult(&msg.GetResp{Results: []msg.GetResult{
		{Requested: "Device.X.", Resolved: []msg.Resolved{
			{Path: "Device.X.10.", Params: map[string]string{"Name": "ten"}},
			{Path: "Device.X.2.", Params: map[string]string{"Name": "two\tcols", "LongerName": ""}},
		}},
		{Requested: "Device.Nope.", Err: &msg.Error{Code: msg.CodeInvalidPath}},
	}})
	var buf bytes.Buffer
	get.writeText(&buf)
	want := "Device.X.2.LongerName\n" +
		"Device.X.2.Name        \"two\\tcols\"\n" +
		"Device.X.10.Name       ten\n" +
		"ERROR 7026 Device.Nope.: invalid path\n"
	if buf.String() != want {
		t.Errorf("get text:\n%q\nwant\n%q", buf.String(), want)
	}
	if !get.failed() {
		t.Error("a failed path is a failure")
	}

	set := newSetResult(&msg.SetResp{Results: []msg.SetResult{{
		Requested: "Device.A.", Err: &msg.Error{Code: msg.CodeRequiredParamFailed, Message: "failed"},
		Failed: []msg.FailedInstance{{Path: "Device.A.", ParamErrs: []msg.ParamError{{Path: "Device.A.B", Code: msg.CodeParamReadOnly}}}},
	}}})
	buf.Reset()
	set.writeText(&buf)
	if want := "ERROR 7021 Device.A.: failed\n  ERROR 7013 Device.A.B: " + msg.CodeParamReadOnly.String() + "\n"; buf.String() != want {
		t.Errorf("set text %q, want %q", buf.String(), want)
	}

	b, err := json.Marshal(newDeleteResult(&msg.DeleteResp{Results: []msg.DeleteResult{{Requested: "Device.A.*.", Affected: []string{"Device.A.1."}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"deleted":["Device.A.1."],"unaffected":[],"errors":[]}` {
		t.Errorf("delete JSON %s", b)
	}
}

func TestRequestErrorJSON(t *testing.T) {
	e := newJSONError(fmt.Errorf("wrapped: %w", &msg.Error{Code: msg.CodeInvalidArguments, Message: "bad", ParamErrs: []msg.ParamError{{Path: "Device.A.B", Code: msg.CodeInvalidType, Message: "not a number"}}}))
	if e.Kind != "agent" || e.Code != 7004 || e.Message != "bad" || len(e.ParamErrors) != 1 || e.ParamErrors[0].Code != 7011 {
		t.Errorf("%+v", e)
	}
	if e := newJSONError(errors.New("oops")); e.Kind != "failed" || e.Code != 0 {
		t.Errorf("%+v", e)
	}
	if newJSONError(nil) != nil {
		t.Error("nil error gives an error object")
	}
}

func TestWriteMessage(t *testing.T) {
	rec := record.NewDisconnect("1.3", "proto::c", "proto::a", "bye\n", record.CodeSessionContextTerminated)
	var buf bytes.Buffer
	writeMessage(&buf, rec.ProtoReflect(), "")
	want := "version: \"1.3\"\nto_id: \"proto::c\"\nfrom_id: \"proto::a\"\ndisconnect:\n  reason: \"bye\\n\"\n  reason_code: 7105\n"
	if buf.String() != want {
		t.Errorf("%q\nwant\n%q", buf.String(), want)
	}
	sc := record.NewSessionContext("1.3", "proto::c", "proto::a", &usprecord.SessionContextRecord{
		SessionId: 1, SequenceId: 1, ExpectedId: 1, Payload: [][]byte{{1, 2, 3}},
	})
	buf.Reset()
	writeMessage(&buf, sc.ProtoReflect(), "")
	if !strings.Contains(buf.String(), "payload[0]: 3 bytes: 010203") {
		t.Errorf("%s", buf.String())
	}
}

// Example_decode shows uspctl decode on a capture from OB-USP-A.
func Example_decode() {
	bin := filepath.Join(capturesDir, "01-mqtt-connect.record.bin")
	a := newApp(strings.NewReader(""), os.Stdout, os.Stderr, func(string) string { return "" })
	a.run(context.Background(), []string{"decode", bin})
	// Output:
	// # USP Record, 78 bytes (mqtt_connect)
	// version: "1.3"
	// to_id: "proto::test-controller"
	// from_id: "proto::obuspa-test-agent"
	// mqtt_connect:
	//   version: V5
	//   subscribed_topic: "/usp/agent/obuspa"
}
