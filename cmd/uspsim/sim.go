package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
)

// What the script changes, and what the preloaded subscriptions watch.
const (
	periodicEvent = "Device.LocalAgent.Periodic!"
	changingParam = "Device.WiFi.SSID.1.Stats.BytesSent"
)

// Fault kinds a share of the fleet gets (see usptest.Faults).
var faultKinds = []string{"slow", "drop-requests", "ignore-notify-resp", "fail-requests", "garbage", "mute"}

// config is one run of the simulator (or the share of one worker process).
type config struct {
	mtp            mtp.Kind
	targets        []string // broker URLs (MQTT), host:port (STOMP) or ws:// URLs, agents spread over them
	controllerID   string
	controllerAddr string // MQTT topic or STOMP destination of the controller
	topicPrefix    string // agent i receives on topicPrefix + its endpoint ID
	prefix         string // agent endpoint IDs are proto::<prefix>-<index>
	first, count   int    // this process simulates agents first .. first+count-1
	seed           uint64
	bootParallel   int           // agents starting at once
	bootRate       float64       // agents started per second (0: as fast as bootParallel allows)
	duration       time.Duration // how long the script runs after the boot storm
	eventRate      float64       // periodic events per second, fleet-wide
	changeRate     float64       // value changes per second, fleet-wide
	dropRate       float64       // forced connection drops per second, fleet-wide
	faultyShare    float64       // share of agents that misbehave
	subscribe      bool          // preload the controller's subscriptions
	notifyRetry    time.Duration
	keepAlive      time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	drain          time.Duration // after the script, wait at most this long for outstanding NotifyResps
	share          float64       // this process's share of the fleet-wide rates
	// mqttClient is the connection of MQTT agents: "minimal" (the
	// transport's own one-goroutine client, mqtt.WithMinimalClient; the
	// default), "own" (the transport's default, its own client with a
	// delivery goroutine), "lean" (paho.golang's client,
	// mqtt.WithLeanConnection) or "autopaho" (mqtt.WithPahoClient);
	// BenchmarkAgentMemory measures them all.
	mqttClient string
}

// fleet is the agents of one process.
type fleet struct {
	cfg    *config
	c      *counters
	agents []*simAgent
	mu     sync.Mutex
	live   []*simAgent // started
	phase  atomic.Value

	// Read once the script is over, with every agent still up.
	peakHeap, peakStack, peakRSS uint64
	unanswered                   int64
}

func newFleet(cfg *config) *fleet {
	f := &fleet{cfg: cfg, c: newCounters()}
	f.phase.Store("boot")
	return f
}

// report is the process's figures so far, with its memory.
func (f *fleet) report(gc bool) report {
	f.mu.Lock()
	live := append([]*simAgent(nil), f.live...)
	f.mu.Unlock()
	var pending int64
	for _, a := range live {
		pending += int64(a.pendingCount())
	}
	r := f.c.snapshot(f.cfg.count, pending)
	r.HeapBytes, r.StackBytes = memory(gc)
	r.RSSBytes = rss()
	return r
}

// measure reads the memory (after a collection) and the notifications
// left unanswered, with every agent still up.
func (f *fleet) measure() {
	r := f.report(true)
	f.peakHeap, f.peakStack, f.peakRSS, f.unanswered = r.HeapBytes, r.StackBytes, r.RSSBytes, r.NotifyUnanswered
}

// rss returns the process's resident set size, 0 where /proc is missing.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// memory returns the live heap and the goroutine stacks, after a
// collection when gc is set.
func memory(gc bool) (heap, stack uint64) {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// run simulates the fleet: the boot storm, then the script for the
// configured duration, then a drain; it closes every agent before it
// returns. onBooted is called once the boot storm is over.
func (f *fleet) run(ctx context.Context, onBooted func()) error {
	cfg := f.cfg
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(cfg.first)))
	faulty := rand.New(rand.NewPCG(cfg.seed, 0x5eed))
	for i := cfg.first; i < cfg.first+cfg.count; i++ {
		a, err := newSimAgent(cfg, i, f.c)
		if err != nil {
			f.closeAll()
			return err
		}
		f.agents = append(f.agents, a)
	}
	// Faulty agents: a fixed choice per index, so that a run split over
	// processes picks the same ones as a run in one.
	for _, a := range f.agents {
		fr := rand.New(rand.NewPCG(faulty.Uint64()^uint64(a.idx), uint64(a.idx)))
		if fr.Float64() < cfg.faultyShare {
			a.fault = faultKinds[fr.IntN(len(faultKinds))]
			f.c.faulty[a.fault]++
		}
	}
	defer f.closeAll()

	f.boot(ctx)
	if onBooted != nil {
		onBooted()
	}
	f.phase.Store("script")
	f.script(ctx, rng)
	f.phase.Store("drain")
	f.drainNotifications(ctx)
	f.measure()
	return ctx.Err()
}

// boot starts the agents, bootParallel at a time and at most bootRate a
// second: each connects, sends its connect record and its Boot!.
func (f *fleet) boot(ctx context.Context) {
	cfg := f.cfg
	sem := make(chan struct{}, max(cfg.bootParallel, 1))
	var tick *time.Ticker
	if cfg.bootRate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / (cfg.bootRate * cfg.share)))
		defer tick.Stop()
	}
	var wg sync.WaitGroup
	for _, a := range f.agents {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := a.agent.Start(sctx); err != nil {
				f.c.startFailed.Add(1)
				return
			}
			f.c.observe(&f.c.start, time.Since(start))
			f.c.agentsUp.Add(1)
			f.applyFault(ctx, a)
			f.mu.Lock()
			f.live = append(f.live, a)
			f.mu.Unlock()
		})
	}
	wg.Wait()
}

// applyFault makes a faulty agent misbehave from now on.
func (f *fleet) applyFault(ctx context.Context, a *simAgent) {
	const many = 1 << 30
	fl := a.agent.Faults()
	switch a.fault {
	case "slow":
		fl.Delay(2 * time.Second)
	case "drop-requests":
		fl.DropNext(many)
	case "ignore-notify-resp":
		fl.IgnoreNotifyResp(many)
	case "fail-requests":
		for _, t := range []uspmsg.Header_MsgType{uspmsg.Header_GET, uspmsg.Header_SET, uspmsg.Header_ADD,
			uspmsg.Header_DELETE, uspmsg.Header_OPERATE, uspmsg.Header_GET_INSTANCES, uspmsg.Header_GET_SUPPORTED_DM} {
			for range 64 {
				fl.FailNext(t, msg.CodeInternal)
			}
		}
	case "garbage":
		_ = fl.SendGarbage(ctx)
	case "mute":
		fl.Mute(true)
	}
}

// script runs periodic events, value changes and connection drops at
// their fleet-wide rates (this process's share of them), each on a random
// started agent, until the duration is over.
func (f *fleet) script(ctx context.Context, rng *rand.Rand) {
	cfg := f.cfg
	if cfg.duration <= 0 {
		return
	}
	deadline := time.NewTimer(cfg.duration)
	defer deadline.Stop()
	type action struct {
		rate float64
		do   func(a *simAgent)
		next time.Time
	}
	bytes := map[int]uint64{}
	actions := []*action{
		{rate: cfg.eventRate, do: func(a *simAgent) {
			if a.agent.Emit(ctx, periodicEvent, nil) == nil {
				f.c.events.Add(1)
			}
		}},
		{rate: cfg.changeRate, do: func(a *simAgent) {
			bytes[a.idx] += 1 + rng.Uint64N(1<<20)
			if a.agent.Model().Set(changingParam, strconv.FormatUint(bytes[a.idx], 10)) == nil {
				f.c.valueChanges.Add(1)
			}
		}},
		{rate: cfg.dropRate, do: func(a *simAgent) {
			if a.drop() {
				f.c.forcedDrops.Add(1)
			}
		}},
	}
	now := time.Now()
	for _, ac := range actions {
		ac.rate *= cfg.share
		if ac.rate > 0 {
			ac.next = now.Add(expDelay(rng, ac.rate))
		}
	}
	for {
		f.mu.Lock()
		live := f.live
		f.mu.Unlock()
		var soonest *action
		for _, ac := range actions {
			if ac.rate > 0 && (soonest == nil || ac.next.Before(soonest.next)) {
				soonest = ac
			}
		}
		if soonest == nil || len(live) == 0 {
			select {
			case <-deadline.C:
			case <-ctx.Done():
			}
			return
		}
		wait := time.NewTimer(time.Until(soonest.next))
		select {
		case <-deadline.C:
			wait.Stop()
			return
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		soonest.do(live[rng.IntN(len(live))])
		// Poisson arrivals; a late loop catches up rather than drifts.
		soonest.next = soonest.next.Add(expDelay(rng, soonest.rate))
	}
}

// expDelay is the wait before the next of events arriving at rate a
// second, at random (exponentially distributed).
func expDelay(rng *rand.Rand, rate float64) time.Duration {
	return time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
}

// drainNotifications waits until every notification sent has its
// NotifyResp (those of agents that ignore NotifyResps excepted), at most
// cfg.drain.
func (f *fleet) drainNotifications(ctx context.Context) {
	if f.cfg.drain <= 0 {
		return
	}
	deadline := time.Now().Add(f.cfg.drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		f.mu.Lock()
		live := f.live
		f.mu.Unlock()
		waiting := false
		for _, a := range live {
			if a.fault != "ignore-notify-resp" && a.fault != "mute" && a.pendingCount() > 0 {
				waiting = true
				break
			}
		}
		if !waiting {
			return
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// closeAll closes every agent, a few at a time.
func (f *fleet) closeAll() {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var errs atomic.Int64
	for _, a := range f.agents {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.agent.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	f.agents = nil
}
