// Package tlsrec carries a TLS 1.2 session in the payloads of USP records,
// as TR-369 "Secure Message Exchange" describes for payload_security TLS12:
// the handshake travels in SessionContext records, then each message is
// sent as TLS application data records.
//
// # How it runs
//
// crypto/tls runs unchanged over an in-memory net.Conn. [Endpoint.Receive]
// feeds it the bytes of a received payload and waits until TLS has
// consumed them and waits for more; what TLS wrote meanwhile (handshake
// messages, alerts) is returned to send back, with the application data
// it decrypted. [Endpoint.Seal] encrypts a message for the next payload.
// One goroutine per endpoint runs the handshake and the reads;
// [Endpoint.Close] ends it.
//
// # The rules it applies
//
//   - R-E2E.38: TLS 1.2 only, with ECDHE-ECDSA-AES128-GCM-SHA256 and the
//     P-256 curve.
//   - The endpoint that opened the session context is the TLS client
//     ([Client]); the other answers ([Server]).
//   - R-E2E.40: renegotiation is ignored. Handshake records that arrive
//     after the handshake are dropped before crypto/tls sees them (it would
//     end the session), and counted ([Endpoint.Ignored]).
//   - R-E2E.41: both ends present certificates, verified against
//     [Config].Roots, and the peer's must carry its endpoint ID as a
//     subjectAltName URI, [EndpointURI].
//   - A failed handshake returns [ErrHandshake] with the alert TLS wrote,
//     to send so that the peer knows; the caller then fails the record as
//     TR-369's failure handling asks (a new session context).
//
// [SplitRecords] cuts payload bytes into TLS records; a record cut between
// two payloads waits in the endpoint for its end.
//
// # Not done yet
//
// The integrity of the non-payload fields (mac_signature, R-E2E.29 to
// R-E2E.39) is package recmac's; this package exports the keys of its MAC
// ([Endpoint.IntegrityKeys]). usptest (the agent: TLS server in the
// sessions a controller opens, TLS client in those it opens for its own
// notifications) and the conformance kit (TLS client in the records it
// builds, TLS server for 3.5) use this package; the controller in package
// usp does not offer TLS payload security yet.
package tlsrec
