package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gousp/gousp/internal/embedbroker"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/usp"
)

// runBroker is "uspsim broker": embedded MQTT brokers, one per -listen
// address, and optionally a gousp controller on each that answers every
// notification, for a run that needs nothing installed. It prints the
// broker URLs, comma-separated, on a line of standard output once they
// listen, and runs until ctx ends.
func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("uspsim broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:1883", "comma-separated listen addresses, one broker each (port 0 picks one)")
	ctrlID := fs.String("controller-id", "", "also run a gousp controller with this endpoint ID on each broker")
	ctrlTopic := fs.String("controller-topic", "usp/controller", "the controller's topic")
	pending := fs.Int("client-writes-pending", 1024, "publishes queued for one client before the broker drops more (mochi's default, 8192, costs 64 KiB a connection)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var urls []string
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	for addr := range strings.SplitSeq(*listen, ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		url, stopBroker, err := startBroker(addr, *pending)
		if err != nil {
			return err
		}
		closers = append(closers, stopBroker)
		urls = append(urls, url)
		if *ctrlID == "" {
			continue
		}
		stop, err := startController(ctx, url, *ctrlID, *ctrlTopic)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
	}
	if len(urls) == 0 {
		return errors.New("-listen: no address")
	}
	fmt.Fprintln(stdout, strings.Join(urls, ","))
	<-ctx.Done()
	return nil
}

// startController starts a gousp controller on the broker at url that
// accepts every notification (so that it answers each with a NotifyResp).
func startController(ctx context.Context, url, id, topic string) (func(), error) {
	tr, err := mqtt.New(url, id, mqtt.WithTopic(topic), mqtt.WithClientID(fmt.Sprintf("%s-%d", id, time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	c, err := usp.NewController(id, usp.WithTransport(tr),
		usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Start(sctx); err != nil {
		return nil, fmt.Errorf("controller on %s: %w", url, err)
	}
	return func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(cctx)
	}, nil
}

// startBroker starts a mochi-mqtt broker on addr that lets every client
// in, sized for many small clients: each queues at most pending
// publishes.
func startBroker(addr string, pending int) (string, func(), error) {
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(max(pending, 16))
	srv := mochi.New(&mochi.Options{InlineClient: true, Capabilities: caps, Logger: slog.New(slog.DiscardHandler),
		ClientNetReadBufferSize: 1024, ClientNetWriteBufferSize: 1024})
	if err := srv.AddHook(new(openDoor), nil); err != nil {
		return "", nil, err
	}
	l := embedbroker.NewListener("tcp", addr, nil)
	if err := srv.AddListener(l); err != nil {
		return "", nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return "", nil, err
	}
	return "mqtt://" + l.Address(), func() { _ = srv.Close() }, nil
}

// openDoor lets every client connect and use every topic: the broker is
// for a load test on this machine.
type openDoor struct{ mochi.HookBase }

func (*openDoor) ID() string { return "uspsim-open-door" }

func (*openDoor) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (*openDoor) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (*openDoor) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// runController is "uspsim controller": a gousp controller on each of the
// given brokers that answers every notification, for a load test on
// brokers started elsewhere (such as mosquitto). It runs until ctx ends.
func runController(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("uspsim controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("broker", "mqtt://127.0.0.1:1883", "comma-separated broker URLs")
	ctrlID := fs.String("controller-id", "proto::controller", "the controller's endpoint ID")
	ctrlTopic := fs.String("controller-topic", "usp/controller", "the controller's topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for url := range strings.SplitSeq(*brokers, ",") {
		if url = strings.TrimSpace(url); url == "" {
			continue
		}
		stop, err := startController(ctx, url, *ctrlID, *ctrlTopic)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	if len(stops) == 0 {
		return errors.New("-broker: no URL")
	}
	fmt.Fprintln(stdout, "ready")
	<-ctx.Done()
	return nil
}
