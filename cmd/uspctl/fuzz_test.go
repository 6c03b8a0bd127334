package main

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
)

// FuzzParseMsgJSON: encode --json never panics, and a message it accepts
// survives marshalling and decoding.
func FuzzParseMsgJSON(f *testing.F) {
	f.Add([]byte(`{"header": {"msg_id": "a", "msg_type": "GET"}, "body": {"request": {"get": {"param_paths": ["Device."]}}}}`))
	f.Add([]byte(`{"record": {"version": "1.3"}, "msg": {"header": {"msgId": "b", "msgType": "GET_SUPPORTED_PROTO"}}}`))
	f.Add([]byte(`{"msg": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMsgJSON(b)
		if err != nil {
			if exitCode(err) != exitUsage {
				t.Fatalf("error %v has exit code %d", err, exitCode(err))
			}
			return
		}
		wire, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, _ := msg.Decode(wire)
		if back != nil && !proto.Equal(back, m) {
			t.Fatalf("decoded %v, encoded %v", back, m)
		}
	})
}

// FuzzParseSubscriptions: --subscribe never panics, and what it accepts
// names a known type and the paths given, in either form.
func FuzzParseSubscriptions(f *testing.F) {
	f.Add("ValueChange=Device.A.B,Device.C.")
	f.Add("Event:Device.Boot!")
	f.Add(`ObjectCreation=Device.X.[Alias=="a:b"].`)
	f.Fuzz(func(t *testing.T, arg string) {
		specs, err := parseSubscriptions([]string{arg}, false)
		if err != nil {
			if exitCode(err) != exitUsage {
				t.Fatalf("error %v has exit code %d", err, exitCode(err))
			}
			return
		}
		if len(specs) != 1 || strings.ContainsAny(specs[0].NotifType, "=:") {
			t.Fatalf("%q gave %+v", arg, specs)
		}
		again, err := parseSubscriptions([]string{specs[0].NotifType + "=" + strings.Join(specs[0].ReferenceList, ",")}, false)
		if err != nil || !slices.Equal(again[0].ReferenceList, specs[0].ReferenceList) {
			t.Fatalf("%q: the TYPE=PATH form gives %+v, %v", arg, again, err)
		}
	})
}
