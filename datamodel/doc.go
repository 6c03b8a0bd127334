// Package datamodel handles the names and values of the data model that USP
// (Broadband Forum TR-369) Controllers and Agents exchange: paths, unique-key
// and search expressions, TR-106 value types, and the schema an Agent reports
// in a GetSupportedDM response. It uses only the standard library, so any
// layer of gousp (and any program) can use it.
//
// # Path forms
//
// [Parse] reads every path form of TR-369 into a [Path]; [Path.Kind] tells
// which form it has:
//
//	Device.WiFi.SSID.                                  object path (here a table)       KindObject
//	Device.WiFi.SSID.2.                                object instance path             KindInstance
//	Device.WiFi.SSID.2.SSID                            parameter path                   KindParam
//	Device.Reboot()                                    command path                     KindCommand
//	Device.Boot!                                       event path                       KindEvent
//	Device.WiFi.SSID.*.SSID                            wildcard: every instance
//	Device.WiFi.SSID.[Alias=="cpe-1"].SSID             unique key
//	Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].
//	                                                   unique key of several parameters
//	Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].Status
//	                                                   search expression
//	Device.NAT.PortMapping.1.Interface+.Name           reference following
//	Device.WiFi.SSID.1.LowerLayers#1+.Name             the first reference of a list
//	Device.WiFi.SSID.1.LowerLayers#*+.Name             every reference of a list
//	Device.WiFi.SSID.{i}.SSID                          supported data model ({i} placeholder)
//
// A Path is a sequence of [Segment] values: names (with optional reference
// following, [RefKind]), instance numbers, wildcards, expressions ([Expr]) and
// placeholders. [Path.String] gives the canonical text; whitespace that Agents
// must tolerate around expression operators is accepted and dropped. Because it
// is dropped, an unquoted constant may not start with '=': "[A< =5]" is refused
// instead of being read as A < "=5" and printed as "[A<=5]".
// Names may contain '-' beyond the TR-369 grammar, because TR-106 vendor
// prefixes do (X_EXAMPLE-COM_Param) and agents report such names.
//
// # Errors and USP codes
//
// Syntax errors are [*PathError] values with Code 7008 (invalid path syntax)
// and Pos, the byte offset of the fault; paths that are well formed but not in
// an Agent's supported data model give Code 7026 (invalid path) from
// [Schema.Lookup]. A PathError unwraps to the sentinel of its code, so
// errors.Is(err, [ErrInvalidPathSyntax]) and errors.Is(err, [ErrInvalidPath])
// work, and [ErrorCode] extracts the code. Value errors are [*ValueError]
// values that unwrap to [ErrInvalidType] (7011).
//
// The codes are of the module's one code type, [usperr.Code] (a package of
// the standard library's weight, below this one), and every error here is a
// [usperr.Coder]: the msg package's sentinels match them by code, so
// errors.Is(err, msg.ErrInvalidPath) holds for a failed Lookup as it does
// for an agent's 7026, and msg.CodeOf reads their code.
//
// # Building and splitting paths
//
// A [Builder] makes paths in code and cannot produce an invalid one:
//
//	p, err := datamodel.Obj("Device", "WiFi", "SSID").Instance(2).Param("SSID")       // Device.WiFi.SSID.2.SSID
//	p, err = datamodel.Obj("Device", "WiFi", "SSID").Key("Alias", "cpe-1").Param("SSID") // Device.WiFi.SSID.[Alias=="cpe-1"].SSID
//
// The first bad step is reported by the final call as a *PathError. [Eq],
// [Ne], [Lt], [Gt], [Le], [Ge] and [Contains] make conditions for
// [Builder.Where]; [Path.Extend] continues an existing object path.
//
// [Path.Split] divides a path into its object part and its leaf name;
// [Path.LastInstance], [Path.InstanceNumbers], [Path.Parent] and
// [Path.Object] take it apart further, and [Path.SupportedPath] replaces
// every instance identifier with {i}, the form GetSupportedDM uses.
//
// # Search expressions
//
// [ParseExpr] (or a SegExpr segment of a Path) gives an [Expr]: conditions
// ([Cond]) joined by &&, TR-369 having neither OR nor nesting. [Expr.Eval]
// evaluates it on one instance through a [Lookup] function that returns a
// parameter's value and [ValueType]. The rules are those of TR-369:
//
//   - operators == != ~= < > <= >=;
//   - strings, base64, hexBinary and booleans only with == and != (and ~=);
//   - numbers compare as exact decimals, dateTimes as instants; the Unknown
//     Time (0001-01-01T00:00:00Z) has no order;
//   - string constants are double-quoted, with %22 for '"' and %25 for '%';
//     other types take unquoted constants of their own lexical form
//     (Enable==1 matches true);
//   - ~= tests whether a comma-separated list value has the constant as an item.
//
// An expression that does not suit the parameter's type is an error with Code
// 7008, as Agents answer. A parameter the lookup does not find makes the
// condition false.
//
// [Path.Resolve] does the whole job of an Agent's path resolution against an
// [InstanceTree] (instance numbers of tables and parameter values): it
// expands wildcards, evaluates expressions on every instance, keeps instance
// numbers that exist and follows references, returning the concrete paths in
// tree order. A fake Agent can also walk the segments of a Path itself and
// call Eval on each instance where it meets a SegExpr segment.
//
// # Matching
//
// [Path.Match] reports whether a concrete path (names and instance numbers,
// as in responses) is addressed by a pattern: instance numbers must agree,
// "*" and "{i}" match any instance and expressions are evaluated through an
// [InstanceLookup]. [Path.Covers] also accepts paths below an object pattern,
// the way Subscription ReferenceList entries select notifications. [Match] is
// the string form for patterns without expressions.
//
// # Values
//
// TR-106 values travel as strings. ParseXxx and FormatXxx convert each type
// to and from Go: [ParseBool] (true/false/1/0), [ParseInt] (int32),
// [ParseUnsignedInt] (uint32), [ParseLong] (int64), [ParseUnsignedLong]
// (uint64), [ParseDecimal] (float64; [CompareDecimal] compares exactly),
// [ParseDateTime] (time.Time in UTC; [UnknownTime] is the zero time),
// [ParseBase64] and [ParseHexBinary] ([]byte), and [ParseList] and
// [ParseListOf] for comma-separated lists. Parsers are strict and range
// checked; formatters give the canonical form, so Format(Parse(s)) == s for
// canonical s. [ParseValue], [FormatValue] and [ValidateValue] dispatch on a
// [ValueType].
//
// # Schema
//
// [NewSchema] builds a [Schema] from [SupportedObject] values that mirror the
// supported_objs of a GetSupportedDMResp. [Schema.Lookup] returns the
// [Entry] a path names (object, [SupportedParam], [SupportedCommand] or
// [SupportedEvent]), checking search expressions against the parameters'
// types. [Schema.CheckSet], [Schema.CheckAdd], [Schema.CheckDelete] and
// [Schema.CheckOperate] predict an Agent's answer to a request before it is
// sent: unknown parameter 7010, wrong type 7011, read-only 7013, not a table
// 7018, not creatable 7019, not deletable 7024, invalid path 7026, unknown
// command argument 7027.
//
// # Wire enumerations
//
// [ValueType], [ObjectAccess], [ParamAccess], [ValueChange] and
// [CommandType] carry the numbers of the USP protobuf enums ParamValueType,
// ObjAccessType, ParamAccessType, ValueChangeType and CmdType, so a package
// holding the generated code converts them with a cast:
// datamodel.ValueType(pb.GetValueType()).
//
// # Agent differences
//
// Where OB-USP-A (the Broadband Forum's reference Agent) departs from the
// specification, this package follows the specification. OB-USP-A answers
// 7026 for an empty path (here 7008, a syntax error), accepts quoted
// constants for booleans and numbers (Enable=="true", which TR-369 lists as
// invalid; here 7008), and answers 7019 to a Delete on a single-instance
// object (here 7018, the code the specification gives Delete).
package datamodel
