package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/usp"
)

// simulate runs uspsim in this process with args and returns its JSON
// summary.
func simulate(t *testing.T, args ...string) *summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := runMain(ctx, append([]string{"-progress", "0"}, args...), &out, &errOut)
	if code != exitOK {
		t.Fatalf("uspsim exited %d: %s", code, errOut.String())
	}
	var s summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, out.String())
	}
	return &s
}

// startGouspController starts a gousp controller on the broker at url
// that answers every notification.
func startGouspController(t *testing.T, url string) {
	t.Helper()
	stop, err := startController(context.Background(), url, "proto::controller", "usp/controller")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

// Against a gousp controller every notification that asks for a response
// gets one, and the figures add up: each Periodic! event and each value
// change makes exactly one notification (one subscription covers each).
func TestSimAgainstGouspController(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	startGouspController(t, url)
	s := simulate(t, "-broker", url, "-agents", "20", "-duration", "1500ms", "-event-rate", "40", "-change-rate", "40",
		"-drop-rate", "4", "-backoff-min", "50ms", "-backoff-max", "200ms", "-notify-retry", "2s", "-seed", "7")
	r := s.Totals
	t.Logf("boots %d, notifications %d, answered %d (p99 %.1f ms), drops %d, reconnects %d", r.BootsSent, r.NotifySent,
		r.NotifyAnswered, s.Latency.NotifyResp.P99, r.ForcedDrops, r.Reconnects)
	if r.AgentsUp != 20 || r.StartFailed != 0 {
		t.Fatalf("%d agents up, %d failed", r.AgentsUp, r.StartFailed)
	}
	if r.BootsSent < 20 {
		t.Errorf("%d Boot! events for 20 agents", r.BootsSent)
	}
	if r.ConnectsSent < 20 {
		t.Errorf("%d MQTTConnect records for 20 agents", r.ConnectsSent)
	}
	if r.Events == 0 || r.ValueChanges == 0 {
		t.Fatalf("script did nothing: %d events, %d value changes", r.Events, r.ValueChanges)
	}
	if r.NotifySent != r.Events+r.ValueChanges {
		t.Errorf("%d notifications asking for a response, want %d events + %d value changes", r.NotifySent, r.Events, r.ValueChanges)
	}
	if r.NotifyAnswered != r.NotifySent || r.NotifyUnanswered != 0 {
		t.Errorf("%d of %d notifications answered, %d unanswered", r.NotifyAnswered, r.NotifySent, r.NotifyUnanswered)
	}
	if s.Latency.NotifyResp.Count != uint64(r.NotifyAnswered) || s.Latency.NotifyResp.Max <= 0 {
		t.Errorf("NotifyResp latency %+v for %d answers", s.Latency.NotifyResp, r.NotifyAnswered)
	}
	if r.ForcedDrops == 0 || r.Reconnects == 0 || r.Downs < r.Reconnects {
		t.Errorf("%d connections dropped, %d lost, %d reconnects", r.ForcedDrops, r.Downs, r.Reconnects)
	}
	if s.Memory.HeapPerAgent == 0 || s.Config.Processes != 1 {
		t.Errorf("memory %+v, %d processes", s.Memory, s.Config.Processes)
	}
}

// A controller that never answers: nothing is answered, everything stays
// pending, and the agents resend.
func TestSimAgainstSilentController(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	brokertest.DialPaho(t, url, "usp/controller") // takes every record, answers none
	s := simulate(t, "-broker", url, "-agents", "10", "-duration", "1s", "-event-rate", "30", "-change-rate", "0",
		"-notify-retry", "200ms", "-drain", "500ms")
	r := s.Totals
	t.Logf("notifications %d, retransmissions %d", r.NotifySent, r.NotifyRetrans)
	if r.AgentsUp != 10 || r.NotifySent == 0 {
		t.Fatalf("%d agents up, %d notifications", r.AgentsUp, r.NotifySent)
	}
	if r.NotifyAnswered != 0 || s.Latency.NotifyResp.Count != 0 {
		t.Errorf("%d notifications answered by a controller that answers nothing", r.NotifyAnswered)
	}
	if r.NotifyUnanswered != r.NotifySent {
		t.Errorf("%d unanswered of %d sent", r.NotifyUnanswered, r.NotifySent)
	}
	if r.NotifyRetrans == 0 {
		t.Error("no retransmission of unanswered notifications")
	}
}

// Faulty agents are chosen by the seed, the same whatever the split, and
// an agent that ignores NotifyResps keeps resending what was answered.
func TestSimFaultyAgents(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	startGouspController(t, url)
	args := []string{"-broker", url, "-agents", "30", "-duration", "1s", "-event-rate", "60", "-change-rate", "0",
		"-faulty", "0.5", "-seed", "3", "-notify-retry", "100ms", "-drain", "300ms"}
	s := simulate(t, args...)
	var faulty int64
	for _, n := range s.Totals.Faulty {
		faulty += n
	}
	if faulty < 5 || faulty > 25 {
		t.Errorf("%d faulty agents of 30 at a share of 0.5: %v", faulty, s.Totals.Faulty)
	}
	again := simulate(t, args...)
	if !equalCounts(s.Totals.Faulty, again.Totals.Faulty) {
		t.Errorf("same seed, different faulty agents: %v, then %v", s.Totals.Faulty, again.Totals.Faulty)
	}
	if s.Totals.Faulty["ignore-notify-resp"] > 0 && s.Totals.NotifyRetrans == 0 && s.Totals.Events > 0 {
		t.Error("agents ignoring NotifyResp did not resend")
	}
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// asMainEnv makes this test binary run uspsim's main instead of the tests:
// the workers of TestSimWorkers are this binary started again.
const asMainEnv = "USPSIM_TEST_AS_MAIN"

// A fleet spread over worker processes reports the sum of their figures.
func TestSimWorkers(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	startGouspController(t, url)
	t.Setenv(asMainEnv, "1") // for the workers, which inherit it
	s := simulate(t, "-broker", url, "-agents", "24", "-processes", "3", "-duration", "1s", "-event-rate", "30",
		"-change-rate", "30", "-notify-retry", "2s")
	r := s.Totals
	if s.Config.Processes != 3 || r.Processes != 3 {
		t.Fatalf("%d processes configured, %d reported", s.Config.Processes, r.Processes)
	}
	if len(s.Errors) > 0 {
		t.Fatalf("errors: %s", strings.Join(s.Errors, "; "))
	}
	if r.AgentsUp != 24 || r.Agents != 24 {
		t.Fatalf("%d of %d agents up", r.AgentsUp, r.Agents)
	}
	if r.NotifySent == 0 || r.NotifyAnswered != r.NotifySent || r.NotifySent != r.Events+r.ValueChanges {
		t.Errorf("notifications: %d sent, %d answered, %d events + %d value changes", r.NotifySent, r.NotifyAnswered, r.Events, r.ValueChanges)
	}
	if r.RSSBytes == 0 {
		t.Error("no memory reported by the workers")
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mtp", "carrier-pigeon"},
		{"-agents", "0"},
		{"-faulty", "2"},
		{"-event-rate", "-1"},
		{"-broker", ""},
		{"extra"},
	} {
		var errOut bytes.Buffer
		if code := runMain(context.Background(), args, &bytes.Buffer{}, &errOut); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
	}
}

// asMain runs uspsim's main when this test binary is started as a worker.
func asMain() {
	if os.Getenv(asMainEnv) == "" {
		return
	}
	os.Exit(runMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// startControllerOn starts a gousp controller on tr that answers every
// notification.
func startControllerOn(t *testing.T, tr mtp.Transport) {
	t.Helper()
	c, err := usp.NewController("proto::controller", usp.WithTransport(tr),
		usp.WithNotifyHandler(func(context.Context, *usp.Notification) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
}

// The other transports: agents over STOMP and WebSocket, every
// notification answered.
func TestSimOtherTransports(t *testing.T) {
	t.Run("stomp", func(t *testing.T) {
		addr := brokertest.StartStompServer(t)
		tr, err := stomp.New(addr, "proto::controller", stomp.WithDestination("usp/controller"))
		if err != nil {
			t.Fatal(err)
		}
		startControllerOn(t, tr)
		checkAnswered(t, simulate(t, "-mtp", "stomp", "-broker", addr, "-agents", "10", "-duration", "1s",
			"-event-rate", "20", "-change-rate", "20"))
	})
	t.Run("websocket", func(t *testing.T) {
		ws, err := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID("proto::controller"))
		if err != nil {
			t.Fatal(err)
		}
		startControllerOn(t, ws)
		checkAnswered(t, simulate(t, "-mtp", "websocket", "-broker", ws.URL(), "-agents", "10", "-duration", "1s",
			"-event-rate", "20", "-change-rate", "20"))
	})
}

func checkAnswered(t *testing.T, s *summary) {
	t.Helper()
	r := s.Totals
	if r.AgentsUp != r.Agents || r.ConnectsSent < r.Agents {
		t.Fatalf("%d of %d agents up, %d connect records", r.AgentsUp, r.Agents, r.ConnectsSent)
	}
	if r.NotifySent == 0 || r.NotifyAnswered != r.NotifySent || r.NotifySent != r.Events+r.ValueChanges {
		t.Errorf("notifications: %d sent, %d answered, %d events + %d value changes", r.NotifySent, r.NotifyAnswered, r.Events, r.ValueChanges)
	}
}

// A controller that reads each agent's DeviceInfo when it boots: every
// request is counted by type and answered, and the time from Boot! to the
// first request is measured for each agent.
func TestSimControllerRequests(t *testing.T) {
	url := brokertest.StartEmbedded(t)
	tr, err := mqtt.New(url, "proto::controller", mqtt.WithTopic("usp/controller"))
	if err != nil {
		t.Fatal(err)
	}
	var c *usp.Controller
	var wg sync.WaitGroup
	var gets, failed atomic.Int64
	c, err = usp.NewController("proto::controller", usp.WithTransport(tr),
		usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			if ev, ok := n.Body.(*msg.Event); ok && ev.EventName == "Boot!" {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					gets.Add(1)
					if _, err := c.Agent(n.AgentID).GetValue(ctx, "Device.DeviceInfo.SoftwareVersion"); err != nil {
						failed.Add(1)
					}
				})
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	s := simulate(t, "-broker", url, "-agents", "15", "-duration", "1s", "-event-rate", "0", "-change-rate", "0")
	wg.Wait()
	r := s.Totals
	if gets.Load() != 15 || failed.Load() != 0 {
		t.Fatalf("controller sent %d Gets, %d failed", gets.Load(), failed.Load())
	}
	if r.Requests != 15 || r.RequestsByType["GET"] != 15 {
		t.Errorf("agents counted %d requests %v, want 15 Gets", r.Requests, r.RequestsByType)
	}
	if r.Responses != 15 {
		t.Errorf("%d responses sent for 15 Gets", r.Responses)
	}
	if s.Latency.FirstRequest.Count != 15 || s.Latency.FirstRequest.Max <= 0 {
		t.Errorf("Boot! to first request: %+v", s.Latency.FirstRequest)
	}
}
