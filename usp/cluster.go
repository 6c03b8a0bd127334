package usp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
)

// Cluster makes a controller one process of several that serve one fleet
// under one endpoint ID (see [WithCluster] and SCALING.md).
type Cluster struct {
	// Process names this process among the others: letters, digits, '.',
	// '_' and '-', at most 64. It goes into the ID of every subscription
	// and the command key of every operation this process creates, so that
	// whichever process receives their notifications knows the owner. A
	// process restarted under the same name takes its operations back
	// from the store.
	Process string
	// Address returns the address on which a process receives records
	// meant for it alone: its own reply topic or destination, e.g. with
	// mqtt.WithSharedSubscription and mqtt.WithClientID(process),
	// <topic>/reply/<process>. Its MTP must be one of the controller's
	// transports.
	Address func(process string) mtp.Address
	// ForwardTimeout bounds how long a process waits for the owner to
	// accept a forwarded notification before it hands it to its own
	// handlers instead (default 3s). An owner that did not answer in time
	// is passed over for DeadFor (default 30s).
	ForwardTimeout time.Duration
	DeadFor        time.Duration
	// Secret, if set, authenticates the records the processes forward to
	// each other (HMAC-SHA256); every process needs the same one. Without
	// it, anyone who can publish to a process's address can hand it
	// notifications as if from an agent — no more than publishing to the
	// shared topic allows, but set it where the broker does not restrict
	// who publishes where.
	Secret []byte
	// ClaimAll makes each process claim in the store (see
	// [OrphanClaims]) every notification before its handlers run, so that
	// any later copy, wherever it lands, is flagged Duplicate: those of
	// notifications no process owns (OnBoardRequest, the agent's own
	// Boot! subscription, subscriptions with an ID of the caller's), and
	// the one an owner handled just before it died. It costs one store
	// write per notification, on the agent's worker. Without it, claims
	// are made only for notifications whose owner is gone; the others are
	// flagged by the duplicate window of the process that handles them
	// (the owner's, for owned ones, which sees every copy while it lives).
	ClaimAll bool
}

// errForward reports a notification that could not be handed to the
// process that owns it (logged; the notification goes to this process's
// handlers instead).
var errForward = errors.New("usp: cluster forward")

// WithCluster makes the controller one process of a fleet controller:
// several processes with the same endpoint ID, each receiving a share of
// the agents' unsolicited records (mqtt.WithSharedSubscription; STOMP:
// competing consumers on one queue) and the answers to its own requests
// on an address of its own. Notifications for a subscription or an
// operation that another process created are forwarded over the broker
// to that process, and answered (NotifyResp) once it accepted them; when
// the owner does not answer, the receiving process's own handlers get
// them, so that nothing is lost. Agents learned by any process are found
// through the [Store] (see [AgentLookup]) by the others.
func WithCluster(cl Cluster) Option {
	return func(c *config) error {
		if !validProcess(cl.Process) {
			return fmt.Errorf("%w: cluster process name %q (letters, digits, '.', '_', '-'; 1 to 64)", ErrInvalidOption, cl.Process)
		}
		if cl.Address == nil {
			return fmt.Errorf("%w: cluster needs Address", ErrInvalidOption)
		}
		if a := cl.Address(cl.Process); a.IsZero() || a.MTP == "" {
			return fmt.Errorf("%w: cluster Address gives no address for %q", ErrInvalidOption, cl.Process)
		}
		if cl.ForwardTimeout < 0 || cl.DeadFor < 0 {
			return fmt.Errorf("%w: negative cluster timeout", ErrInvalidOption)
		}
		if cl.ForwardTimeout == 0 {
			cl.ForwardTimeout = 3 * time.Second
		}
		if cl.DeadFor == 0 {
			cl.DeadFor = 30 * time.Second
		}
		c.cluster = &cl
		return nil
	}
}

// AgentLookup is implemented by stores that can read one agent's record.
// A controller whose store implements it looks up agents it does not know
// before answering [ErrUnknownAgent]: in a cluster, the process that heard
// an agent writes its address to the store (within a second), and every
// other process can then reach it.
type AgentLookup interface {
	// Agent returns the agent's record; ok is false when there is none.
	Agent(ctx context.Context, endpointID string) (e InventoryEntry, ok bool, err error)
}

// OrphanClaims is implemented by shared stores that remember which
// notifications went to the fleet's handlers because their owner was gone.
// The owner's duplicate window sees every retransmission of its own
// notifications while it lives; once it is gone, each retransmission may
// land on a different process, and only a record all of them can read
// tells the second of those that the handlers saw it already. The store is
// asked only on that path, so a live fleet pays nothing for it.
type OrphanClaims interface {
	// ClaimOrphan records that this process hands the agent's
	// notification msgID to its handlers and reports whether it is the
	// first to do so. Records may be forgotten after an hour: agents give
	// up retrying long before.
	ClaimOrphan(ctx context.Context, agentID, msgID string) (first bool, err error)
}

// OrphanClaimTTL is how long a [MemoryStore] (and pgstore) remembers a
// claim made through [OrphanClaims].
const OrphanClaimTTL = time.Hour

func validProcess(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

const ownedPrefix = "gousp@"

// maxForwards bounds the notifications a process has forwarded and waits
// on; beyond it the agent's worker waits (and with it, intake from that
// agent's shard).
const maxForwards = 256

// newKey makes a subscription ID or command key; in a cluster it names the
// process that owns it.
func (c *Controller) newKey() string {
	if c.cl != nil {
		return ownedPrefix + c.cl.cfg.Process + ":" + msg.NewID()
	}
	return "gousp-" + msg.NewID()
}

// requestID makes the msg_id of a request: in a cluster it names the
// process that waits for the answer, so that an answer delivered to
// another process (an agent that answers on the shared topic instead of
// the reply topic it was given) can be passed on to it.
func (c *Controller) requestID() string {
	if c.cl != nil {
		return ownedPrefix + c.cl.cfg.Process + ":" + msg.NewID()
	}
	return msg.NewID()
}

// ownerOf returns the process named in a key made by newKey, or "".
func ownerOf(key string) string {
	rest, ok := strings.CutPrefix(key, ownedPrefix)
	if !ok {
		return ""
	}
	p, _, ok := strings.Cut(rest, ":")
	if !ok || !validProcess(p) {
		return ""
	}
	return p
}

// owns reports whether a stored subscription or operation belongs to this
// process: everything does, unless it is one process of a cluster, which
// leaves the others' records in the shared store alone.
func (c *Controller) owns(key string) bool {
	if c.cl == nil {
		return true
	}
	return ownerOf(key) == c.cl.cfg.Process
}

// cluster is the running part of WithCluster.
type cluster struct {
	c    *Controller
	cfg  Cluster
	mu   sync.Mutex
	wait map[string]chan string // forward ID → the owner's verdict ("" accepted)
	sem  chan struct{}          // bounds the forwards in flight
	dead map[string]time.Time   // owners that did not answer, until when
}

func newCluster(c *Controller, cfg *Cluster) *cluster {
	if cfg == nil {
		return nil
	}
	return &cluster{c: c, cfg: *cfg, wait: make(map[string]chan string), sem: make(chan struct{}, maxForwards), dead: make(map[string]time.Time)}
}

// ownerFor returns the other process that waits for the notification, or
// "" when this one handles it.
func (cl *cluster) ownerFor(n *Notification) string {
	owner := ownerOf(n.SubscriptionID)
	if oc, ok := n.Body.(*msg.OperationComplete); ok && owner == "" {
		owner = ownerOf(oc.CommandKey)
	}
	if owner == cl.cfg.Process {
		return ""
	}
	return owner
}

// route hands a notification that another process owns to that process
// and answers it once the owner accepted it. It returns false when the
// notification is this process's to handle: its own, nobody's in
// particular, or its owner's who is gone.
func (cl *cluster) route(in *inboundNotify) bool {
	if in.done != nil || in.m == nil || in.inSession {
		return false // forwarded to us already, or bound to a session
	}
	owner := cl.ownerFor(in.n)
	if owner == "" {
		return false
	}
	c := cl.c
	cl.mu.Lock()
	until, dead := cl.dead[owner]
	if dead && time.Now().After(until) {
		delete(cl.dead, owner)
		dead = false
	}
	cl.mu.Unlock()
	if dead {
		in.orphan = true // claimed by deliver
		cl.orphaned(owner, in.n)
		return false
	}
	// The verdict is awaited on a goroutine of its own: a worker that
	// waited here could wait for a process that waits for this one.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return true // unanswered: the agent sends it again
	}
	c.wg.Add(1)
	c.mu.Unlock()
	select {
	case cl.sem <- struct{}{}:
	case <-c.closing:
		c.wg.Done()
		return true
	}
	fwd := *in // the caller's copy is gone once route returns
	go func() {
		defer c.wg.Done()
		defer func() { <-cl.sem }()
		cl.settle(owner, fwd)
	}()
	return true
}

// settle forwards one notification and acts on the owner's verdict.
func (cl *cluster) settle(owner string, in inboundNotify) {
	c := cl.c
	verdict, err := cl.forward(owner, in)
	if err != nil && c.ctx.Err() != nil {
		return // closing: unanswered, the agent sends it again to a live process
	}
	if err != nil {
		c.log.Warn("owner of a notification did not take it; handling it here", "owner", owner, "agent", in.n.AgentID, "msg_id", in.n.MsgID, "err", err)
		cl.mu.Lock()
		cl.dead[owner] = time.Now().Add(cl.cfg.DeadFor)
		cl.mu.Unlock()
		in.m = nil // not again
		in.orphan = true
		c.deliver(in)
		cl.orphaned(owner, in.n)
		return
	}
	if verdict != "" {
		c.log.Info("notification not accepted by its owner; leaving it unanswered", "owner", owner, "agent", in.n.AgentID, "msg_id", in.n.MsgID, "err", verdict)
		return
	}
	c.log.Debug("notification forwarded to its owner", "owner", owner, "agent", in.n.AgentID, "msg_id", in.n.MsgID)
	d := c.digest(in.n.MsgID)
	in.a.mu.Lock()
	in.a.dups.record(d, true, c.cfg.dupWindow)
	in.a.mu.Unlock()
	if in.n.SendResp {
		c.reply(in.a, msg.NotifyResp{SubscriptionID: in.n.SubscriptionID}.Build(in.n.MsgID), false)
	}
}

// claim marks a notification Duplicate when another process, or this one,
// handed it to the handlers before (see [OrphanClaims]): an orphan's
// always, any other's with ClaimAll. Without such a store, or when it
// fails, the flag is this process's window's alone.
func (cl *cluster) claim(n *Notification) {
	oc, ok := cl.c.cfg.store.(OrphanClaims)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(cl.c.ctx, backgroundTimeout)
	defer cancel()
	first, err := oc.ClaimOrphan(ctx, n.AgentID, n.MsgID)
	if err != nil {
		cl.c.log.Info("could not claim a notification in the store; its Duplicate flag is this process's own", "agent", n.AgentID, "msg_id", n.MsgID, "err", err)
		return
	}
	if !first {
		n.Duplicate = true
	}
}

// orphaned removes from the store the operation whose completion goes to
// this process's handlers because its owner is gone: the operation is over,
// and a restarted owner must not wait for it again.
func (cl *cluster) orphaned(owner string, n *Notification) {
	c := cl.c
	oc, ok := n.Body.(*msg.OperationComplete)
	if !ok || c.cfg.store == nil || ownerOf(oc.CommandKey) != owner {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, backgroundTimeout)
	defer cancel()
	if err := c.cfg.store.DeleteOperation(ctx, n.AgentID, oc.CommandKey); err != nil {
		c.log.Info("could not remove a completed operation of another process from the store", "owner", owner, "agent", n.AgentID, "err", err)
	}
}

// forward sends the notification to its owner and waits for the verdict.
func (cl *cluster) forward(owner string, in inboundNotify) (string, error) {
	c := cl.c
	addr := cl.cfg.Address(owner)
	r := c.routeFor(addr.MTP)
	if r == nil {
		return "", fmt.Errorf("%w: no %s transport to reach %s", errForward, addr.MTP, owner)
	}
	payload, err := proto.Marshal(in.m)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errForward, err)
	}
	id := msg.NewID()
	ch := make(chan string, 1)
	cl.mu.Lock()
	cl.wait[id] = ch
	cl.mu.Unlock()
	defer func() {
		cl.mu.Lock()
		delete(cl.wait, id)
		cl.mu.Unlock()
	}()
	env := envelope{kind: envForward, id: id, process: cl.cfg.Process, agent: in.n.AgentID, dup: in.n.Duplicate, body: payload}
	ctx, cancel := context.WithTimeout(c.ctx, cl.cfg.ForwardTimeout)
	defer cancel()
	if err := r.t.Send(ctx, addr, env.encode(cl.cfg.Secret)); err != nil {
		return "", fmt.Errorf("%w to %s: %w", errForward, owner, err)
	}
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%w to %s: no answer: %w", errForward, owner, ctx.Err())
	}
}

// intercept takes the records processes send each other; it returns false
// for anything else (every USP Record starts otherwise).
func (cl *cluster) intercept(r *route, in mtp.Inbound) bool {
	if !isEnvelope(in.Data) {
		return false
	}
	c := cl.c
	env, err := decodeEnvelope(in.Data, cl.cfg.Secret)
	if err != nil {
		c.log.Warn("dropping bad cluster record", "mtp", r.kind, "from", in.ReplyTo, "err", err)
		return true
	}
	cl.mu.Lock()
	delete(cl.dead, env.process) // it speaks: it is alive
	cl.mu.Unlock()
	switch env.kind {
	case envVerdict:
		cl.mu.Lock()
		ch := cl.wait[env.id]
		cl.mu.Unlock()
		if ch != nil {
			select {
			case ch <- string(env.body):
			default:
			}
		}
	case envForward:
		cl.accept(r, in.ReplyTo, env)
	case envAnswer:
		cl.takeAnswer(env)
	}
	return true
}

// strayAnswer passes an agent's answer that matches no request of this
// process to the process whose msg_id it carries (see requestID). It
// returns false when the answer names no other process: it is then
// dropped, as in one process.
func (cl *cluster) strayAnswer(agentID, msgID string, m *uspmsg.Msg) bool {
	owner := ownerOf(msgID)
	if owner == "" || owner == cl.cfg.Process {
		return false
	}
	c := cl.c
	payload, err := proto.Marshal(m)
	if err != nil {
		return false
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return true
	}
	c.wg.Add(1)
	c.mu.Unlock()
	select {
	case cl.sem <- struct{}{}:
	case <-c.closing:
		c.wg.Done()
		return true
	}
	// Sent from a goroutine of its own, like a forwarded notification:
	// the agent's worker does not wait on the broker for another process.
	go func() {
		defer c.wg.Done()
		defer func() { <-cl.sem }()
		addr := cl.cfg.Address(owner)
		rt := c.routeFor(addr.MTP)
		if rt == nil {
			c.log.Info("dropping an answer for another process: no transport to reach it", "owner", owner, "agent", agentID, "msg_id", msgID)
			return
		}
		env := envelope{kind: envAnswer, id: msgID, process: cl.cfg.Process, agent: agentID, body: payload}
		ctx, cancel := context.WithTimeout(c.ctx, cl.cfg.ForwardTimeout)
		defer cancel()
		if err := rt.t.Send(ctx, addr, env.encode(cl.cfg.Secret)); err != nil {
			c.log.Info("dropping an answer for another process: could not pass it on", "owner", owner, "agent", agentID, "msg_id", msgID, "err", err)
			return
		}
		c.log.Debug("answer passed on to the process that asked", "owner", owner, "agent", agentID, "msg_id", msgID)
	}()
	return true
}

// takeAnswer hands an answer another process received to the call here
// that waits for it.
func (cl *cluster) takeAnswer(env envelope) {
	c := cl.c
	m, err := msg.Decode(env.body)
	if err != nil || !isAnswer(m) || !record.ValidEndpointID(env.agent) {
		c.log.Warn("dropping forwarded record that is not an agent's answer", "process", env.process, "agent", env.agent, "err", err)
		return
	}
	id := m.GetHeader().GetMsgId()
	p, ok := c.pending.take(id, func(p *pending) bool { return p.agent == env.agent })
	if !ok {
		c.log.Info("dropping forwarded answer that matches no request", "process", env.process, "agent", env.agent, "msg_id", id)
		return
	}
	if a, _ := c.agents.get(env.agent); a != nil {
		a.answered.Store(true)
	}
	p.finish(m, nil)
}

// accept handles a notification another process forwarded to its owner:
// the agent's worker runs it like one received directly, and the verdict
// goes back instead of a NotifyResp.
func (cl *cluster) accept(r *route, replyTo mtp.Address, env envelope) {
	c := cl.c
	if replyTo.IsZero() {
		replyTo = cl.cfg.Address(env.process)
	}
	verdict := func(err error) {
		v := envelope{kind: envVerdict, id: env.id, process: cl.cfg.Process}
		if err != nil {
			v.body = []byte(err.Error())
			if len(v.body) == 0 {
				v.body = []byte("refused")
			}
		}
		rt := r
		if replyTo.MTP != r.kind {
			if rt = c.routeFor(replyTo.MTP); rt == nil {
				return
			}
		}
		ctx, cancel := context.WithTimeout(c.ctx, cl.cfg.ForwardTimeout)
		defer cancel()
		if err := rt.t.Send(ctx, replyTo, v.encode(cl.cfg.Secret)); err != nil {
			c.log.Info("could not answer a forwarded notification", "process", env.process, "err", err)
		}
	}
	if !record.ValidEndpointID(env.agent) {
		c.log.Warn("dropping forwarded notification from an invalid endpoint ID", "from_id", env.agent)
		return
	}
	m, err := msg.Decode(env.body)
	if err != nil || m.GetHeader().GetMsgType() != uspmsg.Header_NOTIFY {
		c.log.Warn("dropping forwarded record that is not a Notify", "agent", env.agent, "err", err)
		return
	}
	parsed, err := msg.Parse(m)
	nt, ok := parsed.(*msg.Notify)
	if err != nil || !ok {
		c.log.Warn("dropping invalid forwarded Notify", "agent", env.agent, "err", err)
		return
	}
	id := m.GetHeader().GetMsgId()
	n := &Notification{AgentID: env.agent, MsgID: id, SubscriptionID: nt.SubscriptionID, SendResp: nt.SendResp,
		Body: nt.Notification, Received: time.Now()}
	c.mu.Lock()
	if c.closed || !c.started {
		c.mu.Unlock()
		return // no verdict: the sender hands it to its own handlers
	}
	a, _ := c.agents.get(env.agent)
	if a == nil {
		if !c.admitNewAgent() {
			c.mu.Unlock()
			verdict(errors.New("too many agents known"))
			return
		}
		a = c.newAgent(env.agent)
		c.agents.put(env.agent, a)
		c.learned++
		c.noteAgent(AgentLearned, a)
	}
	d := c.digest(id)
	a.mu.Lock()
	seen, acked := a.dups.lookup(d)
	if !seen {
		a.dups.record(d, false, c.cfg.dupWindow)
	}
	a.mu.Unlock()
	c.mu.Unlock()
	c.flushAgentNotes()
	if seen && acked {
		verdict(nil) // handled here before; the agent retried elsewhere
		return
	}
	n.Duplicate = seen || env.dup
	// In line with the agent's own records on this process.
	in := inboundNotify{n: n, a: a, done: verdict}
	if !c.intake.put(boxKey{a.id, laneMain}, item{fwd: &in, size: int64(len(env.agent) + 256)}, false) {
		verdict(errors.New("intake: agent past its share, or closing"))
	}
}

// lookupAgent finds an agent this process has not heard from in the
// store, where another process wrote it.
func (c *Controller) lookupAgent(ctx context.Context, agentID string) (*agentState, bool) {
	lk, ok := c.cfg.store.(AgentLookup)
	if !ok || !record.ValidEndpointID(agentID) {
		return nil, false
	}
	e, found, err := lk.Agent(ctx, agentID)
	if err != nil {
		c.log.Info("agent lookup in the store failed", "agent", agentID, "err", err)
		return nil, false
	}
	if !found || e.Address.IsZero() || sessionKind(e.Address.MTP) {
		return nil, false
	}
	rt := c.routeFor(e.Address.MTP)
	if rt == nil {
		return nil, false
	}
	adopted := false
	defer func() {
		// After c.mu is released: the transport takes locks of its own.
		if adopted {
			c.tellMQTTVersion(rt, e)
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false
	}
	a, _ := c.agents.get(agentID)
	if a == nil {
		if !c.admitNewAgent() {
			return nil, false
		}
		a = c.newAgent(agentID)
		c.agents.put(agentID, a)
		c.learned++
		c.noteAgent(AgentLearned, a)
	}
	if a.route == nil || a.addr.IsZero() {
		a.mu.Lock()
		a.route, a.addr = rt, e.Address
		adopted = true
		if e.SupportedVersions != "" {
			a.versions = e.SupportedVersions
			if v := record.NegotiateVersion(e.SupportedVersions); v != "" {
				a.version = v
			}
		}
		a.mu.Unlock()
	}
	return a, true
}

// tellMQTTVersion passes the MQTT version stored with an agent's address
// to the transport that reaches it, as the MQTTConnect record the storing
// process got did there: a 3.1.1 client learned from the store gets the
// reply-to suffix on the first request already.
func (c *Controller) tellMQTTVersion(rt *route, e InventoryEntry) {
	if e.MQTTVersion == "" {
		return
	}
	if pv, ok := mtp.As[mtp.PeerVersions](rt.t); ok {
		pv.SetPeerVersion(e.Address, e.MQTTVersion)
	}
}

// agentToSend is agentForSend, falling back to the store.
func (c *Controller) agentToSend(ctx context.Context, agentID string) (*agentState, error) {
	a, err := c.agentForSend(agentID)
	if err != nil && errors.Is(err, ErrUnknownAgent) {
		found, ok := c.lookupAgent(ctx, agentID)
		c.flushAgentNotes()
		if ok {
			return found, nil
		}
	}
	return a, err
}

// The records processes send each other: a magic prefix no USP Record
// starts with (a Record's first byte is the tag of its version field,
// 0x0a), then length-prefixed fields, then, with a secret, an HMAC.
const (
	envForward byte = 1 // a notification for its owner
	envVerdict byte = 2 // the owner's answer: empty body accepted, else why not
	envAnswer  byte = 3 // an agent's answer to a request of the receiver's, delivered elsewhere
)

var envMagic = []byte("\xffgousp-cluster\x01")

type envelope struct {
	kind    byte
	dup     bool
	id      string // the forward's ID, echoed by the verdict
	process string // the sending process
	agent   string
	body    []byte // the serialized Notify, or the verdict's reason
}

// errEnvelope reports a malformed or unauthenticated cluster record.
var errEnvelope = errors.New("usp: bad cluster record")

const maxEnvelopeField = 16 << 20

func isEnvelope(b []byte) bool {
	return len(b) >= len(envMagic) && string(b[:len(envMagic)]) == string(envMagic)
}

func (e envelope) encode(secret []byte) []byte {
	b := make([]byte, 0, len(envMagic)+2+len(e.id)+len(e.process)+len(e.agent)+len(e.body)+4*binary.MaxVarintLen32+sha256.Size)
	b = append(b, envMagic...)
	flags := byte(0)
	if e.dup {
		flags = 1
	}
	b = append(b, e.kind, flags)
	for _, f := range [][]byte{[]byte(e.id), []byte(e.process), []byte(e.agent), e.body} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	if len(secret) > 0 {
		m := hmac.New(sha256.New, secret)
		m.Write(b)
		b = m.Sum(b)
	}
	return b
}

func decodeEnvelope(b []byte, secret []byte) (envelope, error) {
	var e envelope
	if !isEnvelope(b) {
		return e, fmt.Errorf("%w: no magic", errEnvelope)
	}
	if len(secret) > 0 {
		if len(b) < len(envMagic)+sha256.Size {
			return e, fmt.Errorf("%w: too short for its MAC", errEnvelope)
		}
		body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		if !hmac.Equal(m.Sum(nil), sum) {
			return e, fmt.Errorf("%w: MAC does not match", errEnvelope)
		}
		b = body
	}
	b = b[len(envMagic):]
	if len(b) < 2 {
		return e, fmt.Errorf("%w: truncated header", errEnvelope)
	}
	e.kind, e.dup = b[0], b[1] == 1
	if e.kind != envForward && e.kind != envVerdict && e.kind != envAnswer || b[1] > 1 {
		return e, fmt.Errorf("%w: unknown kind %d or flags %d", errEnvelope, e.kind, b[1])
	}
	b = b[2:]
	var fields [4][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || k != uvarintLen(n) || n > maxEnvelopeField || n > uint64(len(b)-k) {
			return e, fmt.Errorf("%w: field %d truncated", errEnvelope, i)
		}
		fields[i] = b[k : k+int(n)]
		b = b[k+int(n):]
	}
	if len(b) != 0 {
		return e, fmt.Errorf("%w: %d bytes after the last field", errEnvelope, len(b))
	}
	e.id, e.process, e.agent, e.body = string(fields[0]), string(fields[1]), string(fields[2]), fields[3]
	if e.id == "" || !validProcess(e.process) {
		return e, fmt.Errorf("%w: missing ID or bad process name", errEnvelope)
	}
	return e, nil
}

// Agent implements [AgentLookup].
func (m *MemoryStore) Agent(_ context.Context, endpointID string) (InventoryEntry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.agents[endpointID]
	return e, ok, nil
}

// ClaimOrphan implements [OrphanClaims].
func (m *MemoryStore) ClaimOrphan(_ context.Context, agentID, msgID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.claims == nil {
		m.claims = make(map[[2]string]time.Time)
	}
	if len(m.claims) >= 1024 && now.Sub(m.pruned) > time.Minute {
		for k, at := range m.claims {
			if now.Sub(at) > OrphanClaimTTL {
				delete(m.claims, k)
			}
		}
		m.pruned = now
	}
	k := [2]string{agentID, msgID}
	if at, ok := m.claims[k]; ok && now.Sub(at) <= OrphanClaimTTL {
		return false, nil
	}
	m.claims[k] = now
	return true, nil
}

// uvarintLen is the length of n's shortest encoding: only that one is
// accepted, so that a record has one encoding.
func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return len(binary.AppendUvarint(b[:0], n))
}
