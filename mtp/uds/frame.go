package uds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/gousp/gousp/mtp"
)

// TLVType is the one-byte type of a [TLV].
type TLVType uint8

// The TLV types TR-369 defines for the UDS binding. Receivers ignore others.
const (
	TypeHandshake TLVType = 1 // value: the sender's endpoint ID, UTF-8
	TypeError     TLVType = 2 // value: why the sender gives up, UTF-8
	TypeRecord    TLVType = 3 // value: a protobuf-encoded USP Record
)

func (t TLVType) String() string {
	switch t {
	case TypeHandshake:
		return "handshake"
	case TypeError:
		return "error"
	case TypeRecord:
		return "record"
	}
	return fmt.Sprintf("TLVType(%d)", uint8(t))
}

// TLV is one type-length-value field of a frame.
type TLV struct {
	Type  TLVType
	Value []byte
}

// Frame layout sizes.
const (
	// Sync opens every frame: "_USP" in ASCII.
	Sync = 0x5f555350
	// HeaderLen is the size of the frame header: Sync, then the big-endian
	// length of the rest of the frame.
	HeaderLen = 8
	// TLVHeaderLen is the size of a TLV's type byte and big-endian length.
	TLVHeaderLen = 5
)

// ErrFrame reports bytes that do not form a frame. The stream cannot be
// resynchronised after it, so the connection must end.
var ErrFrame = errors.New("uds: malformed frame")

// ReadFrame reads one frame from r and returns its TLVs, whose values share
// one fresh buffer. A frame whose body (everything after the header) is
// longer than maxBody fails with an error matching [mtp.ErrTooLarge]
// without reading the body. A stream that ends cleanly before a frame
// returns io.EOF; one that ends inside a frame returns io.ErrUnexpectedEOF.
// The body's buffer grows as its bytes arrive: the length a peer announces
// costs memory only once the peer has sent that much.
func ReadFrame(r io.Reader, maxBody int) ([]TLV, error) {
	return readFrame(r, maxBody, nil)
}

// firstChunk is the buffer a frame body starts with; it doubles as the
// body arrives, up to the announced length.
const firstChunk = 64 << 10

// readFrame is ReadFrame; began, if not nil, is called once the header
// has arrived, before the body is read (the session starts the frame's
// deadline there).
func readFrame(r io.Reader, maxBody int, began func()) ([]TLV, error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if s := binary.BigEndian.Uint32(hdr[:4]); s != Sync {
		return nil, fmt.Errorf("%w: sync bytes %#08x, want %#08x", ErrFrame, s, Sync)
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if uint64(n) > uint64(max(maxBody, 0)) {
		return nil, fmt.Errorf("uds: %d-byte frame, limit %d: %w", n, maxBody, mtp.ErrTooLarge)
	}
	if began != nil {
		began()
	}
	size := int(n)
	body := make([]byte, 0, min(size, firstChunk))
	for len(body) < size {
		if len(body) == cap(body) {
			body = slices.Grow(body, min(size-len(body), cap(body)))
		}
		k, err := io.ReadFull(r, body[len(body):min(cap(body), size)])
		body = body[:len(body)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return ParseBody(body)
}

// ParseBody splits a frame body into its TLVs; the values alias body.
// TR-369 requires at least one TLV, and every TLV must fit in the body.
func ParseBody(body []byte) ([]TLV, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: no TLV", ErrFrame)
	}
	var tlvs []TLV
	for len(body) > 0 {
		if len(body) < TLVHeaderLen {
			return nil, fmt.Errorf("%w: %d bytes left, too few for a TLV header", ErrFrame, len(body))
		}
		t, n := TLVType(body[0]), binary.BigEndian.Uint32(body[1:TLVHeaderLen])
		body = body[TLVHeaderLen:]
		if uint64(n) > uint64(len(body)) {
			return nil, fmt.Errorf("%w: %v TLV of %d bytes, only %d left", ErrFrame, t, n, len(body))
		}
		tlvs = append(tlvs, TLV{Type: t, Value: body[:n:n]})
		body = body[n:]
	}
	return tlvs, nil
}

// AppendFrame appends a frame holding tlvs to dst. It fails with
// [mtp.ErrTooLarge] if the frame would not fit the 32-bit length field.
func AppendFrame(dst []byte, tlvs ...TLV) ([]byte, error) {
	size := 0
	for _, t := range tlvs {
		size += TLVHeaderLen + len(t.Value)
		if size > math.MaxUint32 || size < 0 {
			return dst, fmt.Errorf("uds: frame over 4 GiB: %w", mtp.ErrTooLarge)
		}
	}
	dst = binary.BigEndian.AppendUint32(dst, Sync)
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	for _, t := range tlvs {
		dst = append(dst, byte(t.Type))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(t.Value)))
		dst = append(dst, t.Value...)
	}
	return dst, nil
}

// recordHeader returns the frame and TLV headers that precede a record of
// n bytes, so the record itself can be written without copying.
func recordHeader(n int) [HeaderLen + TLVHeaderLen]byte {
	var h [HeaderLen + TLVHeaderLen]byte
	binary.BigEndian.PutUint32(h[0:], Sync)
	binary.BigEndian.PutUint32(h[4:], uint32(TLVHeaderLen+n))
	h[8] = byte(TypeRecord)
	binary.BigEndian.PutUint32(h[9:], uint32(n))
	return h
}
