package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBroker runs the example and checks each step of the exchange.
func TestBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"--socket", filepath.Join(t.TempDir(), "b.sock")}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		`service: Device\.DeviceInfo\. registered`,
		`service: Device\.WiFi\. registered`,
		`service: Device\.WiFi\.SSID\.1\.SSID refused: .*7028`,
		`broker: proto::example-service registered Device\.DeviceInfo\. Device\.WiFi\.`,
		`broker: proto::example-service supports \d+ objects under Device\.DeviceInfo\.`,
		`Device\.WiFi\.SSID\.\{i\}\.\s+\d+ params`,
		`broker: Device\.DeviceInfo\.SoftwareVersion = "1\.0\.0", from proto::example-service`,
		`service: deregistered \[Device\.WiFi\.\]; the broker still holds \[Device\.DeviceInfo\.\] for it`,
		`broker: proto::example-service went away \(.*session closed\); freed Device\.DeviceInfo\.`,
		`== done`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
