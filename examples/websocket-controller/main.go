// Websocket-controller is a USP controller that agents dial over WebSocket,
// the usual deployment: the controller is the server, each agent opens a
// session to it naming itself with ?eid=. For every agent that connects, the
// controller reads Device.DeviceInfo. and prints it.
//
//	go run ./examples/websocket-controller --listen 127.0.0.1:8080 --agents 1
//
// then point an agent at ws://127.0.0.1:8080/usp (subprotocol v1.usp). The
// controller stops after --for, after --agents agents were served, or on
// Ctrl-C. The WebSocket server is an http.Handler, mounted here on --path of
// an ordinary http.ServeMux, so it can share a port with other handlers.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/gousp/gousp/examples/internal/walkthrough"
	"github.com/gousp/gousp/mtp/websocket"
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
		fmt.Fprintln(os.Stderr, "websocket-controller:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	fs := flag.NewFlagSet("websocket-controller", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	path := fs.String("path", "/usp", "HTTP path agents dial")
	controllerID := fs.String("controller-id", "proto::gousp-ws-controller", "the controller's endpoint ID")
	runFor := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
	agents := fs.Int("agents", 0, "stop after serving this many agents (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	// The WebSocket transport in server role, mounted on an HTTP mux.
	ws, err := websocket.NewServer(websocket.WithEndpointID(*controllerID))
	if err != nil {
		return err
	}
	c, err := usp.NewController(*controllerID, usp.WithTransport(ws))
	if err != nil {
		return err
	}

	var (
		mu     sync.Mutex // one agent's report at a time on out
		wg     sync.WaitGroup
		served int
		enough = make(chan struct{})
	)
	// Agent events arrive one at a time on a goroutine of the controller;
	// each agent is served on its own goroutine so that a slow one does
	// not hold up the others.
	c.OnAgentEvent(func(ev usp.AgentEvent) {
		if ev.Kind != usp.AgentConnected {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			report := describe(ctx, c.Agent(ev.Agent.EndpointID))
			mu.Lock()
			defer mu.Unlock()
			_, _ = out.Write(report)
			if served++; served == *agents {
				close(enough)
			}
		}()
	})
	// Start the transport before the HTTP server: it refuses sessions
	// until then.
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer wg.Wait() // after Close, which fails the requests still waiting
	defer func() {
		if cerr := c.Close(context.Background()); err == nil {
			err = cerr
		}
	}()

	mux := http.NewServeMux()
	mux.Handle(*path, ws)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		<-serveErr
	}()
	fmt.Fprintf(out, "controller %s listening on ws://%s%s\n", *controllerID, ln.Addr(), *path)

	var timeUp <-chan time.Time
	if *runFor > 0 {
		timeUp = time.After(*runFor)
	}
	select {
	case <-enough:
	case <-timeUp:
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	}
	mu.Lock()
	fmt.Fprintf(out, "\nserved %d agents\n", served)
	mu.Unlock()
	return nil
}

// describe reads Device.DeviceInfo. from an agent that just connected and
// returns it as text.
func describe(ctx context.Context, agent *usp.Agent) []byte {
	var b bytes.Buffer
	info, _ := agent.Info()
	fmt.Fprintf(&b, "\nagent %s connected (%s)\n", agent.EndpointID(), info.Address)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	vals, err := agent.GetValues(ctx, "Device.DeviceInfo.")
	if err != nil {
		fmt.Fprintf(&b, "  reading Device.DeviceInfo.: %v\n", err)
	}
	walkthrough.Table(&b, vals)
	return b.Bytes()
}
