package mtp

import (
	"context"
	"errors"
	"fmt"
)

// Kind names a message transfer protocol binding.
type Kind string

// The bindings gousp ships.
const (
	MQTT      Kind = "mqtt"
	STOMP     Kind = "stomp"
	WebSocket Kind = "websocket"
	UDS       Kind = "uds"
	Memory    Kind = "memory"
)

// Address says where to send records to reach one endpoint over one binding.
// Its To field is binding-specific: an MQTT topic, a STOMP destination, the
// endpoint ID of a peer connected over a WebSocket or Unix socket, or a
// memory endpoint name. The zero Address means "no reply address given".
type Address struct {
	MTP Kind
	To  string
}

// IsZero reports whether a has no destination.
func (a Address) IsZero() bool { return a.To == "" }

func (a Address) String() string {
	if a.IsZero() {
		return "<none>"
	}
	return string(a.MTP) + ":" + a.To
}

// Inbound is one USP Record as a transport received it.
type Inbound struct {
	// Data holds the record's bytes. The transport does not reuse it after
	// delivery, so the handler may keep it.
	Data []byte
	// ReplyTo is where an answer to this record should go: the MQTT Response
	// Topic (or 3.1.1 reply-to suffix), the STOMP reply-to-dest, or the
	// connection the record came in on. It is zero when the peer gave none;
	// callers then fall back to a configured address.
	ReplyTo Address
	// PeerID is the peer's endpoint ID as the transport authenticated or was
	// told it (WebSocket ?eid=, UDS handshake, TLS client certificate); empty
	// when the binding gives no such identity (MQTT, STOMP).
	PeerID string
	// ReceivedOn is the MQTT topic (without a 3.1.1 reply-to suffix) or
	// the STOMP destination the record was published to; zero on the
	// bindings without one. Unlike ReplyTo, which the sender writes, a
	// broker whose ACL lets each client publish only to topics of its own
	// vouches for it.
	ReceivedOn Address
	// PeerCert is the certificate the peer presented on a TLS session
	// (WebSocket); nil without one.
	PeerCert *PeerCert
}

// State is a transport's connection state.
type State int

// Connection states.
const (
	Disconnected State = iota
	Connecting
	Connected
	Closed
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// EventKind says what an [Event] reports.
type EventKind int

// Event kinds.
const (
	// Up: the transport is connected (to its broker, or listening); on
	// brokers, it has subscribed to every topic or destination it serves.
	Up EventKind = iota + 1
	// Down: the transport lost its connection; it reconnects by itself
	// unless it was closed.
	Down
	// PeerUp: a peer connected directly (WebSocket or UDS session opened).
	PeerUp
	// PeerDown: a directly connected peer went away.
	PeerDown
)

func (k EventKind) String() string {
	switch k {
	case Up:
		return "up"
	case Down:
		return "down"
	case PeerUp:
		return "peer-up"
	case PeerDown:
		return "peer-down"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports a change of connection state.
type Event struct {
	Kind EventKind
	// Local is the address this transport receives on, once Up: its MQTT
	// topic or STOMP destination (for connect records), or empty.
	Local Address
	// Peer and PeerID identify the peer for PeerUp and PeerDown.
	Peer   Address
	PeerID string
	// PeerCert is the certificate the peer presented, for PeerUp of a TLS
	// session (WebSocket); nil otherwise.
	PeerCert *PeerCert
	// Err says why the connection went Down, when known.
	Err error
}

// Handler receives what a transport delivers. A transport calls it from its
// own goroutines, never concurrently for the same transport, and expects it
// to return quickly.
type Handler interface {
	HandleRecord(in Inbound)
	HandleEvent(ev Event)
}

// HandlerFuncs adapts two functions to [Handler]; a nil function ignores its
// kind of delivery.
type HandlerFuncs struct {
	Record func(Inbound)
	Event  func(Event)
}

// HandleRecord calls f.Record.
func (f HandlerFuncs) HandleRecord(in Inbound) {
	if f.Record != nil {
		f.Record(in)
	}
}

// HandleEvent calls f.Event.
func (f HandlerFuncs) HandleEvent(ev Event) {
	if f.Event != nil {
		f.Event(ev)
	}
}

// Transport moves USP Record bytes between endpoints over one binding.
type Transport interface {
	// Kind names the binding.
	Kind() Kind
	// Start connects (or starts listening) and delivers inbound records and
	// events to h until Close. It returns once the transport is first
	// usable, or with an error if ctx ends before that or the configuration
	// cannot work. After Start, the transport reconnects by itself.
	// Start may be called once.
	Start(ctx context.Context, h Handler) error
	// Send sends one record to an address. It fails fast with an error
	// matching [ErrNotConnected] while disconnected, [ErrClosed] after Close,
	// and [ErrUnknownPeer] when no session to that peer exists.
	Send(ctx context.Context, to Address, record []byte) error
	// State reports the current connection state.
	State() State
	// Close disconnects and releases every goroutine. It is idempotent.
	Close(ctx context.Context) error
}

// Rejecter is implemented by transports with a session per peer
// (WebSocket and UDS servers and clients) that can end one peer's session
// with a reason: the usp controller rejects a peer that sends a record it
// cannot parse, as TR-369 asks for WebSocket (close code 1003).
type Rejecter interface {
	Reject(peerID, reason string) error
}

// SinglePeer is implemented by client transports with exactly one peer
// (WebSocket and UDS clients); they accept sends with an empty To, and
// PeerID names the peer once it is known.
type SinglePeer interface {
	PeerID() string
}

// Wrapper is implemented by transports that wrap another one (to count,
// log, or inject faults). [As] looks through them, so that the optional
// interfaces of the transport inside ([Rejecter], [SinglePeer],
// [Identified], [PeerVersions]) are not lost to the wrapper: it need not
// forward each of them itself.
type Wrapper interface {
	Unwrap() Transport
}

// As finds the first transport in t's chain of [Wrapper]s, t itself
// first, that implements T, as errors.As does for errors.
func As[T any](t Transport) (T, bool) {
	for range 64 { // a cycle of wrappers must not loop for ever
		if v, ok := t.(T); ok {
			return v, true
		}
		w, ok := t.(Wrapper)
		if !ok {
			break
		}
		if t = w.Unwrap(); t == nil {
			break
		}
	}
	var zero T
	return zero, false
}

// Identified is implemented by transports that were given the endpoint ID
// they speak as (mtp/mqtt, mtp/stomp, mtp/websocket, mtp/uds). The usp
// controller takes its own endpoint ID from them when it is given none,
// and refuses a transport that speaks as another endpoint, so that the ID
// need not be written twice and cannot be written two ways.
type Identified interface {
	// LocalEndpointID returns the endpoint ID the transport speaks as, or
	// "" when it was given none (a websocket server without
	// WithEndpointID).
	LocalEndpointID() string
}

// PeerVersions is implemented by transports whose binding frames records
// differently for peers of different protocol versions, and so must know
// which one a peer's client speaks before it first sends to it (mtp/mqtt:
// an MQTT 3.1.1 client is sent records with a reply-to suffix on the topic,
// because its broker drops the MQTT 5 Response Topic). The usp controller
// passes on the version a peer's connect record names, and asks for an
// explanation when a request to the peer gets no answer in time.
type PeerVersions interface {
	// SetPeerVersion records that the peer reached at to speaks version of
	// the binding's protocol, as its connect record says ("3.1.1" or "5.0"
	// for MQTT). A version the binding does not know is ignored.
	SetPeerVersion(to Address, version string)
	// NoAnswerReason returns an error saying why answers from the peer at
	// to cannot reach this transport, or nil when it knows of no reason.
	NoAnswerReason(to Address) error
}

// Errors common to every binding; bindings wrap them with detail.
var (
	ErrNotConnected = errors.New("mtp: not connected")
	ErrClosed       = errors.New("mtp: transport closed")
	ErrNotStarted   = errors.New("mtp: transport not started")
	ErrUnknownPeer  = errors.New("mtp: no session with that peer")
	ErrTooLarge     = errors.New("mtp: record too large")
	ErrBadAddress   = errors.New("mtp: bad address")
)
