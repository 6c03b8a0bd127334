// Command example serves a gousp controller's Prometheus metrics over
// HTTP: a controller and a usptest agent talk over the in-process memory
// transport, a Get and a Set every two seconds, and /metrics shows the
// figures move.
//
//	go run . -addr 127.0.0.1:9369
//	curl -s http://127.0.0.1:9369/metrics | grep ^usp_
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gousp/gousp/contrib/promusp"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9369", "where to serve /metrics (loopback by default)")
	every := flag.Duration("every", 2*time.Second, "how often to send the agent a Get and a Set")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *every); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, every time.Duration) error {
	d, err := start(ctx, addr)
	if err != nil {
		return err
	}
	log.Printf("serving %s", d.URL)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return d.Close(cctx)
		case <-t.C:
			if err := d.Exercise(ctx); err != nil && ctx.Err() == nil {
				log.Printf("exercise: %v", err)
			}
		}
	}
}

// demo is a controller and its agent, with their metrics served over
// HTTP.
type demo struct {
	URL  string // the /metrics address
	pair *usptest.Pair
	srv  *http.Server
	done sync.WaitGroup
	n    int
}

// start starts the controller, the agent, a subscription to SSID changes
// and the HTTP server on addr.
func start(ctx context.Context, addr string) (*demo, error) {
	m, err := promusp.New()
	if err != nil {
		return nil, err
	}
	p, err := usptest.StartPair(ctx, usptest.WithControllerOptions(usp.WithHooks(m)))
	if err != nil {
		return nil, err
	}
	m.Watch(p.Controller)
	d := &demo{pair: p}
	accept := func(context.Context, *usp.Notification) error { return nil }
	if _, err := p.Agent.Subscribe(ctx, usp.SubscriptionSpec{NotifType: usp.NotifValueChange,
		ReferenceList: []string{"Device.WiFi.SSID.*.SSID"}, NotifRetry: true, Handler: accept}); err != nil {
		_ = p.Close(ctx)
		return nil, fmt.Errorf("subscribing: %w", err)
	}

	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		_ = p.Close(ctx)
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = p.Close(ctx)
		return nil, err
	}
	d.URL = "http://" + ln.Addr().String() + "/metrics"
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.done.Add(1)
	go func() {
		defer d.done.Done()
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("serving metrics: %v", err)
		}
	}()
	return d, nil
}

// Exercise sends the agent a Get and a Set; the Set makes the agent send a
// ValueChange notification, which the controller answers.
func (d *demo) Exercise(ctx context.Context) error {
	if _, err := d.pair.Agent.GetValue(ctx, "Device.DeviceInfo.Manufacturer"); err != nil {
		return err
	}
	d.n++
	_, err := d.pair.Agent.SetValues(ctx, `Device.WiFi.SSID.[Alias=="cpe-1"].`, map[string]string{"SSID": fmt.Sprintf("demo-%d", d.n)})
	return err
}

// Close stops the HTTP server, then the agent and the controller.
func (d *demo) Close(ctx context.Context) error {
	err := d.srv.Shutdown(ctx)
	d.done.Wait()
	return errors.Join(err, d.pair.Close(ctx))
}
