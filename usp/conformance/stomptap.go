package conformance

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3/frame"
)

// STOMPFrame is one STOMP frame that passed the kit's STOMP tap.
type STOMPFrame struct {
	Seq  int
	Time time.Time
	// Conn numbers the client connection (from 1, in accept order).
	Conn int
	// FromClient: the client sent it (else the server did).
	FromClient bool
	Command    string
	// Headers in the order sent (key, value), after the tap's changes.
	Headers [][2]string
	Body    []byte
}

// Header returns the first value of a header.
func (f STOMPFrame) Header(name string) (string, bool) { return firstValue(f.Headers, name) }

// STOMPTap is the test equipment's view of the STOMP wire: a proxy the
// agent connects to instead of its STOMP server, which it forwards to. It
// decodes the frames both ways (CONNECT and its headers, SUBSCRIBE, SEND
// with content-type, content-length and reply-to-dest) and, playing the
// server's part that 6.5 asks of it, adds a subscribe-dest header the
// tap makes up to the CONNECTED frame of every connection other than the
// equipment's.
type STOMPTap struct {
	l           net.Listener
	upstream    string
	tag         string // makes the tap's destinations its own on a shared server
	equipmentID string

	mu      sync.Mutex
	log     []STOMPFrame
	events  []STOMPEvent
	conns   map[net.Conn]struct{}
	clients map[int]net.Conn // by Conn number, while open
	n       int
	closed  bool
	noDest  bool // CONNECTED goes out without subscribe-dest
	refuse  int  // connections still to refuse
	tls     *tls.Config
	wg      sync.WaitGroup
}

// SetTLS makes the tap accept TLS connections with cfg besides plain ones
// (it tells them apart by their first byte), as a STOMP server that
// offers TLS does (TP-469 6.11); nil turns TLS off. An accepted TLS
// connection is logged as a "tls" event after its handshake.
func (tp *STOMPTap) SetTLS(cfg *tls.Config) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.tls = cfg
}

// IsTLS reports whether a connection came over TLS.
func (tp *STOMPTap) IsTLS(conn int) bool {
	for _, e := range tp.Events(0) {
		if e.Conn == conn && e.Kind == "tls" {
			return true
		}
	}
	return false
}

// tlsHandshakeByte starts every TLS connection (a handshake record).
const tlsHandshakeByte = 0x16

// sniffed is a connection whose first byte the tap has read.
type sniffed struct {
	net.Conn
	first []byte
}

func (c *sniffed) Read(b []byte) (int, error) {
	if len(c.first) > 0 && len(b) > 0 {
		n := copy(b, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// maybeTLS returns the connection to read STOMP from: c itself, or the
// TLS server side of it when it opens with a TLS handshake and the tap
// has TLS. ok is false when the connection is to be dropped.
func (tp *STOMPTap) maybeTLS(n int, c net.Conn) (net.Conn, bool) {
	tp.mu.Lock()
	cfg := tp.tls
	tp.mu.Unlock()
	if cfg == nil {
		return c, true
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return nil, false
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &sniffed{Conn: c, first: b[:]}
	if b[0] != tlsHandshakeByte {
		return pc, true
	}
	ts := tls.Server(pc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.HandshakeContext(ctx); err != nil {
		tp.event(STOMPEvent{Conn: n, Kind: "tls-failed"})
		return nil, false
	}
	tp.event(STOMPEvent{Conn: n, Kind: "tls"})
	return ts, true
}

// STOMPEvent is something the tap saw below the frames: a connection
// accepted or refused, a heart beat, a side closing its connection.
type STOMPEvent struct {
	Time time.Time
	Conn int
	// Kind is "accept", "refused", "tls" (a TLS handshake done),
	// "tls-failed", "heart-beat" (FromClient says whose)
	// or "closed" (FromClient: the client closed it, else the tap or the
	// server).
	Kind       string
	FromClient bool
}

// Events returns the events seen so far, from the index from on.
func (tp *STOMPTap) Events(from int) []STOMPEvent {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	from = min(max(from, 0), len(tp.events))
	return slices.Clone(tp.events[from:])
}

// EventMark returns the index the next event will get.
func (tp *STOMPTap) EventMark() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.events)
}

func (tp *STOMPTap) event(e STOMPEvent) {
	e.Time = time.Now()
	tp.mu.Lock()
	tp.events = append(tp.events, e)
	tp.mu.Unlock()
}

// SetSubscribeDest says whether the CONNECTED frames to agents carry a
// subscribe-dest (the default): with false the tap removes any the
// server sent, for the cases where the agent's configured destination is
// the one to use (TP-469 6.6, 6.7, 6.10).
func (tp *STOMPTap) SetSubscribeDest(on bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.noDest = !on
}

// RefuseNext makes the tap close the next n connections as soon as it
// accepts them, before any frame: the server is down for them (6.3).
func (tp *STOMPTap) RefuseNext(n int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.refuse = n
}

// Disconnect closes a client connection (and its upstream one), as a
// server that goes away does.
func (tp *STOMPTap) Disconnect(conn int) error {
	tp.mu.Lock()
	c := tp.clients[conn]
	tp.mu.Unlock()
	if c == nil {
		return fmt.Errorf("conformance: STOMP tap: no open connection %d", conn)
	}
	return c.Close()
}

// StartSTOMPTap listens on addr ("127.0.0.1:0" picks a port) and forwards
// every connection to the STOMP server at upstream (host:port).
// equipmentID is the test equipment's endpoint ID (its connection is left
// unchanged).
func StartSTOMPTap(addr, upstream, equipmentID string) (*STOMPTap, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("%w: STOMP server address: %w", ErrInvalidOption, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("conformance: STOMP tap: %w", err)
	}
	tp := &STOMPTap{l: l, upstream: upstream, equipmentID: equipmentID, conns: map[net.Conn]struct{}{}, clients: map[int]net.Conn{},
		tag: strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + "-" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)}
	tp.wg.Go(tp.accept)
	return tp, nil
}

// Addr is the address the agent (and the equipment) connect to.
func (tp *STOMPTap) Addr() string { return tp.l.Addr().String() }

// Close stops the tap and closes every connection through it.
func (tp *STOMPTap) Close() error {
	tp.mu.Lock()
	tp.closed = true
	err := tp.l.Close()
	for c := range tp.conns {
		_ = c.Close()
	}
	tp.mu.Unlock()
	tp.wg.Wait()
	return err
}

// Frames returns the frames seen so far with Seq >= from.
func (tp *STOMPTap) Frames(from int) []STOMPFrame {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	from = min(max(from, 0), len(tp.log))
	return slices.Clone(tp.log[from:])
}

// Mark returns the Seq the next frame will get.
func (tp *STOMPTap) Mark() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.log)
}

// ConnOf returns the most recent connection whose CONNECT (or STOMP)
// frame had the endpoint-id header endpointID.
func (tp *STOMPTap) ConnOf(endpointID string) (int, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for i := len(tp.log) - 1; i >= 0; i-- {
		f := tp.log[i]
		if v, _ := f.Header("endpoint-id"); f.FromClient && isConnect(f.Command) && v == endpointID {
			return f.Conn, true
		}
	}
	return 0, false
}

func isConnect(cmd string) bool { return cmd == frame.CONNECT || cmd == frame.STOMP }

// Wait waits up to d for a frame with Seq >= from that match accepts.
func (tp *STOMPTap) Wait(t *T, from int, d time.Duration, match func(STOMPFrame) bool) (STOMPFrame, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, f := range tp.Frames(from) {
			if match(f) {
				return f, true
			}
		}
		if time.Now().After(deadline) || t.ctx.Err() != nil {
			return STOMPFrame{}, false
		}
		t.Sleep(50 * time.Millisecond)
	}
}

func (tp *STOMPTap) track(c net.Conn) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.closed {
		_ = c.Close()
		return false
	}
	tp.conns[c] = struct{}{}
	return true
}

func (tp *STOMPTap) accept() {
	for {
		c, err := tp.l.Accept()
		if err != nil {
			return
		}
		if !tp.track(c) {
			return
		}
		tp.mu.Lock()
		tp.n++
		n, refuse := tp.n, tp.refuse > 0
		if refuse {
			tp.refuse--
		} else {
			tp.clients[n] = c
		}
		tp.mu.Unlock()
		if refuse {
			tp.event(STOMPEvent{Conn: n, Kind: "refused"})
			_ = c.Close()
			continue
		}
		tp.event(STOMPEvent{Conn: n, Kind: "accept"})
		tp.wg.Go(func() { tp.serve(n, c) })
	}
}

// serve forwards one connection both ways until either side closes it.
func (tp *STOMPTap) serve(n int, raw net.Conn) {
	defer func() {
		_ = raw.Close()
		tp.mu.Lock()
		delete(tp.clients, n)
		tp.mu.Unlock()
	}()
	client, ok := tp.maybeTLS(n, raw)
	if !ok {
		return
	}
	up, err := net.DialTimeout("tcp", tp.upstream, 10*time.Second)
	if err != nil {
		return
	}
	if !tp.track(up) {
		return
	}
	defer func() { _ = up.Close() }()
	var agent sync.Once
	isAgent := make(chan bool, 1) // decided by the client's CONNECT
	done := make(chan struct{}, 2)
	tp.wg.Go(func() {
		defer func() { done <- struct{}{} }()
		tp.pipe(n, true, client, up, func(f *frame.Frame) {
			if isConnect(f.Command) {
				agent.Do(func() { isAgent <- f.Header.Get("endpoint-id") != tp.equipmentID })
			}
		})
	})
	tp.wg.Go(func() {
		defer func() { done <- struct{}{} }()
		tp.pipe(n, false, up, client, func(f *frame.Frame) {
			if f.Command != frame.CONNECTED {
				return
			}
			select {
			case a := <-isAgent:
				tp.mu.Lock()
				noDest := tp.noDest
				tp.mu.Unlock()
				if a && noDest {
					f.Header.Del("subscribe-dest")
				}
				if a && !noDest {
					if _, has := f.Header.Contains("subscribe-dest"); !has {
						f.Header.Add("subscribe-dest", "/queue/tp469-"+tp.tag+"-"+strconv.Itoa(n))
					}
				}
			default:
			}
		})
	})
	<-done
	_ = client.Close()
	_ = up.Close()
	<-done
}

// pipe copies frames from src to dst, recording each after change has had
// its say.
func (tp *STOMPTap) pipe(n int, fromClient bool, src, dst net.Conn, change func(*frame.Frame)) {
	r, w := frame.NewReader(src), frame.NewWriter(dst)
	for {
		f, err := r.Read()
		if err != nil {
			tp.event(STOMPEvent{Conn: n, Kind: "closed", FromClient: fromClient})
			return
		}
		if f == nil {
			tp.event(STOMPEvent{Conn: n, Kind: "heart-beat", FromClient: fromClient})
		}
		if f != nil { // nil: a heart-beat
			if f.Header == nil {
				f.Header = frame.NewHeader()
			}
			change(f)
			rec := STOMPFrame{Conn: n, FromClient: fromClient, Command: f.Command, Body: slices.Clone(f.Body)}
			for i := range f.Header.Len() {
				k, v := f.Header.GetAt(i)
				rec.Headers = append(rec.Headers, [2]string{k, v})
			}
			tp.mu.Lock()
			rec.Seq, rec.Time = len(tp.log), time.Now()
			tp.log = append(tp.log, rec)
			tp.mu.Unlock()
		}
		if err := w.Write(f); err != nil {
			return
		}
	}
}
