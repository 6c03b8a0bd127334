package usptest

import (
	"time"

	"github.com/gousp/gousp/datamodel"
)

// periodicEvent is the heartbeat event of TR-181's LocalAgent.
const periodicEvent = "Device.LocalAgent.Periodic!"

// periodicTick is how often the agent looks at its controllers'
// PeriodicNotifInterval settings.
const periodicTick = 20 * time.Millisecond

// periodic sends Device.LocalAgent.Periodic! to each enabled controller
// every PeriodicNotifInterval seconds of that controller, as OB-USP-A
// does: the event goes only to that controller's subscriptions. A changed
// interval, or a reboot, starts the count again.
func (a *Agent) periodic() {
	defer a.wg.Done()
	type timer struct {
		secs uint32
		next time.Time
	}
	timers := map[string]*timer{}
	var booted time.Time
	t := time.NewTicker(periodicTick)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-a.runCtx.Done():
			return
		case now = <-t.C:
		}
		m := a.model
		want := map[string]uint32{}
		m.mu.RLock()
		started := m.started
		if la := m.instByPath("Device.LocalAgent."); la != nil && la.tables["Controller"] != nil {
			for _, o := range la.tables["Controller"].sorted() {
				if en, err := datamodel.ParseBool(o.values["Enable"]); err == nil && !en {
					continue
				}
				secs, err := datamodel.ParseUnsignedInt(o.values["PeriodicNotifInterval"])
				if id := o.values["EndpointID"]; err == nil && secs > 0 && id != "" {
					want[id] = secs
				}
			}
		}
		m.mu.RUnlock()
		if !started.Equal(booted) {
			booted = started
			clear(timers)
		}
		for id := range timers {
			if _, ok := want[id]; !ok {
				delete(timers, id)
			}
		}
		for id, secs := range want {
			tm := timers[id]
			if tm == nil || tm.secs != secs {
				timers[id] = &timer{secs: secs, next: now.Add(time.Duration(secs) * time.Second)}
				continue
			}
			if now.Before(tm.next) {
				continue
			}
			tm.next = tm.next.Add(time.Duration(secs) * time.Second)
			if tm.next.Before(now) {
				tm.next = now.Add(time.Duration(secs) * time.Second)
			}
			c := change{kind: chEvent, path: periodicEvent, to: id}
			a.enqueue(func() { a.notifyChanges([]change{c}) })
		}
	}
}
