package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickstart runs the README's first command and checks that every step
// printed what the agent's model says.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		`agent os::012345-QS0000001 connected, reachable at mqtt:/usp/agent/quickstart`,
		`Device\.DeviceInfo\.SoftwareVersion\s+1\.0\.0`,
		`Get of a wrong path: .*7026`,
		`set Device\.WiFi\.SSID\.1\. -> map\[SSID:gousp-demo\]`,
		`notification ValueChange: Device\.WiFi\.SSID\.1\.SSID = "gousp-demo"`,
		`added Device\.LocalAgent\.Controller\.2\. with unique keys map\[Alias:backup-acs EndpointID:proto::backup-controller\]`,
		`deleted \[Device\.LocalAgent\.Controller\.2\.\]`,
		`Status\s+Complete`,
		`SuccessCount\s+3`,
		`== done`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
