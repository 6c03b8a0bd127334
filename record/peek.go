package record

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// PeekIDs returns a record's to_id and from_id without decoding the rest:
// it walks the top-level fields of the wire form and skips every other
// field by its length. It is for the receive path, which needs to know
// whose record it holds (to queue it for that agent) long before it needs
// the record itself. As with [Decode], the last occurrence of a repeated
// field wins. It fails with an error matching [ErrCannotParse] when the
// top-level wire form is broken; a record PeekIDs accepts may still fail
// [Decode] (inside a nested field, or in its checks).
func PeekIDs(b []byte) (to, from string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", peekError(protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldToID || num == fieldFromID) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", "", peekError(protowire.ParseError(n))
			}
			if num == fieldToID {
				to = string(v)
			} else {
				from = string(v)
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", "", peekError(protowire.ParseError(n))
		}
		b = b[n:]
	}
	return to, from, nil
}

func peekError(err error) error {
	return &Error{Code: CodeCannotParse, Err: fmt.Errorf("reading record fields: %w", err)}
}
