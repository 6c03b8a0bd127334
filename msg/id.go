package msg

import (
	"crypto/rand"
	"encoding/base64"
)

// idBytes is how many random bytes a msg_id carries: 96 bits, so that an
// agent that sees any number of msg_ids (its own requests) learns nothing
// about the others, and cannot guess one the controller has outstanding
// with another agent. 96 bits encode in 16 characters, the length of the
// counter-based IDs they replace.
const idBytes = 12

// NewID returns a new msg_id: 96 bits from crypto/rand, base64url-encoded
// without padding (16 characters of A-Z a-z 0-9 - _). IDs are unique
// across processes with overwhelming probability, and unpredictable: a
// response can only name a request whose msg_id its sender has seen. It
// costs one small allocation and, on Linux 6.11 or later, no system call.
func NewID() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it crashes the program instead
	var buf [16]byte
	base64.RawURLEncoding.Encode(buf[:], b[:])
	return string(buf[:])
}
