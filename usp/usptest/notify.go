package usptest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
)

// notifTypes maps change kinds to Subscription NotifType values.
var notifTypes = map[changeKind]string{
	chValue:      "ValueChange",
	chCreated:    "ObjectCreation",
	chDeleted:    "ObjectDeletion",
	chEvent:      "Event",
	chOpComplete: "OperationComplete",
}

// onChanges receives what changed in the model, from any goroutine, and
// queues the notifications so that they follow the response of the request
// being handled.
func (a *Agent) onChanges(chs []change) {
	if a.running() != nil {
		return
	}
	if controllerChanged(chs) {
		a.wakePeriodic()
	}
	if bulkChanged(chs) {
		a.enqueue(a.syncBulk)
	}
	if subs, settings := mqttChanged(chs); subs || settings {
		a.enqueue(func() {
			if settings {
				a.applyMQTTSettings()
			}
			if subs {
				a.syncMQTT()
			}
		})
	}
	if wsRetryChanged(chs) {
		a.enqueue(a.applyWSRetry)
	}
	if settings, dest := stompChanged(chs); settings || dest {
		a.enqueue(func() {
			if settings {
				a.applySTOMPSettings()
			}
			if dest {
				a.applySTOMPDestinations()
			}
		})
	}
	a.enqueue(func() { a.notifyChanges(chs) })
}

// subscription is what the agent reads from one enabled
// Device.LocalAgent.Subscription.{i}. instance.
type subscription struct {
	path       string // instance path
	id         string
	notifType  string
	refs       []datamodel.Path
	retry      bool
	expiration time.Duration
	recipient  string // "Device.LocalAgent.Controller.1", or "" for every configured controller
}

// subscriptionTable returns the Subscription table, nil if the model has
// none. Callers hold m.mu.
func (m *Model) subscriptionTable() *table {
	la := m.instByPath("Device.LocalAgent.")
	if la == nil {
		return nil
	}
	return la.tables.get("Subscription")
}

// subscriptionInstances returns the Subscription instances in instance
// order. Callers hold m.mu.
func (m *Model) subscriptionInstances() []*objInst {
	if t := m.subscriptionTable(); t != nil {
		return t.sorted()
	}
	return nil
}

// notifKinds is notifTypes the other way round.
var notifKinds = func() map[string]changeKind {
	r := make(map[string]changeKind, len(notifTypes))
	for k, v := range notifTypes {
		r[v] = k
	}
	return r
}()

// kindMask is the set of change kinds in chs, one bit each.
func kindMask(chs []change) uint32 {
	var mask uint32
	for _, c := range chs {
		mask |= 1 << c.kind
	}
	return mask
}

// subscriptions reads the enabled subscriptions whose NotifType is one of
// the kinds in mask, in instance order. Callers hold m.mu. It runs for
// every change an agent makes, so the others are skipped on their
// NotifType before anything else is read. They are appended to out, which
// the caller may give room on its stack.
func (m *Model) subscriptions(mask uint32, out []subscription) []subscription {
	t := m.subscriptionTable()
	if t == nil {
		return out
	}
	for _, e := range t.inst {
		o := e.o
		if k, ok := notifKinds[o.val("NotifType")]; !ok || mask&(1<<k) == 0 {
			continue
		}
		if en, err := datamodel.ParseBool(o.val("Enable")); err != nil || !en {
			continue
		}
		s := subscription{path: e.o.path, id: o.val("ID"), notifType: o.val("NotifType"), recipient: o.val("Recipient")}
		s.retry, _ = datamodel.ParseBool(o.val("NotifRetry"))
		if secs, err := datamodel.ParseUnsignedInt(o.val("NotifExpiration")); err == nil {
			s.expiration = time.Duration(secs) * time.Second
		}
		s.refs = parseRefs(o.val("ReferenceList"))
		out = append(out, s)
	}
	return out
}

// refLists holds the parsed ReferenceLists the agents of this process have
// seen (string -> []datamodel.Path, shared read-only). A simulated fleet
// repeats a handful of lists on every agent and every change reads them,
// so each is parsed once per process instead of once per change; there
// is no per-agent copy to pay for. Bounded by maxRefLists: past it, lists
// are parsed each time as before.
var (
	refLists     sync.Map
	refListCount atomic.Int32
)

const maxRefLists = 4096

// parseRefs parses a ReferenceList, leaving out what does not parse and
// references to follow (which the agent does not resolve).
func parseRefs(list string) []datamodel.Path {
	if v, ok := refLists.Load(list); ok {
		return v.([]datamodel.Path)
	}
	var refs []datamodel.Path
	for _, ref := range datamodel.ParseList(list) {
		if p, err := datamodel.Parse(ref); err == nil && !p.HasRefFollow() {
			refs = append(refs, p)
		}
	}
	if refListCount.Load() < maxRefLists {
		if _, loaded := refLists.LoadOrStore(list, refs); !loaded {
			refListCount.Add(1)
		}
	}
	return refs
}

// covers reports whether the subscription's ReferenceList selects the
// (parsed) path c.
func (m *Model) covers(s subscription, c datamodel.Path) bool {
	lookup := func(inst, param string) (string, datamodel.ValueType, bool) {
		o := m.instByPath(inst)
		if o == nil {
			return "", 0, false
		}
		return m.lookupRel(o, param)
	}
	for _, ref := range s.refs {
		if ok, err := ref.Covers(c, lookup); err == nil && ok {
			return true
		}
	}
	return false
}

// outgoing is one notification to send.
type outgoing struct {
	to         string
	sub        subscription
	n          msg.Notification
	sendResp   bool
	expiration time.Duration
}

// notifyChanges sends the notifications the subscriptions ask for.
func (a *Agent) notifyChanges(chs []change) {
	for _, o := range a.matchChanges(chs) {
		a.notify(o.to, o.sub.path, o.sub.id, o.sendResp, o.expiration, o.n)
	}
}

// matchChanges builds the notifications the subscriptions ask for, under
// the model's read lock; notifyChanges sends them once it is released.
func (a *Agent) matchChanges(chs []change) []outgoing {
	m := a.model
	var outs []outgoing
	m.mu.RLock()
	defer m.mu.RUnlock()
	var buf [4]subscription
	subs := m.subscriptions(kindMask(chs), buf[:0])
	var acls map[string]*acl // each recipient's rights, when access control is on
	for _, c := range chs {
		if c.kind == chCreated {
			a.scheduleExpiry(c.path)
		}
		kind := notifTypes[c.kind]
		var parsed datamodel.Path // c.path, parsed once for all subscriptions
		var perr error
		tried := false
		for _, s := range subs {
			if s.notifType != kind {
				continue
			}
			if !tried {
				parsed, perr = datamodel.Parse(c.path)
				tried = true
			}
			if perr != nil || !m.covers(s, parsed) {
				continue
			}
			for _, to := range a.recipients(s.recipient) {
				if c.to != "" && to != c.to {
					continue
				}
				hide := false // blank secured values (see hidesSecured)
				if m.access {
					l, ok := acls[to]
					if !ok {
						if acls == nil {
							acls = map[string]*acl{}
						}
						l = m.aclFor(to)
						acls[to] = l
					}
					if !l.notifyAllowed(c) {
						continue
					}
					hide = l.hidesSecured()
				}
				n := m.notification(c, to, hide)
				outs = append(outs, outgoing{to: to, sub: s, n: n, sendResp: s.retry, expiration: s.expiration})
			}
		}
	}
	return outs
}

// scheduleExpiry arranges for a new subscription with a TimeToLive to be
// deleted when it runs out. Callers hold m.mu.
func (a *Agent) scheduleExpiry(path string) {
	m := a.model
	o := m.instByPath(path)
	if o == nil || o.def.path != subscriptionPath {
		return
	}
	ttl, err := datamodel.ParseUnsignedInt(o.val("TimeToLive"))
	if err != nil || ttl == 0 {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if !a.sleep(time.Duration(ttl) * time.Second) {
			return
		}
		m.write(func() {
			if m.instByPath(path) == o { // not replaced by a factory reset
				m.remove(o)
			}
		})
	}()
}

// recipients gives the endpoint IDs a subscription's notifications go to:
// its Recipient controller if enabled, or every configured controller for a
// subscription without Recipient. Callers hold m.mu.
func (a *Agent) recipients(recipient string) []string {
	m := a.model
	if recipient == "" {
		var out []string
		for _, c := range a.cfg.controllers {
			out = append(out, c.id)
		}
		return out
	}
	o := m.instByPath(recipient)
	if o == nil || o.def.path != "Device.LocalAgent.Controller.{i}." {
		return nil
	}
	if en, err := datamodel.ParseBool(o.val("Enable")); err == nil && !en {
		return nil
	}
	if id := o.val("EndpointID"); id != "" {
		return []string{id}
	}
	return nil
}

// notification builds the notification of one change for one controller;
// hide blanks the values of secured parameters in it, as a Get of them
// would (maskSecured). Callers hold m.mu.
func (m *Model) notification(c change, to string, hide bool) msg.Notification {
	switch c.kind {
	case chValue:
		v := c.value
		if hide && m.securedParam(c.path) {
			v = ""
		}
		return &msg.ValueChange{ParamPath: c.path, ParamValue: v}
	case chCreated:
		keys := maps.Clone(c.keys)
		if hide {
			if inst := m.instByPath(c.path); inst != nil {
				blankSecured(inst.def, keys)
			}
		}
		return &msg.ObjectCreation{ObjPath: c.path, UniqueKeys: keys}
	case chDeleted:
		return &msg.ObjectDeletion{ObjPath: c.path}
	case chOpComplete:
		obj, name := splitLeafText(c.path)
		oc := &msg.OperationComplete{ObjPath: obj, CommandName: name, CommandKey: c.cmdKey, Err: c.err}
		if c.err == nil {
			oc.OutputArgs = maps.Clone(c.keys)
			if oc.OutputArgs == nil {
				oc.OutputArgs = map[string]string{}
			}
		}
		return oc
	}
	obj, name := splitLeafText(c.path)
	params := maps.Clone(c.keys)
	if c.path == "Device.Boot!" {
		if params == nil {
			params = map[string]string{}
		}
		params["ParameterMap"] = m.bootParameters(to, hide)
	}
	return &msg.Event{ObjPath: obj, EventName: name, Params: params}
}

// splitLeafText splits "Device.X.Y()" into "Device.X." and "Y()".
func splitLeafText(path string) (string, string) {
	i := strings.LastIndexByte(path, '.')
	return path[:i+1], path[i+1:]
}

// bootParameters is the ParameterMap of a Boot! event for one controller:
// the values of the parameters its enabled BootParameter entries name, as a
// JSON object, with secured values blank when hide is set. Callers hold
// m.mu.
func (m *Model) bootParameters(to string, hide bool) string {
	out := map[string]string{}
	if ctrl := m.controllerByID(to); ctrl != nil {
		if t := ctrl.tables.get("BootParameter"); t != nil {
			for _, bp := range t.sorted() {
				if en, _ := datamodel.ParseBool(bp.val("Enable")); !en {
					continue
				}
				rs, err := m.getPath(bp.val("ParameterName"), 0)
				if err != nil {
					continue
				}
				for _, r := range rs {
					if inst := m.instByPath(r.Path); hide && inst != nil {
						blankSecured(inst.def, r.Params)
					}
					for k, v := range r.Params {
						out[r.Path+k] = v
					}
				}
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// pendingNotify is a Notify waiting for its NotifyResp.
type pendingNotify struct {
	acked chan struct{}
}

// nextMsgID gives notification msg_ids the OB-USP-A way:
// <Type>-<UTC time>-<counter per type>.
func (a *Agent) nextMsgID(kind string) string {
	a.mu.Lock()
	lazyMap(&a.counters)[kind]++
	n := a.counters[kind]
	a.mu.Unlock()
	var buf [64]byte // one allocation, the string's
	b := append(buf[:0], kind...)
	b = append(b, '-')
	b = a.cfg.clock().UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(n), 10)
	return string(b)
}

// notify sends one Notify to a controller and, when it asks for a
// response, resends the same bytes until the NotifyResp comes, the
// expiration passes or the agent closes. It runs on the worker.
func (a *Agent) notify(to, subPath, subID string, sendResp bool, expiration time.Duration, n msg.Notification) {
	id := a.nextMsgID(n.Kind())
	m := msg.Notify{SubscriptionID: subID, SendResp: sendResp, Notification: n}.Build(id)
	// Encoded once, straight into its record; the Notify's own bytes, which
	// a session context carries instead, are the record's last ones.
	data, err := record.EncodeMsg(a.cfg.version, to, a.id, m)
	if err != nil {
		a.log.Error("encoding notification record", "err", err)
		return
	}
	payload := data[len(data)-m.SizeVT():]
	// Filed as pending before it goes out: a NotifyResp may come back
	// before the send returns.
	var p *pendingNotify
	if sendResp {
		p = &pendingNotify{acked: make(chan struct{})}
		a.mu.Lock()
		lazyMap(&a.pending)[id] = p
		a.mu.Unlock()
	}
	if !a.sendNotification(to, subPath, payload, data) {
		a.log.Warn("no address for notification", "to", to, "msg_id", id)
	}
	if !sendResp {
		return
	}
	a.wg.Add(1)
	go a.retry(id, to, subPath, payload, data, expiration, p)
}

func (a *Agent) retry(id, to, subPath string, payload, data []byte, expiration time.Duration, p *pendingNotify) {
	defer a.wg.Done()
	defer func() {
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
	}()
	var deadline <-chan time.Time
	if expiration > 0 {
		t := time.NewTimer(expiration)
		defer t.Stop()
		deadline = t.C
	}
	wait := a.cfg.retryMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-p.acked:
			t.Stop()
			return
		case <-deadline:
			t.Stop()
			return
		case <-a.runCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		a.enqueue(func() { a.sendNotification(to, subPath, payload, data) })
		wait = min(wait*2, a.cfg.retryMax)
	}
}

// sendNotification sends a Notify: inside the session context with the
// controller when session context is on, otherwise as the NoSessionContext
// record data (the same bytes on every retry). It reports whether the
// controller could be reached.
func (a *Agent) sendNotification(to, subPath string, payload, data []byte) bool {
	r, ok := a.routeFor(to, subPath)
	if !ok {
		return false
	}
	if s := a.sessionWith(to, true); s != nil && s.active() {
		a.sendInSession(r, s, payload)
		return true
	}
	_ = a.sendBytes(r, data)
	return true
}

// ackNotify ends the retries of the Notify with msg_id id.
func (a *Agent) ackNotify(id string) {
	if a.faults.takeIgnoreNotifyResp() {
		return
	}
	a.mu.Lock()
	p := a.pending[id]
	delete(a.pending, id)
	a.mu.Unlock()
	if p != nil {
		close(p.acked)
	}
}

// PendingNotifications returns the msg_ids of the notifications still
// waiting for their NotifyResp.
func (a *Agent) PendingNotifications() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.pending))
	for id := range a.pending {
		out = append(out, id)
	}
	return out
}

// Emit fires an event, e.g. "Device.LocalAgent.TransferComplete!" or
// "Device.WiFi.AccessPoint.1.AssociatedDevice.2.Disconnected!" (hypothetical
// names must be defined in the model first), and sends it to the Event
// subscriptions whose ReferenceList covers it. It returns once the
// notifications are sent, not answered.
func (a *Agent) Emit(ctx context.Context, eventPath string, args map[string]string) error {
	if err := a.running(); err != nil {
		return err
	}
	m := a.model
	m.mu.RLock()
	r, rerr := m.resolve(eventPath)
	m.mu.RUnlock()
	var err error
	switch {
	case rerr != nil:
		err = rerr
	case r.kind != datamodel.KindEvent:
		err = invalidPath("%s is not an event path", eventPath)
	case r.search:
		err = invalidPath("%s: an event happens on one object, not a search", eventPath)
	case len(r.objs) == 0:
		err = msg.Errorf(msg.CodeObjectNotFound, "%s: no such object instance", eventPath)
	}
	if err != nil {
		return fmt.Errorf("usptest: emit: %w", err)
	}
	done := make(chan struct{})
	c := change{kind: chEvent, path: eventPath, keys: maps.Clone(args)}
	a.enqueue(func() {
		defer close(done)
		a.notifyChanges([]change{c})
	})
	return a.wait(ctx, done)
}

// sendBoot sends the Boot! event to its subscribers.
func (a *Agent) sendBoot(cause, commandKey string, firmwareUpdated bool) {
	a.notifyChanges([]change{{kind: chEvent, path: "Device.Boot!", keys: map[string]string{
		"Cause": cause, "CommandKey": commandKey, "FirmwareUpdated": datamodel.FormatBool(firmwareUpdated),
		"Reason": "Unknown",
	}}})
}

// reboot simulates a reboot requested by a command: the agent goes silent
// for the reboot downtime, then reconnects and sends Boot!.
func (a *Agent) reboot(cause, commandKey string, firmwareUpdated bool) {
	a.enqueue(func() {
		if !a.sleep(a.cfg.rebootDowntime) {
			return
		}
		m := a.model
		m.write(func() {
			m.started = a.cfg.clock()
			// Subscriptions that are not Persistent do not survive a
			// reboot (TR-181); the agent was down, so nobody is told.
			mark := len(m.pending)
			for _, s := range m.subscriptionInstances() {
				if p, _ := datamodel.ParseBool(s.val("Persistent")); !p {
					m.remove(s)
				}
			}
			m.pending = m.pending[:mark]
		})
		a.forgetSessions()
		a.wakePeriodic()
		a.reconnect()
		a.sendBoot(cause, commandKey, firmwareUpdated)
	})
}

// factoryReset puts the model back as it was at Start, then reboots.
func (a *Agent) factoryReset(commandKey string) {
	a.enqueue(func() {
		if !a.sleep(a.cfg.rebootDowntime) {
			return
		}
		m := a.model
		m.lock()
		if !m.factoryDue { // else nothing changed since Start
			m.restore(a.factory)
		}
		m.started = a.cfg.clock()
		m.unlock()
		a.wakePeriodic()
		a.syncBulk() // the restored model's profiles, not the old ones
		a.forgetSessions()
		a.reconnect()
		a.sendBoot("RemoteFactoryReset", commandKey, false)
	})
}

// reconnect sends the connect records again, as after a new connection.
func (a *Agent) reconnect() {
	for _, b := range a.bindings {
		a.mu.Lock()
		clear(b.sessions)
		a.mu.Unlock()
		a.sendConnects(b)
	}
}

// onBoard sends an OnBoardRequest to the controller at controllerPath.
func (a *Agent) onBoard(controllerPath string) error {
	m := a.model
	m.mu.RLock()
	ctrl := m.instByPath(controllerPath)
	var to string
	if ctrl != nil {
		to = ctrl.val("EndpointID")
	}
	get := func(p string) string {
		if o := m.instByPath("Device.DeviceInfo."); o != nil {
			return o.val(p)
		}
		return ""
	}
	ob := &msg.OnBoardRequest{
		OUI: get("ManufacturerOUI"), ProductClass: get("ProductClass"), SerialNumber: get("SerialNumber"),
		AgentSupportedProtocolVersions: a.cfg.versions,
	}
	m.mu.RUnlock()
	if to == "" {
		return msg.Errorf(msg.CodeCommandFailure, "controller %s has no endpoint ID", controllerPath)
	}
	a.enqueue(func() { a.notify(to, "", "", true, 0, ob) })
	return nil
}
