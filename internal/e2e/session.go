package e2e

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Defaults for the zero fields of a [Config].
const (
	DefaultMaxReassembly      = record.DefaultMaxSize // 16 MiB
	DefaultRetransmitKeep     = 64
	DefaultMaxOutOfOrder      = 64
	DefaultMaxRetransmitTries = 5
)

// exhaustionMargin is how close to the largest sequence_id a session may get
// before it must be replaced (R-E2E.8 and R-E2E.9).
const exhaustionMargin = 10000

// restartStep bounds how far above the previous ids a replacing session
// id is drawn; lineageWindow is how far below the current id a session id
// is taken for an older one of the same line (256 restarts at least). A
// peer's random id falls in that window once in 2^24.
const (
	restartStep   = 1 << 32
	lineageWindow = 1 << 40
)

// nudgeEvery: of the records of another session received while the peer
// has not joined ours, one in nudgeEvery is answered (see nudgeLocked).
const nudgeEvery = 16

// retiredKept is how many given-up session ids a Session remembers, so that
// late records of an old session are dropped instead of restarting it. It
// is looked through only for records of another session than the current.
const retiredKept = 64

// Config describes one end of a session context. LocalID and PeerID are
// required; every other zero field takes its default.
type Config struct {
	// LocalID and PeerID are the endpoint IDs of this end and of the peer:
	// the from_id and to_id of the records we write, and the only to_id and
	// from_id we accept.
	LocalID, PeerID string
	// Version is the USP version written in records; "" means
	// [record.DefaultVersion].
	Version string
	// MaxSegment is the largest payload, in bytes, put in one record; a
	// longer message is segmented. 0 never segments. Mind the record
	// header when deriving it from an MTP size limit.
	MaxSegment int
	// MaxReassembly is the largest message, in bytes, accepted from the
	// peer and sent by [Session.Wrap]; 0 means [DefaultMaxReassembly]. It
	// also bounds the bytes held in records that arrived early.
	MaxReassembly int
	// RetransmitKeep is how many sent records are kept, unacknowledged, for
	// the peer's retransmit requests; 0 means [DefaultRetransmitKeep]. The
	// records of the message being wrapped are always kept, so a message of
	// more segments than this still works on a clean network.
	RetransmitKeep int
	// MaxOutOfOrder is how far ahead of the next expected sequence_id a
	// record may be and still be held until the gap fills; 0 means
	// [DefaultMaxOutOfOrder]. Records further ahead are dropped and fetched
	// again later.
	MaxOutOfOrder int
	// MaxRetransmitTries is how many times one record is resent at the
	// peer's request before the session fails (the agent's
	// E2ESession.MaxRetransmitTries); 0 means [DefaultMaxRetransmitTries],
	// a negative value means no limit.
	MaxRetransmitTries int
}

func (c Config) check() (Config, error) {
	if c.LocalID == "" || c.PeerID == "" {
		return c, fmt.Errorf("%w: LocalID and PeerID are required", ErrInvalidConfig)
	}
	if c.Version == "" {
		c.Version = record.DefaultVersion
	} else if !record.ValidVersion(c.Version) {
		return c, fmt.Errorf("%w: Version %q is not Major.Minor", ErrInvalidConfig, c.Version)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxSegment", &c.MaxSegment, 0},
		{"MaxReassembly", &c.MaxReassembly, DefaultMaxReassembly},
		{"RetransmitKeep", &c.RetransmitKeep, DefaultRetransmitKeep},
		{"MaxOutOfOrder", &c.MaxOutOfOrder, DefaultMaxOutOfOrder},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("%w: %s %d is negative", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MaxRetransmitTries == 0 {
		c.MaxRetransmitTries = DefaultMaxRetransmitTries
	}
	return c, nil
}

// NewSessionID returns a random session id. It is above 1, as R-E2E.3 asks
// of the endpoint that originates a session.
func NewSessionID() uint64 {
	for {
		if id := rand.Uint64(); id > 1 {
			return id
		}
	}
}

// nextIDLocked returns the id of a session we open to replace one: a
// little above every id used so far. Above, so that a peer still waiting to
// hear from us in the old session (unconfirmed, see Receive) takes the new
// one for a restart and not for a session that lost a simultaneous opening;
// a little, so that a peer can tell an id just below its current one
// (within lineageWindow) for an older session whose records arrive late.
func (s *Session) nextIDLocked() uint64 {
	top := s.id
	for _, r := range s.retired {
		top = max(top, r)
	}
	if top == 0 || top > math.MaxUint64-(1<<33) {
		return NewSessionID()
	}
	return top + 1 + rand.Uint64N(restartStep)
}

// Session is one end of an end-to-end session context with one peer.
// It is safe for concurrent use.
type Session struct {
	cfg Config

	mu         sync.Mutex
	id         uint64 // 0 until the first Wrap or Receive
	originated bool   // we chose id rather than adopting the peer's
	confirmed  bool   // the peer has sent a record within id
	retired    [retiredKept]uint64
	retiredAt  int // next slot of retired to overwrite
	ignored    int // records of other sessions ignored since id began

	// Sending side.
	nextSeq  uint64        // sequence_id of the next record we write
	sent     []*sentRecord // kept records; sent[i] has sequence_id sentBase+i
	sentBase uint64
	acked    uint64 // highest expected_id received: the peer holds everything below

	// Receiving side.
	expected   uint64 // next sequence_id to process
	highest    uint64 // highest sequence_id seen in this session
	requested  uint64 // sequence_id last asked for with retransmit_id
	early      map[uint64]*usprecord.SessionContextRecord
	earlyBytes int
	reasm      *record.Reassembler
}

type sentRecord struct {
	rec   *usprecord.Record
	tries int // times resent at the peer's request
}

// New returns a Session for cfg. A non-zero sessionID starts a session of
// our own with that id; with 0, the session id is chosen by whichever comes
// first: the peer's first record (the session is adopted) or the first
// [Session.Wrap] (a random id from [NewSessionID]). An endpoint that mostly
// answers, like an agent, passes 0.
func New(cfg Config, sessionID uint64) (*Session, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	reasm, err := record.NewReassembler(cfg.MaxReassembly)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s := &Session{cfg: cfg, reasm: reasm, early: make(map[uint64]*usprecord.SessionContextRecord)}
	s.resetLocked(0, false)
	if sessionID != 0 {
		s.resetLocked(sessionID, true)
	}
	return s, nil
}

// ID returns the current session id, 0 before one is chosen.
func (s *Session) ID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Config returns the configuration with defaults filled in.
func (s *Session) Config() Config { return s.cfg }

// Stats is a snapshot of a session's counters, for monitoring and tests.
type Stats struct {
	SessionID      uint64
	Originated     bool   // we chose the session id
	Confirmed      bool   // the peer has sent a record within it
	NextSequence   uint64 // sequence_id of our next record
	Expected       uint64 // next sequence_id expected from the peer
	Unacknowledged int    // records kept for retransmission
	OutOfOrder     int    // records held until a gap fills
	Reassembling   int    // bytes of an unfinished segmented message
}

// Stats returns a snapshot of the session's state.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		SessionID:      s.id,
		Originated:     s.originated,
		Confirmed:      s.confirmed,
		NextSequence:   s.nextSeq,
		Expected:       s.expected,
		Unacknowledged: len(s.sent),
		OutOfOrder:     len(s.early),
		Reassembling:   s.reasm.Buffered(),
	}
}

// Wrap turns one serialized USP Msg into the records that carry it, split
// into segments of at most MaxSegment bytes. Each record gets the next
// sequence_id and the current expected_id, and is kept for retransmission
// until the peer acknowledges it. The records share payload's memory, so
// the caller must not modify payload afterwards; treat the records as
// read-only too, as they may be returned again by [Session.Receive] or
// [Session.Retry].
//
// An empty payload gives one record without payload, which opens a session
// or carries an acknowledgement. A payload longer than MaxReassembly is
// refused with an error wrapping [record.ErrTooLarge]: we would refuse such a
// message ourselves. When the session id is unset or our sequence_ids near
// exhaustion (R-E2E.9), Wrap first starts a new session.
func (s *Session) Wrap(payload []byte) ([]*usprecord.Record, error) {
	if len(payload) > s.cfg.MaxReassembly {
		return nil, fmt.Errorf("e2e: message of %d bytes, limit %d: %w", len(payload), s.cfg.MaxReassembly, record.ErrTooLarge)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id == 0 || s.nextSeq > math.MaxUint64-exhaustionMargin {
		s.resetLocked(s.nextIDLocked(), true)
	}
	return s.wrapLocked(payload), nil
}

func (s *Session) wrapLocked(payload []byte) []*usprecord.Record {
	var scs []*usprecord.SessionContextRecord
	if len(payload) == 0 {
		scs = []*usprecord.SessionContextRecord{{}}
	} else {
		scs = record.SessionSegments(payload, s.cfg.MaxSegment)
	}
	out := make([]*usprecord.Record, len(scs))
	for i, sc := range scs {
		out[i] = s.sendLocked(sc)
	}
	s.evictLocked(len(out))
	return out
}

// sendLocked numbers sc, wraps it in a record and keeps it.
func (s *Session) sendLocked(sc *usprecord.SessionContextRecord) *usprecord.Record {
	sc.SessionId = s.id
	sc.SequenceId = s.nextSeq
	sc.ExpectedId = s.expected
	s.nextSeq++
	r := record.NewSessionContext(s.cfg.Version, s.cfg.PeerID, s.cfg.LocalID, sc)
	if len(s.sent) == 0 {
		s.sentBase = sc.SequenceId
	}
	s.sent = append(s.sent, &sentRecord{rec: r})
	return r
}

// evictLocked forgets the oldest kept records beyond RetransmitKeep, but
// never the newest keepAtLeast ones (the message just wrapped).
func (s *Session) evictLocked(keepAtLeast int) {
	keep := max(s.cfg.RetransmitKeep, keepAtLeast)
	if n := len(s.sent) - keep; n > 0 {
		s.dropSentLocked(n)
	}
}

func (s *Session) dropSentLocked(n int) {
	clear(s.sent[:n]) // let the records be collected
	s.sent = s.sent[n:]
	s.sentBase += uint64(n)
}

func (s *Session) keptLocked(seq uint64) *sentRecord {
	if seq < s.sentBase || seq-s.sentBase >= uint64(len(s.sent)) {
		return nil
	}
	return s.sent[seq-s.sentBase]
}

// Receive processes one record from the peer and returns the messages it
// completes, in sequence order, and the records to send back at once:
// records the peer asked for with retransmit_id, and a record asking the
// peer, with retransmit_id, for the first sequence_id missing when a gap has
// opened.
//
// Records are handled as TR-369 R-E2E.20 describes: a duplicate or an old
// sequence_id is ignored; a record ahead of the next expected sequence_id is
// held until the gap fills (at most MaxOutOfOrder ahead, further ones are
// dropped and asked for later); records in order are reassembled into
// messages. A record of a session id we have not seen restarts the session
// with that id (R-E2E.6); late records of a session we left are ignored.
//
// Errors come in two kinds. [ErrNotSessionContext] and [ErrNotAddressed]
// mean the record was ignored and nothing changed. A [*ProtocolError] means
// the session failed (an invalid field, a retransmission that cannot be
// honoured, a message that cannot be reassembled): the session has already
// restarted with a new id, out holds the record that opens it, and payloads
// holds the messages completed before the failure. (A Session that has no
// session id yet, see [New], keeps waiting instead and out is empty.) The
// caller may also tell the peer with [Session.Disconnect].
//
// Receive may hold r's session context until the records before it
// arrive, and returned payloads may share memory with r: do not modify r
// afterwards. Returned records are shared with the session's retransmission
// buffer: read them, do not modify them.
func (s *Session) Receive(r *usprecord.Record) (payloads [][]byte, out []*usprecord.Record, err error) {
	sc := r.GetSessionContext()
	if sc == nil {
		return nil, nil, fmt.Errorf("%w: got %s", ErrNotSessionContext, record.Kind(r))
	}
	if r.GetToId() != s.cfg.LocalID || r.GetFromId() != s.cfg.PeerID {
		return nil, nil, fmt.Errorf("%w: from %q to %q", ErrNotAddressed, r.GetFromId(), r.GetToId())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := record.Validate(r); err != nil {
		return s.failLocked(nil, err)
	}
	if r.GetPayloadSecurity() != usprecord.Record_PLAINTEXT {
		// Only PLAINTEXT is implemented; a TLS12 payload cannot be read.
		return s.failLocked(nil, &record.Error{
			Code: record.CodeSecureSessionNotSupported,
			Msg:  fmt.Sprintf("payload_security %s is not supported", r.GetPayloadSecurity()),
		})
	}
	if id := sc.GetSessionId(); id != s.id {
		switch {
		case s.retiredLocked(id):
			// A late record of a session we left, or the peer has
			// not heard of our new one yet.
			return nil, s.nudgeLocked(), nil
		case s.originated && !s.confirmed && s.nextSeq > 1 && id < s.id:
			// Both ends opened a session at once. The larger id wins
			// on both sides: the peer adopts ours when it reads our
			// records, which nudgeLocked sends again. (Giving in
			// after a while would let both ends swap sessions.)
			return nil, s.nudgeLocked(), nil
		case id < s.id && s.id-id <= lineageWindow && !(s.originated && s.nextSeq == 1):
			// Just below ours: an older session of the same line
			// (see nextIDLocked) whose records were overtaken by
			// those of the session that replaced it. (Unless ours
			// is unused yet: then there is nothing to keep.)
			return nil, s.nudgeLocked(), nil
		}
		s.resetLocked(id, false)
	}
	s.confirmed = true

	seq := sc.GetSequenceId()
	if seq > math.MaxUint64-exhaustionMargin {
		// R-E2E.8: open a new session before the ids wrap around.
		s.resetLocked(s.nextIDLocked(), true)
		return nil, s.wrapLocked(nil), nil
	}
	if seq < s.expected || s.early[seq] != nil {
		return nil, nil, nil // duplicate (R-E2E.25)
	}
	s.highest = max(s.highest, seq)
	n := payloadLen(sc)
	if seq > s.expected && (seq-s.expected > uint64(s.cfg.MaxOutOfOrder) || s.earlyBytes+n > s.cfg.MaxReassembly) {
		// Too far ahead to hold: forget it, it is asked for again once
		// the gap before it fills.
		return nil, s.gapRequestLocked(nil, false), nil
	}
	// Retransmit requests and acknowledgements are honoured on arrival,
	// not when the record's turn comes: if both ends lost a record, each
	// end's request would otherwise wait behind its own gap forever.
	if out, err = s.honourLocked(sc, out); err != nil {
		return s.failLocked(nil, err)
	}
	if seq > s.expected {
		s.early[seq] = sc
		s.earlyBytes += n
		return nil, s.gapRequestLocked(out, false), nil
	}
	for {
		msg, done, err := s.reasm.Add(sc)
		s.expected++
		if err != nil {
			return s.failLocked(payloads, err)
		}
		if done {
			payloads = append(payloads, msg)
		}
		next := s.early[s.expected]
		if next == nil {
			break
		}
		delete(s.early, s.expected)
		s.earlyBytes -= payloadLen(next)
		sc = next
	}
	return payloads, s.gapRequestLocked(out, false), nil
}

// honourLocked acts on the retransmit_id and expected_id of a new record.
// The retransmit request is served before the acknowledgement is applied,
// so that a record asking again for one it also acknowledges still gets it.
func (s *Session) honourLocked(sc *usprecord.SessionContextRecord, out []*usprecord.Record) ([]*usprecord.Record, error) {
	if want := sc.GetRetransmitId(); want != 0 {
		if want >= s.nextSeq {
			return out, &record.Error{
				Code: record.CodeInvalidValue,
				Msg:  fmt.Sprintf("retransmit_id %d: we have sent only up to %d", want, s.nextSeq-1),
			}
		}
		switch sr := s.keptLocked(want); {
		case sr != nil:
			if s.cfg.MaxRetransmitTries > 0 && sr.tries >= s.cfg.MaxRetransmitTries {
				return out, &ProtocolError{
					Code: record.CodeSessionTerminated,
					Msg:  fmt.Sprintf("sequence_id %d asked for %d times", want, sr.tries+1),
					Err:  ErrRetransmitLimit,
				}
			}
			sr.tries++
			out = append(out, sr.rec)
		case want >= s.acked:
			return out, &ProtocolError{
				Code: record.CodeSessionTerminated,
				Msg:  fmt.Sprintf("sequence_id %d was dropped from the retransmission buffer", want),
				Err:  ErrRetransmitUnavailable,
			}
		default:
			// The peer has acknowledged it since: a stale request.
		}
	}
	ack := sc.GetExpectedId()
	if ack > s.nextSeq {
		return out, &record.Error{
			Code: record.CodeInvalidValue,
			Msg:  fmt.Sprintf("expected_id %d: we have sent only up to %d", ack, s.nextSeq-1),
		}
	}
	if ack > s.acked {
		s.acked = ack
		if len(s.sent) > 0 && ack > s.sentBase {
			s.dropSentLocked(int(min(ack-s.sentBase, uint64(len(s.sent)))))
		}
	}
	return out, nil
}

// gapRequestLocked appends a record asking for the first missing
// sequence_id when records beyond it have been seen; unless force, only
// once per missing sequence_id.
func (s *Session) gapRequestLocked(out []*usprecord.Record, force bool) []*usprecord.Record {
	if s.highest < s.expected || (!force && s.requested == s.expected) {
		return out
	}
	s.requested = s.expected
	r := s.sendLocked(&usprecord.SessionContextRecord{RetransmitId: s.expected})
	s.evictLocked(1)
	return append(out, r)
}

// nudgeLocked answers a record of another session while the peer has not
// yet joined the one we opened: our first kept record again, which opens it
// at the peer, on the first such record and every nudgeEvery-th after.
func (s *Session) nudgeLocked() []*usprecord.Record {
	if !s.originated || s.confirmed || len(s.sent) == 0 {
		return nil
	}
	s.ignored++
	if (s.ignored-1)%nudgeEvery != 0 {
		return nil
	}
	return []*usprecord.Record{s.sent[0].rec}
}

// failLocked turns err into a *ProtocolError and starts a new session, as
// R-E2E.21 requires; out is the record opening the new session. Before any
// session exists there is nothing to restart.
func (s *Session) failLocked(payloads [][]byte, err error) ([][]byte, []*usprecord.Record, error) {
	pe, ok := err.(*ProtocolError)
	if !ok {
		pe = &ProtocolError{Code: record.CodeInvalidValue, Err: err}
		var re *record.Error
		if errors.As(err, &re) {
			// Flatten: the record error's code and words are ours.
			pe.Code, pe.Msg, pe.Err = re.Code, re.Msg, re.Err
		}
	}
	pe.SessionID = s.id
	if s.id == 0 {
		// No session yet, none to replace: keep waiting for the peer's.
		return payloads, nil, pe
	}
	s.resetLocked(s.nextIDLocked(), true)
	return payloads, s.wrapLocked(nil), pe
}

// Restart gives up the current session and starts a new one with id
// newID (0 picks a random id above every id used so far). It returns the record without
// payload that opens the new session; sending it lets the peer switch at
// once, otherwise it switches on our next record. Records of the old
// session received later are ignored. Restart fails with
// [ErrInvalidSessionID] for the current id or one given up recently.
func (s *Session) Restart(newID uint64) (*usprecord.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if newID == 0 {
		newID = s.nextIDLocked()
	}
	if newID == s.id || s.retiredLocked(newID) {
		return nil, fmt.Errorf("%w: %d was already used", ErrInvalidSessionID, newID)
	}
	s.resetLocked(newID, true)
	return s.wrapLocked(nil)[0], nil
}

// Retry returns the records to send when an answer is overdue: every record
// the peer has not acknowledged yet, so that a lost last record is
// recovered (the peer ignores copies it already has), and, when a gap is
// open, a new request for the first missing sequence_id. TR-369 leaves
// timing to the implementation; call Retry from a timer of your choosing.
func (s *Session) Retry() []*usprecord.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*usprecord.Record, 0, len(s.sent)+1)
	for _, sr := range s.sent {
		out = append(out, sr.rec)
	}
	return s.gapRequestLocked(out, true)
}

// Disconnect returns a DisconnectRecord telling the peer why the session
// ended: the code of err when it is a [*ProtocolError] or a [*record.Error],
// otherwise 7105 (session context terminated), with err's text as reason.
func (s *Session) Disconnect(err error) *usprecord.Record {
	code := uint32(record.CodeSessionTerminated)
	reason := record.CodeText(code)
	if err != nil {
		reason = err.Error()
		var pe *ProtocolError
		var re *record.Error
		switch {
		case errors.As(err, &pe):
			code = pe.Code
		case errors.As(err, &re):
			code = re.Code
		}
	}
	return record.NewDisconnect(s.cfg.Version, s.cfg.PeerID, s.cfg.LocalID, reason, code)
}

// resetLocked switches to session id (0: none yet) with fresh sequence
// state, remembering the previous id as given up.
func (s *Session) resetLocked(id uint64, originated bool) {
	if s.id != 0 {
		s.retired[s.retiredAt] = s.id
		s.retiredAt = (s.retiredAt + 1) % retiredKept
	}
	s.id = id
	s.originated = originated
	s.confirmed = false
	s.ignored = 0
	s.nextSeq = 1
	clear(s.sent)
	s.sent = s.sent[:0]
	s.sentBase = 1
	s.acked = 1
	s.expected = 1
	s.highest = 0
	s.requested = 0
	clear(s.early)
	s.earlyBytes = 0
	s.reasm.Reset()
}

func (s *Session) retiredLocked(id uint64) bool {
	for _, r := range s.retired {
		if r == id && r != 0 {
			return true
		}
	}
	return false
}

func payloadLen(sc *usprecord.SessionContextRecord) int {
	n := 0
	for _, p := range sc.GetPayload() {
		n += len(p)
	}
	return n
}
