package main

import (
	"context"
	"testing"
	"time"

	"github.com/gousp/gousp/examples/internal/extest"
	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/usp/usptest"
)

// Main stops the shared RabbitMQ node and checks for leaks, allowing the
// go-stomp server's idle request loop.
func TestMain(m *testing.M) { brokertest.Main(m, brokertest.GoleakOptions()...) }

const (
	ctrlID    = "proto::stomp-example"
	ctrlDest  = "/queue/usp-controller-example"
	agentID   = "os::012345-STOMPEX001"
	agentDest = "/queue/usp-agent-example"
)

// broker starts a STOMP broker for one case and returns its address and
// the credential flags it wants.
type broker func(t *testing.T) (addr string, creds []string)

func rabbitMQ(t *testing.T) (string, []string) {
	return brokertest.StartRabbitMQ(t), []string{"--login", "guest", "--passcode", "guest"}
}

func goStomp(t *testing.T) (string, []string) { return brokertest.StartStompServer(t), nil }

// TestStompController runs the example against a usptest agent on RabbitMQ
// and on go-stomp's server, learning the agent's destination from its
// STOMPConnect record or from --agent-destination.
func TestStompController(t *testing.T) {
	for _, tc := range []struct {
		name      string
		broker    broker
		agentDest bool // give --agent-destination instead of waiting for STOMPConnect
	}{
		{"rabbitmq", rabbitMQ, false},
		{"rabbitmq/agent-destination", rabbitMQ, true},
		{"go-stomp", goStomp, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr, creds := tc.broker(t)
			flags := append(creds, "--broker", addr, "--controller-id", ctrlID, "--destination", ctrlDest, "--agent", agentID,
				"--subscribe", "ValueChange:Device.DeviceInfo.ProvisioningCode",
				"--subscribe", "Event:Device.LocalAgent.TransferComplete!",
				"--count", "2", "--listen", "15s")
			if tc.agentDest {
				flags = append(flags, "--agent-destination", agentDest)
			}

			out := &extest.Output{}
			var agent *usptest.Agent
			if tc.agentDest {
				agent = startAgent(ctx, t, addr, creds != nil)
			}
			errc := make(chan error, 1)
			go func() { errc <- run(ctx, flags, out) }()
			if !tc.agentDest {
				out.WaitFor(ctx, t, `waiting for `+agentID)
				agent = startAgent(ctx, t, addr, creds != nil)
			}

			out.WaitFor(ctx, t, `listening for notifications`)
			model := agent.Model()
			if err := model.Set("Device.DeviceInfo.ProvisioningCode", "stomp-7"); err != nil {
				t.Fatal(err)
			}
			if err := agent.Emit(ctx, "Device.LocalAgent.TransferComplete!", map[string]string{"TransferType": "Upload", "FaultCode": "0"}); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}

			version, _ := model.Get("Device.DeviceInfo.SoftwareVersion")
			want := []string{
				`Device\.DeviceInfo\.SoftwareVersion\s+` + version + `\n`,
				`Device\.DeviceInfo\.ManufacturerOUI\s+00D09E\n`,
				`subscribed to Event \[Device\.LocalAgent\.TransferComplete!\] as Device\.LocalAgent\.Subscription\.\d+\.`,
				agentID + `  ValueChange Device\.DeviceInfo\.ProvisioningCode = "stomp-7"`,
				agentID + `  Event Device\.LocalAgent\.TransferComplete! map\[FaultCode:0 TransferType:Upload\]`,
				`\n2 notifications\n$`,
			}
			if !tc.agentDest {
				want = append(want, `agent `+agentID+` connected, destination `+agentDest)
			}
			extest.Check(t, out.String(), want...)
			extest.CheckCleanedUp(t, agent)
		})
	}
}

func startAgent(ctx context.Context, t *testing.T, addr string, rabbit bool) *usptest.Agent {
	t.Helper()
	opts := []stomp.Option{stomp.WithDestination(agentDest)}
	if rabbit {
		opts = append(opts, stomp.WithCredentials("guest", "guest"))
	}
	tr, err := stomp.New(addr, agentID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return extest.StartAgent(ctx, t, agentID, tr, ctrlID, mtp.Address{MTP: mtp.STOMP, To: ctrlDest})
}

// TestStompControllerErrors checks that a missing --agent and an agent that
// never shows up end the example with an error that says what to do.
func TestStompControllerErrors(t *testing.T) {
	addr := brokertest.StartStompServer(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no agent", []string{"--broker", addr}, `--agent is required`},
		{"agent never connects", []string{"--broker", addr, "--agent", agentID, "--wait", "200ms"}, `no STOMPConnect record from ` + agentID + ` \(give --agent-destination`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tc.args, &extest.Output{})
			if err == nil {
				t.Fatal("run succeeded")
			}
			extest.Check(t, err.Error(), tc.want)
		})
	}
}
