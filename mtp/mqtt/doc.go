// Package mqtt is the MQTT binding of [mtp.Transport] (TR-369 section
// "MQTT Binding"), an MQTT 5 client of its own (or eclipse/paho.golang's,
// see "MQTT clients"). One
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
// before it is decoded, and the transport reconnects.
//
// # Reconnection
//
// A supervisor goroutine of the transport's makes the connection attempts,
// waits between them and subscribes on each new connection before
// reporting Up; it returns once the transport is Up, and the end of the
// connection starts it again. The transport supplies the network
// connection (dialled by [WithDialer] or over TCP or TLS, and wrapped so
// that every packet is written whole and an oversized packet is refused
// before it is decoded), the CONNECT packet, and the backoff. Attempts are
// counted on across lost connections, starting over only after a
// connection that lasted ten seconds or more ([WithBackoffReset] changes
// that), so a broker that drops clients at once (refused subscription,
// client ID taken over) is not hammered. A connection whose reply topic
// subscription the broker refuses is ended with a DISCONNECT and counts as
// a failed attempt. Sends are not queued: while the transport is down they
// fail at once, and a QoS 1 send still waiting for its PUBACK fails as
// soon as the connection ends.
//
// # MQTT clients
//
// By default a connection runs on the transport's own MQTT 5 client
// ([WithOwnClient]): a reader goroutine that decodes packets and hands
// records to a delivery goroutine through a queue as long as the Receive
// Maximum we announce (so a handler may wait for a send on the same
// transport while acknowledgements go on being read), sends written under
// the connection's lock, each waiting for its PUBACK in a slot of its
// own, and PINGREQ sent by a timer (a PINGREQ unanswered by the next tick
// ends the connection). PUBLISH and PUBACK are encoded and decoded by the
// transport itself, in one allocation per packet; the other packets by
// paho.golang's packet codec. Two other clients serve other needs:
//
//   - [WithMinimalClient], for processes that hold thousands of
//     connections (cmd/uspsim's simulated agents): the same client without
//     the delivery goroutine, one goroutine per connection whose stack
//     stays at 2 KiB. The reader delivers records itself, so a handler's
//     HandleRecord must not wait for an acknowledgement on the same
//     transport (hand the record to a worker, as usptest agents do).
//   - [WithPahoClient]: paho.golang's autopaho connection manager and
//     client, which [WithPahoConfig] configures (and therefore implies);
//     autopaho makes the attempts with the transport's backoff and CONNECT.
//     [WithLeanConnection] runs paho's client without autopaho, under the
//     transport's supervisor.
//
// Behaviour is the same on all of them (events, errors, reconnection,
// the packet guard, Receive Maximum both ways, keep-alive, TLS, Close);
// the transport's behavioural tests run on each.
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
// This transport always connects with MQTT 5; agents whose MQTT client is 3.1.1 are served through a broker
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
