package usptest

import (
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// BenchmarkGetRoundTrip measures a Get answered by a started agent over the
// memory transport, from the controller's send to its receipt.
func BenchmarkGetRoundTrip(b *testing.B) {
	_, c := newTestAgent(b)
	req := msg.Get{Paths: []string{"Device.WiFi.SSID.*.SSID"}}
	b.ReportAllocs()
	for b.Loop() {
		c.do(req)
	}
}

// BenchmarkHandleGet measures the agent's work on a Get of a whole
// subtree, without the transport.
func BenchmarkHandleGet(b *testing.B) {
	a, err := NewAgent(agentID, WithTransport(dummyTransport{}))
	if err != nil {
		b.Fatal(err)
	}
	g := &uspmsg.Get{ParamPaths: []string{"Device.LocalAgent.", "Device.WiFi."}}
	b.ReportAllocs()
	for b.Loop() {
		a.handleGet(g)
	}
}

// BenchmarkHandleSearch measures a Get through search expressions and a
// reference.
func BenchmarkHandleSearch(b *testing.B) {
	a, err := NewAgent(agentID, WithTransport(dummyTransport{}))
	if err != nil {
		b.Fatal(err)
	}
	g := &uspmsg.Get{ParamPaths: []string{`Device.WiFi.AccessPoint.[SSIDReference+.SSID=="usptest"&&Enable==true].Status`,
		"Device.WiFi.Radio.[Channel>10].Stats.Noise"}}
	b.ReportAllocs()
	for b.Loop() {
		a.handleGet(g)
	}
}

// BenchmarkHandleSet measures a Set of one parameter on two instances.
func BenchmarkHandleSet(b *testing.B) {
	a, err := NewAgent(agentID, WithTransport(dummyTransport{}))
	if err != nil {
		b.Fatal(err)
	}
	s := &uspmsg.Set{UpdateObjs: []*uspmsg.Set_UpdateObject{{ObjPath: "Device.WiFi.SSID.*.",
		ParamSettings: []*uspmsg.Set_UpdateParamSetting{{Param: "SSID", Value: "bench", Required: true}}}}}
	b.ReportAllocs()
	for b.Loop() {
		a.handleSet("", s)
	}
}

// BenchmarkDefaultModel measures building the default TR-181 model.
func BenchmarkDefaultModel(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		DefaultModel()
	}
}
