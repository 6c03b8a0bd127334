package usptest

import (
	"testing"
	"time"

	"github.com/gousp/gousp/proto/usprecord"
)

func TestPeriodicEvent(t *testing.T) {
	a, c := newTestAgent(t)
	ctrls, err := a.Model().Instances("Device.LocalAgent.Controller.")
	if err != nil || len(ctrls) == 0 {
		t.Fatal(ctrls, err)
	}
	subscribe(t, c, "periodic", "Event", "Device.LocalAgent.Periodic!", false)
	if err := a.Model().Set(ctrls[0]+"PeriodicNotifTime", "2019-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	if err := a.Model().Set(ctrls[0]+"PeriodicNotifInterval", "1"); err != nil {
		t.Fatal(err)
	}
	periodic := func(r *usprecord.Record) bool {
		return notifyOf("Event")(r) && notifyBody(r).GetEvent().GetEventName() == "Periodic!"
	}
	if c.take(3*time.Second, periodic) == nil {
		t.Fatal("no Periodic!")
	}
	if c.take(3*time.Second, periodic) == nil {
		t.Fatal("no second Periodic!")
	}
	// Interval 0: no more events.
	if err := a.Model().Set(ctrls[0]+"PeriodicNotifInterval", "0"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	c.take(100*time.Millisecond, periodic) // one may have been on its way
	c.quiet(1500*time.Millisecond, periodic)
}
