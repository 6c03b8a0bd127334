package usp

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/gousp/gousp/msg"
)

// Registry is a ready [BrokerHandler] for a USP Broker: it records which
// USP Service owns which data model paths, and answers Register and
// Deregister by TR-369's rules. Its zero value is ready; set the callbacks
// before handing it to [WithBrokerHandler].
//
// A path is an object path such as "Device.Time." (no instance numbers,
// wildcards or parameters); anything else fails with 7028. A path that
// another Service registered, or that contains or lies inside one, fails
// with 7029. A Service that registers a path it already owns succeeds
// again, so a Service that reconnects before its old session is noticed
// gone is not locked out. With allow_partial false a Register either
// registers every path or none and is answered with an Error message (7028,
// one ParamErr per failed path); with allow_partial true each path
// succeeds or fails on its own. A Deregister of "" gives up every path of
// the Service; a path it does not own fails with 7030. When a Service goes
// away (see [ServiceWatcher]) its paths are freed.
type Registry struct {
	// Registered, if not nil, runs once a Service has its RegisterResp,
	// with the paths it registered; the place to ask it for its supported
	// data model (svc.GetSupportedDM). See [AfterRegisterer].
	Registered func(ctx context.Context, svc *Agent, paths []string)
	// Gone, if not nil, runs when a Service that registered paths goes
	// away, with the paths it held and why it went.
	Gone func(ctx context.Context, svc *Agent, paths []string, reason error)

	mu     sync.Mutex
	owners map[string]string // path -> Service endpoint ID
}

var (
	_ BrokerHandler   = (*Registry)(nil)
	_ AfterRegisterer = (*Registry)(nil)
	_ ServiceWatcher  = (*Registry)(nil)
)

// Register answers a Register from svc.
func (r *Registry) Register(_ context.Context, svc *Agent, req *msg.Register) (*msg.RegisterResp, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &msg.RegisterResp{}
	for _, p := range req.Paths {
		res := msg.RegisterResult{Requested: p, Path: p}
		res.Err = r.check(svc.EndpointID(), p)
		if res.Err != nil {
			res.Path = ""
		}
		resp.Results = append(resp.Results, res)
	}
	if len(resp.Failed()) > 0 && !req.AllowPartial {
		// Nothing is kept; the controller answers with the Error message.
		return resp, nil
	}
	if r.owners == nil {
		r.owners = make(map[string]string)
	}
	for _, res := range resp.Results {
		if res.Err == nil {
			r.owners[res.Path] = svc.EndpointID()
		}
	}
	return resp, nil
}

// check says why svc may not register p, or returns nil.
func (r *Registry) check(svc, p string) *msg.Error {
	if !strings.HasPrefix(p, "Device.") || !strings.HasSuffix(p, ".") || strings.ContainsAny(p, "*{}[]#+\"") || hasInstance(p) {
		return &msg.Error{Code: msg.CodeRegisterFailure, Message: "not an object path of the supported data model"}
	}
	for q, owner := range r.owners {
		if owner != svc && (strings.HasPrefix(p, q) || strings.HasPrefix(q, p)) {
			return &msg.Error{Code: msg.CodeAlreadyInUse, Message: "path " + q + " is registered by another USP Service"}
		}
	}
	return nil
}

// hasInstance reports whether an object path names an instance number.
func hasInstance(p string) bool {
	for _, seg := range strings.Split(strings.TrimSuffix(p, "."), ".") {
		if seg == "" || (seg[0] >= '0' && seg[0] <= '9') {
			return true
		}
	}
	return false
}

// Deregister answers a Deregister from svc.
func (r *Registry) Deregister(_ context.Context, svc *Agent, req *msg.Deregister) (*msg.DeregisterResp, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := svc.EndpointID()
	resp := &msg.DeregisterResp{}
	for _, p := range req.Paths {
		res := msg.DeregisterResult{Requested: p}
		switch owner, ok := r.owners[p]; {
		case p == "":
			res.Paths = r.take(id)
		case ok && owner == id:
			delete(r.owners, p)
			res.Paths = []string{p}
		case ok:
			res.Err = &msg.Error{Code: msg.CodeDeregisterFailure, Message: "path is registered by another USP Service"}
		default:
			res.Err = &msg.Error{Code: msg.CodeDeregisterFailure, Message: "path is not registered"}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// take removes and returns every path of a Service, sorted.
func (r *Registry) take(id string) []string {
	var out []string
	for p, owner := range r.owners {
		if owner == id {
			out = append(out, p)
			delete(r.owners, p)
		}
	}
	slices.Sort(out)
	return out
}

// AfterRegister calls Registered with the paths the Service got.
func (r *Registry) AfterRegister(ctx context.Context, svc *Agent, resp *msg.RegisterResp) {
	if r.Registered == nil {
		return
	}
	var paths []string
	for _, res := range resp.Results {
		if res.Err == nil {
			paths = append(paths, res.Path)
		}
	}
	if len(paths) > 0 {
		r.Registered(ctx, svc, paths)
	}
}

// ServiceGone frees the paths of a Service that went away and calls Gone.
func (r *Registry) ServiceGone(ctx context.Context, svc *Agent, reason error) {
	r.mu.Lock()
	paths := r.take(svc.EndpointID())
	r.mu.Unlock()
	if r.Gone != nil && len(paths) > 0 {
		r.Gone(ctx, svc, paths, reason)
	}
}

// Owner returns the Service that registered path or the closest object
// above it: where a Broker forwards a request for path.
func (r *Registry) Owner(path string) (serviceID string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := ""
	for p, owner := range r.owners {
		if strings.HasPrefix(path, p) && len(p) > len(best) {
			best, serviceID, ok = p, owner, true
		}
	}
	return serviceID, ok
}

// Paths returns the paths a Service has registered, sorted.
func (r *Registry) Paths(serviceID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p, owner := range r.owners {
		if owner == serviceID {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
