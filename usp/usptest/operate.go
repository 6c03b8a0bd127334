package usptest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

type callKey struct{}

type callInfo struct {
	commandKey string
	originator string
}

// CommandKey returns the command_key of the Operate that started the
// command whose handler received ctx.
func CommandKey(ctx context.Context) string {
	c, _ := ctx.Value(callKey{}).(callInfo)
	return c.commandKey
}

// Originator returns the endpoint ID of the controller that sent the
// Operate whose handler received ctx.
func Originator(ctx context.Context) string {
	c, _ := ctx.Value(callKey{}).(callInfo)
	return c.originator
}

// toUSPError turns a handler's error into the error of a command result:
// a *msg.Error keeps its code, anything else is 7022 (command failure).
func toUSPError(err error, fallback msg.Code) *msg.Error {
	var e *msg.Error
	if errors.As(err, &e) {
		return e
	}
	return &msg.Error{Code: fallback, Message: err.Error()}
}

// run calls a command's handler, turning a panic into error 7003 so that a
// broken handler cannot bring the agent down.
func run(ctx context.Context, c *cmdDef, path string, args map[string]string) (out map[string]string, err error) {
	if c.Run == nil {
		return map[string]string{}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, msg.Errorf(msg.CodeInternal, "command %s panicked: %v", path, r)
		}
	}()
	out, err = c.Run(ctx, path, maps.Clone(args))
	if err == nil && out == nil {
		out = map[string]string{}
	}
	return out, err
}

// handleOperate answers an Operate: one result per command executed (a
// wildcard runs the command on every matching instance). Synchronous
// commands run here; asynchronous ones get a Device.LocalAgent.Request
// instance and report through OperationComplete. It returns nil when the
// request asked for no response.
func (a *Agent) handleOperate(from string, op *uspmsg.Operate) msg.Message {
	m := a.model
	m.mu.RLock()
	r, err := m.resolve(op.GetCommand())
	switch {
	case err != nil:
	case r.kind != datamodel.KindCommand:
		err = invalidPath("%s is not a command path", op.GetCommand())
	case r.missing:
		err = invalidPath("%s: object instance does not exist", op.GetCommand())
	}
	var cmd *cmdDef
	var targets []string
	if err == nil && r.def != nil {
		// A snapshot: HandleCommand may replace Run while this call, or
		// its asynchronous run, is under way.
		c := *r.def.command(r.leaf)
		cmd = &c
		for _, o := range r.objs {
			targets = append(targets, o.path+r.leaf)
		}
	}
	m.mu.RUnlock()
	if err != nil {
		if !op.GetSendResp() {
			return nil
		}
		return err
	}
	args := maps.Clone(op.GetInputArgs())
	ctx := context.WithValue(a.runCtx, callKey{}, callInfo{commandKey: op.GetCommandKey(), originator: from})
	var resp msg.OperateResp
	m.mu.RLock()
	l := m.aclFor(from)
	m.mu.RUnlock()
	for _, path := range targets {
		res := msg.OperateResult{ExecutedCommand: path}
		if !l.allows(permCmd, rightExec, path) {
			// USP 1.4: a refused command is a cmd_failure, not an Error.
			res.Err = permissionDenied("running", path)
			resp.Results = append(resp.Results, res)
			continue
		}
		if e := checkArgs(cmd, path, args); e != nil {
			res.Err = e
			resp.Results = append(resp.Results, res)
			continue
		}
		if !cmd.Async {
			out, err := run(ctx, cmd, path, args)
			if err != nil {
				res.Err = toUSPError(err, msg.CodeCommandFailure)
			} else {
				res.OutputArgs = out
			}
			resp.Results = append(resp.Results, res)
			continue
		}
		req := a.newRequest(from, path, op.GetCommandKey())
		res.RequestObjPath = req
		resp.Results = append(resp.Results, res)
		rctx, cancel := context.WithCancel(ctx)
		a.mu.Lock()
		if a.asyncRuns == nil {
			a.asyncRuns = map[string]context.CancelFunc{}
		}
		a.asyncRuns[req+"."] = cancel
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer cancel()
			out, err := run(rctx, cmd, path, args)
			a.mu.Lock()
			delete(a.asyncRuns, req+".")
			a.mu.Unlock()
			if ctx.Err() != nil {
				return // the agent closed: nobody to tell
			}
			if rctx.Err() != nil && err != nil {
				err = toUSPError(err, msg.CodeCommandCanceled)
				if e, ok := err.(*msg.Error); ok && e.Code != msg.CodeCommandCanceled {
					err = msg.Errorf(msg.CodeCommandCanceled, "%s canceled: %s", path, e.Message)
				}
			}
			a.completeRequest(req, path, op.GetCommandKey(), out, err)
		}()
	}
	if !op.GetSendResp() {
		return nil
	}
	return resp
}

// checkArgs drops input arguments the command does not declare and runs
// the command's own check.
func checkArgs(cmd *cmdDef, path string, args map[string]string) *msg.Error {
	// Arguments the command does not declare are ignored (TP-469 1.91):
	// drop them before the command's own check sees them.
	for name := range args {
		if !slices.Contains(cmd.Inputs, name) && (len(cmd.Inputs) > 0 || cmd.Run != nil) {
			delete(args, name)
		}
	}
	if cmd.Check != nil {
		if err := cmd.Check(path, maps.Clone(args)); err != nil {
			return toUSPError(err, msg.CodeInvalidCommandArgs)
		}
	}
	return nil
}

// newRequest creates the Device.LocalAgent.Request.{i}. instance that
// tracks an asynchronous command and returns its path as OB-USP-A writes
// it in OperateResp: without the trailing dot.
func (a *Agent) newRequest(from, command, key string) string {
	m := a.model
	var path string
	m.write(func() {
		la := m.instByPath("Device.LocalAgent.")
		if la != nil && la.tables.get("Request") != nil {
			t := la.tables.get("Request")
			o := m.create(t, m.nextNumber(t), filterParams(t.def, map[string]string{
				"Originator": from, "Command": command, "CommandKey": key, "Status": "Active",
			}))
			path = refPath(o)
			return
		}
		// A model without the Request table still needs a path to report.
		a.mu.Lock()
		a.requests++
		path = "Device.LocalAgent.Request." + strconv.Itoa(a.requests)
		a.mu.Unlock()
	})
	return path
}

// cancelRequest is Device.LocalAgent.Request.{i}.Cancel(): the command's
// context ends, its Status says Canceling until it has stopped, and its
// OperationComplete reports 7023.
func (a *Agent) cancelRequest(requestPath string) error {
	a.mu.Lock()
	cancel := a.asyncRuns[requestPath]
	a.mu.Unlock()
	if cancel == nil {
		return msg.Errorf(msg.CodeCommandFailure, "%s has finished or cannot be canceled", requestPath)
	}
	_ = a.model.Set(requestPath+"Status", "Canceling")
	cancel()
	return nil
}

// completeRequest removes the Request instance of a finished asynchronous
// command and reports its OperationComplete.
func (a *Agent) completeRequest(req, path, key string, out map[string]string, err error) {
	m := a.model
	m.write(func() {
		if o := m.instByPath(req); o != nil && o.def.path == "Device.LocalAgent.Request.{i}." {
			m.remove(o)
		}
		c := change{kind: chOpComplete, path: path, cmdKey: key}
		if err != nil {
			c.err = toUSPError(err, msg.CodeCommandFailure)
		} else {
			c.keys = out
		}
		m.emit(c)
	})
}

// argError is a 7027 error for a missing or bad input argument.
func argError(format string, args ...any) error {
	return &msg.Error{Code: msg.CodeInvalidCommandArgs, Message: fmt.Sprintf(format, args...)}
}
