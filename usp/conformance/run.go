package conformance

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// registry holds the implemented cases; each file of cases adds its own
// with register from an init function.
var registry []*Case

func register(cs ...*Case) { registry = append(registry, cs...) }

// All returns every case the kit implements, in TP-469 order.
func All() []*Case {
	out := slices.Clone(registry)
	slices.SortFunc(out, func(a, b *Case) int { return order(a.ID, b.ID) })
	return out
}

// Select returns the cases named by patterns: a section ("1"), a case
// ("1.24") or a range of cases ("1.1-1.23"). No pattern selects all.
func Select(cases []*Case, patterns ...string) ([]*Case, error) {
	if len(patterns) == 0 {
		return cases, nil
	}
	var out []*Case
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		lo, hi, isRange := strings.Cut(p, "-")
		n := 0
		for _, c := range cases {
			var hit bool
			switch {
			case isRange:
				hit = order(c.ID, lo) >= 0 && order(c.ID, hi) <= 0
			case !strings.Contains(p, "."):
				hit = fmt.Sprint(c.Section()) == p
			default:
				hit = c.ID == p
			}
			if hit && !slices.Contains(out, c) {
				out = append(out, c)
			}
			if hit {
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("conformance: %q selects no implemented case", p)
		}
	}
	slices.SortFunc(out, func(a, b *Case) int { return order(a.ID, b.ID) })
	return out, nil
}

// Report is the outcome of a run.
type Report struct {
	Agent      string         `json:"agent"`
	Controller string         `json:"controller"`
	Transport  string         `json:"transport"`
	Started    time.Time      `json:"started"`
	Duration   time.Duration  `json:"duration_ns"`
	Features   map[string]any `json:"features"`
	// Setup is the trace of what the kit read before the cases.
	Setup   []TraceEntry `json:"setup_trace,omitempty"`
	Results []*Result    `json:"results"`
}

// Count returns the number of results with verdict v.
func (r *Report) Count(v Verdict) int {
	n := 0
	for _, res := range r.Results {
		if res.Verdict == v {
			n++
		}
	}
	return n
}

// OK reports whether no case failed or ended in error.
func (r *Report) OK() bool { return r.Count(Fail) == 0 && r.Count(Error) == 0 }

// Runner runs cases against the agent behind one Equipment.
type Runner struct {
	Equipment *Equipment
	// Secondary, when set, is a second test equipment endpoint on the same
	// agent, for the cases that need a second controller (1.78).
	Secondary *Equipment
	Config    Config
	// Progress, when set, is called before (r nil) and after each case.
	Progress func(done, total int, c *Case, r *Result)

	once sync.Once
	env  *Env
	rep  *Report
}

// Env reads what the cases need from the agent (once) and returns it.
func (r *Runner) Env(ctx context.Context) *Env {
	r.once.Do(func() {
		r.rep = &Report{Agent: r.Equipment.AgentID(), Controller: r.Equipment.ControllerID(),
			Transport: string(r.Equipment.Transport().Kind()), Started: time.Now()}
		var mu sync.Mutex
		done := false
		r.Equipment.setSink(func(te TraceEntry) {
			mu.Lock()
			if !done { // a late delivery must not touch the finished report
				r.rep.Setup = append(r.rep.Setup, te)
			}
			mu.Unlock()
		})
		r.env = prepare(ctx, r.Equipment, r.Config)
		r.Equipment.setSink(nil)
		mu.Lock()
		done = true
		mu.Unlock()
		r.rep.Features = map[string]any{}
		for f, v := range r.env.Features {
			r.rep.Features[fmt.Sprint(int(f))] = map[string]any{"supported": v, "source": r.env.FeatureSource[f]}
		}
	})
	return r.env
}

// Run runs the cases in order and returns the report.
func (r *Runner) Run(ctx context.Context, cases []*Case) *Report {
	env := r.Env(ctx)
	for i, c := range cases {
		if r.Progress != nil {
			r.Progress(i, len(cases), c, nil)
		}
		res := r.RunCase(ctx, env, c)
		if r.Progress != nil {
			r.Progress(i+1, len(cases), c, res)
		}
	}
	r.rep.Duration = time.Since(r.rep.Started)
	return r.rep
}

// RunCase runs one case and adds its result to the report.
func (r *Runner) RunCase(ctx context.Context, env *Env, c *Case) *Result {
	res := &Result{ID: c.ID, Title: c.Title, Section: c.Section(), Tag: c.Tag(), Start: time.Now()}
	defer func() {
		res.Duration = time.Since(res.Start)
		r.rep.Results = append(r.rep.Results, res)
	}()
	if why, ok := r.Config.Skip[c.ID]; ok {
		res.Verdict, res.Reason = Skip, "skipped by the configuration: "+why
		return res
	}
	if why := env.missing(c); why != "" {
		res.Verdict, res.Reason = Skip, why
		return res
	}
	if c.Destructive != "" && !r.Config.AllowDestructive {
		res.Verdict, res.Reason = Skip, c.Destructive+"; set allow_destructive to run it"
		return res
	}
	if c.Slow > 0 && r.Config.MaxSlow > 0 && c.Slow > time.Duration(r.Config.MaxSlow) {
		res.Verdict, res.Reason = Skip, fmt.Sprintf("waits %v by design, more than max_slow %v", c.Slow, time.Duration(r.Config.MaxSlow))
		return res
	}
	t := &T{ctx: ctx, eq: r.Equipment, second: r.Secondary, env: env, cfg: r.Config, c: c, res: res}
	r.Equipment.setSink(t.trace)
	if r.Secondary != nil {
		r.Secondary.setSink(func(te TraceEntry) {
			te.Note = strings.TrimPrefix(te.Note+"; second controller", "; ")
			t.trace(te)
		})
		defer r.Secondary.setSink(nil)
	}
	t.mark = r.Equipment.Mark()
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(stopCase); !ok {
					t.mu.Lock()
					res.Verdict, res.Reason = Error, fmt.Sprintf("kit bug: panic: %v\n%s", p, debug.Stack())
					t.mu.Unlock()
				}
			}
		}()
		c.Run(t)
	}()
	t.runCleanups()
	r.Equipment.setSink(nil)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	switch {
	case len(res.Failed()) > 0:
		res.Verdict = Fail
		if res.Reason == "" {
			f := res.Failed()[0]
			res.Reason = fmt.Sprintf("metric %d: %s: %s", f.Metric, f.Text, f.Detail)
		}
	case res.Verdict != "":
	case len(res.Criteria) == 0:
		res.Verdict, res.Reason = Error, "kit bug: the procedure checked no criterion"
	default:
		res.Verdict = Pass
	}
	return res
}

// RunTests runs the cases as subtests of t, named "<number> <title>", so
// that a vendor's CI can gate on TP-469: a failed case fails its subtest
// with the failed criteria and the record trace, a case that does not
// apply is skipped with the reason. It returns the report.
func RunTests(t *testing.T, eq *Equipment, cfg Config, cases []*Case) *Report {
	t.Helper()
	return (&Runner{Equipment: eq, Config: cfg}).Tests(t, cases)
}

// Tests is RunTests for a Runner set up by the caller (with a Secondary
// equipment, say).
func (r *Runner) Tests(t *testing.T, cases []*Case) *Report {
	t.Helper()
	ctx := t.Context()
	env := r.Env(ctx)
	for _, c := range cases {
		t.Run(c.ID+" "+c.Title, func(st *testing.T) {
			res := r.RunCase(ctx, env, c)
			switch res.Verdict {
			case Pass:
				for _, cr := range res.Criteria {
					st.Logf("metric %d met: %s", cr.Metric, cr.Text)
				}
			case Skip, NeedsOperator:
				st.Skipf("%s: %s", res.Verdict, res.Reason)
			default:
				st.Errorf("%s: %s\n%s", res.Verdict, res.Reason, TextEvidence(res))
			}
			for _, cl := range res.Cleanup {
				st.Errorf("cleanup failed, the agent was not left as found: %s", cl)
			}
		})
	}
	r.rep.Duration = time.Since(r.rep.Started)
	return r.rep
}
