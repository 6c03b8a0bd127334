// Package msg gives USP messages (TR-369 usp.Msg) Go types: plain structs
// to build requests and responses, typed views of what an agent answers,
// [*Error] with every USP error code, msg_id generation, validation of
// received messages and JSON rendering. It sits on the generated code in
// proto/uspmsg and knows nothing of records or transports.
//
// # Building requests
//
// Each request is a struct filled in by the caller; Build turns it into a
// *uspmsg.Msg with a msg_id, usually one from [NewID]:
//
//	m := msg.Get{Paths: []string{"Device.DeviceInfo."}}.Build(msg.NewID())
//	m = msg.SetParams("Device.LocalAgent.Controller.2.", map[string]string{"Enable": "true"}).Build(msg.NewID())
//
// The kinds are [Get], [Set], [Add], [Delete], [Operate], [GetSupportedDM],
// [GetInstances], [GetSupportedProtocol], [Register], [Deregister] and
// [Notify]; all satisfy [Request]. [Params], [SetParams] and [AddParams]
// turn maps into parameter lists in sorted order, so built messages are
// deterministic.
//
// # Reading responses
//
// [Decode] unmarshals and validates a payload; [Parse] returns the typed
// value of any message, and [ParseAs] (or ParseGetResp, ParseSetResp, ...)
// the response a caller expects, with an Error message returned as the
// error. The views keep every per-path outcome:
//   - [GetResp]: per requested path an *Error or the resolved objects;
//     [GetResp.Values] flattens them to full path -> value.
//   - [SetResp], [AddResp], [DeleteResp], [RegisterResp], [DeregisterResp]:
//     results with Succeeded/Failed and their parameter errors, including
//     the errors of non-required parameters on success.
//   - [OperateResp]: each [OperateResult] is synchronous output, an
//     asynchronous Request object path, or an *Error ([OperateResult.Outcome]).
//   - [GetSupportedDMResp]: supported objects with typed enums
//     ([ObjAccess], [ParamAccess], [ParamType], [ValueChangeType],
//     [CommandType]) and [SupportedDMResult.Tree] to nest them.
//   - [GetInstancesResp]: instances with their unique keys.
//
// Every multi-result response has an Err method that joins the per-path
// errors, each prefixed with its path.
//
// # Answering as an agent
//
// The same types build responses, which is what the fake agent does:
// fill a [GetResp], [SetResp], ... or a [NotifyResp] ([Notify.Resp]) and
// call Build with the request's msg_id; [Error.Build] makes an Error
// message. Parameter errors are held as full paths and sent relative to
// their object where the specification asks for relative names.
//
// # Notifications
//
// [Notify] carries one [Notification]: [*Event], [*ValueChange],
// [*ObjectCreation], [*ObjectDeletion], [*OperationComplete] or
// [*OnBoardRequest]. A type switch on Notify.Notification picks the kind.
//
// # Errors
//
// USP errors are [*Error] values with a [Code]; named constants cover
// 7000-7031 and the record codes 7100-7106, and [Code.IsDataModelDefined]
// and [Code.IsVendor] test the 7200-7299 and 7800-7999 ranges. Code is the
// module's one code type, shared through package usperr with the record and
// datamodel packages: every error of the module that carries a code matches
// the sentinels of every package by that code. [Error.Is] compares codes, so
// errors.Is(err, [ErrInvalidPath]) holds for an agent's 7026 through the
// joined errors of a response and through wrapping, and just as well for a
// *datamodel.PathError from Schema.LookupString; errors.Is(err,
// [ErrInvalidRecordValue]) holds for a *record.Error with code 7104.
//
// [CodeOf] extracts the first code from any error chain: for a failed Set
// that is the top-level 7004 (invalid arguments). [ParamCode] gives the
// code of the parameter that failed (7013, 7011, ...), the one to branch
// on, and [Codes] lists every code in the chain. Failures of this package itself wrap
// [ErrDecode], [ErrInvalid] (as a [*ValidationError]) or
// [ErrUnexpectedType].
//
// # Validation
//
// [Validate] checks a header with a msg_id and a known msg_type, a body
// that agrees with it and the fields each kind requires. Zero-valued enums
// are absent on the wire: an Error message has no msg_type since ERROR is
// 0, and that is valid.
//
// # Identifiers and JSON
//
// [NewID] returns msg_ids of 96 random bits, unique across processes and
// unpredictable, so that no agent can forge the answer to a request sent
// to another. [JSON] and [JSONIndent] render messages with protojson
// for logs and the CLI; [FromJSON] reads them back. Compare messages with
// proto.Equal, never byte-wise: agents emit map entries in their own order.
package msg
