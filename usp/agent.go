package usp

import (
	"context"
	"errors"
	"fmt"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// Agent is a handle on one agent, made by [Controller.Agent]. Its methods
// send one request each and wait for the response until ctx ends. Agent
// errors come back as *msg.Error (test them with errors.Is against the
// msg.Err* sentinels); per-path errors inside a response stay in the
// typed result.
type Agent struct {
	c  *Controller
	id string
}

// EndpointID returns the agent's endpoint ID.
func (a *Agent) EndpointID() string { return a.id }

// Info returns what the controller knows of the agent.
func (a *Agent) Info() (AgentInfo, bool) { return a.c.AgentInfo(a.id) }

// call sends req and parses the response as T.
func call[T msg.Message](ctx context.Context, a *Agent, req msg.Request) (T, error) {
	var zero T
	v, err := a.c.roundTrip(ctx, a.id, req)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %T", ErrUnexpectedResponse, v)
	}
	return t, nil
}

// Do sends any request and returns the parsed response (a *msg.GetResp for
// a msg.Get, and so on). Requests that expect no response are not for Do.
func (a *Agent) Do(ctx context.Context, req msg.Request) (msg.Message, error) {
	return call[msg.Message](ctx, a, req)
}

// Get reads parameters. The result keeps one entry per requested path,
// with its error if that path failed.
func (a *Agent) Get(ctx context.Context, req msg.Get) (*msg.GetResp, error) {
	return call[*msg.GetResp](ctx, a, req)
}

// GetValues reads the given paths and returns every value by full
// parameter path. If some paths failed, it returns the values it got and an
// error joining the per-path errors (each a *msg.Error).
func (a *Agent) GetValues(ctx context.Context, paths ...string) (map[string]string, error) {
	r, err := a.Get(ctx, msg.Get{Paths: paths})
	if err != nil {
		return nil, err
	}
	return r.Values(), r.Err()
}

// GetValue reads one parameter.
func (a *Agent) GetValue(ctx context.Context, path string) (string, error) {
	vals, err := a.GetValues(ctx, path)
	if err != nil {
		return "", err
	}
	if v, ok := vals[path]; ok {
		return v, nil
	}
	if len(vals) == 1 {
		for _, v := range vals {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: %s: the agent returned %d values", ErrNotOneValue, path, len(vals))
}

// Set changes parameters.
func (a *Agent) Set(ctx context.Context, req msg.Set) (*msg.SetResp, error) {
	return call[*msg.SetResp](ctx, a, req)
}

// SetValues sets parameters of one object (or of every object a wildcard
// or search path names), all of them required: the agent changes all or
// none.
func (a *Agent) SetValues(ctx context.Context, objPath string, params map[string]string) (*msg.SetResp, error) {
	return a.Set(ctx, msg.SetParams(objPath, params))
}

// Add creates objects.
func (a *Agent) Add(ctx context.Context, req msg.Add) (*msg.AddResp, error) {
	return call[*msg.AddResp](ctx, a, req)
}

// Delete removes objects.
func (a *Agent) Delete(ctx context.Context, req msg.Delete) (*msg.DeleteResp, error) {
	return call[*msg.DeleteResp](ctx, a, req)
}

// Operate runs a command and returns the agent's immediate answer: output
// arguments for synchronous commands, the Request object path for
// asynchronous ones. With SendResp false nothing comes back: Operate
// returns once the request is sent, with a nil response. To wait for an
// asynchronous command's completion, use [Agent.StartOperation] or [Agent.Call].
func (a *Agent) Operate(ctx context.Context, req msg.Operate) (*msg.OperateResp, error) {
	if !req.SendResp {
		return nil, a.c.send(ctx, a.id, req)
	}
	return call[*msg.OperateResp](ctx, a, req)
}

// GetSupportedDM reads the agent's supported data model.
func (a *Agent) GetSupportedDM(ctx context.Context, req msg.GetSupportedDM) (*msg.GetSupportedDMResp, error) {
	return call[*msg.GetSupportedDMResp](ctx, a, req)
}

// GetInstances lists object instances.
func (a *Agent) GetInstances(ctx context.Context, req msg.GetInstances) (*msg.GetInstancesResp, error) {
	return call[*msg.GetInstancesResp](ctx, a, req)
}

// GetSupportedProtocol asks which USP versions the agent supports. The
// controller then writes the highest version both support to this agent.
func (a *Agent) GetSupportedProtocol(ctx context.Context) (*msg.GetSupportedProtocolResp, error) {
	r, err := call[*msg.GetSupportedProtocolResp](ctx, a, msg.GetSupportedProtocol{Versions: SupportedVersions})
	if err != nil {
		return nil, err
	}
	a.c.agentSupports(a.id, r.Versions)
	return r, nil
}

// SupportedVersions is what the controller tells agents it supports.
const SupportedVersions = "1.0,1.1,1.2,1.3,1.4"

// negotiateLater asks a newly seen agent for its versions in the
// background (WithProtocolNegotiation).
func (c *Controller) negotiateLater(id string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	select {
	case c.negotiating <- struct{}{}:
	default:
		// Every agent appearing at once (or an agent flooding made-up
		// IDs) must not start a request each: this one keeps the default
		// version until it reconnects.
		c.mu.Unlock()
		c.log.Debug("not negotiating the protocol version: too many negotiations running", "agent", id)
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() { <-c.negotiating }()
		ctx, cancel := context.WithTimeout(c.ctx, backgroundTimeout)
		defer cancel()
		if _, err := c.Agent(id).GetSupportedProtocol(ctx); err != nil && !errors.Is(err, ErrClosed) {
			c.log.Info("GetSupportedProtocol failed; keeping the default record version", "agent", id, "err", err)
		}
	}()
}

// Schema reads the agent's whole supported data model (GetSupportedDM of
// "Device." with everything returned) and builds a [datamodel.Schema] from
// it, to look up paths and check requests before sending them. The
// controller keeps the schema for the agent: [Agent.StartOperation] uses it to tell
// synchronous commands from asynchronous ones.
func (a *Agent) Schema(ctx context.Context) (*datamodel.Schema, error) {
	r, err := a.GetSupportedDM(ctx, msg.GetSupportedDM{
		Paths:               []string{"Device."},
		ReturnCommands:      true,
		ReturnEvents:        true,
		ReturnParams:        true,
		ReturnUniqueKeySets: true,
	})
	if err != nil {
		return nil, err
	}
	s, err := r.Schema()
	if err != nil {
		return nil, err
	}
	a.c.mu.Lock()
	if st, _ := a.c.agents.get(a.id); st != nil {
		st.mu.Lock()
		st.schema = s
		st.mu.Unlock()
	}
	a.c.mu.Unlock()
	return s, nil
}
