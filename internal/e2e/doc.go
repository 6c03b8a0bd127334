// Package e2e implements the end-to-end session context of USP (TR-369
// "End to End Message Exchange"): the state machine that carries serialized
// USP Msg payloads between two endpoints in SessionContext records, with
// sequence numbers, acknowledgements, retransmission and segmentation.
//
// It moves no bytes itself. A [Session] turns outgoing messages into records
// with [Session.Wrap] and incoming records into messages with
// [Session.Receive]; the caller encodes, sends and receives the records over
// whatever MTP it uses. The controller (package usp) and the test agent
// (usp/usptest) both build on it.
//
// # Sessions
//
// A session context is identified by its session_id and the peer's endpoint
// ID; there is at most one per pair of endpoints (R-E2E.5), so one [Session]
// serves one peer. Either end may open it: [New] with a non-zero id opens one
// of ours, [New] with 0 waits and adopts the peer's id if the peer speaks
// first. [NewSessionID] draws a random id above 1 (R-E2E.3).
//
// A record carrying a session_id we have not seen restarts the session with
// that id (R-E2E.6): sequence numbers start again at 1 in both directions
// and records kept or held for the old session are dropped. The ids of the
// last few sessions we left are remembered, so that a late record of an
// old session is ignored rather than taken for yet another restart. When
// both ends open a session at the same moment, the larger id wins on both
// sides. The ids of the sessions a [Session] opens to replace another grow
// in steps below 2^32, so that a restart is never mistaken for a losing
// opening, and so that a session id just below the current one (by less
// than 2^40) is known for an older session whose records were overtaken,
// not taken for yet another restart. While the peer keeps writing in another session than the one we
// opened, Receive answers now and then with our first record again, so
// that a lost opening record does not leave the two ends apart. [Session.Restart] starts a new session on our side, for instance
// when the peer sent a DisconnectRecord with code 7105.
//
// # Sequencing and acknowledgement
//
// Every record we write takes the next sequence_id, from 1 (R-E2E.14,
// R-E2E.15), and carries as expected_id the next sequence_id we want from
// the peer (R-E2E.17). Records are kept for retransmission until the peer's
// expected_id passes them (R-E2E.16), up to Config.RetransmitKeep records.
//
// Received records are processed in sequence order (R-E2E.20): an old or
// duplicate sequence_id is ignored (R-E2E.25), a record ahead of a gap is
// held (up to Config.MaxOutOfOrder ahead), and once the gap fills the held
// records are processed in turn. A record without payload is valid: it
// opens a session, acknowledges, or asks for a retransmission.
//
// # Retransmission
//
// When a record arrives ahead of a gap, Receive returns a new record whose
// retransmit_id asks the peer for the first missing sequence_id, once per
// gap. When the peer asks us, Receive returns the kept record unchanged. A
// request for a record the peer has acknowledged since is ignored; one for a
// record no longer kept, or asked for more than Config.MaxRetransmitTries
// times, fails the session. The specification leaves timeouts to the
// implementation, and so does this package: when an answer is overdue, the
// caller sends what [Session.Retry] returns (unacknowledged records and a
// fresh request for a gap).
//
// # Segmentation and reassembly
//
// Wrap splits a message longer than Config.MaxSegment into consecutive
// records with payload_sar_state and payloadrec_sar_state BEGIN,
// INPROCESS..., COMPLETE (equal, as the specification prescribes for
// PLAINTEXT), using [record.SessionSegments]. Receive feeds records in
// sequence order to a [record.Reassembler], which checks the order of the
// SAR states and bounds a message to Config.MaxReassembly bytes.
//
// # Failures
//
// When a record cannot be processed (a field out of range, a SAR state out
// of order, an oversized message, a retransmission we cannot honour, a
// payload_security other than PLAINTEXT), TR-369 R-E2E.21 requires a new
// session context. Receive then returns a [*ProtocolError] carrying the
// record error code (7102, 7104 or 7105), has already switched to a new
// session id, and returns the record that opens it. [Session.Disconnect]
// builds the DisconnectRecord for callers that tell the peer why.
// Records that are not session_context records, or not between this
// session's two endpoints (R-E2E.1), are refused with [ErrNotSessionContext]
// or [ErrNotAddressed] and change nothing.
//
// # Interpretations
//
// Where TR-369 is silent or ambiguous, this package chooses:
//
//   - retransmit_id and expected_id are honoured when a record arrives, not
//     when its turn comes, so that losses in both directions at once cannot
//     deadlock two ends whose requests each wait behind a gap;
//   - a retransmit request is served before the same record's expected_id
//     releases kept records;
//   - records too far ahead to hold are dropped rather than failing the
//     session; the sender still has them and they are asked for later;
//   - the retransmitted record is the one first sent, unchanged, stale
//     expected_id included;
//   - the sequence_id exhaustion margin (R-E2E.8, R-E2E.9) triggers a new
//     session of ours, opened by a record without payload;
//   - R-E2E.6 (a different session_id restarts the session) is kept except
//     for ids we gave up, for the smaller id of a simultaneous opening, and
//     for ids just below ours (older sessions of the same line, see
//     Sessions): TR-369 does not consider records overtaking each other
//     across restarts, and following them would make the two ends part;
//   - when a peer keeps writing in another session than the one we opened,
//     our opening record is sent again (one record in 16), since the peer
//     has evidently not received it;
//   - a failure before any session exists opens none;
//   - mac_signature and sender_cert are not checked: integrity is left to
//     the MTP (R-E2E.28), and TLS12 payloads are refused with 7102.
package e2e
