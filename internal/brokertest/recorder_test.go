package brokertest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gousp/gousp/mtp"
)

// tbSpy collects a check's failures instead of failing the test; Fatalf
// ends the calling goroutine as testing.T's does.
type tbSpy struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (s *tbSpy) Helper() {}

func (s *tbSpy) Errorf(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *tbSpy) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	runtime.Goexit()
}

func (s *tbSpy) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }

// compete runs Compete over two recorders fed with the given records and
// returns its failures.
func compete(t *testing.T, n int, toA, toB []string) ([2]int, []string) {
	spy := &tbSpy{TB: t}
	a, b := NewRecorder(spy), NewRecorder(spy)
	for _, d := range toA {
		a.HandleRecord(mtp.Inbound{Data: []byte(d)})
	}
	for _, d := range toB {
		b.HandleRecord(mtp.Inbound{Data: []byte(d)})
	}
	var got [2]int
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = Compete(spy, n, a, b)
	}()
	<-done
	return got, spy.errs
}

func TestCompete(t *testing.T) {
	if got, errs := compete(t, 4, []string{"1", "3"}, []string{"2", "4"}); len(errs) != 0 || got != [2]int{2, 2} {
		t.Fatalf("a fair split: %v, failures %q", got, errs)
	}
	if _, errs := compete(t, 2, []string{"1", "2"}, nil); len(errs) != 1 || !strings.Contains(errs[0], "one consumer") {
		t.Fatalf("all to one consumer: failures %q", errs)
	}
	// Record 2 reaches both: whichever copy comes second is either taken
	// (delivered twice) or left over (unexpected record).
	if _, errs := compete(t, 3, []string{"1", "2"}, []string{"2", "3"}); len(errs) == 0 {
		t.Fatal("a record delivered to both consumers passed")
	}
}
