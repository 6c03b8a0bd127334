package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Open files a process keeps for itself (standard streams, listeners,
// pipes to workers) besides one per agent.
const reservedFiles = 200

// maxPerProcess bounds a process's agents even where the open-files
// limit would allow more: past it one process's garbage collector and
// scheduler, not memory, become the limit.
const maxPerProcess = 15000

// perProcessLimit is how many agents one process may simulate here.
func perProcessLimit(requested int) int {
	limit := maxPerProcess
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > reservedFiles {
		limit = min(limit, int(rl.Cur)-reservedFiles)
	}
	if requested > 0 {
		return min(requested, limit)
	}
	return limit
}

// summary is the JSON the simulator writes at the end.
type summary struct {
	Config struct {
		MTP          string   `json:"mtp"`
		Targets      []string `json:"targets"`
		ControllerID string   `json:"controller_id"`
		Agents       int      `json:"agents"`
		Processes    int      `json:"processes"`
		Seed         uint64   `json:"seed"`
		Duration     string   `json:"duration"`
		EventRate    float64  `json:"event_rate"`
		ChangeRate   float64  `json:"change_rate"`
		DropRate     float64  `json:"drop_rate"`
		FaultyShare  float64  `json:"faulty_share"`
	} `json:"config"`
	ElapsedSeconds  float64 `json:"elapsed_s"`
	BootStormSecond float64 `json:"boot_storm_s"`
	Totals          report  `json:"totals"`
	Latency         struct {
		NotifyResp   latency `json:"notify_resp"`
		FirstRequest latency `json:"boot_to_first_request"`
		Reconnect    latency `json:"reconnect"`
		Start        latency `json:"agent_start"`
	} `json:"latency_ms"`
	Memory struct {
		HeapPerAgent  uint64 `json:"heap_bytes_per_agent"`
		StackPerAgent uint64 `json:"stack_bytes_per_agent"`
		RSSPerAgent   uint64 `json:"rss_bytes_per_agent"`
	} `json:"memory"`
	Errors []string `json:"errors,omitempty"`
}

func (s *summary) finish(o *options, procs int, tot report, elapsed, boot time.Duration) {
	c := &o.cfg
	s.Config.MTP, s.Config.Targets, s.Config.ControllerID = string(c.mtp), c.targets, c.controllerID
	s.Config.Agents, s.Config.Processes, s.Config.Seed = c.count, procs, c.seed
	s.Config.Duration = c.duration.String()
	s.Config.EventRate, s.Config.ChangeRate, s.Config.DropRate, s.Config.FaultyShare = c.eventRate, c.changeRate, c.dropRate, c.faultyShare
	s.ElapsedSeconds = elapsed.Seconds()
	s.BootStormSecond = boot.Seconds()
	s.Totals = tot
	s.Latency.NotifyResp = tot.NotifyResp.summary()
	s.Latency.FirstRequest = tot.FirstReq.summary()
	s.Latency.Reconnect = tot.ReconnectIn.summary()
	s.Latency.Start = tot.Start.summary()
	// The histograms travel from the workers; the summary has their
	// figures in latency_ms.
	s.Totals.NotifyResp, s.Totals.FirstReq, s.Totals.ReconnectIn, s.Totals.Start = hist{}, hist{}, hist{}, hist{}
	if tot.AgentsUp > 0 {
		n := uint64(tot.AgentsUp)
		s.Memory.HeapPerAgent, s.Memory.StackPerAgent, s.Memory.RSSPerAgent = tot.HeapBytes/n, tot.StackBytes/n, tot.RSSBytes/n
	}
}

func writeSummary(path string, stdout io.Writer, s *summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" || path == "" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// coordinate runs the fleet, in this process when it fits and one was
// not asked for more, else over worker processes, and shows progress.
func coordinate(ctx context.Context, o *options, stderr io.Writer) (*summary, error) {
	per := perProcessLimit(o.perProcess)
	procs := o.processes
	if procs == 0 {
		procs = (o.cfg.count + per - 1) / per
	}
	if (o.cfg.count+procs-1)/procs > perProcessLimit(0) {
		return nil, fmt.Errorf("%d agents over %d processes exceed the open-files limit of one process", o.cfg.count, procs)
	}
	start := time.Now()
	if procs == 1 && o.processes == 0 {
		return runLocal(ctx, o, stderr, start)
	}
	return runWorkers(ctx, o, procs, stderr, start)
}

// runLocal runs the whole fleet in this process.
func runLocal(ctx context.Context, o *options, stderr io.Writer, start time.Time) (*summary, error) {
	f := newFleet(&o.cfg)
	var bootDone time.Duration
	stop := startProgress(o.progress, stderr, start, func() (report, string) { return f.report(false), f.phase.Load().(string) })
	err := f.run(ctx, func() { bootDone = time.Since(start) })
	stop()
	tot := f.c.snapshot(o.cfg.count, 0)
	// Memory is read while the agents were up; after the run they are
	// closed, so take it from the last progress report instead.
	tot.HeapBytes, tot.StackBytes, tot.RSSBytes = f.peakHeap, f.peakStack, f.peakRSS
	tot.NotifyUnanswered = f.unanswered
	s := &summary{}
	s.finish(o, 1, tot, time.Since(start), bootDone)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.Errors = append(s.Errors, err.Error())
	}
	return s, nil
}

// workerLine is one line a worker writes on its standard output.
type workerLine struct {
	Phase  string  `json:"phase"`
	Final  bool    `json:"final"`
	BootS  float64 `json:"boot_s"`
	Report report  `json:"report"`
	Err    string  `json:"error,omitempty"`
}

// runWorker runs this process's share and reports it as JSON lines: one
// per interval while it runs, and the final one.
func runWorker(ctx context.Context, cfg *config, every time.Duration, stdout io.Writer) error {
	f := newFleet(cfg)
	enc := json.NewEncoder(stdout)
	var mu sync.Mutex
	emit := func(l workerLine) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(l)
	}
	start := time.Now()
	var bootS float64
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				emit(workerLine{Phase: f.phase.Load().(string), Report: f.report(false)})
			}
		}
	})
	err := f.run(ctx, func() { bootS = time.Since(start).Seconds() })
	close(done)
	wg.Wait()
	tot := f.c.snapshot(cfg.count, f.unanswered)
	tot.HeapBytes, tot.StackBytes, tot.RSSBytes = f.peakHeap, f.peakStack, f.peakRSS
	l := workerLine{Phase: "done", Final: true, BootS: bootS, Report: tot}
	if err != nil && !errors.Is(err, context.Canceled) {
		l.Err = err.Error()
	}
	emit(l)
	return nil
}

// runWorkers starts procs copies of this program, each with its share of
// the fleet, and merges what they report.
func runWorkers(ctx context.Context, o *options, procs int, stderr io.Writer, start time.Time) (*summary, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &o.cfg
	stderr = &lockedWriter{w: stderr} // the workers' and the progress display's
	type worker struct {
		cmd   *exec.Cmd
		last  workerLine
		final bool
	}
	workers := make([]*worker, procs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	first := 0
	for i := range procs {
		n := c.count / procs
		if i < c.count%procs {
			n++
		}
		args := workerArgs(o, first, n, float64(n)/float64(c.count))
		first += n
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			for _, w := range workers[:i] {
				_ = w.cmd.Process.Kill()
				_ = w.cmd.Wait()
			}
			return nil, fmt.Errorf("starting worker %d: %w", i, err)
		}
		w := &worker{cmd: cmd}
		workers[i] = w
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				var l workerLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					continue
				}
				mu.Lock()
				w.last = l
				w.final = w.final || l.Final
				if l.Err != "" {
					errs = append(errs, l.Err)
				}
				mu.Unlock()
			}
			if err := cmd.Wait(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("worker %d: %v", i, err))
				mu.Unlock()
			}
		})
	}
	merged := func() (report, string, float64) {
		mu.Lock()
		defer mu.Unlock()
		var tot report
		phase := "done"
		var boot float64
		for _, w := range workers {
			tot.merge(w.last.Report)
			boot = max(boot, w.last.BootS)
			if w.last.Phase != "done" && w.last.Phase != "" && phase == "done" || w.last.Phase == "boot" {
				phase = w.last.Phase
			}
		}
		return tot, phase, boot
	}
	stop := startProgress(o.progress, stderr, start, func() (report, string) {
		r, p, _ := merged()
		return r, p
	})
	wg.Wait()
	stop()
	tot, _, boot := merged()
	tot.Agents = int64(c.count)
	s := &summary{}
	s.finish(o, procs, tot, time.Since(start), time.Duration(boot*float64(time.Second)))
	s.Errors = errs
	for i, w := range workers {
		if !w.final {
			s.Errors = append(s.Errors, fmt.Sprintf("worker %d ended without its final report", i))
		}
	}
	return s, nil
}

// workerArgs is the command line of a worker simulating n agents from
// first on.
func workerArgs(o *options, first, n int, share float64) []string {
	c := &o.cfg
	f := func(d time.Duration) string { return d.String() }
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return []string{"-worker",
		"-mtp", string(c.mtp), "-broker", o.targets, "-agents", strconv.Itoa(n), "-first", strconv.Itoa(first),
		"-share", g(share), "-controller-id", c.controllerID, "-controller-topic", c.controllerAddr,
		"-agent-topic-prefix", c.topicPrefix, "-id-prefix", c.prefix, "-seed", strconv.FormatUint(c.seed, 10),
		"-boot-parallel", strconv.Itoa(c.bootParallel), "-boot-rate", g(c.bootRate), "-duration", f(c.duration),
		"-event-rate", g(c.eventRate), "-change-rate", g(c.changeRate), "-drop-rate", g(c.dropRate),
		"-faulty", g(c.faultyShare), "-subscribe=" + strconv.FormatBool(c.subscribe), "-notify-retry", f(c.notifyRetry),
		"-keep-alive", f(c.keepAlive), "-mqtt-client", c.mqttClient, "-backoff-min", f(c.backoffMin), "-backoff-max", f(c.backoffMax),
		"-drain", f(c.drain), "-progress", f(max(o.progress, 200*time.Millisecond)),
	}
}

// startProgress prints a line of figures every interval until the
// returned function is called.
func startProgress(every time.Duration, w io.Writer, start time.Time, read func() (report, string)) func() {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r, phase := read()
				nr := r.NotifyResp.summary()
				fmt.Fprintf(w, "%6.1fs %-6s up %d/%d failed %d | notify sent %d answered %d (p99 %.1fms) retrans %d | requests %d | lost %d reconnects %d | errors %d | rss %d MiB\n",
					time.Since(start).Seconds(), phase, r.AgentsUp, r.Agents, r.StartFailed, r.NotifySent, r.NotifyAnswered, nr.P99,
					r.NotifyRetrans, r.Requests, r.Downs, r.Reconnects, r.ErrorsFromCtl+r.SendErrors, r.RSSBytes>>20)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
