// Package pbfast decodes protobuf messages with the code vtprotobuf
// generates for them, while accepting, rejecting and producing exactly
// what protobuf-go's proto.Unmarshal does. The record package (records and
// their payloads) and the msg package (usp.Msg) share it.
//
// # Why a fallback
//
// The generated UnmarshalVT methods avoid protobuf-go's reflection and its
// allocations, but they differ from protobuf-go on some malformed input:
// strings are not checked for UTF-8, group end markers are not matched,
// oversized field numbers wrap, and a known field with an unexpected wire
// type is an error instead of an unknown field. [Unmarshal] first walks
// the wire form with a schema built once per message type from its
// descriptor; input the walk finds suspect, or that UnmarshalVT rejects,
// is decoded again by proto.Unmarshal. Well-formed messages, which is
// nearly all traffic, take only the fast path.
//
// # Use
//
// Call [Unmarshal] wherever proto.Unmarshal would be called on a message
// type from the repository's proto packages. Messages without generated
// fast code are passed to proto.Unmarshal unchanged.
package pbfast
