package record

import (
	"fmt"
	"strings"

	"github.com/gousp/gousp/proto/usprecord"
)

// RecordType names the record_type oneof member a Record carries.
type RecordType int

// Record types, in the order of their field numbers in the schema.
const (
	TypeNone             RecordType = iota // no record_type set (invalid on the wire)
	TypeNoSessionContext                   // no_session_context = 7
	TypeSessionContext                     // session_context = 8
	TypeWebSocketConnect                   // websocket_connect = 9
	TypeMQTTConnect                        // mqtt_connect = 10
	TypeSTOMPConnect                       // stomp_connect = 11
	TypeDisconnect                         // disconnect = 12
	TypeUDSConnect                         // uds_connect = 13
)

var typeNames = [...]string{
	TypeNone:             "none",
	TypeNoSessionContext: "no_session_context",
	TypeSessionContext:   "session_context",
	TypeWebSocketConnect: "websocket_connect",
	TypeMQTTConnect:      "mqtt_connect",
	TypeSTOMPConnect:     "stomp_connect",
	TypeDisconnect:       "disconnect",
	TypeUDSConnect:       "uds_connect",
}

// String returns the schema's field name of the type ("mqtt_connect").
func (t RecordType) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("RecordType(%d)", int(t))
}

// IsConnect reports whether t is one of the per-MTP connect record types.
func (t RecordType) IsConnect() bool {
	switch t {
	case TypeWebSocketConnect, TypeMQTTConnect, TypeSTOMPConnect, TypeUDSConnect:
		return true
	}
	return false
}

// Kind reports which record type r carries; TypeNone for a nil record or an
// unset oneof.
func Kind(r *usprecord.Record) RecordType {
	switch r.GetRecordType().(type) {
	case *usprecord.Record_NoSessionContext:
		return TypeNoSessionContext
	case *usprecord.Record_SessionContext:
		return TypeSessionContext
	case *usprecord.Record_WebsocketConnect:
		return TypeWebSocketConnect
	case *usprecord.Record_MqttConnect:
		return TypeMQTTConnect
	case *usprecord.Record_StompConnect:
		return TypeSTOMPConnect
	case *usprecord.Record_Disconnect:
		return TypeDisconnect
	case *usprecord.Record_UdsConnect:
		return TypeUDSConnect
	}
	return TypeNone
}

func newRecord(version, to, from string) *usprecord.Record {
	return &usprecord.Record{Version: version, ToId: to, FromId: from}
}

// NewNoSessionContext returns a record carrying one serialized usp.Msg. The
// record keeps payload without copying it.
func NewNoSessionContext(version, to, from string, payload []byte) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_NoSessionContext{
		NoSessionContext: &usprecord.NoSessionContextRecord{Payload: payload},
	}
	return r
}

// NewSessionContext returns a record carrying sc (kept, not copied). The
// session state machine fills sc's identifiers; see [Segment] and
// [SessionSegments] for its payload.
func NewSessionContext(version, to, from string, sc *usprecord.SessionContextRecord) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_SessionContext{SessionContext: sc}
	return r
}

// NewWebSocketConnect returns a WebSocketConnectRecord, which an agent sends
// first on a new WebSocket connection.
func NewWebSocketConnect(version, to, from string) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_WebsocketConnect{WebsocketConnect: &usprecord.WebSocketConnectRecord{}}
	return r
}

// NewMQTTConnect returns an MQTTConnectRecord announcing the topic the
// sender is subscribed to (no wildcards).
func NewMQTTConnect(version, to, from string, v usprecord.MQTTConnectRecord_MQTTVersion, subscribedTopic string) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_MqttConnect{MqttConnect: &usprecord.MQTTConnectRecord{
		Version: v, SubscribedTopic: subscribedTopic,
	}}
	return r
}

// NewSTOMPConnect returns a STOMPConnectRecord (STOMP 1.2) announcing the
// destination the sender is subscribed to.
func NewSTOMPConnect(version, to, from, subscribedDest string) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_StompConnect{StompConnect: &usprecord.STOMPConnectRecord{
		Version: usprecord.STOMPConnectRecord_V1_2, SubscribedDestination: subscribedDest,
	}}
	return r
}

// NewUDSConnect returns a UDSConnectRecord.
func NewUDSConnect(version, to, from string) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_UdsConnect{UdsConnect: &usprecord.UDSConnectRecord{}}
	return r
}

// NewDisconnect returns a DisconnectRecord with a reason and a reason code,
// usually one of the record codes (7100-7106).
func NewDisconnect(version, to, from, reason string, code uint32) *usprecord.Record {
	r := newRecord(version, to, from)
	r.RecordType = &usprecord.Record_Disconnect{Disconnect: &usprecord.DisconnectRecord{
		Reason: reason, ReasonCode: code,
	}}
	return r
}

// Payload returns the serialized usp.Msg of a NoSessionContext record,
// without copying. It fails with [ErrWrongType] for other record types and
// with a 7104 [*Error] when the payload is empty.
func Payload(r *usprecord.Record) ([]byte, error) {
	nsc, ok := r.GetRecordType().(*usprecord.Record_NoSessionContext)
	if !ok {
		return nil, fmt.Errorf("%w: %s, want no_session_context", ErrWrongType, Kind(r))
	}
	p := nsc.NoSessionContext.GetPayload()
	if len(p) == 0 {
		return nil, invalid("no_session_context payload is empty")
	}
	return p, nil
}

// Validate checks the rules TR-369 sets on a record's fields and returns a
// 7104 [*Error] naming the first one broken:
//
//   - version, to_id and from_id are present, and version reads Major.Minor;
//   - exactly one record_type is set and payload_security is a known value;
//   - TLS12 payload security only with a session context;
//   - a NoSessionContext record has a non-empty payload;
//   - a SessionContext record has session_id, sequence_id and expected_id
//     of at least 1, known SAR states, payloadrec_sar_state NONE when
//     payload_sar_state is NONE, and at most one PLAINTEXT payload;
//   - an MQTTConnect record has a known MQTT version and a subscribed_topic
//     without wildcards; a STOMPConnect record has a known STOMP version and
//     a subscribed_destination.
//
// Endpoint IDs are only checked for presence; see [WithStrictEndpointIDs]
// and [ParseEndpointID] for their syntax. A version above the supported ones
// is accepted: TR-369 asks receivers to cope with such peers.
func Validate(r *usprecord.Record) error {
	if e := validate(r); e != nil {
		return e
	}
	return nil
}

// validate returns a concrete pointer so that callers inside the package
// avoid building an interface for the common nil case.
func validate(r *usprecord.Record) *Error {
	if r == nil {
		return invalid("nil record")
	}
	if e := validateHeader(r.Version, r.ToId, r.FromId); e != nil {
		return e
	}
	switch r.PayloadSecurity {
	case usprecord.Record_PLAINTEXT:
	case usprecord.Record_TLS12:
		if _, ok := r.RecordType.(*usprecord.Record_SessionContext); !ok {
			return invalid("payload_security TLS12 requires a session_context record, got %s", Kind(r))
		}
	default:
		return invalid("unknown payload_security %d", int32(r.PayloadSecurity))
	}
	switch t := r.RecordType.(type) {
	case nil:
		return invalid("no record_type set")
	case *usprecord.Record_NoSessionContext:
		if len(t.NoSessionContext.GetPayload()) == 0 {
			return invalid("no_session_context payload is empty")
		}
	case *usprecord.Record_SessionContext:
		return validateSessionContext(t.SessionContext, r.PayloadSecurity)
	case *usprecord.Record_WebsocketConnect, *usprecord.Record_UdsConnect, *usprecord.Record_Disconnect:
		// No required fields.
	case *usprecord.Record_MqttConnect:
		m := t.MqttConnect
		switch m.GetVersion() {
		case usprecord.MQTTConnectRecord_V3_1_1, usprecord.MQTTConnectRecord_V5:
		default:
			return invalid("mqtt_connect: unknown MQTT version %d", int32(m.GetVersion()))
		}
		topic := m.GetSubscribedTopic()
		if topic == "" {
			return invalid("mqtt_connect: subscribed_topic is empty")
		}
		if strings.ContainsAny(topic, "+#") {
			return invalid("mqtt_connect: subscribed_topic %q contains an MQTT wildcard", topic)
		}
	case *usprecord.Record_StompConnect:
		s := t.StompConnect
		if s.GetVersion() != usprecord.STOMPConnectRecord_V1_2 {
			return invalid("stomp_connect: unknown STOMP version %d", int32(s.GetVersion()))
		}
		if s.GetSubscribedDestination() == "" {
			return invalid("stomp_connect: subscribed_destination is empty")
		}
	}
	return nil
}

func validateSessionContext(sc *usprecord.SessionContextRecord, sec usprecord.Record_PayloadSecurity) *Error {
	if sc.GetSessionId() == 0 {
		return invalid("session_context: session_id is 0")
	}
	if sc.GetSequenceId() == 0 {
		return invalid("session_context: sequence_id is 0, sequences start at 1")
	}
	if sc.GetExpectedId() == 0 {
		return invalid("session_context: expected_id is 0, sequences start at 1")
	}
	if !validSAR(sc.GetPayloadSarState()) {
		return invalid("session_context: unknown payload_sar_state %d", int32(sc.GetPayloadSarState()))
	}
	if !validSAR(sc.GetPayloadrecSarState()) {
		return invalid("session_context: unknown payloadrec_sar_state %d", int32(sc.GetPayloadrecSarState()))
	}
	if sc.GetPayloadSarState() == SARNone && sc.GetPayloadrecSarState() != SARNone {
		return invalid("session_context: payloadrec_sar_state %s without payload_sar_state", sc.GetPayloadrecSarState())
	}
	if sec == usprecord.Record_PLAINTEXT && len(sc.GetPayload()) > 1 {
		return invalid("session_context: %d PLAINTEXT payload fields, at most 1 allowed", len(sc.GetPayload()))
	}
	return nil
}

func validSAR(s usprecord.SessionContextRecord_PayloadSARState) bool {
	return s >= SARNone && s <= SARComplete
}
