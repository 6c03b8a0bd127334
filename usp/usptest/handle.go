package usptest

import (
	"github.com/gousp/gousp/internal/pbfast"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

// handleRecord is the way in: one record's bytes from a transport. Like
// OB-USP-A, the agent ignores what it cannot use (garbage, records for
// another endpoint, responses nobody asked for) and answers records it
// refuses with a DisconnectRecord. Nothing here may panic on any input.
func (a *Agent) handleRecord(b *binding, in mtp.Inbound) {
	rec, err := record.Decode(in.Data, record.WithMaxSize(a.cfg.maxRecordSize))
	if err != nil {
		if rec != nil && rec.GetToId() == a.id && rec.GetFromId() != "" {
			a.refuseInvalid(b, in, rec)
		}
		if rj, ok := b.t.(rejecter); ok && rec == nil && b.t.Kind() == mtp.WebSocket {
			// R-WS.16: a record that cannot be parsed closes the
			// WebSocket session with status 1003.
			_ = rj.Reject(in.PeerID, "cannot parse record: "+err.Error())
		}
		a.log.Debug("ignoring undecodable record", "err", err)
		return
	}
	if rec.GetToId() != a.id {
		a.log.Debug("ignoring record for another endpoint", "to_id", rec.GetToId())
		return
	}
	from := rec.GetFromId()
	if from == a.id {
		// Records claiming to come from the agent itself are forged or
		// looped back: never a controller's (TP-469 2.1).
		a.log.Debug("ignoring record from the agent's own endpoint ID")
		return
	}
	if in.PeerID != "" && in.PeerID != from {
		a.log.Debug("ignoring record whose from_id is not the transport's peer", "from_id", from, "peer", in.PeerID)
		return
	}
	if !a.intact(rec) {
		// TP-469 2.7: a record whose signature does not verify is not
		// answered (nor is one without, where one is required).
		return
	}
	if !a.admit(from, in) {
		a.log.Debug("ignoring record from unknown controller", "from_id", from)
		return
	}
	r, ok := a.replyRoute(b, in, from)
	switch rt := rec.GetRecordType().(type) {
	case *usprecord.Record_NoSessionContext:
		if !a.handleNoSession(r, ok, from) {
			a.log.Debug("refusing a NoSessionContext record: session context is required", "from_id", from)
			return
		}
		a.handlePayload(r, ok, from, in, rt.NoSessionContext.GetPayload(), func(resp *uspmsg.Msg, fromControl bool) {
			if fromControl {
				if out, err := encodeAnswer(resp, true); err == nil {
					_ = a.sendPayload(r, from, out)
				} else {
					a.log.Error("encoding response", "err", err)
				}
				return
			}
			// The agent's own answer, written straight into its record.
			data, err := record.EncodeMsg(a.cfg.version, from, a.id, resp)
			if err != nil {
				a.log.Error("encoding response", "err", err)
				return
			}
			_ = a.sendBytes(r, data)
		})
	case *usprecord.Record_SessionContext:
		a.handleSession(r, ok, from, in, rec)
	case *usprecord.Record_Disconnect:
		if ok {
			// OB-USP-A answers a Disconnect with its own, then reconnects
			// and announces itself again.
			a.endSession(from)
			a.disconnect(r, from, record.CodeSessionContextTerminated, "Disconnect record received")
			a.sendConnectTo(b, from, r.addr)
		}
	default:
		a.log.Debug("ignoring connect record from a controller", "from_id", from)
	}
}

// rejecter is a transport that can refuse a peer's record by closing its
// session (mtp/websocket's Client and Server).
type rejecter interface {
	Reject(peerID, reason string) error
}

// refuseInvalid answers a record that decodes but breaks a rule the agent
// enforces with a DisconnectRecord.
func (a *Agent) refuseInvalid(b *binding, in mtp.Inbound, rec *usprecord.Record) {
	from := rec.GetFromId()
	if !a.admit(from, in) {
		return
	}
	r, ok := a.replyRoute(b, in, from)
	if !ok {
		return
	}
	switch {
	case rec.GetVersion() == "":
		a.disconnect(r, from, record.CodeSessionContextTerminated, "record without a USP version")
	case rec.GetPayloadSecurity() != usprecord.Record_PLAINTEXT && record.Kind(rec) != record.TypeSessionContext:
		a.disconnect(r, from, record.CodeInvalidRecordValue, "encrypted payload without a session context")
	}
}

func (a *Agent) disconnect(r route, to string, code uint32, reason string) {
	_ = a.sendRecord(r, record.NewDisconnect(a.cfg.version, to, a.id, reason, code))
}

// admit reports whether records from a controller are accepted. An unknown
// controller is added to Device.LocalAgent.Controller.{i}. unless the agent
// accepts known controllers only.
func (a *Agent) admit(from string, in mtp.Inbound) bool {
	m := a.model
	known := false
	hasTable := false
	m.write(func() {
		la := m.instByPath("Device.LocalAgent.")
		hasTable = la != nil && la.tables.get("Controller") != nil
		if !hasTable {
			return
		}
		if m.controllerByID(from) != nil {
			known = true
			return
		}
		if !a.cfg.knownOnly {
			o := m.addController(from, in.ReplyTo)
			m.untrust(o)
			known = o != nil
		}
	})
	return known || !hasTable
}

// replyRoute says where answers to a record go: the transport's reply
// address when it gave one (remembered for later notifications), else the
// controller's known address.
func (a *Agent) replyRoute(b *binding, in mtp.Inbound, from string) (route, bool) {
	if !in.ReplyTo.IsZero() {
		r := route{b: b, addr: in.ReplyTo}
		a.mu.Lock()
		lazyMap(&a.learned)[from] = r
		a.mu.Unlock()
		return r, true
	}
	return a.routeTo(from)
}

func (a *Agent) logReceived(from string, in mtp.Inbound, m *uspmsg.Msg) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.received) >= maxReceived {
		// Forget the older half at once: shifting one entry per message
		// would cost a copy of the whole log on every message.
		n := copy(a.received, a.received[maxReceived/2:])
		clear(a.received[n:])
		a.received = a.received[:n]
	}
	a.received = append(a.received, Received{From: from, ReplyTo: in.ReplyTo, Msg: m})
}

// handlePayload handles one USP message from a controller; reply sends the
// answer the same way the message came (fromControl: the message is a
// control's, to be encoded by [encodeAnswer]'s rule for those).
func (a *Agent) handlePayload(r route, canReply bool, from string, in mtp.Inbound, payload []byte, reply func(resp *uspmsg.Msg, fromControl bool)) {
	m := &uspmsg.Msg{}
	// pbfast accepts and rejects exactly what proto.Unmarshal does, without
	// its reflection.
	if err := pbfast.Unmarshal(payload, m); err != nil || m.GetHeader() == nil {
		a.log.Debug("ignoring undecodable message", "from_id", from, "err", err)
		return
	}
	a.logReceived(from, in, m)
	t := m.GetHeader().GetMsgType()
	id := m.GetHeader().GetMsgId()
	if _, defined := uspmsg.Header_MsgType_name[int32(t)]; !defined {
		a.log.Debug("ignoring message of undefined type", "from_id", from, "msg_type", int32(t))
		return
	}
	switch {
	case t == uspmsg.Header_NOTIFY_RESP:
		if m.GetBody().GetResponse().GetNotifyResp() != nil {
			a.ackNotify(id)
		}
		return
	case (t == uspmsg.Header_ERROR || msg.IsResponse(t)) && a.answered(m):
		return
	case t == uspmsg.Header_ERROR || msg.IsResponse(t):
		a.log.Debug("ignoring unsolicited response", "from_id", from, "msg_type", t, "msg_id", id)
		return
	}
	// Controls first (a test's exact script), then faults, then the model.
	resp, handled, stopped := a.control(Request{From: from, Msg: m})
	switch {
	case stopped:
		return
	case handled:
	case a.faults.takeDrop() || !a.sleep(a.faults.delay()):
		return
	default:
		if code := a.faults.takeFail(t); code != 0 {
			resp = msg.Errorf(code, "injected failure of %s", t).Build(id)
		} else {
			resp = a.dispatch(origin{from: from, r: r, ok: canReply}, id, t, m.GetBody().GetRequest())
		}
	}
	if resp == nil {
		return
	}
	if !canReply {
		a.log.Warn("no address to answer", "from_id", from, "msg_id", id)
		return
	}
	reply(resp, handled)
}

// encodeAnswer serialises an answer. A control's message goes through
// protobuf-go exactly as the test built it (a oneof wrapper holding nil
// included, which vtprotobuf would omit); the agent's own answers, built by
// package msg, through the generated code, without reflection.
func encodeAnswer(resp *uspmsg.Msg, fromControl bool) ([]byte, error) {
	if fromControl {
		return proto.Marshal(resp)
	}
	return resp.MarshalVT()
}

// inconsistent is the Error for a header whose msg_type disagrees with the
// body, as OB-USP-A answers it.
func inconsistent(id string) *uspmsg.Msg {
	return msg.Errorf(msg.CodeNotSupported, "incoming message is invalid or inconsistent").Build(id)
}

// dispatch answers one request; nil means no answer (Operate with
// send_resp=false).
// origin is who sent a request and where its answer goes.
type origin struct {
	from string
	r    route
	ok   bool
}

func (a *Agent) dispatch(o origin, id string, t uspmsg.Header_MsgType, req *uspmsg.Request) *uspmsg.Msg {
	from := o.from
	switch t {
	case uspmsg.Header_GET:
		if g := req.GetGet(); g != nil {
			resp := a.handleGet(g)
			if r, ok := resp.(msg.GetResp); ok {
				l := a.aclOf(from)
				resp = a.maskSecured(l, guardGet(l, r))
			}
			return resp.Build(id)
		}
	case uspmsg.Header_SET:
		if s := req.GetSet(); s != nil {
			return a.handleSet(from, s).Build(id)
		}
	case uspmsg.Header_ADD:
		if ad := req.GetAdd(); ad != nil {
			return a.handleAdd(o, ad).Build(id)
		}
	case uspmsg.Header_DELETE:
		if d := req.GetDelete(); d != nil {
			return a.handleDelete(from, d).Build(id)
		}
	case uspmsg.Header_OPERATE:
		if o := req.GetOperate(); o != nil {
			resp := a.handleOperate(from, o)
			if resp == nil {
				return nil
			}
			return resp.Build(id)
		}
	case uspmsg.Header_GET_SUPPORTED_DM:
		if g := req.GetGetSupportedDm(); g != nil {
			return a.handleSupportedDM(g).Build(id)
		}
	case uspmsg.Header_GET_INSTANCES:
		if g := req.GetGetInstances(); g != nil {
			resp := a.handleInstances(g)
			if r, ok := resp.(msg.GetInstancesResp); ok {
				resp = guardInstances(a.aclOf(from), r)
			}
			return resp.Build(id)
		}
	case uspmsg.Header_GET_SUPPORTED_PROTO:
		if req.GetGetSupportedProtocol() != nil {
			return msg.GetSupportedProtocolResp{Versions: a.cfg.versions}.Build(id)
		}
	case uspmsg.Header_NOTIFY, uspmsg.Header_REGISTER, uspmsg.Header_DEREGISTER:
		// Messages an agent sends, or that only a USP Broker accepts.
		return msg.Errorf(msg.CodeRequestDenied, "an agent does not handle %s messages", t).Build(id)
	}
	return inconsistent(id)
}
