package usp

import (
	"fmt"
	"sync"
	"testing"
)

func TestPendingTable(t *testing.T) {
	tb := newPendingTable()
	a, b := &pending{agent: "proto::a"}, &pending{agent: "proto::b"}
	if !tb.add("1", a) || !tb.add("2", b) {
		t.Fatal("add refused on an open table")
	}
	if !tb.has("1") || tb.has("3") {
		t.Fatal("has disagrees with what was added")
	}
	// An answer from the wrong agent leaves the call in place.
	if p, ok := tb.take("1", func(p *pending) bool { return p.agent == "proto::b" }); ok || p != a {
		t.Fatalf("take with a refusing check = %v, %v; want the call found and kept", p, ok)
	}
	if p, ok := tb.take("1", func(p *pending) bool { return p.agent == "proto::a" }); !ok || p != a || tb.has("1") {
		t.Fatalf("take = %v, %v; want the call, removed", p, ok)
	}
	// remove drops only the call it names: a newer call under the same id stays.
	tb.remove("2", a)
	if !tb.has("2") {
		t.Fatal("remove dropped another call")
	}
	if got := tb.takeAll(func(p *pending) bool { return p.agent == "proto::b" }); len(got) != 1 || got[0] != b {
		t.Fatalf("takeAll = %v, want [b]", got)
	}
}

// Every call booked while the table closes is either handed back by close
// (so Close fails it) or refused (so the caller returns ErrClosed): none is
// left waiting.
func TestPendingTableCloseRace(t *testing.T) {
	for range 20 {
		tb := newPendingTable()
		const n = 200
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for i := range n {
			wg.Go(func() {
				if !tb.add(fmt.Sprint(i), &pending{}) {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			})
		}
		closed := tb.close()
		wg.Wait()
		if late := tb.takeAll(func(*pending) bool { return true }); len(late) != 0 {
			t.Fatalf("%d calls booked after close", len(late))
		}
		if len(closed)+refused != n {
			t.Fatalf("close returned %d and %d were refused, want %d in all", len(closed), refused, n)
		}
	}
}
