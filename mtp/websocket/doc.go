// Package websocket is the WebSocket binding of USP (TR-369, RFC 6455),
// built on gorilla/websocket. [Server] accepts sessions from endpoints
// that dial in, the usual deployment in which agents dial their
// controller; [Client] dials one server, as a controller reaching an
// agent's WebSocket server or an agent reaching its controller. Both
// implement [mtp.Transport].
//
// # Opening handshake
//
// A client names itself with ?eid=<endpoint ID> in the request URI,
// percent-encoded so that "%" travels as "%25" ([EncodeEID]), and offers
// the subprotocol v1.usp ([Subprotocol]). The server refuses, with HTTP
// 400, a request without v1.usp or without an endpoint ID; it reads the
// ID from the deprecated bbf-usp-protocol extension when ?eid= is absent,
// and echoes that extension, with its own ID from [WithEndpointID], only
// to clients that offer it. Any Origin is accepted: agents are not
// browsers. A client refuses a server that does not answer with v1.usp
// and tolerates an extension header it did not ask for; a server's echoed
// eid tells the client the server's endpoint ID.
//
// # Sessions and addresses
//
// The server keeps at most one session per endpoint ID (R-WS.4); an
// address is mtp.Address{MTP: mtp.WebSocket, To: id}. A new session for an
// ID that already has one replaces it, closing the old with status 1000,
// unless [WithRejectDuplicates] makes the server answer 409 instead. With
// [WithCertificateIdentity], the ID must match the client's verified TLS
// certificate. A client has one peer: its sends accept an empty To, the
// server's endpoint ID ([WithPeerID] or echoed) or the client's URL, and
// its records' ReplyTo names the server's ID, or the URL when unknown.
// Sessions open and close with [mtp.PeerUp] and [mtp.PeerDown]; a client
// also reports [mtp.Up] and [mtp.Down]. A server holds at most
// [WithSessionLimits] sessions, in total and per client IP address, and
// answers 503 beyond them.
//
// # Frames
//
// Each record travels as one binary message: the server writes it as one
// frame, the client as one frame up to 64 KiB. Fragmented messages are
// reassembled on receipt. A text frame, a record refused by
// [WithRecordCheck], or a call to [Server.Reject] or [Client.Reject]
// closes the session with status 1003 (R-WS.16); a message larger than
// [WithMaxRecordSize] closes it with 1009.
//
// # Keep-alive and reconnection
//
// Both roles ping their peer and drop one that sends nothing within the
// timeout of [WithKeepAlive]; pings from the peer are answered. A client
// whose session ends redials after a random wait that doubles with each
// failure ([WithBackoff]) and resets once a session opens; its sends fail
// fast with [mtp.ErrNotConnected] meanwhile.
//
// # TLS
//
// [WithTLS] sets the server's listener or the client's dialler
// configuration, at least TLS 1.2. For mutual TLS, give the server
// ClientAuth and ClientCAs and the client a certificate; TR-369 puts the
// endpoint ID in the URI subjectAltName urn:bbf:usp:id:<id>.
package websocket
