// Quickstart runs a whole USP setup in one process, with nothing installed:
// an embedded MQTT broker on loopback, a fake agent (usptest) with a TR-181
// data model, and a gousp controller that walks through the main requests.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

const (
	controllerID    = "proto::quickstart-controller"
	agentID         = "os::012345-QS0000001"
	controllerTopic = "/usp/controller/quickstart"
	agentTopic      = "/usp/agent/quickstart"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) (err error) {
	// 1. An MQTT broker inside this process.
	broker, err := mqtttest.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer broker.Close()
	fmt.Fprintf(out, "MQTT broker listening at %s\n", broker.URL())

	// 2. The controller: one MQTT transport, and a channel that tells us
	// when the agent announces itself with its MQTTConnect record.
	ctrlMTP, err := mqtt.New(broker.URL(), controllerID, mqtt.WithTopic(controllerTopic))
	if err != nil {
		return err
	}
	arrived := make(chan usp.AgentInfo, 1)
	c, err := usp.NewController(controllerID,
		usp.WithTransport(ctrlMTP),
		usp.WithAgentHandler(func(ev usp.AgentEvent) {
			if ev.Kind == usp.AgentConnected {
				select {
				case arrived <- ev.Agent:
				default:
				}
			}
		}))
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	closeController := func() {
		if cerr := c.Close(context.Background()); err == nil {
			err = cerr
		}
	}

	// 3. A fake agent on the same broker, which knows our controller.
	agentMTP, err := mqtt.New(broker.URL(), agentID, mqtt.WithTopic(agentTopic))
	if err != nil {
		closeController()
		return err
	}
	agent, err := usptest.NewAgent(agentID,
		usptest.WithTransport(agentMTP),
		usptest.WithController(controllerID, mtp.Address{MTP: mtp.MQTT, To: controllerTopic}))
	if err != nil {
		closeController()
		return err
	}
	if err := agent.Start(ctx); err != nil {
		closeController()
		return err
	}
	// Deferred calls run last first: the controller closes before the
	// agent, so that it can still remove what it created on the agent.
	defer agent.Close(context.Background())
	defer closeController()

	select {
	case info := <-arrived:
		fmt.Fprintf(out, "agent %s connected, reachable at %s\n", info.EndpointID, info.Address)
	case <-ctx.Done():
		return fmt.Errorf("the agent never connected: %w", ctx.Err())
	}
	dev := c.Agent(agentID)

	// 4. Get: read the device information.
	section(out, "Get Device.DeviceInfo.")
	vals, err := dev.GetValues(ctx, "Device.DeviceInfo.Manufacturer", "Device.DeviceInfo.ModelName", "Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.SerialNumber")
	if err != nil {
		return err
	}
	table(out, vals)

	// A path the device does not have: the error is per path, typed.
	_, err = dev.GetValues(ctx, "Device.DeviceInfo.NoSuchParam")
	fmt.Fprintf(out, "Get of a wrong path: %v\n", err)

	// 5. Subscribe to changes of every SSID name, then change one with Set.
	section(out, "Subscribe + Set")
	sub, err := dev.Subscribe(ctx, usp.SubscriptionSpec{
		NotifType:     usp.NotifValueChange,
		ReferenceList: []string{"Device.WiFi.SSID.*.SSID"},
		NotifRetry:    true,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "subscribed as %s (%s)\n", sub.ID(), sub.Path())
	set, err := dev.SetValues(ctx, "Device.WiFi.SSID.[Alias==\"cpe-1\"].", map[string]string{"SSID": "gousp-demo"})
	if err != nil {
		return err
	}
	for _, r := range set.Succeeded() {
		for _, inst := range r.Updated {
			fmt.Fprintf(out, "set %s -> %v\n", inst.Path, inst.Params)
		}
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for n, err := range sub.Notifications(nctx) {
		if err != nil {
			return fmt.Errorf("waiting for the ValueChange: %w", err)
		}
		vc := n.Body.(*msg.ValueChange)
		fmt.Fprintf(out, "notification %s: %s = %q\n", n.Body.Kind(), vc.ParamPath, vc.ParamValue)
		break
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		return err
	}

	// 6. Add an object, then Delete it.
	section(out, "Add + Delete")
	added, err := dev.Add(ctx, msg.AddParams("Device.LocalAgent.Controller.", map[string]string{
		"Alias": "backup-acs", "EndpointID": "proto::backup-controller",
	}))
	if err != nil {
		return err
	}
	inst := added.Results[0]
	fmt.Fprintf(out, "added %s with unique keys %v\n", inst.Path, inst.UniqueKeys)
	del, err := dev.Delete(ctx, msg.Delete{Paths: []string{inst.Path}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted %v\n", del.Affected())

	// 7. An asynchronous command: Call waits for its OperationComplete.
	section(out, "Operate Device.IP.Diagnostics.IPPing() (asynchronous)")
	res, err := dev.Call(ctx, "Device.IP.Diagnostics.IPPing()", map[string]string{"Host": "127.0.0.1", "NumberOfRepetitions": "3"})
	if err != nil {
		return err
	}
	table(out, res)

	section(out, "done")
	return nil
}

func section(out io.Writer, title string) {
	fmt.Fprintf(out, "\n== %s\n", title)
}

func table(out io.Writer, m map[string]string) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "  %s\t%s\n", k, strings.TrimSpace(m[k]))
	}
	_ = w.Flush()
}
