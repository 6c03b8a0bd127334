package msg

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"strings"
	"sync/atomic"
)

// The prefix has 64 random bits, so two processes (or two restarts of one)
// practically never share it; the counter makes IDs within a process
// unique without locking.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it crashes the program instead
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// NewID returns a msg_id unique across processes: a random per-process
// prefix, "-", and a per-process counter in base 36 ("k5d3...q-1a"). It
// costs one small allocation.
func NewID() string {
	n := idCounter.Add(1)
	var buf [40]byte
	b := append(buf[:0], idPrefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 36)
	return string(b)
}
