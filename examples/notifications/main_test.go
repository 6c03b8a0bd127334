package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/examples/internal/extest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNotifications runs the example with a few agents over both transports
// and checks the counts it printed for each agent, the totals, and that
// every notification was answered.
func TestNotifications(t *testing.T) {
	for _, tc := range []struct {
		mtp                     string
		agents, changes, events int
	}{
		{"mqtt", 3, 4, 2},
		{"memory", 5, 3, 1},
	} {
		t.Run(tc.mtp, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			args := []string{"--mtp", tc.mtp, "--agents", fmt.Sprint(tc.agents), "--changes", fmt.Sprint(tc.changes), "--events", fmt.Sprint(tc.events)}
			if err := run(ctx, args, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			events := tc.events + 1 // and a Boot! from each agent
			perAgent := tc.changes + events
			total := tc.agents * perAgent
			want := []string{
				fmt.Sprintf(`%d subscriptions made`, 2*tc.agents),
				fmt.Sprintf(`\nall %d agents\s+%d\s+%d\s+%d\n`, tc.agents, tc.agents*tc.changes, tc.agents*events, total),
				fmt.Sprintf(`\n%d notifications in `, total),
				`notifications still waiting for a NotifyResp: 0\n$`,
			}
			for i := 1; i <= tc.agents; i++ {
				want = append(want, fmt.Sprintf(`\nos::012345-NOTIF%05d\s+%d\s+%d\s+%d\n`, i, tc.changes, events, perAgent))
			}
			extest.Check(t, out.String(), want...)
		})
	}
}

func TestNotificationsBadMTP(t *testing.T) {
	err := run(context.Background(), []string{"--mtp", "carrier-pigeon"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("run accepted --mtp carrier-pigeon")
	}
	extest.Check(t, err.Error(), `want mqtt or memory`)
}
