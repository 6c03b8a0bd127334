// Package mqtt is the MQTT binding of [mtp.Transport] (TR-369 section
// "MQTT Binding"), built on the eclipse/paho.golang MQTT 5 client. One
// [Transport] serves a controller or an agent: it connects to a broker,
// subscribes to the endpoint's own topic, publishes records to other
// endpoints' topics and hands received records up with the address to
// answer them on.
//
// # Connecting
//
// [New] takes the broker URL (mqtt:// or mqtts://), the endpoint ID and
// options; [Transport.Start] connects. Every CONNECT carries the User
// Property usp-endpoint-id and asks for Response Information. After the
// CONNACK the transport subscribes, in one SUBSCRIBE, to its [WithTopic]
// topic, to [WithSubscriptions] filters, to every subscribe-topic User
// Property of the CONNACK and to its reply topic; only then is it Up.
// When the connection drops the transport reports Down and reconnects,
// with a jittered exponential backoff ([WithReconnectBackoff]) or, for an
// agent, TR-369's ConnectRetryTime rule ([WithConnectRetry]), and
// subscribes again. Sends while it is down fail at once with an error
// matching [mtp.ErrNotConnected].
//
// # Reply topic
//
// Every PUBLISH carries Content Type usp.msg and a Response Topic: the
// broker's Response Information if the CONNACK has one, else
// [WithReplyTopic], else the [WithTopic] topic (or, with
// [WithSharedSubscription], a per-process topic below it). The Up event's
// Local address is that topic. Reply topics never contain wildcards; [New]
// rejects them. [WithResponseTopicFor] gives each destination a Response
// Topic of its own, so that a broker ACL can confine each agent to its
// topics; [mtp.Inbound.ReceivedOn] is the topic a record was published to
// (see SECURITY.md at the top of the repository).
//
// # Stuck brokers
//
// Every write to the broker has a deadline ([WithWriteTimeout]); a Send
// whose context ends while its packet is stuck in a write to a broker that
// stopped reading returns at once and ends the connection (half a packet
// cannot be taken back), which then reconnects. Close cuts the connection
// when its context ends.
//
// # Received records
//
// [mtp.Inbound.ReplyTo] comes from the PUBLISH Response Topic, or, from
// peers behind MQTT 3.1.1, from a "/reply-to=" suffix of the topic name
// ([SplitReplyTo]); the transport then answers those peers with its own
// suffix ([JoinReplyTo]). Records with Content Type usp.msg,
// application/vnd.bbf.usp.msg or none are delivered; other content types
// are dropped and logged, as they do not carry USP Records. CONNECT tells
// the broker the largest packet we take ([WithMaxRecordSize]); a broker
// that sends a larger one, or a malformed one, loses the connection
// before paho reads it, and the transport reconnects.
//
// # Reconnection
//
// The connection is kept by paho.golang's autopaho connection manager: it
// makes the attempts, waits between them and hands each new connection to
// the transport, which subscribes before reporting Up. The transport
// supplies the rest: the network connection (dialled by [WithDialer] or
// over TCP or TLS, and wrapped so that paho's writes stay whole and an
// oversized packet is refused before paho reads it), the CONNECT packet,
// and the backoff. autopaho numbers its attempts from zero again after
// every lost connection, which would mean reconnecting at once; the
// transport counts on instead, and starts over only after a connection
// that lasted ten seconds or more ([WithBackoffReset] changes that), so a broker that drops clients at once
// (refused subscription, client ID taken over) is not hammered. A
// connection whose reply topic subscription the broker refuses is ended
// with a DISCONNECT and counts as a failed attempt. Sends do not go
// through autopaho's queue: while the transport is down they fail at once,
// and a QoS 1 send still waiting for its PUBACK fails as soon as the
// connection ends. [WithPahoConfig] reaches the autopaho configuration.
//
// # Lean connections
//
// autopaho keeps two goroutines parked for every connection beside
// paho's three, about half of what a connection costs in memory. With
// [WithLeanConnection] the transport runs paho.golang's client alone: a
// supervisor goroutine of the transport's makes the attempts (same
// backoff, same CONNECT, same guard on the network connection) and
// returns once the transport is Up; the end of the connection starts it
// again. Everything else is as above, events and errors included. It is
// meant for processes that hold thousands of connections (cmd/uspsim's
// simulated agents); a controller's single connection gains nothing from
// it, and the default stays autopaho, which [WithPahoConfig] configures
// and which lean mode therefore refuses.
//
// [WithMinimalClient] goes further: the same supervisor, but on the
// transport's own small MQTT 5 client instead of paho's (paho.golang's
// packet codec, behind the same guard). A connection has one goroutine,
// its reader, which also delivers records and acknowledges them; sends
// write under the connection's lock and wait for their PUBACK in a slot of
// their own; PINGREQ is sent by a timer, and a PINGREQ unanswered by the
// next tick ends the connection. The handler's HandleRecord must then not
// wait for an acknowledgement on the same transport (hand the record to a
// worker, as usptest agents do).
//
// # Scale-out
//
// Several controller processes may share one endpoint ID and one topic
// behind one broker: with [WithSharedSubscription] each subscribes to
// $share/<group>/<topic>, so the broker spreads unsolicited traffic
// (notifications, connect records) over them, while the answers to each
// process's requests come back on its own reply topic.
//
// # MQTT 3.1.1
//
// paho.golang speaks only MQTT 5, so this transport always connects with
// MQTT 5; agents whose MQTT client is 3.1.1 are served through a broker
// that speaks both, by default. Such a client gets no Response Topic (the
// broker drops it on the way) and sends none: it publishes to
// <topic>/reply-to=<its own topic, '/' as %2F> (TR-369 R-MQTT.24). So the
// transport subscribes to <topic>/+ beside each of its topics and its
// reply topic, takes the reply address of such records from the suffix,
// and sends to their peer with its own suffix. [Transport.SetPeerVersion]
// marks a peer as 3.1.1 before any record came from it; the usp
// controller calls it with the version of each MQTTConnect record, so even
// the first request to a 3.1.1 agent carries the suffix.
// [WithoutMQTT311Peers] leaves out the extra subscriptions (it describes
// what they cost); when a 3.1.1 peer then cannot answer,
// [Transport.NoAnswerReason] says why ([ErrNo311Subscription]), the
// transport logs it when it learns of the peer, and the usp controller
// adds it to the error of a request that timed out. (TR-369 calls a 3.1.1
// client talking to a 5.0 one through a broker a version mismatch, R-MQTT.26a;
// the suffix carries all that is needed, and OB-USP-A answers the same way.)
//
// # Latency
//
// At QoS 1 a broker writes the PUBACK of our request and then, a moment
// later, the agent's answer. A broker that leaves Nagle's algorithm on
// (mosquitto's default) holds the answer until our side acknowledges the
// PUBACK at the TCP level, which a delayed ACK can put off by 40 ms or
// more: measured against the reference agent on loopback, a request took
// 44 ms at the median instead of 0.3 ms. Set `set_tcp_nodelay true` in
// mosquitto's configuration (other brokers have a similar setting), or use
// QoS 0 ([WithQoS]) where the link is reliable.
//
// # TLS
//
// mqtts:// brokers are reached over TLS 1.2 or later; [WithTLS] supplies
// roots and, for mutual TLS, a client certificate. This TLS runs between
// the transport and its broker, which authenticates the client; the agent
// at the other end of the broker is not seen, so the controller trusts the
// broker's access control (which client may publish to which topic), not a
// certificate, for who an agent is.
package mqtt
