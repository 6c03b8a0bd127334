package usptest

import (
	"fmt"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
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

// BenchmarkMatchChanges measures finding the subscriptions a change
// concerns and building its notifications, as an agent of uspsim's fleet
// does for each event and value change (two subscriptions of its own
// beside the default model's).
func BenchmarkMatchChanges(b *testing.B) {
	a, err := NewAgent(agentID, WithTransport(dummyTransport{}), WithController(ctrlID, mtp.Address{MTP: mtp.Memory, To: ctrlID}))
	if err != nil {
		b.Fatal(err)
	}
	m := a.Model()
	for j, sub := range []map[string]string{
		{"NotifType": "Event", "ReferenceList": "Device.LocalAgent.Periodic!"},
		{"NotifType": "ValueChange", "ReferenceList": "Device.WiFi.SSID.1.Stats.BytesSent"},
	} {
		sub["ID"] = fmt.Sprintf("bench-%d", j+1)
		sub["Enable"], sub["Recipient"], sub["NotifRetry"] = "true", "Device.LocalAgent.Controller.1", "true"
		if _, err := m.AddInstance("Device.LocalAgent.Subscription.", sub); err != nil {
			b.Fatal(err)
		}
	}
	chs := [][]change{
		{{kind: chEvent, path: "Device.LocalAgent.Periodic!"}},
		{{kind: chValue, path: "Device.WiFi.SSID.1.Stats.BytesSent", value: "42"}},
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if len(a.matchChanges(chs[i%2])) != 1 {
			b.Fatal("no notification")
		}
		i++
	}
}

// BenchmarkNotifyBoot measures what an agent does per notification in a
// boot storm: a Boot! matched against the subscriptions, built with its
// ParameterMap, encoded and handed to the transport (one that sends
// nothing), its retry armed and ended by the NotifyResp.
func BenchmarkNotifyBoot(b *testing.B) {
	a, err := NewAgent(agentID, WithTransport(dummyTransport{}), WithController(ctrlID, mtp.Address{MTP: mtp.Memory, To: ctrlID}))
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Model().Set("Device.LocalAgent.Subscription.1.NotifRetry", "true"); err != nil {
		b.Fatal(err)
	}
	defer a.Close(b.Context())
	boot := []change{{kind: chEvent, path: "Device.Boot!", keys: map[string]string{"Cause": "LocalReboot"}}}
	b.ReportAllocs()
	for b.Loop() {
		a.notifyChanges(boot)
		ids := a.PendingNotifications()
		if len(ids) != 1 {
			b.Fatalf("%d notifications pending, want 1", len(ids))
		}
		a.ackNotify(ids[0])
	}
}
