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
// [WithClientCertificates], the ID must be named by the client's verified
// TLS certificate (see Certificates below). A client has one peer: its
// sends accept an empty To, the server's endpoint ID ([WithPeerID], the
// server's certificate, or its extension echo) or the client's URL, and
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
// fast with [mtp.ErrNotConnected] meanwhile. Refusals that retrying cannot
// fix end [Client.Start] at once instead of being retried until its
// context ends: HTTP 401 or 403 ([ErrForbidden]), 409 ([ErrDuplicate]),
// and a certificate refused by either side ([ErrCertificate]); test with
// errors.Is. Once a session has opened, a later refusal is retried like
// any loss, as it may pass (a renewed certificate, an old session the
// server has not dropped yet).
//
// # TLS
//
// [WithTLS] sets the server's listener or the client's dialler
// configuration, at least TLS 1.2.
//
// # Certificates
//
// TR-369 names an endpoint in its certificate by the URI subjectAltName
// urn:bbf:usp:id:<endpoint ID>. One option per role checks that the peer
// is who it claims to be, its chain verified against the given roots and
// its endpoint ID read from that URI:
//
//   - [WithClientCertificates] on a server: a client is admitted only if
//     its certificate verifies (for client authentication) and names the
//     endpoint of its ?eid= (or, without one, exactly one endpoint, which
//     becomes its ID); any other is refused with HTTP 403. A listening
//     server needs [WithTLS]; a mounted one needs its http.Server to ask
//     for client certificates. [WithCertificateIdentity] is the same check
//     for a server whose TLS configuration verifies the chain itself.
//   - [WithServerCertificate] on a client: the server's certificate must
//     verify (for server authentication) and name the endpoint of
//     [WithPeerID], or exactly one endpoint, which becomes the peer ID. The
//     URL's host name is not checked, so an agent whose certificate carries
//     only its endpoint ID can be dialled without InsecureSkipVerify.
//
// The subject common name is not an endpoint ID unless
// [WithCommonNameIdentity] says so: a certificate authority issues common
// names for many purposes, and any certificate it signed whose common
// name equals an agent's ID would otherwise pass for that agent and, as
// the newest session wins, take over its session. Whatever the options,
// the certificate a peer presented is reported on [mtp.Event.PeerCert] of
// its PeerUp and on each [mtp.Inbound.PeerCert], with its SHA-256
// fingerprint and the endpoint ID it names.
package websocket
