// Firmware-upgrade walks through the TR-181 firmware upgrade of a device:
// it finds a spare Device.DeviceInfo.FirmwareImage.{i}., downloads a new
// image into it with the asynchronous Download() command, reports the
// agent's TransferComplete! event, activates the image with Activate(), waits
// for the agent to reboot (its Boot! event) and prints the new software
// version.
//
// By default everything runs in this process: an embedded MQTT broker and a
// usptest agent whose firmware images behave like a device's (a URL
// containing "fail" makes the download fail):
//
//	go run ./examples/firmware-upgrade
//	go run ./examples/firmware-upgrade --url http://example.com/fw-fail-3.0.bin
//
// Give --broker to upgrade a real agent over MQTT instead; it must know this
// controller (--controller-id, --topic) and be reachable at --agent-topic:
//
//	go run ./examples/firmware-upgrade --broker mqtt://127.0.0.1:1883 \
//		--agent os::012345-000000000001 --agent-topic /usp/agent/1 \
//		--url https://firmware.example.com/device-2.1.0.bin \
//		--checksum-algorithm SHA-256 --checksum 5f4dcc3b...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gousp/gousp/examples/internal/walkthrough"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/mqtt/mqtttest"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "firmware-upgrade:", err)
		os.Exit(1)
	}
}

type config struct {
	broker, controllerID, topic string
	agent, agentTopic           string
	url, checksumAlg, checksum  string
	username, password          string
	timeout                     time.Duration
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	var cfg config
	fs := flag.NewFlagSet("firmware-upgrade", flag.ContinueOnError)
	fs.StringVar(&cfg.broker, "broker", "", "MQTT broker of a real agent (default: an embedded broker and a usptest agent)")
	fs.StringVar(&cfg.controllerID, "controller-id", "proto::gousp-firmware", "the controller's endpoint ID")
	fs.StringVar(&cfg.topic, "topic", "/usp/controller/firmware", "the controller's topic")
	fs.StringVar(&cfg.agent, "agent", "os::012345-FW00000001", "the agent's endpoint ID")
	fs.StringVar(&cfg.agentTopic, "agent-topic", "/usp/agent/firmware", "the agent's topic")
	fs.StringVar(&cfg.url, "url", "http://firmware.example.com/usptest-2.0.0.bin", "URL of the firmware image")
	fs.StringVar(&cfg.checksumAlg, "checksum-algorithm", "", "CheckSumAlgorithm of Download(), e.g. SHA-256")
	fs.StringVar(&cfg.checksum, "checksum", "", "CheckSum of Download(), hex")
	fs.StringVar(&cfg.username, "username", "", "Username for the file server")
	fs.StringVar(&cfg.password, "password", "", "Password for the file server")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	if cfg.broker == "" {
		broker, err := mqtttest.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer broker.Close()
		cfg.broker = broker.URL()
		stop, err := startFakeAgent(ctx, cfg)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(out, "self-contained: broker %s, usptest agent %s\n", cfg.broker, cfg.agent)
	}

	transport, err := mqtt.New(cfg.broker, cfg.controllerID, mqtt.WithTopic(cfg.topic))
	if err != nil {
		return err
	}
	c, err := usp.NewController(cfg.controllerID, usp.WithTransport(transport),
		usp.WithAgent(cfg.agent, mtp.Address{MTP: mtp.MQTT, To: cfg.agentTopic}))
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
	return upgrade(ctx, c.Agent(cfg.agent), cfg, out)
}

var imageStatus = regexp.MustCompile(`^(Device\.DeviceInfo\.FirmwareImage\.\d+\.)Status$`)

func upgrade(ctx context.Context, dev *usp.Agent, cfg config, out io.Writer) error {
	// 1. The firmware images, and which one is running.
	vals, err := dev.GetValues(ctx, "Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.ActiveFirmwareImage",
		"Device.DeviceInfo.BootFirmwareImage", "Device.DeviceInfo.FirmwareImage.")
	if err != nil {
		return err
	}
	oldVersion := vals["Device.DeviceInfo.SoftwareVersion"]
	fmt.Fprintf(out, "\n== %s runs %s from %s\n", dev.EndpointID(), oldVersion, vals["Device.DeviceInfo.ActiveFirmwareImage"])
	walkthrough.Table(out, vals)

	// A spare image is neither the active one nor the one to boot next
	// (references name objects without the trailing dot, usually).
	active := strings.TrimSuffix(vals["Device.DeviceInfo.ActiveFirmwareImage"], ".") + "."
	next := strings.TrimSuffix(vals["Device.DeviceInfo.BootFirmwareImage"], ".") + "."
	var image string
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		m := imageStatus.FindStringSubmatch(k)
		if m != nil && m[1] != active && m[1] != next {
			image = m[1]
			break
		}
	}
	if image == "" {
		return errors.New("no spare firmware image: every Device.DeviceInfo.FirmwareImage. is active or boots next")
	}
	fmt.Fprintf(out, "spare image: %s (Status %s)\n", image, vals[image+"Status"])

	// 2. The notifications this upgrade produces. Agents drop
	// non-persistent subscriptions when they reboot, so those that must
	// outlive the reboot are Persistent: Boot!, and the completion of
	// Activate(), which reboots the device. The handlers pass events on;
	// NotifRetry makes the agent resend until the controller has them.
	transfers := make(chan *msg.Event, 4)
	boots := make(chan *msg.Event, 4)
	for _, s := range []struct {
		notifType, ref string
		persistent     bool
		events         chan *msg.Event
	}{
		{usp.NotifEvent, "Device.LocalAgent.TransferComplete!", false, transfers},
		{usp.NotifEvent, "Device.Boot!", true, boots},
		// The controller completes Activate()'s Operation from it.
		{usp.NotifOperationComplete, image + "Activate()", true, nil},
	} {
		sub, err := dev.Subscribe(ctx, usp.SubscriptionSpec{
			NotifType: s.notifType, ReferenceList: []string{s.ref}, NotifRetry: true, Persistent: s.persistent,
			Handler: func(_ context.Context, n *usp.Notification) error {
				if ev, ok := n.Body.(*msg.Event); ok {
					select {
					case s.events <- ev:
					default: // nobody waits for more
					}
				}
				return nil
			},
		})
		if err != nil {
			return err
		}
		defer unsubscribe(sub)
	}

	// 3. Download() is asynchronous: Start returns at once with the
	// agent's Request object, Wait returns at its OperationComplete.
	fmt.Fprintf(out, "\n== %sDownload() %s\n", image, cfg.url)
	dl, err := dev.StartOperation(ctx, image+"Download()", downloadArgs(cfg))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "running as %s (command key %s)\n", dl.RequestObject(), dl.CommandKey())
	_, dlErr := dl.Wait(ctx)
	// The TransferComplete! event with the command key of our Download()
	// says how the transfer went, failed or not; not every agent sends one.
	timeout := time.After(5 * time.Second)
	for reported := false; !reported; {
		select {
		case ev := <-transfers:
			if ev.Params["CommandKey"] != dl.CommandKey() {
				continue
			}
			fmt.Fprintf(out, "event %s: FaultCode=%s FaultString=%q TransferURL=%s\n",
				ev.Path(), ev.Params["FaultCode"], ev.Params["FaultString"], ev.Params["TransferURL"])
			reported = true
		case <-timeout:
			fmt.Fprintln(out, "no TransferComplete! event")
			reported = true
		}
	}
	if dlErr != nil {
		return fmt.Errorf("Download(): %w", dlErr)
	}
	after, err := dev.GetValues(ctx, image)
	if err != nil {
		return err
	}
	walkthrough.Table(out, after)

	// 4. Activate() reboots the device into the new image; the Boot! event
	// says it is back. Activate()'s OperationComplete may come before the
	// reboot or after it, through the persistent subscription made above
	// (hence WithoutCompletionSubscription), or never if the agent forgot
	// the request while rebooting: wait for it a little after Boot!.
	fmt.Fprintf(out, "\n== %sActivate()\n", image)
	act, err := dev.StartOperation(ctx, image+"Activate()", nil, usp.WithoutCompletionSubscription())
	if err != nil {
		return err
	}
	defer act.Abandon()
	var (
		actDone = act.Done()
		booted  bool
		grace   <-chan time.Time
	)
	for !booted || actDone != nil {
		select {
		case <-actDone:
			if _, err := act.Wait(ctx); err != nil {
				return fmt.Errorf("Activate(): %w", err)
			}
			fmt.Fprintln(out, "Activate() completed")
			actDone = nil
		case boot := <-boots:
			fmt.Fprintf(out, "event %s: Cause=%s FirmwareUpdated=%s CommandKey=%s\n",
				boot.Path(), boot.Params["Cause"], boot.Params["FirmwareUpdated"], boot.Params["CommandKey"])
			booted, grace = true, time.After(10*time.Second)
		case <-grace:
			fmt.Fprintln(out, "no OperationComplete for Activate()")
			actDone = nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for the reboot: %w", ctx.Err())
		}
	}

	// 5. The device runs the new firmware.
	now, err := dev.GetValues(ctx, "Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.ActiveFirmwareImage")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== upgraded: SoftwareVersion %s -> %s, ActiveFirmwareImage %s\n",
		oldVersion, now["Device.DeviceInfo.SoftwareVersion"], now["Device.DeviceInfo.ActiveFirmwareImage"])
	return nil
}

func downloadArgs(cfg config) map[string]string {
	args := map[string]string{"URL": cfg.url, "AutoActivate": "false"}
	for name, v := range map[string]string{
		"CheckSumAlgorithm": cfg.checksumAlg, "CheckSum": cfg.checksum,
		"Username": cfg.username, "Password": cfg.password,
	} {
		if v != "" {
			args[name] = v
		}
	}
	return args
}

// unsubscribe removes a subscription from the agent, even after ctx ended.
func unsubscribe(sub *usp.Subscription) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sub.Unsubscribe(ctx)
}

// startFakeAgent runs a usptest agent on the broker, as the device to
// upgrade.
func startFakeAgent(ctx context.Context, cfg config) (stop func(), err error) {
	tr, err := mqtt.New(cfg.broker, cfg.agent, mqtt.WithTopic(cfg.agentTopic))
	if err != nil {
		return nil, err
	}
	agent, err := usptest.NewAgent(cfg.agent, usptest.WithTransport(tr),
		usptest.WithController(cfg.controllerID, mtp.Address{MTP: mtp.MQTT, To: cfg.topic}),
		usptest.WithoutBootSubscription(), // the example makes its own
		usptest.WithRebootDowntime(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	if err := agent.Start(ctx); err != nil {
		return nil, err
	}
	return func() { _ = agent.Close(context.Background()) }, nil
}
