package e2e

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usperr"
)

// Causes found in the Err chain of a [*ProtocolError], and errors that
// [Session.Receive] returns on their own for records it ignores.
var (
	// ErrNotSessionContext: the record is not a session_context record;
	// it belongs to another layer (NoSessionContext, connect, disconnect).
	ErrNotSessionContext = errors.New("e2e: not a session_context record")
	// ErrNotAddressed: the record's to_id or from_id are not the two
	// endpoints of this session. TR-369 R-E2E.1 says to ignore it.
	ErrNotAddressed = errors.New("e2e: record not addressed to this session")
	// ErrRetransmitUnavailable: the peer asked for a record that is no
	// longer kept (evicted after RetransmitKeep newer ones) or was never
	// sent.
	ErrRetransmitUnavailable = errors.New("e2e: requested record is not available")
	// ErrRetransmitLimit: the peer asked for the same record more than
	// MaxRetransmitTries times.
	ErrRetransmitLimit = errors.New("e2e: record retransmitted too many times")
	// ErrNoProgress: [Session.Retry] resent Config.MaxRetries times in a
	// row and the peer made no progress: it acknowledged nothing new and
	// sent none of the records we miss.
	ErrNoProgress = errors.New("e2e: peer made no progress")
	// ErrInvalidConfig: a [Config] field is out of range.
	ErrInvalidConfig = errors.New("e2e: invalid configuration")
	// ErrInvalidSessionID: a session id given to [Session.Restart] cannot be
	// used (it is the current one or one given up recently).
	ErrInvalidSessionID = errors.New("e2e: invalid session id")
)

// ProtocolError is a failure of the session context itself: a record the
// session cannot process, a retransmission it cannot honour, a message it
// cannot reassemble. TR-369 (R-E2E.21) answers every such failure with a new
// session context, so when [Session.Receive] returns a ProtocolError the
// session has already moved to a new session id. Code is the record error
// code (7100-7106) to put in a DisconnectRecord if the caller tells the peer;
// see [Session.Disconnect].
//
// A ProtocolError matches a [*record.Error] (and any other coded error of
// the module) with the same code under [errors.Is], so errors.Is(err,
// record.ErrInvalidRecordValue) holds for every 7104 failure; Err holds the
// cause ([record.ErrTooLarge], [ErrRetransmitLimit], ...).
type ProtocolError struct {
	Code      uint32 // record error code, 7100-7106
	Msg       string // what went wrong, for humans
	Err       error  // underlying cause, may be nil
	SessionID uint64 // the session that failed
}

func (e *ProtocolError) Error() string {
	var b strings.Builder
	b.WriteString("e2e: session ")
	fmt.Fprintf(&b, "%d failed: ", e.SessionID)
	if text := record.CodeText(e.Code); text != "" {
		fmt.Fprintf(&b, "%s (%d)", text, e.Code)
	} else {
		fmt.Fprintf(&b, "error %d", e.Code)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": " + strings.TrimPrefix(e.Err.Error(), "e2e: "))
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *ProtocolError) Unwrap() error { return e.Err }

// Is reports whether target carries the same code: another *ProtocolError,
// a [*record.Error], msg's record sentinels, or any other
// [usperr.Coder].
func (e *ProtocolError) Is(target error) bool {
	return e != nil && usperr.Matches(usperr.Code(e.Code), target)
}

// USPCode returns e.Code as the module's code type (0 for a nil e).
func (e *ProtocolError) USPCode() usperr.Code {
	if e == nil {
		return 0
	}
	return usperr.Code(e.Code)
}
