package usp

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
)

func TestDupRing(t *testing.T) {
	seed := maphash.MakeSeed()
	d := func(id string) uint64 { return maphash.String(seed, id) }
	var r dupRing
	if seen, _ := r.lookup(d("a")); seen || r.d != nil {
		t.Fatal("empty ring saw something or allocated")
	}
	r.record(d("a"), false, 3)
	if seen, acked := r.lookup(d("a")); !seen || acked {
		t.Errorf("a: seen %v acked %v, want seen, not acked", seen, acked)
	}
	r.record(d("a"), true, 3)
	if seen, acked := r.lookup(d("a")); !seen || !acked {
		t.Errorf("a after answer: seen %v acked %v", seen, acked)
	}
	for _, id := range []string{"b", "c", "d"} {
		r.record(d(id), true, 3)
	}
	if seen, _ := r.lookup(d("a")); seen {
		t.Error("a still remembered past a window of 3")
	}
	for _, id := range []string{"b", "c", "d"} {
		if seen, acked := r.lookup(d(id)); !seen || !acked {
			t.Errorf("%s forgotten", id)
		}
	}
	if len(r.d) != 3 || cap(r.d) > 4 {
		t.Errorf("ring holds %d entries (cap %d), want 3", len(r.d), cap(r.d))
	}
	// The answered flag lives in the low bit: digests that differ only
	// there are one entry.
	var q dupRing
	q.record(0x10, false, 4)
	if seen, acked := q.lookup(0x11); !seen || acked {
		t.Errorf("low bit: seen %v acked %v", seen, acked)
	}
}

func TestEventQueueBounds(t *testing.T) {
	c := &Controller{}
	q := newEventQueue(c, EventQueueConfig{MaxEvents: 3, MaxBytes: 1 << 20})
	for i := range 5 {
		q.push(AgentEvent{Kind: AgentConnected, Agent: AgentInfo{EndpointID: fmt.Sprintf("proto::a-%d", i)}})
	}
	var got []string
	var missed []int
	for {
		ev, ok := q.take()
		if !ok {
			break
		}
		got = append(got, ev.Agent.EndpointID)
		missed = append(missed, ev.Missed)
	}
	if fmt.Sprint(got) != "[proto::a-2 proto::a-3 proto::a-4]" || fmt.Sprint(missed) != "[2 0 0]" {
		t.Errorf("count bound: got %v, missed %v; want the newest three, the first with Missed 2", got, missed)
	}
	// By bytes: each event counts 256 bytes plus its strings.
	q = newEventQueue(c, EventQueueConfig{MaxEvents: 100, MaxBytes: 3 * 300})
	for i := range 4 {
		q.push(AgentEvent{Kind: AgentDisconnected, Agent: AgentInfo{EndpointID: fmt.Sprintf("proto::b-%d", i)}, Reason: errors.New("gone")})
	}
	if q.len() != 3 || q.bytes > 900 {
		t.Errorf("byte bound: %d events, %d bytes queued; want 3 within 900", q.len(), q.bytes)
	}
	if ev, _ := q.take(); ev.Missed != 1 || ev.Agent.EndpointID != "proto::b-1" {
		t.Errorf("first after a byte drop: %+v", ev)
	}
}

func encodeNSC(t testing.TB, m *uspmsg.Msg) []byte {
	t.Helper()
	p, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := record.Encode(record.NewNoSessionContext("1.3", "proto::c", "proto::a", p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLaneOf(t *testing.T) {
	for _, tc := range []struct {
		m    *uspmsg.Msg
		want lane
	}{
		{msg.Get{Paths: []string{"Device."}}.Build("1"), laneMain},
		{(&msg.GetResp{}).Build("1"), laneAnswer},
		{(&msg.Error{Code: msg.CodeInternal}).Build("1"), laneAnswer},
		{msg.NotifyResp{SubscriptionID: "s"}.Build("1"), laneAnswer},
		{msg.Notify{SubscriptionID: "s", Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("1"), laneMain},
	} {
		if got := laneOf(encodeNSC(t, tc.m)); got != tc.want {
			t.Errorf("%s: lane %d, want %d", tc.m.GetHeader().GetMsgType(), got, tc.want)
		}
	}
	d, _ := record.Encode(record.NewDisconnect("1.3", "proto::c", "proto::a", "bye", 0))
	if laneOf(d) != laneMain {
		t.Error("Disconnect record not on the main lane")
	}
}

// FuzzLaneOf checks that laneOf never panics, and that for every record
// that decodes it picks the lane the decoded message calls for.
func FuzzLaneOf(f *testing.F) {
	f.Add(encodeNSC(f, (&msg.GetResp{}).Build("1")))
	f.Add(encodeNSC(f, msg.Notify{SubscriptionID: "s", Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := laneOf(b)
		rec, err := record.Decode(b)
		if err != nil {
			return
		}
		want := laneMain
		switch {
		case rec.GetSessionContext() != nil:
			want = laneAnswer
		case rec.GetNoSessionContext() != nil:
			var m uspmsg.Msg
			if proto.Unmarshal(rec.GetNoSessionContext().GetPayload(), &m) != nil {
				return // either lane refuses it
			}
			if tp := m.GetHeader().GetMsgType(); tp == uspmsg.Header_ERROR || msg.IsResponse(tp) {
				want = laneAnswer
			}
		}
		if got != want {
			t.Fatalf("laneOf = %d, decoded record says %d", got, want)
		}
	})
}

// intakeRig is a controller on a sinkTransport (bench_shared_internal_test.go)
// whose notify handler records, by agent, the msg_ids it was given.
type intakeRig struct {
	c    *Controller
	tr   *sinkTransport
	ids  []string
	recs [][][]byte
	mu   sync.Mutex
	got  map[string][]int
	slow func(agent string) time.Duration
}

func newIntakeRig(t *testing.T, agents, perAgent int, ic IntakeConfig, slow func(string) time.Duration) *intakeRig {
	t.Helper()
	rig := &intakeRig{tr: &sinkTransport{}, got: map[string][]int{}, slow: slow}
	c, err := NewController("proto::bench-controller", WithTransport(rig.tr), WithIntake(ic),
		WithNotifyHandler(func(_ context.Context, n *Notification) error {
			seq, err := strconv.Atoi(strings.TrimPrefix(n.MsgID, "vc-"))
			if err != nil {
				return err
			}
			rig.mu.Lock()
			rig.got[n.AgentID] = append(rig.got[n.AgentID], seq)
			rig.mu.Unlock()
			if rig.slow != nil {
				time.Sleep(rig.slow(n.AgentID))
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
	rig.c = c
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("proto::bench-agent-%04d", i)
	}
	rig.addAgents(ids, perAgent)
	return rig
}

// addAgents makes perAgent notifications ready to send for each agent.
func (rig *intakeRig) addAgents(ids []string, perAgent int) {
	for _, id := range ids {
		rig.ids = append(rig.ids, id)
		var recs [][]byte
		for j := range perAgent {
			m := msg.Notify{SubscriptionID: "sub", SendResp: true, Notification: &msg.ValueChange{ParamPath: "Device.X", ParamValue: "1"}}.Build(fmt.Sprintf("vc-%d", j))
			payload, _ := proto.Marshal(m)
			rec, _ := record.Encode(record.NewNoSessionContext("1.3", "proto::bench-controller", id, payload))
			recs = append(recs, rec)
		}
		rig.recs = append(rig.recs, recs)
	}
}

func (rig *intakeRig) send(agent, seq int) {
	rig.tr.h.HandleRecord(mtp.Inbound{Data: rig.recs[agent][seq], ReplyTo: mtp.Address{MTP: mtp.MQTT, To: "usp/agent/" + rig.ids[agent]}})
}

// TestIntakeShardsUnderPressure drives the sharded intake from eight
// goroutines at once (as several transports or sessions do), with four
// workers and a total budget far below what the agents have in flight, so
// that deliveries wait for room all the time: every notification must be
// handled exactly once, each agent's in order, none refused, and the
// intake must end empty with no worker left.
func TestIntakeShardsUnderPressure(t *testing.T) {
	const agents, perAgent, feeders, inflight = 64, 60, 8, 6
	rig := newIntakeRig(t, agents, perAgent, IntakeConfig{Workers: 4, MaxRecords: 24, MaxBytes: 1 << 20, AgentRecords: inflight},
		func(string) time.Duration { return time.Duration(rand.IntN(50)) * time.Microsecond })
	var wg sync.WaitGroup
	for f := range feeders {
		wg.Go(func() {
			var given [agents]int64
			for seq := range perAgent {
				for a := f; a < agents; a += feeders {
					// Within the agent's share: a refusal would be the
					// test's doing, not the intake's.
					for given[a]-rig.tr.to[a].Load() >= inflight {
						runtime.Gosched()
					}
					rig.send(a, seq)
					given[a]++
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for rig.tr.sent.Load() < agents*perAgent {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications answered; intake %+v", rig.tr.sent.Load(), agents*perAgent, rig.c.IntakeStats())
		}
		time.Sleep(time.Millisecond)
	}
	rig.mu.Lock()
	for _, id := range rig.ids {
		got := rig.got[id]
		if len(got) != perAgent {
			t.Errorf("%s: %d notifications handled, want %d", id, len(got), perAgent)
			continue
		}
		for i, seq := range got {
			if seq != i {
				t.Errorf("%s: handled in the order %v", id, got)
				break
			}
		}
	}
	rig.mu.Unlock()
	for {
		st := rig.c.IntakeStats()
		if st.Records == 0 && st.Bytes == 0 && st.Mailboxes == 0 && st.Workers == 0 {
			if st.Refused != 0 {
				t.Errorf("%d records refused", st.Refused)
			}
			if st.Waits == 0 {
				t.Error("no delivery waited for room: the test did not press on the budget")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("intake did not drain: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIntakeOneWorkerTakesTurns: with a single worker, an agent whose
// notifications keep coming cannot hold it: another agent's notification,
// in whatever shard it falls, is handled after at most a few of the busy
// agent's, not after all of them.
func TestIntakeOneWorkerTakesTurns(t *testing.T) {
	for round := range 5 { // agents land in other shards each time
		rig := newIntakeRig(t, 2, 100, IntakeConfig{Workers: 1}, func(id string) time.Duration {
			return 200 * time.Microsecond
		})
		for seq := range 100 {
			rig.send(0, seq)
		}
		rig.send(1, 0)
		deadline := time.Now().Add(10 * time.Second)
		for {
			rig.mu.Lock()
			busy, other := len(rig.got[rig.ids[0]]), len(rig.got[rig.ids[1]])
			rig.mu.Unlock()
			if other == 1 {
				if busy > 10 {
					t.Errorf("round %d: the other agent waited for %d of the busy agent's notifications", round, busy)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the other agent's notification was never handled (busy agent: %d)", round, busy)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// TestIntakeShardsTakeTurns: with a single worker, agents that keep
// arriving in one shard of the intake cannot hold the worker there: an
// agent in another shard is served after a few of them (a worker takes
// at most shardStreak in a row from one shard), not after all of them.
func TestIntakeShardsTakeTurns(t *testing.T) {
	rig := newIntakeRig(t, 0, 0, IntakeConfig{Workers: 1}, func(string) time.Duration { return 200 * time.Microsecond })
	in := rig.c.intake
	// 150 agents of one shard, and one of another.
	var same []string
	var other string
	for i := 0; len(same) < 150 || other == ""; i++ {
		id := fmt.Sprintf("proto::bench-agent-%04d", i)
		switch s := in.shardOf(id); {
		case s == in.shardOf("proto::bench-agent-0000") && len(same) < 150:
			same = append(same, id)
		case s != in.shardOf("proto::bench-agent-0000") && other == "":
			other = id
		}
	}
	rig.addAgents(append(same, other), 1)
	for i := range same {
		rig.send(i, 0)
	}
	rig.send(len(same), 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rig.mu.Lock()
		done := len(rig.got[other])
		before := 0
		for _, id := range same {
			before += len(rig.got[id])
		}
		rig.mu.Unlock()
		if done == 1 {
			if before > 2*shardStreak {
				t.Errorf("the agent in another shard waited for %d of the busy shard's agents", before)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent in another shard was never served (%d of the busy shard's were)", before)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
