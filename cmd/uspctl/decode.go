package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

const decodeLong = `Decode a USP Record (or with --msg a bare USP Msg) from FILE, or from stdin when
FILE is "-" or missing. The input is the binary protobuf, or its hex form
(detected, or forced with --hex; whitespace and a 0x prefix are ignored).
Works offline: no connection is made.

Text: the record as protobuf text with its payload elided, then the USP Msg it
carries (NoSessionContext, or an unsegmented SessionContext), as protobuf text.
JSON: {"record": {...}, "payload_size": N, "msg": {...}}, both in the protobuf
JSON mapping with the .proto field names; "record" is absent with --msg.
Exit code 1 when the input is not a valid record or message (what could be
decoded is still printed), 2 when it cannot be read.`

func (a *app) decodeCommand() *cobra.Command {
	var forceHex, bareMsg bool
	cmd := &cobra.Command{
		Use:     "decode [FILE|-]",
		Short:   "Decode a USP Record or Msg from a file or stdin (offline)",
		Long:    decodeLong,
		Example: "  uspctl decode capture.bin\n  echo 0a03312e33... | uspctl decode -o json",
		Args:    cobra.MaximumNArgs(1),
		// decode needs no connection settings.
		RunE: func(_ *cobra.Command, args []string) error {
			name := "-"
			if len(args) == 1 {
				name = args[0]
			}
			b, err := a.readInput(name)
			if err != nil {
				return usageErrorf("decode: %v", err)
			}
			if forceHex || looksHex(b) {
				b, err = decodeHex(b)
				if err != nil {
					a.errorf("decode: %v", err)
					return codeErr(exitFailed)
				}
			}
			return codeErr(a.decode(b, bareMsg))
		},
	}
	cmd.Flags().BoolVar(&forceHex, "hex", false, "the input is hex text")
	cmd.Flags().BoolVar(&bareMsg, "msg", false, "the input is a USP Msg, not a Record")
	return cmd
}

func (a *app) readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(a.stdin, record.DefaultMaxSize*3)) // hex is twice as long, plus spacing
	}
	return os.ReadFile(name)
}

// looksHex reports whether b is hex text rather than a binary record. A
// binary record starts with field 1 (0x0a) and a length byte below 0x20,
// never a hex digit, so the two cannot be confused.
func looksHex(b []byte) bool {
	s := strings.TrimSpace(string(b))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isHexDigit(r) && r != ' ' && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

func isHexDigit(r rune) bool {
	return ('0' <= r && r <= '9') || ('a' <= r && r <= 'f') || ('A' <= r && r <= 'F')
}

func decodeHex(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.Join(strings.Fields(s), "")
	out, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad hex input: %w", err)
	}
	return out, nil
}

// decodeOutput is the JSON shape of decode.
type decodeOutput struct {
	Record      json.RawMessage `json:"record,omitempty"`
	PayloadSize *int            `json:"payload_size,omitempty"`
	Msg         json.RawMessage `json:"msg,omitempty"`
}

func (a *app) decode(b []byte, bareMsg bool) int {
	code := exitOK
	warn := func(format string, args ...any) {
		a.errorf("decode: "+format, args...)
		code = exitFailed
	}
	var rec *usprecord.Record
	var payload []byte
	if bareMsg {
		payload = b
	} else {
		var err error
		rec, err = record.Decode(b)
		if rec == nil {
			a.errorf("decode: not a USP Record: %v", err)
			return exitFailed
		}
		if err != nil {
			warn("invalid record: %v", err)
		}
		payload = recordPayload(rec)
	}

	var m *uspmsg.Msg
	if payload != nil {
		var err error
		m, err = msg.Decode(payload)
		if err != nil {
			var ve *msg.ValidationError
			if !errors.As(err, &ve) {
				m = nil
			}
			warn("payload: %v", err)
		}
	}

	if a.jsonOutput() {
		var out decodeOutput
		if rec != nil {
			rb, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(elidePayload(rec))
			if err != nil {
				warn("%v", err)
			}
			out.Record = rb
			if payload != nil {
				n := len(payload)
				out.PayloadSize = &n
			}
		}
		if m != nil {
			mb, err := msg.JSON(m)
			if err != nil {
				warn("%v", err)
			}
			out.Msg = mb
		}
		if err := a.writeJSON(out); err != nil {
			warn("%v", err)
		}
		return code
	}

	var w bytes.Buffer
	if rec != nil {
		fmt.Fprintf(&w, "# USP Record, %d bytes (%s)\n", len(b), recordKind(rec))
		writeMessage(&w, elidePayload(rec).ProtoReflect(), "")
		if payload != nil {
			fmt.Fprintf(&w, "# payload: %d bytes, decoded below\n", len(payload))
		}
	}
	if m != nil {
		if rec != nil {
			w.WriteString("\n")
		}
		fmt.Fprintf(&w, "# usp.Msg, %d bytes (%s %s)\n", len(payload), m.GetHeader().GetMsgType(), m.GetHeader().GetMsgId())
		writeMessage(&w, m.ProtoReflect(), "")
	}
	a.writeText(w.String())
	return code
}

// recordPayload returns the USP Msg a record carries whole, or nil.
func recordPayload(rec *usprecord.Record) []byte {
	switch {
	case rec.GetNoSessionContext() != nil:
		return rec.GetNoSessionContext().GetPayload()
	case rec.GetSessionContext() != nil:
		sc := rec.GetSessionContext()
		if sc.GetPayloadSarState() == usprecord.SessionContextRecord_NONE && len(sc.GetPayload()) == 1 {
			return sc.GetPayload()[0]
		}
	}
	return nil
}

// elidePayload returns a copy of rec without its payload bytes, which are
// shown decoded instead.
func elidePayload(rec *usprecord.Record) *usprecord.Record {
	c := proto.Clone(rec).(*usprecord.Record)
	if nsc := c.GetNoSessionContext(); nsc != nil {
		nsc.Payload = nil
	}
	if sc := c.GetSessionContext(); sc != nil && recordPayload(rec) != nil {
		sc.Payload = nil
	}
	return c
}

func recordKind(rec *usprecord.Record) string {
	switch rec.GetRecordType().(type) {
	case *usprecord.Record_NoSessionContext:
		return "no_session_context"
	case *usprecord.Record_SessionContext:
		return "session_context"
	case *usprecord.Record_WebsocketConnect:
		return "websocket_connect"
	case *usprecord.Record_MqttConnect:
		return "mqtt_connect"
	case *usprecord.Record_StompConnect:
		return "stomp_connect"
	case *usprecord.Record_Disconnect:
		return "disconnect"
	case *usprecord.Record_UdsConnect:
		return "uds_connect"
	}
	return "unknown record type"
}
