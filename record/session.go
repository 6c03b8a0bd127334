package record

import (
	"fmt"

	"github.com/gousp/gousp/proto/usprecord"
)

// SAR states of a SessionContextRecord, shorter names for the generated
// enum values.
const (
	SARNone      = usprecord.SessionContextRecord_NONE
	SARBegin     = usprecord.SessionContextRecord_BEGIN
	SARInProcess = usprecord.SessionContextRecord_INPROCESS
	SARComplete  = usprecord.SessionContextRecord_COMPLETE
)

// Segment splits payload into consecutive pieces of at most max bytes, in
// order; their concatenation is payload. The pieces share payload's memory.
// With max <= 0, or a payload that fits, it returns payload as the only
// piece (an empty payload gives one empty piece, so that a session record
// can still be sent).
func Segment(payload []byte, max int) [][]byte {
	if max <= 0 || len(payload) <= max {
		return [][]byte{payload}
	}
	n := (len(payload) + max - 1) / max
	out := make([][]byte, 0, n)
	for len(payload) > max {
		// Cap each piece so that appending to it cannot overwrite the next.
		out = append(out, payload[:max:max])
		payload = payload[max:]
	}
	return append(out, payload)
}

// SARStateFor returns the payload_sar_state of piece i (0-based) out of n
// pieces of one message: NONE when n is 1, then BEGIN, INPROCESS...,
// COMPLETE. It returns NONE for i outside [0, n).
func SARStateFor(i, n int) usprecord.SessionContextRecord_PayloadSARState {
	switch {
	case n <= 1 || i < 0 || i >= n:
		return SARNone
	case i == 0:
		return SARBegin
	case i == n-1:
		return SARComplete
	}
	return SARInProcess
}

// SessionSegments splits a PLAINTEXT payload with [Segment] and returns one
// SessionContextRecord per piece with payload_sar_state and
// payloadrec_sar_state set (equal, as TR-369 prescribes for PLAINTEXT). The
// session state machine fills session_id, sequence_id, expected_id and
// retransmit_id before wrapping each with [NewSessionContext].
//
// An empty message gives one record with one empty payload field: TR-369
// lets a record without a message open a session or carry an
// acknowledgement, and one empty field is what every reading of it accepts
// (OB-USP-A refuses a session_context record without exactly one payload
// field).
func SessionSegments(payload []byte, max int) []*usprecord.SessionContextRecord {
	pieces := Segment(payload, max)
	out := make([]*usprecord.SessionContextRecord, len(pieces))
	for i, p := range pieces {
		s := SARStateFor(i, len(pieces))
		if p == nil {
			p = []byte{}
		}
		out[i] = &usprecord.SessionContextRecord{PayloadSarState: s, PayloadrecSarState: s, Payload: [][]byte{p}}
	}
	return out
}

// A Reassembler rebuilds a message from the payloads of consecutive
// SessionContextRecords. The session state machine feeds it records in
// sequence order, after dropping duplicates and buffering early arrivals;
// the Reassembler checks that the order of SAR states and sequence_ids is
// one TR-369 allows and that the message stays under a size limit.
//
// The payload fields of one record are concatenated in order: the PLAINTEXT
// message, or for TLS12 the stream of TLS records to hand to the E2E TLS
// layer.
//
// A Reassembler is not safe for concurrent use.
type Reassembler struct {
	max     int
	active  bool
	lastSeq uint64
	buf     []byte
}

// NewReassembler returns a Reassembler that rejects messages longer than
// maxSize bytes. maxSize must be positive; use [DefaultMaxSize] if unsure.
func NewReassembler(maxSize int) (*Reassembler, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("%w: NewReassembler(%d): size must be positive", ErrInvalidOption, maxSize)
	}
	return &Reassembler{max: maxSize}, nil
}

// InProgress reports whether a segmented message has begun and not yet
// completed.
func (r *Reassembler) InProgress() bool { return r.active }

// Buffered returns how many bytes of an unfinished message are held.
func (r *Reassembler) Buffered() int { return len(r.buf) }

// Reset drops any partial message, as after a session restart.
func (r *Reassembler) Reset() {
	r.active = false
	r.lastSeq = 0
	r.buf = r.buf[:0]
}

// Add takes the next SessionContextRecord. It returns the whole message and
// true when sc completes one (a NONE record with a payload, or the COMPLETE
// record of a segmented message); nil and false while a message is still
// being assembled or when sc carries no payload.
//
// On an out-of-order SAR state, a gap in sequence_id, or a message larger
// than the limit, it returns a 7104 [*Error] (wrapping [ErrSAR] or
// [ErrTooLarge]) and drops the partial message, which is TR-369's failure
// handling for reassembly.
//
// A returned message made of a single piece shares memory with sc; one built
// from several pieces is a new slice that the Reassembler does not reuse.
func (r *Reassembler) Add(sc *usprecord.SessionContextRecord) ([]byte, bool, error) {
	if sc == nil {
		return nil, false, invalid("nil session_context")
	}
	state := sc.GetPayloadSarState()
	seq := sc.GetSequenceId()
	if r.active && seq != r.lastSeq+1 {
		want := r.lastSeq + 1
		r.Reset()
		return nil, false, sarError("sequence_id %d while reassembling, want %d", seq, want)
	}
	switch state {
	case SARNone:
		if r.active {
			if payloadLen(sc) == 0 {
				// An acknowledgement-only record between segments
				// carries nothing to reassemble.
				r.lastSeq = seq
				return nil, false, nil
			}
			r.Reset()
			return nil, false, sarError("payload_sar_state NONE inside a segmented message")
		}
		n := payloadLen(sc)
		if n == 0 {
			return nil, false, nil
		}
		if n > r.max {
			return nil, false, tooLarge(n, r.max)
		}
		if len(sc.Payload) == 1 {
			return sc.Payload[0], true, nil
		}
		return joinPayload(nil, sc), true, nil
	case SARBegin:
		if r.active {
			r.Reset()
			return nil, false, sarError("payload_sar_state BEGIN while a segmented message is unfinished")
		}
		if n := payloadLen(sc); n > r.max {
			return nil, false, tooLarge(n, r.max)
		}
		r.active = true
		r.lastSeq = seq
		r.buf = joinPayload(r.buf[:0], sc)
		return nil, false, nil
	case SARInProcess, SARComplete:
		if !r.active {
			return nil, false, sarError("payload_sar_state %s without BEGIN", state)
		}
		if n := len(r.buf) + payloadLen(sc); n > r.max {
			r.Reset()
			return nil, false, tooLarge(n, r.max)
		}
		r.lastSeq = seq
		r.buf = joinPayload(r.buf, sc)
		if state == SARInProcess {
			return nil, false, nil
		}
		msg := r.buf
		// Hand the buffer over: the caller may keep the message.
		r.buf = nil
		r.Reset()
		return msg, true, nil
	}
	r.Reset()
	return nil, false, invalid("unknown payload_sar_state %d", int32(state))
}

func payloadLen(sc *usprecord.SessionContextRecord) int {
	n := 0
	for _, p := range sc.Payload {
		n += len(p)
	}
	return n
}

func joinPayload(dst []byte, sc *usprecord.SessionContextRecord) []byte {
	for _, p := range sc.Payload {
		dst = append(dst, p...)
	}
	return dst
}

func sarError(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRecordValue, Msg: fmt.Sprintf(format, args...), Err: ErrSAR}
}

func tooLarge(n, max int) *Error {
	return &Error{
		Code: CodeInvalidRecordValue,
		Msg:  fmt.Sprintf("reassembled message is %d bytes, limit %d", n, max),
		Err:  ErrTooLarge,
	}
}
