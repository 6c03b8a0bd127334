package peerconn

import (
	"sync"
	"testing"
)

func TestGateLimits(t *testing.T) {
	g := NewGate(3, 2)
	r1, err := g.Enter("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.Enter("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Enter("10.0.0.1"); err == nil {
		t.Fatal("a third connection from one address was admitted past the per-address limit of 2")
	}
	r3, err := g.Enter("10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Enter("10.0.0.3"); err == nil {
		t.Fatal("a fourth connection was admitted past the total limit of 3")
	}
	r1()
	r1() // a second release changes nothing
	if g.Open() != 2 {
		t.Fatalf("Open = %d after one release, want 2", g.Open())
	}
	r4, err := g.Enter("10.0.0.1")
	if err != nil {
		t.Fatalf("the released place was not reusable: %v", err)
	}
	for _, r := range []func(){r2, r3, r4} {
		r()
	}
	if g.Open() != 0 || len(g.byAddr) != 0 {
		t.Fatalf("after releasing everything: open %d, addresses %d", g.Open(), len(g.byAddr))
	}
}

func TestGateNoAddressCountsTotalOnly(t *testing.T) {
	g := NewGate(2, 1)
	for range 2 {
		if _, err := g.Enter(""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Enter(""); err == nil {
		t.Fatal("admitted past the total")
	}
}

func TestGateConcurrent(t *testing.T) {
	g := NewGate(50, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 200 {
		wg.Go(func() {
			if _, err := g.Enter("a"); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 50 || g.Open() != 50 {
		t.Fatalf("admitted %d, open %d; want 50", admitted, g.Open())
	}
}
