package usp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp"
)

// subAgent plays the subscription and operation side of an agent: it
// creates Subscription instances, deletes them, runs commands (sync
// "Device.Sync()", async anything else) and reports async completions
// through the subscription that covers the command.
type subAgent struct {
	*scripted
	mu      sync.Mutex
	next    int
	subs    map[string]map[string]string // instance path -> params
	deleted []string
	asyncOK bool
}

func newSubAgent(t *testing.T, net *memory.Network) *subAgent {
	a := &subAgent{subs: map[string]map[string]string{}, asyncOK: true}
	a.scripted = newScripted(t, net, "proto::sub-agent", func(m *uspmsg.Msg) []*uspmsg.Msg {
		id := m.GetHeader().GetMsgId()
		v, err := msg.Parse(m)
		if err != nil {
			return nil
		}
		switch r := v.(type) {
		case *msg.Add:
			a.mu.Lock()
			a.next++
			path := "Device.LocalAgent.Subscription." + itoa(a.next) + "."
			params := map[string]string{}
			for _, p := range r.Objects[0].Params {
				params[p.Name] = p.Value
			}
			if params["NotifType"] == "Bogus" {
				a.mu.Unlock()
				return []*uspmsg.Msg{(&msg.Error{Code: msg.CodeInvalidArguments, ParamErrs: []msg.ParamError{{Path: "Device.LocalAgent.Subscription.{i}.NotifType", Code: msg.CodeInvalidValue}}}).Build(id)}
			}
			a.subs[path] = params
			a.mu.Unlock()
			return []*uspmsg.Msg{msg.AddResp{Results: []msg.AddResult{{Requested: r.Objects[0].Path, Path: path, UniqueKeys: map[string]string{"ID": params["ID"]}}}}.Build(id)}
		case *msg.Delete:
			a.mu.Lock()
			for _, p := range r.Paths {
				delete(a.subs, p)
				a.deleted = append(a.deleted, p)
			}
			a.mu.Unlock()
			return []*uspmsg.Msg{msg.DeleteResp{Results: []msg.DeleteResult{{Requested: r.Paths[0], Affected: r.Paths}}}.Build(id)}
		case *msg.Operate:
			if r.Command == "Device.Sync()" {
				return []*uspmsg.Msg{msg.OperateResp{Results: []msg.OperateResult{{ExecutedCommand: r.Command, OutputArgs: map[string]string{"Echo": r.Args["In"]}}}}.Build(id)}
			}
			out := []*uspmsg.Msg{msg.OperateResp{Results: []msg.OperateResult{{ExecutedCommand: r.Command, RequestObjPath: "Device.LocalAgent.Request.1"}}}.Build(id)}
			// Complete through the OperationComplete subscription that
			// references the command, as an agent does.
			a.mu.Lock()
			var subID string
			for _, p := range a.subs {
				if p["NotifType"] == "OperationComplete" && p["ReferenceList"] == r.Command {
					subID = p["ID"]
				}
			}
			ok := a.asyncOK
			a.mu.Unlock()
			if subID == "" {
				return out
			}
			obj, name := splitCommand(r.Command)
			oc := &msg.OperationComplete{ObjPath: obj, CommandName: name, CommandKey: r.CommandKey, OutputArgs: map[string]string{"Result": "done"}}
			if !ok {
				oc = &msg.OperationComplete{ObjPath: obj, CommandName: name, CommandKey: r.CommandKey, Err: &msg.Error{Code: msg.CodeCommandFailure, Message: "diagnostic failed"}}
			}
			return append(out, msg.Notify{SubscriptionID: subID, SendResp: true, Notification: oc}.Build("OperationComplete-"+r.CommandKey))
		}
		return nil
	})
	return a
}

func splitCommand(cmd string) (obj, name string) {
	for i := len(cmd) - 1; i >= 0; i-- {
		if cmd[i] == '.' {
			return cmd[:i+1], cmd[i+1:]
		}
	}
	return "", cmd
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestSubscribeDeliverUnsubscribe(t *testing.T) {
	net := memory.NewNetwork()
	a := newSubAgent(t, net)
	c := newController(t, net, usp.WithAgent(a.id, memAddr(a.id)))
	ag := c.Agent(a.id)
	sub, err := ag.Subscribe(ctxT(t), usp.SubscriptionSpec{NotifType: usp.NotifValueChange, ReferenceList: []string{"Device.WiFi.SSID.*.SSID"}, NotifRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Path() != "Device.LocalAgent.Subscription.1." {
		t.Fatalf("path = %q", sub.Path())
	}
	a.mu.Lock()
	params := a.subs[sub.Path()]
	a.mu.Unlock()
	if params["ID"] != sub.ID() || params["NotifType"] != "ValueChange" || params["ReferenceList"] != "Device.WiFi.SSID.*.SSID" || params["Enable"] != "true" || params["NotifRetry"] != "true" {
		t.Fatalf("subscription created with %v", params)
	}

	a.sendMsg(msg.Notify{SubscriptionID: sub.ID(), SendResp: true, Notification: &msg.ValueChange{ParamPath: "Device.WiFi.SSID.1.SSID", ParamValue: "home"}}.Build("vc-1"))
	a.sendMsg(msg.Notify{SubscriptionID: "someone-elses", Notification: &msg.ValueChange{ParamPath: "Device.X", ParamValue: "1"}}.Build("vc-2"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for n, err := range sub.Notifications(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if n.MsgID != "vc-1" || n.Body.(*msg.ValueChange).ParamValue != "home" {
			t.Fatalf("notification = %+v", n)
		}
		break
	}
	a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 })

	if err := sub.Unsubscribe(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	deleted := append([]string(nil), a.deleted...)
	a.mu.Unlock()
	if len(deleted) != 1 || deleted[0] != "Device.LocalAgent.Subscription.1." {
		t.Fatalf("deleted = %v", deleted)
	}
	<-sub.Done()
	if !errors.Is(sub.Err(), usp.ErrSubscriptionClosed) {
		t.Fatalf("Err = %v", sub.Err())
	}
}

func TestSubscribeRefusedByAgent(t *testing.T) {
	net := memory.NewNetwork()
	a := newSubAgent(t, net)
	c := newController(t, net, usp.WithAgent(a.id, memAddr(a.id)))
	_, err := c.Agent(a.id).Subscribe(ctxT(t), usp.SubscriptionSpec{NotifType: "Bogus", ReferenceList: []string{"Device."}})
	if !errors.Is(err, msg.ErrInvalidArguments) {
		t.Fatalf("err = %v", err)
	}
	// The ID is free again: a retry with the same ID is not refused locally.
	if _, err := c.Agent(a.id).Subscribe(ctxT(t), usp.SubscriptionSpec{ID: "x", NotifType: usp.NotifEvent, ReferenceList: []string{"Device.Boot!"}}); err != nil {
		t.Fatal(err)
	}
}

func TestCallSyncAndAsync(t *testing.T) {
	net := memory.NewNetwork()
	a := newSubAgent(t, net)
	c := newController(t, net, usp.WithAgent(a.id, memAddr(a.id)))
	ag := c.Agent(a.id)

	out, err := ag.Call(ctxT(t), "Device.Sync()", map[string]string{"In": "ping"})
	if err != nil || out["Echo"] != "ping" {
		t.Fatalf("sync call: %v, %v", out, err)
	}

	op, err := ag.StartOperation(ctxT(t), "Device.IP.Diagnostics.IPPing()", map[string]string{"Host": "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = op.Wait(ctxT(t))
	if err != nil || out["Result"] != "done" {
		t.Fatalf("async result: %v, %v", out, err)
	}
	if op.RequestObject() != "Device.LocalAgent.Request.1." {
		t.Fatalf("request object %q", op.RequestObject())
	}
	if op.RequestPath() != "Device.LocalAgent.Request.1" {
		t.Fatalf("request path %q", op.RequestPath())
	}
	// The completion was answered, and the operation's own subscription
	// is removed afterwards.
	a.waitFor(func(m []*uspmsg.Msg) bool { return len(notifyResps(m)) == 1 })
	waitUntil(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.subs) == 0 && len(a.deleted) == 2 // one per Call
	})

	a.mu.Lock()
	a.asyncOK = false
	a.mu.Unlock()
	_, err = ag.Call(ctxT(t), "Device.IP.Diagnostics.IPPing()", nil)
	if !errors.Is(err, msg.ErrCommandFailure) {
		t.Fatalf("failed async command: %v", err)
	}

	if _, err := ag.StartOperation(ctxT(t), "Device.WiFi.Radio.*.Scan()", nil); err == nil {
		t.Fatal("Start accepted a wildcard command")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
