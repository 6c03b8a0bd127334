package record

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/proto"
)

// The committed corpus under testdata/fuzz/FuzzDecode holds the 100
// OB-USP-A captures; the seeds below add the record types agents never sent.
func FuzzDecode(f *testing.F) {
	for _, tc := range roundTripCases() {
		b, err := Encode(tc.rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x03, '1', '.', '3', 0x72, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > DefaultMaxSize {
			t.Skip("larger than the size limit")
		}
		r, err := Decode(b)
		var plain usprecord.Record
		parseErr := proto.Unmarshal(b, &plain)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Decode error %v is not *Error", err)
			}
			switch re.Code {
			case CodeRecordNotParsed:
				if parseErr == nil {
					t.Fatalf("7100 for bytes protobuf-go parses: %v", err)
				}
				if r != nil {
					t.Fatal("record returned with 7100")
				}
			case CodeInvalidRecordValue:
				if parseErr != nil || r == nil {
					t.Fatalf("7104 but parse error %v / record %v", parseErr, r)
				}
				if Validate(r) == nil {
					t.Fatal("7104 from Decode but Validate accepts the record")
				}
			default:
				t.Fatalf("unexpected code %d", re.Code)
			}
			return
		}
		if parseErr != nil {
			t.Fatalf("Decode accepted bytes protobuf-go rejects: %v", parseErr)
		}
		if !proto.Equal(r, &plain) {
			t.Fatal("Decode and proto.Unmarshal disagree")
		}
		if Kind(r) == TypeNone {
			t.Fatal("valid record without a type")
		}
		out, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode of a decoded record: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("Decode of re-encoded record: %v", err)
		}
		if !proto.Equal(r, again) {
			t.Fatal("re-encoding changed the record")
		}
		// The generated fast path writes what protobuf-go writes.
		if pm, err := proto.Marshal(r); err != nil || !bytes.Equal(out, pm) {
			t.Fatalf("Encode %x, proto.Marshal %x (%v)", out, pm, err)
		}
		// A canonical encoding is stable.
		out2, _ := Encode(again)
		if !bytes.Equal(out, out2) {
			t.Fatal("encoding not stable")
		}
	})
}

// The committed corpus under testdata/fuzz/FuzzParseEndpointID holds the
// endpoint IDs of the captures and of TR-369's examples.
func FuzzParseEndpointID(f *testing.F) {
	for _, s := range []string{
		"proto::obuspa-test-agent", "oui:00256D:my-unique-bbf-id-42", "urn:bbf:usp:id:self::x",
		"ops::00256D-STB-0123456789", "uuid::f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "fqdn::a.b", "proto::a%2F",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseEndpointID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidEndpointID) {
				t.Fatalf("error %v does not wrap ErrInvalidEndpointID", err)
			}
			if !id.IsZero() {
				t.Fatal("ID returned with an error")
			}
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("parsed ID does not validate: %v", err)
		}
		if len(id.Instance) == 0 || len(id.Instance) > MaxInstanceLen {
			t.Fatalf("instance of %d characters accepted", len(id.Instance))
		}
		if !strings.HasSuffix(s, id.String()) {
			t.Fatalf("String() = %q is not the tail of %q", id.String(), s)
		}
		for _, form := range []string{id.String(), id.URN()} {
			again, err := ParseEndpointID(form)
			if err != nil || again != id || !again.Equal(id) {
				t.Fatalf("%q re-parses as %#v, %v", form, again, err)
			}
		}
	})
}

func FuzzNegotiateVersion(f *testing.F) {
	f.Add("1.0,1.1,1.2,1.3")
	f.Add("1.4, 1.3,garbage")
	f.Fuzz(func(t *testing.T, s string) {
		v := NegotiateVersion(s)
		if v == "" {
			return
		}
		if !IsSupportedVersion(v) {
			t.Fatalf("negotiated unsupported %q", v)
		}
		for e := range strings.SplitSeq(s, ",") {
			e = strings.TrimSpace(e)
			if IsSupportedVersion(e) && CompareVersions(e, v) > 0 {
				t.Fatalf("%q offered but %q chosen", e, v)
			}
		}
	})
}

// FuzzReassembler feeds arbitrary SAR state sequences: it must never panic,
// never exceed its limit, and rebuild what Segment split.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte("hello, segmented world"), uint8(3), []byte{1, 2, 2, 3, 0})
	f.Fuzz(func(t *testing.T, msg []byte, max uint8, states []byte) {
		const limit = 64
		re, _ := NewReassembler(limit)
		for i, s := range states {
			got, _, _ := re.Add(sc(uint64(i+1), usprecord.SessionContextRecord_PayloadSARState(s%5), string(msg)))
			if len(got) > limit || re.Buffered() > limit {
				t.Fatalf("limit %d exceeded: %d/%d", limit, len(got), re.Buffered())
			}
		}
		re.Reset()
		var got []byte
		done := false
		for i, s := range numbered(t, SessionSegments(msg, int(max)), 1) {
			p, d, err := re.Add(s)
			if errors.Is(err, ErrTooLarge) && len(msg) > limit {
				return
			}
			if err != nil {
				t.Fatalf("segment %d: %v", i, err)
			}
			got, done = p, d
		}
		if len(msg) > 0 && (!done || !bytes.Equal(got, msg)) {
			t.Fatalf("reassembled %q (done %v), want %q", got, done, msg)
		}
	})
}
