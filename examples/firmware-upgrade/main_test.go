package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/examples/internal/extest"
	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/usp/usptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFirmwareUpgrade runs the self-contained mode: a successful upgrade
// from 1.0.0 to the version in the URL, and a download that fails.
func TestFirmwareUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // regexp; empty for success
		want    []string
	}{
		{
			name: "upgrade",
			want: []string{
				`== os::012345-FW00000001 runs 1\.0\.0 from Device\.DeviceInfo\.FirmwareImage\.1\n`,
				`spare image: Device\.DeviceInfo\.FirmwareImage\.2\. \(Status NoImage\)`,
				`== Device\.DeviceInfo\.FirmwareImage\.2\.Download\(\) http://firmware\.example\.com/usptest-2\.0\.0\.bin`,
				`running as Device\.LocalAgent\.Request\.\d+\. \(command key \S+\)`,
				`event Device\.LocalAgent\.TransferComplete!: FaultCode=0 FaultString="" TransferURL=http://firmware\.example\.com/usptest-2\.0\.0\.bin`,
				`Device\.DeviceInfo\.FirmwareImage\.2\.Status\s+Available\n`,
				`Device\.DeviceInfo\.FirmwareImage\.2\.Version\s+2\.0\.0\n`,
				`event Device\.Boot!: Cause=RemoteReboot FirmwareUpdated=true CommandKey=\S+\n`,
				`\nActivate\(\) completed\n`,
				`== upgraded: SoftwareVersion 1\.0\.0 -> 2\.0\.0, ActiveFirmwareImage Device\.DeviceInfo\.FirmwareImage\.2\n$`,
			},
		},
		{
			name:    "download fails",
			args:    []string{"--url", "http://firmware.example.com/usptest-fail-3.0.0.bin"},
			wantErr: `Download\(\): .*7200`,
			want: []string{
				`event Device\.LocalAgent\.TransferComplete!: FaultCode=7200 FaultString="download of \S+ failed"`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, tc.args, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("run: %v\n%s", err, out.String())
			case tc.wantErr != "" && err == nil:
				t.Fatalf("run succeeded, want error %q\n%s", tc.wantErr, out.String())
			case tc.wantErr != "":
				extest.Check(t, err.Error(), tc.wantErr)
			}
			extest.Check(t, out.String(), tc.want...)
		})
	}
}

// TestFirmwareUpgradeRealAgent points the example at an agent it did not
// start (--broker, --agent, --agent-topic) and checks the agent's model
// afterwards: new firmware active, and the example's subscriptions gone.
func TestFirmwareUpgradeRealAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const (
		agentID    = "os::012345-FWREAL0001"
		agentTopic = "/usp/agent/fw-real"
		ctrlTopic  = "/usp/controller/fw-real"
		ctrlID     = "proto::fw-real"
	)
	url := brokertest.StartEmbedded(t)
	tr, err := mqtt.New(url, agentID, mqtt.WithTopic(agentTopic))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := usptest.NewAgent(agentID, usptest.WithTransport(tr),
		usptest.WithController(ctrlID, mtp.Address{MTP: mtp.MQTT, To: ctrlTopic}), usptest.WithoutBootSubscription())
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer agent.Close(context.Background())

	var out bytes.Buffer
	// usptest validates Download()'s CheckSum against its simulated image,
	// whose content is the URL itself.
	const image = "https://fw.example.com/image-4.2.1.bin"
	sum := sha256.Sum256([]byte(image))
	checksum := hex.EncodeToString(sum[:])
	err = run(ctx, []string{"--broker", url, "--controller-id", ctrlID, "--topic", ctrlTopic,
		"--agent", agentID, "--agent-topic", agentTopic, "--url", image,
		"--checksum-algorithm", "SHA-256", "--checksum", checksum}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	extest.Check(t, out.String(), `== upgraded: SoftwareVersion 1\.0\.0 -> 4\.2\.1,`)
	if v, _ := agent.Model().Get("Device.DeviceInfo.SoftwareVersion"); v != "4.2.1" {
		t.Errorf("agent runs %q", v)
	}
	if subs, _ := agent.Model().Instances("Device.LocalAgent.Subscription."); len(subs) != 0 {
		t.Errorf("subscriptions left on the agent: %v", subs)
	}
	// The Download() request carried the checksum flags.
	found := false
	for _, r := range agent.Received() {
		if op := r.Msg.GetBody().GetRequest().GetOperate(); op != nil && strings.HasSuffix(op.GetCommand(), "Download()") {
			found = true
			if a := op.GetInputArgs(); a["CheckSum"] != checksum || a["CheckSumAlgorithm"] != "SHA-256" {
				t.Errorf("Download() arguments %v", a)
			}
		}
	}
	if !found {
		t.Error("the agent never received Download()")
	}
}
