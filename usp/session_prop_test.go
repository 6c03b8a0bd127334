package usp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/mtptest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// TestPropertySessionOverFaultyNetwork runs calls inside a session context
// with a complete agent, and with the reference agent's model, over
// transports that drop, duplicate, reorder and
// delay records in both directions, for several seeds. Each call returns
// the right answer or fails with a session error or its deadline, never a
// wrong answer; with the complete agent, no request is executed twice and
// none is executed after a later one succeeded (it ignores records of
// sessions it left; the reference agent follows R-E2E.6 literally and may
// execute a late first record of an abandoned session, which the usp
// package doc warns of); the controller's records stay in proportion to
// the calls (no storm); and once the network heals every call succeeds.
// A failure prints the records exchanged, sent and received, with the
// faults applied; GOUSP_E2E_SEEDS=N[@FIRST] runs more seeds.
func TestPropertySessionOverFaultyNetwork(t *testing.T) {
	seeds, first := uint64(4), uint64(0)
	if testing.Short() || raceEnabled {
		seeds = 2
	}
	// GOUSP_E2E_SEEDS=N[@FIRST] runs N seeds from FIRST instead, for soak
	// runs hunting rare interleavings.
	if v := os.Getenv("GOUSP_E2E_SEEDS"); v != "" {
		n, from, _ := strings.Cut(v, "@")
		var err error
		if seeds, err = strconv.ParseUint(n, 10, 32); err != nil {
			t.Fatalf("GOUSP_E2E_SEEDS=%q: %v", v, err)
		}
		if from != "" {
			if first, err = strconv.ParseUint(from, 10, 64); err != nil {
				t.Fatalf("GOUSP_E2E_SEEDS=%q: %v", v, err)
			}
		}
	}
	agents := []struct {
		name string
		cfg  usptest.SessionConfig
	}{
		{"complete", usptest.SessionConfig{MaxSegment: 300, RetryInterval: 15 * time.Millisecond}},
		// The reference agent executes duplicates again, so only the
		// outcomes and the bounds are checked with it.
		{"reference", usptest.SessionConfig{MaxSegment: 300, Reference: true}},
	}
	// The faults must hit, over the run (a single seed may draw no
	// duplicate at all among few records).
	var dropped, duplicated atomic.Int64
	t.Cleanup(func() {
		if !t.Failed() && (dropped.Load() == 0 || duplicated.Load() == 0) {
			t.Errorf("faults too rare to test anything: %d dropped, %d duplicated", dropped.Load(), duplicated.Load())
		}
	})
	for i := range 2 * seeds {
		seed, agentCfg := first+i/2, agents[i%2]
		t.Run(fmt.Sprint(agentCfg.name, " seed ", seed), func(t *testing.T) {
			rig := newRefRig(t, "memory", &agentCfg.cfg, usp.SessionConfig{MaxSegment: 200, RetryInterval: 15 * time.Millisecond})
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("records exchanged:\n%s", mtptest.FormatTrace(
						mtptest.Side{Name: "ctrl", Events: rig.ctrlT.Trace()},
						mtptest.Side{Name: "agent", Events: rig.agentT.Trace()}))
				}
			})
			f := mtptest.Faults{Drop: 0.15, Duplicate: 0.15, Reorder: 0.1, Delay: 2 * time.Millisecond}
			f.Seed = seed
			rig.ctrlT.SetFaults(f)
			f.Seed = seed + 1000
			rig.agentT.SetFaults(f)
			a := rig.c.Agent(e2eAgentID)
			const calls = 20
			ok := 0
			for i := range calls {
				v := fmt.Sprintf("seed-%d-call-%d", seed, i)
				ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
				resp, err := a.Set(ctx, msg.SetParams("Device.LocalAgent.Controller.1.", map[string]string{"ProvisioningCode": v}))
				cancel()
				switch {
				case err == nil:
					ok++
					// The answer is this call's. (The reference agent may
					// execute a late duplicate of an older Set afterwards,
					// so its model is not checked.)
					if got := resp.Results[0].Updated[0].Params["ProvisioningCode"]; got != v {
						t.Fatalf("call %d got the answer for %q", i, got)
					}
					if got, _ := rig.agent.Model().Get("Device.LocalAgent.Controller.1.ProvisioningCode"); got != v && !agentCfg.cfg.Reference {
						t.Fatalf("call %d succeeded but the agent holds %q", i, got)
					}
				case errors.Is(err, usp.ErrSessionFailed), errors.Is(err, context.DeadlineExceeded):
				default:
					t.Fatalf("call %d: %v", i, err)
				}
			}
			seen := map[string]int{}
			for _, r := range rig.agent.Received() {
				if agentCfg.cfg.Reference {
					break
				}
				if r.Msg.GetHeader().GetMsgType() == uspmsg.Header_SET {
					if seen[r.Msg.GetHeader().GetMsgId()]++; seen[r.Msg.GetHeader().GetMsgId()] > 1 {
						t.Fatalf("Set %s executed twice", r.Msg.GetHeader().GetMsgId())
					}
				}
			}
			if n := len(rig.ctrlT.Sent()); n > 40*calls {
				t.Fatalf("%d records sent for %d calls", n, calls)
			}
			c, ac := rig.ctrlT.Counts(), rig.agentT.Counts()
			dropped.Add(int64(c.Dropped + ac.Dropped))
			duplicated.Add(int64(c.Duplicated + ac.Duplicated))
			// Healed: every call works.
			rig.ctrlT.SetFaults(mtptest.Faults{})
			rig.agentT.SetFaults(mtptest.Faults{})
			_ = rig.ctrlT.Flush(ctxT(t))
			_ = rig.agentT.Flush(ctxT(t))
			// The first calls may still meet what the faults left: a
			// failing session, a refusal's short backoff.
			var err error
			for range 5 {
				if _, err = a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err == nil {
					break
				}
				if !errors.Is(err, usp.ErrSessionFailed) {
					t.Fatalf("after healing: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("after healing, 5 calls failed, the last with %v", err)
			}
			for i := range 3 {
				if _, err := a.GetValue(ctxT(t), "Device.DeviceInfo.Manufacturer"); err != nil {
					t.Fatalf("after healing, call %d: %v", i, err)
				}
			}
			if testing.Verbose() {
				t.Logf("%d of %d calls succeeded under faults; %d records sent; faults %+v, %+v", ok, calls, len(rig.ctrlT.Sent()), rig.ctrlT.Counts(), rig.agentT.Counts())
			}
		})
	}
}
