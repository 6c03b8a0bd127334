package extest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestOutputWaitFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out Output
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			fmt.Fprintf(&out, "line %d\n", i)
			time.Sleep(time.Millisecond)
		}
		fmt.Fprintln(&out, "listening on ws://127.0.0.1:4242/usp")
	}()
	m := out.WaitFor(ctx, t, `listening on ws://(\S+)/usp`)
	if m[1] != "127.0.0.1:4242" {
		t.Errorf("submatch = %q", m[1])
	}
	<-done
	if got := out.String(); got[:7] != "line 0\n" {
		t.Errorf("String() = %q", got)
	}
}
