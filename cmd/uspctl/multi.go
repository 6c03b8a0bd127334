package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

// agentList returns the agents named by --agent and --agents, in order.
// multi reports whether the output is per-agent (an agents file, or more
// than one agent).
func (a *app) agentList() (agents []agentSpec, multi bool, err error) {
	seen := map[string]bool{}
	add := func(where string, sp agentSpec) error {
		if _, err := record.ParseEndpointID(sp.ID); err != nil {
			return usageErrorf("%s: %v", where, err)
		}
		if seen[sp.ID] {
			return usageErrorf("%s: agent %s is listed twice", where, sp.ID)
		}
		seen[sp.ID] = true
		agents = append(agents, sp)
		return nil
	}
	for _, v := range a.s.agents {
		id, addr, _ := strings.Cut(strings.TrimSpace(v), "=")
		if err := add("--agent", agentSpec{ID: id, Addr: addr}); err != nil {
			return nil, false, err
		}
	}
	if a.s.agentsFile != "" {
		specs, err := a.readAgentsFile(a.s.agentsFile)
		if err != nil {
			return nil, false, err
		}
		for _, sp := range specs {
			if err := add(fmt.Sprintf("%s:%d", a.s.agentsFile, sp.line), sp.agentSpec); err != nil {
				return nil, false, err
			}
		}
		if len(specs) == 0 {
			return nil, false, usageErrorf("%s lists no agents", a.s.agentsFile)
		}
	}
	return agents, a.s.agentsFile != "" || len(agents) > 1, nil
}

type fileAgent struct {
	agentSpec
	line int
}

// readAgentsFile reads "ENDPOINT-ID [ADDRESS]" lines; blank lines and
// lines starting with # are skipped. "-" reads stdin.
func (a *app) readAgentsFile(name string) ([]fileAgent, error) {
	var r io.Reader
	if name == "-" {
		r = a.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErrorf("--agents: %v", err)
		}
		defer f.Close()
		r = f
	}
	var out []fileAgent
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) > 2 {
			return nil, usageErrorf("%s:%d: expected ENDPOINT-ID [ADDRESS], got %d fields", name, n, len(fields))
		}
		sp := fileAgent{agentSpec: agentSpec{ID: fields[0]}, line: n}
		if len(fields) == 2 {
			sp.Addr = fields[1]
		}
		out = append(out, sp)
	}
	if err := sc.Err(); err != nil {
		return nil, usageErrorf("--agents: %v", err)
	}
	return out, nil
}

// outcome is what one command got from one agent.
type outcome struct {
	agent string
	res   result
	err   error
	code  int
}

// envelope is the JSON shape of one agent's outcome.
type envelope struct {
	Agent    string     `json:"agent"`
	ExitCode int        `json:"exit_code"`
	Error    *jsonError `json:"error,omitempty"`
	Result   result     `json:"result,omitempty"`
}

func (o outcome) envelope() envelope {
	e := envelope{Agent: o.agent, ExitCode: o.code, Error: newJSONError(o.err)}
	if o.err == nil {
		e.Result = o.res
	}
	return e
}

func finish(agent string, res result, err error) outcome {
	o := outcome{agent: agent, res: res, err: err}
	switch {
	case err != nil:
		o.code = exitCode(err)
	case res != nil && res.failed():
		o.code = exitFailed
	}
	return o
}

// requestFunc asks one agent something.
type requestFunc func(ctx context.Context, cn *conn, ag *usp.Agent) (result, error)

// runRequest connects, runs f against every agent (several at once with
// --parallel), prints the outcomes and returns the exit code.
func (a *app) runRequest(ctx context.Context, f requestFunc) error {
	agents, multi, err := a.agentList()
	if err != nil {
		return err
	}
	if len(agents) == 0 {
		return usageErrorf("no agent: give --agent ID or --agents FILE")
	}
	cn, err := a.connect(ctx, agents)
	if err != nil {
		return err
	}
	defer cn.close()

	one := func(ctx context.Context, id string) outcome {
		ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
		defer cancel()
		if err := cn.waitAgent(ctx, id); err != nil {
			return finish(id, nil, err)
		}
		res, err := f(ctx, cn, cn.c.Agent(id))
		if exitCode(err) == exitTimeout {
			info, _ := cn.c.AgentInfo(id)
			err = fmt.Errorf("no answer within %s: %w; %s", a.s.timeout, err, a.noAnswerHint(a.s.controllerID, cn.b, info.Address))
		}
		return finish(id, res, err)
	}
	if !multi {
		o := one(ctx, agents[0].ID)
		return codeErr(a.printSingle(o))
	}
	return codeErr(a.runMany(ctx, agents, one))
}

// printSingle prints the outcome for one agent named with --agent.
func (a *app) printSingle(o outcome) int {
	if a.jsonOutput() {
		if err := a.writeJSON(o.envelope()); err != nil {
			a.errorf("%v", err)
			return exitFailed
		}
		return o.code
	}
	if o.err != nil {
		var buf bytes.Buffer
		writeRequestError(&buf, o.err)
		a.errorf("%s: %s", o.agent, strings.TrimSuffix(strings.TrimPrefix(buf.String(), "ERROR "), "\n"))
		return o.code
	}
	var buf bytes.Buffer
	o.res.writeText(&buf)
	a.writeText(buf.String())
	return o.code
}

// runMany runs one against every agent with bounded parallelism. Text
// outcomes are printed in the order of the list, as soon as the ones
// before them are done, every line prefixed with the agent's ID; JSON
// outcomes make one array.
func (a *app) runMany(ctx context.Context, agents []agentSpec, one func(context.Context, string) outcome) int {
	results := make([]outcome, len(agents))
	done := make([]bool, len(agents))
	width := 0
	for _, ag := range agents {
		width = max(width, len(ag.ID))
	}
	bar := newProgress(a.stderr, len(agents), a.terminal(a.stderr) && !a.s.noProgress)

	var mu sync.Mutex
	next := 0 // first outcome not printed yet
	flush := func() {
		for next < len(agents) && done[next] {
			if !a.jsonOutput() {
				bar.clear()
				a.writeText(prefixLines(agents[next].ID, width, textOf(results[next])))
			}
			next++
		}
		bar.draw()
	}

	sem := make(chan struct{}, a.s.parallel)
	var wg sync.WaitGroup
	for i, ag := range agents {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			results[i], done[i] = finish(ag.ID, nil, ctx.Err()), true
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := one(ctx, ag.ID)
			mu.Lock()
			defer mu.Unlock()
			results[i], done[i] = o, true
			bar.step(o.code != exitOK)
			flush()
		}()
	}
	wg.Wait()
	mu.Lock()
	flush()
	bar.finish()
	mu.Unlock()

	codes := make([]int, len(results))
	for i, o := range results {
		codes[i] = o.code
	}
	if a.jsonOutput() {
		env := make([]envelope, len(results))
		for i, o := range results {
			env[i] = o.envelope()
		}
		if err := a.writeJSON(env); err != nil {
			a.errorf("%v", err)
			return exitFailed
		}
	}
	return worst(codes...)
}

// textOf renders one agent's outcome as text lines.
func textOf(o outcome) string {
	var buf bytes.Buffer
	if o.err != nil {
		writeRequestError(&buf, o.err)
	} else {
		o.res.writeText(&buf)
		if buf.Len() == 0 {
			buf.WriteString("OK\n")
		}
	}
	return buf.String()
}

// prefixLines puts the agent ID, padded to width, before every line.
func prefixLines(agent string, width int, text string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		fmt.Fprintf(&b, "%-*s  %s", width, agent, line)
	}
	return b.String()
}

// progress is a one-line progress bar on a terminal's stderr.
type progress struct {
	w       io.Writer
	on      bool
	total   int
	done    int
	failed  int
	visible bool
}

func newProgress(w io.Writer, total int, on bool) *progress {
	return &progress{w: w, total: total, on: on}
}

func (p *progress) step(failed bool) {
	p.done++
	if failed {
		p.failed++
	}
}

// line renders the bar, e.g. "[#########...........]  9/20 agents, 1 failed".
func (p *progress) line() string {
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = p.done * width / p.total
	}
	s := fmt.Sprintf("[%s%s] %d/%d agents", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.done, p.total)
	if p.failed > 0 {
		s += fmt.Sprintf(", %d failed", p.failed)
	}
	return s
}

func (p *progress) draw() {
	if !p.on {
		return
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line())
	p.visible = true
}

func (p *progress) clear() {
	if p.on && p.visible {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.visible = false
	}
}

func (p *progress) finish() { p.clear() }
