// Package usptest provides an in-process USP agent with a real data model,
// for tests of USP controllers, as net/http/httptest provides HTTP servers
// for tests of HTTP clients.
//
// An [Agent] serves a [Model] over any mtp.Transport in agent role:
// mtp/memory for unit tests, or an MQTT, STOMP, WebSocket client or UDS
// transport for end-to-end tests. It answers every message the way the
// Broadband Forum's reference agent OB-USP-A does where TR-369 leaves room,
// which the package's tests check against recorded OB-USP-A answers.
//
//	ep, _ := net.Endpoint("proto::agent") // an mtp/memory network
//	agent, err := usptest.NewAgent("proto::agent",
//		usptest.WithTransport(ep),
//		usptest.WithController("proto::controller", mtp.Address{MTP: mtp.Memory, To: "proto::controller"}))
//	...
//	err = agent.Start(ctx)
//	defer agent.Close(ctx)
//
// # One-call helpers
//
// Tests of controller code need none of that wiring. [NewPair] starts a
// usp.Controller and a fake agent over a memory network of their own and
// closes both when the test ends:
//
//	p := usptest.NewPair(t)
//	v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
//
// [StartPair] does the same outside a test (an example, a demo) and
// returns the pair for [Pair.Close]. [WithAgentOptions],
// [WithControllerOptions] and [WithPairIDs] adjust the two ends; [Pair.Fake] is the fake agent, to change its model or inject
// faults, and [Pair.Network] cuts and restores links. [StartAgent] starts
// one more agent on any transport (for example an MQTT transport on a
// broker from mtp/mqtt/mqtttest) and closes it when the test ends. Both
// take a [TB], which *testing.T and *testing.B satisfy.
//
// # Messages
//
// Every request path is resolved by package datamodel (Path.Resolve over
// the model's instances), the same rules a controller's datamodel code
// applies: wildcards, search expressions (with sub-object parameters and
// references inside them) and reference following ("SSIDReference+.",
// "LowerLayers#1+."); the model checks the names against its schema. Get
// honours max_depth, and fails
// each bad path on its own: 7008 for bad syntax, 7026 for a path outside
// the schema or an instance that does not exist. Set honours allow_partial
// and each parameter's required flag: without allow_partial a failing
// required parameter fails the message with 7004 and per-parameter errors
// (7010 unknown, 7011 wrong type, 7012 bad value, 7013 read-only, 7025
// duplicate unique key) and changes nothing; with it the object fails with
// 7021. Add creates instances with the next instance number, "cpe-N"
// aliases and unique key checks; Delete of an instance that does not exist
// succeeds with nothing deleted. Operate runs synchronous commands at once
// and asynchronous ones in the background, tracked by a
// Device.LocalAgent.Request.{i} instance (reported without its trailing
// dot) and finished by an OperationComplete notification. GetSupportedDM
// honours every flag, GetInstances first_level_only, and
// GetSupportedProtocol reports [WithSupportedVersions]. Notify, Register
// and Deregister from a controller are refused with 7002 (the agent can
// play a USP Service itself: [Agent.Register] and [Agent.Deregister] send
// them to a USP Broker and wait for the answer), a message whose type disagrees
// with its body with 7001, and responses the agent did not ask for are
// ignored, as are records for another endpoint and bytes that do not
// decode. Encrypted payloads (7104) and Disconnect records (7105) are
// answered with a DisconnectRecord.
//
// Every record the agent writes carries version "1.3" unless
// [WithRecordVersion] says otherwise. Answers go to the reply address the
// transport reports for the request (MQTT Response Topic, STOMP
// reply-to-dest, the WebSocket or UDS session), else to the controller's
// address from [WithController], else to where the controller's last
// record came from.
//
// A WebSocket client transport (mtp/websocket's Client) waits between
// connection attempts as its controller's
// Device.LocalAgent.Controller.{i}.MTP.{i}.WebSocket.SessionRetryMinimumWaitInterval
// and SessionRetryIntervalMultiplier say (R-WS.19; set them in the model
// to change the waits), and shows where it dials in that object. A
// WebSocket server given too (the agent listens, R-WS.6) shows its port in
// Device.LocalAgent.MTP.{i}.WebSocket; a controller that opens a session
// to it while it already has one through the client gets it closed at
// once (R-WS.4).
//
// # Access control
//
// With [WithAccessControl] the agent serves Device.LocalAgent.ControllerTrust.
// and checks every request against the requesting controller's roles, as
// TR-369 asks: the highest Order of a role's Permissions covering an
// element decides, several roles add up, and the Param, Obj,
// InstantiatedObj and CommandEvent rights ("rwxn") govern Get, Set, Add,
// Delete, GetInstances, Operate and the notifications each controller
// gets. Without it everything is allowed, as before.
//
// # Notifications
//
// Subscriptions live in Device.LocalAgent.Subscription.{i}. like on a real
// agent: controllers create them with Add (the agent sets Recipient to the
// requesting controller, which may not set it) and tests may create them
// through the [Model]. ValueChange notifications follow every change of a
// referenced parameter, by a controller's Set or by [Model.Set];
// ObjectCreation and ObjectDeletion follow Add and Delete (or
// [Model.AddInstance] and [Model.DeleteInstance]); OperationComplete
// follows asynchronous commands whose path the ReferenceList covers; Event
// follows [Agent.Emit], and Boot! is sent at Start (each controller given
// with [WithController] gets a Boot! subscription, as OB-USP-A's factory
// configuration has) with Cause, CommandKey, FirmwareUpdated, Reason and the
// ParameterMap of the controller's BootParameter entries.
// Device.LocalAgent.Periodic! goes to each enabled controller every
// PeriodicNotifInterval seconds of its Device.LocalAgent.Controller.{i}.
// entry, to that controller's subscriptions only; changing the interval or
// a reboot restarts the count, as on OB-USP-A.
//
// A notification is sent after the response of the request that caused it.
// Its msg_id reads "<Type>-<UTC time>-<counter>". When the subscription's
// NotifRetry is true it asks for a response and is resent byte for byte,
// after [WithNotifyRetry]'s minimum wait and then twice the previous one,
// until a NotifyResp with its msg_id arrives or NotifExpiration seconds
// pass. Notifications of a subscription go back to where the Add that
// created it came from; those of a subscription a test created without a
// Recipient go to every controller given with [WithController]. A
// subscription is deleted when its TimeToLive runs out, and a simulated
// reboot deletes those that are not Persistent.
//
// # Session context
//
// With [WithSessionContext] the agent also speaks the end-to-end session
// context: it answers SessionContext records inside the session, sends its
// notifications inside one, and can segment its messages to exercise a
// controller's reassembly. Without it, as on OB-USP-A, SessionContext
// records get a DisconnectRecord with code 7106, and the agent announces
// itself again with its connect record. A reboot (Device.Reboot()) loses
// the session state. The session follows the controller's
// Device.LocalAgent.Controller.{i}.E2ESession. entry: MaxRetransmitTries
// bounds how often one record is resent on a retransmit_id request (one
// more request starts a new session), and after SessionExpiration seconds
// without a record either way the agent's next message opens a new session.
// [Faults.IgnoreE2ESettings] makes the agent disregard both.
//
// [SessionConfig].TLS adds TLS payload security (payload_security TLS12):
// the controller that opens the session context starts a TLS 1.2 handshake
// in its records, the agent answers as TLS server with its certificate and
// asks for the controller's, which must name the controller's endpoint ID;
// then every message both ways is TLS application data. A PLAINTEXT record
// in such a session fails with 7102 and a new session, and renegotiation
// requests are ignored. When the agent has a message of its own (a
// notification) and no TLS session is up, it opens a session context
// itself and starts the handshake as TLS client, sending the message once
// the handshake completed; when the controller answers with a TLS alert,
// the agent ends that session context and tries again after the wait of
// TR-369 R-E2E.10, drawn from its controller's E2ESession
// SessionRetryMinimumWaitInterval and SessionRetryIntervalMultiplier
// (set them in the model to shorten it). [Faults.AcceptPlaintextInTLS],
// [Faults.PassRenegotiation], [Faults.TrustAnyEndpointID],
// [Faults.RetrySessionAtOnce] and [Faults.ClearAfterTLSFailure] break each
// rule for the kit's fault tests. [WithRecordIntegrity] protects the
// non-payload fields: the agent signs or MACs what it sends and ignores
// records whose mac_signature does not verify ([Faults.SkipIntegrityCheck]
// and [Faults.WrongRecordMAC] break it).
//
// [SessionConfig].Reference replaces the complete session context with a
// model of the reference agent's experimental one, to test a controller
// against what it meets in the field: session ids counted from 2 again
// after every reboot, no retransmission and no duplicate detection, a
// record without exactly one payload field refused with Disconnect 7105,
// NoSessionContext records refused in Require mode or taken in Allow mode.
//
// # Data model
//
// [DefaultModel] seeds a realistic TR-181 subset: DeviceInfo with
// FirmwareImage.{i}. and its Download() and Activate() commands, LocalAgent
// (Controller.{i}., MTP.{i}., Subscription.{i}., Request.{i}., and
// Certificate.{i}. filled by AddCertificate(), which parses the PEM
// certificate with crypto/x509 for SerialNumber and Issuer and refuses bad
// input with 7027 and duplicates with 7025), WiFi (Radio,
// SSID, AccessPoint with AssociatedDevice, NeighboringWiFiDiagnostic()),
// IP.Interface.{i}. with IPv4Address.{i}., IP.Diagnostics.IPPing(),
// Hosts.Host.{i}., SoftwareModules with InstallDU(), and the simulated
// Device.Reboot() and Device.FactoryReset(): after them the agent sends its
// connect records and Boot! again, and FactoryReset restores the model as
// it was at Start. Firmware activation changes
// Device.DeviceInfo.SoftwareVersion and reboots with FirmwareUpdated=true.
//
// An MQTT transport shows as a Device.MQTT.Client.{i}. and a STOMP
// transport (mtp/stomp) as a Device.STOMP.Connection.{i}. with its real
// settings; those parameters are writable and apply from the next
// connection (the server, credentials, virtual host, heart beats, the
// retry policy, EnableEncryption), as in an agent. The STOMP MTP's
// Device.LocalAgent.MTP.{i}.STOMP.Destination applies at once: the
// transport moves its subscription there unless the server named a
// destination in subscribe-dest (reported in DestinationFromServer).
//
// Models from [DefaultModel] are copies of one template per process that
// share its schema, command handlers, object instances and values until
// they change them (a model copies an instance, and the instances above it,
// before it writes under it), so that one process can run thousands of
// agents (cmd/uspsim does).
//
// Tests build their own models with [NewModel] and [Model.Define] (a small
// text format), [Model.DefineObject], [Model.DefineParam],
// [Model.DefineCommand] and [Model.DefineEvent], or load a real device's
// schema from its GetSupportedDM response with [Model.DefineSupportedDM].
// [Model.LoadValues] seeds instances and values; [Model.HandleCommand] gives
// a command its behaviour. XNumberOfEntries parameters count the instances
// of table X by themselves.
//
// # Bulk data collection
//
// The default model has TR-181's Device.BulkData. and acts on it: each
// enabled profile (with Device.BulkData.Enable true) collects its
// Parameter references every ReportingInterval (wildcards and object paths
// expanded, named as TR-369's bulk data annex says) and delivers the
// report by its Protocol: an HTTP or HTTPS POST (or PUT) in JSON or CSV
// with the device's oui, pc and sn and the RequestURIParameters in the
// query, retried as HTTP.Retry* say; a Push! event for USPEventNotif; a
// PUBLISH on MQTT.PublishTopic through the Device.MQTT.Client MQTT.Reference
// names. [WithBulkDataSecond] shortens the intervals for tests,
// [WithBulkDataHTTPClient] gives the client (one that trusts a test
// collector, say) and [WithBulkDataFault] breaks the reports on purpose.
//
// # Faults
//
// [Agent.Faults] returns the controls that make the agent misbehave on
// purpose: [Faults.Delay] slows every answer, [Faults.DropNext] loses
// requests, [Faults.FailNext] answers a request type with a chosen error
// code, [Faults.CorruptNext] cuts the next records short,
// [Faults.SendGarbage] sends bytes that are not a record,
// [Faults.Disconnect] sends a DisconnectRecord, [Faults.IgnoreNotifyResp]
// forces notification retries and [Faults.Mute] silences the agent.
// [Agent.Received] keeps the messages the agent received, for assertions.
//
// # Scripted answers
//
// When a test needs an exact answer rather than the model's (a canned
// response, an error code, a response of the wrong type, silence), it
// intercepts requests, as franz-go's kfake control functions do.
// [Agent.Intercept] takes the requests of some types:
//
//	sets := p.Fake.Intercept(uspmsg.Header_SET).Fail(msg.CodeRequestDenied, "maintenance window").Times(1)
//	gets := p.Fake.Intercept(uspmsg.Header_GET) // only counts: gets.Calls(), gets.Wait(ctx, 3)
//
// [Control.Answer] answers with a given message (given the request's
// msg_id; [Raw] sends one exactly as built), [Control.Fail] with an Error,
// [Control.Drop] loses the request, [Control.Delay] holds it before it is
// answered, [Control.Times] limits the control to the next n requests and
// [Control.Remove] takes it out. [Agent.Control] adds a [ControlFunc] that
// decides per request. Controls run in the order they were added, before
// the [Faults] and the model; a request none of them handles goes on to
// the model. An agent given an empty [NewModel] and a last control that
// drops everything answers only what the test scripts. [Agent.Send] sends
// any message to a controller, for notifications with a chosen msg_id or
// responses nobody asked for.
//
// # Concurrency
//
// The agent handles one request at a time, in arrival order, on a
// goroutine of its own that exists only while there is work, and sends
// Periodic! from a timer, so that an idle agent holds no goroutine;
// asynchronous commands and notification retries run on goroutines that
// [Agent.Close] stops and waits for. The [Model] and
// the [Agent] are safe for concurrent use.
package usptest
