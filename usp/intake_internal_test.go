package usp

import (
	"errors"
	"fmt"
	"hash/maphash"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
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
