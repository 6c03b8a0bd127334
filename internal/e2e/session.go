package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
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
	DefaultMaxRetries         = 4
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
	// MaxRetries is how many times in a row [Session.Retry] resends
	// without the peer making progress (acknowledging a record, or sending
	// the next one we miss) before it gives up; 0 means
	// [DefaultMaxRetries], a negative value means no limit.
	MaxRetries int
	// PayloadSecurity is the payload_security of every record of the
	// session, both ways; records with another are refused with 7102.
	// With TLS12 the payloads are TLS records (package tlsrec) that the
	// caller makes and reads: the session carries them as it carries
	// messages. The zero value is PLAINTEXT.
	PayloadSecurity usprecord.Record_PayloadSecurity
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
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
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
		top = max(top, r.id)
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
	retired    [retiredKept]retiredSession
	retiredAt  int  // next slot of retired to overwrite
	ignored    int  // records of other sessions ignored since id began
	rebirth    bool // the peer said it may have lost its state (ExpectPeerRestart)
	first      digest

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

	// Retry's bookkeeping: rounds without progress since the mark.
	retries    int
	markID     uint64
	markAcked  uint64
	markExpect uint64
	gaveUp     bool // resends stopped until the peer makes progress
}

// digest identifies the first record the peer sent in a session (its
// sequence_id 1), to tell a duplicate of it from the first record of a
// new session that reuses the id; see rebornLocked.
type digest struct {
	sum uint64
	set bool
}

func digestOf(sc *usprecord.SessionContextRecord) digest {
	h := fnv.New64a()
	var b [16]byte
	binary.BigEndian.PutUint32(b[:], uint32(sc.GetPayloadSarState()))
	binary.BigEndian.PutUint32(b[4:], uint32(sc.GetPayloadrecSarState()))
	binary.BigEndian.PutUint64(b[8:], sc.GetRetransmitId())
	h.Write(b[:])
	for _, p := range sc.GetPayload() {
		binary.BigEndian.PutUint64(b[:8], uint64(len(p)))
		h.Write(b[:8])
		h.Write(p)
	}
	return digest{sum: h.Sum64(), set: true}
}

// retiredSession is a session id given up, with the digest of the peer's
// first record in it.
type retiredSession struct {
	id    uint64
	first digest
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
func (s *Session) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Stats is a snapshot of a session's counters, for monitoring and tests.
type Stats struct {
	SessionID      uint64
	Originated     bool   // we chose the session id
	Confirmed      bool   // the peer has sent a record within it
	NextSequence   uint64 // sequence_id of our next record
	Expected       uint64 // next sequence_id expected from the peer
	Acknowledged   uint64 // highest expected_id from the peer: it holds our records below
	Retries        int    // Retry rounds in a row without progress
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
		Acknowledged:   s.acked,
		Retries:        s.retries,
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
	// An empty payload gives one record with one empty payload field.
	scs := record.SessionSegments(payload, s.cfg.MaxSegment)
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
	r.PayloadSecurity = s.cfg.PayloadSecurity
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
	if ps := r.GetPayloadSecurity(); ps != s.cfg.PayloadSecurity {
		// A session carries one kind of payload (TP-469 3.13): TLS12
		// bytes where we expect messages, or messages in clear inside a
		// TLS session, fail the record.
		return s.failLocked(nil, &record.Error{
			Code: record.CodeSecureSessionNotSupported,
			Msg:  fmt.Sprintf("payload_security %s in a %s session", ps, s.cfg.PayloadSecurity),
		})
	}
	if id := sc.GetSessionId(); s.rebornLocked(sc) {
		// The peer restarted and reuses a session id (see
		// ExpectPeerRestart): a new session with that id.
		s.resetLocked(id, false)
		s.rebirth = false
	} else if id != s.id {
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
		// The peer's restart, if it announced one, is this new
		// session: a copy of its first record is a duplicate now, not
		// yet another restart that would drop what we sent in it.
		s.rebirth = false
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
	// Retransmit requests and acknowledgements are honoured on arrival,
	// not when the record's turn comes, even for a record too far ahead
	// to hold: if both ends lost a record, each end's request would
	// otherwise wait behind its own gap forever.
	if out, err = s.honourLocked(sc, out); err != nil {
		return s.failLocked(nil, err)
	}
	n := payloadLen(sc)
	if seq > s.expected && (seq-s.expected > uint64(s.cfg.MaxOutOfOrder) || s.earlyBytes+n > s.cfg.MaxReassembly) {
		// Too far ahead to hold: forget it, it is asked for again once
		// the gap before it fills.
		return nil, s.gapRequestLocked(out, false), nil
	}
	if seq > s.expected {
		s.early[seq] = sc
		s.earlyBytes += n
		return nil, s.gapRequestLocked(out, false), nil
	}
	for {
		if sc.GetSequenceId() == 1 {
			s.first = digestOf(sc)
		} else {
			// The peer carries on with the session: it has not
			// restarted since it last told us it might.
			s.rebirth = false
		}
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
				Code: record.CodeInvalidRecordValue,
				Msg:  fmt.Sprintf("retransmit_id %d: we have sent only up to %d", want, s.nextSeq-1),
			}
		}
		switch sr := s.keptLocked(want); {
		case sr != nil:
			if s.cfg.MaxRetransmitTries >= 0 && sr.tries >= s.cfg.MaxRetransmitTries {
				return out, &ProtocolError{
					Code: record.CodeSessionContextTerminated,
					Msg:  fmt.Sprintf("sequence_id %d asked for %d times", want, sr.tries+1),
					Err:  ErrRetransmitLimit,
				}
			}
			sr.tries++
			out = append(out, sr.rec)
		case want >= s.acked:
			return out, &ProtocolError{
				Code: record.CodeSessionContextTerminated,
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
			Code: record.CodeInvalidRecordValue,
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
	r := s.sendLocked(&usprecord.SessionContextRecord{RetransmitId: s.expected, Payload: [][]byte{{}}})
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
		pe = &ProtocolError{Code: record.CodeInvalidRecordValue, Err: err}
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

// Retry returns the records to send when an answer is overdue: the
// unacknowledged records that carry a message, so that a lost last record
// is recovered (the peer ignores copies it already has), our opening
// record while the peer has not written in our session, and, when a gap
// is open, a new request for the first missing sequence_id. Records
// without payload that only acknowledged or asked are not sent again.
// TR-369 leaves timing to the implementation; call Retry from a timer of
// your choosing, with a backoff.
//
// Retry gives up after Config.MaxRetries rounds in a row in which the peer
// made no progress (acknowledged nothing new, sent nothing we missed).
// With a gap open or a message half reassembled, the session has failed to
// buffer what it received: the messages complete among the records held
// beyond the gap are returned in sequence order (a peer that never
// retransmits, as OB-USP-A, has sent them in good faith; only what was
// lost is lost), and, as R-E2E.21 requires, a new session starts: Retry
// returns a [*ProtocolError] wrapping [ErrNoProgress] and the record
// opening the new session. With only unacknowledged records, nothing is
// wrong with the session itself, the peer is just silent: Retry returns an
// error wrapping [ErrNoProgress] and no records, and resends nothing more
// until the peer makes progress. Either way the caller should fail
// whatever still waits on the session. An idle session, with nothing
// unacknowledged and no gap, returns nothing and counts nothing.
func (s *Session) Retry() (payloads [][]byte, out []*usprecord.Record, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != s.markID || s.acked != s.markAcked || s.expected != s.markExpect {
		s.markID, s.markAcked, s.markExpect = s.id, s.acked, s.expected
		s.retries, s.gaveUp = 0, false
	}
	gap := s.highest >= s.expected || s.reasm.InProgress()
	for _, sr := range s.sent {
		sc := sr.rec.GetSessionContext()
		opener := sc.GetSequenceId() == 1 && !s.confirmed
		if payloadLen(sc) > 0 || opener {
			out = append(out, sr.rec)
		}
	}
	if len(out) == 0 && !gap {
		s.retries = 0
		return nil, nil, nil
	}
	if s.gaveUp {
		return nil, nil, fmt.Errorf("%w: session %d, resends stopped", ErrNoProgress, s.id)
	}
	if s.cfg.MaxRetries >= 0 && s.retries >= s.cfg.MaxRetries {
		if gap {
			missing := s.expected
			payloads = s.skipGapLocked()
			return s.failLocked(payloads, &ProtocolError{
				Code: record.CodeSessionContextTerminated,
				Msg:  fmt.Sprintf("sequence_id %d still missing after %d requests", missing, s.retries),
				Err:  ErrNoProgress,
			})
		}
		s.gaveUp = true
		return nil, nil, fmt.Errorf("%w: session %d, %d records unacknowledged after %d resends", ErrNoProgress, s.id, len(out), s.retries)
	}
	s.retries++
	if gap {
		out = s.gapRequestLocked(out, true)
	}
	return nil, out, nil
}

// skipGapLocked gives up the records missing and returns the messages
// complete among those held beyond them, in sequence order. The session
// is restarted next, which drops everything else.
func (s *Session) skipGapLocked() [][]byte {
	seqs := make([]uint64, 0, len(s.early))
	for seq := range s.early {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	s.reasm.Reset() // a message begun before the gap cannot be finished
	var payloads [][]byte
	for _, seq := range seqs {
		sc := s.early[seq]
		msg, done, err := s.reasm.Add(sc)
		if err != nil {
			// A piece of a message begun in the gap: skip it, and let
			// the record start a message of its own if it can.
			s.reasm.Reset()
			msg, done, err = s.reasm.Add(sc)
			if err != nil {
				s.reasm.Reset()
				continue
			}
		}
		if done {
			payloads = append(payloads, msg)
		}
	}
	return payloads
}

// SetMaxRetransmitTries changes the retransmission limit of a running
// session, as an agent does when a controller sets its
// E2ESession.MaxRetransmitTries: n resends of one record at most, 0 none
// (a retransmit request then fails the session), a negative n no limit.
// Unlike Config.MaxRetransmitTries, 0 is a limit here, since the data
// model's 0 means none. Tries already counted count against the new limit.
func (s *Session) SetMaxRetransmitTries(n int) {
	s.mu.Lock()
	s.cfg.MaxRetransmitTries = n
	s.mu.Unlock()
}

// End gives up the current session without opening another, as when the
// peer ended it with a DisconnectRecord: records of it received later are
// ignored, the next [Session.Wrap] opens a new session whose first record
// has sequence_id 1, and a session the peer opens first is adopted.
func (s *Session) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != 0 {
		s.resetLocked(0, false)
	}
}

// ExpectPeerRestart tells the session that the peer may have lost its
// session state: it sent a DisconnectRecord, or announced itself again
// with a connect record as after a reboot. Until the peer carries on with
// the current session, its next record with sequence_id 1 and expected_id
// 1 opens a new session even when it reuses the current session id or one
// given up (OB-USP-A counts session ids from 2 again after each boot).
// See "Peers that reuse session ids" in the package documentation for why
// this is safe against duplicates.
func (s *Session) ExpectPeerRestart() {
	s.mu.Lock()
	s.rebirth = true
	s.mu.Unlock()
}

// rebornLocked reports whether sc is the first record of a new session
// that the peer opened with the id of the current session or of one given
// up. A record with sequence_id 1 and expected_id 1 whose sequence_id we
// have processed already in that session is normally a duplicate; it is
// not one when its content differs from the record we processed (an
// honest peer never sends two different records under one sequence_id), or
// when it carries no message at all and the peer said it might restart
// (replaying an empty record processes nothing twice). Ids given up are
// reused only after the peer said it might restart.
func (s *Session) rebornLocked(sc *usprecord.SessionContextRecord) bool {
	if sc.GetSequenceId() != 1 || sc.GetExpectedId() != 1 {
		return false
	}
	id := sc.GetSessionId()
	var first digest
	switch {
	case id == s.id:
		if s.expected <= 1 {
			return false // the first record: the ordinary path
		}
		first = s.first
	case s.rebirth:
		found := false
		for _, r := range s.retired {
			if r.id == id {
				first, found = r.first, true
				break
			}
		}
		if !found {
			return false // a new id: the ordinary path
		}
	default:
		return false
	}
	if payloadLen(sc) == 0 {
		return s.rebirth
	}
	return !first.set || digestOf(sc) != first
}

// Disconnect returns a DisconnectRecord telling the peer why the session
// ended: the code of err when it is a [*ProtocolError] or a [*record.Error],
// otherwise 7105 (session context terminated), with err's text as reason.
func (s *Session) Disconnect(err error) *usprecord.Record {
	code := uint32(record.CodeSessionContextTerminated)
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
		s.retired[s.retiredAt] = retiredSession{id: s.id, first: s.first}
		s.retiredAt = (s.retiredAt + 1) % retiredKept
	}
	s.id = id
	s.first = digest{}
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
		if r.id == id && r.id != 0 {
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
