package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

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
	pending := fs.Int("client-writes-pending", 1024, "publishes queued for one client behind its Receive Maximum; past it publishers wait (a bounded time) for room")
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

// startBroker starts an embedded broker on addr that lets every client
// in, sized for many small clients: each queues at most pending
// publishes.
func startBroker(addr string, pending int) (string, func(), error) {
	b, err := embedbroker.Listen(embedbroker.Config{Addr: addr, QueueLimit: max(pending, 16)})
	if err != nil {
		return "", nil, err
	}
	return b.URL(), func() { _ = b.Close() }, nil
}

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
