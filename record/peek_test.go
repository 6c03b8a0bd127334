package record

import (
	"errors"
	"testing"
)

func TestPeekIDs(t *testing.T) {
	for _, tc := range roundTripCases() {
		b, err := Encode(tc.rec)
		if err != nil {
			t.Fatal(err)
		}
		to, from, err := PeekIDs(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if to != tc.rec.GetToId() || from != tc.rec.GetFromId() {
			t.Errorf("%s: PeekIDs = %q, %q; want %q, %q", tc.name, to, from, tc.rec.GetToId(), tc.rec.GetFromId())
		}
	}
	// The last occurrence wins, as in Decode; other wire types under the
	// same numbers are unknown fields, not IDs.
	b := []byte{0x12, 0x01, 'a', 0x1a, 0x01, 'b', 0x12, 0x01, 'c', 0x10, 0x05}
	if to, from, err := PeekIDs(b); err != nil || to != "c" || from != "b" {
		t.Errorf("PeekIDs = %q, %q, %v; want c, b", to, from, err)
	}
	for _, bad := range [][]byte{{0x12}, {0x12, 0x05, 'a'}, {0x1a, 0x80}, {0xff}} {
		if _, _, err := PeekIDs(bad); !errors.Is(err, ErrCannotParse) {
			t.Errorf("PeekIDs(%x) error = %v, want ErrCannotParse", bad, err)
		}
	}
}

// FuzzPeekIDs checks that PeekIDs agrees with Decode on every record
// Decode accepts, and never panics on anything else.
func FuzzPeekIDs(f *testing.F) {
	for _, tc := range roundTripCases() {
		b, err := Encode(tc.rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		to, from, perr := PeekIDs(b)
		if perr != nil && !errors.Is(perr, ErrCannotParse) {
			t.Fatalf("PeekIDs error %v does not match ErrCannotParse", perr)
		}
		if len(b) > DefaultMaxSize {
			return
		}
		r, err := Decode(b)
		if err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("Decode accepts what PeekIDs refuses: %v", perr)
		}
		if to != r.GetToId() || from != r.GetFromId() {
			t.Fatalf("PeekIDs = %q, %q; Decode says %q, %q", to, from, r.GetToId(), r.GetFromId())
		}
	})
}
