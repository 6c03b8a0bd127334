package record

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gousp/gousp/proto/usprecord"
)

func TestSegment(t *testing.T) {
	data := []byte("0123456789abcdefghij") // 20 bytes
	tests := []struct {
		name  string
		in    []byte
		max   int
		sizes []int
	}{
		{"fits", data, 20, []int{20}},
		{"no limit", data, 0, []int{20}},
		{"negative limit", data, -5, []int{20}},
		{"even", data, 5, []int{5, 5, 5, 5}},
		{"remainder", data, 7, []int{7, 7, 6}},
		{"one byte", data[:3], 1, []int{1, 1, 1}},
		{"just over", data, 19, []int{19, 1}},
		{"empty", nil, 4, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Segment(tc.in, tc.max)
			if len(got) != len(tc.sizes) {
				t.Fatalf("%d pieces, want %d", len(got), len(tc.sizes))
			}
			for i, p := range got {
				if len(p) != tc.sizes[i] {
					t.Fatalf("piece %d is %d bytes, want %d", i, len(p), tc.sizes[i])
				}
			}
			if joined := bytes.Join(got, nil); !bytes.Equal(joined, tc.in) {
				t.Fatalf("pieces join to %q", joined)
			}
		})
	}
	// Appending to a piece must not overwrite the next one.
	buf := []byte("aabbcc")
	pieces := Segment(buf, 2)
	_ = append(pieces[0], 'X')
	if string(buf) != "aabbcc" {
		t.Fatalf("append to a piece changed the payload: %q", buf)
	}
}

func TestSARStateFor(t *testing.T) {
	seq := func(n int) []usprecord.SessionContextRecord_PayloadSARState {
		var out []usprecord.SessionContextRecord_PayloadSARState
		for i := range n {
			out = append(out, SARStateFor(i, n))
		}
		return out
	}
	tests := []struct {
		n    int
		want []usprecord.SessionContextRecord_PayloadSARState
	}{
		{1, []usprecord.SessionContextRecord_PayloadSARState{SARNone}},
		{2, []usprecord.SessionContextRecord_PayloadSARState{SARBegin, SARComplete}},
		{4, []usprecord.SessionContextRecord_PayloadSARState{SARBegin, SARInProcess, SARInProcess, SARComplete}},
	}
	for _, tc := range tests {
		got := seq(tc.n)
		if len(got) != len(tc.want) {
			t.Fatalf("n=%d: %v", tc.n, got)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("n=%d: %v, want %v", tc.n, got, tc.want)
			}
		}
	}
	for _, c := range [][2]int{{-1, 3}, {3, 3}, {0, 0}} {
		if s := SARStateFor(c[0], c[1]); s != SARNone {
			t.Errorf("SARStateFor(%d, %d) = %v", c[0], c[1], s)
		}
	}
}

// numbered gives the records the identifiers a session would, and checks
// each one is a valid record.
func numbered(t *testing.T, scs []*usprecord.SessionContextRecord, first uint64) []*usprecord.SessionContextRecord {
	t.Helper()
	for i, sc := range scs {
		sc.SessionId = 42
		sc.SequenceId = first + uint64(i)
		sc.ExpectedId = 1
		if err := Validate(NewSessionContext("1.3", agentID, controllerID, sc)); err != nil {
			t.Fatalf("segment %d invalid: %v", i, err)
		}
	}
	return scs
}

func TestSegmentReassembleRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 7, 100, 1000, 4096} {
		for _, max := range []int{1, 3, 64, 999, 1000, 5000} {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(rng.UintN(256))
			}
			scs := numbered(t, SessionSegments(msg, max), 5)
			if want := (size + max - 1) / max; len(scs) != want {
				t.Fatalf("size %d max %d: %d segments, want %d", size, max, len(scs), want)
			}
			re, err := NewReassembler(size)
			if err != nil {
				t.Fatal(err)
			}
			for i, sc := range scs {
				if sc.PayloadrecSarState != sc.PayloadSarState {
					t.Fatalf("payloadrec_sar_state differs from payload_sar_state")
				}
				got, done, err := re.Add(sc)
				if err != nil {
					t.Fatalf("size %d max %d segment %d: %v", size, max, i, err)
				}
				last := i == len(scs)-1
				if done != last {
					t.Fatalf("segment %d: done = %v", i, done)
				}
				if last && !bytes.Equal(got, msg) {
					t.Fatalf("size %d max %d: reassembled %d bytes differ", size, max, len(got))
				}
				if !last && (got != nil || !re.InProgress()) {
					t.Fatalf("segment %d: got %d bytes, in progress %v", i, len(got), re.InProgress())
				}
			}
			if re.InProgress() || re.Buffered() != 0 {
				t.Fatal("reassembler not idle after COMPLETE")
			}
		}
	}
}

func sc(seq uint64, state usprecord.SessionContextRecord_PayloadSARState, payload ...string) *usprecord.SessionContextRecord {
	s := &usprecord.SessionContextRecord{SessionId: 1, SequenceId: seq, ExpectedId: 1, PayloadSarState: state, PayloadrecSarState: state}
	for _, p := range payload {
		s.Payload = append(s.Payload, []byte(p))
	}
	return s
}

func TestReassembler(t *testing.T) {
	type step struct {
		rec  *usprecord.SessionContextRecord
		want string // delivered message; "" for none
		err  error  // expected error (errors.Is)
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"single", 10, []step{{sc(1, SARNone, "hello"), "hello", nil}}},
		{"single then segmented", 10, []step{
			{sc(1, SARNone, "a"), "a", nil},
			{sc(2, SARBegin, "b"), "", nil},
			{sc(3, SARComplete, "c"), "bc", nil},
			{sc(4, SARNone, "d"), "d", nil},
		}},
		{"empty record delivers nothing", 10, []step{{sc(1, SARNone), "", nil}}},
		{"several payload fields (TLS stream)", 10, []step{
			{sc(1, SARNone, "ab", "cd"), "abcd", nil},
			{sc(2, SARBegin, "e", "f"), "", nil},
			{sc(3, SARComplete, "g", "h"), "efgh", nil},
		}},
		{"ack between segments", 10, []step{
			{sc(1, SARBegin, "a"), "", nil},
			{sc(2, SARNone), "", nil},
			{sc(3, SARComplete, "b"), "ab", nil},
		}},
		{"inprocess without begin", 10, []step{{sc(1, SARInProcess, "a"), "", ErrSAR}}},
		{"complete without begin", 10, []step{{sc(1, SARComplete, "a"), "", ErrSAR}}},
		{"begin twice", 10, []step{
			{sc(1, SARBegin, "a"), "", nil},
			{sc(2, SARBegin, "b"), "", ErrSAR},
			// The failed message is dropped; a new one starts cleanly.
			{sc(3, SARBegin, "c"), "", nil},
			{sc(4, SARComplete, "d"), "cd", nil},
		}},
		{"none with payload inside", 10, []step{
			{sc(1, SARBegin, "a"), "", nil},
			{sc(2, SARNone, "b"), "", ErrSAR},
		}},
		{"sequence gap", 10, []step{
			{sc(1, SARBegin, "a"), "", nil},
			{sc(3, SARComplete, "b"), "", ErrSAR},
		}},
		{"sequence repeat", 10, []step{
			{sc(5, SARBegin, "a"), "", nil},
			{sc(5, SARInProcess, "a"), "", ErrSAR},
		}},
		{"too large single", 3, []step{{sc(1, SARNone, "abcd"), "", ErrTooLarge}}},
		{"too large begin", 3, []step{{sc(1, SARBegin, "abcd"), "", ErrTooLarge}}},
		{"too large accumulated", 3, []step{
			{sc(1, SARBegin, "ab"), "", nil},
			{sc(2, SARInProcess, "cd"), "", ErrTooLarge},
			{sc(3, SARComplete, "e"), "", ErrSAR},
		}},
		{"exactly at limit", 4, []step{
			{sc(1, SARBegin, "ab"), "", nil},
			{sc(2, SARComplete, "cd"), "abcd", nil},
		}},
		{"unknown state", 10, []step{{sc(1, 7, "a"), "", ErrInvalidRecordValue}}},
		{"nil record", 10, []step{{nil, "", ErrInvalidRecordValue}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			re, err := NewReassembler(tc.max)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				got, done, err := re.Add(s.rec)
				if s.err != nil {
					if !errors.Is(err, s.err) || !errors.Is(err, ErrInvalidRecordValue) {
						t.Fatalf("step %d: err = %v, want %v (7104)", i, err, s.err)
					}
					if re.InProgress() || re.Buffered() != 0 {
						t.Fatalf("step %d: partial message kept after an error", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if done != (s.want != "") || string(got) != s.want {
					t.Fatalf("step %d: got %q done %v, want %q", i, got, done, s.want)
				}
			}
		})
	}
}

func TestReassemblerResultNotReused(t *testing.T) {
	re, _ := NewReassembler(100)
	re.Add(sc(1, SARBegin, "ab"))
	first, _, _ := re.Add(sc(2, SARComplete, "cd"))
	re.Add(sc(3, SARBegin, "XY"))
	re.Add(sc(4, SARComplete, "ZW"))
	if string(first) != "abcd" {
		t.Fatalf("first message overwritten: %q", first)
	}
}

func TestReassemblerReset(t *testing.T) {
	re, _ := NewReassembler(100)
	re.Add(sc(1, SARBegin, "ab"))
	if !re.InProgress() || re.Buffered() != 2 {
		t.Fatalf("in progress %v buffered %d", re.InProgress(), re.Buffered())
	}
	re.Reset()
	if re.InProgress() || re.Buffered() != 0 {
		t.Fatal("Reset kept state")
	}
	// After a reset (e.g. a new session) sequence numbers start over.
	if _, _, err := re.Add(sc(1, SARBegin, "x")); err != nil {
		t.Fatal(err)
	}
	if got, done, err := re.Add(sc(2, SARComplete, "y")); err != nil || !done || string(got) != "xy" {
		t.Fatalf("%q %v %v", got, done, err)
	}
}

func TestSessionSegmentsEmpty(t *testing.T) {
	scs := SessionSegments(nil, 10)
	if len(scs) != 1 || len(scs[0].Payload) != 1 || len(scs[0].Payload[0]) != 0 || scs[0].PayloadSarState != SARNone {
		t.Fatalf("SessionSegments(nil) = %v", scs)
	}
	// The empty field is on the wire, so that a peer counting payload
	// fields sees exactly one.
	scs[0].SessionId, scs[0].SequenceId, scs[0].ExpectedId = 2, 1, 1
	b, err := Encode(NewSessionContext("1.3", "proto::a", "proto::b", scs[0]))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.GetSessionContext().GetPayload(); len(got) != 1 || len(got[0]) != 0 {
		t.Fatalf("decoded payload fields = %q, want one empty field", got)
	}
}

func TestNewReassemblerRejectsBadSize(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewReassembler(n); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("NewReassembler(%d) = %v", n, err)
		}
	}
}
