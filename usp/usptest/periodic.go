package usptest

import (
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
)

// periodicEvent is the heartbeat event of TR-181's LocalAgent.
const periodicEvent = "Device.LocalAgent.Periodic!"

// wakePeriodic makes the periodic goroutine read the controllers'
// settings again: one changed, or the agent rebooted.
func (a *Agent) wakePeriodic() {
	select {
	case a.periodicWake <- struct{}{}:
	default:
	}
}

// controllerChanged reports whether a change touches what Periodic!
// depends on: a Device.LocalAgent.Controller entry created or deleted, or
// its PeriodicNotifInterval, Enable or EndpointID.
func controllerChanged(chs []change) bool {
	for _, c := range chs {
		rest, ok := strings.CutPrefix(c.path, "Device.LocalAgent.Controller.")
		if !ok {
			continue
		}
		if c.kind != chValue {
			return true
		}
		inst, param, _ := strings.Cut(rest, ".")
		if inst != "" && (param == "PeriodicNotifInterval" || param == "Enable" || param == "EndpointID") {
			return true
		}
	}
	return false
}

// periodic sends Device.LocalAgent.Periodic! to each enabled controller
// every PeriodicNotifInterval seconds of that controller, as OB-USP-A
// does: the event goes only to that controller's subscriptions. A changed
// interval, or a reboot, starts the count again. It sleeps until the next
// event is due or the settings change, so an agent costs nothing between
// events.
func (a *Agent) periodic() {
	defer a.wg.Done()
	type timer struct {
		secs uint32
		next time.Time
	}
	timers := map[string]*timer{}
	var booted time.Time
	t := time.NewTimer(0) // read the settings at once
	defer t.Stop()
	for {
		select {
		case <-a.runCtx.Done():
			return
		case <-t.C:
		case <-a.periodicWake:
		}
		now := time.Now()
		m := a.model
		want := map[string]uint32{}
		m.mu.RLock()
		started := m.started
		if la := m.instByPath("Device.LocalAgent."); la != nil && la.tables.get("Controller") != nil {
			for _, o := range la.tables.get("Controller").sorted() {
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
		var next time.Time
		for id, secs := range want {
			tm := timers[id]
			period := time.Duration(secs) * time.Second
			switch {
			case tm == nil || tm.secs != secs:
				tm = &timer{secs: secs, next: now.Add(period)}
				timers[id] = tm
			case !now.Before(tm.next):
				tm.next = tm.next.Add(period)
				if tm.next.Before(now) {
					tm.next = now.Add(period)
				}
				c := change{kind: chEvent, path: periodicEvent, to: id}
				a.enqueue(func() { a.notifyChanges([]change{c}) })
			}
			if next.IsZero() || tm.next.Before(next) {
				next = tm.next
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		if !next.IsZero() {
			t.Reset(next.Sub(now))
		}
	}
}
