// Package conformance runs the Broadband Forum's test plan for USP agents,
// TP-469, against any agent: each case of the plan is a [Case] value with
// its number, title and functionality tag, a procedure written with the
// gousp API, and the plan's test metrics checked one by one.
//
// # Test equipment
//
// An [Equipment] plays the plan's traffic generator and analyzer over one
// mtp.Transport: it sends typed requests (and, for section 3, records that
// are malformed on purpose), correlates responses by msg_id, keeps
// notifications and connect records in an inbox that cases wait on, and
// answers Notify messages unless a case holds them back. Every record that
// passes, in either direction, is decoded into the case's trace: the
// evidence of its verdict.
//
// # On the wire
//
// The MTP cases check what the agent puts on the wire, which a transport
// does not show. The kit therefore plays the server's part too:
// [StartMQTTBroker] runs an MQTT 5 broker (it takes 3.1.1 clients) that
// records every CONNECT, CONNACK, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PINGREQ
// and DISCONNECT with the fields section 11 checks, and gives the agent's
// CONNACK a Response Information and a subscribe-topic; [StartSTOMPTap]
// sits between the agent and its STOMP server, decodes the frames both
// ways and adds a subscribe-dest to the agent's CONNECTED; [ObserveWebSocket]
// wraps the equipment's WebSocket server and records each opening
// handshake (subprotocols offered and chosen, extensions, status). Tell the
// equipment with [WithMQTTBroker], [WithSTOMPTap] or [WithWebSocketObserver].
// Without them the MTP cases end as needing the kit's server, never as a
// guess. Where the plan reboots the agent to watch it connect, the kit
// reads the connection the agent made to it when the run began.
//
// # Bulk data
//
// Section 10 has the agent send bulk data reports out of band. A
// [BulkReceiver] is the kit's HTTP or HTTPS collector: it records each
// request (method, URI query parameters, headers, body) and fails the
// requests of a path on demand ([BulkReceiver.Fail]); an HTTPS receiver
// has a certificate of a CA of its own that the agent must trust.
// [TestCA] is the kit's one maker of certificates, for each of its TLS
// servers and for 9.2. [ParseJSONReport]
// and [ParseCSVReport] decode the reports, from HTTP bodies, Push! event
// Data and MQTT payloads alike.
//
// # Cases and verdicts
//
// [All] lists the implemented cases in TP-469 order and [Select] picks
// sections, cases or ranges. A [Runner] first reads the agent's supported
// data model ([Env]) to know which TP-469 features it supports, then runs
// each case. A [Result] is [Pass] only when every criterion the procedure
// checked was met and at least one was checked; [Fail] names the metric
// that was not met and what was seen; [Skip] says why the case does not
// apply (a feature the agent lacks, a destructive case not allowed, a
// retired number); [NeedsOperator] marks what only a person can do; [Error]
// means a setup step failed and nothing could be concluded.
//
// # Parameters
//
// TP-469 works on Device.LocalAgent.Subscription. and lets the test
// equipment choose some elements (an asynchronous command, say). [Config],
// read from JSON with [LoadConfig], declares features, chooses elements,
// bounds the waits and lists cases to skip; what it leaves out comes from
// the agent's data model. Alternate elements the kit picks are noted in
// the result, as the plan asks.
//
// # Cleanup
//
// Each case creates the objects its setup needs and removes them
// afterwards, restores the parameters it changes, waits for the operations
// it started, and re-creates what a destructive case had to delete. What
// it could not put back is listed in [Result].Cleanup.
//
// # Running and reports
//
// [RunTests] runs cases as subtests of a *testing.T, so that a vendor's CI
// can gate on TP-469; uspctl conform runs them from the command line.
// A [Report] renders as a text table in the plan's numbering
// ([Report.WriteText]), JSON with the traces ([Report.WriteJSON]), JUnit
// XML ([Report.WriteJUnit]) and one self-contained HTML page
// ([Report.WriteHTML]).
//
// # Coverage
//
// Section 2 (Authentication and Access Control): 2.1, 2.2 and 2.9 to 2.27
// are implemented; 2.3 to 2.5 are deprecated by the plan; 2.6 and 2.8 need
// an operator (the agent without absolute time, an expired TLS certificate
// on the MTP). 2.7 sends a Get whose mac_signature does not verify (see
// below for the kit's signatures). 2.27 needs the
// secured parameter named in [Config].SecuredParameter, since
// GetSupportedDM does not say which parameters are secured. The
// Permission cases (2.11 to 2.27) run against usptest with its access
// control on (usptest.WithAccessControl).
// Section 10 (Bulk Data Collection) is implemented: the HTTP cases need
// the kit's receivers ([WithBulkDataReceivers]), 10.13 the kit's MQTT
// broker, and the plan's intervals are counted in Config.BulkDataSecond.
//
// Implemented: section 1 (Messages and Path Names) entirely; section 3
// (USP Records; 3.2-3.4 are described under "Integrity of records" and
// 3.5 under "A TLS session the agent opens" below; 3.10 and 3.14 set the
// agent's Controller.{i}.E2ESession SessionExpiration and
// MaxRetransmitTries; 3.6, 3.7 and 3.13 run TLS
// payload security, payload_security TLS12, with the certificates given
// by [WithPayloadTLS] and [WithPayloadTLSWrongID], and are skipped
// without); section 6 (STOMP, through the kit's tap, which also refuses,
// drops and speaks TLS where the cases ask); section 10 (Bulk Data, with
// the kit's HTTP and HTTPS receivers); 7.1, 7.2, 7.4 and 7.6-7.12 (WebSocket); 9.2-9.11
// (Functionality; 9.2 ends as needs-operator for its metric 2, which
// needs the test equipment to connect over TLS with the added
// certificate); 4.1 and 2.8 over MQTT with TLS; section 11 (MQTT). 1.78, 2.9 and 9.9 need a second test
// equipment endpoint ([Runner].Secondary; uspctl conform
// --second-controller) and report needs-operator without one; 1.92's second metric needs a capture of the agent's ICMP
// traffic. The WebSocket observer decodes the frames of each session both
// ways ([WebSocketObserver.Frames]) and writes control frames of its own
// ([WebSocketObserver.SendFrame]); it also refuses handshakes
// ([WebSocketObserver.Refuse], 7.8), cuts a session's TCP connection
// ([WebSocketObserver.DropConn]), answers without the bbf-usp-protocol
// extension ([WebSocketObserver.StripExtensions], 7.11) and fragments the
// server's messages ([WebSocketObserver.Fragment], 7.12).
// [StartWebSocketServer] serves ws:// and, with a certificate from
// [KitCertificates], wss:// on the same port, so that 7.9 sees an agent
// that connects without TLS; 7.2 dials the agent's own WebSocket server
// (Device.LocalAgent.MTP.{i}.WebSocket, or the agent_websocket_url
// setting) as the same controller and expects one of the two sessions to
// end. The kit's MQTT broker can close the
// agent's connection ([MQTTBroker.Disconnect]) and impose a Server Keep
// Alive, which is how 11.4, 11.5 and 11.7 see the agent connect again
// without a reboot. It misbehaves on purpose where section 11 asks:
// [MQTTBroker.RefuseConnects] (11.6), [MQTTBroker.WithholdResponseInfo]
// (11.10), [MQTTBroker.RefuseSubscribe] (11.11); and with
// [StartMQTTBrokerTLS] it speaks TLS with a certificate of a [TestCA] the
// kit makes and the agent is told to trust, records each connection's TLS
// version (11.3, 4.1) and can present an expired certificate (2.8).
// Section 8 (Discovery) is registered and reported as
// not applicable, each case saying what it would need: the kit as the
// agent's DHCP server (8.1-8.3), or in multicast DNS on the agent's link
// (8.4-8.7), where the kit uses loopback unicast only. Every other case is implemented;
// CONFORMANCE.md says how each runs.
//
// # A TLS session the agent opens (3.5)
//
// In 3.5 the agent is the TLS client: a Periodic! Notify makes it open a
// session context of its own whose records carry its handshake, and the
// kit plays the TLS server (internal/e2e/tlsrec's Server), answering the
// agent's second flight, which carries its certificate, with a fatal
// alert. The agent's next session context must come after the wait of
// TR-369 R-E2E.10, between SessionRetryMinimumWaitInterval and that times
// SessionRetryIntervalMultiplier/1000 seconds, as read from its
// Controller.{i}.E2ESession. entry; the kit then lets the retried
// handshake complete. The plan's PeriodicNotifInterval of 60 s can be
// shortened with the periodic_notif_interval setting ([Config]).
//
// # Integrity of records (2.7, 3.2-3.4)
//
// With the certificate of [WithPayloadTLS] the kit signs records as TR-369
// R-E2E.29-39 say (internal/e2e/recmac: an ECDSA P-256 signature of the
// non-payload fields with sender_cert, or, in a TLS session of payload
// security after its handshake, an HMAC keyed from the session). 2.7 and
// 3.2-3.4 sign the records they need signed; [WithRecordSigning] signs
// every record the kit sends, for an agent that requires integrity
// because its MTP gives none (3.2's setup), which otherwise ignores the
// kit altogether. Each of these cases first shows the agent answering a
// correctly signed record, so that the silence it then expects is the
// refusal of the bad one.
package conformance
