// Package mtp defines how gousp moves USP Records between endpoints: the
// [Transport] interface that every message transfer protocol binding
// implements, the [Address] a record is sent to, and the [Inbound] records
// and [Event] state changes a transport delivers to its [Handler].
//
// # Bindings
//
// One subpackage per binding:
//   - mtp/mqtt: MQTT 5 and 3.1.1 through a broker (eclipse/paho.golang).
//   - mtp/stomp: STOMP 1.2 through a broker (go-stomp).
//   - mtp/websocket: WebSocket in server role (agents dial the controller)
//     and client role (the controller dials an agent).
//   - mtp/uds: Unix domain sockets, as USP 1.3 defines them.
//   - mtp/memory: an in-process network for tests and examples.
//
// # Addresses
//
// A transport tells where to answer each inbound record ([Inbound.ReplyTo]);
// the layer above remembers it per agent. Addresses are also learned from
// connect records or configured by the user. A binding whose framing
// depends on the peer's protocol version (MQTT 3.1.1 against 5.0) also
// implements [PeerVersions], so that what a connect record says reaches it.
//
// # Peer identity
//
// Bindings with a session per peer (WebSocket, UDS) name the peer on
// [Inbound.PeerID] and on the [PeerUp] event: the UDS handshake, the
// WebSocket ?eid=, or the peer's certificate. Over TLS, [Inbound.PeerCert]
// and [Event.PeerCert] carry the certificate the peer presented, its
// fingerprint and the endpoint ID it names ([PeerCert]). TR-369 names an
// endpoint in a certificate by a URI subjectAltName "urn:bbf:usp:id:<id>"
// ([CertEndpointIDs]); the common name is a weaker fallback
// ([CertCommonNameID]) that mtp/websocket reads only when told to.
//
// # Optional interfaces and wrappers
//
// Besides [Transport], a binding may implement [Identified] (the endpoint
// ID it speaks as), [Rejecter] (end one peer's session), [SinglePeer] (a
// client with one peer) and [PeerVersions]. A transport that wraps another
// (to count, log or inject faults) implements [Wrapper]; the usp
// controller finds these interfaces with [As], which looks through
// wrappers as errors.As looks through wrapped errors, so a wrapper loses
// none of them.
//
// # Errors
//
// Sends fail fast while disconnected; test with errors.Is against
// [ErrNotConnected], [ErrClosed], [ErrUnknownPeer] and [ErrTooLarge].
package mtp
