package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/e2e/tlsrec"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Errors of the test equipment.
var (
	// ErrNoResponse: the agent did not answer a request in time.
	ErrNoResponse = errors.New("conformance: no response from the agent")
	// ErrNoAddress: the agent's address is not known (it has not
	// connected or announced itself, and none was configured).
	ErrNoAddress = errors.New("conformance: agent address unknown")
	// ErrEquipmentClosed: the equipment was closed.
	ErrEquipmentClosed = errors.New("conformance: equipment closed")
	// ErrInvalidOption: an option was given a value that cannot work.
	ErrInvalidOption = errors.New("conformance: invalid option")
)

// Equipment is the test equipment of TP-469: a traffic generator and
// analyzer speaking to one agent over one mtp.Transport. Unlike a
// usp.Controller it does exactly what a case asks, nothing more: it answers
// a Notify only when told to (by default it does, like a controller), sends
// records that are malformed on purpose, and keeps every record that passes,
// in both directions, as evidence.
type Equipment struct {
	tr      *tracer
	id      string
	agentID string
	version string
	timeout time.Duration
	broker  *MQTTBroker
	stomp   *STOMPTap
	ws      *WebSocketObserver
	// bulkHTTP and bulkHTTPS are the kit's bulk data receivers (section 10).
	bulkHTTP, bulkHTTPS *BulkReceiver
	e2eTLS              *tlsrec.Config   // TLS payload security (WithPayloadTLS)
	e2eWrongID          *tls.Certificate // WithPayloadTLSWrongID
	signRecords         bool             // WithRecordSigning

	mu       sync.Mutex
	addr     mtp.Address
	local    mtp.Address // where the equipment is reached, from its transport's Up
	addrSet  chan struct{}
	pending  map[string]*Exchange
	inbox    []Inbound
	changed  chan struct{}
	hold     map[string]bool // subscription IDs whose Notify is not answered
	sink     func(TraceEntry)
	closed   bool
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

// Inbound is a record from the agent that answered no request: a Notify,
// a connect or Disconnect record, a response nobody waited for, or bytes
// that did not decode.
type Inbound struct {
	Seq     int
	Time    time.Time
	Record  *usprecord.Record
	Msg     *uspmsg.Msg
	ReplyTo mtp.Address
	// Err says why the record or its message could not be decoded.
	Err error
}

// Notify returns the Notify the inbound record carries, or nil.
func (in Inbound) Notify() *msg.Notify {
	if in.Msg == nil || in.Msg.GetBody().GetRequest().GetNotify() == nil {
		return nil
	}
	n, err := msg.ParseNotify(in.Msg)
	if err != nil {
		return nil
	}
	return n
}

// Option configures an Equipment.
type Option func(*Equipment) error

// WithAgentAddress says where the agent receives records. Without it the
// address is learned from the agent's first record (its connect record,
// a Boot! notification, or the WebSocket or UDS session it opens).
func WithAgentAddress(a mtp.Address) Option {
	return func(e *Equipment) error {
		if a.IsZero() {
			return fmt.Errorf("%w: empty agent address", ErrInvalidOption)
		}
		e.addr = a
		return nil
	}
}

// WithRecordVersion sets the USP version of the records the equipment
// sends (default record.DefaultVersion).
func WithRecordVersion(v string) Option {
	return func(e *Equipment) error {
		if !record.ValidVersion(v) {
			return fmt.Errorf("%w: record version %q", ErrInvalidOption, v)
		}
		e.version = v
		return nil
	}
}

// WithResponseTimeout bounds the wait for each response (default 10 s).
func WithResponseTimeout(d time.Duration) Option {
	return func(e *Equipment) error {
		if d <= 0 {
			return fmt.Errorf("%w: response timeout %v", ErrInvalidOption, d)
		}
		e.timeout = d
		return nil
	}
}

// WithMQTTBroker says that the agent reaches the equipment through the
// kit's own broker b, so the MQTT cases can observe the wire. Without it
// they end as needing the kit's broker.
func WithMQTTBroker(b *MQTTBroker) Option {
	return func(e *Equipment) error {
		if b == nil {
			return fmt.Errorf("%w: nil broker", ErrInvalidOption)
		}
		e.broker = b
		return nil
	}
}

// WithSTOMPTap says that the agent reaches its STOMP server through the
// kit's tap, so the STOMP cases can observe the frames. Without it they
// end as needing the kit's STOMP server.
func WithSTOMPTap(tp *STOMPTap) Option {
	return func(e *Equipment) error {
		if tp == nil {
			return fmt.Errorf("%w: nil STOMP tap", ErrInvalidOption)
		}
		e.stomp = tp
		return nil
	}
}

// WithWebSocketObserver says that the agent opens its WebSocket sessions
// to the equipment through o, so the WebSocket cases can see the
// handshakes.
func WithWebSocketObserver(o *WebSocketObserver) Option {
	return func(e *Equipment) error {
		if o == nil {
			return fmt.Errorf("%w: nil WebSocket observer", ErrInvalidOption)
		}
		e.ws = o
		return nil
	}
}

// inbound returns the unsolicited records received so far.
func (e *Equipment) inbound() []Inbound {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.inbox)
}

// NewEquipment makes test equipment that acts as the controller with
// endpoint ID controllerID toward the agent agentID over t. The transport
// must not be started; Equipment.Start starts it.
func NewEquipment(t mtp.Transport, controllerID, agentID string, opts ...Option) (*Equipment, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: nil transport", ErrInvalidOption)
	}
	if controllerID == "" || agentID == "" {
		return nil, fmt.Errorf("%w: controller and agent endpoint IDs are required", ErrInvalidOption)
	}
	e := &Equipment{
		id: controllerID, agentID: agentID, version: record.DefaultVersion, timeout: 10 * time.Second,
		addrSet: make(chan struct{}), pending: map[string]*Exchange{}, changed: make(chan struct{}),
		hold: map[string]bool{},
	}
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, err
		}
	}
	if e.signRecords && e.e2eTLS == nil {
		return nil, fmt.Errorf("%w: WithRecordSigning needs the certificate of WithPayloadTLS", ErrInvalidOption)
	}
	if !e.addr.IsZero() {
		close(e.addrSet)
	}
	e.tr = &tracer{Transport: t, sink: e.trace}
	e.bgCtx, e.bgCancel = context.WithCancel(context.Background())
	return e, nil
}

// ControllerID is the endpoint ID the equipment uses.
func (e *Equipment) ControllerID() string { return e.id }

// AgentID is the endpoint ID of the agent under test.
func (e *Equipment) AgentID() string { return e.agentID }

// Transport is the transport the equipment sends through.
func (e *Equipment) Transport() mtp.Transport { return e.tr.Transport }

// Start starts the transport.
func (e *Equipment) Start(ctx context.Context) error {
	return e.tr.Start(ctx, mtp.HandlerFuncs{Record: e.receive, Event: func(ev mtp.Event) {
		if ev.Kind == mtp.Up && !ev.Local.IsZero() {
			e.mu.Lock()
			e.local = ev.Local
			e.mu.Unlock()
		}
	}})
}

// LocalAddress returns where the agent reaches the equipment, as its
// transport reported on connecting (an MQTT topic, a STOMP destination);
// zero when the transport reports none.
func (e *Equipment) LocalAddress() mtp.Address {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.local
}

// Close stops the transport and waits for the equipment's goroutines.
func (e *Equipment) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.bgCancel()
	err := e.tr.Close(ctx)
	e.bg.Wait()
	return err
}

// WaitAgent waits until the agent's address is known.
func (e *Equipment) WaitAgent(ctx context.Context) (mtp.Address, error) {
	select {
	case <-e.addrSet:
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.addr, nil
	case <-ctx.Done():
		return mtp.Address{}, fmt.Errorf("%w: %w", ErrNoAddress, ctx.Err())
	}
}

func (e *Equipment) trace(te TraceEntry) {
	e.mu.Lock()
	sink := e.sink
	e.mu.Unlock()
	if sink != nil {
		sink(te)
	}
}

// setSink directs the trace to one case's result.
func (e *Equipment) setSink(f func(TraceEntry)) {
	e.mu.Lock()
	e.sink = f
	e.mu.Unlock()
}

// receive handles one inbound record: answers go to the exchange waiting
// for them, everything else to the inbox.
func (e *Equipment) receive(in mtp.Inbound) {
	ib := Inbound{Time: time.Now(), ReplyTo: in.ReplyTo}
	rec, err := record.Decode(in.Data)
	if rec == nil {
		ib.Err = err
		e.push(ib)
		return
	}
	ib.Record, ib.Err = rec, err
	if rec.GetFromId() == e.agentID {
		e.learn(rec, in)
	}
	if nsc := rec.GetNoSessionContext(); nsc != nil && err == nil {
		m, err := msg.Decode(nsc.GetPayload())
		ib.Msg, ib.Err = m, err
		if m != nil && err == nil {
			if msg.IsResponse(m.GetHeader().GetMsgType()) || m.GetBody().GetError() != nil {
				// Under the lock, so that a Wait giving up at the same
				// moment sees either the response or none.
				e.mu.Lock()
				ex := e.pending[m.GetHeader().GetMsgId()]
				if ex != nil {
					delete(e.pending, m.GetHeader().GetMsgId())
					ex.Response, ex.Received = m, ib.Time
					close(ex.done)
				}
				e.mu.Unlock()
				if ex != nil {
					return
				}
			}
			if n := m.GetBody().GetRequest().GetNotify(); n != nil && n.GetSendResp() {
				e.mu.Lock()
				held := e.hold[n.GetSubscriptionId()]
				e.mu.Unlock()
				if !held {
					e.answerNotify(m, in.ReplyTo)
				}
			}
		}
	}
	e.push(ib)
}

// agentAddr is where the equipment sends to the agent now.
func (e *Equipment) agentAddr() mtp.Address {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

// learn takes the agent's address from its connect record or from where
// its records come from, unless it is known.
func (e *Equipment) learn(rec *usprecord.Record, in mtp.Inbound) {
	e.mu.Lock()
	defer e.mu.Unlock()
	known := !e.addr.IsZero()
	switch {
	case rec.GetMqttConnect() != nil && rec.GetMqttConnect().GetSubscribedTopic() != "":
		e.addr = mtp.Address{MTP: mtp.MQTT, To: rec.GetMqttConnect().GetSubscribedTopic()}
	case rec.GetStompConnect() != nil && rec.GetStompConnect().GetSubscribedDestination() != "":
		e.addr = mtp.Address{MTP: mtp.STOMP, To: rec.GetStompConnect().GetSubscribedDestination()}
	case !known && !in.ReplyTo.IsZero():
		e.addr = in.ReplyTo
	}
	if !known && !e.addr.IsZero() {
		close(e.addrSet)
	}
}

func (e *Equipment) push(ib Inbound) {
	e.mu.Lock()
	ib.Seq = len(e.inbox) + 1
	e.inbox = append(e.inbox, ib)
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// answerNotify sends the NotifyResp off the transport's delivery goroutine.
func (e *Equipment) answerNotify(m *uspmsg.Msg, replyTo mtp.Address) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.bg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.bg.Done()
		ctx, cancel := context.WithTimeout(e.bgCtx, e.timeout)
		defer cancel()
		_ = e.NotifyResp(ctx, m, replyTo)
	}()
}

// NotifyResp answers a Notify message.
func (e *Equipment) NotifyResp(ctx context.Context, notify *uspmsg.Msg, replyTo mtp.Address) error {
	resp := msg.NotifyResp{SubscriptionID: notify.GetBody().GetRequest().GetNotify().GetSubscriptionId()}
	return e.sendMsg(ctx, resp.Build(notify.GetHeader().GetMsgId()), replyTo)
}

// HoldNotifyResp stops (on=true) or resumes answering the notifications of
// one subscription ID, so that a case can watch an agent retry.
func (e *Equipment) HoldNotifyResp(subscriptionID string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if on {
		e.hold[subscriptionID] = true
	} else {
		delete(e.hold, subscriptionID)
	}
}

// Mark returns the sequence number of the last inbound record, so that a
// later Await looks only at what arrives after it.
func (e *Equipment) Mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.inbox)
}

// Await waits for an inbound record after mark that match accepts, until ctx
// ends; ok is false when none came.
func (e *Equipment) Await(ctx context.Context, mark int, match func(Inbound) bool) (Inbound, bool) {
	next := mark
	for {
		e.mu.Lock()
		box, changed := e.inbox, e.changed
		e.mu.Unlock()
		for ; next < len(box); next++ {
			if match(box[next]) {
				return box[next], true
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Inbound{}, false
		}
	}
}

// Since returns the inbound records after mark that match accepts.
func (e *Equipment) Since(mark int, match func(Inbound) bool) []Inbound {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Inbound
	for _, ib := range e.inbox[min(mark, len(e.inbox)):] {
		if match == nil || match(ib) {
			out = append(out, ib)
		}
	}
	return out
}

// Exchange is one request and, once it came, its response.
type Exchange struct {
	Request  *uspmsg.Msg
	Sent     time.Time
	Response *uspmsg.Msg
	Received time.Time
	// Err is set when the request could not be sent or no response came.
	Err  error
	done chan struct{}
}

// Post sends a request without waiting for its response; Exchange.Wait
// waits for it.
func (e *Equipment) Post(ctx context.Context, req msg.Request) *Exchange {
	return e.PostMsg(ctx, req.Build(msg.NewID()))
}

// PostMsg sends a message built by the caller and registers its msg_id.
func (e *Equipment) PostMsg(ctx context.Context, m *uspmsg.Msg) *Exchange {
	return e.postTo(ctx, m, mtp.Address{})
}

// PostTo sends a request to another address of the agent than the one it
// announced (an MQTT topic it was told to subscribe to, say), without
// waiting for the response.
func (e *Equipment) PostTo(ctx context.Context, req msg.Request, to mtp.Address) *Exchange {
	return e.postTo(ctx, req.Build(msg.NewID()), to)
}

// postTo sends to addr, or to the agent's address when addr is zero.
func (e *Equipment) postTo(ctx context.Context, m *uspmsg.Msg, addr mtp.Address) *Exchange {
	ex := &Exchange{Request: m, done: make(chan struct{})}
	if addr.IsZero() {
		var err error
		if addr, err = e.WaitAgent(ctx); err != nil {
			ex.Err = err
			return ex
		}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		ex.Err = ErrEquipmentClosed
		return ex
	}
	e.pending[m.GetHeader().GetMsgId()] = ex
	e.mu.Unlock()
	ex.Sent = time.Now()
	if err := e.sendMsg(ctx, m, addr); err != nil {
		e.forget(ex)
		ex.Err = err
	}
	return ex
}

func (e *Equipment) forget(ex *Exchange) {
	e.mu.Lock()
	delete(e.pending, ex.Request.GetHeader().GetMsgId())
	e.mu.Unlock()
}

// Wait waits up to d (and ctx) for the response. It returns false, with
// ex.Err set to ErrNoResponse, when none came.
func (e *Equipment) Wait(ctx context.Context, ex *Exchange, d time.Duration) bool {
	if ex.Err != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ex.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	e.mu.Lock()
	// The response may have arrived while we gave up.
	select {
	case <-ex.done:
		e.mu.Unlock()
		return true
	default:
	}
	delete(e.pending, ex.Request.GetHeader().GetMsgId())
	e.mu.Unlock()
	ex.Err = fmt.Errorf("%w within %v to %s msg_id %q", ErrNoResponse, d,
		ex.Request.GetHeader().GetMsgType(), ex.Request.GetHeader().GetMsgId())
	return false
}

// Send sends a request and waits for its response for the response timeout.
func (e *Equipment) Send(ctx context.Context, req msg.Request) *Exchange {
	ex := e.Post(ctx, req)
	e.Wait(ctx, ex, e.timeout)
	return ex
}

func (e *Equipment) sendMsg(ctx context.Context, m *uspmsg.Msg, to mtp.Address) error {
	b, err := record.EncodeMsg(e.version, e.agentID, e.id, m)
	if err != nil {
		return err
	}
	if b, err = e.signBytes(b); err != nil {
		return err
	}
	return e.tr.Send(ctx, to, b)
}

// SendRecord sends a record built by the caller to the agent, marshalled
// as it is, without validation: section 3 cases send invalid records on
// purpose. note is kept in the trace ("version left empty on purpose").
func (e *Equipment) SendRecord(ctx context.Context, rec *usprecord.Record, note string) error {
	b, err := proto.Marshal(rec)
	if err != nil {
		return fmt.Errorf("conformance: cannot marshal the record: %w", err)
	}
	return e.SendBytes(ctx, b, note)
}

// SendBytes sends raw bytes as a record to the agent. With
// [WithRecordSigning] a record that decodes and carries no mac_signature
// is signed first (and so marshalled again).
func (e *Equipment) SendBytes(ctx context.Context, b []byte, note string) error {
	b, err := e.signBytes(b)
	if err != nil {
		return err
	}
	return e.sendUnsigned(ctx, b, note)
}

// sendUnsigned sends bytes as they are, even with [WithRecordSigning].
func (e *Equipment) sendUnsigned(ctx context.Context, b []byte, note string) error {
	addr, err := e.WaitAgent(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	sink := e.sink
	if note != "" {
		e.sink = func(te TraceEntry) {
			te.Note = note
			if sink != nil {
				sink(te)
			}
		}
	}
	e.mu.Unlock()
	err = e.tr.Send(ctx, addr, b)
	e.mu.Lock()
	e.sink = sink
	e.mu.Unlock()
	return err
}
