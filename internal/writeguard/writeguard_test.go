package writeguard

import (
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stalled returns a TCP connection whose peer never reads.
func stalled(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c
}

// fill writes until the socket buffers are full and a write blocks.
func fill(c *Conn) error {
	buf := make([]byte, 1<<20)
	for {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

func TestWriteTimeout(t *testing.T) {
	c := New(stalled(t), 200*time.Millisecond)
	start := time.Now()
	err := fill(c)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the stuck write took %v", took)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("a write after a failed one succeeded on a cut stream")
	}
}

func TestAbort(t *testing.T) {
	c := New(stalled(t), time.Hour)
	if c.Abort() {
		t.Fatal("Abort without a write in progress reported one")
	}
	if _, err := c.Write([]byte("fine")); err != nil {
		t.Fatalf("write after an idle Abort: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- fill(c) }()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Writing() || !c.stuck() {
		if time.Now().After(deadline) {
			t.Fatal("the write never blocked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !c.Abort() {
		t.Fatal("Abort did not see the write in progress")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("aborted write succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Abort did not end the blocked write")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrAborted) {
		t.Fatalf("write after Abort: %v, want ErrAborted", err)
	}
}

// stuck reports whether a write has been in progress for a while; fill's
// writes of 1 MiB each take microseconds until the buffers are full.
func (c *Conn) stuck() bool {
	time.Sleep(50 * time.Millisecond)
	return c.Writing()
}

func TestEarlierDeadlineKept(t *testing.T) {
	c := New(stalled(t), time.Hour)
	_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	err := fill(c)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the write ignored the earlier deadline: %v", took)
	}
}
