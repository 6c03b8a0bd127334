package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Section 6, STOMP, first half: the cases that only watch the agent's
// connection through the kit's tap ([WithSTOMPTap]) and leave its
// settings alone: its CONNECT and SUBSCRIBE frames, the headers of its
// SENDs, its answer to a record it cannot process and its STOMPConnect
// record. The connection the agent made when the run began stands for the
// one after the plan's reboot. The cases that change settings or make the
// server misbehave are in cases_stomp_config.go.
func init() {
	register(
		&Case{ID: "6.1", Title: "Support of Required Profiles", Run: run6_1},
		&Case{ID: "6.2", Title: "STOMP session establishment", Run: run6_2},
		&Case{ID: "6.4", Title: "Successful USP message over STOMP with required headers", Run: run6_4},
		&Case{ID: "6.5", Title: "STOMP destination - provided in subscribe-dest", Run: run6_5},
		&Case{ID: "6.9", Title: "Error Handling - Unprocessed Record", Run: run6_9},
		&Case{ID: "6.12", Title: "STOMP - Use of Connect Record", Run: run6_12},
	)
}

// stompWire returns the tap and the agent's connection on it, or ends the
// case as mqttWire does.
func stompWire(t *T) (*STOMPTap, int) {
	if k := t.eq.Transport().Kind(); k != mtp.STOMP {
		t.Skipf("the agent is reached over %s, not STOMP", k)
	}
	tp := t.eq.stomp
	if tp == nil {
		t.NeedsOperatorf("needs the kit's STOMP server: the agent's STOMP server is not observed by the kit (uspctl conform --serve-stomp)")
	}
	conn, ok := tp.ConnOf(t.eq.AgentID())
	if !ok {
		t.Abortf("the kit's STOMP tap saw no connection with endpoint-id %s", t.eq.AgentID())
	}
	return tp, conn
}

// describeFrame is a one-line account of a frame for the evidence.
func describeFrame(f STOMPFrame) string {
	var b strings.Builder
	if f.FromClient {
		b.WriteString("client ")
	} else {
		b.WriteString("server ")
	}
	b.WriteString(f.Command)
	for _, kv := range f.Headers {
		fmt.Fprintf(&b, " %s:%q", kv[0], kv[1])
	}
	if len(f.Body) > 0 {
		fmt.Fprintf(&b, " body=%d bytes", len(f.Body))
	}
	return b.String()
}

// agentFrames returns the frames of the agent's connection.
func agentFrames(tp *STOMPTap, conn int) []STOMPFrame {
	var out []STOMPFrame
	for _, f := range tp.Frames(0) {
		if f.Conn == conn {
			out = append(out, f)
		}
	}
	return out
}

// 6.2: the session starts with a CONNECT or STOMP frame.
func run6_2(t *T) {
	tp, conn := stompWire(t)
	fs := agentFrames(tp, conn)
	ok := len(fs) > 0 && fs[0].FromClient && isConnect(fs[0].Command)
	if len(fs) > 0 {
		t.Notef("first frame of the agent's connection: %s", describeFrame(fs[0]))
	}
	t.Check(1, "The EUT sends a STOMP frame to the STOMP server to initiate the STOMP session", ok,
		"the agent's connection did not start with a STOMP or CONNECT frame")
}

// sendCarrying waits for the agent's SEND carrying the response to id.
func sendCarrying(t *T, tp *STOMPTap, conn, mark int, msgType, id string) (STOMPFrame, bool) {
	return tp.Wait(t, mark, t.cfg.responseTimeout(), func(f STOMPFrame) bool {
		if f.Conn != conn || !f.FromClient || f.Command != "SEND" {
			return false
		}
		e := describe(Received, mtp.Address{}, f.Body)
		return e.MsgType == msgType && e.MsgID == id
	})
}

// subscribedTo lists the destinations the agent's connection subscribed to.
func subscribedTo(tp *STOMPTap, conn int) []string {
	var out []string
	for _, f := range agentFrames(tp, conn) {
		if f.FromClient && f.Command == "SUBSCRIBE" {
			d, _ := f.Header("destination")
			out = append(out, d)
		}
	}
	return out
}

// 6.4: content-length, content-type and reply-to-dest of the SEND that
// carries a GetResp.
func run6_4(t *T) {
	tp, conn := stompWire(t)
	mark := tp.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.DeviceInfo."}})
	Expect[*msg.GetResp](t, 0, ex)
	f, ok := sendCarrying(t, tp, conn, mark, "GET_RESP", ex.Request.GetHeader().GetMsgId())
	if !ok {
		t.Abortf("the tap saw no SEND from the agent carrying the GetResp")
	}
	t.Notef("agent's %s", describeFrame(f))
	cl, has := f.Header("content-length")
	n, err := strconv.Atoi(cl)
	t.Check(1, "content-length is present and is the length of the body", has && err == nil && n == len(f.Body),
		"content-length %q (present %t), body of %d bytes", cl, has, len(f.Body))
	ct, _ := f.Header("content-type")
	t.Check(2, "content-type is application/vnd.bbf.usp.msg", ct == "application/vnd.bbf.usp.msg", "content-type %q", ct)
	rt, _ := f.Header("reply-to-dest")
	subs := subscribedTo(tp, conn)
	t.Check(3, "reply-to-dest is the STOMP destination of the EUT", rt != "" && slices.Contains(subs, rt),
		"reply-to-dest %q, the agent subscribed to %q", rt, subs)
}

// 6.5: the destination from CONNECTED's subscribe-dest is subscribed to
// and named in reply-to-dest.
func run6_5(t *T) {
	tp, conn := stompWire(t)
	var dest string
	for _, f := range agentFrames(tp, conn) {
		if !f.FromClient && f.Command == "CONNECTED" {
			dest, _ = f.Header("subscribe-dest")
			t.Notef("server's %s", describeFrame(f))
		}
	}
	if dest == "" {
		t.Abortf("the server's CONNECTED to the agent had no subscribe-dest")
	}
	subs := subscribedTo(tp, conn)
	t.Check(1, "The EUT subscribes to the destination configured in step 1", slices.Contains(subs, dest),
		"subscribe-dest %q, the agent subscribed to %q", dest, subs)
	mark := tp.Mark()
	ex := t.Send(msg.Get{Paths: []string{"Device.LocalAgent."}})
	Expect[*msg.GetResp](t, 0, ex)
	f, ok := sendCarrying(t, tp, conn, mark, "GET_RESP", ex.Request.GetHeader().GetMsgId())
	if !ok {
		t.Abortf("the tap saw no SEND from the agent carrying the GetResp")
	}
	t.Notef("agent's %s", describeFrame(f))
	rt, _ := f.Header("reply-to-dest")
	t.Check(2, "The GetResponse's reply-to-dest matches the destination configured in step 1", rt == dest,
		"reply-to-dest %q, subscribe-dest %q", rt, dest)
}

// 6.12: the STOMPConnect record after the session opens.
func run6_12(t *T) {
	tp, conn := stompWire(t)
	fs := agentFrames(tp, conn)
	var connected time.Time
	var rec *usprecord.STOMPConnectRecord
	var at time.Time
	for _, f := range fs {
		if !f.FromClient && f.Command == "CONNECTED" && connected.IsZero() {
			connected = f.Time
		}
		if f.FromClient && f.Command == "SEND" && rec == nil {
			if r, err := record.Decode(f.Body, record.WithoutValidation()); err == nil && r.GetStompConnect() != nil {
				rec, at = r.GetStompConnect(), f.Time
				t.Notef("agent's %s: STOMPConnect version=%s subscribed_destination=%q", describeFrame(f),
					rec.GetVersion(), rec.GetSubscribedDestination())
			}
		}
	}
	if !t.Check(1, "The EUT transmits a STOMPConnectRecord within 30 seconds of connecting", rec != nil && at.Sub(connected) <= 30*time.Second,
		"STOMPConnect record seen %t, %v after CONNECTED", rec != nil, at.Sub(connected)) {
		return
	}
	t.Check(2, "The version in the STOMPConnectRecord is the expected one (1.2)", rec.GetVersion() == usprecord.STOMPConnectRecord_V1_2,
		"version %s", rec.GetVersion())
	subs := subscribedTo(tp, conn)
	t.Check(3, "subscribed_destination is the destination the EUT is subscribed to", slices.Contains(subs, rec.GetSubscribedDestination()),
		"subscribed_destination %q, the agent subscribed to %q", rec.GetSubscribedDestination(), subs)
}

// stompRequired are the parameters 6.1 lists.
var stompRequired = []string{
	"Device.LocalAgent.Controller.{i}.MTP.{i}.STOMP.Reference",
	"Device.LocalAgent.Controller.{i}.MTP.{i}.STOMP.Destination",
	"Device.STOMP.ConnectionNumberOfEntries",
	"Device.STOMP.Connection.{i}.Alias",
	"Device.STOMP.Connection.{i}.Enable",
	"Device.STOMP.Connection.{i}.Status",
	"Device.STOMP.Connection.{i}.Host",
	"Device.STOMP.Connection.{i}.Port",
	"Device.STOMP.Connection.{i}.VirtualHost",
	"Device.STOMP.Connection.{i}.ServerRetryInitialInterval",
	"Device.STOMP.Connection.{i}.ServerRetryIntervalMultiplier",
	"Device.STOMP.Connection.{i}.ServerRetryMaxInterval",
}

// 6.1: the STOMP parameters in the supported data model. The case applies
// when the agent is reached over STOMP or its data model has Device.STOMP.
func run6_1(t *T) {
	if _, has := t.env.Object("Device.STOMP."); !has && t.eq.Transport().Kind() != mtp.STOMP {
		t.Skipf("the agent is not reached over STOMP and its supported data model has no Device.STOMP.")
	}
	ex := t.Send(msg.GetSupportedDM{Paths: []string{"Device.STOMP.", "Device.LocalAgent."}, ReturnParams: true})
	r := Expect[*msg.GetSupportedDMResp](t, 1, ex)
	have := map[string]bool{}
	for _, res := range r.Results {
		for _, o := range res.Objects {
			for _, p := range o.Params {
				have[o.Path+p.Name] = true
			}
		}
	}
	var missing []string
	for _, p := range stompRequired {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	t.Check(2, "The GetSupportedDMResponse contains the STOMP parameters the plan lists", len(missing) == 0,
		"missing %s", strings.Join(missing, ", "))
}

// 6.9: over STOMP, a record the agent cannot parse is ignored or answered
// with a record error. The agent's frames are noted when the kit's tap
// sees them; the criterion needs only the records.
func run6_9(t *T) {
	if k := t.eq.Transport().Kind(); k != mtp.STOMP {
		t.Skipf("the agent is reached over %s, not STOMP", k)
	}
	var from int
	tp, conn := t.eq.stomp, -1
	if tp != nil {
		if c, ok := tp.ConnOf(t.eq.AgentID()); ok {
			conn, from = c, tp.Mark()
		}
	}
	// The plan waits 60 s for an answer; the kit waits its quiet period.
	malformedIgnored(t, "The EUT either ignores the malformed record or sends a USP Record Error")
	if conn >= 0 {
		for _, f := range tp.Frames(from) {
			if f.Conn == conn {
				t.Notef("%s", describeFrame(f))
			}
		}
	}
}
