package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
)

// BenchmarkGetText measures the text rendering of a large Get answer (the
// shape of OB-USP-A's "Device." dump, ~200 parameters).
func BenchmarkGetText(b *testing.B) {
	var res []msg.Resolved
	for i := range 34 {
		params := map[string]string{}
		for j := range 6 {
			params[fmt.Sprintf("Param%d", j)] = fmt.Sprintf("value-%d-%d", i, j)
		}
		res = append(res, msg.Resolved{Path: fmt.Sprintf("Device.Obj.%d.", i+1), Params: params})
	}
	resp := &msg.GetResp{Results: []msg.GetResult{{Requested: "Device.", Resolved: res}}}
	b.ReportAllocs()
	for b.Loop() {
		newGetResult(resp).writeText(io.Discard)
	}
}

// BenchmarkDecodeText measures decode's text rendering of the largest
// capture, a full GetSupportedDM answer.
func BenchmarkDecodeText(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(capturesDir, "68-gsdm-device-full.record.bin"))
	if err != nil {
		b.Skip(err)
	}
	rec, err := record.Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	m, err := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		writeMessage(io.Discard, m.ProtoReflect(), "")
	}
}
