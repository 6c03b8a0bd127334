package conformance

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
	"github.com/gousp/gousp/record"
)

// reconnectingAgent plays an agent that takes a DisconnectRecord as the end
// of its connection, as OB-USP-A does over MQTT: it goes away (sends to it
// fail with mtp.ErrUnknownPeer), comes back after away and announces itself
// with a connect record.
type reconnectingAgent struct {
	t       *testing.T
	net     *memory.Network
	away    time.Duration
	disc    atomic.Int32
	mu      sync.Mutex
	ep      *memory.Endpoint
	stopped bool
	wg      sync.WaitGroup
	close   chan struct{}
}

func (a *reconnectingAgent) attach() {
	ep, err := a.net.Endpoint("agent")
	if err != nil {
		a.t.Error(err)
		return
	}
	if err := ep.Start(context.Background(), mtp.HandlerFuncs{Record: a.receive}); err != nil {
		a.t.Error(err)
		return
	}
	a.mu.Lock()
	a.ep = ep
	a.mu.Unlock()
	b, err := record.Encode(record.NewWebSocketConnect(record.DefaultVersion, "proto::kit", "proto::agent"))
	if err != nil {
		a.t.Error(err)
		return
	}
	if err := ep.Send(context.Background(), mtp.Address{To: "kit"}, b); err != nil {
		a.t.Error(err)
	}
}

func (a *reconnectingAgent) receive(in mtp.Inbound) {
	rec, err := record.Decode(in.Data)
	if err != nil || rec.GetDisconnect() == nil {
		return
	}
	a.disc.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.mu.Lock()
		ep := a.ep
		a.mu.Unlock()
		_ = ep.Close(context.Background())
		select {
		case <-time.After(a.away):
			a.attach()
		case <-a.close:
		}
	}()
}

func TestDisconnectWaitsForAgentToReconnect(t *testing.T) {
	net := memory.NewNetwork()
	kit, err := net.Endpoint("kit")
	if err != nil {
		t.Fatal(err)
	}
	eq, err := NewEquipment(kit, "proto::kit", "proto::agent", WithResponseTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := eq.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eq.Close(context.Background()) })
	a := &reconnectingAgent{t: t, net: net, away: 300 * time.Millisecond, close: make(chan struct{})}
	a.attach()
	t.Cleanup(func() {
		a.mu.Lock()
		a.stopped = true
		a.mu.Unlock()
		close(a.close)
		a.wg.Wait()
		a.mu.Lock()
		_ = a.ep.Close(context.Background())
		a.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := eq.WaitAgent(ctx); err != nil {
		t.Fatal(err)
	}

	// The quiet period is longer than the agent's absence: the kit returns
	// once the agent is back, and the next DisconnectRecord reaches it.
	cfg := Config{QuietPeriod: Duration(5 * time.Second), ResponseTimeout: Duration(5 * time.Second)}
	start := time.Now()
	if err := disconnectAndSettle(ctx, eq, cfg); err != nil {
		t.Fatalf("first disconnect: %v", err)
	}
	if d := time.Since(start); d >= 5*time.Second {
		t.Errorf("took %v: the kit waited out the quiet period although the agent came back", d)
	}
	if err := disconnectAndSettle(ctx, eq, cfg); err != nil {
		t.Fatalf("second disconnect, right after the agent came back: %v", err)
	}

	// A quiet period shorter than the absence: the next send finds the
	// agent away and is made again once it has announced itself.
	short := Config{QuietPeriod: Duration(10 * time.Millisecond), ResponseTimeout: Duration(5 * time.Second)}
	if err := disconnectAndSettle(ctx, eq, short); err != nil {
		t.Fatalf("third disconnect: %v", err)
	}
	if err := disconnectAndSettle(ctx, eq, short); err != nil {
		t.Fatalf("fourth disconnect, sent while the agent was away: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.disc.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := a.disc.Load(); n != 4 {
		t.Errorf("the agent received %d DisconnectRecords, want 4", n)
	}
}
