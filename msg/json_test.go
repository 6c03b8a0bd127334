package msg

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestJSON(t *testing.T) {
	m := Operate{Command: "Device.Reboot()", CommandKey: "k", SendResp: true, Args: map[string]string{"Cause": "x"}}.Build("op-1")
	compact, err := JSON(m)
	if err != nil {
		t.Fatal(err)
	}
	indented, err := JSONIndent(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.TrimSpace(compact), []byte("\n")) || bytes.Count(indented, []byte("\n")) < 5 {
		t.Errorf("compact:\n%s\nindented:\n%s", compact, indented)
	}
	for _, out := range [][]byte{compact, indented} {
		// Field names are the .proto ones, as in the spec.
		var doc struct {
			Header struct {
				MsgID   string `json:"msg_id"`
				MsgType string `json:"msg_type"`
			} `json:"header"`
			Body struct {
				Request struct {
					Operate struct {
						CommandKey string            `json:"command_key"`
						InputArgs  map[string]string `json:"input_args"`
					} `json:"operate"`
				} `json:"request"`
			} `json:"body"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Header.MsgID != "op-1" || doc.Header.MsgType != "OPERATE" || doc.Body.Request.Operate.CommandKey != "k" ||
			doc.Body.Request.Operate.InputArgs["Cause"] != "x" {
			t.Errorf("JSON content: %+v", doc)
		}
		back, err := FromJSON(out)
		if err != nil || !proto.Equal(back, m) {
			t.Errorf("FromJSON: %v", err)
		}
	}
	// camelCase input is accepted too.
	if _, err := FromJSON([]byte(`{"header":{"msgId":"g","msgType":"GET"},"body":{"request":{"get":{"paramPaths":["Device."]}}}}`)); err != nil {
		t.Errorf("camelCase: %v", err)
	}
	if _, err := FromJSON([]byte(`{"header":`)); !errors.Is(err, ErrDecode) {
		t.Errorf("broken JSON: %v", err)
	}
	if m, err := FromJSON([]byte(`{"header":{"msg_id":"g","msg_type":"SET"},"body":{"request":{"get":{}}}}`)); !errors.Is(err, ErrInvalid) || m == nil {
		t.Errorf("mismatched JSON: %v", err)
	}
}

func BenchmarkJSON(b *testing.B) {
	m := GetResp{Results: []GetResult{{Requested: "Device.DeviceInfo.", Resolved: []Resolved{
		{Path: "Device.DeviceInfo.", Params: map[string]string{"Manufacturer": "x", "ModelName": "y", "SerialNumber": "z"}},
	}}}}.Build("id")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JSON(m); err != nil {
			b.Fatal(err)
		}
	}
}
