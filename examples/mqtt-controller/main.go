// Mqtt-controller is a USP controller on a real MQTT broker. It finds one
// agent, reads Device.DeviceInfo. from it, then prints the notifications it
// receives for a while.
//
// Start a broker (mosquitto, or any MQTT 5 broker) and an agent configured
// with this controller's endpoint ID and topic, then:
//
//	go run ./examples/mqtt-controller --agent os::012345-000000000001 \
//		--subscribe ValueChange=Device.WiFi.SSID.*.SSID --listen 1m
//
// The agent's topic is learned from the MQTTConnect record an agent sends
// when it connects (start the controller first), or given with --agent-topic
// for an agent that is online already. For an mqtts:// broker, --tls-ca names
// the authority that signed the broker's certificate, and --tls-cert and
// --tls-key a client certificate for brokers that ask for one.
//
// Agents whose MQTT client is 3.1.1 need nothing more: the broker must
// speak both versions (mosquitto does), and the agent must be configured
// with this controller's topic (--topic), where it sends its records with
// a reply-to suffix that the transport subscribes to by default.
//
// Only the transport is MQTT-specific: the controller code, in
// examples/internal/walkthrough, is the same one the STOMP example runs.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/gousp/gousp/examples/internal/walkthrough"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
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
	broker, topic, agentTopic string
	tlsCA, tlsCert, tlsKey    string
	walk                      walkthrough.Config // the controller, the agent and what to do with it
}

func parseFlags(args []string) (*config, error) {
	cfg := config{walk: walkthrough.Config{
		Connect: walkthrough.Connect{Record: "MQTTConnect", Address: "topic", Flag: "--agent-topic"},
	}}
	fs := flag.NewFlagSet("mqtt-controller", flag.ContinueOnError)
	fs.StringVar(&cfg.broker, "broker", "mqtt://127.0.0.1:1883", "broker URL, mqtt:// or mqtts://")
	fs.StringVar(&cfg.walk.ControllerID, "controller-id", "proto::gousp-mqtt-controller", "the controller's endpoint ID")
	fs.StringVar(&cfg.topic, "topic", "/usp/controller", "the controller's topic, where agents send to")
	fs.StringVar(&cfg.agentTopic, "agent-topic", "", "the agent's topic; learned from its MQTTConnect record if empty")
	fs.StringVar(&cfg.tlsCA, "tls-ca", "", "PEM file of the CA that signed the broker's certificate (default: system roots)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM file of a client certificate, for mutual TLS")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM file of the client certificate's key")
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
	tlsCfg, err := tlsConfig(cfg.tlsCA, cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return err
	}
	opts := []mqtt.Option{mqtt.WithTopic(cfg.topic)}
	if tlsCfg != nil {
		opts = append(opts, mqtt.WithTLS(tlsCfg))
	}
	transport, err := mqtt.New(cfg.broker, cfg.walk.ControllerID, opts...)
	if err != nil {
		return err
	}

	// The rest is the same for every MTP: the walkthrough only needs the
	// transport, and the agent's address if --agent-topic gives it.
	cfg.walk.Transport = transport
	cfg.walk.Where = fmt.Sprintf("on %s, topic %s", cfg.broker, cfg.topic)
	if cfg.agentTopic != "" {
		cfg.walk.AgentAddr = mtp.Address{MTP: mtp.MQTT, To: cfg.agentTopic}
	}
	return walkthrough.Run(ctx, cfg.walk, out)
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
