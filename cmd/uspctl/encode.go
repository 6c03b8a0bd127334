package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
)

const encodeLong = `Build a USP Record (NoSessionContext) around a USP Msg, offline, and write it
in binary (or hex with --hex) to stdout or --out FILE, for "uspctl send", for
mosquitto_pub -f, or for a test's fixtures.

The message comes either from a request written as for the other commands:

  get PATH...                    set OBJ PARAM=VALUE... [OBJ PARAM=VALUE...]
  add OBJ [PARAM=VALUE...]       delete PATH...
  operate COMMAND [ARG=VALUE...] gsdm PATH...
  instances PATH...              proto

or from --json FILE ("-": stdin): a usp.Msg in the protobuf JSON mapping, or
what "uspctl decode -o json" prints (its "msg" member is used), so that a
captured message can be edited and sent again.

The record goes from --controller-id to the agent named with --agent (or --to);
--msg-id sets the message ID of a request built from arguments (default: a
new unique one); --allow-partial, --max-depth, --first-level-only and
--command-key set those fields of the request (gsdm asks for everything).
With --msg the bare USP Msg is written, without a record.
A message that does not pass validation is still written, with a warning on
stderr, so that agents can be tested with it; the exit code is then 1.`

// requestOptions are the request flags encode takes from the commands.
type requestOptions struct {
	allowPartial   bool
	maxDepth       uint32
	firstLevelOnly bool
	commandKey     string
}

func (a *app) encodeCommand() *cobra.Command {
	var jsonFile, to, msgID, version, outFile string
	var asHex, bareMsg bool
	var ro requestOptions
	cmd := &cobra.Command{
		Use:   "encode [REQUEST ARGS...]",
		Short: "Build a USP Record from a request or JSON (offline)",
		Long:  encodeLong,
		Example: "  uspctl encode -c proto::ctl -a os::012345-SN1 get Device.DeviceInfo. > get.bin\n" +
			"  uspctl decode -o json capture.bin | uspctl encode --json - -a os::012345-SN1 --hex",
		Args: cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			m, err := a.encodeMsg(args, jsonFile, msgID, ro)
			if err != nil {
				return err
			}
			if to == "" && !bareMsg {
				switch {
				case len(a.s.agents) == 1:
					to, _, _ = strings.Cut(a.s.agents[0], "=")
				case len(a.s.agents) > 1:
					return usageErrorf("encode: one record has one recipient; give one --agent or --to")
				default:
					return usageErrorf("encode: no recipient: give --agent or --to")
				}
			}
			code := exitOK
			payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				return usageErrorf("encode: %v", err)
			}
			if _, err := msg.Decode(payload); err != nil {
				a.errorf("encode: warning: the message is not valid: %v", err)
				code = exitFailed
			}
			out := payload
			if !bareMsg {
				if version == "" {
					version = record.DefaultVersion
				}
				out, err = record.Encode(record.NewNoSessionContext(version, to, a.s.controllerID, payload))
				if err != nil {
					return usageErrorf("encode: %v", err)
				}
			}
			return codeErr(worst(code, a.writeEncoded(out, outFile, asHex)))
		},
	}
	f := cmd.Flags()
	f.StringVar(&jsonFile, "json", "", "read the message as JSON from this file (\"-\": stdin) instead of arguments")
	f.StringVar(&to, "to", "", "the record's to_id (default: the --agent given)")
	f.StringVar(&msgID, "msg-id", "", "message ID of a request built from arguments (default: a new unique one)")
	f.StringVar(&version, "usp-version", "", "the record's USP version (default "+record.DefaultVersion+")")
	f.StringVar(&outFile, "out", "", "write to this file instead of stdout")
	f.BoolVar(&asHex, "hex", false, "write hex text instead of binary")
	f.BoolVar(&bareMsg, "msg", false, "write the bare USP Msg, not a Record")
	f.BoolVar(&ro.allowPartial, "allow-partial", false, "set, add, delete: allow_partial")
	f.Uint32Var(&ro.maxDepth, "max-depth", 0, "get: max_depth")
	f.BoolVar(&ro.firstLevelOnly, "first-level-only", false, "gsdm, instances: first_level_only")
	f.StringVar(&ro.commandKey, "command-key", "", "operate: command_key")
	return cmd
}

// encodeMsg builds the message from --json or from request arguments.
func (a *app) encodeMsg(args []string, jsonFile, msgID string, ro requestOptions) (*uspmsg.Msg, error) {
	if jsonFile != "" {
		if len(args) > 0 {
			return nil, usageErrorf("encode: give the message as --json or as arguments, not both")
		}
		b, err := a.readInput(jsonFile)
		if err != nil {
			return nil, usageErrorf("encode: %v", err)
		}
		return parseMsgJSON(b)
	}
	if len(args) == 0 {
		return nil, usageErrorf("encode: give a request (e.g. get PATH...) or --json FILE")
	}
	req, err := requestFromArgs(args[0], args[1:], ro)
	if err != nil {
		return nil, err
	}
	if msgID == "" {
		msgID = msg.NewID()
	}
	return req.Build(msgID), nil
}

// parseMsgJSON reads a usp.Msg in the protobuf JSON mapping, alone or as
// the "msg" member of decode's JSON output.
func parseMsgJSON(b []byte) (*uspmsg.Msg, error) {
	var wrapper struct {
		Msg json.RawMessage `json:"msg"`
	}
	if err := json.Unmarshal(b, &wrapper); err != nil {
		return nil, usageErrorf("encode: --json: %v", err)
	}
	if len(bytes.TrimSpace(wrapper.Msg)) > 0 {
		b = wrapper.Msg
	}
	var m uspmsg.Msg
	if err := (protojson.UnmarshalOptions{}).Unmarshal(b, &m); err != nil {
		return nil, usageErrorf("encode: --json: not a usp.Msg: %v", err)
	}
	return &m, nil
}

// requestFromArgs builds a request the way the command of the same name
// reads its arguments, with the same checks.
func requestFromArgs(kind string, args []string, ro requestOptions) (msg.Request, error) {
	need := func(n int) error {
		if len(args) < n {
			return usageErrorf("encode %s: at least %d argument(s) expected", kind, n)
		}
		return nil
	}
	switch kind {
	case "get":
		if err := need(1); err != nil {
			return nil, err
		}
		if err := checkPaths("get", args, datamodel.KindObject, datamodel.KindInstance, datamodel.KindParam); err != nil {
			return nil, err
		}
		return msg.Get{Paths: args, MaxDepth: ro.maxDepth}, nil
	case "set", "add":
		if err := need(1); err != nil {
			return nil, err
		}
		objs, err := splitObjects(kind, args, kind == "set")
		if err != nil {
			return nil, err
		}
		if kind == "set" {
			req := msg.Set{AllowPartial: ro.allowPartial}
			for _, o := range objs {
				req.Objects = append(req.Objects, msg.SetObject{Path: o.path, Params: paramList(o, nil)})
			}
			return req, nil
		}
		req := msg.Add{AllowPartial: ro.allowPartial}
		for _, o := range objs {
			req.Objects = append(req.Objects, msg.AddObject{Path: o.path, Params: paramList(o, nil)})
		}
		return req, nil
	case "delete":
		if err := need(1); err != nil {
			return nil, err
		}
		if err := checkPaths("delete", args, objectKinds...); err != nil {
			return nil, err
		}
		return msg.Delete{Paths: args, AllowPartial: ro.allowPartial}, nil
	case "operate":
		if err := need(1); err != nil {
			return nil, err
		}
		if err := checkPath("operate", args[0], datamodel.KindCommand); err != nil {
			return nil, err
		}
		in, _, err := parseAssignments("operate", args[1:], true)
		if err != nil {
			return nil, err
		}
		return msg.Operate{Command: args[0], CommandKey: ro.commandKey, SendResp: true, Args: in}, nil
	case "gsdm", "get-supported-dm":
		if err := need(1); err != nil {
			return nil, err
		}
		if err := checkPaths("gsdm", args, objectKinds...); err != nil {
			return nil, err
		}
		return msg.GetSupportedDM{Paths: args, FirstLevelOnly: ro.firstLevelOnly, ReturnParams: true, ReturnCommands: true, ReturnEvents: true, ReturnUniqueKeySets: true}, nil
	case "instances", "get-instances":
		if err := need(1); err != nil {
			return nil, err
		}
		if err := checkPaths("instances", args, objectKinds...); err != nil {
			return nil, err
		}
		return msg.GetInstances{Paths: args, FirstLevelOnly: ro.firstLevelOnly}, nil
	case "proto", "get-supported-protocol":
		if len(args) > 0 {
			return nil, usageErrorf("encode proto: no arguments expected")
		}
		return msg.GetSupportedProtocol{Versions: strings.Join(record.SupportedVersions, ",")}, nil
	}
	return nil, usageErrorf("encode: unknown request %q (get, set, add, delete, operate, gsdm, instances or proto)", kind)
}

// writeEncoded writes bytes to a file or stdout, in hex if asked. Binary
// is not written to a terminal, where it would garble the screen.
func (a *app) writeEncoded(b []byte, outFile string, asHex bool) int {
	if asHex {
		b = []byte(hex.EncodeToString(b) + "\n")
	}
	if outFile != "" {
		if err := os.WriteFile(outFile, b, 0o644); err != nil {
			a.errorf("encode: %v", err)
			return exitUsage
		}
		return exitOK
	}
	if !asHex && a.terminal(a.stdout) {
		a.errorf("encode: not writing binary to a terminal: redirect stdout, or give --hex or --out FILE")
		return exitUsage
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if _, err := a.stdout.Write(b); err != nil {
		a.errorf("encode: %v", err)
		return exitFailed
	}
	return exitOK
}
