package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// Direction says which way a traced record went.
type Direction string

// Directions, seen from the test equipment.
const (
	Sent     Direction = "sent"
	Received Direction = "received"
)

// TraceEntry is one record the test equipment sent or received, decoded for
// people: the record's header, its type and, for a NoSessionContext record,
// its message as protojson.
type TraceEntry struct {
	Time       time.Time `json:"time"`
	Dir        Direction `json:"dir"`
	Peer       string    `json:"peer,omitempty"`
	Size       int       `json:"size"`
	RecordType string    `json:"record_type,omitempty"`
	Version    string    `json:"version,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	MsgType    string    `json:"msg_type,omitempty"`
	MsgID      string    `json:"msg_id,omitempty"`
	// Body is the decoded message (or the record itself when it carries
	// no message) as indented protojson.
	Body string `json:"body,omitempty"`
	// DecodeErr says why the bytes could not be decoded.
	DecodeErr string `json:"decode_error,omitempty"`
	// Note is the equipment's own remark ("sent malformed on purpose").
	Note string `json:"note,omitempty"`
}

// Summary is a one-line description of the entry.
func (e TraceEntry) Summary() string {
	var b strings.Builder
	if e.Dir == Sent {
		b.WriteString("-> ")
	} else {
		b.WriteString("<- ")
	}
	switch {
	case e.DecodeErr != "":
		fmt.Fprintf(&b, "%d bytes, undecodable: %s", e.Size, e.DecodeErr)
	case e.MsgType != "":
		fmt.Fprintf(&b, "%s msg_id=%q (%s)", e.MsgType, e.MsgID, e.RecordType)
	default:
		b.WriteString(e.RecordType)
	}
	if e.Note != "" {
		b.WriteString(" [" + e.Note + "]")
	}
	return b.String()
}

var traceJSON = protojson.MarshalOptions{Multiline: true, Indent: "  "}

// describe decodes record bytes into a trace entry. It never fails: what
// cannot be decoded is reported in DecodeErr.
func describe(dir Direction, peer mtp.Address, data []byte) TraceEntry {
	e := TraceEntry{Time: time.Now(), Dir: dir, Size: len(data)}
	if !peer.IsZero() {
		e.Peer = peer.String()
	}
	rec, err := record.Decode(data, record.WithoutValidation())
	if err != nil {
		e.DecodeErr = err.Error()
		return e
	}
	fillRecord(&e, rec)
	return e
}

func fillRecord(e *TraceEntry, rec *usprecord.Record) {
	e.Version, e.From, e.To = rec.GetVersion(), rec.GetFromId(), rec.GetToId()
	e.RecordType = recordTypeName(rec)
	if nsc := rec.GetNoSessionContext(); nsc != nil {
		m, err := msg.Decode(nsc.GetPayload())
		if err != nil {
			var raw uspmsg.Msg
			if record.UnmarshalPayload(nsc.GetPayload(), &raw) == nil {
				m = &raw
			} else {
				e.DecodeErr = err.Error()
				return
			}
			e.DecodeErr = err.Error()
		}
		fillMsg(e, m)
		return
	}
	// Connect, disconnect and session records: show the record itself,
	// without the raw payload bytes.
	if b, err := traceJSON.Marshal(rec); err == nil {
		e.Body = string(b)
	}
}

func fillMsg(e *TraceEntry, m *uspmsg.Msg) {
	e.MsgType = msgTypeName(m)
	e.MsgID = m.GetHeader().GetMsgId()
	if b, err := traceJSON.Marshal(m); err == nil {
		e.Body = string(b)
	}
}

// msgTypeName names a message by its body, so that an Error message (type 0
// on the wire) reads ERROR.
func msgTypeName(m *uspmsg.Msg) string {
	if m.GetBody().GetError() != nil {
		return "ERROR"
	}
	return m.GetHeader().GetMsgType().String()
}

func recordTypeName(rec *usprecord.Record) string {
	return record.Kind(rec).String()
}

// MarshalTrace renders entries as JSON lines, for tools.
func MarshalTrace(entries []TraceEntry) ([]byte, error) {
	var b strings.Builder
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// tracer wraps a transport so that every record that passes through it in
// either direction reaches sink first: the evidence of every verdict.
type tracer struct {
	mtp.Transport
	sink func(TraceEntry)
}

func (t *tracer) Start(ctx context.Context, h mtp.Handler) error {
	return t.Transport.Start(ctx, mtp.HandlerFuncs{
		Record: func(in mtp.Inbound) {
			t.sink(describe(Received, in.ReplyTo, in.Data))
			h.HandleRecord(in)
		},
		Event: h.HandleEvent,
	})
}

func (t *tracer) Send(ctx context.Context, to mtp.Address, data []byte) error {
	e := describe(Sent, to, data)
	err := t.Transport.Send(ctx, to, data)
	if err != nil {
		e.Note = "send failed: " + err.Error()
	}
	t.sink(e)
	return err
}
