package e2e_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

var update = flag.Bool("update", false, "rewrite the seed files of testdata/fuzz")

// Fuzz input layout: one flags byte, then records, each as a 2-byte
// big-endian length and that many bytes of wire form.
const (
	fuzzFixAddress = 1 << iota // overwrite to_id and from_id so records reach the state machine
	fuzzDefaults               // default limits instead of tiny ones
	fuzzAnswer                 // Wrap a message after every record, so retransmit_id has targets
)

func fuzzInput(flags byte, recs ...*usprecord.Record) []byte {
	b := []byte{flags}
	for _, r := range recs {
		w, err := proto.Marshal(r)
		if err != nil {
			panic(err) // seeds are built by hand below
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(w)))
		b = append(b, w...)
	}
	return b
}

// fuzzSeeds are the committed corpus: realistic exchanges and the broken
// records the state machine has to survive.
func fuzzSeeds() map[string][]byte {
	cc, _ := cfgs(func(c *e2e.Config) { c.MaxSegment = 8 })
	ctrl, _ := e2e.New(cc, 4242)
	var traffic []*usprecord.Record
	for _, m := range []string{"", "short", "a message in several segments", "x"} {
		recs, _ := ctrl.Wrap([]byte(m))
		traffic = append(traffic, recs...)
	}
	reversed := make([]*usprecord.Record, len(traffic))
	for i, r := range traffic {
		reversed[len(traffic)-1-i] = r
	}
	withDup := append(append([]*usprecord.Record{}, traffic[:3]...), traffic[1], traffic[5], traffic[3], traffic[4])
	sar := func(r *usprecord.Record, s usprecord.SessionContextRecord_PayloadSARState) *usprecord.Record {
		sc(r).PayloadSarState, sc(r).PayloadrecSarState = s, s
		return r
	}
	tls := mk(ctrlID, 4242, 1, 1, 0, "x")
	tls.PayloadSecurity = usprecord.Record_TLS12
	return map[string][]byte{
		"exchange":        fuzzInput(fuzzFixAddress|fuzzAnswer, traffic...),
		"exchange-raw":    fuzzInput(0, traffic...),
		"reversed":        fuzzInput(fuzzFixAddress, reversed...),
		"duplicates":      fuzzInput(fuzzFixAddress|fuzzAnswer|fuzzDefaults, withDup...),
		"retransmit":      fuzzInput(fuzzFixAddress|fuzzAnswer, mk(ctrlID, 9, 1, 1, 0, "a"), mk(ctrlID, 9, 2, 2, 1, ""), mk(ctrlID, 9, 3, 3, 1, ""), mk(ctrlID, 9, 4, 3, 2, ""), mk(ctrlID, 9, 5, 3, 2, ""), mk(ctrlID, 9, 6, 3, 2, "")),
		"restart":         fuzzInput(fuzzFixAddress|fuzzAnswer, mk(ctrlID, 9, 1, 1, 0, "a"), mk(ctrlID, 10, 2, 1, 0, "b"), mk(ctrlID, 10, 1, 1, 0, "c"), mk(ctrlID, 9, 2, 2, 0, "late")),
		"bad-ids":         fuzzInput(fuzzFixAddress, mk(ctrlID, 0, 1, 1, 0, "a"), mk(ctrlID, 5, 0, 1, 0, "a"), mk(ctrlID, 5, 1, 0, 0, "a"), mk(ctrlID, 5, 1, 7, 0, "a"), mk(ctrlID, 5, 1, 1, 3, "a")),
		"sar-misuse":      fuzzInput(fuzzFixAddress, sar(mk(ctrlID, 5, 1, 1, 0, "a"), record.SARInProcess), sar(mk(ctrlID, 6, 1, 1, 0, "a"), record.SARBegin), sar(mk(ctrlID, 6, 2, 1, 0, "b"), record.SARBegin), sar(mk(ctrlID, 6, 3, 1, 0, "c"), 9)),
		"oversized":       fuzzInput(fuzzFixAddress, sar(mk(ctrlID, 5, 1, 1, 0, strings.Repeat("z", 40)), record.SARBegin), sar(mk(ctrlID, 5, 2, 1, 0, strings.Repeat("z", 40)), record.SARComplete)),
		"window":          fuzzInput(fuzzFixAddress, mk(ctrlID, 5, 3, 1, 0, "c"), mk(ctrlID, 5, 9, 1, 0, "i"), mk(ctrlID, 5, math.MaxUint64-1, 1, 0, "end"), mk(ctrlID, 5, 2, 1, 0, "b")),
		"tls-and-others":  fuzzInput(fuzzFixAddress, tls, record.NewNoSessionContext("1.3", agentID, ctrlID, []byte("x")), record.NewDisconnect("1.3", agentID, ctrlID, "bye", 7105)),
		"misaddressed":    fuzzInput(0, mk(agentID, 5, 1, 1, 0, "wrong direction")),
		"truncated-input": fuzzInput(fuzzFixAddress, traffic[0])[:5],
	}
}

// FuzzReceive feeds sequences of arbitrary records to a Session. Whatever
// they hold, Receive must not panic, every record it asks us to send must
// be valid, and a failure must leave a fresh session behind.
func FuzzReceive(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		flags, data := data[0], data[1:]
		_, ac := cfgs(nil)
		if flags&fuzzDefaults == 0 {
			ac.MaxSegment, ac.MaxReassembly, ac.RetransmitKeep, ac.MaxOutOfOrder, ac.MaxRetransmitTries = 8, 64, 4, 4, 2
		}
		s, err := e2e.New(ac, 0)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			r, err := record.Decode(data[:n], record.WithoutValidation())
			data = data[n:]
			if err != nil {
				continue
			}
			if flags&fuzzFixAddress != 0 {
				r.ToId, r.FromId = agentID, ctrlID
			}
			before := s.ID()
			payloads, out, err := s.Receive(r)
			var pe *e2e.ProtocolError
			switch {
			case errors.As(err, &pe):
				// The failed session is the current one or the one
				// this record just opened.
				if id := sc(r).GetSessionId(); pe.Code < 7100 || pe.Code > 7106 || (pe.SessionID != before && pe.SessionID != id) {
					t.Fatalf("ProtocolError %+v, session was %d, record's %d", pe, before, id)
				}
				if pe.SessionID == 0 {
					if s.ID() != 0 || len(out) != 0 {
						t.Fatalf("a failure without a session opened one: %d, %d out", s.ID(), len(out))
					}
				} else if st := s.Stats(); st.SessionID == pe.SessionID || st.NextSequence != 2 || len(out) != 1 {
					t.Fatalf("after %v: %+v, %d out", err, st, len(out))
				}
			case err != nil:
				if !errors.Is(err, e2e.ErrNotSessionContext) && !errors.Is(err, e2e.ErrNotAddressed) {
					t.Fatalf("unexpected error %v", err)
				}
				if len(payloads) != 0 || len(out) != 0 {
					t.Fatal("an ignored record produced output")
				}
			}
			for _, p := range payloads {
				if len(p) == 0 || len(p) > ac.MaxReassembly && flags&fuzzDefaults == 0 {
					t.Fatalf("payload of %d bytes", len(p))
				}
			}
			mustEncode(t, s, "Receive", out)
			if flags&fuzzAnswer != 0 {
				recs, err := s.Wrap([]byte("answer"))
				if err != nil {
					t.Fatal(err)
				}
				mustEncode(t, s, "Wrap", recs)
			}
		}
		_, again, _ := s.Retry()
		mustEncode(t, s, "Retry", again)
	})
}

func mustEncode(t *testing.T, s *e2e.Session, what string, recs []*usprecord.Record) {
	t.Helper()
	id := s.ID()
	for _, r := range recs {
		if _, err := record.Encode(r); err != nil {
			t.Fatalf("%s returned a record that does not encode: %v", what, err)
		}
		if r.ToId != ctrlID || r.FromId != agentID {
			t.Fatalf("%s returned a record from %q to %q", what, r.FromId, r.ToId)
		}
		if sc(r).SessionId != id {
			t.Fatalf("%s returned a record of session %d, current %d", what, sc(r).SessionId, id)
		}
	}
}

// TestFuzzCorpus checks that the committed corpus holds the seeds of
// fuzzSeeds; go test -run TestFuzzCorpus -update rewrites them.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReceive")
	for name, seed := range fuzzSeeds() {
		path := filepath.Join(dir, "seed-"+name)
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (run with -update)", path)
		}
	}
}
