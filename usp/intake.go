package usp

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// IntakeConfig bounds what the controller holds of the records agents
// send it, and how many it handles at once. Give it with [WithIntake]; a
// zero field keeps its default. See "Intake" in the package doc.
type IntakeConfig struct {
	// MaxBytes bounds the bytes of records received and not yet handled,
	// all agents together (default 256 MiB). At the bound the transports
	// wait: their delivery blocks, so the broker's flow control or the
	// connection's own backpressure holds further records back.
	MaxBytes int64
	// MaxRecords bounds the number of such records (default 65,536).
	MaxRecords int
	// AgentBytes and AgentRecords bound one agent's share (defaults 4 MiB
	// and 1,024). Records past its share are refused, not answered: the
	// agent retries what it needs answered, and an agent that floods the
	// controller cannot make the others wait. A record larger than
	// AgentBytes is still taken when the agent has nothing waiting.
	AgentBytes   int64
	AgentRecords int
	// Workers bounds how many agents have records handled at the same
	// time (default 256). One agent's records are handled one at a time,
	// in order; a notify handler that blocks holds one worker, so up to
	// Workers-1 of them may block before other agents wait.
	Workers int
	// AnswerTimeout bounds each answer the controller sends on its own:
	// NotifyResp, answers to agents' requests, refusals (default 10s).
	AnswerTimeout time.Duration
}

// Intake defaults.
const (
	DefaultIntakeBytes   = 256 << 20
	DefaultIntakeRecords = 65536
	DefaultAgentBytes    = 4 << 20
	DefaultAgentRecords  = 1024
	DefaultIntakeWorkers = 256
	DefaultAnswerTimeout = 10 * time.Second
)

func (ic *IntakeConfig) setDefaults() {
	if ic.MaxBytes == 0 {
		ic.MaxBytes = DefaultIntakeBytes
	}
	if ic.MaxRecords == 0 {
		ic.MaxRecords = DefaultIntakeRecords
	}
	if ic.AgentBytes == 0 {
		ic.AgentBytes = min(DefaultAgentBytes, ic.MaxBytes)
	}
	if ic.AgentRecords == 0 {
		ic.AgentRecords = min(DefaultAgentRecords, ic.MaxRecords)
	}
	if ic.Workers == 0 {
		ic.Workers = DefaultIntakeWorkers
	}
	if ic.AnswerTimeout == 0 {
		ic.AnswerTimeout = DefaultAnswerTimeout
	}
}

// WithIntake sets the bounds of the controller's intake; see
// [IntakeConfig]. Zero fields keep their defaults; negative ones, or an
// agent share larger than the total, are refused by [NewController].
func WithIntake(ic IntakeConfig) Option {
	return func(c *config) error {
		if ic.MaxBytes < 0 || ic.MaxRecords < 0 || ic.AgentBytes < 0 || ic.AgentRecords < 0 || ic.Workers < 0 || ic.AnswerTimeout < 0 {
			return fmt.Errorf("%w: negative intake setting %+v", ErrInvalidOption, ic)
		}
		c.intake = ic
		return nil
	}
}

// check completes the intake settings with defaults and checks them.
func (ic *IntakeConfig) check() error {
	ic.setDefaults()
	if ic.AgentBytes > ic.MaxBytes || ic.AgentRecords > ic.MaxRecords {
		return fmt.Errorf("%w: an agent's intake share (%d bytes, %d records) exceeds the total (%d bytes, %d records)",
			ErrInvalidOption, ic.AgentBytes, ic.AgentRecords, ic.MaxBytes, ic.MaxRecords)
	}
	return nil
}

// IntakeStats is a snapshot of the intake, from [Controller.IntakeStats].
type IntakeStats struct {
	// Records and Bytes are received and not yet handled (being handled
	// included).
	Records int
	Bytes   int64
	// Mailboxes have records waiting or being handled (each agent has
	// up to two: answers to the controller's requests travel apart);
	// Workers handle them.
	Mailboxes int
	Workers   int
	// Refused counts records refused because their agent was past its
	// share; Waits counts the deliveries that had to wait for room.
	Refused uint64
	Waits   uint64
}

// IntakeStats reports the state of the intake, for metrics and tests.
func (c *Controller) IntakeStats() IntakeStats {
	in := c.intake
	boxes := 0
	for i := range in.shards {
		sh := &in.shards[i]
		sh.mu.Lock()
		boxes += len(sh.boxes)
		sh.mu.Unlock()
	}
	return IntakeStats{
		Records:   int(in.count.Load()),
		Bytes:     in.bytes.Load(),
		Mailboxes: boxes,
		Workers:   int(in.lanes[laneMain].workers.Load() + in.lanes[laneAnswer].workers.Load()),
		Refused:   in.refused.Load(),
		Waits:     in.waits.Load(),
	}
}

// IntakeHooks is an optional hook interface (see [WithHooks]) for the
// intake's pressure: its refusals and waits. [NopHooks] implements it.
type IntakeHooks interface {
	// RecordRefused is called for a record refused because its agent
	// was past its share of the intake.
	RecordRefused(agentID string, kind mtp.Kind, size int)
	// IntakeWaited is called after a transport's delivery waited for
	// room in the intake, with how long it waited.
	IntakeWaited(kind mtp.Kind, waited time.Duration)
}

// item is one delivery waiting in an agent's mailbox: a record, a
// transport event about that agent's session (kept in line with its
// records, so that a PeerDown is not overtaken by records read before it),
// or a message that arrived in a session context record, passed on from
// the answer lane in the session's order.
type item struct {
	r       *route
	in      mtp.Inbound
	ev      *mtp.Event
	payload []byte         // a USP Msg from a session context record
	fwd     *inboundNotify // a notification another process forwarded
	size    int64
}

// kind is the binding the item came over ("" for a forwarded one).
func (it item) kind() mtp.Kind {
	if it.r == nil {
		return ""
	}
	return it.r.kind
}

// boxKey names a mailbox: an agent's endpoint ID and one of its lanes.
type boxKey struct {
	id   string
	lane lane
}

// mailbox holds one agent's deliveries of one lane in arrival order. It
// exists while it has some; at most one worker holds it at a time.
type mailbox struct {
	key    boxKey
	q      []item
	head   int
	bytes  int64
	queued bool // in the ready list or held by a worker
}

func (b *mailbox) len() int { return len(b.q) - b.head }

func (b *mailbox) push(it item) {
	if b.head > 0 && b.head == len(b.q) {
		b.q, b.head = b.q[:0], 0
	}
	b.q = append(b.q, it)
	b.bytes += it.size
}

func (b *mailbox) pop() item {
	it := b.q[b.head]
	b.q[b.head] = item{}
	b.head++
	return it
}

// intake is the controller's record intake: transports hand records to it
// (HandleRecord), it files each in its agent's mailbox and wakes a worker.
// Workers exist only while some mailbox is ready; each takes one mailbox at
// a time, handles one delivery, and passes the mailbox on to the back of
// the ready lists if others are waiting, so one busy agent cannot starve
// the rest.
//
// The mailboxes are kept in shards by endpoint ID, each with its own lock,
// so that records from unrelated agents do not wait on one lock (issue
// 14); the budget (records and bytes, all agents together) and the
// workers are counted with atomics. A worker takes up to shardStreak
// ready mailboxes in a row from one shard, then looks in the next ones, so
// that every shard's mailboxes are served in turn. Only a delivery that
// must wait for room takes a lock shared by all (waitMu), and only while
// it waits; the budget's two counters are the one cache line every record
// writes.
type intake struct {
	c    *Controller
	cfg  IntakeConfig
	seed maphash.Seed

	closed atomic.Bool
	count  atomic.Int64
	bytes  atomic.Int64
	lanes  [2]laneWork // by lane: each lane has workers of its own
	shards [intakeShards]intakeShard

	waitMu  sync.Mutex
	room    sync.Cond    // signalled when records leave, for waiting deliveries
	waiting atomic.Int32 // deliveries waiting for room

	refused atomic.Uint64
	waits   atomic.Uint64
	lastLog atomic.Int64 // unix nanoseconds of the last refusal logged
}

// intakeShards is how many parts the mailboxes are split into.
const intakeShards = 32

// shardStreak is how many mailboxes in a row a worker takes from one
// shard before it looks in the next.
const shardStreak = 8

// answerShards is how many parents answers' contexts are spread over.
const answerShards = 16

// laneWork counts a lane's workers and its mailboxes waiting for one, in
// every shard.
type laneWork struct {
	workers atomic.Int32
	ready   atomic.Int32
	_       [64]byte // the two lanes' counters are 64 bytes apart: never on one cache line
}

// intakeShard holds the mailboxes of some agents, and those of them
// waiting for a worker, by lane.
type intakeShard struct {
	mu    sync.Mutex
	boxes map[boxKey]*mailbox
	ready [2]readyList
	// queued counts the mailboxes in ready, by lane, so that a worker
	// looking for one passes an empty shard without its lock.
	queued [2]atomic.Int32
	big    bool     // boxes held more than keptCap mailboxes since it was made
	_      [32]byte // pads the shard to 128 bytes: its hot fields and the next shard's are 64 or more bytes apart, never on one cache line, however the array is aligned
}

// readyList is a shard's mailboxes of one lane waiting for a worker, in
// order.
type readyList struct {
	q    []*mailbox
	head int
}

func newIntake(c *Controller, cfg IntakeConfig) *intake {
	in := &intake{c: c, cfg: cfg, seed: maphash.MakeSeed()}
	for i := range in.shards {
		in.shards[i].boxes = make(map[boxKey]*mailbox)
	}
	in.room.L = &in.waitMu
	return in
}

func (in *intake) shardOf(id string) int {
	return int(maphash.String(in.seed, id) % intakeShards)
}

// eventSize is what a queued event counts for in the budget.
const eventSize = 256

// put files a record for the mailbox key. Records past the agent's
// share of their lane are refused; past the total budget put waits for
// room (or Close). Events and passed-on session messages (internal) are
// never refused and never wait: an event is small and must not be lost,
// and a worker must not wait for room that only workers make.
// It reports whether the record was taken.
func (in *intake) put(key boxKey, it item, internal bool) bool {
	size := it.size
	si := in.shardOf(key.id)
	sh := &in.shards[si]
	var start time.Time
	reserved := false
	for {
		sh.mu.Lock()
		if in.closed.Load() {
			sh.mu.Unlock()
			return false
		}
		b := sh.boxes[key]
		if !internal && b != nil && b.len() > 0 &&
			(b.len() >= in.cfg.AgentRecords || b.bytes+size > in.cfg.AgentBytes) {
			sh.mu.Unlock()
			if reserved {
				in.release(size)
			}
			in.refuse(key.id, it)
			return false
		}
		if internal {
			in.count.Add(1)
			in.bytes.Add(size)
			break
		}
		if reserved || in.reserve(size) {
			break
		}
		// Over the total: hold the transport's delivery until workers
		// make room. The agent's share is checked again afterwards.
		sh.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
			in.waits.Add(1)
		}
		if !in.waitRoom(size) {
			return false // closed
		}
		reserved = true
	}
	b := sh.boxes[key]
	if b == nil {
		b = &mailbox{key: key}
		sh.boxes[key] = b
		sh.big = sh.big || len(sh.boxes) > keptCap
	}
	b.push(it)
	if !b.queued {
		b.queued = true
		rl := &sh.ready[key.lane]
		rl.q = append(rl.q, b)
		sh.queued[key.lane].Add(1)
		in.lanes[key.lane].ready.Add(1)
		// Under the shard's lock: Close, which takes every shard's lock
		// after marking the intake closed, starts no wait on the
		// controller's goroutines before this one is counted.
		in.spawn(key.lane, si)
	}
	sh.mu.Unlock()
	if !start.IsZero() {
		if len(in.c.hooks.intake) > 0 {
			in.c.intakeWaitedHook(it.kind(), time.Since(start))
		}
	}
	return true
}

// reserve counts a record of size bytes into the total if it fits (or the
// intake is empty: a record larger than the budget still goes through
// alone). It reports whether it did.
func (in *intake) reserve(size int64) bool {
	n := in.count.Add(1)
	by := in.bytes.Add(size)
	if n == 1 || (n <= int64(in.cfg.MaxRecords) && by <= in.cfg.MaxBytes) {
		return true
	}
	in.release(size)
	return false
}

// release takes a record of size bytes out of the total and wakes the
// deliveries waiting for room.
func (in *intake) release(size int64) {
	in.count.Add(-1)
	in.bytes.Add(-size)
	// A delivery that starts waiting after this load counts itself
	// first (waitRoom), so it sees the room made here.
	if in.waiting.Load() > 0 {
		in.waitMu.Lock()
		in.room.Broadcast()
		in.waitMu.Unlock()
	}
}

// waitRoom waits until a record of size bytes fits in the total and
// reserves it; false if the intake closed first.
func (in *intake) waitRoom(size int64) bool {
	in.waitMu.Lock()
	defer in.waitMu.Unlock()
	in.waiting.Add(1)
	defer in.waiting.Add(-1)
	for !in.closed.Load() {
		n := in.count.Add(1)
		by := in.bytes.Add(size)
		if n == 1 || (n <= int64(in.cfg.MaxRecords) && by <= in.cfg.MaxBytes) {
			return true
		}
		// Undone without a broadcast: waiters try one at a time under
		// waitMu, and a delivery that failed meanwhile on this
		// transient count comes here and tries again.
		in.count.Add(-1)
		in.bytes.Add(-size)
		in.room.Wait()
	}
	return false
}

// idle reports whether the mailbox key has nothing waiting or being
// handled.
func (in *intake) idle(key boxKey) bool {
	sh := &in.shards[in.shardOf(key.id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.boxes[key] == nil
}

// spawn starts a worker for a mailbox that became ready in shard si,
// unless the bound is reached: then the workers there are take it in turn.
// Workers never idle (they end when nothing is ready), so a new ready
// mailbox needs a new one unless the bound is reached.
func (in *intake) spawn(ln lane, si int) {
	if !in.lanes[ln].acquire(int32(in.cfg.Workers)) {
		return
	}
	in.c.wg.Add(1)
	go in.work(ln, si)
}

// acquire counts one more worker if the bound allows.
func (lw *laneWork) acquire(bound int32) bool {
	for {
		w := lw.workers.Load()
		if w >= bound {
			return false
		}
		if lw.workers.CompareAndSwap(w, w+1) {
			return true
		}
	}
}

// refuse drops a record past its agent's share: logged (at most once a
// second), counted and reported to the hooks.
func (in *intake) refuse(key string, it item) {
	in.refused.Add(1)
	now := time.Now().UnixNano()
	if last := in.lastLog.Load(); now-last >= int64(time.Second) && in.lastLog.CompareAndSwap(last, now) {
		in.c.log.Warn("agent past its intake share: record refused unanswered", "agent", key, "mtp", it.kind(),
			"size", it.size, "refused_total", in.refused.Load())
	}
	if len(in.c.hooks.intake) > 0 {
		in.c.intakeRefusedHook(key, it.kind(), int(it.size))
	}
}

// next takes the next mailbox from the ready list; nil when there is
// none. The shard's lock is held.
func (rl *readyList) next() *mailbox {
	if rl.head == len(rl.q) {
		return nil
	}
	b := rl.q[rl.head]
	rl.q[rl.head] = nil
	rl.head++
	switch {
	case rl.head == len(rl.q):
		// Emptied: start again at the front (the list may not be looked
		// at again for a long time, so it lets go of a storm's array now).
		rl.q, rl.head = emptied(rl.q), 0
	case rl.head > 1024 && rl.head*2 > len(rl.q):
		n := copy(rl.q, rl.q[rl.head:])
		clear(rl.q[n:]) // the moved pointers' old places
		rl.q, rl.head = rl.q[:n], 0
	}
	return b
}

// take finds a ready mailbox of the lane, looking in every shard from
// shard first on; it returns the shard's index and the mailbox, or nil when
// none is ready.
func (in *intake) take(ln lane, first int) (int, *mailbox) {
	lw := &in.lanes[ln]
	for lw.ready.Load() > 0 && !in.closed.Load() {
		for i := range intakeShards {
			si := (first + i) % intakeShards
			sh := &in.shards[si]
			if sh.queued[ln].Load() == 0 {
				continue
			}
			sh.mu.Lock()
			b := sh.ready[ln].next()
			if b != nil {
				sh.queued[ln].Add(-1)
				lw.ready.Add(-1)
			}
			sh.mu.Unlock()
			if b != nil {
				return si, b
			}
		}
	}
	return 0, nil
}

// work handles the lane's ready mailboxes until there are none, starting
// in shard si.
func (in *intake) work(ln lane, si int) {
	defer in.c.wg.Done()
	lw := &in.lanes[ln]
	si, b := in.take(ln, si)
	streak := 0 // mailboxes taken from shard si in a row
	for {
		if b == nil {
			lw.workers.Add(-1)
			// A mailbox made ready after take looked, whose put saw the
			// bound reached before the count above went down, has no
			// worker coming: look again. (put counts the mailbox
			// before it reads the workers, and this reads the mailboxes
			// after counting the worker out: one of the two sees the
			// other.)
			if lw.ready.Load() == 0 || in.closed.Load() || !lw.acquire(int32(in.cfg.Workers)) {
				return
			}
			if si, b = in.take(ln, si); b == nil {
				continue
			}
		}
		sh := &in.shards[si]
		sh.mu.Lock()
		if in.closed.Load() {
			sh.mu.Unlock()
			lw.workers.Add(-1)
			return // close dropped the accounts with the queues
		}
		it := b.pop()
		sh.mu.Unlock()
		in.c.handleItem(b.key, it)
		sh.mu.Lock()
		if in.closed.Load() {
			sh.mu.Unlock()
			lw.workers.Add(-1)
			return
		}
		b.bytes -= it.size
		passOn := false
		switch {
		case b.len() == 0:
			b.queued = false
			delete(sh.boxes, b.key)
			if len(sh.boxes) == 0 && sh.big {
				// A map keeps its peak size: after a storm, start
				// again small.
				sh.boxes, sh.big = make(map[boxKey]*mailbox), false
			}
			b = nil
		case lw.ready.Load() > 0:
			// Others are waiting, here or in another shard: go to the
			// back of the line.
			rl := &sh.ready[ln]
			rl.q = append(rl.q, b)
			sh.queued[ln].Add(1)
			lw.ready.Add(1)
			b, passOn = nil, true
		}
		sh.mu.Unlock()
		in.release(it.size)
		if b == nil {
			// The next mailbox comes from the same shard, for up to
			// shardStreak in a row (its lock is likely this core's
			// already), then from the next shard on: each shard's
			// waiting mailboxes get a worker in turn, so that agents
			// arriving in one shard cannot keep it busy. A busy mailbox
			// put back goes to the next shard at once.
			first := si + 1
			if !passOn && streak < shardStreak {
				first = si
			}
			prev := si
			if si, b = in.take(ln, first); si == prev {
				streak++
			} else {
				streak = 0
			}
		}
	}
}

// close stops the intake: waiting deliveries return at once, workers stop
// after what they are handling, and what is still queued is dropped
// unanswered (agents send again what they need answered).
func (in *intake) close() {
	in.closed.Store(true)
	for i := range in.shards {
		sh := &in.shards[i]
		sh.mu.Lock()
		sh.boxes = map[boxKey]*mailbox{}
		for l := range sh.ready {
			sh.ready[l].q, sh.ready[l].head = nil, 0
			sh.queued[l].Store(0)
		}
		sh.mu.Unlock()
	}
	for l := range in.lanes {
		in.lanes[l].ready.Store(0)
	}
	in.count.Store(0)
	in.bytes.Store(0)
	in.waitMu.Lock()
	in.room.Broadcast()
	in.waitMu.Unlock()
}

// handleRecord is the transport's delivery (route.HandleRecord): it only
// finds whose record this is and files it in that agent's mailbox; the
// record is decoded and handled by an intake worker. Misaddressed records
// and records without a usable sender are dropped here.
func (c *Controller) handleRecord(r *route, in mtp.Inbound) {
	if len(c.hooks.record) > 0 {
		from := in.PeerID
		if from == "" {
			_, from, _ = record.PeekIDs(in.Data)
		}
		c.recordHook(RecordEvent{Direction: In, MTP: r.kind, AgentID: from, Size: len(in.Data)})
	}
	// Another process's envelope (a forwarded notification, or the
	// verdict on one): a verdict is taken here, a notification goes to
	// its agent's mailbox (cluster.accept).
	if c.cl != nil && c.cl.intercept(r, in) {
		return
	}
	key := in.PeerID
	to, from, err := record.PeekIDs(in.Data)
	if (err != nil || to != c.id) && key == "" && c.live.will(r, in.Data, func(id string) error { return c.verifyPeer(id, in) }) {
		// An MQTT or STOMP Will whose payload names the agent: not a
		// record at all, or one that happens to scan as a misaddressed one.
		return
	}
	switch {
	case err != nil && key == "":
		c.log.Warn("dropping undecodable record", "mtp", r.kind, "from", in.ReplyTo, "err", err)
		return
	case err != nil:
		// Filed under the peer, whose worker decodes it again and
		// rejects the session.
	case to != c.id:
		c.log.Warn("dropping record addressed to another endpoint", "to_id", to, "from_id", from)
		return
	case !record.ValidEndpointID(from):
		// Every record would create an agent entry: names that are not
		// endpoint IDs are refused before they cost memory.
		c.log.Warn("dropping record from an invalid endpoint ID", "from_id", from)
		return
	case key != "" && key != from:
		c.log.Warn("dropping record whose from_id is not the transport's peer", "from_id", from, "peer", key)
		return
	default:
		key = from
	}
	ln := laneOf(in.Data)
	if ln == laneMain && err == nil && c.sessionEnabled(key) && controlRecord(in.Data) {
		ln = laneAnswer // in order with the session records (controlRecord)
	}
	if ln == laneAnswer && err == nil && len(in.Data) <= inlineAnswerMax && c.answerInline(r, in) {
		return
	}
	c.intake.put(boxKey{key, ln}, item{r: r, in: in, size: int64(len(in.Data))}, false)
}

// inlineAnswerMax bounds the answers taken on the delivery goroutine.
const inlineAnswerMax = 64 << 10

// answerInline takes a response or Error message in a NoSessionContext
// record on the transport's delivery goroutine, where the waiting call is
// woken without a hand-off to a worker (a round trip's latency is mostly
// such hand-offs). It is safe there: it decodes a record of bounded size,
// books the agent and completes a pending call, and nothing of it writes
// to the network, waits or runs user code. Anything else, a record that
// fails to decode included (its refusal may write to the peer), goes to
// the mailbox: it reports false.
func (c *Controller) answerInline(r *route, in mtp.Inbound) bool {
	rec, err := record.Decode(in.Data, record.WithMaxSize(c.cfg.maxRecordSize))
	if err != nil || rec.GetNoSessionContext() == nil {
		return false
	}
	m, err := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if err != nil || !isAnswer(m) {
		return false
	}
	if a := c.agentSeen(rec.GetFromId(), r, in, in.ReplyTo, rec.GetVersion(), false, mqttUnknown); a != nil {
		c.handleAnswer(a, r, m)
	} // else refused by the agent policy, as on a worker
	return true
}

// handleItem handles one delivery from a mailbox, on a worker.
func (c *Controller) handleItem(key boxKey, it item) {
	switch {
	case it.fwd != nil:
		c.deliver(*it.fwd)
	case it.ev != nil:
		c.handlePeerEvent(it.r, *it.ev)
	case it.payload != nil:
		if a, _ := c.agents.get(key.id); a != nil {
			c.handlePayload(a, it.r, it.payload, true)
		}
	default:
		c.handleInbound(it.r, it.in)
	}
}

// answerContext bounds an answer the controller sends on its own. It ends
// at AnswerTimeout, or when Close stops waiting for the workers.
func (c *Controller) answerContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.answerCtxs[rand.IntN(answerShards)], c.cfg.intake.AnswerTimeout)
}
