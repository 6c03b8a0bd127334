package usptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Errors of the agent's life cycle.
var (
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("usptest: agent already started")
	// ErrClosed: the agent is closed.
	ErrClosed = errors.New("usptest: agent closed")
	// ErrNotStarted: the call needs a started agent.
	ErrNotStarted = errors.New("usptest: agent not started")
	// ErrNoTransport: NewAgent was given no transport.
	ErrNoTransport = errors.New("usptest: no transport")
	// ErrModelInUse: the model already serves another agent.
	ErrModelInUse = errors.New("usptest: model serves another agent")
	// ErrNoRoute: the agent knows no address for a controller.
	ErrNoRoute = errors.New("usptest: no address for controller")
)

// maxReceived bounds the log of received messages.
const maxReceived = 10000

// Agent is an in-process USP agent serving a [Model] over one or more
// transports. Create it with [NewAgent], then [Agent.Start] it; its methods
// are safe for concurrent use.
type Agent struct {
	id     string
	cfg    config
	model  *Model
	log    *slog.Logger
	faults *Faults

	ctlMu    sync.Mutex
	controls []*Control // see control.go

	bindings []*binding
	queue    jobQueue

	runCtx  context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped chan struct{} // closed once Close has seen the last job end
	per     periodicState

	mu      sync.Mutex
	state   int
	learned map[string]route // endpoint ID -> where its last record came from
	// subRoutes remembers where the Add that created a subscription came
	// from (by instance path): its notifications go back there.
	subRoutes map[string]route
	received  []Received
	counters  map[string]int // notification msg_id counters, per kind
	pending   map[string]*pendingNotify
	calls     map[string]chan *uspmsg.Msg // requests of its own (Register) waiting for an answer
	requests  int                         // Device.LocalAgent.Request numbers handed out without a table
	sessions  map[string]agentSession     // session contexts, by controller
	factory   snapshot
	// mqttClients are the bindings shown as Device.MQTT.Client.{i}.
	mqttClients []*binding
	// stompConns are the bindings shown as Device.STOMP.Connection.{i}.
	stompConns []*stompBinding
	// asyncRuns cancels the asynchronous command of a Request instance (by
	// path, with the trailing dot).
	asyncRuns map[string]context.CancelFunc
	// bulkRuns are the collectors of enabled bulk data profiles, by
	// profile path (see syncBulk).
	bulkRuns map[string]*bulkRun
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// route is where to send records for one endpoint.
type route struct {
	b    *binding
	addr mtp.Address
}

// Received is a USP message the agent received, for assertions in tests.
type Received struct {
	From    string      // from_id of the record
	ReplyTo mtp.Address // the transport's reply address, if any
	Msg     *uspmsg.Msg
}

// NewAgent returns an agent with the given endpoint ID. Without
// [WithModel] it serves a fresh [DefaultModel]. It needs at least one
// [WithTransport].
func NewAgent(endpointID string, opts ...Option) (*Agent, error) {
	if !record.ValidEndpointID(endpointID) {
		return nil, fmt.Errorf("%w: endpoint ID %q", ErrInvalidOption, endpointID)
	}
	cfg := config{
		retryMin: DefaultNotifyRetryMin, retryMax: DefaultNotifyRetryMax,
		clock: time.Now, version: record.DefaultVersion, versions: DefaultVersions,
		bootCause: "LocalReboot", maxRecordSize: record.DefaultMaxSize,
		rebootDowntime: 10 * time.Millisecond,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if len(cfg.transports) == 0 {
		return nil, ErrNoTransport
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.model == nil {
		cfg.model = DefaultModel()
	}
	a := &Agent{
		id: endpointID, cfg: cfg, model: cfg.model, log: cfg.log.With("agent", endpointID),
		// The agent's maps are made on first write (lazyMap): many
		// simulated agents never write most of them.
		stopped: make(chan struct{}),
	}
	a.faults = &Faults{a: a}
	for _, t := range cfg.transports {
		a.bindings = append(a.bindings, &binding{a: a, t: t, up: make(chan struct{})})
	}
	m := a.model
	m.lock()
	if m.owner != nil {
		m.unlock()
		return nil, ErrModelInUse
	}
	m.owner = a
	m.clock = cfg.clock
	m.unlock()
	if cfg.access {
		if err := m.setupAccess(); err != nil {
			m.lock()
			m.owner = nil
			m.unlock()
			return nil, fmt.Errorf("usptest: access control: %w", err)
		}
	}
	a.seed()
	// The model rides in every context the agent gives command handlers:
	// the default handlers are shared by many models (see servedModel).
	a.runCtx, a.cancel = context.WithCancel(context.WithValue(context.Background(), modelKey{}, a.model))
	return a, nil
}

// lazyMap returns *m, made first if it is nil.
func lazyMap[K comparable, V any](m *map[K]V) map[K]V {
	if *m == nil {
		*m = make(map[K]V)
	}
	return *m
}

// EndpointID returns the agent's endpoint ID.
func (a *Agent) EndpointID() string { return a.id }

// Model returns the data model the agent serves.
func (a *Agent) Model() *Model { return a.model }

// Faults returns the agent's fault injection controls.
func (a *Agent) Faults() *Faults { return a.faults }

// Received returns a copy of the log of USP messages received so far
// (requests and NotifyResps alike), oldest first; it keeps the last 10000.
func (a *Agent) Received() []Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Received(nil), a.received...)
}

// Start starts the transports, waits until each reports it is up, sends
// the connect record of each transport's kind (MQTTConnect with the topic
// the transport subscribed to, STOMPConnect, WebSocketConnect, UDSConnect;
// none over mtp/memory) to the controllers given with [WithController], then
// a Boot! event to the subscribers of Device.Boot!, and returns once they
// are sent. If ctx ends first, or a transport fails, Start closes the agent
// and returns the error.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	switch a.state {
	case stateStarted:
		a.mu.Unlock()
		return ErrStarted
	case stateClosed:
		a.mu.Unlock()
		return ErrClosed
	}
	a.state = stateStarted
	a.mu.Unlock()

	a.seedMQTTClients()
	a.seedWSClients()
	a.seedSTOMPConnections()
	m := a.model
	m.lock()
	m.observer = a.onChanges
	m.host = a
	m.started = a.cfg.clock()
	m.factoryDue = true // the snapshot is taken before the first change
	m.unlock()

	a.queue.mu.Lock()
	a.queue.started = true
	a.startWorkerLocked()
	a.queue.mu.Unlock()
	a.per.mu.Lock()
	a.per.t.Store(time.AfterFunc(0, a.periodicTick)) // read the settings at once
	a.per.mu.Unlock()
	if a.cfg.session != nil && a.cfg.session.RetryInterval > 0 && !a.cfg.session.Reference {
		a.wg.Add(1)
		go a.sessionRetries(a.cfg.session.RetryInterval)
	}
	fail := func(err error) error {
		_ = a.Close(context.WithoutCancel(ctx))
		return err
	}
	for _, b := range a.bindings {
		if err := b.t.Start(ctx, b); err != nil {
			return fail(fmt.Errorf("usptest: starting %s transport: %w", b.t.Kind(), err))
		}
		b.started = true
	}
	a.seedWSServers()
	for _, b := range a.bindings {
		select {
		case <-b.up:
		case <-ctx.Done():
			return fail(fmt.Errorf("usptest: waiting for %s transport: %w", b.t.Kind(), ctx.Err()))
		}
	}
	// Start returns once Boot! is out, so that a test never sees it arrive
	// after Start, in the middle of its own exchange.
	booted := make(chan struct{})
	a.enqueue(a.syncBulk) // profiles enabled in the model it was given
	a.enqueue(func() {
		defer close(booted)
		a.sendBoot(a.cfg.bootCause, "", false)
	})
	if err := a.wait(ctx, booted); err != nil {
		return fail(fmt.Errorf("usptest: sending Boot!: %w", err))
	}
	return nil
}

// Close stops the agent: it closes its transports, cancels running
// commands and notification retries, and waits for its goroutines, at most
// until ctx ends. It is idempotent.
func (a *Agent) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.state == stateClosed {
		a.mu.Unlock()
		return nil
	}
	started := a.state == stateStarted
	a.state = stateClosed
	a.mu.Unlock()

	var errs []error
	for _, b := range a.bindings {
		if err := b.t.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	a.queue.mu.Lock()
	a.queue.closed = true
	working := a.queue.done
	a.queue.mu.Unlock()
	a.per.mu.Lock() // waits for a Periodic! check under way
	a.per.closed = true
	if t := a.per.t.Load(); t != nil {
		t.Stop()
	}
	a.per.mu.Unlock()
	a.cancel()
	if started {
		if working != nil {
			select {
			case <-working:
			case <-ctx.Done():
				errs = append(errs, ctx.Err())
			}
		}
		close(a.stopped)
	}
	a.forgetSessions() // ends the TLS goroutines of payload security
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("usptest: waiting for commands: %w", ctx.Err()))
	}
	m := a.model
	m.lock()
	m.observer, m.host, m.owner = nil, nil, nil
	m.unlock()
	return errors.Join(errs...)
}

// jobQueue is an unbounded FIFO of work for the agent's single worker, so
// that transports never block on the agent and everything the agent does
// happens in one order: a request's response before the notifications it
// causes. The worker goroutine exists only while there is work: an idle
// agent in a fleet of thousands would otherwise hold a goroutine stack for
// nothing.
type jobQueue struct {
	mu      sync.Mutex
	jobs    []func()
	started bool          // Start has set runCtx: a worker may run
	closed  bool          // Close has begun: no new worker
	done    chan struct{} // non-nil while a worker runs; closed when it ends
}

func (a *Agent) enqueue(job func()) {
	q := &a.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return // the worker would have dropped it too
	}
	q.jobs = append(q.jobs, job)
	a.startWorkerLocked()
}

// startWorkerLocked starts a worker if there is work and none runs. The
// caller holds a.queue.mu.
func (a *Agent) startWorkerLocked() {
	q := &a.queue
	if q.done != nil || !q.started || q.closed || len(q.jobs) == 0 {
		return
	}
	q.done = make(chan struct{})
	go a.worker(q.done)
}

// next hands the worker its next job, or nil after marking the worker
// gone when there is none left or the agent is closing.
func (q *jobQueue) next(stop context.Context) func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 || stop.Err() != nil {
		if len(q.jobs) == 0 {
			q.jobs = nil // let an idle agent drop the grown backing array
		}
		q.done = nil
		return nil
	}
	j := q.jobs[0]
	q.jobs[0] = nil
	q.jobs = q.jobs[1:]
	return j
}

func (a *Agent) worker(done chan struct{}) {
	defer close(done)
	for j := a.queue.next(a.runCtx); j != nil; j = a.queue.next(a.runCtx) {
		j()
	}
}

// sleep waits for d or until the agent closes; it reports whether the
// agent is still running.
func (a *Agent) sleep(d time.Duration) bool {
	if d <= 0 {
		return a.runCtx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.runCtx.Done():
		return false
	}
}

// binding is one transport the agent serves, and its mtp.Handler.
type binding struct {
	a       *Agent
	t       mtp.Transport
	started bool
	// mqttClient is the Device.MQTT.Client.{i}. instance of an MQTT
	// transport; mqttSubs what syncMQTT subscribed it to (topic to QoS),
	// touched only on the worker.
	mqttClient string
	mqttSubs   map[string]byte
	upOnce     sync.Once
	up         chan struct{}
	// guarded by a.mu
	local    mtp.Address
	sessions map[string]bool // peers already sent a connect record (WebSocket, UDS)
}

// HandleRecord queues the record for the worker.
func (b *binding) HandleRecord(in mtp.Inbound) {
	b.a.enqueue(func() { b.a.handleRecord(b, in) })
}

// HandleEvent tracks the transport's state and sends connect records when
// a connection comes up, as agents do after every (re)connection.
func (b *binding) HandleEvent(ev mtp.Event) {
	a := b.a
	switch ev.Kind {
	case mtp.Up:
		a.mu.Lock()
		b.local = ev.Local
		a.mu.Unlock()
		a.enqueue(func() { a.mqttUp(b, true); a.stompUp(b); a.sendConnects(b) })
		b.upOnce.Do(func() { close(b.up) })
	case mtp.PeerUp:
		peer := ev.PeerID
		a.enqueue(func() {
			if !a.secondWSSession(b, peer) {
				a.sendConnectTo(b, peer, mtp.Address{MTP: b.t.Kind(), To: peer})
			}
		})
	case mtp.PeerDown:
		a.mu.Lock()
		delete(b.sessions, ev.PeerID)
		a.mu.Unlock()
	case mtp.Down:
		a.mu.Lock()
		clear(b.sessions)
		a.mu.Unlock()
		a.enqueue(func() { a.mqttUp(b, false) })
	}
}

// bindingFor picks the transport for an address: the one of its kind, or
// the only one when the address names no kind.
func (a *Agent) bindingFor(addr mtp.Address) *binding {
	for _, b := range a.bindings {
		if b.t.Kind() == addr.MTP {
			return b
		}
	}
	if addr.MTP == "" && len(a.bindings) == 1 {
		return a.bindings[0]
	}
	return nil
}

// routeTo says where to send records for a controller: its configured
// address, else where its last record came from.
func (a *Agent) routeTo(endpointID string) (route, bool) {
	for _, c := range a.cfg.controllers {
		if c.id == endpointID {
			if b := a.bindingFor(c.addr); b != nil {
				return route{b: b, addr: c.addr}, true
			}
		}
	}
	a.mu.Lock()
	r, ok := a.learned[endpointID]
	a.mu.Unlock()
	if ok {
		return r, true
	}
	return a.configuredRoute(endpointID)
}

// configuredRoute finds a controller that never wrote to the agent by
// its Device.LocalAgent.Controller.{i}. entry, as an agent does for
// SendOnBoardRequest(): an enabled MTP entry whose MQTT Topic or STOMP
// Destination a transport of that kind can reach, or, over mtp/memory
// (which has no MTP entry of its own), the endpoint ID itself.
func (a *Agent) configuredRoute(endpointID string) (route, bool) {
	m := a.model
	type dest struct {
		kind mtp.Kind
		to   string
	}
	var dests []dest
	found := false
	m.mu.RLock()
	var ctrls []*objInst
	if la := m.instByPath("Device.LocalAgent."); la != nil && la.tables.get("Controller") != nil {
		ctrls = la.tables.get("Controller").sorted()
	}
	for _, c := range ctrls {
		if c.val("EndpointID") != endpointID {
			continue
		}
		if en, _ := datamodel.ParseBool(c.val("Enable")); !en {
			continue
		}
		found = true
		t := c.tables.get("MTP")
		if t == nil {
			continue
		}
		for _, mt := range t.sorted() {
			if en, _ := datamodel.ParseBool(mt.val("Enable")); !en {
				continue
			}
			switch mt.val("Protocol") {
			case "MQTT":
				if o := m.instByPath(mt.path + "MQTT."); o != nil && o.val("Topic") != "" {
					dests = append(dests, dest{mtp.MQTT, o.val("Topic")})
				}
			case "STOMP":
				if o := m.instByPath(mt.path + "STOMP."); o != nil && o.val("Destination") != "" {
					dests = append(dests, dest{mtp.STOMP, o.val("Destination")})
				}
			}
		}
	}
	m.mu.RUnlock()
	if !found {
		return route{}, false
	}
	dests = append(dests, dest{mtp.Memory, endpointID})
	for _, d := range dests {
		for _, b := range a.bindings {
			if b.t.Kind() == d.kind {
				return route{b: b, addr: mtp.Address{MTP: d.kind, To: d.to}}, true
			}
		}
	}
	return route{}, false
}

// routeFor says where a notification for a controller goes: where the
// subscription it belongs to was created from, else the controller's
// route.
func (a *Agent) routeFor(to, subPath string) (route, bool) {
	if subPath != "" && !a.cfg.notifyToCtrl {
		a.mu.Lock()
		r, ok := a.subRoutes[subPath]
		a.mu.Unlock()
		if ok {
			return r, true
		}
	}
	return a.routeTo(to)
}

// sendRecord encodes and sends one record, through the fault injector.
func (a *Agent) sendRecord(r route, rec *usprecord.Record) error {
	data, err := record.Encode(rec)
	if err != nil {
		return fmt.Errorf("usptest: encoding record: %w", err)
	}
	return a.sendBytes(r, data)
}

func (a *Agent) sendBytes(r route, data []byte) error {
	data = a.faults.outgoing(a.protect(data))
	if data == nil {
		return nil
	}
	if err := r.b.t.Send(a.runCtx, r.addr, data); err != nil {
		a.log.Warn("send failed", "to", r.addr, "err", err)
		return err
	}
	return nil
}

// sendMsg wraps a USP message in a NoSessionContext record for a
// controller and sends it.
func (a *Agent) sendPayload(r route, to string, payload []byte) error {
	return a.sendRecord(r, record.NewNoSessionContext(a.cfg.version, to, a.id, payload))
}

// connectRecord returns the connect record a transport of b's kind sends,
// or nil when the binding has none.
func (a *Agent) connectRecord(b *binding, to string) *usprecord.Record {
	a.mu.Lock()
	local := b.local
	a.mu.Unlock()
	v := a.cfg.version
	switch b.t.Kind() {
	case mtp.MQTT:
		if local.To == "" {
			a.log.Warn("MQTT transport reported no topic: no MQTTConnect record")
			return nil
		}
		return record.NewMQTTConnect(v, to, a.id, usprecord.MQTTConnectRecord_V5, local.To)
	case mtp.STOMP:
		if local.To == "" {
			a.log.Warn("STOMP transport reported no destination: no STOMPConnect record")
			return nil
		}
		return record.NewSTOMPConnect(v, to, a.id, local.To)
	case mtp.WebSocket:
		return record.NewWebSocketConnect(v, to, a.id)
	case mtp.UDS:
		return record.NewUDSConnect(v, to, a.id)
	}
	return nil
}

// sendConnects sends b's connect record to every configured controller
// reached over b.
func (a *Agent) sendConnects(b *binding) {
	for _, c := range a.cfg.controllers {
		if a.bindingFor(c.addr) == b {
			a.sendConnectTo(b, c.id, c.addr)
		}
	}
}

func (a *Agent) sendConnectTo(b *binding, controllerID string, addr mtp.Address) {
	session := b.t.Kind() == mtp.WebSocket || b.t.Kind() == mtp.UDS
	if session {
		a.mu.Lock()
		done := b.sessions[controllerID]
		lazyMap(&b.sessions)[controllerID] = true
		a.mu.Unlock()
		if done {
			return
		}
	}
	rec := a.connectRecord(b, controllerID)
	if rec == nil {
		return
	}
	if err := a.sendRecord(route{b: b, addr: addr}, rec); err != nil && session {
		a.mu.Lock()
		delete(b.sessions, controllerID)
		a.mu.Unlock()
	}
}

// SendConnect sends the connect records again, as an agent does after it
// reconnects: tests use it after [Faults.Disconnect].
func (a *Agent) SendConnect(ctx context.Context) error {
	if err := a.running(); err != nil {
		return err
	}
	done := make(chan struct{})
	a.enqueue(func() {
		defer close(done)
		for _, b := range a.bindings {
			a.mu.Lock()
			clear(b.sessions)
			a.mu.Unlock()
			a.sendConnects(b)
		}
	})
	return a.wait(ctx, done)
}

func (a *Agent) running() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.state {
	case stateNew:
		return ErrNotStarted
	case stateClosed:
		return ErrClosed
	}
	return nil
}

// wait waits for a job to finish, for ctx, or for the agent to close.
func (a *Agent) wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.stopped:
		return ErrClosed
	}
}

// seed adds the configured controllers to Device.LocalAgent.Controller.{i}.
// with a Boot! subscription each, the agent's endpoint ID and its MTPs.
func (a *Agent) seed() {
	m := a.model
	m.lock()
	defer m.unlock()
	la := m.instByPath("Device.LocalAgent.")
	if la == nil {
		return
	}
	if p := la.def.param("EndpointID"); p != nil {
		m.setVal(la, "EndpointID", a.id)
	}
	if t := la.tables.get("MTP"); t != nil && len(t.inst) == 0 {
		for _, b := range a.bindings {
			proto := protocolName(b.t.Kind())
			if proto == "" || isWSClient(b.t) {
				continue
			}
			m.create(t, 0, filterParams(t.def, map[string]string{"Protocol": proto, "Enable": "true", "Status": "Up"}))
		}
	}
	for _, c := range a.cfg.controllers {
		ctrl := m.controllerByID(c.id)
		if ctrl == nil {
			ctrl = m.addController(c.id, c.addr)
		}
		m.trust(ctrl)
		if ctrl == nil || a.cfg.noBootSubs {
			continue
		}
		subs := la.tables.get("Subscription")
		if subs == nil {
			continue
		}
		n := m.nextNumber(subs)
		m.create(subs, n, filterParams(subs.def, map[string]string{
			"ID": fmt.Sprintf("boot-%d", n), "Enable": "true", "NotifType": "Event",
			"ReferenceList": "Device.Boot!", "Recipient": refPath(ctrl), "Persistent": "true",
		}))
	}
}

// protocolName maps a binding to the Protocol value of TR-181's MTP tables.
func protocolName(k mtp.Kind) string {
	switch k {
	case mtp.MQTT:
		return "MQTT"
	case mtp.STOMP:
		return "STOMP"
	case mtp.WebSocket:
		return "WebSocket"
	case mtp.UDS:
		return "UDS"
	}
	return ""
}

// filterParams keeps the values whose parameter the object defines, so
// that seeding works on trimmed-down models.
func filterParams(d *objDef, values map[string]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		if p := d.param(k); p != nil && datamodel.ValidateValue(p.Type, v) == nil {
			out[k] = v
		}
	}
	return out
}

// subscriptionPath is the supported path of the subscription table.
const subscriptionPath = "Device.LocalAgent.Subscription.{i}."

// refPath is how TR-181 references an object: its path without the
// trailing dot.
func refPath(o *objInst) string { return o.path[:len(o.path)-1] }

// controllerByID finds the Controller instance with an endpoint ID.
// Callers hold m.mu.
func (m *Model) controllerByID(id string) *objInst {
	la := m.instByPath("Device.LocalAgent.")
	if la == nil {
		return nil
	}
	t := la.tables.get("Controller")
	if t == nil {
		return nil
	}
	for i, e := range t.inst {
		if e.o.val("EndpointID") == id {
			return m.entry(t, i) // the model's own under the write lock
		}
	}
	return nil
}

// addController creates a Controller instance for an endpoint ID, with an
// MTP entry describing addr. Callers hold m.mu.
func (m *Model) addController(id string, addr mtp.Address) *objInst {
	la := m.instByPath("Device.LocalAgent.")
	if la == nil {
		return nil
	}
	t := la.tables.get("Controller")
	if t == nil {
		return nil
	}
	o := m.create(t, 0, filterParams(t.def, map[string]string{"EndpointID": id, "Enable": "true"}))
	if mt := o.tables.get("MTP"); mt != nil {
		if proto := protocolName(addr.MTP); proto != "" {
			mo := m.create(mt, 0, filterParams(mt.def, map[string]string{"Protocol": proto, "Enable": "true"}))
			switch addr.MTP {
			case mtp.MQTT:
				m.loadInto(mo, "MQTT", "Topic", addr.To)
			case mtp.STOMP:
				m.loadInto(mo, "STOMP", "Destination", addr.To)
			}
		}
	}
	return o
}

// loadInto sets a parameter of a single-instance child object, if the model
// has it.
func (m *Model) loadInto(o *objInst, child, param, value string) {
	if c := m.single(o, child); c != nil && c.def.param(param) != nil {
		m.setVal(c, param, value)
	}
}
