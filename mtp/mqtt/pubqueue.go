package mqtt

import (
	"sync"

	"github.com/eclipse/paho.golang/packets"
)

// pubQueue hands received records from a connection's reader to its
// delivery goroutine (WithOwnClient) in order. It holds at most max
// records, and memory for what it holds: a channel of max slots, as paho
// keeps, would cost 512 KiB per connection at MQTT's default Receive
// Maximum whether records wait or not.
type pubQueue struct {
	mu     sync.Mutex
	items  []*packets.Publish
	head   int
	max    int
	closed bool
	// ready has a token while items has records or the queue is
	// closed; room has one after a pop from a full queue.
	ready chan struct{}
	room  chan struct{}
}

func newPubQueue(max int) *pubQueue {
	return &pubQueue{max: max, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// shrinkAt is the capacity past which an emptied queue gives its array
// back.
const shrinkAt = 256

// put adds p, waiting while the queue is full until there is room or
// done is closed; it reports whether p was added.
func (q *pubQueue) put(p *packets.Publish, done <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if len(q.items)-q.head < q.max {
			q.items = append(q.items, p)
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-done:
			return false
		}
	}
}

// close tells the delivery goroutine that nothing more comes; what is
// queued is still taken.
func (q *pubQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.ready)
}

// take returns the next record, waiting for one; false once the queue is
// closed and empty.
func (q *pubQueue) take() (*packets.Publish, bool) {
	for {
		q.mu.Lock()
		if n := len(q.items) - q.head; n > 0 {
			p := q.items[q.head]
			q.items[q.head] = nil
			q.head++
			if q.head == len(q.items) {
				q.items, q.head = q.items[:0], 0
				if cap(q.items) > shrinkAt {
					q.items = nil
				}
			}
			q.mu.Unlock()
			if n == q.max {
				signal(q.room)
			}
			return p, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		<-q.ready
	}
}

// signal leaves a token in c unless one is there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
