package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gousp/gousp/mtp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// exit codes
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// options is the command line.
type options struct {
	cfg        config
	mtpName    string
	targets    string
	perProcess int
	processes  int
	jsonPath   string
	progress   time.Duration
	worker     bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	c := &o.cfg
	fs := flag.NewFlagSet("uspsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: uspsim [flags]\n       uspsim broker [flags]\n       uspsim controller [flags]\n\n%s\nflags:\n", usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.mtpName, "mtp", "mqtt", "transport of the agents: mqtt, stomp or websocket")
	fs.StringVar(&o.targets, "broker", "mqtt://127.0.0.1:1883", "comma-separated broker URLs (mqtt), host:port (stomp) or controller ws:// URLs (websocket); agents are spread over them")
	fs.IntVar(&c.count, "agents", 100, "number of agents")
	fs.StringVar(&c.controllerID, "controller-id", "proto::controller", "endpoint ID of the controller under test")
	fs.StringVar(&c.controllerAddr, "controller-topic", "usp/controller", "MQTT topic or STOMP destination of the controller")
	fs.StringVar(&c.topicPrefix, "agent-topic-prefix", "usp/agent/", "agent i receives on this prefix followed by its endpoint ID")
	fs.StringVar(&c.prefix, "id-prefix", "uspsim", "agents are named proto::<prefix>-<index>")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the script (which agents are faulty, which act when)")
	fs.IntVar(&c.bootParallel, "boot-parallel", 500, "agents connecting at once during the boot storm (per process)")
	fs.Float64Var(&c.bootRate, "boot-rate", 0, "agents started per second, fleet-wide (0: as fast as -boot-parallel allows)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long the script runs after the boot storm")
	fs.Float64Var(&c.eventRate, "event-rate", 10, "Periodic! events per second, fleet-wide")
	fs.Float64Var(&c.changeRate, "change-rate", 10, "value changes of "+changingParam+" per second, fleet-wide")
	fs.Float64Var(&c.dropRate, "drop-rate", 0, "connections dropped per second, fleet-wide (the agents reconnect)")
	fs.Float64Var(&c.faultyShare, "faulty", 0, "share of faulty agents (0..1): slow, dropping, failing, garbage-sending, mute, or ignoring NotifyResp")
	fs.BoolVar(&c.subscribe, "subscribe", true, "preload subscriptions for the controller to the periodic event and the changing value")
	fs.DurationVar(&c.notifyRetry, "notify-retry", 5*time.Second, "first wait before an unanswered notification is resent")
	fs.StringVar(&c.mqttClient, "mqtt-client", "minimal", "MQTT connection of each agent: minimal (one goroutine, the least memory), own (the transport's default: its own client with a delivery goroutine), lean (paho.golang's client) or autopaho (paho.golang's connection manager)")
	fs.DurationVar(&c.keepAlive, "keep-alive", 60*time.Second, "MQTT keep alive")
	fs.DurationVar(&c.backoffMin, "backoff-min", time.Second, "least wait before a reconnection")
	fs.DurationVar(&c.backoffMax, "backoff-max", 30*time.Second, "longest wait before a reconnection")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "after the script, wait at most this long for outstanding NotifyResps")
	fs.IntVar(&o.perProcess, "per-process", 0, "agents per process (0: as many as the open-files limit allows, at most 15000)")
	fs.IntVar(&o.processes, "processes", 0, "worker processes (0: as -per-process requires; 1 and a small fleet run in this process)")
	fs.StringVar(&o.jsonPath, "json", "-", "where to write the JSON summary (- for standard output)")
	fs.DurationVar(&o.progress, "progress", time.Second, "progress display interval on standard error (0: none)")
	fs.BoolVar(&o.worker, "worker", false, "internal: run one share of the fleet and report as JSON lines")
	fs.IntVar(&c.first, "first", 0, "internal: index of this worker's first agent")
	fs.Float64Var(&c.share, "share", 1, "internal: this worker's share of the fleet-wide rates")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch strings.ToLower(o.mtpName) {
	case "mqtt":
		c.mtp = mtp.MQTT
	case "stomp":
		c.mtp = mtp.STOMP
	case "websocket", "ws":
		c.mtp = mtp.WebSocket
	default:
		return nil, fmt.Errorf("-mtp %q: want mqtt, stomp or websocket", o.mtpName)
	}
	for t := range strings.SplitSeq(o.targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.targets = append(c.targets, t)
		}
	}
	switch {
	case len(c.targets) == 0:
		return nil, errors.New("-broker: no target")
	case c.count <= 0:
		return nil, errors.New("-agents must be positive")
	case c.faultyShare < 0 || c.faultyShare > 1:
		return nil, errors.New("-faulty must be between 0 and 1")
	case c.eventRate < 0 || c.changeRate < 0 || c.dropRate < 0 || c.bootRate < 0:
		return nil, errors.New("rates must not be negative")
	case c.notifyRetry <= 0:
		return nil, errors.New("-notify-retry must be positive")
	case c.share <= 0 || c.share > 1:
		return nil, errors.New("-share must be in (0, 1]")
	case c.mqttClient != "minimal" && c.mqttClient != "own" && c.mqttClient != "lean" && c.mqttClient != "autopaho":
		return nil, fmt.Errorf("-mqtt-client %q: want minimal, own, lean or autopaho", c.mqttClient)
	case o.perProcess < 0 || o.processes < 0:
		return nil, errors.New("-per-process and -processes must not be negative")
	}
	return o, nil
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "broker" || args[0] == "controller") {
		run := runBroker
		if args[0] == "controller" {
			run = runController
		}
		if err := run(ctx, args[1:], stdout, stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			fmt.Fprintf(stderr, "uspsim %s: %v\n", args[0], err)
			return exitFail
		}
		return exitOK
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "uspsim:", err)
		return exitUsage
	}
	if o.worker {
		if err := runWorker(ctx, &o.cfg, o.progress, stdout); err != nil {
			fmt.Fprintln(stderr, "uspsim worker:", err)
			return exitFail
		}
		return exitOK
	}
	sum, err := coordinate(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "uspsim:", err)
		return exitFail
	}
	if err := writeSummary(o.jsonPath, stdout, sum); err != nil {
		fmt.Fprintln(stderr, "uspsim:", err)
		return exitFail
	}
	if sum.Totals.AgentsUp == 0 {
		return exitFail
	}
	return exitOK
}

const usageText = `uspsim starts a fleet of simulated USP agents (usptest agents with the
default TR-181 model, one connection each) against a controller, runs a
seeded script (a boot storm, Periodic! events, value changes, dropped
connections, a share of faulty agents), and reports what the controller did:
NotifyResps and their latency, requests by type, errors, reconnections.
Progress goes to standard error, the JSON summary to -json.

A fleet larger than one process can hold (open files) is spread over worker
processes of this program by itself.

uspsim broker [-listen addr,...] [-controller-id id -controller-topic t]
runs embedded MQTT brokers (and, with -controller-id, a gousp controller
that answers notifications) for a self-contained run of a few thousand
agents; uspsim controller -broker url,... runs only the controllers, for
brokers started elsewhere (mosquitto for larger fleets).`
