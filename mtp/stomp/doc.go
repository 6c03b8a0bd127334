// Package stomp is the STOMP 1.2 binding of [mtp.Transport] (TR-369
// section "STOMP Binding"), built on go-stomp. One [Transport] serves a
// controller or an agent: it connects to a broker, subscribes to the
// endpoint's own destination, sends records to other endpoints'
// destinations and hands received records up with the address to answer
// them on.
//
// # Connecting
//
// [New] takes the broker address (host:port, or a stomp:// or stomps://
// URL as mtp/mqtt's New takes mqtt:// ones), the endpoint ID and
// options; [Transport.Start] connects. The transport opens the session
// with a STOMP frame carrying accept-version 1.2, host ([WithHost],
// default "/"), heart-beat ([WithHeartBeat]), login and passcode
// ([WithCredentials]) and endpoint-id. If the CONNECTED frame names a
// subscribe-dest, the transport subscribes there (ack:auto); otherwise to
// [WithDestination]. The Up event's Local address is that destination.
//
// # Escaping
//
// STOMP 1.2 says the headers of STOMP and CONNECTED frames are not
// escaped, but TR-369 requires the colons of the endpoint-id header to be
// escaped as \c, and the reference agent sends
// "endpoint-id:proto\c\cobuspa-test-agent". The transport follows TR-369:
// every header of every frame it writes is escaped.
//
// # Sending and receiving
//
// Every SEND carries content-type application/vnd.bbf.usp.msg,
// content-length and reply-to-dest (our destination, or the one
// [WithReplyToDestFor] picks for the destination sent to); [WithReceipts]
// makes sends wait for the broker's RECEIPT. A send returns when its
// context ends; every write to the broker is bounded by
// [WithConnectTimeout], and a connection stuck on a broker that stopped
// reading is cut (by a send's context, or by Close's).
// [mtp.Inbound.ReceivedOn] is the MESSAGE's destination. [mtp.Inbound.ReplyTo] is the
// reply-to-dest of the MESSAGE. Messages with another content type are
// dropped and logged; a frame larger than [WithMaxRecordSize] ends the
// connection before it is read.
//
// # Reconnection
//
// A lost connection, a missed heart beat or an ERROR frame makes the
// transport report Down and reconnect, with a jittered exponential
// backoff ([WithReconnectBackoff]), then subscribe again. Sends while it is
// down fail at once with an error matching [mtp.ErrNotConnected].
// [WithRetry] replaces that backoff with TR-181's policy of
// Device.STOMP.Connection.{i}. (ServerRetryInitialInterval,
// ServerRetryIntervalMultiplier, ServerRetryMaxInterval; see [Retry]).
//
// # Settings at run time
//
// An agent's Device.STOMP.Connection.{i}. parameters are writable: the
// Set methods ([Transport.SetServer], [Transport.SetCredentials],
// [Transport.SetHost], [Transport.SetHeartBeat], [Transport.SetRetry])
// change the next connection, and [Transport.Settings] reports them.
// [Transport.SetDestination], for Device.LocalAgent.MTP.{i}.STOMP.Destination,
// applies at once: a connection subscribed to the configured destination
// sends UNSUBSCRIBE, then SUBSCRIBE to the new one, and reports Up again
// with it; a subscribe-dest from the server still wins (R-STOMP.6).
//
// # TLS
//
// [WithTLS] connects over TLS 1.2 or later; add a client certificate for
// mutual TLS. This TLS runs between the transport and its broker; the
// agent behind the broker is not seen, so who an agent is rests on the
// broker's access control (which login may send to which destination),
// not on a certificate.
package stomp
