package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// T is what a case's procedure works with: the equipment, what the kit
// learned about the agent, and the record of the criteria it checked. Its
// methods that end the procedure (Require, Skipf, Abortf, ...) must be
// called from the goroutine running the case.
type T struct {
	ctx    context.Context
	eq     *Equipment
	second *Equipment
	env    *Env
	cfg    Config
	c      *Case
	mark   int

	mu       sync.Mutex
	res      *Result
	done     bool // the result is final: late records stay out of it
	cleanups []cleanup
}

type cleanup struct {
	what string
	fn   func(ctx context.Context) error
}

// stopCase unwinds a procedure that cannot go on.
type stopCase struct{}

// Context is the run's context.
func (t *T) Context() context.Context { return t.ctx }

// Env is what the kit learned about the agent.
func (t *T) Env() *Env { return t.env }

// Config is the run's configuration.
func (t *T) Config() Config { return t.cfg }

// Equipment is the test equipment.
func (t *T) Equipment() *Equipment { return t.eq }

// Secondary returns the second test equipment endpoint, or ends the case
// as needing an operator when the run has none.
func (t *T) Secondary() *Equipment {
	if t.second == nil {
		t.NeedsOperatorf("needs a second controller simulated by the test equipment (Runner.Secondary)")
	}
	return t.second
}

// Metric collects the problems found while checking one test metric;
// End records it.
type Metric struct {
	t        *T
	metric   int
	text     string
	problems []string
}

// Metric starts checking test metric number metric, described by text.
func (t *T) Metric(metric int, text string) *Metric {
	return &Metric{t: t, metric: metric, text: text}
}

// Expect adds a problem unless ok; it returns ok.
func (c *Metric) Expect(ok bool, format string, args ...any) bool {
	if !ok {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
	return ok
}

// OK reports whether no problem was found so far.
func (c *Metric) OK() bool { return len(c.problems) == 0 }

// End records the criterion as met or not and returns whether it was.
func (c *Metric) End() bool {
	c.t.record(Criterion{Metric: c.metric, Text: c.text, OK: c.OK(), Detail: strings.Join(c.problems, "; ")})
	return c.OK()
}

// Must records the criterion and ends the procedure when it was not met.
func (c *Metric) Must() {
	if !c.End() {
		panic(stopCase{})
	}
}

// Check records one criterion at once: met when ok; detail (a format and
// its arguments) says what was seen when it was not.
func (t *T) Check(metric int, text string, ok bool, detail string, args ...any) bool {
	c := t.Metric(metric, text)
	c.Expect(ok, detail, args...)
	return c.End()
}

// Require is Check that ends the procedure when the criterion is not met.
func (t *T) Require(metric int, text string, ok bool, detail string, args ...any) {
	if !t.Check(metric, text, ok, detail, args...) {
		panic(stopCase{})
	}
}

// trace adds a record to the case's evidence, until the case is over.
func (t *T) trace(te TraceEntry) {
	t.mu.Lock()
	if !t.done {
		t.res.Trace = append(t.res.Trace, te)
	}
	t.mu.Unlock()
}

func (t *T) record(c Criterion) {
	t.mu.Lock()
	t.res.Criteria = append(t.res.Criteria, c)
	t.mu.Unlock()
}

func (t *T) end(v Verdict, format string, args ...any) {
	t.mu.Lock()
	t.res.Verdict, t.res.Reason = v, fmt.Sprintf(format, args...)
	t.mu.Unlock()
	panic(stopCase{})
}

// Skipf ends the procedure: the case does not apply to this agent.
func (t *T) Skipf(format string, args ...any) { t.end(Skip, format, args...) }

// NeedsOperatorf ends the procedure: a person must act (reboot the agent,
// provide a firmware image, run a second controller).
func (t *T) NeedsOperatorf(format string, args ...any) { t.end(NeedsOperator, format, args...) }

// Abortf ends the procedure without a conclusion: a setup step failed or
// the connection was lost.
func (t *T) Abortf(format string, args ...any) { t.end(Error, format, args...) }

// Notef adds a remark to the result, such as an alternate element the
// kit used instead of the plan's (TP-469 asks the report to list them).
func (t *T) Notef(format string, args ...any) {
	t.mu.Lock()
	t.res.Notes = append(t.res.Notes, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Cleanup registers a step that puts the agent back as it was; steps run
// after the procedure, last registered first, even when it failed. A step
// that fails is reported in the result.
func (t *T) Cleanup(what string, fn func(ctx context.Context) error) {
	t.cleanups = append(t.cleanups, cleanup{what, fn})
}

func (t *T) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		cl := t.cleanups[i]
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 2*t.cfg.responseTimeout())
		err := cl.fn(ctx)
		cancel()
		if err != nil {
			t.mu.Lock()
			t.res.Cleanup = append(t.res.Cleanup, cl.what+": "+err.Error())
			t.mu.Unlock()
		}
	}
	t.cleanups = nil
}

// Send sends a request and waits for its response (or the timeout); the
// exchange says which.
func (t *T) Send(req msg.Request) *Exchange { return t.eq.Send(t.ctx, req) }

// Post sends a request without waiting.
func (t *T) Post(req msg.Request) *Exchange { return t.eq.Post(t.ctx, req) }

// Wait waits up to d for an exchange's response.
func (t *T) Wait(ex *Exchange, d time.Duration) bool { return t.eq.Wait(t.ctx, ex, d) }

// Sleep waits d, or less if the run is cancelled (then the case aborts).
func (t *T) Sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-t.ctx.Done():
		t.Abortf("run cancelled: %v", t.ctx.Err())
	}
}

// responseKind names the message a response is, for criteria.
func responseKind(m *uspmsg.Msg) string {
	if m == nil {
		return "nothing"
	}
	if e := m.GetBody().GetError(); e != nil {
		return fmt.Sprintf("an Error %d (%s)", e.GetErrCode(), e.GetErrMsg())
	}
	return "a " + m.GetHeader().GetMsgType().String()
}

// Expect checks that the exchange got the response of type R (metric
// "The EUT sends a ...") and returns it parsed; the procedure ends when it
// did not.
func Expect[R msg.Message](t *T, metric int, ex *Exchange) R {
	var zero R
	want := msg.ResponseType(ex.Request.GetHeader().GetMsgType())
	text := "the EUT sends " + article(msgName(want))
	if ex.Err != nil {
		t.Require(metric, text, false, "%v", ex.Err)
	}
	r, err := msg.ParseAs[R](ex.Response)
	if err != nil {
		t.Require(metric, text, false, "got %s: %v", responseKind(ex.Response), err)
		return zero
	}
	t.Check(metric, text, true, "")
	return r
}

// ExpectError checks that the exchange was answered with an Error message
// and returns it; the procedure ends when it was not.
func ExpectError(t *T, metric int, ex *Exchange) *msg.Error {
	text := "the EUT sends an Error message"
	if ex.Err != nil {
		t.Require(metric, text, false, "%v", ex.Err)
	}
	if ex.Response.GetBody().GetError() == nil {
		t.Require(metric, text, false, "got %s", responseKind(ex.Response))
	}
	m, err := msg.Parse(ex.Response)
	e, ok := m.(*msg.Error)
	if !ok {
		ok = errors.As(err, &e)
	}
	if !ok {
		t.Require(metric, text, false, "the Error message does not parse: %v", err)
	}
	t.Check(metric, text, true, "")
	return e
}

// setup runs a request the procedure's setup needs: when the agent does
// not answer as asked, the case ends without a conclusion.
func setup[R msg.Message](t *T, what string, req msg.Request) R {
	ex := t.Send(req)
	if ex.Err != nil {
		t.Abortf("setup: %s: %v", what, ex.Err)
	}
	r, err := msg.ParseAs[R](ex.Response)
	if err != nil {
		t.Abortf("setup: %s: %v", what, err)
	}
	return r
}

// GetValues reads values as a setup step (full path -> value).
func (t *T) GetValues(paths ...string) map[string]string {
	r := setup[*msg.GetResp](t, "Get "+strings.Join(paths, ", "), msg.Get{Paths: paths})
	if err := r.Err(); err != nil {
		t.Abortf("setup: Get: %v", err)
	}
	return r.Values()
}

// Instances returns the instance paths of a multi-instance object, as a
// setup step.
func (t *T) Instances(obj string) []string {
	r := setup[*msg.GetInstancesResp](t, "GetInstances "+obj, msg.GetInstances{Paths: []string{obj}, FirstLevelOnly: true})
	var out []string
	for _, res := range r.Results {
		if res.Err != nil {
			t.Abortf("setup: GetInstances %s: %v", obj, res.Err)
		}
		for _, in := range res.Instances {
			out = append(out, in.Path)
		}
	}
	return out
}

// Create adds one instance as a setup step and registers its deletion.
func (t *T) Create(obj string, params map[string]string) (string, map[string]string) {
	r := setup[*msg.AddResp](t, "Add "+obj, msg.Add{Objects: []msg.AddObject{{Path: obj, Params: msg.Params(params)}}})
	if len(r.Results) != 1 || r.Results[0].Err != nil {
		t.Abortf("setup: Add %s: %v", obj, r.Err())
	}
	path := r.Results[0].Path
	t.DeleteLater(path)
	return path, r.Results[0].UniqueKeys
}

// DeleteLater registers the deletion of an instance the case created.
func (t *T) DeleteLater(path string) {
	t.Cleanup("delete "+path, func(ctx context.Context) error {
		ex := t.eq.Send(ctx, msg.Delete{Paths: []string{path}})
		if ex.Err != nil {
			return ex.Err
		}
		r, err := msg.ParseDeleteResp(ex.Response)
		if err != nil {
			return err
		}
		return r.Err()
	})
}

// SetLater registers a Set that restores the given values (full path ->
// value), as read before the case changed them.
func (t *T) SetLater(values map[string]string) {
	if len(values) == 0 {
		return
	}
	byObj := map[string]map[string]string{}
	for p, v := range values {
		obj, name := splitLeaf(p)
		if byObj[obj] == nil {
			byObj[obj] = map[string]string{}
		}
		byObj[obj][name] = v
	}
	objs := slices.Sorted(maps.Keys(byObj))
	t.Cleanup("restore "+strings.Join(slices.Sorted(maps.Keys(values)), ", "), func(ctx context.Context) error {
		req := msg.Set{}
		for _, o := range objs {
			req.Objects = append(req.Objects, msg.SetObject{Path: o, Params: msg.Params(byObj[o])})
		}
		ex := t.eq.Send(ctx, req)
		if ex.Err != nil {
			return ex.Err
		}
		r, err := msg.ParseSetResp(ex.Response)
		if err != nil {
			return err
		}
		return r.Err()
	})
}

// SetValues sets parameters as a setup step (full path -> value) and
// registers their restoration.
func (t *T) SetValues(values map[string]string) {
	paths := slices.Sorted(maps.Keys(values))
	before := t.GetValues(paths...)
	byObj := map[string]map[string]string{}
	for p, v := range values {
		obj, name := splitLeaf(p)
		if byObj[obj] == nil {
			byObj[obj] = map[string]string{}
		}
		byObj[obj][name] = v
	}
	req := msg.Set{}
	for _, o := range slices.Sorted(maps.Keys(byObj)) {
		req.Objects = append(req.Objects, msg.SetObject{Path: o, Params: msg.Params(byObj[o])})
	}
	t.SetLater(before)
	r := setup[*msg.SetResp](t, "Set "+strings.Join(paths, ", "), req)
	if err := r.Err(); err != nil {
		t.Abortf("setup: Set: %v", err)
	}
}

// Mark returns the position in the inbox from which AwaitNotify looks.
func (t *T) Mark() int { return t.eq.Mark() }

// AwaitNotify waits up to d for a Notify after mark that match accepts.
func (t *T) AwaitNotify(mark int, d time.Duration, match func(*msg.Notify) bool) (Inbound, *msg.Notify, bool) {
	ctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	var found *msg.Notify
	ib, ok := t.eq.Await(ctx, mark, func(ib Inbound) bool {
		n := ib.Notify()
		if n != nil && (match == nil || match(n)) {
			found = n
			return true
		}
		return false
	})
	return ib, found, ok
}

// Notifies returns the Notify messages after mark that match accepts.
func (t *T) Notifies(mark int, match func(*msg.Notify) bool) []Inbound {
	return t.eq.Since(mark, func(ib Inbound) bool {
		n := ib.Notify()
		return n != nil && (match == nil || match(n))
	})
}

// HoldNotifyResp stops answering a subscription's notifications until the
// case ends.
func (t *T) HoldNotifyResp(subscriptionID string) {
	t.eq.HoldNotifyResp(subscriptionID, true)
	t.Cleanup("answer notifications of "+subscriptionID+" again", func(context.Context) error {
		t.eq.HoldNotifyResp(subscriptionID, false)
		return nil
	})
}

// Controller returns the instance path of the Controller entry of the test
// equipment, or skips the case.
func (t *T) Controller() string {
	if t.env.Controller == "" {
		t.Skipf("the agent has no Device.LocalAgent.Controller entry with EndpointID %q (the test equipment)", t.eq.ControllerID())
	}
	return t.env.Controller
}

// NeedParam skips the case unless the data model has the parameter
// ("Device.LocalAgent.Subscription.{i}.NotifRetry").
func (t *T) NeedParam(path string) {
	if t.env.Objects != nil && !t.env.HasParam(path) {
		t.Skipf("the agent's data model has no %s", path)
	}
}

// msgName writes a message type as TP-469 does: ADD_RESP is AddResp.
func msgName(t uspmsg.Header_MsgType) string {
	var b strings.Builder
	for _, w := range strings.Split(t.String(), "_") {
		switch w {
		case "DM":
			b.WriteString("DM")
		case "PROTO":
			b.WriteString("Protocol")
		default:
			b.WriteString(w[:1] + strings.ToLower(w[1:]))
		}
	}
	return b.String()
}

func article(s string) string {
	if strings.ContainsRune("AEIOU", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
