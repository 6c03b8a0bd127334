package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/usp"
)

const getLong = `Read parameter values. PATH may name a parameter, an object or object instance
(ending in "."), and use wildcards and search expressions.

Text: one "PATH  VALUE" line per parameter in path order, then one
"ERROR CODE PATH: MESSAGE" line per requested path that failed.
JSON result: {"values": {"PATH": "VALUE"}, "errors": [{"path", "code", "message"}]}.
Exit code 1 when a path failed.`

func (a *app) getCommand() *cobra.Command {
	var maxDepth uint32
	cmd := &cobra.Command{
		Use:     "get PATH...",
		Short:   "Read parameter values",
		Long:    getLong,
		Example: "  uspctl get Device.DeviceInfo. 'Device.LocalAgent.Controller.*.EndpointID'",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPaths("get", args, datamodel.KindObject, datamodel.KindInstance, datamodel.KindParam); err != nil {
				return err
			}
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.Get(ctx, msg.Get{Paths: args, MaxDepth: maxDepth})
				if err != nil {
					return nil, err
				}
				return newGetResult(r), nil
			})
		},
	}
	cmd.Flags().Uint32Var(&maxDepth, "max-depth", 0, "how many levels below an object path to return (0: all)")
	return cmd
}

// objectArgs splits "OBJ NAME=VALUE... [OBJ NAME=VALUE...]" arguments into
// objects and their parameters. An argument is a new object when the part
// before its first "=" (if any) contains a "." or "[": parameter names
// have neither, paths always do.
type objectArg struct {
	path   string
	params map[string]string
}

func splitObjects(what string, args []string, needParams bool) ([]objectArg, error) {
	var out []objectArg
	for i := 0; i < len(args); {
		path := args[i]
		if !isPathArg(path) {
			return nil, usageErrorf("%s: expected an object path, got %q", what, path)
		}
		if err := checkPath(what, path, objectKinds...); err != nil {
			return nil, err
		}
		j := i + 1
		for j < len(args) && !isPathArg(args[j]) {
			j++
		}
		params, _, err := parseAssignments(what+" "+path, args[i+1:j], false)
		if err != nil {
			return nil, err
		}
		if needParams && len(params) == 0 {
			return nil, usageErrorf("%s: %s: no PARAM=VALUE given", what, path)
		}
		out = append(out, objectArg{path: path, params: params})
		i = j
	}
	if len(out) == 0 {
		return nil, usageErrorf("%s: no object path given", what)
	}
	return out, nil
}

func isPathArg(s string) bool {
	name, _, _ := strings.Cut(s, "=")
	return strings.ContainsAny(name, ".[")
}

// paramList makes the parameters of one object, required unless named by
// --optional (as a plain name or as OBJ.NAME).
func paramList(obj objectArg, optional map[string]bool) []msg.Param {
	ps := msg.Params(obj.params)
	for i := range ps {
		if optional[ps[i].Name] || optional[obj.path+ps[i].Name] {
			ps[i].Required = false
		}
	}
	return ps
}

func optionalSet(what string, names []string, objs []objectArg) (map[string]bool, error) {
	set := map[string]bool{}
	for _, n := range names {
		found := false
		for _, o := range objs {
			if _, ok := o.params[n]; ok {
				found = true
			}
			if rest, ok := strings.CutPrefix(n, o.path); ok {
				if _, ok := o.params[rest]; ok {
					found = true
				}
			}
		}
		if !found {
			return nil, usageErrorf("%s: --optional %s names no parameter given", what, n)
		}
		set[n] = true
	}
	return set, nil
}

const setLong = `Change parameters of existing objects. OBJ is an object instance path (ending in
".", wildcards and search expressions allowed), followed by its PARAM=VALUE
settings; several objects may follow each other. Every parameter is required
(a failure fails its object) unless named by --optional. Without
--allow-partial the agent changes everything or nothing.

Text: one "PATH  VALUE" line per parameter set, then ERROR lines.
JSON result: {"updated": [{"path", "params": {"NAME": "VALUE"}, "param_errors"}],
"errors": [{"path", "code", "message", "param_errors"}]}.
Exit code 1 when the agent refused the Set or an object or optional parameter failed.`

func (a *app) setCommand() *cobra.Command {
	var allowPartial bool
	var optional []string
	cmd := &cobra.Command{
		Use:     "set OBJ PARAM=VALUE... [OBJ PARAM=VALUE...]",
		Short:   "Change parameter values",
		Long:    setLong,
		Example: "  uspctl set Device.LocalAgent.Controller.2. Enable=true PeriodicNotifInterval=300",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			objs, err := splitObjects("set", args, true)
			if err != nil {
				return err
			}
			opt, err := optionalSet("set", optional, objs)
			if err != nil {
				return err
			}
			req := msg.Set{AllowPartial: allowPartial}
			for _, o := range objs {
				req.Objects = append(req.Objects, msg.SetObject{Path: o.path, Params: paramList(o, opt)})
			}
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.Set(ctx, req)
				if err != nil {
					return nil, err
				}
				return newSetResult(r), nil
			})
		},
	}
	cmd.Flags().BoolVar(&allowPartial, "allow-partial", false, "let the agent apply what it can when some objects fail")
	cmd.Flags().StringArrayVar(&optional, "optional", nil, "parameter whose failure does not fail its object (repeatable)")
	return cmd
}

const addLong = `Create object instances. OBJ is a multi-instance object path (ending in "."),
optionally followed by PARAM=VALUE settings for the new instance; several
objects may follow each other.

Text: one "PATH  KEY=VALUE..." line per created instance with its unique keys,
then ERROR lines.
JSON result: {"created": [{"path", "unique_keys": {"NAME": "VALUE"}, "param_errors"}],
"errors": [{"path", "code", "message"}]}.
Exit code 1 when the agent refused the Add or an object failed.`

func (a *app) addCommand() *cobra.Command {
	var allowPartial bool
	var optional []string
	cmd := &cobra.Command{
		Use:     "add OBJ [PARAM=VALUE...] [OBJ [PARAM=VALUE...]]",
		Short:   "Create object instances",
		Long:    addLong,
		Example: "  uspctl add Device.LocalAgent.Controller. Alias=ctrl-2 EndpointID=proto::other Enable=false",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			objs, err := splitObjects("add", args, false)
			if err != nil {
				return err
			}
			opt, err := optionalSet("add", optional, objs)
			if err != nil {
				return err
			}
			req := msg.Add{AllowPartial: allowPartial}
			for _, o := range objs {
				req.Objects = append(req.Objects, msg.AddObject{Path: o.path, Params: paramList(o, opt)})
			}
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.Add(ctx, req)
				if err != nil {
					return nil, err
				}
				return newAddResult(r), nil
			})
		},
	}
	cmd.Flags().BoolVar(&allowPartial, "allow-partial", false, "let the agent create what it can when some objects fail")
	cmd.Flags().StringArrayVar(&optional, "optional", nil, "parameter whose failure does not fail its object (repeatable)")
	return cmd
}

const deleteLong = `Delete object instances. PATH names instances (ending in "."), with wildcards and
search expressions allowed.

Text: one line per deleted instance, then ERROR lines for instances that could
not be deleted and paths that failed.
JSON result: {"deleted": [PATH], "unaffected": [{"path", "code", "message"}],
"errors": [{"path", "code", "message"}]}.
Exit code 1 when the agent refused the Delete or something was not deleted.`

func (a *app) deleteCommand() *cobra.Command {
	var allowPartial bool
	cmd := &cobra.Command{
		Use:     "delete PATH...",
		Short:   "Delete object instances",
		Long:    deleteLong,
		Example: "  uspctl delete Device.LocalAgent.Controller.2.",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPaths("delete", args, objectKinds...); err != nil {
				return err
			}
			req := msg.Delete{AllowPartial: allowPartial, Paths: args}
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.Delete(ctx, req)
				if err != nil {
					return nil, err
				}
				return newDeleteResult(r), nil
			})
		},
	}
	cmd.Flags().BoolVar(&allowPartial, "allow-partial", false, "let the agent delete what it can when some paths fail")
	return cmd
}

const operateLong = `Run a command (a path ending in "()") with ARG=VALUE input arguments.

By default uspctl waits for the result: for an asynchronous command it first
subscribes to its OperationComplete notification (removed afterwards; skip with
--no-subscribe when a subscription for this controller exists), then waits for
it. --timeout bounds the whole wait. With --no-wait, or for wildcard and search
paths, it prints the agent's immediate answer: the output of synchronous
commands, the Request object of asynchronous ones.

Text: "COMMAND  STATUS" then the output arguments indented, "NAME  VALUE".
JSON result: {"results": [{"command", "status", "output": {"NAME": "VALUE"},
"request_path", "error": {"kind", "code", "message"}}]}; status is "completed",
"started" (asynchronous, not waited for) or "failed".
Exit code 1 when the command failed.`

func (a *app) operateCommand() *cobra.Command {
	var asyncWait, noWait, noSubscribe bool
	var commandKey string
	cmd := &cobra.Command{
		Use:     "operate COMMAND [ARG=VALUE...]",
		Short:   "Run a command and wait for its result",
		Long:    operateLong,
		Example: "  uspctl operate 'Device.IP.Diagnostics.IPPing()' Host=192.0.2.1 NumberOfRepetitions=3",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			command := args[0]
			if err := checkPath("operate", command, datamodel.KindCommand); err != nil {
				return err
			}
			in, _, err := parseAssignments("operate", args[1:], true)
			if err != nil {
				return err
			}
			wait := asyncWait && !noWait && !strings.ContainsAny(command, "*[")
			return a.runRequest(cmd.Context(), func(ctx context.Context, cn *conn, ag *usp.Agent) (result, error) {
				if !wait {
					r, err := ag.Operate(ctx, msg.Operate{Command: command, CommandKey: commandKey, SendResp: true, Args: in})
					if err != nil {
						return nil, err
					}
					return newOperateResult(r), nil
				}
				return a.operateAndWait(ctx, ag, command, commandKey, in, !noSubscribe)
			})
		},
	}
	cmd.Flags().BoolVar(&asyncWait, "async-wait", true, "wait for asynchronous commands to complete")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "do not wait: print the agent's immediate answer (same as --async-wait=false)")
	cmd.Flags().BoolVar(&noSubscribe, "no-subscribe", false, "do not create an OperationComplete subscription before waiting")
	cmd.Flags().StringVar(&commandKey, "command-key", "", "command_key of the request (default: a unique one when waiting)")
	return cmd
}

// operateAndWait runs one command and waits for its completion. The
// OperationComplete subscription is made and removed here rather than by
// Agent.StartOperation, so that it is gone from the agent before uspctl exits.
func (a *app) operateAndWait(ctx context.Context, ag *usp.Agent, command, key string, in map[string]string, subscribe bool) (result, error) {
	if subscribe {
		sub, err := ag.Subscribe(ctx, usp.SubscriptionSpec{
			NotifType:     usp.NotifOperationComplete,
			ReferenceList: []string{command},
			Handler:       func(context.Context, *usp.Notification) error { return nil },
		})
		if err != nil {
			return nil, fmt.Errorf("subscribing to the completion of %s: %w", command, err)
		}
		defer func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(a.s.timeout, 5*time.Second))
			defer cancel()
			if err := sub.Unsubscribe(uctx); err != nil {
				a.log.Warn("could not remove the OperationComplete subscription", "agent", ag.EndpointID(), "path", sub.Path(), "err", err)
			}
		}()
	}
	opts := []usp.OperateOption{usp.WithoutCompletionSubscription()}
	if key != "" {
		opts = append(opts, usp.WithCommandKey(key))
	}
	failed := func(err error) (result, error) {
		var me *msg.Error
		if errors.As(err, &me) {
			return &operateResult{Results: []operateItem{{Command: command, Status: statusFailed, Error: newJSONError(me)}}}, nil
		}
		return nil, err
	}
	op, err := ag.StartOperation(ctx, command, in, opts...)
	if err != nil {
		return failed(err)
	}
	out, err := op.Wait(ctx)
	if err != nil {
		if ctx.Err() != nil {
			op.Abandon()
		}
		return failed(err)
	}
	//lint:ignore SA1019 uspctl shows the path as the agent wrote it, as it does with --no-wait
	return &operateResult{Results: []operateItem{{Command: command, Status: statusCompleted, Output: nonNil(out), RequestPath: op.RequestPath()}}}, nil
}

const gsdmLong = `Read the supported data model (the agent's schema) under object paths.
--params, --commands, --events and --unique-keys select what each object lists
(--all: everything); --first-level-only stops at the direct children.

Text: one line per object "PATH  object|multi-instance  ACCESS", then its unique
keys, parameters ("NAME  TYPE  ACCESS"), commands and events indented.
JSON result: {"objects": [{"path", "access", "multi_instance", "params": [{"name",
"access", "type", "value_change"}], "commands": [{"name", "type", "inputs",
"outputs"}], "events": [{"name", "args"}], "unique_keys": [[NAME]]}],
"errors": [{"path", "code", "message"}]}.`

func (a *app) gsdmCommand() *cobra.Command {
	var req msg.GetSupportedDM
	var all bool
	cmd := &cobra.Command{
		Use:     "gsdm PATH...",
		Aliases: []string{"get-supported-dm"},
		Short:   "Read the supported data model",
		Long:    gsdmLong,
		Example: "  uspctl gsdm --all --first-level-only Device.LocalAgent.",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPaths("gsdm", args, objectKinds...); err != nil {
				return err
			}
			req.Paths = args
			if all {
				req.ReturnParams, req.ReturnCommands, req.ReturnEvents, req.ReturnUniqueKeySets = true, true, true, true
			}
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.GetSupportedDM(ctx, req)
				if err != nil {
					return nil, err
				}
				return newGSDMResult(r), nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.FirstLevelOnly, "first-level-only", false, "only the object and its direct children")
	f.BoolVar(&req.ReturnParams, "params", false, "list parameters")
	f.BoolVar(&req.ReturnCommands, "commands", false, "list commands")
	f.BoolVar(&req.ReturnEvents, "events", false, "list events")
	f.BoolVar(&req.ReturnUniqueKeySets, "unique-keys", false, "list unique key sets")
	f.BoolVar(&all, "all", false, "list parameters, commands, events and unique keys")
	return cmd
}

const instancesLong = `List the instances of multi-instance objects under object paths.

Text: one "PATH  KEY=VALUE..." line per instance, then ERROR lines.
JSON result: {"instances": [{"path", "unique_keys": {"NAME": "VALUE"}}],
"errors": [{"path", "code", "message"}]}.`

func (a *app) instancesCommand() *cobra.Command {
	var firstLevel bool
	cmd := &cobra.Command{
		Use:     "instances PATH...",
		Aliases: []string{"get-instances"},
		Short:   "List object instances",
		Long:    instancesLong,
		Example: "  uspctl instances Device.LocalAgent.",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPaths("instances", args, objectKinds...); err != nil {
				return err
			}
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.GetInstances(ctx, msg.GetInstances{Paths: args, FirstLevelOnly: firstLevel})
				if err != nil {
					return nil, err
				}
				return newInstancesResult(r), nil
			})
		},
	}
	cmd.Flags().BoolVar(&firstLevel, "first-level-only", false, "only the instances of the named objects, not those below")
	return cmd
}

const protoLong = `Ask the agent which USP versions it supports (GetSupportedProtocol).

Text: the comma-separated list.
JSON result: {"versions": ["1.0", ...]}.`

func (a *app) protoCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "proto",
		Aliases: []string{"get-supported-protocol"},
		Short:   "Ask for the USP versions the agent supports",
		Long:    protoLong,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRequest(cmd.Context(), func(ctx context.Context, _ *conn, ag *usp.Agent) (result, error) {
				r, err := ag.GetSupportedProtocol(ctx)
				if err != nil {
					return nil, err
				}
				return &protoResult{Versions: nonNilList(msg.VersionList(r.Versions))}, nil
			})
		},
	}
}
