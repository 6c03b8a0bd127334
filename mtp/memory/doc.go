// Package memory is an in-process [mtp.Transport] for tests and examples:
// a [Network] joins named [Endpoint]s that pass USP Record bytes to each
// other without sockets, with the semantics of the real bindings.
//
// # Addressing
//
// An endpoint's name is its address: send with
// mtp.Address{MTP: mtp.Memory, To: name}. Each [mtp.Inbound] carries the
// sender's name both as ReplyTo and as PeerID, as a WebSocket or UDS
// transport reports the peer's endpoint ID; naming endpoints after their USP
// endpoint IDs keeps the layers above consistent.
//
// # Delivery
//
// Send copies the record into the receiver's bounded queue and returns; a
// goroutine per endpoint calls its [mtp.Handler] one delivery at a time, in
// order, records and events alike. A full queue fails the send with
// [ErrQueueFull] rather than blocking. Sending to a name that is unknown,
// closed or not yet started fails with [mtp.ErrUnknownPeer].
//
// # Faults
//
// Tests can lose records with [Network.SetDrop], cut and restore an
// endpoint's connection with [Network.Disconnect] and [Network.Reconnect]
// (its handler sees [mtp.Down] and [mtp.Up]), and play a hostile peer with
// [Network.Inject].
package memory
