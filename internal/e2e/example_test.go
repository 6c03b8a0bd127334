package e2e_test

import (
	"fmt"

	"github.com/gousp/gousp/internal/e2e"
)

// A controller opens a session and sends a request; the agent, created
// without a session id, adopts the controller's and answers within it.
func ExampleSession() {
	ctrl, _ := e2e.New(e2e.Config{LocalID: "proto::controller", PeerID: "proto::agent"}, 1234)
	agent, _ := e2e.New(e2e.Config{LocalID: "proto::agent", PeerID: "proto::controller"}, 0)

	recs, _ := ctrl.Wrap([]byte("serialized Get"))
	for _, r := range recs {
		payloads, _, _ := agent.Receive(r)
		for _, p := range payloads {
			fmt.Printf("agent got %q in session %d\n", p, agent.ID())
		}
	}
	recs, _ = agent.Wrap([]byte("serialized GetResp"))
	for _, r := range recs {
		sc := r.GetSessionContext()
		fmt.Printf("answer: sequence_id %d, expected_id %d\n", sc.SequenceId, sc.ExpectedId)
		payloads, _, _ := ctrl.Receive(r)
		for _, p := range payloads {
			fmt.Printf("controller got %q\n", p)
		}
	}
	// Output:
	// agent got "serialized Get" in session 1234
	// answer: sequence_id 1, expected_id 2
	// controller got "serialized GetResp"
}

// A lost record is noticed when the next one arrives: Receive returns a
// request for it, and the sender's Receive returns the kept copy.
func ExampleSession_Receive() {
	ctrl, _ := e2e.New(e2e.Config{LocalID: "proto::controller", PeerID: "proto::agent"}, 99)
	agent, _ := e2e.New(e2e.Config{LocalID: "proto::agent", PeerID: "proto::controller"}, 0)

	first, _ := ctrl.Wrap([]byte("first"))
	second, _ := ctrl.Wrap([]byte("second"))
	_ = first // lost on the way

	payloads, out, _ := agent.Receive(second[0])
	fmt.Println("payloads:", len(payloads), "retransmit_id:", out[0].GetSessionContext().RetransmitId)

	_, resend, _ := ctrl.Receive(out[0])
	payloads, _, _ = agent.Receive(resend[0])
	for _, p := range payloads {
		fmt.Printf("%s\n", p)
	}
	// Output:
	// payloads: 0 retransmit_id: 1
	// first
	// second
}
