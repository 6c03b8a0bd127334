package tlsrec

import "fmt"

// TLS record content types (RFC 5246 section 6.2.1).
const (
	TypeChangeCipherSpec = 20
	TypeAlert            = 21
	TypeHandshake        = 22
	TypeApplicationData  = 23
)

const (
	headerLen = 5
	maxPlain  = 1 << 14
	// A TLS 1.2 record's fragment is at most 2^14 + 2048 bytes once
	// protected (RFC 5246 section 6.2.3).
	maxFragment = maxPlain + 2048
)

// Record is one TLS record as it travels: Raw is the header and the
// fragment, Type the content type, Version the record-layer version.
type Record struct {
	Type    byte
	Version uint16
	Raw     []byte
}

// Fragment returns the record's body, after the 5-byte header.
func (r Record) Fragment() []byte { return r.Raw[headerLen:] }

// SplitRecords cuts b into whole TLS records and returns them with the
// bytes of a record not yet complete (rest, which shares b). It fails with
// [ErrBadRecord] on a content type TLS 1.2 does not define, a version
// other than 3.x, or a length over the protocol's limit: bytes that cannot
// become a record however many more arrive. The records share b.
func SplitRecords(b []byte) (recs []Record, rest []byte, err error) {
	for len(b) > 0 {
		if len(b) >= 1 && (b[0] < TypeChangeCipherSpec || b[0] > TypeApplicationData) {
			return recs, nil, fmt.Errorf("%w: content type %d", ErrBadRecord, b[0])
		}
		if len(b) >= 2 && b[1] != 3 {
			return recs, nil, fmt.Errorf("%w: version %d.x", ErrBadRecord, b[1])
		}
		if len(b) < headerLen {
			return recs, b, nil
		}
		n := int(b[3])<<8 | int(b[4])
		if n > maxFragment {
			return recs, nil, fmt.Errorf("%w: length %d over %d", ErrBadRecord, n, maxFragment)
		}
		if len(b) < headerLen+n {
			return recs, b, nil
		}
		recs = append(recs, Record{Type: b[0], Version: uint16(b[1])<<8 | uint16(b[2]), Raw: b[: headerLen+n : headerLen+n]})
		b = b[headerLen+n:]
	}
	return recs, nil, nil
}
