package usp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
)

func notifyResps(ms []*uspmsg.Msg) []*uspmsg.Msg {
	var out []*uspmsg.Msg
	for _, m := range ms {
		if m.GetHeader().GetMsgType() == uspmsg.Header_NOTIFY_RESP {
			out = append(out, m)
		}
	}
	return out
}

// The test runs in a synctest bubble: "nothing was sent" is checked once
// every goroutine has settled (synctest.Wait), not after a guessed sleep.
func TestNotifyRespAfterHandlerAccepts(t *testing.T) {
	synctest.Test(t, testNotifyRespAfterHandlerAccepts)
}

func testNotifyRespAfterHandlerAccepts(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", nil)
	var fail atomic.Bool
	fail.Store(true)
	got := make(chan *usp.Notification, 10)
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
		got <- n
		if fail.Load() {
			return errors.New("database down")
		}
		return nil
	}))
	_ = c
	vc := msg.Notify{SubscriptionID: "sub-1", SendResp: true, Notification: &msg.ValueChange{ParamPath: "Device.X.Y", ParamValue: "7"}}

	// First delivery: the handler refuses, so no NotifyResp.
	agent.sendMsg(vc.Build("vc-1"))
	n := <-got
	if n.Duplicate || n.MsgID != "vc-1" || n.SubscriptionID != "sub-1" || n.AgentID != agent.id {
		t.Fatalf("notification = %+v", n)
	}
	if v, ok := n.Body.(*msg.ValueChange); !ok || v.ParamValue != "7" {
		t.Fatalf("body = %#v", n.Body)
	}
	synctest.Wait()
	if r := notifyResps(agent.received()); len(r) != 0 {
		t.Fatalf("NotifyResp sent although the handler failed: %v", r)
	}

	// The agent retries with the same msg_id; now the handler accepts.
	fail.Store(false)
	agent.sendMsg(vc.Build("vc-1"))
	if n := <-got; !n.Duplicate {
		t.Fatal("retransmission not marked Duplicate")
	}
	resps := notifyResps(agent.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 }))
	if resps[0].GetHeader().GetMsgId() != "vc-1" || resps[0].GetBody().GetResponse().GetNotifyResp().GetSubscriptionId() != "sub-1" {
		t.Fatalf("NotifyResp = %v", resps[0])
	}

	// A retransmission after the answer (the answer was lost) is answered
	// again but not delivered twice.
	agent.sendMsg(vc.Build("vc-1"))
	agent.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 2 })
	synctest.Wait()
	select {
	case n := <-got:
		t.Fatalf("answered notification delivered again: %+v", n)
	default:
	}

	// send_resp=false: delivered, never answered.
	agent.sendMsg(msg.Notify{SubscriptionID: "sub-1", Notification: &msg.ObjectDeletion{ObjPath: "Device.X.1."}}.Build("del-1"))
	if n := <-got; n.SendResp || n.Body.(*msg.ObjectDeletion).ObjPath != "Device.X.1." {
		t.Fatalf("notification = %+v", n)
	}
	synctest.Wait()
	if r := notifyResps(agent.received()); len(r) != 2 {
		t.Fatalf("%d NotifyResps, want 2", len(r))
	}
}

func TestHandlerPanicDoesNotAnswer(t *testing.T) {
	synctest.Test(t, testHandlerPanicDoesNotAnswer)
}

func testHandlerPanicDoesNotAnswer(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", nil)
	called := make(chan struct{}, 1)
	newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)), usp.WithNotifyHandler(func(context.Context, *usp.Notification) error {
		called <- struct{}{}
		panic("bug in user code")
	}))
	agent.sendMsg(msg.Notify{SubscriptionID: "s", SendResp: true, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("ev-1"))
	<-called
	synctest.Wait()
	if r := notifyResps(agent.received()); len(r) != 0 {
		t.Fatalf("NotifyResp after a panicking handler: %v", r)
	}
}

// TestOBUSPACaptures replays notifications the reference agent sent and
// checks that the controller answers them as the spec says.
func TestOBUSPACaptures(t *testing.T) {
	const agentID = "proto::obuspa-test-agent"
	cases := []struct {
		file      string
		wantResp  bool
		check     func(t *testing.T, n *usp.Notification)
		versionAf string // agent versions learned afterwards
	}{
		{"02-notify-boot", false, func(t *testing.T, n *usp.Notification) {
			e, ok := n.Body.(*msg.Event)
			if !ok || e.Path() != "Device.Boot!" || e.Params["Cause"] != "LocalFactoryReset" || n.SubscriptionID != "boot-1" {
				t.Fatalf("Boot! = %+v %+v", n, n.Body)
			}
		}, ""},
		{"62-notify-onboardrequest", true, func(t *testing.T, n *usp.Notification) {
			ob, ok := n.Body.(*msg.OnBoardRequest)
			if !ok || ob.OUI != "012345" || n.SubscriptionID != "" || !n.SendResp {
				t.Fatalf("OnBoardRequest = %+v %+v", n, n.Body)
			}
		}, "1.0,1.1,1.2,1.3"},
		{"59-notify-opcomplete-sendresp-false", true, func(t *testing.T, n *usp.Notification) {
			oc, ok := n.Body.(*msg.OperationComplete)
			if !ok || oc.CommandKey != "probe-timer-noresp" || n.SubscriptionID != "opc-1" {
				t.Fatalf("OperationComplete = %+v %+v", n, n.Body)
			}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "obuspa", tc.file+".record.bin"))
			if err != nil {
				t.Skipf("captures not found: %v", err)
			}
			net := memory.NewNetwork()
			ep, err := net.Endpoint("proto::test-controller")
			if err != nil {
				t.Fatal(err)
			}
			agentEP := newScripted(t, net, agentID, nil)
			got := make(chan *usp.Notification, 1)
			c, err := usp.NewController("proto::test-controller", usp.WithTransport(ep),
				usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error { got <- n; return nil }))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if err := net.Inject(agentID, "proto::test-controller", raw); err != nil {
				t.Fatal(err)
			}
			n := <-got
			tc.check(t, n)
			if tc.wantResp {
				resp := notifyResps(agentEP.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 }))[0]
				if resp.GetHeader().GetMsgId() != n.MsgID || resp.GetBody().GetResponse().GetNotifyResp().GetSubscriptionId() != n.SubscriptionID {
					t.Fatalf("NotifyResp = %v", resp)
				}
				agentEP.mu.Lock()
				rec := agentEP.recs[0]
				agentEP.mu.Unlock()
				if rec.GetVersion() != "1.3" || rec.GetToId() != agentID {
					t.Fatalf("NotifyResp record: version %q to %q", rec.GetVersion(), rec.GetToId())
				}
			}
			if tc.versionAf != "" {
				info, _ := c.AgentInfo(agentID)
				if info.SupportedVersions != tc.versionAf || info.Version != "1.3" {
					t.Fatalf("agent info = %+v", info)
				}
			}
		})
	}
}

func TestNotificationsIterator(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", nil)
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan string, 3)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		close(ready)
		for n, err := range c.Notifications(ctx, 8) {
			if err != nil {
				done <- err
				return
			}
			seen <- n.MsgID
		}
	}()
	<-ready
	time.Sleep(20 * time.Millisecond) // let the iterator register
	for _, id := range []string{"a", "b", "c"} {
		agent.sendMsg(msg.Notify{SubscriptionID: "s", Notification: &msg.ObjectCreation{ObjPath: "Device.X.1."}}.Build(id))
	}
	for _, want := range []string{"a", "b", "c"} {
		if got := <-seen; got != want {
			t.Fatalf("got %s, want %s (order per agent must hold)", got, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("iterator ended with %v", err)
	}
}

func TestSessionContextRefusedWhenNotEnabled(t *testing.T) {
	net := memory.NewNetwork()
	agent := newScripted(t, net, "proto::agent-1", nil)
	newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
	sc := record.SessionSegments([]byte{1, 2, 3}, 0)
	sc[0].SessionId, sc[0].SequenceId, sc[0].ExpectedId = 1, 1, 1
	agent.sendRecord(record.NewSessionContext("1.3", ctrlID, agent.id, sc[0]))
	deadline := time.Now().Add(5 * time.Second)
	for {
		agent.mu.Lock()
		var code uint32
		for _, r := range agent.recs {
			if d := r.GetDisconnect(); d != nil {
				code = d.GetReasonCode()
			}
		}
		agent.mu.Unlock()
		if code == record.CodeSessionContextNotAllowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no Disconnect 7106 for an unwanted session context")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
