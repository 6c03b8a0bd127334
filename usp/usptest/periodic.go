package usptest

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/datamodel"
)

// periodicEvent is the heartbeat event of TR-181's LocalAgent.
const periodicEvent = "Device.LocalAgent.Periodic!"

// periodicState drives Device.LocalAgent.Periodic! from a timer rather
// than a goroutine of its own, so that an agent between events costs no
// goroutine stack: the timer runs periodicTick, which reads the
// controllers' settings, queues the events due and sets the timer for the
// next one.
type periodicState struct {
	t     atomic.Pointer[time.Timer]
	dirty atomic.Bool // the settings changed since the last check began

	mu     sync.Mutex // held by a check, and by Close to end checks
	closed bool
	timers map[string]*periodicTimer // by controller endpoint ID
	booted time.Time                 // the model's start the timers count from
}

type periodicTimer struct {
	secs uint32
	next time.Time
}

// wakePeriodic makes the Periodic! timer read the controllers' settings
// again: one changed, or the agent rebooted.
func (a *Agent) wakePeriodic() {
	a.per.dirty.Store(true)
	if t := a.per.t.Load(); t != nil {
		t.Reset(0)
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

// periodicTick sends Device.LocalAgent.Periodic! to each enabled controller
// every PeriodicNotifInterval seconds of that controller, as OB-USP-A
// does: the event goes only to that controller's subscriptions. A changed
// interval, or a reboot, starts the count again. It runs on the timer's
// goroutine, only when an event is due or the settings changed.
func (a *Agent) periodicTick() {
	p := &a.per
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || a.runCtx.Err() != nil {
		return
	}
	p.dirty.Store(false)
	if p.timers == nil {
		p.timers = map[string]*periodicTimer{}
	}
	now := time.Now()
	m := a.model
	want := map[string]uint32{}
	m.mu.RLock()
	started := m.started
	if la := m.instByPath("Device.LocalAgent."); la != nil && la.tables.get("Controller") != nil {
		for _, o := range la.tables.get("Controller").sorted() {
			if en, err := datamodel.ParseBool(o.val("Enable")); err == nil && !en {
				continue
			}
			secs, err := datamodel.ParseUnsignedInt(o.val("PeriodicNotifInterval"))
			if id := o.val("EndpointID"); err == nil && secs > 0 && id != "" {
				want[id] = secs
			}
		}
	}
	m.mu.RUnlock()
	if !started.Equal(p.booted) {
		p.booted = started
		clear(p.timers)
	}
	for id := range p.timers {
		if _, ok := want[id]; !ok {
			delete(p.timers, id)
		}
	}
	var next time.Time
	for id, secs := range want {
		tm := p.timers[id]
		period := time.Duration(secs) * time.Second
		switch {
		case tm == nil || tm.secs != secs:
			tm = &periodicTimer{secs: secs, next: now.Add(period)}
			p.timers[id] = tm
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
	if len(p.timers) == 0 {
		p.timers = nil // most simulated agents have no periodic controller
	}
	t := p.t.Load()
	if !next.IsZero() {
		t.Reset(next.Sub(now))
	}
	if p.dirty.Load() { // changed while this check read the old settings
		t.Reset(0)
	}
}
