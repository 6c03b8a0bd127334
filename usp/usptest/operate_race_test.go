package usptest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

// TestHandleCommandWhileOperating replaces a command's handler while
// Operates of it run; -race must stay quiet (found by uspctl's tests).
func TestHandleCommandWhileOperating(t *testing.T) {
	m := DefaultModel()
	ep, err := memory.NewNetwork().Endpoint("proto::race-agent")
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent("proto::race-agent", WithModel(m), WithTransport(ep),
		WithController("proto::ctrl", mtp.Address{MTP: mtp.Memory, To: "proto::ctrl"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	}()
	handler := func(context.Context, string, map[string]string) (map[string]string, error) {
		return map[string]string{}, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 3000 {
			if err := m.HandleCommand("Device.LocalAgent.Controller.1.SendOnBoardRequest()", handler); err != nil {
				t.Error(err)
				return
			}
		}
	})
	req := msg.Operate{Command: "Device.LocalAgent.Controller.*.SendOnBoardRequest()", SendResp: true}.Build("op").GetBody().GetRequest().GetOperate()
	for range 3000 {
		if r, ok := a.handleOperate("proto::ctrl", req).(msg.OperateResp); !ok || len(r.Results) != 1 {
			t.Fatalf("answer %#v", r)
		}
	}
	wg.Wait()
}
