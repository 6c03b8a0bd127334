package mqtt

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// TestPubQueue: records come out in order; a full queue holds the reader
// until the delivery goroutine takes one, or until the connection ends;
// a closed queue gives what it holds, then reports the end; an emptied
// queue gives a large array back.
func TestPubQueue(t *testing.T) {
	q := newPubQueue(3)
	pubs := make([]*packets.Publish, 5)
	for i := range pubs {
		pubs[i] = &packets.Publish{PacketID: uint16(i + 1)}
	}
	never := make(chan struct{})
	for _, p := range pubs[:3] {
		if !q.put(p, never) {
			t.Fatal("put into a queue with room failed")
		}
	}
	put := make(chan bool)
	go func() { put <- q.put(pubs[3], never) }()
	select {
	case <-put:
		t.Fatal("put into a full queue did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	if p, ok := q.take(); !ok || p != pubs[0] {
		t.Fatalf("take = %v, %v; want the first record", p, ok)
	}
	if ok := <-put; !ok {
		t.Fatal("put after a take failed")
	}
	// Full again: the connection's end releases the reader.
	done := make(chan struct{})
	go func() { put <- q.put(pubs[4], done) }()
	close(done)
	if ok := <-put; ok {
		t.Fatal("put into a full queue succeeded after the end")
	}
	q.close()
	for _, want := range pubs[1:4] {
		if p, ok := q.take(); !ok || p != want {
			t.Fatalf("take = %v, %v; want record %d", p, ok, want.PacketID)
		}
	}
	if p, ok := q.take(); ok {
		t.Fatalf("take on a closed, empty queue = %v", p)
	}

	// A take waits for a put.
	q = newPubQueue(1000)
	got := make(chan *packets.Publish)
	go func() { p, _ := q.take(); got <- p }()
	time.Sleep(10 * time.Millisecond)
	q.put(pubs[0], never)
	if p := <-got; p != pubs[0] {
		t.Fatalf("waiting take got %v", p)
	}
	for range shrinkAt + 1 {
		q.put(pubs[1], never)
	}
	for range shrinkAt + 1 {
		q.take()
	}
	if q.items != nil {
		t.Fatalf("an emptied queue keeps %d slots", cap(q.items))
	}
}
