package stomp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// TestCompetingConsumers runs two controller processes on one shared
// queue, each with a reply destination of its own: the agent's unsolicited
// records reach exactly one of them, both get a share, and each gets the
// answers to its own requests.
func TestCompetingConsumers(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			addr, opts := b.start(t)
			shared := "/queue/scaleout-controller"
			c1, rec1, up1 := start(t, addr, "proto::controller", append(opts, stomp.WithDestination(shared), stomp.WithReplyDestination(shared+".1"))...)
			c2, rec2, up2 := start(t, addr, "proto::controller", append(opts, stomp.WithDestination(shared), stomp.WithReplyDestination(shared+".2"))...)
			if up1.Local.To != shared+".1" || up2.Local.To != shared+".2" {
				t.Fatalf("Up.Local = %v, %v: want the reply destinations", up1.Local, up2.Local)
			}
			agent, agentRec, _ := start(t, addr, "proto::agent", append(opts, stomp.WithDestination("/queue/scaleout-agent"))...)

			const n = 40
			for i := range n {
				send(t, agent, shared, fmt.Sprintf("notify %d", i))
			}
			brokertest.Compete(t, n, rec1, rec2)

			for i, c := range []*stomp.Transport{c1, c2} {
				mine, other := rec1, rec2
				if i == 1 {
					mine, other = rec2, rec1
				}
				send(t, c, "/queue/scaleout-agent", fmt.Sprintf("get from %d", i))
				req := agentRec.Record()
				if want := fmt.Sprintf("%s.%d", shared, i+1); req.ReplyTo != (mtp.Address{MTP: mtp.STOMP, To: want}) {
					t.Fatalf("reply-to-dest %v, want %s", req.ReplyTo, want)
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				err := agent.Send(ctx, req.ReplyTo, []byte("resp "+string(req.Data)))
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if in := mine.Record(); string(in.Data) != "resp "+string(req.Data) {
					t.Fatalf("process %d got %q", i+1, in.Data)
				}
				other.NoRecord(100 * time.Millisecond)
			}
		})
	}
}
