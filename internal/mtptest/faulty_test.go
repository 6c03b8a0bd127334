package mtptest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/internal/mtptest"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type sink struct {
	mu  sync.Mutex
	got []string
}

func (s *sink) handle(in mtp.Inbound) {
	s.mu.Lock()
	s.got = append(s.got, string(in.Data))
	s.mu.Unlock()
}

func (s *sink) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := slices.Clone(s.got)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

// pair returns a faulty sender and a receiving sink over memory.
func pair(t *testing.T, f mtptest.Faults) (*mtptest.Faulty, *sink) {
	t.Helper()
	net := memory.NewNetwork()
	a, err := net.Endpoint("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.Endpoint("b")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	ft := mtptest.Wrap(a, f)
	ctx := context.Background()
	if err := ft.Start(ctx, mtp.HandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, mtp.HandlerFuncs{Record: s.handle}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ft.Close(ctx)
		_ = b.Close(ctx)
	})
	return ft, s
}

var toB = mtp.Address{MTP: mtp.Memory, To: "b"}

func send(t *testing.T, ft *mtptest.Faulty, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := ft.Send(context.Background(), toB, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIntercept(t *testing.T) {
	ft, s := pair(t, mtptest.Faults{})
	ft.SetIntercept(func(data []byte) mtptest.Action {
		switch string(data) {
		case "lost":
			return mtptest.Drop
		case "twice":
			return mtptest.Duplicate
		case "late":
			return mtptest.Hold
		}
		return mtptest.Pass
	})
	send(t, ft, "1", "lost", "twice", "late", "2")
	got := s.wait(t, 5)
	if want := []string{"1", "twice", "twice", "2", "late"}; !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
	if sent := ft.Sent(); len(sent) != 5 {
		t.Fatalf("Sent() has %d records, want the 5 handed over", len(sent))
	}
	if c := ft.Counts(); c != (mtptest.Counts{Dropped: 1, Duplicated: 1, Held: 1}) {
		t.Fatalf("Counts() = %+v", c)
	}
	// A held record goes out on Flush when nothing follows.
	send(t, ft, "late")
	if err := ft.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.wait(t, 6); got[len(got)-1] != "late" {
		t.Fatalf("after Flush: %q", got)
	}
}

// TestRandomFaults checks the rates roughly and that a seed repeats a run.
func TestRandomFaults(t *testing.T) {
	run := func() []string {
		ft, s := pair(t, mtptest.Faults{Drop: 0.2, Duplicate: 0.1, Reorder: 0.1, Seed: 7})
		for i := range 1000 {
			send(t, ft, fmt.Sprintf("%04d", i))
		}
		_ = ft.Flush(context.Background())
		time.Sleep(10 * time.Millisecond)
		return s.wait(t, 1)
	}
	a := run()
	if len(a) < 750 || len(a) > 950 {
		t.Fatalf("%d of 1000 records (20%% lost, 10%% doubled) arrived", len(a))
	}
	inversions := 0
	for i := 1; i < len(a); i++ {
		if a[i] < a[i-1] {
			inversions++
		}
	}
	if inversions == 0 {
		t.Fatal("no record overtook another")
	}
	if b := run(); !slices.Equal(a, b) {
		t.Fatal("the same seed gave another run")
	}
}

func TestDelay(t *testing.T) {
	ft, s := pair(t, mtptest.Faults{Delay: 20 * time.Millisecond, Seed: 3})
	for i := range 50 {
		send(t, ft, fmt.Sprintf("%02d", i))
	}
	got := s.wait(t, 50)
	if len(got) != 50 {
		t.Fatalf("%d of 50 delayed records arrived", len(got))
	}
	if slices.IsSorted(got) {
		t.Fatal("50 records delayed at random all kept their order")
	}
	// Close drops what is still waiting and leaks nothing.
	send(t, ft, "never")
	ft.SetFaults(mtptest.Faults{Delay: time.Hour})
	send(t, ft, "never")
	if err := ft.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
