package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/examples/internal/extest"
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
				`running as Device\.LocalAgent\.Request\.\d+ \(command key \S+\)`,
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
