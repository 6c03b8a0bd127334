// Package usp is a USP controller (Broadband Forum TR-369): it manages
// agents over any mix of message transfer protocols, correlates requests and
// responses, answers notifications, and tracks subscriptions and
// asynchronous operations.
//
// # Getting started
//
// Make a [Controller] with its endpoint ID and at least one transport from
// the mtp subpackages, start it, and talk to agents through [Agent]
// handles (the transports of mtp/mqtt, mtp/stomp, mtp/websocket and mtp/uds
// know the endpoint ID already: NewController("") takes it from them, and a
// different one is refused):
//
//	c, err := usp.NewController("proto::my-controller",
//		usp.WithTransport(mqttTransport),
//		usp.WithAgent("proto::agent-1", mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/1"}))
//	...
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Close(context.Background())
//	vals, err := c.Agent("proto::agent-1").GetValues(ctx, "Device.DeviceInfo.")
//
// # Requests and responses
//
// Every [Agent] method sends one request and waits for the response whose
// msg_id matches, until its context ends. Responses are typed values from
// package msg. An Error message from the agent comes back as a *msg.Error,
// so errors.Is(err, msg.ErrInvalidPath) works; per-path failures inside a
// response (a Get path that does not exist, a Set that failed on one object)
// stay in the result, which has Err and Failed methods to find them.
// A response that matches no pending request, or comes from another agent
// than the one asked, is logged and dropped.
//
// # Agents
//
// The controller learns where each agent is from its connect records
// (MQTTConnect, STOMPConnect, WebSocketConnect, UDSConnect), from the reply
// address of everything it sends, and from [WithAgent]. Disconnect records
// and lost WebSocket or UDS sessions mark it gone. Over UDS and WebSocket
// the session itself names the peer (handshake, ?eid=, certificate): the
// agent is addressable, and listed as connected, from the mtp.PeerUp event
// on, so a request right after a client transport's Start needs no
// [WithAgent], and an agent whose session replaced an older one is reached
// through the new one at once. [Controller.Agents]
// lists the agents and [Controller.OnAgentEvent] observes the changes.
// Records to an agent carry a USP version it accepts: "1.3" by default, the
// highest common version once the agent has listed its versions.
// A transport that frames records by the peer's protocol version
// ([mtp.PeerVersions], such as mtp/mqtt for MQTT 3.1.1 clients) is told
// the MQTT version of each MQTTConnect record before the agent is
// announced, and a request that times out carries the transport's reason
// when it knows why no answer can arrive. The version is kept with the
// agent's address ([InventoryEntry].MQTTVersion), so a process that learns
// the agent from a [Store] tells its transport too.
//
// # Liveness
//
// Every agent the controller knows has a state: [StateOnline] once a
// record came from it, [StateOffline] once something says it left (with
// the reason and the time of the last sign of it), [StateUnknown] while
// nothing has been heard from it since the controller started (an agent
// from the [Store] or from [WithAgent]). [Controller.OnStateChange],
// [WithStateHandler] and [Controller.StateChanges] report every change;
// the [AgentEvent]s of [Controller.OnAgentEvent] remain the raw signals,
// reported at once. [LivenessConfig] ([WithLiveness], [WithHeartbeat],
// [WithProbe]) says which signals are used. Going online takes one record;
// going offline takes a goodbye that lasts past the hold (Hold, 2s by
// default: an agent that reconnects within it causes no event) or Misses
// (2) missed heartbeats or probes in a row: that is the hysteresis that
// keeps a flaky link from flapping.
//
// WebSocket and UDS have a session per agent, and the session decides:
//
//	signal                               offline after
//	Disconnect record                    Hold
//	session closed (peer gone, FIN)      Hold
//	silently dead peer (WebSocket)       pong timeout of the transport's
//	                                     keep-alive (websocket.WithKeepAlive,
//	                                     30s pings, 75s) + Hold
//	UDS                                  a dead process's socket closes at
//	                                     once; no keep-alive is needed
//
// MQTT and STOMP (and mtp/memory) carry no session with the agent; only
// what the agent sends says it is there, and the controller must ask for
// it:
//
//	signal                               offline after
//	Disconnect record                    Hold
//	MQTT Will (see below)                broker keep-alive (1.5 x the
//	                                     agent's Keep Alive) + Hold
//	"no matching subscribers" (MQTT,     Hold after the next send to the
//	mqtt.WithNoSubscriberError, QoS 1)   agent (a request or a probe)
//	heartbeat (LivenessConfig.Heartbeat) Misses x interval + interval/2
//	                                     after the last record
//	probe (LivenessConfig.Probe)         Probe + Misses x ProbeTimeout
//	                                     after the last record
//	none of these                        never: the agent stays online
//
// The heartbeat is the USP one: the controller sets the agent's
// Device.LocalAgent.Controller.{i}.PeriodicNotifInterval and subscribes to
// Device.LocalAgent.Periodic! (a persistent subscription with ID
// "gousp-heartbeat"), when the agent comes online and again after every
// Boot!, since a factory reset loses both. Every record counts as a
// heartbeat, not only Periodic!. A probe is a GetSupportedProtocol; agents
// silent for Probe are probed, offline and unknown agents with a known
// address are probed with exponential backoff up to ProbeBackoff, and the
// whole fleet shares ProbeRate probes a second. For the MQTT Will, a
// deployment configures each agent's Device.MQTT.Client.{i}.WillTopic as
// the controller's topic and WillValue as the agent's endpoint ID; a Will
// whose payload is a USP Disconnect record works as well. While the
// controller's own connection to the broker is down, no agent goes
// offline, and silence is counted from when it is back.
//
// # Inventory and store
//
// [Controller.Inventory] is the list of agents with their state, address,
// supported versions, device information (from Boot!'s ParameterMap, the
// OnBoardRequest, or a Get with [LivenessConfig].DeviceInfo), first and
// last seen, queryable by state and endpoint ID prefix through iterators.
// With [WithStore], the inventory, the subscriptions the controller made
// and the operations still running survive a restart: a [Store] is the
// interface to implement for a database shared by several controller
// processes; package usp/store/boltstore is the embedded one.
//
// # Notifications
//
// Every Notify reaches the handlers added with [WithNotifyHandler] or
// [Controller.OnNotify], or the iterator of [Controller.Notifications], and
// the [Subscription] it belongs to. When the agent asked for a response,
// NotifyResp is sent only after all of them accepted it; a handler error
// leaves it unanswered and the agent sends it again. A retransmission of a
// notification a handler has already seen is marked
// [Notification.Duplicate]; one that was already answered is answered
// again without being delivered twice. The duplicate window
// ([WithDuplicateWindow]) keeps a 64-bit keyed digest of each msg_id, not
// the msg_id.
//
// A [Subscription] without a Handler buffers its notifications from the
// moment it exists, for [Subscription.Notifications]. When that buffer is
// full, a notification the controller's own handlers accepted pushes out
// the oldest buffered one (the program has it; refusing it would make the
// agent retry it for ever), while one the subscription alone receives is
// refused unanswered until the iterator catches up ([SubscriptionSpec]
// Buffer).
//
// # Intake
//
// A transport's delivery does almost nothing: it reads the record's to_id
// and from_id from its wire form, drops what is misaddressed, and files the
// record in its agent's mailbox. Everything else (decoding, dispatch,
// handlers, and every answer the controller sends on its own: NotifyResp,
// answers and refusals of agents' requests, Register and Deregister
// answers, session context records) runs on intake workers, each answer
// bounded by IntakeConfig.AnswerTimeout.
//
// The exception is an answer to one of the controller's own requests (a
// response or Error message of up to 64 KiB outside a session context):
// decoding it and waking the waiting call is quick, writes nothing and runs
// no user code, so it is done at delivery, which saves a round trip a
// hand-off between goroutines.
//
// Each agent has two mailboxes, each handled in order by one worker at a
// time: one for the other answers and session context records, one for
// the rest (notifications, requests, connect and
// Disconnect records, the end of a WebSocket or UDS session). The connect
// and Disconnect records of an agent with session context go with its
// session records instead, so that a Disconnect ends the session the
// records before it were in, not the next one. So a notify
// handler may ask its own agent something and get the answer, and a handler
// that blocks holds up only its own agent's notifications. Workers exist
// while mailboxes have work, up to IntakeConfig.Workers per kind of
// mailbox; one agent's busy mailbox goes to the back of the line after each
// record, so it cannot starve the others.
//
// Records from unrelated agents take no lock in common on their way
// through: the mailboxes, the agent and subscription tables and the
// inventory are split into shards by endpoint ID, each with its own lock,
// and what all agents share (the intake's budget, its worker count, the
// notify handlers) is read and counted with atomic operations. Only a
// delivery that waits for room, and changes to what the controller knows
// of an agent (a new agent, a move, a disconnection), take a lock of the
// whole controller.
//
// Nothing is dropped for want of a worker: the intake is bounded in records
// and bytes in total, and per agent ([WithIntake], [IntakeConfig]). Past the
// total, the transport's delivery waits for room, which stops it reading:
// the broker's flow control (MQTT acknowledges a record only when the
// controller has taken it) or the connection's own backpressure holds the
// rest, and the agents' retries do the remainder. Past an agent's own
// share, that agent's records are refused, unanswered, logged and counted
// ([IntakeStats], [IntakeHooks]), so one flooding agent cannot make the
// others wait. The defaults take a storm of tens of thousands of
// notifications without a refusal. [Controller.Close] stops the intake
// first: deliveries waiting for room return at once, queued records are
// dropped unanswered (the agents send them again), and Close returns when
// its context ends even if a handler never does.
//
// Agent events reach the watchers of [Controller.OnAgentEvent] in order on
// a goroutine of their own, through a queue bounded in events and bytes
// ([WithAgentEventQueue]); when watchers fall behind, the oldest events are
// dropped and the next one says how many in [AgentEvent.Missed]. A
// panicking watcher is recovered and logged.
//
// # Subscriptions and operations
//
// [Agent.Subscribe] creates a Device.LocalAgent.Subscription.{i}. object
// and delivers its notifications through the returned [Subscription];
// Unsubscribe deletes the object. [Agent.StartOperation] runs a command and returns
// an [Operation] that completes with the output arguments, waiting for the
// OperationComplete notification of asynchronous commands; [Agent.Call]
// does both in one call.
//
// [Agent.Schema] reads the agent's supported data model once and returns a
// datamodel.Schema to look paths up and check requests before sending them;
// the controller also uses it to skip the completion subscription of
// commands the schema says are synchronous.
//
// # Scale-out
//
// [WithCluster] makes a controller one of several processes that serve one
// fleet under one endpoint ID (SCALING.md at the repository root has the
// whole design). The broker spreads the agents' unsolicited records over
// the processes (an MQTT shared subscription, or competing consumers on a
// STOMP queue) and returns each answer to the process that asked (a reply
// topic or destination per process, named in [Cluster.Address]). Agents
// one process heard are found by the others in a shared [Store] that
// implements [AgentLookup]. Subscription IDs, command keys and request
// msg_ids name the process that made them, so a notification or an answer
// that lands on another process is passed to it over the broker; when it
// does not answer, the notification goes to the receiving process's own
// handlers instead, claimed in the store ([OrphanClaims]) so that its
// repeats on other processes are flagged Duplicate. [Cluster.ClaimAll]
// claims every notification, for exactly-once flags at one store write
// each.
//
// # USP Broker
//
// With [WithBrokerHandler], Register and Deregister requests from USP
// Services reach a [BrokerHandler]; without one they are refused with
// error 7001. The handler gets the Service as an [Agent] handle, is called
// one request at a time in arrival order, and cannot take the controller
// down: a panic, a nil response or a nil *msg.Error becomes error 7003.
// With allow_partial false, a RegisterResp with a failed path is sent as an
// Error message (7028, a ParamErr per path), as TR-369 requires. A handler
// that also implements [AfterRegisterer] acts once the RegisterResp is out
// (asking the Service for its supported data model), and one that
// implements [ServiceWatcher] learns when a Service's session ends, which
// voids its registrations. [Registry] implements all three: it keeps which
// Service owns which path, refuses overlaps with 7029, accepts a Service
// registering its own paths again, and frees them when it leaves.
//
// # Session context
//
// [WithSessionContext] exchanges messages with the chosen agents inside an
// end-to-end session context: sequence numbers, acknowledgement,
// retransmission and segmentation of large messages. It is off by default,
// as agents in the field do not enable it; an agent that sends a session
// record anyway gets a Disconnect record with code 7106.
//
// Either side opens the session with its first record. When the agent
// ends it with a Disconnect record, the calls waiting on it fail with an
// error matching [ErrSessionFailed] and [ErrAgentGone], nothing is sent,
// and the next message opens a new session starting at sequence_id 1
// (unless the agent opens one first, which is adopted). An agent that
// restarts its session with an id it used before, as OB-USP-A does after
// every boot, is followed (see internal/e2e, "Peers that reuse session
// ids"): its connect record or Disconnect tells the controller to expect
// it. When the agent starts another session while calls wait on requests
// sent in the current one, those calls fail at once with
// [ErrSessionFailed]: their records went with the old session.
//
// What a failed call guarantees: an error matching [ErrSessionFailed], or
// the call's deadline, does not say the request was not executed. Within
// one session the agent executes requests in the order sent (R-E2E.20),
// so a request is never executed after a later one of the same session.
// Across a restart TR-369 promises nothing: a peer that follows R-E2E.6
// to the letter, as OB-USP-A does, takes a late or duplicated first
// record of an abandoned session for a new session and may execute the
// request it carries after later ones. Check the state before relying on
// a failed change not having happened.
//
// Recovery is bounded. While a call waits for a request the agent has not
// acknowledged, or records from the agent are missing, the controller
// resends the request and asks for the missing records after
// [SessionConfig].RetryInterval without progress, then after twice that,
// and so on, [SessionConfig].MaxRetries times. Then it gives up: the
// waiting calls fail with [ErrSessionFailed]; a gap that could not be
// closed restarts the session (TR-369 R-E2E.21) after the messages
// complete beyond it are handled. A session with nothing waiting sends
// nothing: records the agent never acknowledges (it need not send
// acknowledgement-only records) are not resent for their own sake.
//
// An agent that refuses session context (Disconnect 7106, or 7105 to a
// session it never joined when the reason says so or it repeats, as
// OB-USP-A in SessionMode Forbid answers) fails the call with
// [ErrSessionRefused], which matches [ErrSessionFailed]. The next attempt
// waits RetryInterval, then twice that; after three refusals the
// controller stops trying until the agent opens a session itself. With
// [SessionConfig].Fallback, messages to such an agent go without session
// context instead, the refused requests included: those are sent again
// when the agent announces itself with its connect record (OB-USP-A drops
// its connection after a Disconnect), or after RetryInterval. That suits
// agents without session support and agents whose SessionMode is Allow.
//
// OB-USP-A's experimental session (its E2ESESSION_EXPERIMENTAL_USP_V_1_2
// build) neither retransmits nor detects duplicates: a request resent
// because its answer was lost, or was slower than RetryInterval, is
// executed again, and a lost record of the agent's is recovered only by
// giving the gap up. Choose a RetryInterval above the slowest answer
// expected from such agents. usptest's SessionConfig.Reference models it.
//
// # Untrusted agents
//
// Every agent may lie about who it is. Request msg_ids are unpredictable,
// and a response counts only when it comes from the agent the request went
// to, over the same transport and from the same address; an invalid answer
// fails its call with [ErrMalformedResponse]. Which records may change an
// agent's address is a [MovePolicy] ([WithMovePolicy]; agents configured
// with [WithAgent] are pinned unless [WithConfiguredAgentMoves]); a
// Disconnect record counts only from the agent's own address. Over MQTT
// and STOMP, where the transport cannot tell who sent a record, a
// [PeerVerifier] ([WithPeerVerifier]) ties each from_id to what the
// broker vouches for. [WithAgentLimits] and [WithNegotiationLimit] bound
// what unknown agents cost. SECURITY.md at the top of the repository has
// the threat model, the broker recipes and every limit.
//
// # Errors
//
// Controller state errors are sentinels ([ErrClosed], [ErrUnknownAgent],
// [ErrTransportLost], [ErrAgentGone], [ErrUnexpectedResponse],
// [ErrInvalidRequest], [ErrExists], ...); transport errors wrap the mtp
// sentinels; context errors wrap context.DeadlineExceeded or
// context.Canceled; agent errors are *msg.Error values that match the msg
// sentinels by code. [Retryable] answers whether sending a request again is
// worth it (not sent, answer lost, or a passing 7003/7005 refusal) and says
// when a repeat may apply it twice. Nothing an agent sends can
// panic the controller: undecodable or misaddressed records are logged and
// dropped, and a WebSocket or UDS peer that sends one is rejected.
//
// # Observability
//
// Logs go to the *slog.Logger given with [WithLogger]. [AgentInfo.PeerCert]
// keeps the certificate of an agent's last TLS session, with its
// fingerprint and the endpoint ID it names.
//
// # Hooks
//
// Metrics and tracing plug in through hooks, in the style of pgx's tracers
// and franz-go's hook interfaces: [WithHooks] takes any number of values,
// each implementing any subset of small optional interfaces, found with a
// type assertion once in [NewController]:
//
//   - [RequestStartHook] and [RequestEndHook]: a request to an agent. The
//     start hook returns the context the request carries from then on (a
//     tracer opens a span there); the end hook gets that context and a
//     [RequestEnd]: its [RequestOutcome], the answer's type, the USP error
//     code, the error and the duration.
//   - [NotifyHook]: a notification received, a duplicate, accepted or
//     refused by the handlers, answered, or dropped ([NotifyStage]).
//   - [AgentHook]: an agent connected, disconnected, moved, learned or
//     evicted ([AgentChange]).
//   - [RecordHook]: each record in or out, with its agent and size.
//   - [TransportHook]: a transport up or down.
//   - [IntakeHooks]: the intake's refusals and waits; [SessionHooks]: UDS
//     and WebSocket sessions, with the peer's certificate.
//
// Hooks run synchronously on the controller's goroutines and must be
// quick. A hook that panics is logged and skipped; the controller goes on.
// With no hook installed each call site costs a slice length check.
// The older [Hooks] interface still works: its methods are called from the
// record and request-end events.
//
// Adapters live in modules of their own, so that the core module does not
// depend on them: github.com/gousp/gousp/contrib/otelusp (OpenTelemetry
// spans and metrics) and github.com/gousp/gousp/contrib/promusp
// (Prometheus collectors, with an example that serves /metrics).
package usp
