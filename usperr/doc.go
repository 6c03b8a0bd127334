// Package usperr holds the one type of USP error codes, [Code], that every
// package of this module reports, and the [Coder] interface through which
// their errors match each other. It imports only the standard library, so
// every layer (datamodel, record, msg, usp) can use it.
//
// # One vocabulary
//
// The codes 7000-7999 are defined once, here; msg re-exports them under the
// same names (msg.Code is an alias of [Code]) and record's untyped constants
// carry the same names and values. Each error type of the module has a
// USPCode method and an Is method built on [Matches], so
//
//	errors.Is(err, msg.ErrInvalidPath)
//
// holds for a *msg.Error from an agent, a *datamodel.PathError from a schema
// lookup, or any other error of this module with code 7026, and
// errors.Is(err, record.ErrInvalidRecordValue) for every 7104, whichever package
// produced it. [Of] gives the code of the first coded error in a chain and
// [All] every code in it (for example the 7004 of a failed Set followed by
// its parameters' 7013).
//
// Most programs use these through package msg ([msg.CodeOf], [msg.Codes],
// the msg.Err* sentinels); the package exists so that the lower layers,
// which must not import msg, share the type.
package usperr
