package brokertest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/server"
)

// StompServer is go-stomp's embedded STOMP 1.2 server, owned by one test.
// It is a plain broker: no virtual hosts, no authentication, no extension
// headers in CONNECTED; it forwards custom SEND headers such as
// reply-to-dest. Every Start creates a fresh server on the same port.
//
// The server's request loop cannot be stopped and stays behind as one
// idle goroutine per start; see [GoleakOptions].
type StompServer struct {
	t    testing.TB
	port int

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
}

// StartStompServer starts an embedded STOMP server on a free loopback port
// for the rest of the test and returns its address (127.0.0.1:port).
func StartStompServer(t testing.TB) string {
	t.Helper()
	return NewStompServer(t).Addr()
}

// NewStompServer starts an embedded STOMP server; it is stopped when the
// test ends.
func NewStompServer(t testing.TB) *StompServer {
	t.Helper()
	s := &StompServer{t: t, port: FreePort(t)}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Addr is the server's host:port.
func (s *StompServer) Addr() string { return hostPort(s.port) }

// Start starts a fresh server on the port; starting a running server does
// nothing.
func (s *StompServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l != nil {
		return
	}
	var l net.Listener
	var err error
	for range 50 {
		if l, err = net.Listen("tcp", s.Addr()); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("brokertest: stomp server listen: %v", err)
	}
	s.l = l
	s.conns = make(map[net.Conn]struct{})
	srv := &server.Server{Log: quietStompLog{}, HeartBeat: 30 * time.Second}
	go func() { _ = srv.Serve(&trackingListener{Listener: l, s: s}) }()
}

// Stop closes the listener and every accepted connection.
func (s *StompServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l == nil {
		return
	}
	_ = s.l.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.l, s.conns = nil, nil
}

// Restart stops the server and starts a fresh one on the same port.
func (s *StompServer) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

type trackingListener struct {
	net.Listener
	s *StompServer
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.conns == nil { // stopped meanwhile
		_ = c.Close()
		return c, nil
	}
	l.s.conns[c] = struct{}{}
	return c, nil
}

type quietStompLog struct{}

func (quietStompLog) Debugf(string, ...any)   {}
func (quietStompLog) Infof(string, ...any)    {}
func (quietStompLog) Warningf(string, ...any) {}
func (quietStompLog) Errorf(string, ...any)   {}
func (quietStompLog) Debug(string)            {}
func (quietStompLog) Info(string)             {}
func (quietStompLog) Warning(string)          {}
func (quietStompLog) Error(string)            {}
