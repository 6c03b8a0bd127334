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
// # State machine
//
// A Session is in one of these states; "peer" is the other endpoint.
//
//   - None: no session id yet ([New] with 0) or the session was given up
//     with [Session.End]. Wrap opens a session of ours (Opening); a record
//     of the peer with a session id not given up opens the peer's (Up).
//   - Opening: we chose the id (Originated) and the peer has not written
//     in it yet (not Confirmed). Our first record has sequence_id 1; a
//     record without a message opens the session too. Retry sends that
//     first record again while the peer stays silent; records of the peer
//     in another session are answered with it now and then (see Sessions).
//   - Up: both ends write in the session (Confirmed). Records are
//     numbered, acknowledged, held until gaps fill, reassembled.
//
// Transitions out of Opening and Up:
//
//   - a record with a session id we have not used: R-E2E.6, the peer's
//     new session, Up (with the exceptions under Sessions);
//   - a record that reuses the current or a given-up id with sequence_id
//     1, after the peer restarted (see Peers that reuse session ids): Up
//     in the peer's new session;
//   - a record that cannot be processed, or a gap Retry gave up on
//     (R-E2E.21): a new session of ours, Opening, with the opening record
//     returned to send;
//   - [Session.Restart]: a new session of ours, Opening, with its opening
//     record returned (send it: the next record of ours follows it);
//   - [Session.End], as when the peer sent a DisconnectRecord: None,
//     nothing to send; the next record of ours has sequence_id 1.
//
// Every record without a message (an opening record, an acknowledgement,
// a retransmit request) carries one empty payload field: TR-369 allows a
// record without payload to open a session, R-E2E.2 asks for a payload or
// a retransmit_id, and OB-USP-A refuses any session_context record without
// exactly one payload field. One empty field satisfies every reading.
//
// # Peers that reuse session ids
//
// OB-USP-A counts its session ids from 2 after every boot and starts
// again at sequence_id 1, so the first record of its new session looks
// like a duplicate of the first record of the old one. A record with the
// current session id, sequence_id 1 and expected_id 1, when we have
// processed sequence_id 1 already, is taken as the first record of a new
// session with the same id when
//
//   - its content differs from the first record we processed in the
//     session (an honest peer never sends two different records under one
//     sequence_id; a replayed or duplicated copy is byte for byte the
//     same and stays a duplicate), or
//   - it carries no message and the peer told us it may have restarted:
//     [Session.ExpectPeerRestart], which the controller calls when the
//     agent sends a DisconnectRecord or a connect record (what an agent
//     sends after a reboot). Processing a copy of a record without a
//     message does nothing twice, so at worst a duplicate resets the
//     sequence state, once per announcement.
//
// A given-up id (after End) is reused this way only after
// ExpectPeerRestart, so a late record of an ended session is not taken for
// a new one. The announcement lapses when the peer carries on with the
// current session (a record with sequence_id above 1 processed in order),
// once it is used, or when the peer opens a session with a new id (its
// restart is that session: a copy of its first record arriving later is
// a duplicate, not one more restart that would drop what we sent in it). Records of the new session that overtook its first
// one are taken for old ones and dropped; they are asked for again like
// any lost record.
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
// times, fails the session; [Session.SetMaxRetransmitTries] changes that
// limit while the session runs (an agent's E2ESession.MaxRetransmitTries,
// which TP-469 3.14 sets mid-session). The specification leaves timeouts to the
// implementation, and so does this package: when an answer is overdue, the
// caller sends what [Session.Retry] returns (the unacknowledged records
// that carry a message, the opening record while the peer has not joined,
// and a fresh request for a gap), from a timer with a backoff.
//
// Retry is bounded: after Config.MaxRetries rounds in a row without
// progress it gives up. A gap that cannot be closed (the peer does not
// retransmit) fails the session as R-E2E.21 requires: the messages
// complete beyond the gap are still returned, then a new session opens.
// Records that stay unacknowledged (the peer sends no acknowledgement-only
// records, or is gone) stop being resent until the peer makes progress;
// the session itself is not failed. An idle session, with nothing
// unacknowledged and no gap, gives Retry nothing to send.
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
//     when its turn comes, even for a record too far ahead to hold, so that
//     losses in both directions at once cannot deadlock two ends whose
//     requests each wait behind a gap;
//   - a record without a message carries one empty payload field;
//   - a peer's session with a reused id is recognised as described under
//     Peers that reuse session ids;
//   - Retry gives up after a bounded number of rounds, and a gap given up
//     still delivers the complete messages held beyond it;
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
//     the MTP (R-E2E.28). A session carries PLAINTEXT payloads, or TLS12
//     ones with Config.PayloadSecurity (the caller runs TLS, package
//     tlsrec); a record with the other payload_security fails with 7102.
package e2e
