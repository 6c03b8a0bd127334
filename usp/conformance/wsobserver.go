package conformance

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// WebSocketHandshake is one opening handshake the kit's WebSocket server
// saw: what the client asked for and what the server answered.
type WebSocketHandshake struct {
	Seq  int
	Time time.Time
	// Accepted is when the kit's server accepted the TCP connection the
	// handshake came on, before any TLS handshake (zero when the server
	// is not [StartWebSocketServer]'s); Answered when the answer was
	// written. 7.8 times the agent's retries with them.
	Accepted time.Time
	Answered time.Time
	Remote   string
	Path     string
	// Protocols are the subprotocols the client offered
	// (Sec-WebSocket-Protocol), Extensions its Sec-WebSocket-Extensions.
	Protocols  []string
	Extensions string
	// TLS is the TLS version the session runs over ("" without TLS).
	TLS string
	// Status is the server's answer (101 when the session opened), and
	// Protocol the subprotocol it chose; AnswerExtensions is the
	// Sec-WebSocket-Extensions header of the answer as the agent got it.
	Status           int
	Protocol         string
	AnswerExtensions string
	// Refused says that the kit refused the handshake on purpose
	// ([WebSocketObserver.Refuse]).
	Refused bool
}

// WebSocketObserver is the test equipment's view of WebSocket sessions
// opened to it: an http.Handler in front of the equipment's WebSocket
// server (mtp/websocket.Server mounted without its own listener) that
// records every opening handshake. Serve it with [net/http].
type WebSocketObserver struct {
	next http.Handler

	mu     sync.Mutex
	log    []WebSocketHandshake
	frames []WebSocketFrame
	conns  map[int]*wsConn // by the Seq of the handshake that opened them
	// What the cases change of the server's behaviour (wscontrol.go).
	refuse    int  // answer handshakes with this status instead of the server
	stripExt  bool // drop Sec-WebSocket-Extensions from the answers
	fragments int  // split each binary message of the server into this many frames
	offersTLS bool // the server also speaks TLS (StartWebSocketServer with a certificate)
}

// ObserveWebSocket wraps the equipment's WebSocket server.
func ObserveWebSocket(next http.Handler) *WebSocketObserver {
	return &WebSocketObserver{next: next}
}

// Handshakes returns the handshakes seen so far.
func (o *WebSocketObserver) Handshakes() []WebSocketHandshake {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.log)
}

// ServeHTTP records the handshake and hands the request on.
func (o *WebSocketObserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := WebSocketHandshake{Time: time.Now(), Remote: r.RemoteAddr, Path: r.URL.Path,
		Extensions: r.Header.Get("Sec-WebSocket-Extensions")}
	if at, ok := r.Context().Value(acceptKey{}).(time.Time); ok {
		h.Accepted = at
	}
	if st := tlsState(r); st != nil {
		h.TLS = tls.VersionName(st.Version)
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			h.Protocols = append(h.Protocols, strings.TrimSpace(p))
		}
	}
	o.mu.Lock()
	h.Seq = len(o.log)
	refuse := o.refuse
	h.Refused = refuse != 0
	o.log = append(o.log, h)
	o.mu.Unlock()
	if refuse != 0 {
		http.Error(w, "refused by the test equipment", refuse)
		o.answer(h.Seq, refuse, "", "")
		return
	}
	rw := &answerWriter{ResponseWriter: w, o: o, seq: h.Seq}
	o.next.ServeHTTP(rw, r)
	if !rw.hijacked && rw.status != 0 {
		o.answer(h.Seq, rw.status, "", "")
	}
}

func (o *WebSocketObserver) answer(seq, status int, protocol, extensions string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.log[seq].Status == 0 {
		o.log[seq].Status, o.log[seq].Protocol, o.log[seq].AnswerExtensions = status, protocol, extensions
		o.log[seq].Answered = time.Now()
	}
}

// answerWriter notes the status of a refused handshake, and reads the
// 101 answer the WebSocket library writes on the hijacked connection.
type answerWriter struct {
	http.ResponseWriter
	o        *WebSocketObserver
	seq      int
	status   int
	hijacked bool
}

func (w *answerWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack hands out the connection with its first write (the handshake
// answer) read on the way.
func (w *answerWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("conformance: the response cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	wc := &wsConn{Conn: c, w: w}
	o := w.o
	o.mu.Lock()
	if o.conns == nil {
		o.conns = map[int]*wsConn{}
	}
	o.conns[w.seq] = wc
	o.mu.Unlock()
	if brw.Reader.Buffered() == 0 {
		// Read through the wrapper, so that the agent's frames are seen
		// (the library reads from the reader it is handed when it can).
		brw = bufio.NewReadWriter(bufio.NewReader(wc), brw.Writer)
	}
	return wc, brw, nil
}

// parseAnswer reads the status, Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions of an HTTP answer's head; anything it cannot
// read gives status 0.
func parseAnswer(b []byte) (status int, protocol, extensions string) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return 0, "", ""
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"), strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
}
