package usptest

import (
	"time"

	"github.com/gousp/gousp/datamodel"
)

const periodicEvent = "Device.LocalAgent.Periodic!"

// periodicEvents sends Device.LocalAgent.Periodic! on the controllers'
// schedules (TR-181: at PeriodicNotifTime plus whole multiples of
// PeriodicNotifInterval; an unknown PeriodicNotifTime counts from the
// agent's start). The event goes to every Subscription to it when any
// enabled controller's schedule comes due.
func (a *Agent) periodicEvents() {
	defer a.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	m := a.model
	last := a.cfg.clock()
	for {
		select {
		case <-a.runCtx.Done():
			return
		case <-tick.C:
		}
		now := a.cfg.clock()
		if a.periodicDue(m, last, now) {
			a.enqueue(func() { a.notifyChanges([]change{{kind: chEvent, path: periodicEvent, keys: map[string]string{}}}) })
		}
		last = now
	}
}

// periodicDue reports whether a controller's schedule has a point in
// (from, to].
func (a *Agent) periodicDue(m *Model, from, to time.Time) bool {
	ctrls, err := m.Instances("Device.LocalAgent.Controller.")
	if err != nil {
		return false
	}
	for _, c := range ctrls {
		if en, _ := m.Get(c + "Enable"); en == "false" || en == "0" {
			continue
		}
		iv, _ := m.Get(c + "PeriodicNotifInterval")
		n, err := datamodel.ParseUnsignedInt(iv)
		if err != nil || n == 0 {
			continue
		}
		interval := time.Duration(n) * time.Second
		m.mu.RLock()
		ref := m.started
		m.mu.RUnlock()
		if s, _ := m.Get(c + "PeriodicNotifTime"); s != "" {
			if t, err := time.Parse(time.RFC3339, s); err == nil && t.Year() > 1 {
				ref = t
			}
		}
		if to.Before(ref) {
			continue
		}
		k := func(t time.Time) int64 {
			if t.Before(ref) {
				return -1
			}
			return int64(t.Sub(ref) / interval)
		}
		if k(to) > k(from) {
			return true
		}
	}
	return false
}

// hasPeriodic reports whether the model defines the Periodic! event.
func (m *Model) hasPeriodic() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, err := m.resolve(periodicEvent)
	return err == nil && r.kind == datamodel.KindEvent
}
