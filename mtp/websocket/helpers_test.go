package websocket_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
)

// recorder is a Handler that collects deliveries and fails the test if it
// is ever called concurrently.
type recorder struct {
	t       testing.TB
	busy    atomic.Int32
	mu      sync.Mutex
	records []mtp.Inbound
	events  []mtp.Event
	got     chan struct{}
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, got: make(chan struct{}, 1)}
}

func (r *recorder) add(f func()) {
	if r.busy.Add(1) != 1 {
		r.t.Error("handler called concurrently")
	}
	defer r.busy.Add(-1)
	r.mu.Lock()
	f()
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *recorder) HandleRecord(in mtp.Inbound) { r.add(func() { r.records = append(r.records, in) }) }
func (r *recorder) HandleEvent(ev mtp.Event)    { r.add(func() { r.events = append(r.events, ev) }) }

// wait waits until cond holds on the recorded deliveries.
func (r *recorder) wait(what string, cond func(records []mtp.Inbound, events []mtp.Event) bool) {
	r.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r.records, r.events)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			recs, evs := r.snapshot()
			r.t.Fatalf("timed out waiting for %s; have %d records, events %v", what, len(recs), evs)
		}
	}
}

func (r *recorder) waitRecords(n int) []mtp.Inbound {
	r.t.Helper()
	r.wait("records", func(rs []mtp.Inbound, _ []mtp.Event) bool { return len(rs) >= n })
	recs, _ := r.snapshot()
	return recs
}

// waitEvent waits for an event of kind k after the first skip such events.
func (r *recorder) waitEvent(k mtp.EventKind, skip int) mtp.Event {
	r.t.Helper()
	var found mtp.Event
	r.wait(k.String(), func(_ []mtp.Inbound, evs []mtp.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Kind == k {
				if n == skip {
					found = ev
					return true
				}
				n++
			}
		}
		return false
	})
	return found
}

func (r *recorder) snapshot() ([]mtp.Inbound, []mtp.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mtp.Inbound(nil), r.records...), append([]mtp.Event(nil), r.events...)
}

func (r *recorder) kinds() []mtp.EventKind {
	_, evs := r.snapshot()
	var ks []mtp.EventKind
	for _, ev := range evs {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// Raw WebSocket frames, for peers that misbehave on purpose or reproduce
// another implementation's bytes exactly.

// writeFrame writes one final frame; a client's frames are masked.
func writeFrame(w io.Writer, opcode byte, payload []byte, masked bool) error {
	return writeFragment(w, true, opcode, payload, masked)
}

// writeFragment writes one frame, final or not; continuation frames have
// opcode 0.
func writeFragment(w io.Writer, fin bool, opcode byte, payload []byte, masked bool) error {
	hdr := []byte{opcode}
	if fin {
		hdr[0] |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, m|byte(n))
	case n < 1<<16:
		hdr = append(hdr, m|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, m|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	if masked {
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		hdr = append(hdr, key[:]...)
		p := bytes.Clone(payload)
		for i := range p {
			p[i] ^= key[i%4]
		}
		payload = p
	}
	_, err := w.Write(append(hdr, payload...))
	return err
}

type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// readFrame reads one frame, unmasking it if needed.
func readFrame(r *bufio.Reader) (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: h[0]&0x80 != 0, opcode: h[0] & 0x0f}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if h[1]&0x80 != 0 {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// acceptKey computes Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}
