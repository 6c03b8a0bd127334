package usp_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/usp"
)

// captured returns the USP Msg inside one OB-USP-A capture.
func captured(t *testing.T, name string) *uspmsg.Msg {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "msg", "testdata", "obuspa", name+".record.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var rec usprecord.Record
	if err := proto.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	var m uspmsg.Msg
	if err := proto.Unmarshal(rec.GetNoSessionContext().GetPayload(), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestRecordedAnswers has an agent answer the controller's requests with
// the reference agent's recorded answers (msg_id rewritten to match), and
// checks the typed results against what MANIFEST.md says of each capture.
func TestRecordedAnswers(t *testing.T) {
	net := memory.NewNetwork()
	var reply *uspmsg.Msg
	agent := newScripted(t, net, "proto::obuspa-test-agent", func(m *uspmsg.Msg) []*uspmsg.Msg {
		r := proto.Clone(reply).(*uspmsg.Msg)
		r.Header.MsgId = m.GetHeader().GetMsgId()
		return []*uspmsg.Msg{r}
	})
	c := newController(t, net, usp.WithAgent(agent.id, memAddr(agent.id)))
	ag := c.Agent(agent.id)

	t.Run("16-get-device-all", func(t *testing.T) {
		reply = captured(t, "16-get-device-all")
		r, err := ag.Get(ctxT(t), msg.Get{Paths: []string{"Device."}})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(r.Results[0].Resolved); n != 34 {
			t.Fatalf("%d resolved objects, the capture has 34", n)
		}
		if n := len(r.Values()); n != 190 {
			t.Fatalf("%d values, the capture has 190", n)
		}
	})
	t.Run("10-get-multi-one-bad", func(t *testing.T) {
		reply = captured(t, "10-get-multi-one-bad")
		vals, err := ag.GetValues(ctxT(t), "Device.DeviceInfo.Manufacturer", "Device.LocalAgent.EndpointID", "Device.DeviceInfo.NoSuchParam", "Device.LocalAgent.Controller.1.MTP.1.")
		if !errors.Is(err, msg.ErrInvalidPath) {
			t.Fatalf("err = %v, want the 7026 of the bad path", err)
		}
		if vals["Device.LocalAgent.EndpointID"] != "proto::obuspa-test-agent" || len(vals) != 23 {
			t.Fatalf("%d values: %v", len(vals), vals)
		}
	})
	t.Run("24-set-readonly-strict", func(t *testing.T) {
		reply = captured(t, "24-set-readonly-strict")
		_, err := ag.SetValues(ctxT(t), "Device.DeviceInfo.", map[string]string{"SerialNumber": "x"})
		var e *msg.Error
		if !errors.As(err, &e) || e.Code != msg.CodeInvalidArguments || len(e.ParamErrs) != 1 || e.ParamErrs[0].Code != msg.CodeParamReadOnly {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("61-operate-wildcard-sync", func(t *testing.T) {
		reply = captured(t, "61-operate-wildcard-sync")
		r, err := ag.Operate(ctxT(t), msg.Operate{Command: "Device.LocalAgent.Controller.*.SendOnBoardRequest()", SendResp: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Results) != 2 || r.Results[1].Outcome() != msg.OutcomeSync {
			t.Fatalf("results = %+v", r.Results)
		}
	})
	t.Run("68-gsdm-device-full", func(t *testing.T) {
		reply = captured(t, "68-gsdm-device-full")
		s, err := ag.Schema(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.LookupString("Device.LocalAgent.Subscription.3.ReferenceList")
		if err != nil || e.Param == nil {
			t.Fatalf("lookup: %+v, %v", e, err)
		}
	})
	t.Run("73-getinstances-first-level", func(t *testing.T) {
		reply = captured(t, "73-getinstances-first-level")
		r, err := ag.GetInstances(ctxT(t), msg.GetInstances{Paths: []string{"Device.LocalAgent.Controller."}, FirstLevelOnly: true})
		if err != nil || len(r.Paths()) != 2 {
			t.Fatalf("instances = %v, %v", r, err)
		}
	})
	t.Run("75-get-supported-protocol", func(t *testing.T) {
		reply = captured(t, "75-get-supported-protocol")
		r, err := ag.GetSupportedProtocol(ctxT(t))
		if err != nil || r.Versions != "1.0,1.1,1.2,1.3" {
			t.Fatalf("versions = %v, %v", r, err)
		}
		if info, _ := ag.Info(); info.Version != "1.3" {
			t.Fatalf("the controller would write version %q to this agent", info.Version)
		}
	})
	t.Run("76-error-header-body-mismatch answers a Get", func(t *testing.T) {
		reply = captured(t, "76-error-header-body-mismatch")
		_, err := ag.GetValues(ctxT(t), "Device.DeviceInfo.")
		if !errors.Is(err, msg.ErrNotSupported) {
			t.Fatalf("err = %v, want the agent's 7001", err)
		}
	})
}
