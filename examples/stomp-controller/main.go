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
//		--subscribe ValueChange=Device.WiFi.SSID.*.SSID --listen 1m
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

	"github.com/gousp/gousp/examples/internal/walkthrough"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
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
	destination, agentDestination  string
	walk                           walkthrough.Config // the controller, the agent and what to do with it
}

func parseFlags(args []string) (*config, error) {
	cfg := config{walk: walkthrough.Config{
		Connect: walkthrough.Connect{Record: "STOMPConnect", Address: "destination", Flag: "--agent-destination"},
	}}
	fs := flag.NewFlagSet("stomp-controller", flag.ContinueOnError)
	fs.StringVar(&cfg.broker, "broker", "127.0.0.1:61613", "STOMP broker, host:port")
	fs.StringVar(&cfg.vhost, "host", "/", "the broker's virtual host (STOMP host header)")
	fs.StringVar(&cfg.login, "login", "", "STOMP login")
	fs.StringVar(&cfg.passcode, "passcode", "", "STOMP passcode")
	fs.StringVar(&cfg.walk.ControllerID, "controller-id", "proto::gousp-stomp-controller", "the controller's endpoint ID")
	fs.StringVar(&cfg.destination, "destination", "/queue/usp-controller", "the controller's destination, where agents send to")
	fs.StringVar(&cfg.agentDestination, "agent-destination", "", "the agent's destination; learned from its STOMPConnect record if empty")
	cfg.walk.RegisterFlags(fs) // --agent, --wait, --listen, --count, --subscribe
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if cfg.walk.AgentID == "" {
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
	transport, err := stomp.New(cfg.broker, cfg.walk.ControllerID, opts...)
	if err != nil {
		return err
	}

	// The rest is the same for every MTP: the walkthrough only needs the
	// transport, and the agent's address if --agent-destination gives it.
	cfg.walk.Transport = transport
	cfg.walk.Where = fmt.Sprintf("on %s, destination %s", cfg.broker, cfg.destination)
	if cfg.agentDestination != "" {
		cfg.walk.AgentAddr = mtp.Address{MTP: mtp.STOMP, To: cfg.agentDestination}
	}
	return walkthrough.Run(ctx, cfg.walk, out)
}
