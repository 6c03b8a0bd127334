package mtptest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"google.golang.org/protobuf/proto"
)

// Side is the trace of one end, named for the dump.
type Side struct {
	Name   string
	Events []Event
}

// FormatTrace merges the traces of both ends by time into one line per
// record: the time since the first, the sender, what the faults did, and
// the record's identifiers (session, sequence, expected and retransmit
// ids, SAR state, and the message type and id when the record holds a
// whole message). A test prints it when it fails, so that a failure met
// once in CI can be read without reproducing it.
func FormatTrace(sides ...Side) string {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, sd := range sides {
		for _, ev := range sd.Events {
			lines = append(lines, line{ev.At, fmt.Sprintf("%-8s %-5s %s", sd.Name, ev.Action, Describe(ev.Data))})
		}
	}
	slices.SortStableFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%9.3fms %s\n", float64(l.at.Sub(lines[0].at).Microseconds())/1000, l.text)
	}
	return b.String()
}

// Describe summarises one encoded record on a line.
func Describe(data []byte) string {
	r, err := record.Decode(data, record.WithoutValidation())
	if err != nil {
		return fmt.Sprintf("undecodable (%d bytes): %v", len(data), err)
	}
	if d := r.GetDisconnect(); d != nil {
		return fmt.Sprintf("disconnect %d %q", d.GetReasonCode(), d.GetReason())
	}
	sc := r.GetSessionContext()
	if sc == nil {
		p, _ := record.Payload(r)
		return fmt.Sprintf("%s %s", record.Kind(r), describeMsg(p))
	}
	n := 0
	for _, p := range sc.GetPayload() {
		n += len(p)
	}
	s := fmt.Sprintf("session %d seq %d exp %d", sc.GetSessionId(), sc.GetSequenceId(), sc.GetExpectedId())
	if id := sc.GetRetransmitId(); id != 0 {
		s += fmt.Sprintf(" retransmit %d", id)
	}
	s += fmt.Sprintf(" sar %s/%s %dB", sc.GetPayloadSarState(), sc.GetPayloadrecSarState(), n)
	if len(sc.GetPayload()) == 1 && n > 0 && sc.GetPayloadSarState() == 0 {
		s += " " + describeMsg(sc.GetPayload()[0])
	}
	return s
}

func describeMsg(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	var m uspmsg.Msg
	if err := proto.Unmarshal(p, &m); err != nil {
		return "(not a whole Msg)"
	}
	return fmt.Sprintf("%s %s", m.GetHeader().GetMsgType(), m.GetHeader().GetMsgId())
}
