// Package embedbroker is the project's own MQTT broker, run inside the
// process for tests, examples and demos that should need nothing
// installed. Its public face is mtp/mqtt/mqtttest; internal/brokertest
// wraps it for tests ([brokertest.NewEmbedded]) and cmd/uspsim serves load
// tests with it.
//
// # What it is
//
// A broker on loopback for tests and demos, not for production: it has no
// authentication (only an optional [Config.ACL] callback, and an
// [Interceptor] that may refuse a CONNECT), keeps nothing
// on disk and keeps no session past its connection. It speaks MQTT 5 and
// MQTT 3.1.1 to clients of both versions at once, over TCP or TLS
// ([Config.TLS]):
//
//   - CONNECT/CONNACK: clean start either way, but the session present
//     flag is always 0 and a Session Expiry Interval other than 0 is
//     answered with 0 (sessions end with their connection); an empty client
//     ID gets one assigned (MQTT 5 Assigned Client Identifier); a second
//     connection with a client ID takes over (the first gets DISCONNECT
//     0x8E and its Will is published).
//   - Keep-alive: a client silent for 1.5 times its keep-alive is
//     disconnected (0x8D) and its Will published.
//   - Will: published when the connection ends other than by DISCONNECT
//     0x00; MQTT 5 DISCONNECT 0x04 publishes it. Will Delay is not honoured
//     (it is published at once).
//   - SUBSCRIBE with + and # and $share/<group>/<filter> (each message to
//     one member of the group, round-robin); UNSUBSCRIBE; No Local, Retain
//     As Published, Retain Handling and Subscription Identifiers are
//     honoured. A filter starting with a wildcard does not match $ topics.
//   - PUBLISH at QoS 0 and 1. MQTT 5 clients are told Maximum QoS 1; a QoS
//     2 PUBLISH gets DISCONNECT 0x9B (a 3.1.1 client is disconnected);
//     subscriptions are granted at most QoS 1.
//   - Properties (Payload Format, Message Expiry, Content Type, Response
//     Topic, Correlation Data, User Properties) reach MQTT 5 subscribers;
//     3.1.1 subscribers get the message without them. A message whose
//     expiry passes while queued is dropped.
//   - Retained messages: the last per topic, sent on subscribe.
//   - Maximum Packet Size both ways: [Config.MaximumPacketSize] is told to
//     MQTT 5 clients and a larger packet gets DISCONNECT 0x95; a message
//     over a subscriber's own limit is not sent to it (counted in
//     [Stats.TooLarge]).
//   - Topic aliases are off (Topic Alias Maximum 0; a PUBLISH with an alias
//     gets DISCONNECT 0x94).
//
// Absent: QoS 2, AUTH (enhanced authentication: a CONNECT with an
// Authentication Method is refused 0x8C), persistent sessions and offline
// queues, Will Delay, server redirection, MQTT 3.1 ("MQIsdp"), WebSockets.
// Malformed packets get DISCONNECT 0x81 (MQTT 5) and the connection
// closes; nothing a client sends makes the broker panic.
//
// # Flow control
//
// Each client has a queue ([Config.QueueLimit]) behind its Receive
// Maximum: the broker sends at most Receive Maximum QoS 1 messages
// unacknowledged and keeps the rest queued. When a subscriber's queue is
// full, the publishing connection's reader waits for room (it stops
// reading, so the publisher's PUBACKs and further messages wait too) for at
// most [Config.QueueWait]; only then is the message dropped for that
// subscriber and counted in [Stats.Dropped]. The wait is bounded because
// two clients publishing to each other with both queues full would
// otherwise wait on each other for ever. QoS 0 messages to a full queue,
// and messages a client publishes to itself, are dropped at once. The
// controller's intake (package usp) relies on this: while its handlers are
// busy it stops acknowledging, and the broker holds the agents back
// rather than losing their records.
//
// Inbound, the broker handles one PUBLISH at a time per connection and
// acknowledges it once routed, so a client never has more than one QoS 1
// message unacknowledged here whatever Receive Maximum it is told
// ([Config.ReceiveMaximum], 1024 by default).
//
// # Concurrency
//
// Each connection has one reader goroutine (decoding and handling its
// packets, calling the ACL and the [Interceptor]) and one writer goroutine (the
// only one that writes to its socket). The lock order is Broker.mu (the
// routing tables and the client registry) before a connection's own mutex
// (its queue and in-flight set); neither is held while writing to a
// socket or calling a callback. Reads have deadlines (10 s for CONNECT,
// then 1.5 times the keep-alive; none for keep-alive 0, where Close's
// closing of the socket ends the read) and every write has one. [Broker.Close]
// disconnects every client and waits, bounded, for every goroutine.
//
// # Observing and shaping it
//
// A [Config.Interceptor] sees each packet a client sends, decoded into a
// [Packet], before the broker acts on it, and each answer the broker
// sends (CONNACK, PUBACK, SUBACK, UNSUBACK, PINGRESP) before it is
// encoded. It may drop or change them: that is how test equipment watches
// an agent's CONNECT and PUBLISH properties, adds CONNACK properties
// (Response Information, a subscribe-topic User Property), rewrites a
// message or swallows one, or withholds a PUBACK. [InterceptorFuncs] makes
// one of plain functions. [Broker.Publish] publishes as the broker itself;
// [Broker.Stats] counts what was not delivered.
package embedbroker
