package record_test

import (
	"errors"
	"fmt"

	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

func Example() {
	// A controller wraps a Get in a NoSessionContext record...
	msg := &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: "get-1", MsgType: uspmsg.Header_GET},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: &uspmsg.Request{
			ReqType: &uspmsg.Request_Get{Get: &uspmsg.Get{ParamPaths: []string{"Device.DeviceInfo."}}},
		}}},
	}
	payload, _ := proto.Marshal(msg)
	b, err := record.Encode(record.NewNoSessionContext(record.DefaultVersion,
		"proto::obuspa-test-agent", "proto::test-controller", payload))
	if err != nil {
		panic(err)
	}

	// ...and the agent decodes it.
	r, err := record.Decode(b)
	if err != nil {
		panic(err)
	}
	p, _ := record.Payload(r)
	var got uspmsg.Msg
	_ = proto.Unmarshal(p, &got)
	fmt.Println(record.Kind(r), r.Version, r.FromId, "->", r.ToId)
	fmt.Println(got.Header.MsgId, got.Header.MsgType)
	// Output:
	// no_session_context 1.3 proto::test-controller -> proto::obuspa-test-agent
	// get-1 GET
}

func ExampleDecode_errors() {
	// A record without a version: 7104, and the record comes back so the
	// answer can be addressed.
	b, _ := proto.Marshal(&usprecord.Record{ToId: "proto::agent", FromId: "proto::ctrl",
		RecordType: &usprecord.Record_WebsocketConnect{WebsocketConnect: &usprecord.WebSocketConnectRecord{}}})
	r, err := record.Decode(b)
	var re *record.Error
	if errors.As(err, &re) {
		fmt.Println(re.Code, errors.Is(err, record.ErrInvalidRecordValue), r.FromId)
	}

	// Too large for the limit: 7100.
	_, err = record.Decode(b, record.WithMaxSize(10))
	fmt.Println(errors.Is(err, record.ErrRecordNotParsed), errors.Is(err, record.ErrTooLarge))
	fmt.Println(err)
	// Output:
	// 7104 true proto::ctrl
	// true true
	// record: record could not be parsed (7100): record is 29 bytes, limit 10: too large
}

func ExampleNewMQTTConnect() {
	r := record.NewMQTTConnect("1.3", "proto::test-controller", "proto::obuspa-test-agent",
		usprecord.MQTTConnectRecord_V5, "/usp/agent/obuspa")
	b, _ := record.Encode(r)
	fmt.Println(len(b), record.Kind(r), record.Kind(r).IsConnect())
	// Output: 78 mqtt_connect true
}

func ExampleNewDisconnect() {
	r := record.NewDisconnect("1.3", "proto::agent", "proto::ctrl",
		"session context not supported", record.CodeSessionContextNotAllowed)
	fmt.Println(r.GetDisconnect().GetReasonCode(), record.CodeText(r.GetDisconnect().GetReasonCode()))
	// Output: 7106 session context not allowed
}

func ExampleNegotiateVersion() {
	// OB-USP-A's GetSupportedProtocolResp.
	fmt.Println(record.NegotiateVersion("1.0,1.1,1.2,1.3"))
	fmt.Println(record.NegotiateVersion("1.3,1.4,1.5"))
	fmt.Printf("%q\n", record.NegotiateVersion("2.0"))
	// Output:
	// 1.3
	// 1.4
	// ""
}

func ExampleParseEndpointID() {
	id, err := record.ParseEndpointID("urn:bbf:usp:id:ops::00256D-STB-0123456789")
	if err != nil {
		panic(err)
	}
	fmt.Println(id.Scheme, id.Instance)
	fmt.Println(id.String())
	fmt.Println(id.URN())

	_, err = record.ParseEndpointID("oui:0025:device-1")
	fmt.Println(err)
	// Output:
	// ops 00256D-STB-0123456789
	// ops::00256D-STB-0123456789
	// urn:bbf:usp:id:ops::00256D-STB-0123456789
	// record: invalid endpoint ID "oui:0025:device-1": oui authority-id must be 6, 7 or 9 hex digits, got "0025"
}

func ExampleReassembler() {
	// The sender splits a message into records of at most 4 payload bytes...
	segments := record.SessionSegments([]byte("Device.DeviceInfo."), 4)
	re, _ := record.NewReassembler(record.DefaultMaxSize)
	for i, sc := range segments {
		sc.SessionId, sc.SequenceId, sc.ExpectedId = 1, uint64(i+1), 1
		// ...and the receiver, fed in sequence order, gets it back whole.
		msg, done, err := re.Add(sc)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%v %v %q\n", sc.PayloadSarState, done, msg)
	}
	// Output:
	// BEGIN false ""
	// INPROCESS false ""
	// INPROCESS false ""
	// INPROCESS false ""
	// COMPLETE true "Device.DeviceInfo."
}

func ExampleEncodeMsg() {
	get := &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: "get-2", MsgType: uspmsg.Header_GET},
		Body: &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: &uspmsg.Request{
			ReqType: &uspmsg.Request_Get{Get: &uspmsg.Get{ParamPaths: []string{"Device.LocalAgent.EndpointID"}}},
		}}},
	}
	// One step instead of proto.Marshal, NewNoSessionContext and Encode.
	b, err := record.EncodeMsg(record.DefaultVersion, "proto::obuspa-test-agent", "proto::test-controller", get)
	if err != nil {
		panic(err)
	}

	// On the way in: Decode, then UnmarshalPayload (proto.Unmarshal's
	// behaviour, generated code's speed).
	r, err := record.Decode(b)
	if err != nil {
		panic(err)
	}
	p, _ := record.Payload(r)
	var m uspmsg.Msg
	if err := record.UnmarshalPayload(p, &m); err != nil {
		panic(err)
	}
	fmt.Println(m.Header.MsgId, m.Body.GetRequest().GetGet().GetParamPaths())
	// Output: get-2 [Device.LocalAgent.EndpointID]
}
