// Stomp-controller is a USP controller on a STOMP broker such as RabbitMQ
// (with its rabbitmq_stomp plugin). It finds one agent, reads
// Device.DeviceInfo. from it, then prints the notifications it receives for a
// while.
//
// Start the broker and an agent configured with this controller's endpoint ID
// and destination, then:
//
//	go run ./examples/stomp-controller --broker 127.0.0.1:61613 \
//		--agent os::012345-000000000001 --login guest --passcode guest \
//		--subscribe ValueChange:Device.WiFi.SSID.*.SSID --listen 1m
//
// The agent's destination is learned from the STOMPConnect record an agent
// sends when it connects (start the controller first), or given with
// --agent-destination for an agent that is online already. Records travel
// with a reply-to-dest header naming the sender's destination, so the agent
// knows where to answer.
//
// Only the transport is STOMP-specific: the controller code, in
// examples/internal/walkthrough, is the same one the MQTT example runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/gousp/gousp/examples/internal/walkthrough"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/usp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stomp-controller:", err)
		os.Exit(1)
	}
}

type config struct {
	broker, vhost, login, passcode string
	controllerID, destination      string
	agent, agentDestination        string
	wait, listen                   time.Duration
	count                          int
	subscribe                      []usp.SubscriptionSpec
}

func parseFlags(args []string) (*config, error) {
	var cfg config
	fs := flag.NewFlagSet("stomp-controller", flag.ContinueOnError)
	fs.StringVar(&cfg.broker, "broker", "127.0.0.1:61613", "STOMP broker, host:port")
	fs.StringVar(&cfg.vhost, "host", "/", "the broker's virtual host (STOMP host header)")
	fs.StringVar(&cfg.login, "login", "", "STOMP login")
	fs.StringVar(&cfg.passcode, "passcode", "", "STOMP passcode")
	fs.StringVar(&cfg.controllerID, "controller-id", "proto::gousp-stomp-controller", "the controller's endpoint ID")
	fs.StringVar(&cfg.destination, "destination", "/queue/usp-controller", "the controller's destination, where agents send to")
	fs.StringVar(&cfg.agent, "agent", "", "the agent's endpoint ID (required)")
	fs.StringVar(&cfg.agentDestination, "agent-destination", "", "the agent's destination; learned from its STOMPConnect record if empty")
	fs.DurationVar(&cfg.wait, "wait", time.Minute, "how long to wait for the agent's STOMPConnect record")
	fs.DurationVar(&cfg.listen, "listen", 30*time.Second, "how long to print notifications")
	fs.IntVar(&cfg.count, "count", 0, "stop after this many notifications (0: no limit)")
	fs.Func("subscribe", "subscribe to `TYPE:PATH[,PATH...]` (e.g. ValueChange:Device.WiFi.SSID.*.SSID); repeatable", walkthrough.AppendSpec(&cfg.subscribe))
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if cfg.agent == "" {
		return nil, errors.New("--agent is required")
	}
	return &cfg, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	opts := []stomp.Option{stomp.WithDestination(cfg.destination), stomp.WithHost(cfg.vhost)}
	if cfg.login != "" || cfg.passcode != "" {
		opts = append(opts, stomp.WithCredentials(cfg.login, cfg.passcode))
	}
	transport, err := stomp.New(cfg.broker, cfg.controllerID, opts...)
	if err != nil {
		return err
	}

	// Everything else is the same for every MTP; the address is known
	// only if --agent-destination gives it.
	var agentAddr mtp.Address
	if cfg.agentDestination != "" {
		agentAddr = mtp.Address{MTP: mtp.STOMP, To: cfg.agentDestination}
	}
	return walkthrough.Run(ctx, walkthrough.Config{
		ControllerID: cfg.controllerID,
		Transport:    transport,
		Where:        fmt.Sprintf("on %s, destination %s", cfg.broker, cfg.destination),
		AgentID:      cfg.agent,
		AgentAddr:    agentAddr,
		Wait:         cfg.wait,
		Connect:      walkthrough.Connect{Record: "STOMPConnect", Address: "destination", Flag: "--agent-destination"},
		Subscribe:    cfg.subscribe,
		Listen:       cfg.listen,
		Count:        cfg.count,
	}, out)
}
