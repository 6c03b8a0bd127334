// USP-broker shows the USP Broker role over a Unix domain socket: a USP
// Service (here a usptest agent playing one) connects to the Broker's
// socket and registers the data model paths it serves; the Broker answers
// with a RegisterResp, then asks the Service for the supported data model
// of those paths, reads a value from it, and sees the Service deregister
// and leave.
//
//	go run ./examples/usp-broker
//	go run ./examples/usp-broker --socket /tmp/broker.sock
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/uds"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const (
	brokerID  = "proto::example-broker"
	serviceID = "proto::example-service"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "usp-broker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, w io.Writer) (err error) {
	// The Broker's callbacks print from goroutines of their own.
	out := &lockedWriter{w: w}
	fs := flag.NewFlagSet("usp-broker", flag.ContinueOnError)
	fs.SetOutput(out)
	socket := fs.String("socket", "", "Unix socket path of the Broker (default: one in a temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *socket == "" {
		dir, err := os.MkdirTemp("", "usp-broker")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*socket = filepath.Join(dir, "broker.sock")
	}

	// 1. The Broker: a controller listening on the socket, with a Registry
	// that keeps which Service owns which path. Once a Service has its
	// RegisterResp, the Registry calls Registered: there the Broker asks
	// the Service for the supported data model of its paths.
	discovered := make(chan error, 1)
	gone := make(chan struct{})
	reg := &usp.Registry{
		Registered: func(ctx context.Context, svc *usp.Agent, paths []string) {
			fmt.Fprintf(out, "broker: %s registered %s\n", svc.EndpointID(), strings.Join(paths, " "))
			discovered <- describe(ctx, out, svc, paths)
		},
		Gone: func(_ context.Context, svc *usp.Agent, paths []string, reason error) {
			fmt.Fprintf(out, "broker: %s went away (%v); freed %s\n", svc.EndpointID(), reason, strings.Join(paths, " "))
			close(gone)
		},
	}
	srv, err := uds.NewServer(*socket, brokerID)
	if err != nil {
		return err
	}
	broker, err := usp.NewController(brokerID, usp.WithTransport(srv), usp.WithBrokerHandler(reg))
	if err != nil {
		return err
	}
	if err := broker.Start(ctx); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, broker.Close(context.Background())) }()
	fmt.Fprintf(out, "broker: listening on %s\n", *socket)

	// 2. The Service: an agent that dials the Broker's socket and serves
	// its own data model. A real one would be OB-USP-A started with
	// -R Device.DeviceInfo.,Device.WiFi.
	cl, err := uds.NewClient(*socket, serviceID)
	if err != nil {
		return err
	}
	svc, err := usptest.NewAgent(serviceID, usptest.WithTransport(cl), usptest.WithController(brokerID, mtp.Address{}))
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close(context.Background())) }()

	// 3. The Service registers two paths; a third is not an object path,
	// and allow_partial lets the others succeed without it.
	resp, err := svc.Register(ctx, brokerID, msg.Register{AllowPartial: true, Paths: []string{"Device.DeviceInfo.", "Device.WiFi.", "Device.WiFi.SSID.1.SSID"}})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	for _, r := range resp.Results {
		if r.Err != nil {
			fmt.Fprintf(out, "service: %s refused: %v\n", r.Requested, r.Err)
		} else {
			fmt.Fprintf(out, "service: %s registered\n", r.Path)
		}
	}
	select {
	case err := <-discovered:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}

	// 4. The Broker reads a value from the Service that owns it.
	owner, _ := reg.Owner("Device.DeviceInfo.SoftwareVersion")
	vals, err := broker.Agent(owner).GetValues(ctx, "Device.DeviceInfo.SoftwareVersion")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "broker: Device.DeviceInfo.SoftwareVersion = %q, from %s\n", vals["Device.DeviceInfo.SoftwareVersion"], owner)

	// 5. The Service gives one path up, then leaves.
	dresp, err := svc.Deregister(ctx, brokerID, msg.Deregister{Paths: []string{"Device.WiFi."}})
	if err != nil {
		return fmt.Errorf("deregister: %w", err)
	}
	fmt.Fprintf(out, "service: deregistered %v; the broker still holds %v for it\n", dresp.Results[0].Paths, reg.Paths(serviceID))
	if err := svc.Close(ctx); err != nil {
		return err
	}
	select {
	case <-gone:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintln(out, "== done")
	return nil
}

// describe asks the Service for the supported data model under paths and
// prints a summary of each object.
func describe(ctx context.Context, out io.Writer, svc *usp.Agent, paths []string) error {
	dm, err := svc.GetSupportedDM(ctx, msg.GetSupportedDM{Paths: paths, ReturnParams: true, ReturnCommands: true, ReturnEvents: true})
	if err != nil {
		return fmt.Errorf("GetSupportedDM: %w", err)
	}
	for _, r := range dm.Results {
		if r.Err != nil {
			return fmt.Errorf("GetSupportedDM %s: %w", r.Requested, r.Err)
		}
		fmt.Fprintf(out, "broker: %s supports %d objects under %s\n", svc.EndpointID(), len(r.Objects), r.Requested)
		for _, o := range r.Objects {
			if strings.Count(o.Path, ".") <= strings.Count(r.Requested, ".")+2 {
				fmt.Fprintf(out, "  %-40s %d params, %d commands, %d events\n", o.Path, len(o.Params), len(o.Commands), len(o.Events))
			}
		}
	}
	return nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
