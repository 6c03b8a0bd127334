package conformance

import (
	"context"
	"fmt"
	"strings"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
)

func init() {
	register(&Case{ID: "9.9", Title: "Adding a New Controller - OnBoardRequest",
		Features: []Feature{FeatControllerWritable, FeatSendOnBoardRequest}, Run: run9_9})
}

// mtpEntry returns the parameters of a Controller.{i}.MTP.{i}. entry that
// reaches the equipment e: its Protocol and, in the MQTT or STOMP object,
// where e receives. Over mtp/memory, which TR-181 has no Protocol for,
// it returns nil: the agent reaches e by its endpoint ID.
func mtpEntry(t *T, e *Equipment) map[string]string {
	local := e.LocalAddress()
	switch k := e.Transport().Kind(); k {
	case mtp.Memory:
		return nil
	case mtp.MQTT, mtp.STOMP:
		if local.IsZero() {
			t.Abortf("setup: the second controller's %s transport reported no address to configure in the agent", k)
		}
		p := map[string]string{"Enable": "true"}
		if k == mtp.MQTT {
			p["Protocol"], p["MQTT.Topic"] = "MQTT", local.To
			if ref := connectedMQTTClient(t); ref != "" {
				p["MQTT.Reference"] = ref
			}
		} else {
			p["Protocol"], p["STOMP.Destination"] = "STOMP", local.To
		}
		return p
	default:
		t.NeedsOperatorf("the second controller is reached over %s: configure its MTP entry in the agent by hand", k)
	}
	return nil
}

// connectedMQTTClient returns a connected Device.MQTT.Client instance
// (without the trailing dot), or "".
func connectedMQTTClient(t *T) string {
	if _, ok := t.env.Object("Device.MQTT.Client.{i}."); !ok {
		return ""
	}
	ex := t.Send(msg.Get{Paths: []string{"Device.MQTT.Client.*.Status"}})
	g, err := msg.ParseGetResp(ex.Response)
	if ex.Err != nil || err != nil {
		return ""
	}
	for p, v := range g.Values() {
		if v == "Connected" {
			return strings.TrimSuffix(p, ".Status")
		}
	}
	return ""
}

// 9.9: a Controller added with an MTP entry, told to SendOnBoardRequest(),
// reaches the second test equipment with an OnBoardRequest.
func run9_9(t *T) {
	second := t.Secondary()
	params := map[string]string{"Alias": "usp-111-Controller", "EndpointID": second.ControllerID(), "Enable": "true"}
	// The plan's "valid role instance": the test equipment's own, as 1.78
	// gives the second controller.
	if role := roleOfController(t, t.Controller()); role != "" {
		params["AssignedRole"] = role
	} else {
		t.Notef("the test equipment's Controller entry has no AssignedRole: the new Controller gets none")
	}
	ctrl, _ := t.Create("Device.LocalAgent.Controller.", params)
	if p := mtpEntry(t, second); p != nil {
		mt, _ := t.Create(ctrl+"MTP.", p)
		t.Notef("the second controller's MTP entry %s: %q", mt, p)
	} else {
		t.Notef("the second controller is on mtp/memory: no MTP entry, the agent reaches it by its endpoint ID")
	}
	mark := second.Mark()
	ex := t.Send(msg.Operate{Command: ctrl + "SendOnBoardRequest()", SendResp: true})
	if r, err := msg.ParseOperateResp(ex.Response); ex.Err != nil || err != nil || r.Err() != nil {
		t.Notef("SendOnBoardRequest(): %s", outcome(ex))
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.notifyTimeout())
	defer cancel()
	first, ok := second.Await(ctx, mark, func(ib Inbound) bool { return ib.Record.GetFromId() == t.eq.AgentID() })
	t.Check(1, "The EUT is able to start a session with the secondary Controller", ok,
		"no record from the agent reached the second controller within %v", t.cfg.notifyTimeout())
	if ok {
		t.Notef("the second controller's first record from the agent: %s", inboundKind(first))
	}
	ib, ok := second.Await(ctx, mark, func(ib Inbound) bool {
		n := ib.Notify()
		if n == nil {
			return false
		}
		_, is := n.Notification.(*msg.OnBoardRequest)
		return is
	})
	c := t.Metric(2, "The EUT sends the secondary Controller a Notify containing an OnBoardRequest")
	if c.Expect(ok, "no OnBoardRequest reached the second controller within %v", t.cfg.notifyTimeout()) {
		ob := ib.Notify().Notification.(*msg.OnBoardRequest)
		t.Notef("OnBoardRequest: oui=%q product_class=%q serial_number=%q versions=%q send_resp=%t",
			ob.OUI, ob.ProductClass, ob.SerialNumber, ob.AgentSupportedProtocolVersions, ib.Notify().SendResp)
	}
	c.End()
}

// inboundKind names what an inbound record carries.
func inboundKind(ib Inbound) string {
	if ib.Msg != nil {
		return fmt.Sprintf("%s msg_id=%q", msgName(ib.Msg.GetHeader().GetMsgType()), ib.Msg.GetHeader().GetMsgId())
	}
	if ib.Record != nil {
		return recordTypeName(ib.Record)
	}
	return "undecodable bytes"
}
