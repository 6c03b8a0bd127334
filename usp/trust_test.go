package usp

import (
	"testing"

	"github.com/gousp/gousp/mtp"
)

// TestPlacement is the move policy as a table: which records claiming an
// agent are accepted, and which move it.
func TestPlacement(t *testing.T) {
	mq, st := &route{kind: mtp.MQTT}, &route{kind: mtp.STOMP}
	home := mtp.Address{MTP: mtp.MQTT, To: "usp/agent/a"}
	other := mtp.Address{MTP: mtp.MQTT, To: "usp/agent/evil"}
	learned := func() *agentState { return &agentState{id: "a", route: mq, addr: home} }
	pinned := func() *agentState { return &agentState{id: "a", route: mq, addr: home, configured: true} }
	unknown := func() *agentState { return &agentState{id: "a"} }
	for _, tc := range []struct {
		name           string
		policy         MovePolicy
		moveConfigured bool
		a              *agentState
		r              *route
		addr           mtp.Address
		authed, conn   bool
		accept, move   bool
	}{
		{"first address is learned", MoveOnConnect, false, unknown(), mq, other, false, false, true, true},
		{"same address", MoveOnConnect, false, learned(), mq, home, false, false, true, false},
		{"no reply address", MoveOnConnect, false, learned(), mq, mtp.Address{}, false, false, true, false},
		{"other address, plain record", MoveOnConnect, false, learned(), mq, other, false, false, false, false},
		{"same address on another route", MoveOnConnect, false, learned(), st, mtp.Address{MTP: mtp.STOMP, To: home.To}, false, false, false, false},
		{"other address, connect record", MoveOnConnect, false, learned(), mq, other, false, true, true, true},
		{"other address, authenticated", MoveOnConnect, false, learned(), mq, other, true, false, true, true},
		{"any record moves when trusted", MoveOnAnyRecord, false, learned(), mq, other, false, false, true, true},
		{"never: connect record dropped", MoveNever, false, learned(), mq, other, false, true, false, false},
		{"never: authenticated kept, not moved", MoveNever, false, learned(), mq, other, true, true, true, false},
		{"pinned: connect record dropped", MoveOnConnect, false, pinned(), mq, other, false, true, false, false},
		{"pinned: authenticated kept, not moved", MoveOnConnect, false, pinned(), mq, other, true, true, true, false},
		{"pinned but moves allowed", MoveOnConnect, true, pinned(), mq, other, false, true, true, true},
		{"pinned, moves allowed, plain record", MoveOnConnect, true, pinned(), mq, other, false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Controller{cfg: config{movePolicy: tc.policy, moveConfigured: tc.moveConfigured}}
			accept, move := c.placement(tc.a, tc.r, tc.addr, tc.authed, tc.conn)
			if accept != tc.accept || move != tc.move {
				t.Errorf("accept, move = %v, %v; want %v, %v", accept, move, tc.accept, tc.move)
			}
		})
	}
}
