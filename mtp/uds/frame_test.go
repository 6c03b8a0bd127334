package uds

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gousp/gousp/mtp"
)

func frame(t testing.TB, tlvs ...TLV) []byte {
	t.Helper()
	b, err := AppendFrame(nil, tlvs...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadFrame(t *testing.T) {
	hs := TLV{Type: TypeHandshake, Value: []byte("os::00256D-0123456789")}
	rec := TLV{Type: TypeRecord, Value: []byte{0x0a, 0x03, '1', '.', '4'}}
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []TLV
		wantErr error
	}{
		{"handshake", frame(t, hs), 100, []TLV{hs}, nil},
		{"record and unknown", frame(t, rec, TLV{Type: 9, Value: nil}), 100, []TLV{rec, {Type: 9, Value: []byte{}}}, nil},
		{"spec example bytes", []byte("_USP\x00\x00\x00\x1a\x01\x00\x00\x00\x15os::00256D-0123456789"), 100, []TLV{hs}, nil},
		{"body at limit", frame(t, rec), TLVHeaderLen + 5, []TLV{rec}, nil},
		{"body over limit", frame(t, rec), TLVHeaderLen + 4, nil, mtp.ErrTooLarge},
		{"huge length", []byte("_USP\xff\xff\xff\xff"), 1 << 20, nil, mtp.ErrTooLarge},
		{"bad sync", []byte("_USQ\x00\x00\x00\x05\x03\x00\x00\x00\x00"), 100, nil, ErrFrame},
		{"no TLV", []byte("_USP\x00\x00\x00\x00"), 100, nil, ErrFrame},
		{"short TLV header", []byte("_USP\x00\x00\x00\x03\x03\x00\x00"), 100, nil, ErrFrame},
		{"TLV overruns frame", []byte("_USP\x00\x00\x00\x06\x03\x00\x00\x00\x02x"), 100, nil, ErrFrame},
		{"trailing bytes after TLV", []byte("_USP\x00\x00\x00\x07\x03\x00\x00\x00\x01xy"), 100, nil, ErrFrame},
		{"empty stream", nil, 100, nil, io.EOF},
		{"cut in header", []byte("_US"), 100, nil, io.ErrUnexpectedEOF},
		{"cut in body", []byte("_USP\x00\x00\x00\x06\x03\x00"), 100, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d TLVs, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Type != tt.want[i].Type || !bytes.Equal(got[i].Value, tt.want[i].Value) {
					t.Errorf("TLV %d = %v %q, want %v %q", i, got[i].Type, got[i].Value, tt.want[i].Type, tt.want[i].Value)
				}
			}
		})
	}
}

func TestReadFrameStream(t *testing.T) {
	var stream []byte
	for i := range 3 {
		stream = append(stream, frame(t, TLV{Type: TypeRecord, Value: []byte(strconv.Itoa(i))})...)
	}
	r := bytes.NewReader(stream)
	for i := range 3 {
		tlvs, err := ReadFrame(r, 100)
		if err != nil || string(tlvs[0].Value) != strconv.Itoa(i) {
			t.Fatalf("frame %d: %v %v", i, tlvs, err)
		}
	}
	if _, err := ReadFrame(r, 100); err != io.EOF {
		t.Errorf("after last frame: %v, want io.EOF", err)
	}
}

func TestRecordHeader(t *testing.T) {
	rec := []byte("some record bytes")
	h := recordHeader(len(rec))
	got := append(h[:], rec...)
	if want := frame(t, TLV{Type: TypeRecord, Value: rec}); !bytes.Equal(got, want) {
		t.Errorf("recordHeader+record = %x, want %x", got, want)
	}
}

// FuzzReadFrame checks that any input either fails cleanly or parses into
// TLVs that re-encode to the same bytes.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame(f, TLV{Type: TypeHandshake, Value: []byte("proto::a")}))
	f.Add(frame(f, TLV{Type: TypeRecord, Value: []byte{1, 2, 3}}, TLV{Type: TypeError, Value: []byte("x")}))
	f.Add([]byte("_USP\x00\x00\x00\x00"))
	f.Add([]byte("_USP\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tlvs, err := ReadFrame(bytes.NewReader(in), 1<<16)
		if err != nil {
			if len(tlvs) != 0 {
				t.Fatal("TLVs returned with an error")
			}
			return
		}
		out, err := AppendFrame(nil, tlvs...)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in[:len(out)]) {
			t.Fatalf("re-encoded %x, read from %x", out, in)
		}
	})
}

// TestFuzzCorpusPresent keeps the committed seed corpus from going missing.
func TestFuzzCorpusPresent(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzReadFrame", "*"))
	if len(files) == 0 {
		t.Fatal("no committed corpus for FuzzReadFrame")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.HasPrefix(b, []byte("go test fuzz v1\n")) {
			t.Errorf("%s: not a fuzz corpus file (%v)", f, err)
		}
	}
}
