package usptest

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/usprecord"
)

func periodicEventRec(r *usprecord.Record) bool {
	ev := payloadMsg(r).GetBody().GetRequest().GetNotify().GetEvent()
	return ev != nil && ev.GetObjPath()+ev.GetEventName() == periodicEvent
}

// TestPeriodicEvent: Periodic! comes at the controller's
// PeriodicNotifInterval, to that controller's subscription only, and
// stops when the interval is long again.
func TestPeriodicEvent(t *testing.T) { synctest.Test(t, testPeriodicEvent) }

func testPeriodicEvent(t *testing.T) {
	a, c := newTestAgent(t)
	// Another controller, with its own subscription and interval.
	other, err := a.Model().AddInstance("Device.LocalAgent.Controller.", map[string]string{"EndpointID": "proto::other", "Enable": "true", "PeriodicNotifInterval": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Model().AddInstance("Device.LocalAgent.Subscription.", map[string]string{
		"ID": "other-hb", "Enable": "true", "NotifType": "Event", "ReferenceList": periodicEvent, "Recipient": other[:len(other)-1]}); err != nil {
		t.Fatal(err)
	}
	resp := c.do(msg.AddParams("Device.LocalAgent.Subscription.", map[string]string{
		"ID": "hb", "Enable": "true", "NotifType": "Event", "ReferenceList": periodicEvent}))
	if resp.GetBody().GetResponse().GetAddResp() == nil {
		t.Fatalf("Add: %v", resp)
	}
	c.do(msg.SetParams(`Device.LocalAgent.Controller.[EndpointID=="`+ctrlID+`"].`, map[string]string{"PeriodicNotifInterval": "1"}))
	var at []time.Time
	for i := range 3 {
		r := c.take(3*time.Second, periodicEventRec)
		if r == nil {
			t.Fatalf("Periodic! %d never came", i+1)
		}
		if got := payloadMsg(r).GetBody().GetRequest().GetNotify().GetSubscriptionId(); got != "hb" {
			t.Fatalf("Periodic! for subscription %q, want hb", got)
		}
		at = append(at, time.Now())
	}
	// One a second: the other controller's timer, also 1s, sends nothing
	// here.
	if d := at[2].Sub(at[0]); d < 1500*time.Millisecond {
		t.Fatalf("three Periodic! events in %v with a 1s interval", d)
	}
	c.do(msg.SetParams(`Device.LocalAgent.Controller.[EndpointID=="`+ctrlID+`"].`, map[string]string{"PeriodicNotifInterval": "86400"}))
	c.take(2*time.Second, periodicEventRec) // one may have been on its way
	c.quiet(1500*time.Millisecond, periodicEventRec)
}
