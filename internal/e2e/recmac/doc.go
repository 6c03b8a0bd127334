// Package recmac protects the integrity of a USP record's non-payload
// fields, as TR-369 R-E2E.29 to R-E2E.39 ask of an endpoint whose records
// the MTP does not protect: the sender puts a MAC or a signature of those
// fields in mac_signature, the receiver checks it.
//
// # Which method
//
// [UsesMAC] decides. A record whose payload is protected by a TLS session
// (payload_security TLS12) that has completed its handshake carries an
// HMAC-SHA256 ([SetMAC], [VerifyMAC]) keyed from the session's exported
// keying material (label "EXPORTER-BBF-USP-Record", empty context, 64
// bytes: the client's key then the server's, see
// tlsrec.Endpoint.IntegrityKeys). Every other record, PLAINTEXT ones and
// TLS12 ones before the handshake completes, carries an ECDSA P-256
// SHA-256 signature in ASN.1 DER ([Sign], [VerifySignature]) made with the
// sender's certificate key, the certificate chain going in sender_cert.
//
// # What is protected
//
// [Input] builds the byte string both methods cover. TR-369 lists the
// encoding of each field type but leaves two points to the reader; this
// package takes the literal reading:
//
//   - a field at its proto3 default contributes its default value (an
//     empty string, zero bytes of an integer): the receiver cannot tell
//     whether the sender set it;
//   - only the Record's own fields and, for a SessionContext record, the
//     SessionContextRecord's are covered: the rule names no other record
//     type, so connect and Disconnect records are covered by the Record's
//     fields alone.
//
// Where a payload carries the last flight of the TLS handshake, its sender
// has completed the handshake but its receiver has not; such records
// (handshake and change_cipher_spec content) are signed, so that both ends
// reach the same decision from their own state.
//
// The reference agent OB-USP-A (v11.0.4) neither sets nor checks
// mac_signature; gousp's fake agent (usp/usptest, WithRecordIntegrity) and
// the conformance kit (TP-469 2.7, 3.2-3.4) use this package.
package recmac
