package usptest

import (
	"fmt"
	"sync"

	"github.com/gousp/gousp/internal/e2e"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// refSession is the reference agent's end of a session context with one
// controller: a behavioural model of OB-USP-A's experimental E2E session
// (see SessionConfig.Reference), written from its documented behaviour.
// It keeps only counters: no retransmission buffer, no reordering.
type refSession struct {
	a      *Agent
	peer   string
	allow  bool
	forbid bool
	max    int

	mu       sync.Mutex
	id       uint64 // current session id; the next one we open is id+1
	up       bool   // a session is up (or being opened by us)
	lastSent uint64 // sequence_id of our last record
	lastRecv uint64 // sequence_id of the controller's last record
	reasm    *record.Reassembler
}

func newRefSession(a *Agent, peer string) *refSession {
	reasm, _ := record.NewReassembler(a.cfg.maxRecordSize)
	return &refSession{
		a: a, peer: peer, allow: a.cfg.session.Allow, forbid: a.cfg.session.Forbid, max: a.cfg.session.MaxSegment,
		id: 1, reasm: reasm,
	}
}

func (s *refSession) clearLocked() {
	s.up = false
	s.lastSent, s.lastRecv = 0, 0
	s.reasm.Reset()
}

// failLocked answers a record it cannot take: a DisconnectRecord 7105 and,
// in Require mode, the record opening its next session.
func (s *refSession) failLocked(why string) ([][]byte, []*usprecord.Record, error) {
	s.clearLocked()
	out := []*usprecord.Record{record.NewDisconnect(s.a.cfg.version, s.peer, s.a.id, why, record.CodeSessionContextTerminated)}
	if !s.allow {
		out = append(out, s.wrapLocked(nil)...)
	}
	return nil, out, &e2e.ProtocolError{Code: record.CodeSessionContextTerminated, Msg: why, SessionID: s.id}
}

func (s *refSession) receive(rec *usprecord.Record) ([][]byte, []*usprecord.Record, error) {
	sc := rec.GetSessionContext()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.forbid:
		return nil, []*usprecord.Record{record.NewDisconnect(s.a.cfg.version, s.peer, s.a.id,
			"E2E Session Context forbidden. (Session Context not allowed)", record.CodeSessionContextTerminated)}, nil
	case len(sc.GetPayload()) != 1:
		return s.failLocked(fmt.Sprintf("record without exactly one payload (n: %d)", len(sc.GetPayload())))
	case sc.GetSessionId() < 2 || sc.GetSequenceId() < 1 || sc.GetExpectedId() < 1:
		return s.failLocked("record with wrong identifiers")
	case sc.GetSessionId() != s.id && sc.GetSequenceId() != 1:
		return s.failLocked(fmt.Sprintf("new session_id %d with sequence_id %d", sc.GetSessionId(), sc.GetSequenceId()))
	case sc.GetPayloadSarState() != sc.GetPayloadrecSarState():
		return s.failLocked("unsupported SAR states")
	}
	if sc.GetSessionId() != s.id {
		s.clearLocked()
		s.id = sc.GetSessionId()
	}
	s.lastRecv = sc.GetSequenceId()
	s.up = true
	if len(sc.GetPayload()[0]) == 0 {
		return nil, nil, nil
	}
	msg, done, err := s.reasm.Add(sc)
	if err != nil {
		return s.failLocked(err.Error())
	}
	if !done {
		return nil, nil, nil
	}
	return [][]byte{msg}, nil, nil
}

func (s *refSession) wrap(payload []byte) ([]*usprecord.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wrapLocked(payload), nil
}

func (s *refSession) wrapLocked(payload []byte) []*usprecord.Record {
	if !s.up {
		s.id++
		s.lastSent, s.lastRecv = 0, 0
		s.up = true
	}
	scs := record.SessionSegments(payload, s.max)
	out := make([]*usprecord.Record, len(scs))
	for i, sc := range scs {
		s.lastSent++
		sc.SessionId, sc.SequenceId, sc.ExpectedId = s.id, s.lastSent, s.lastRecv+1
		out[i] = record.NewSessionContext(s.a.cfg.version, s.peer, s.a.id, sc)
	}
	return out
}

func (s *refSession) retry() []*usprecord.Record { return nil }

func (s *refSession) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.forbid && (!s.allow || s.up)
}

func (s *refSession) noSession() (bool, []*usprecord.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.forbid:
		return true, nil
	case !s.allow:
		_, out, _ := s.failLocked("SessionContext record is mandatory")
		return false, out
	case s.up:
		_, out, _ := s.failLocked("the E2E session is still up")
		return false, out
	}
	return true, nil
}
