// Mqtt-controller is a USP controller on a real MQTT broker. It finds one
// agent, reads Device.DeviceInfo. from it, then prints the notifications it
// receives for a while.
//
// Start a broker (mosquitto, or any MQTT 5 broker) and an agent configured
// with this controller's endpoint ID and topic, then:
//
//	go run ./examples/mqtt-controller --agent os::012345-000000000001 \
//		--subscribe ValueChange:Device.WiFi.SSID.*.SSID --listen 1m
//
// The agent's topic is learned from the MQTTConnect record an agent sends
// when it connects (start the controller first), or given with --agent-topic
// for an agent that is online already. For an mqtts:// broker, --tls-ca names
// the authority that signed the broker's certificate, and --tls-cert and
// --tls-key a client certificate for brokers that ask for one.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
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
		fmt.Fprintln(os.Stderr, "mqtt-controller:", err)
		os.Exit(1)
	}
}

type config struct {
	broker, controllerID, topic string
	agent, agentTopic           string
	tlsCA, tlsCert, tlsKey      string
	wait, listen                time.Duration
	count                       int
	subscribe                   []usp.SubscriptionSpec
}

func parseFlags(args []string) (*config, error) {
	var cfg config
	fs := flag.NewFlagSet("mqtt-controller", flag.ContinueOnError)
	fs.StringVar(&cfg.broker, "broker", "mqtt://127.0.0.1:1883", "broker URL, mqtt:// or mqtts://")
	fs.StringVar(&cfg.controllerID, "controller-id", "proto::gousp-mqtt-controller", "the controller's endpoint ID")
	fs.StringVar(&cfg.topic, "topic", "/usp/controller", "the controller's topic, where agents send to")
	fs.StringVar(&cfg.agent, "agent", "", "the agent's endpoint ID (required)")
	fs.StringVar(&cfg.agentTopic, "agent-topic", "", "the agent's topic; learned from its MQTTConnect record if empty")
	fs.StringVar(&cfg.tlsCA, "tls-ca", "", "PEM file of the CA that signed the broker's certificate (default: system roots)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM file of a client certificate, for mutual TLS")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM file of the client certificate's key")
	fs.DurationVar(&cfg.wait, "wait", time.Minute, "how long to wait for the agent's MQTTConnect record")
	fs.DurationVar(&cfg.listen, "listen", 30*time.Second, "how long to print notifications")
	fs.IntVar(&cfg.count, "count", 0, "stop after this many notifications (0: no limit)")
	fs.Func("subscribe", "subscribe to `TYPE:PATH[,PATH...]` (e.g. ValueChange:Device.WiFi.SSID.*.SSID); repeatable", func(s string) error {
		kind, refs, ok := strings.Cut(s, ":")
		if !ok || kind == "" || refs == "" {
			return errors.New("want TYPE:PATH[,PATH...]")
		}
		cfg.subscribe = append(cfg.subscribe, usp.SubscriptionSpec{NotifType: kind, ReferenceList: strings.Split(refs, ","), NotifRetry: true})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if cfg.agent == "" {
		return nil, errors.New("--agent is required")
	}
	return &cfg, nil
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	tlsCfg, err := tlsConfig(cfg.tlsCA, cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return err
	}
	opts := []mqtt.Option{mqtt.WithTopic(cfg.topic)}
	if tlsCfg != nil {
		opts = append(opts, mqtt.WithTLS(tlsCfg))
	}
	transport, err := mqtt.New(cfg.broker, cfg.controllerID, opts...)
	if err != nil {
		return err
	}

	// The agent is known either from the flags or, once it connects, from
	// its MQTTConnect record: the handler tells us when that happens.
	arrived := make(chan usp.AgentInfo, 1)
	ctrlOpts := []usp.Option{
		usp.WithTransport(transport),
		usp.WithAgentHandler(func(ev usp.AgentEvent) {
			if ev.Kind == usp.AgentConnected && ev.Agent.EndpointID == cfg.agent {
				select {
				case arrived <- ev.Agent:
				default:
				}
			}
		}),
	}
	if cfg.agentTopic != "" {
		ctrlOpts = append(ctrlOpts, usp.WithAgent(cfg.agent, mtp.Address{MTP: mtp.MQTT, To: cfg.agentTopic}))
	}
	c, err := usp.NewController(cfg.controllerID, ctrlOpts...)
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(context.Background()); err == nil {
			err = cerr
		}
	}()
	fmt.Fprintf(out, "controller %s on %s, topic %s\n", cfg.controllerID, cfg.broker, cfg.topic)

	if cfg.agentTopic == "" {
		fmt.Fprintf(out, "waiting for %s to connect...\n", cfg.agent)
		wctx, cancel := context.WithTimeout(ctx, cfg.wait)
		defer cancel()
		select {
		case info := <-arrived:
			fmt.Fprintf(out, "agent %s connected, topic %s\n", info.EndpointID, info.Address.To)
		case <-wctx.Done():
			return fmt.Errorf("no MQTTConnect record from %s (give --agent-topic for an agent already online): %w", cfg.agent, wctx.Err())
		}
	}
	agent := c.Agent(cfg.agent)

	vals, err := agent.GetValues(ctx, "Device.DeviceInfo.")
	if err != nil {
		return fmt.Errorf("reading Device.DeviceInfo.: %w", err)
	}
	fmt.Fprintln(out, "\nDevice.DeviceInfo.")
	table(out, vals)

	// Collect notifications before subscribing, so that none is missed.
	// A full backlog refuses a notification: the agent sends it again.
	notes := make(chan *usp.Notification, 64)
	remove := c.OnNotify(func(_ context.Context, n *usp.Notification) error {
		select {
		case notes <- n:
			return nil
		default:
			return errors.New("backlog full")
		}
	})
	defer remove()

	for _, spec := range cfg.subscribe {
		sub, err := agent.Subscribe(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "subscribed to %s %v as %s\n", spec.NotifType, spec.ReferenceList, sub.Path())
		defer func() {
			// The subscription object lives on the agent: remove it, even
			// when ctx has ended.
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if uerr := sub.Unsubscribe(uctx); err == nil {
				err = uerr
			}
		}()
	}

	fmt.Fprintf(out, "\nlistening for notifications for %s\n", cfg.listen)
	end := time.After(cfg.listen)
	n := 0
loop:
	for cfg.count == 0 || n < cfg.count {
		select {
		case note := <-notes:
			n++
			fmt.Fprintf(out, "%s  %s  %s\n", note.Received.Format(time.TimeOnly), note.AgentID, describe(note.Body))
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	fmt.Fprintf(out, "%d notifications\n", n)
	return nil
}

// describe renders one notification on one line.
func describe(n msg.Notification) string {
	switch b := n.(type) {
	case *msg.ValueChange:
		return fmt.Sprintf("ValueChange %s = %q", b.ParamPath, b.ParamValue)
	case *msg.Event:
		return fmt.Sprintf("Event %s %v", b.Path(), b.Params)
	case *msg.ObjectCreation:
		return fmt.Sprintf("ObjectCreation %s %v", b.ObjPath, b.UniqueKeys)
	case *msg.ObjectDeletion:
		return "ObjectDeletion " + b.ObjPath
	case *msg.OperationComplete:
		if b.Err != nil {
			return fmt.Sprintf("OperationComplete %s key=%s failed: %v", b.Path(), b.CommandKey, b.Err)
		}
		return fmt.Sprintf("OperationComplete %s key=%s %v", b.Path(), b.CommandKey, b.OutputArgs)
	case *msg.OnBoardRequest:
		return fmt.Sprintf("OnBoardRequest %s-%s-%s versions %s", b.OUI, b.ProductClass, b.SerialNumber, b.AgentSupportedProtocolVersions)
	}
	return n.Kind()
}

// tlsConfig builds the TLS configuration of the flags, or nil when none
// is given (mqtts:// brokers are then checked against the system roots).
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func table(out io.Writer, m map[string]string) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "  %s\t%s\n", k, m[k])
	}
	_ = w.Flush()
}
