package usptest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func TestNewPairTalksAndCloses(t *testing.T) {
	var p *usptest.Pair
	t.Run("inner", func(t *testing.T) {
		p = usptest.NewPair(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion")
		if err != nil || v != "1.0.0" {
			t.Fatalf("GetValue = %q, %v", v, err)
		}
		if _, err := p.Agent.SetValues(ctx, "Device.DeviceInfo.", map[string]string{"ProvisioningCode": "abc"}); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Fake.Model().Get("Device.DeviceInfo.ProvisioningCode"); err != nil || got != "abc" {
			t.Fatalf("model has %q, %v", got, err)
		}
		_, err = p.Agent.SetValues(ctx, "Device.DeviceInfo.", map[string]string{"SerialNumber": "x"})
		if msg.ParamCode(err) != msg.CodeParamReadOnly {
			t.Fatalf("Set of a read-only parameter: %v", err)
		}
		if p.Controller.EndpointID() != usptest.PairControllerID || p.Fake.EndpointID() != usptest.PairAgentID {
			t.Fatalf("IDs %s, %s", p.Controller.EndpointID(), p.Fake.EndpointID())
		}
	})
	// The test's cleanup closed both ends.
	if _, err := p.Agent.GetValues(context.Background(), "Device."); !errors.Is(err, usp.ErrClosed) {
		t.Fatalf("after the test: %v, want usp.ErrClosed", err)
	}
}

func TestNewPairOptions(t *testing.T) {
	model := usptest.DefaultModel()
	if err := model.Set("Device.DeviceInfo.SoftwareVersion", "9.9"); err != nil {
		t.Fatal(err)
	}
	boot := make(chan *usp.Notification, 1)
	p := usptest.NewPair(t,
		usptest.WithPairIDs("proto::my-controller", "os::000000-000001"),
		usptest.WithAgentOptions(usptest.WithModel(model)),
		usptest.WithControllerOptions(usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			if ev, ok := n.Body.(*msg.Event); ok && ev.EventName == "Boot!" {
				select {
				case boot <- n:
				default:
				}
			}
			return nil
		})))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.SoftwareVersion"); err != nil || v != "9.9" {
		t.Fatalf("GetValue = %q, %v (WithModel not applied)", v, err)
	}
	select {
	case n := <-boot:
		if n.AgentID != "os::000000-000001" {
			t.Fatalf("Boot! from %s", n.AgentID)
		}
	case <-ctx.Done():
		t.Fatal("no Boot! reached the controller's handler")
	}
}

// fakeTB records what the helpers do when something fails.
type fakeTB struct {
	fatals   []string
	cleanups []func()
}

func (*fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, a...))
}
func (f *fakeTB) Cleanup(c func()) { f.cleanups = append(f.cleanups, c) }
func (f *fakeTB) done() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestHelpersFailThroughFatalf(t *testing.T) {
	tests := []struct {
		name string
		run  func(tb *fakeTB) any
	}{
		{"same IDs", func(tb *fakeTB) any {
			return usptest.NewPair(tb, usptest.WithPairIDs("proto::x", "proto::x"))
		}},
		{"bad agent ID", func(tb *fakeTB) any {
			return usptest.NewPair(tb, usptest.WithPairIDs("proto::x", "not an id"))
		}},
		{"bad controller option", func(tb *fakeTB) any {
			return usptest.NewPair(tb, usptest.WithControllerOptions(usp.WithNotifyHandler(nil)))
		}},
		{"StartAgent without transport", func(tb *fakeTB) any {
			return usptest.StartAgent(tb, "proto::lonely")
		}},
	}
	for _, tc := range tests {
		tb := &fakeTB{}
		got := tc.run(tb)
		tb.done()
		if len(tb.fatals) != 1 {
			t.Errorf("%s: Fatalf called %d times: %q", tc.name, len(tb.fatals), tb.fatals)
		}
		switch v := got.(type) {
		case *usptest.Pair:
			if v != nil {
				t.Errorf("%s: returned a pair", tc.name)
			}
		case *usptest.Agent:
			if v != nil {
				t.Errorf("%s: returned an agent", tc.name)
			}
		}
	}
}

func TestStartPairAndClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx, usptest.WithPairIDs("proto::c", "proto::a"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Agent.GetValue(ctx, "Device.DeviceInfo.Manufacturer"); err != nil || v != "gousp" {
		t.Fatalf("GetValue = %q, %v", v, err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Agent.GetValues(ctx, "Device."); !errors.Is(err, usp.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	for _, opts := range [][]usptest.PairOption{
		{usptest.WithPairIDs("", "proto::a")},
		{usptest.WithPairIDs("proto::c", "bad id")},
		{usptest.WithControllerOptions(usp.WithNotifyHandler(nil))},
		{usptest.WithAgentOptions(usptest.WithMaxRecordSize(-1))},
	} {
		if p, err := usptest.StartPair(ctx, opts...); err == nil {
			_ = p.Close(ctx)
			t.Errorf("StartPair accepted bad options")
		}
	}
}
