package usp

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Controller is a USP controller: it manages agents over one or more
// transports. Create one with [NewController], call [Controller.Start], then
// talk to agents through [Controller.Agent]. It is safe for concurrent use.
type Controller struct {
	id  string
	cfg config
	log *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	// phase mirrors started and closed (set with them, under mu) for
	// the request path, which reads it without mu.
	phase    atomic.Int32
	agents   *shardTable[string, *agentState] // see shardTable for its locking
	pending  *pendingTable                    // calls waiting for answers; locks of its own (pending.go)
	handlers handlerSet[NotifyHandler]
	// userHandlers counts the program's notify handlers among handlers
	// (the liveness tracker adds one of its own): see Subscription.deliver.
	userHandlers atomic.Int32
	watchers     handlerSet[func(AgentEvent)]
	subs         *shardTable[subKey, *Subscription]
	ops          map[opKey]*Operation
	live         *liveness // inventory and agent states (liveness.go)
	cl           *cluster  // nil unless WithCluster (cluster.go)

	brokerSt brokerState // see broker.go

	routes      []*route
	intake      *intake
	learned     int           // agents not from WithAgent; guarded by mu
	negotiating chan struct{} // a token per protocol negotiation running
	events      *eventQueue
	hooks       hookSet       // from WithHooks, sorted by interface
	agentNotes  []AgentChange // for the agent hooks; guarded by mu
	seed        maphash.Seed
	closing     chan struct{}
	ctx         context.Context // handed to callbacks; ends with Close
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	// answerCtx bounds the answers the controller sends on its own (with
	// AnswerTimeout each); it ends when Close stops waiting for them.
	answerCtx context.Context
	// answerCtxs are children of answerCtx that each answer's own
	// context derives from, picked at random: a context registers its
	// children under its lock, which one parent would make every answer
	// of every agent take.
	answerCtxs   [answerShards]context.Context
	answerCancel context.CancelFunc

	// Operations remove their own subscriptions from agents in the
	// background; Close lets them finish first (cleanupCtx bounds them).
	cleanups      sync.WaitGroup
	cleanupCtx    context.Context
	cleanupCancel context.CancelFunc
}

// Controller phases, as Controller.phase holds them.
const (
	phaseNew int32 = iota
	phaseStarted
	phaseClosed
)

// NewController makes a controller with the given endpoint ID. It checks
// the ID and every option; nothing is connected until [Controller.Start].
//
// The transports of mtp/mqtt, mtp/stomp, mtp/websocket and mtp/uds are
// given the endpoint ID they speak as when they are made (they announce it
// to the broker or peer). An empty endpointID takes the ID from them (see
// [mtp.Identified]), so that it is written once:
//
//	tr, err := mqtt.New(url, "proto::controller", mqtt.WithTopic("usp/controller"))
//	c, err := usp.NewController("", usp.WithTransport(tr))
//
// A transport that speaks as another endpoint than the controller is
// refused with [ErrInvalidOption]: agents would answer an ID the controller
// does not take as its own.
func NewController(endpointID string, opts ...Option) (*Controller, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	endpointID, err := transportsEndpointID(endpointID, cfg.transports)
	if err != nil {
		return nil, err
	}
	if _, err := record.ParseEndpointID(endpointID); err != nil {
		return nil, fmt.Errorf("usp: controller endpoint ID: %w", err)
	}
	if err := cfg.intake.check(); err != nil {
		return nil, err
	}
	cfg.events.setDefaults()
	if len(cfg.transports) == 0 {
		return nil, fmt.Errorf("%w: at least one transport is needed (WithTransport)", ErrInvalidOption)
	}
	c := &Controller{
		id:      endpointID,
		cfg:     cfg,
		log:     cfg.logger.With("controller", endpointID),
		agents:  newShardTable[string, *agentState](agentKey),
		pending: newPendingTable(),
		subs:    newShardTable[subKey, *Subscription](subKeyAgent),
		ops:     make(map[opKey]*Operation),
		seed:    maphash.MakeSeed(),
		closing: make(chan struct{}),

		negotiating: make(chan struct{}, cfg.negotiations),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	var cancelAnswers [answerShards + 1]context.CancelFunc
	c.answerCtx, cancelAnswers[answerShards] = context.WithCancel(context.Background())
	for i := range c.answerCtxs {
		c.answerCtxs[i], cancelAnswers[i] = context.WithCancel(c.answerCtx)
	}
	c.answerCancel = func() {
		for _, f := range cancelAnswers {
			f()
		}
	}
	for _, h := range cfg.hooks {
		c.hooks.add(h)
	}
	c.intake = newIntake(c, cfg.intake)
	c.events = newEventQueue(c, cfg.events)
	c.cleanupCtx, c.cleanupCancel = context.WithCancel(context.Background())
	for _, h := range cfg.notifyHandlers {
		c.OnNotify(h)
	}
	for _, h := range cfg.agentHandlers {
		c.watchers.add(h)
	}
	for i, t := range cfg.transports {
		c.routes = append(c.routes, &route{c: c, t: t, kind: t.Kind(), n: i})
	}
	for id, addr := range cfg.agents {
		r := c.routeFor(addr.MTP)
		if r == nil {
			return nil, fmt.Errorf("%w: %w: agent %s uses %s, but no such transport was given", ErrInvalidOption, ErrNoTransport, id, addr.MTP)
		}
		if _, onePeer := mtp.As[mtp.SinglePeer](r.t); addr.To == "" && !onePeer {
			return nil, fmt.Errorf("%w: agent %s: an empty address needs a transport with one peer (a UDS or WebSocket client), not %T", ErrInvalidOption, id, r.t)
		}
		a := c.newAgent(id)
		a.route, a.addr, a.configured = r, addr, true
		c.agents.put(id, a) // not shared yet: no lock needed
	}
	c.live = newLiveness(c)
	c.cl = newCluster(c, cfg.cluster)
	return c, nil
}

// transportsEndpointID checks the controller's endpoint ID against the
// IDs its transports speak as, and takes theirs when id is empty.
func transportsEndpointID(id string, ts []mtp.Transport) (string, error) {
	for _, t := range ts {
		it, ok := mtp.As[mtp.Identified](t)
		if !ok {
			continue
		}
		switch local := it.LocalEndpointID(); {
		case local == "":
		case id == "":
			id = local
		case local != id:
			return "", fmt.Errorf("%w: a %s transport speaks as %q, the controller is %q", ErrInvalidOption, t.Kind(), local, id)
		}
	}
	if id == "" {
		return "", fmt.Errorf("%w: no endpoint ID given, and no transport names one", ErrInvalidOption)
	}
	return id, nil
}

// EndpointID returns the controller's endpoint ID.
func (c *Controller) EndpointID() string { return c.id }

// Start starts every transport. It returns
// once all transports are usable, or the first error; on error everything
// already started is closed again.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.started {
		c.mu.Unlock()
		return ErrAlreadyStarted
	}
	c.started = true
	c.phase.Store(phaseStarted)
	c.mu.Unlock()
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.events.run() }()
	if c.cfg.session != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.retrySessions() }()
	}
	if err := c.live.start(ctx); err != nil {
		_ = c.Close(context.WithoutCancel(ctx))
		return err
	}
	if c.cfg.agentIdle > 0 {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.sweepIdle() }()
	}
	for _, r := range c.routes {
		if err := r.t.Start(ctx, r); err != nil {
			_ = c.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("usp: starting %s transport: %w", r.kind, err)
		}
	}
	return nil
}

// Close fails every pending call with [ErrClosed], ends subscriptions and
// operations, closes the transports and waits for the controller's
// goroutines to end (or ctx). Operations, finished or still running, get
// up to two seconds first to remove their own subscriptions from the
// agents.
// Calling it again does nothing.
func (c *Controller) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	running := make([]*Operation, 0, len(c.ops))
	for _, op := range c.ops {
		running = append(running, op)
	}
	c.mu.Unlock()
	if c.live.keepOperations() {
		running = nil // the store keeps them, with their subscriptions, for the next run
	}
	// Operations still running will never be waited for: remove their
	// completion subscriptions now, or the agent keeps retrying the
	// completion to a controller that is gone.
	for _, op := range running {
		op.cleanup()
	}
	// Operations that ended just now may still be removing their
	// subscriptions from agents: give them a moment (cleanupGrace, or
	// until ctx ends), so that nothing is left behind on the agents.
	cleaned := make(chan struct{})
	go func() { c.cleanups.Wait(); close(cleaned) }()
	grace := time.NewTimer(cleanupGrace)
	select {
	case <-cleaned:
	case <-grace.C:
	case <-ctx.Done():
	}
	grace.Stop()
	c.cleanupCancel()
	<-cleaned // cancelled now: the stragglers end at once
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.phase.Store(phaseClosed)
	pend := c.pending.close()
	subs := c.subs.drain()
	ops := c.ops
	c.ops = make(map[opKey]*Operation)
	c.mu.Unlock()

	close(c.closing)
	c.cancel()
	// Deliveries waiting for room return now; queued records are
	// dropped unanswered (the agents send again what needs an answer).
	c.intake.close()
	for _, p := range pend {
		p.finish(nil, ErrClosed)
	}
	for _, s := range subs {
		s.end(ErrClosed)
	}
	for _, op := range ops {
		op.finish(nil, ErrClosed)
	}
	// Let the goroutines finish what they are doing before the transports
	// go: a notification being handled still gets its NotifyResp out, a
	// broker request its answer.
	var errs []error
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	c.answerCancel() // what is still being answered gives up now
	for _, r := range c.routes {
		if err := r.t.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing %s transport: %w", r.kind, err))
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// Agent returns a handle for the agent with the given endpoint ID. The
// handle is cheap; it works as soon as an address for the agent is known
// (configured, or learned from the agent's traffic).
func (c *Controller) Agent(endpointID string) *Agent {
	return &Agent{c: c, id: endpointID}
}

func (c *Controller) routeFor(k mtp.Kind) *route {
	for _, r := range c.routes {
		if r.kind == k {
			return r
		}
	}
	return nil
}

// cleanupGrace is how long Close waits for operations to remove their
// subscriptions from agents.
const cleanupGrace = 2 * time.Second

// route is one transport as the controller sees it; it is the transport's
// mtp.Handler.
type route struct {
	c    *Controller
	t    mtp.Transport
	kind mtp.Kind
	n    int
}

func (r *route) HandleRecord(in mtp.Inbound) { r.c.handleRecord(r, in) }
func (r *route) HandleEvent(ev mtp.Event)    { r.c.handleEvent(r, ev) }

func (c *Controller) handleEvent(r *route, ev mtp.Event) {
	c.log.Debug("transport event", "mtp", r.kind, "event", ev.Kind, "peer", ev.PeerID, "err", ev.Err)
	if ev.Kind == mtp.Up || ev.Kind == mtp.Down {
		c.transportHook(TransportEvent{MTP: r.kind, Up: ev.Kind == mtp.Up, Err: ev.Err})
	}
	switch ev.Kind {
	case mtp.Down:
		// Responses to calls sent over this transport may never come.
		c.failPending(func(p *pending) bool { return p.route == r }, ErrTransportLost)
		c.markRouteDown(r, ev.Err)
	case mtp.PeerUp, mtp.PeerDown:
		key := boxKey{ev.PeerID, laneMain}
		if ev.PeerID != "" && (ev.Kind == mtp.PeerDown || !c.intake.idle(key)) {
			// In line with the peer's records: those read before a
			// session ended are handled before it is marked gone, and a
			// replaced session's PeerDown before its successor's PeerUp.
			c.intake.put(key, item{r: r, ev: &ev, size: eventSize}, true)
			return
		}
		// A PeerUp with nothing of the peer's in line: at once, so that
		// the peer is addressable when the transport's Start returns.
		// Nothing can get ahead of it: the transport delivers one thing
		// at a time.
		c.handlePeerEvent(r, ev)
	}
}

// handlePeerEvent handles a session event, from the agent's mailbox or
// at delivery.
func (c *Controller) handlePeerEvent(r *route, ev mtp.Event) {
	switch {
	case ev.PeerID == "":
	case ev.Kind == mtp.PeerUp:
		// The transport authenticated the peer (UDS handshake, WebSocket
		// eid or certificate): that is enough to address it, before its
		// connect record arrives, and after it replaced an older session.
		c.agentSession(ev.PeerID, r, ev.Peer, ev.PeerCert)
	case ev.Kind == mtp.PeerDown:
		reason := fmt.Errorf("%w: %s session closed", ErrAgentGone, r.kind)
		c.agentGone(ev.PeerID, r, reason)
		c.serviceGone(ev.PeerID, reason)
	}
	c.sessionHook(r, ev)
}

// handleInbound is the way up, on an intake worker: bytes from a transport
// to a waiting call, a notification handler or the broker handler. Nothing
// from the network may panic it; bad input is logged and dropped.
func (c *Controller) handleInbound(r *route, in mtp.Inbound) {
	rec, err := record.Decode(in.Data, record.WithMaxSize(c.cfg.maxRecordSize))
	if err != nil {
		if c.live.will(r, in.Data, func(id string) error { return c.verifyPeer(id, in) }) {
			return
		}
		c.log.Warn("dropping undecodable record", "mtp", r.kind, "from", in.ReplyTo, "err", err)
		// On a WebSocket the spec has such a session closed (1003); the
		// bindings with sessions per peer offer Reject for that.
		if rj, ok := mtp.As[mtp.Rejecter](r.t); ok && in.PeerID != "" {
			if err := rj.Reject(in.PeerID, "USP Record cannot be parsed"); err != nil {
				c.log.Debug("could not reject peer", "peer", in.PeerID, "err", err)
			}
		}
		return
	}
	if rec.GetToId() != c.id {
		c.log.Warn("dropping record addressed to another endpoint", "to_id", rec.GetToId(), "from_id", rec.GetFromId())
		return
	}
	from := rec.GetFromId()
	if !record.ValidEndpointID(from) {
		// Every record would create an agent entry: names that are not
		// endpoint IDs are refused before they cost memory.
		c.log.Warn("dropping record from an invalid endpoint ID", "from_id", from)
		return
	}
	if in.PeerID != "" && in.PeerID != from {
		c.log.Warn("dropping record whose from_id is not the transport's peer", "from_id", from, "peer", in.PeerID)
		return
	}
	if err := c.verifyPeer(from, in); err != nil {
		c.log.Warn("dropping record", "from_id", from, "mtp", r.kind, "reply_to", in.ReplyTo, "err", err)
		return
	}
	switch rt := rec.GetRecordType().(type) {
	case *usprecord.Record_MqttConnect:
		addr := mtp.Address{MTP: r.kind, To: rt.MqttConnect.GetSubscribedTopic()}
		if addr.To == "" {
			addr = in.ReplyTo
		}
		// Before the agent is announced (and asked anything): a 3.1.1
		// client needs the reply-to suffix on the first request already.
		// Only for a record that may speak for the agent at addr.
		version := mqttVersion(rt.MqttConnect.GetVersion())
		if pv, ok := mtp.As[mtp.PeerVersions](r.t); ok && c.mayPlace(from, r, in, addr) {
			pv.SetPeerVersion(addr, version)
		}
		// The inventory (and so the store) keeps the version for the
		// processes that will learn the agent from there.
		if c.agentSeen(from, r, in, addr, rec.GetVersion(), true, mqttCode(version)) == nil {
			return
		}
	case *usprecord.Record_StompConnect:
		addr := mtp.Address{MTP: r.kind, To: rt.StompConnect.GetSubscribedDestination()}
		if addr.To == "" {
			addr = in.ReplyTo
		}
		if c.agentSeen(from, r, in, addr, rec.GetVersion(), true, mqttUnknown) == nil {
			return
		}
	case *usprecord.Record_WebsocketConnect, *usprecord.Record_UdsConnect:
		if c.agentSeen(from, r, in, in.ReplyTo, rec.GetVersion(), true, mqttUnknown) == nil {
			return
		}
	case *usprecord.Record_Disconnect:
		d := rt.Disconnect
		if !c.mayDisconnect(from, r, in) {
			c.log.Warn("ignoring Disconnect record from another address than the agent's", "from_id", from, "mtp", r.kind, "reply_to", in.ReplyTo)
			return
		}
		err := c.sessionDisconnectError(from, d)
		a, _ := c.agents.get(from)
		if a != nil && c.restartSession(a, d) {
			// Session context refused, and the requests were sent again
			// without it: the agent is still there.
			return
		}
		// After restartSession, so that a call made at once sees the
		// session ended (and a refusal).
		c.agentGone(from, nil, err)
		c.serviceGone(from, err)
	case *usprecord.Record_NoSessionContext:
		a := c.agentSeen(from, r, in, in.ReplyTo, rec.GetVersion(), false, mqttUnknown)
		if a == nil {
			return
		}
		c.handlePayload(a, r, rt.NoSessionContext.GetPayload(), false)
	case *usprecord.Record_SessionContext:
		a := c.agentSeen(from, r, in, in.ReplyTo, rec.GetVersion(), false, mqttUnknown)
		if a == nil {
			return
		}
		c.handleSessionRecord(a, r, rec)
	default:
		c.log.Warn("dropping record of unknown type", "from_id", from)
	}
	switch rec.GetRecordType().(type) {
	case *usprecord.Record_MqttConnect, *usprecord.Record_StompConnect, *usprecord.Record_WebsocketConnect, *usprecord.Record_UdsConnect:
		c.sessionAnnounced(from)
	}
}

// handlePayload handles one serialized USP Msg from an agent. inSession
// says whether it came inside a session context, so that answers go back
// the same way.
func (c *Controller) handlePayload(a *agentState, r *route, payload []byte, inSession bool) {
	m, err := msg.Decode(payload)
	if err != nil {
		// An invalid answer to a pending call fails the call at once,
		// rather than leaving it to time out.
		if h := m.GetHeader(); h.GetMsgId() != "" && (m.GetBody().GetError() != nil || msg.IsResponse(h.GetMsgType())) {
			c.completePending(a, r, h.GetMsgId(), result{err: fmt.Errorf("%w from %s: %w", ErrMalformedResponse, a.id, err)})
		}
		c.log.Warn("dropping invalid USP message", "agent", a.id, "err", err)
		return
	}
	t := m.GetHeader().GetMsgType()
	id := m.GetHeader().GetMsgId()
	switch {
	case isAnswer(m):
		c.handleAnswer(a, r, m)
	case t == uspmsg.Header_NOTIFY:
		c.handleNotify(a, m, inSession)
	case t == uspmsg.Header_REGISTER || t == uspmsg.Header_DEREGISTER:
		c.handleBroker(a, m, inSession)
	default:
		// Requests that only agents answer: refuse them, as agents refuse
		// the controller-only ones.
		e := &msg.Error{Code: msg.CodeRequestDenied, Message: fmt.Sprintf("a controller does not accept %s", t)}
		c.reply(a, e.Build(id), inSession)
	}
}

// isAnswer reports whether m answers a request: a response or an Error.
func isAnswer(m *uspmsg.Msg) bool {
	return m.GetBody().GetError() != nil || msg.IsResponse(m.GetHeader().GetMsgType())
}

// handleAnswer takes an agent's answer to one of the controller's requests.
func (c *Controller) handleAnswer(a *agentState, r *route, m *uspmsg.Msg) {
	c.completePending(a, r, m.GetHeader().GetMsgId(), result{m: m})
}

// reply sends an answer to an agent's request, in the same kind of record
// as the request came in.
func (c *Controller) reply(a *agentState, m *uspmsg.Msg, inSession bool) error {
	ctx, cancel := c.answerContext()
	defer cancel()
	err := c.sendMsg(ctx, a, m, inSession)
	if err != nil {
		c.log.Warn("could not answer agent", "agent", a.id, "msg_id", m.GetHeader().GetMsgId(), "err", err)
	}
	return err
}

// sendMsg wraps a message in a record for the agent and sends it.
func (c *Controller) sendMsg(ctx context.Context, a *agentState, m *uspmsg.Msg, inSession bool) error {
	t, err := c.targetOf(a)
	if err != nil {
		return err
	}
	return c.sendTo(ctx, a, t, m, inSession)
}

// target is where a message to an agent goes, read under c.mu once.
type target struct {
	r       *route
	addr    mtp.Address
	version string
	sess    *session
}

// targetOf reads a's route, address, version and session (starting one
// when the controller uses session context) in one hold of a.mu, or of c.mu
// where the agent uses session context.
func (c *Controller) targetOf(a *agentState) (target, error) {
	if !c.sessionEnabled(a.id) {
		// Then it never has a session: its own lock is enough.
		a.mu.Lock()
		t := target{r: a.route, addr: a.addr, version: a.version}
		a.mu.Unlock()
		return t, nil
	}
	c.mu.Lock()
	t := target{r: a.route, addr: a.addr, version: a.version}
	var err error
	t.sess, err = c.sessionFor(a)
	c.mu.Unlock()
	return t, err
}

// sendTo is [Controller.sendMsg] to a target already read.
func (c *Controller) sendTo(ctx context.Context, a *agentState, t target, m *uspmsg.Msg, inSession bool) error {
	r, addr, version, sess := t.r, t.addr, t.version, t.sess
	if r == nil || (addr.IsZero() && !a.configured) {
		return fmt.Errorf("%w %s", ErrUnknownAgent, a.id)
	}
	if sess != nil && !inSession && sess.fallback() {
		sess = nil // the agent refused session context; see SessionConfig.Fallback
	}
	if inSession || sess != nil {
		if sess == nil {
			return fmt.Errorf("%w: no session with %s", ErrSessionFailed, a.id)
		}
		payload, err := proto.Marshal(m)
		if err != nil {
			return fmt.Errorf("usp: encoding message: %w", err)
		}
		return sess.send(ctx, m.GetHeader().GetMsgId(), payload)
	}
	// The common case: the message is written straight into its record.
	b, err := record.EncodeMsg(version, a.id, c.id, m)
	if err != nil {
		return fmt.Errorf("usp: encoding record: %w", err)
	}
	return c.sendBytes(ctx, r, addr, a.id, b)
}

func (c *Controller) sendRecord(ctx context.Context, r *route, addr mtp.Address, rec *usprecord.Record) error {
	b, err := record.Encode(rec)
	if err != nil {
		return fmt.Errorf("usp: encoding record: %w", err)
	}
	return c.sendBytes(ctx, r, addr, rec.GetToId(), b)
}

func (c *Controller) sendBytes(ctx context.Context, r *route, addr mtp.Address, to string, b []byte) error {
	if err := r.t.Send(ctx, addr, b); err != nil {
		c.live.sendFailed(to, err)
		return fmt.Errorf("usp: sending to %s over %s: %w", to, r.kind, err)
	}
	if len(c.hooks.record) > 0 {
		c.recordHook(RecordEvent{Direction: Out, MTP: r.kind, AgentID: to, Size: len(b)})
	}
	return nil
}

// pending is one request waiting for its response.
type pending struct {
	agent string
	route *route
	addr  mtp.Address // where the request went
	typ   uspmsg.Header_MsgType
	once  sync.Once
	ch    chan result
}

type result struct {
	m   *uspmsg.Msg
	err error
}

func (p *pending) finish(m *uspmsg.Msg, err error) {
	p.once.Do(func() { p.ch <- result{m, err} })
}

// completePending hands res to the call waiting for msgID, if the answer
// came from the agent the request went to, over the route and (where the
// transport does not authenticate the peer) from the address it went to.
func (c *Controller) completePending(a *agentState, r *route, msgID string, res result) {
	a.mu.Lock()
	addr := a.addr
	a.mu.Unlock()
	p, ok := c.pending.take(msgID, func(p *pending) bool { return p.agent == a.id && p.route == r && p.addr == addr })
	if !ok {
		if p != nil {
			c.log.Warn("dropping response from the wrong agent or address", "msg_id", msgID, "from", a.id, "mtp", r.kind, "expected", p.agent)
		} else if c.cl != nil && res.m != nil && c.cl.strayAnswer(a.id, msgID, res.m) {
			// Another process of the cluster asked: passed on to it.
		} else {
			c.log.Info("dropping response that matches no request", "msg_id", msgID, "from", a.id)
		}
		return
	}
	if res.err == nil && !a.answered.Load() {
		a.answered.Store(true)
	}
	p.finish(res.m, res.err)
}

func (c *Controller) failPending(match func(*pending) bool, err error) {
	for _, p := range c.pending.takeAll(match) {
		p.finish(nil, err)
	}
}

// roundTrip sends a request and waits for its response or the end of ctx.
// It returns the parsed response; Error messages become *msg.Error and a
// response of the wrong kind ErrUnexpectedResponse.
func (c *Controller) roundTrip(ctx context.Context, agentID string, req msg.Request) (msg.Message, error) {
	a, err := c.agentToSend(ctx, agentID)
	if err != nil {
		return nil, err
	}
	id := c.requestID()
	m := req.Build(id)
	start := time.Now()
	// One hold of c.mu gives both what the answer is checked against and
	// where the request goes.
	t, err := c.targetOf(a)
	if err != nil {
		return nil, err
	}
	p := &pending{agent: agentID, typ: req.MsgType(), ch: make(chan result, 1), route: t.r, addr: t.addr}
	// Booked in the pending table alone, not under c.mu: the table is
	// closed by Close, which fails what it holds, so a call booked as the
	// controller closes either fails with ErrClosed there or is refused.
	a.inflight.Add(1)
	defer a.inflight.Add(-1)
	if !c.pending.add(id, p) {
		return nil, ErrClosed
	}
	defer c.pending.remove(id, p)

	var rs RequestStart
	hooked := c.hooks.requests()
	if hooked {
		rs = RequestStart{AgentID: agentID, Type: req.MsgType(), MsgID: id, Start: start}
		ctx = c.requestStart(ctx, &rs)
	}
	if err := c.sendTo(ctx, a, t, m, false); err != nil {
		if hooked {
			c.requestEnd(ctx, &rs, nil, false, err)
		}
		return nil, err
	}
	var res result
	select {
	case res = <-p.ch:
	case <-ctx.Done():
		res.err = fmt.Errorf("usp: %s to %s: %w", req.MsgType(), agentID, ctx.Err())
		if why := c.noAnswerReason(a); why != nil {
			res.err = fmt.Errorf("usp: %s to %s: %w; %w", req.MsgType(), agentID, ctx.Err(), why)
		}
	}
	var v msg.Message
	if res.err == nil {
		v, res.err = parseResponse(req.MsgType(), res.m)
	}
	if hooked {
		c.requestEnd(ctx, &rs, res.m, true, res.err)
	}
	if res.err != nil {
		return nil, res.err
	}
	return v, nil
}

// noAnswerReason asks the agent's transport whether it knows why answers
// from the agent cannot arrive (an MQTT 3.1.1 agent whose suffixed answer
// topic nobody subscribes to), so that a timeout names the cause.
func (c *Controller) noAnswerReason(a *agentState) error {
	a.mu.Lock()
	r, addr := a.route, a.addr
	a.mu.Unlock()
	if r == nil {
		return nil
	}
	if pv, ok := mtp.As[mtp.PeerVersions](r.t); ok {
		return pv.NoAnswerReason(addr)
	}
	return nil
}

// mqttVersion names the MQTT version of an MQTTConnect record as
// [mtp.PeerVersions] takes it.
func mqttVersion(v usprecord.MQTTConnectRecord_MQTTVersion) string {
	switch v {
	case usprecord.MQTTConnectRecord_V3_1_1:
		return "3.1.1"
	case usprecord.MQTTConnectRecord_V5:
		return "5.0"
	}
	return ""
}

// send sends a request that expects no response (an Operate with
// send_resp false).
func (c *Controller) send(ctx context.Context, agentID string, req msg.Request) error {
	a, err := c.agentToSend(ctx, agentID)
	if err != nil {
		return err
	}
	return c.sendMsg(ctx, a, req.Build(msg.NewID()), false)
}

// parseResponse turns an agent's answer into a typed message, an Error
// message into a *msg.Error, and a response of the wrong kind into
// ErrUnexpectedResponse.
func parseResponse(req uspmsg.Header_MsgType, m *uspmsg.Msg) (msg.Message, error) {
	v, err := msg.Parse(m)
	if err != nil {
		return nil, fmt.Errorf("%w to %s: %w", ErrUnexpectedResponse, req, err)
	}
	if e, ok := v.(*msg.Error); ok {
		return nil, e
	}
	if got, want := m.GetHeader().GetMsgType(), msg.ResponseType(req); got != want {
		return nil, fmt.Errorf("%w: %s answered with %s", ErrUnexpectedResponse, req, got)
	}
	return v, nil
}

func (c *Controller) agentForSend(agentID string) (*agentState, error) {
	switch c.phase.Load() {
	case phaseClosed:
		return nil, ErrClosed
	case phaseNew:
		return nil, ErrNotStarted
	}
	a, _ := c.agents.get(agentID)
	if a == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownAgent, agentID)
	}
	a.mu.Lock()
	unknown := a.route == nil || (a.addr.IsZero() && !a.configured)
	a.mu.Unlock()
	if unknown {
		return nil, fmt.Errorf("%w %s", ErrUnknownAgent, agentID)
	}
	return a, nil
}
