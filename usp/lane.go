package usp

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
)

// lane is one of the two mailboxes each agent has in the intake. Answers
// to the controller's own requests travel apart from everything else, so
// that a notify or broker handler that waits for an answer from its own
// agent (a Get on Boot!, say) gets it: in one line, that answer would
// queue behind the handler waiting for it. Most answers do not even reach
// the answer lane: those up to inlineAnswerMax bytes outside a session
// are taken at delivery (answerInline).
type lane uint8

const (
	// laneMain: notifications, agents' requests, connect and Disconnect
	// records (except from agents with session context, see
	// controlRecord), session events; user handlers run here.
	laneMain lane = iota
	// laneAnswer: responses and Error messages, and session context
	// records (whose notifications and requests are passed on to the
	// main lane once the session has put them in order), and the connect
	// and Disconnect records of agents with session context. Nothing here
	// runs user code or waits on the network for long.
	laneAnswer
)

// Wire numbers read by laneOf.
const (
	recNoSession  = 7  // Record.no_session_context
	recSession    = 8  // Record.session_context
	recWSConnect  = 9  // Record.websocket_connect; 10, 11, 12: MQTT, STOMP, Disconnect
	recUDSConnect = 13 // Record.uds_connect
	nscPayload    = 2  // NoSessionContextRecord.payload
	msgHeader     = 1  // Msg.header
	headerMsgType = 2  // Header.msg_type
)

// laneOf picks the lane of a record from its wire form without decoding
// it. A malformed record may land in either lane; its worker decodes it
// and refuses it there.
func laneOf(rec []byte) lane {
	var payload []byte
	kind := protowire.Number(0)
	walk(rec, func(num protowire.Number, typ protowire.Type, v []byte) {
		if typ != protowire.BytesType {
			return // an unknown field to protobuf, whatever its number
		}
		switch num {
		case recNoSession:
			kind = num
			walk(v, func(num protowire.Number, typ protowire.Type, v []byte) {
				if num == nscPayload && typ == protowire.BytesType {
					payload = v
				}
			})
		case recSession:
			kind = num
		}
	})
	switch kind {
	case recSession:
		return laneAnswer
	case recNoSession:
		return msgLane(payload)
	}
	return laneMain
}

// controlRecord reports whether rec is a connect or Disconnect record.
// For an agent with session context they go to the answer lane, where its
// session records are put in order: a Disconnect ends the session that
// the records before it were in, and handled on another lane it could
// overtake them, or lag behind the records of the next session and end
// that one instead, failing its calls (a late Disconnect 7105 from the
// reference agent did exactly that). Connect records follow for the same
// reason, so that a reconnection is not overtaken by the Disconnect before
// it. Neither runs user code: events and broker callbacks are queued.
func controlRecord(rec []byte) bool {
	ctl := false
	walk(rec, func(num protowire.Number, typ protowire.Type, _ []byte) {
		if typ == protowire.BytesType && num >= recWSConnect && num <= recUDSConnect {
			ctl = true
		}
	})
	return ctl
}

// msgLane picks the lane of a serialized USP Msg from its header's
// msg_type. An absent msg_type is ERROR (0), which proto3 leaves out.
func msgLane(m []byte) lane {
	t := uspmsg.Header_ERROR
	walk(m, func(num protowire.Number, typ protowire.Type, v []byte) {
		if num != msgHeader || typ != protowire.BytesType {
			return
		}
		walk(v, func(num protowire.Number, typ protowire.Type, v []byte) {
			if num == headerMsgType && typ == protowire.VarintType {
				x, _ := protowire.ConsumeVarint(v)
				t = uspmsg.Header_MsgType(int32(x))
			}
		})
	})
	if t == uspmsg.Header_ERROR || msg.IsResponse(t) {
		return laneAnswer
	}
	return laneMain
}

// walk calls f for each field at the top level of b, in order, with its
// value: the contents of a length-delimited field, the encoded value of
// any other. It stops at the first malformed field.
func walk(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return
		}
		v := b[:n]
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(v)
		}
		f(num, typ, v)
		b = b[n:]
	}
}
