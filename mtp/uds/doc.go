// Package uds is the Unix domain socket binding of USP (TR-369 1.3 and
// later), for an agent and a controller that run as separate processes on
// one device. [Server] listens on a socket path and [Client] dials it; both
// implement [mtp.Transport], and either role suits a controller or an
// agent.
//
// # Framing
//
// Each frame on the SOCK_STREAM connection is the four bytes "_USP", a
// 4-byte big-endian length of the rest, then one or more [TLV]s: a type
// byte, a 4-byte big-endian length and the value. [TypeHandshake] carries
// an endpoint ID, [TypeError] a reason for giving up, [TypeRecord] one USP
// Record. [ReadFrame] and [AppendFrame] read and write frames; receivers
// ignore TLV types they do not know.
//
// # Handshake
//
// The client sends a handshake TLV with its endpoint ID as soon as it
// connects; the server answers with its own. Records that arrive before
// the handshake are ignored. A side that cannot process a handshake or a
// frame sends an error TLV and closes the connection; a side that receives
// an error TLV closes the connection. [WithHandshakeTimeout] bounds the
// exchange (30 seconds by default, as R-UDS.18 requires of clients; the
// server applies it too, so that silent connections do not linger).
//
// # Addressing
//
// A server addresses each client by the endpoint ID of its handshake
// (mtp.Address{MTP: mtp.UDS, To: id}) and keeps one session per ID: a
// second client with the same ID is refused unless [WithReplaceDuplicates]
// is given. A client has one peer, the server; it accepts an empty To or
// the server's endpoint ID. Every [mtp.Inbound] carries the peer's
// endpoint ID as PeerID and as ReplyTo.To.
//
// # Connection loss
//
// Sessions open and close with [mtp.PeerUp] and [mtp.PeerDown] events. A
// client also reports [mtp.Up] and [mtp.Down] and redials after a random
// wait between 1 and 5 seconds (R-UDS.5; see [WithRetryInterval]); its
// sends fail fast with [mtp.ErrNotConnected] meanwhile. A record the layer
// above cannot parse should end the session with an error TLV (R-UDS.23):
// call [Server.Reject] or [Client.Reject], or install [WithRecordCheck].
//
// # Security
//
// Anyone allowed to connect to the socket file can claim any endpoint ID;
// protect the socket with file permissions. A server holds at most
// [WithMaxSessions] connections. A frame's buffer grows as its bytes
// arrive, so an announced length costs nothing until it is sent, and a
// frame once begun must arrive within the handshake timeout.
package uds
