package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/examples/internal/extest"
	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/usp/usptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ctrlID     = "proto::mqtt-example"
	ctrlTopic  = "/usp/controller/example"
	agentID    = "os::012345-MQTTEX0001"
	agentTopic = "/usp/agent/example"
)

// broker starts a broker for one case and returns its URL, the example's
// TLS flags and the agent's TLS configuration.
type broker func(t *testing.T) (url string, flags []string, agentTLS *tls.Config)

func plain(start func(testing.TB) string) broker {
	return func(t *testing.T) (string, []string, *tls.Config) { return start(t), nil, nil }
}

// mutualTLS starts mosquitto requiring client certificates from a fresh CA
// and gives the example the CA, a certificate and its key as PEM files.
func mutualTLS(t *testing.T) (string, []string, *tls.Config) {
	ca := testcert.NewCA(t)
	url := brokertest.StartMosquittoTLS(t, brokertest.TLS{Cert: ca.Server(t), ClientCAs: []*x509.Certificate{ca.Cert}})
	ctrlCert := ca.Client(t, ctrlID)
	caFile, certFile, keyFile := extest.WritePEM(t, ca.Cert, &ctrlCert)
	agentCert := ca.Client(t, agentID)
	return url, []string{"--tls-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile}, ca.ClientConfig(&agentCert)
}

// TestMQTTController runs the example against a usptest agent on several
// brokers, learning the agent's topic from its MQTTConnect record or from
// --agent-topic, and checks what it printed against the agent's model.
func TestMQTTController(t *testing.T) {
	for _, tc := range []struct {
		name       string
		broker     broker
		agentTopic bool // give --agent-topic instead of waiting for MQTTConnect
	}{
		{"mosquitto", plain(brokertest.StartMosquitto), false},
		{"embedded", plain(brokertest.StartEmbedded), false},
		{"embedded/agent-topic", plain(brokertest.StartEmbedded), true},
		{"mosquitto/mutual-tls", mutualTLS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			url, flags, agentTLS := tc.broker(t)
			flags = append(flags, "--broker", url, "--controller-id", ctrlID, "--topic", ctrlTopic, "--agent", agentID,
				"--subscribe", "ValueChange:Device.DeviceInfo.ProvisioningCode",
				"--subscribe", "Event:Device.LocalAgent.TransferComplete!",
				"--count", "2", "--listen", "15s")
			if tc.agentTopic {
				flags = append(flags, "--agent-topic", agentTopic)
			}

			out := &extest.Output{}
			var agent *usptest.Agent
			if tc.agentTopic {
				// The agent is online before the controller: its
				// MQTTConnect record went nowhere.
				agent = startAgent(ctx, t, url, agentTLS)
			}
			errc := make(chan error, 1)
			go func() { errc <- run(ctx, flags, out) }()
			if !tc.agentTopic {
				out.WaitFor(ctx, t, `waiting for `+agentID)
				agent = startAgent(ctx, t, url, agentTLS)
			}

			out.WaitFor(ctx, t, `listening for notifications`)
			model := agent.Model()
			if err := model.Set("Device.DeviceInfo.ProvisioningCode", "example-42"); err != nil {
				t.Fatal(err)
			}
			if err := agent.Emit(ctx, "Device.LocalAgent.TransferComplete!", map[string]string{"TransferType": "Download", "FaultCode": "0"}); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}

			version, _ := model.Get("Device.DeviceInfo.SoftwareVersion")
			serial, _ := model.Get("Device.DeviceInfo.SerialNumber")
			want := []string{
				`Device\.DeviceInfo\.SoftwareVersion\s+` + version + `\n`,
				`Device\.DeviceInfo\.SerialNumber\s+` + serial + `\n`,
				`Device\.DeviceInfo\.FirmwareImage\.1\.Status\s+Available\n`,
				`subscribed to ValueChange \[Device\.DeviceInfo\.ProvisioningCode\] as Device\.LocalAgent\.Subscription\.\d+\.`,
				agentID + `  ValueChange Device\.DeviceInfo\.ProvisioningCode = "example-42"`,
				agentID + `  Event Device\.LocalAgent\.TransferComplete! map\[FaultCode:0 TransferType:Download\]`,
				`\n2 notifications\n$`,
			}
			if !tc.agentTopic {
				want = append(want, `agent `+agentID+` connected, topic `+agentTopic)
			}
			extest.Check(t, out.String(), want...)
			extest.CheckCleanedUp(t, agent)
		})
	}
}

func startAgent(ctx context.Context, t *testing.T, url string, tlsCfg *tls.Config) *usptest.Agent {
	t.Helper()
	opts := []mqtt.Option{mqtt.WithTopic(agentTopic)}
	if tlsCfg != nil {
		opts = append(opts, mqtt.WithTLS(tlsCfg))
	}
	tr, err := mqtt.New(url, agentID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return extest.StartAgent(ctx, t, agentID, tr, ctrlID, mtp.Address{MTP: mtp.MQTT, To: ctrlTopic})
}

// TestMQTTControllerErrors checks that bad flags and an agent that never
// shows up end the example with an error that says what to do.
func TestMQTTControllerErrors(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no agent", []string{"--broker", url}, `--agent is required`},
		{"bad subscribe", []string{"--agent", agentID, "--subscribe", "ValueChange"}, `want TYPE=PATH`},
		{"missing CA file", []string{"--agent", agentID, "--tls-ca", "/nonexistent.pem"}, `nonexistent\.pem`},
		{"agent never connects", []string{"--broker", url, "--agent", agentID, "--wait", "200ms"}, `no MQTTConnect record from ` + agentID + ` \(give --agent-topic`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out := &extest.Output{}
			err := run(ctx, tc.args, out)
			if err == nil {
				t.Fatalf("run succeeded:\n%s", out)
			}
			extest.Check(t, err.Error(), tc.want)
		})
	}
}
