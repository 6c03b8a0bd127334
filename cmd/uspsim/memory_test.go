package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/gousp/gousp/internal/embedbroker"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// The memory benchmark runs the broker and each kind of client in a
// process of its own (this test binary, started again with childEnv set),
// so that what a process measures is its clients and nothing else.
const childEnv = "USPSIM_TEST_CHILD"

var memAgents = flag.Int("uspsim.memagents", 2000, "clients per kind in BenchmarkAgentMemory")

// childMain runs the role childEnv names, if any, and exits.
func childMain() {
	role := os.Getenv(childEnv)
	if role == "" {
		return
	}
	var err error
	switch role {
	case "broker":
		err = childBroker()
	case "bare", "agents", "agents-lean", "agents-autopaho", "transports", "transports-lean", "transports-minimal", "transports-autopaho":
		n, _ := strconv.Atoi(os.Getenv(childEnv + "_N"))
		err = childClients(role, os.Getenv(childEnv+"_URL"), n)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// childBroker runs an embedded broker until its standard input closes.
func childBroker() error {
	b, err := embedbroker.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Println(b.URL())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return nil
}

// memFigures is what a client process measured: the growth of its live
// heap, goroutine stacks and resident set from before the first client to
// when all n are connected.
type memFigures struct {
	N     int    `json:"n"`
	Heap  uint64 `json:"heap"`
	Stack uint64 `json:"stack"`
	RSS   uint64 `json:"rss"`
}

func childClients(role, brokerURL string, n int) error {
	heap0, stack0 := memory(true)
	rss0 := rss()
	var fig memFigures
	measure := func() {
		heap, stack := memory(true)
		fig = memFigures{N: n, Heap: heap - heap0, Stack: stack - stack0, RSS: rss() - rss0}
	}
	switch role {
	case "bare":
		clients, err := dialBare(brokerURL, n)
		if err != nil {
			return err
		}
		measure()
		for _, c := range clients {
			_ = c.Disconnect(&paho.Disconnect{})
		}
	case "transports", "transports-lean", "transports-minimal", "transports-autopaho":
		var trs []*mqtt.Transport
		for i := range n {
			id := fmt.Sprintf("proto::tr-%06d", i)
			opts := []mqtt.Option{mqtt.WithTopic("usp/agent/" + id), mqtt.WithClientID(id),
				mqtt.WithReceiveMaximum(agentReceiveMaximum)}
			switch role {
			case "transports-lean":
				opts = append(opts, mqtt.WithLeanConnection())
			case "transports-minimal":
				opts = append(opts, mqtt.WithMinimalClient())
			case "transports-autopaho":
				opts = append(opts, mqtt.WithPahoClient())
			}
			tr, err := mqtt.New(brokerURL, id, opts...)
			if err != nil {
				return err
			}
			if err := tr.Start(context.Background(), mtp.HandlerFuncs{}); err != nil {
				return err
			}
			trs = append(trs, tr)
		}
		measure()
		for _, tr := range trs {
			_ = tr.Close(context.Background())
		}
	case "agents", "agents-lean", "agents-autopaho":
		client := strings.TrimPrefix(role, "agents-")
		if role == "agents" {
			client = "minimal" // uspsim's default
		}
		cfg := &config{mqttClient: client, mtp: mtp.MQTT, targets: []string{brokerURL}, controllerID: "proto::controller",
			controllerAddr: "usp/controller", topicPrefix: "usp/agent/", prefix: "mem", count: n, seed: 1,
			bootParallel: 200, subscribe: true, notifyRetry: 5 * time.Second, keepAlive: 60 * time.Second,
			backoffMin: time.Second, backoffMax: 30 * time.Second, share: 1}
		f := newFleet(cfg)
		var onBooted func()
		if path := os.Getenv(childEnv + "_HEAPPROFILE"); path != "" {
			// Where an agent's memory goes, all of them up: set
			// USPSIM_TEST_CHILD_HEAPPROFILE and run the agents role
			// by hand against a broker.
			onBooted = func() { writeHeapProfile(path) }
		}
		if err := f.run(context.Background(), onBooted); err != nil {
			return err
		}
		if up := f.c.agentsUp.Load(); up != int64(n) {
			return fmt.Errorf("%d of %d agents started", up, n)
		}
		fig = memFigures{N: n, Heap: f.peakHeap - heap0, Stack: f.peakStack - stack0, RSS: f.peakRSS - rss0}
	}
	return json.NewEncoder(os.Stdout).Encode(fig)
}

// writeHeapProfile writes the live heap to path, for go tool pprof.
func writeHeapProfile(path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "heap profile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "heap profile:", err)
	}
}

// dialBare connects n bare paho.golang clients (no autopaho, no gousp
// code) with the simulated agents' Receive Maximum, each subscribed to a
// topic of its own as an agent is.
func dialBare(brokerURL string, n int) ([]*paho.Client, error) {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return nil, err
	}
	clients := make([]*paho.Client, n)
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialOneBare(u.Host, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			clients[i] = c
		})
	}
	wg.Wait()
	return clients, firstErr
}

func dialOneBare(addr string, i int) (*paho.Client, error) {
	id := fmt.Sprintf("bare-%06d", i)
	c, err := dialBareClient(addr, id, agentReceiveMaximum, func(paho.PublishReceived) {})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "usp/agent/" + id, QoS: 1}}}); err != nil {
		return nil, err
	}
	return c, nil
}

// startChild starts this test binary in a role; its first line of output
// is returned.
func startChild(tb testing.TB, role string, env ...string) (*exec.Cmd, *bufio.Reader, func()) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	stop := func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
	return cmd, bufio.NewReader(out), stop
}

// BenchmarkAgentMemory measures the memory one simulated agent costs (a
// usptest agent with the default TR-181 model on a gousp MQTT transport
// with the minimal client, as uspsim runs it, once connected, subscribed
// and booted; and the same agents on paho's client in lean mode and on
// autopaho) beside a bare paho.golang client with the same Receive Maximum
// and the transport alone in four modes (the default, its own client with
// a delivery goroutine; lean; minimal; autopaho), each kind -uspsim.memagents
// strong in a process of its own, against one embedded broker in another.
//
//	go test -run '^$' -bench AgentMemory -benchtime 1x ./cmd/uspsim/
func BenchmarkAgentMemory(b *testing.B) {
	n := *memAgents
	_, brokerOut, stopBroker := startChild(b, "broker")
	defer stopBroker()
	line, err := brokerOut.ReadString('\n')
	if err != nil {
		b.Fatalf("broker: %v", err)
	}
	brokerURL := strings.TrimSpace(line)
	run := func(role string) memFigures {
		_, out, stop := startChild(b, role, childEnv+"_URL="+brokerURL, childEnv+"_N="+strconv.Itoa(n))
		defer stop()
		var fig memFigures
		if err := json.NewDecoder(out).Decode(&fig); err != nil {
			b.Fatalf("%s: %v", role, err)
		}
		return fig
	}
	per := func(v uint64) float64 { return float64(v) / float64(n) }
	for b.Loop() {
		bare := run("bare")
		trs := run("transports")
		lean := run("transports-lean")
		minimal := run("transports-minimal")
		autopahoTr := run("transports-autopaho")
		agents := run("agents")
		agentsLean := run("agents-lean")
		agentsAP := run("agents-autopaho")
		b.ReportMetric(per(trs.Heap+trs.Stack), "transport-heap+stack-B/client")
		b.ReportMetric(per(lean.Heap+lean.Stack), "lean-transport-heap+stack-B/client")
		b.ReportMetric(per(agentsAP.Heap+agentsAP.Stack), "autopaho-agent-heap+stack-B/agent")
		b.ReportMetric(per(lean.Stack), "lean-transport-stack-B/client")
		b.ReportMetric(float64(agentsAP.Heap+agentsAP.Stack)/float64(bare.Heap+bare.Stack), "autopaho-agent-heap+stack-ratio")
		b.ReportMetric(float64(lean.Heap+lean.Stack)/float64(bare.Heap+bare.Stack), "lean-transport-heap+stack-ratio")
		b.ReportMetric(per(autopahoTr.Heap+autopahoTr.Stack), "autopaho-transport-heap+stack-B/client")
		b.ReportMetric(per(minimal.Heap+minimal.Stack), "minimal-transport-heap+stack-B/client")
		b.ReportMetric(float64(minimal.Heap+minimal.Stack)/float64(bare.Heap+bare.Stack), "minimal-transport-heap+stack-ratio")
		b.ReportMetric(per(agentsLean.Heap+agentsLean.Stack), "lean-agent-heap+stack-B/agent")
		b.ReportMetric(float64(agentsLean.Heap+agentsLean.Stack)/float64(bare.Heap+bare.Stack), "lean-agent-heap+stack-ratio")
		b.ReportMetric(per(trs.RSS), "transport-rss-B/client")
		b.ReportMetric(per(bare.Heap+bare.Stack), "bare-heap+stack-B/client")
		b.ReportMetric(per(bare.RSS), "bare-rss-B/client")
		b.ReportMetric(per(agents.Heap+agents.Stack), "agent-heap+stack-B/agent")
		b.ReportMetric(per(agents.RSS), "agent-rss-B/agent")
		// The stacks alone: goroutines (autopaho's two beside paho's
		// three) are about half of what a client on them costs.
		b.ReportMetric(per(bare.Stack), "bare-stack-B/client")
		b.ReportMetric(per(trs.Stack), "transport-stack-B/client")
		b.ReportMetric(per(agents.Stack), "agent-stack-B/agent")
		b.ReportMetric(float64(agents.Heap+agents.Stack)/float64(bare.Heap+bare.Stack), "heap+stack-ratio")
		b.ReportMetric(float64(agents.RSS)/float64(bare.RSS), "rss-ratio")
	}
}
