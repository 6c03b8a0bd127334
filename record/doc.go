// Package record encodes, decodes and validates USP Records, the envelope
// that carries every USP message between endpoints (TR-369 "Record
// Definition"), and parses the endpoint IDs that address them.
//
// It sits directly on the generated protobuf types in
// [github.com/gousp/gousp/proto/usprecord]: a record is a
// *usprecord.Record, built with the constructors here or by hand. What a
// record's payload means (the usp.Msg) is the msg package's business.
//
// # Records
//
// One constructor per record type: [NewNoSessionContext] (the usual
// envelope of a message), [NewSessionContext], [NewWebSocketConnect],
// [NewMQTTConnect], [NewSTOMPConnect], [NewUDSConnect] and [NewDisconnect].
// [Kind] tells which type a record carries, [Payload] returns a
// NoSessionContext record's message bytes.
//
// # Encoding and decoding
//
// [Encode] (or [AppendEncode], to reuse a buffer) validates a record and
// returns its protobuf bytes. [EncodeMsg] serializes a usp.Msg straight into
// a NoSessionContext record, skipping the intermediate payload copy. [Decode] enforces a size limit
// ([DefaultMaxSize], 16 MiB, or [WithMaxSize]) before parsing, then
// validates. Fields unknown to the 1.4 schema, such as USP 1.5's
// originator_id (14) and destination_id (15), are kept and written back
// unchanged.
//
// [Validate] checks what TR-369 requires of a record: a Major.Minor
// version, to_id and from_id, exactly one record type, a payload in a
// NoSessionContext record, sane session identifiers and SAR states, an
// MQTT topic without wildcards, and so on. Endpoint IDs are only required to
// be present unless [WithStrictEndpointIDs] is given.
//
// # Errors
//
// Decode and Validate fail with an [*Error] whose Code is the TR-369 record
// error to report to the peer, normally in a DisconnectRecord: 7100
// ([ErrRecordNotParsed]) for bytes that are not a record or exceed the size
// limit ([ErrTooLarge] in the chain), 7104 ([ErrInvalidRecordValue]) for a
// field with a wrong value. All seven record codes are constants
// ([CodeRecordNotParsed] ... [CodeSessionContextNotAllowed]) with matching
// sentinels, under the names the msg package and [usperr] give them;
// errors.Is compares codes across packages, so errors.Is(err,
// record.ErrInvalidRecordValue) and errors.Is(err, msg.ErrInvalidRecordValue)
// both hold for every 7104 error. After a 7104 failure Decode still returns
// the record so that the caller knows whom to answer.
//
// # Versions
//
// Records carry the sender's USP version. [DefaultVersion] is "1.3", what
// the reference agent OB-USP-A and most deployed agents write and accept,
// although this package implements the 1.4 schema ([SupportedVersions]).
// Once a peer's versions are known, from GetSupportedProtocolResp or an
// OnBoardRequest, [NegotiateVersion] picks the highest common one.
//
// # Endpoint IDs
//
// [ParseEndpointID] reads authority-scheme ":" [authority-id] ":"
// instance-id, with or without the [URNPrefix] "urn:bbf:usp:id:" used in
// certificates, and checks each scheme's rules (oui, cid, pen, self, user,
// os, ops, uuid, imei, fqdn, proto, doc) and the instance-id's character set
// and 50-character limit. An [EndpointID] prints back with
// [EndpointID.String] or [EndpointID.URN] and compares with
// [EndpointID.Equal].
//
// # Session context
//
// Only the session context's fields and their validation live here; the
// session state machine (sequence and expected ids, retransmission) belongs
// to the controller. For it, [Segment] and [SARStateFor] split a message
// and label the pieces, [SessionSegments] returns ready
// SessionContextRecords, and a [Reassembler] rebuilds a message from
// in-order records within a size limit.
//
// # Performance
//
// Encode, Decode and EncodeMsg use the code vtprotobuf generates for the
// schemas (MarshalVT, UnmarshalVT), which avoids protobuf-go's reflection,
// while keeping protobuf-go's behaviour exactly: the bytes written are the
// same, and a short walk over the input sends anything the generated
// decoder would judge differently (invalid UTF-8, malformed groups, field
// numbers out of range) to protobuf-go. [UnmarshalPayload] offers the same
// to whoever decodes a record's usp.Msg.
//
// Encode and Decode add validation and a size check to protobuf-go's
// Marshal and Unmarshal without allocating: the checks are O(1) or linear
// in the few header fields. BENCHMARKS.md at the module root compares the
// record path with bare protobuf-go.
package record
