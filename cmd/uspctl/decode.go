package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

const decodeLong = `Decode USP Records (or with --msg bare USP Msgs) from each FILE, or from stdin when
FILE is "-" or missing. The input is the binary protobuf, or its hex form
(detected, or forced with --hex; whitespace and a 0x prefix are ignored).
Works offline: no connection is made.

Text: the record as protobuf text with its payload elided, then the USP Msg it
carries (NoSessionContext, or an unsegmented SessionContext), as protobuf text.
JSON: {"record": {...}, "payload_size": N, "msg": {...}}, both in the protobuf
JSON mapping with the .proto field names; "record" is absent with --msg.
With several files, text output puts a "==> FILE <==" line before each, and
JSON output is an array of those objects with a "file" member.
Exit code 1 when an input is not a valid record or message (what could be
decoded is still printed, and the other files are decoded), 2 when one cannot
be read.`

func (a *app) decodeCommand() *cobra.Command {
	var forceHex, bareMsg bool
	cmd := &cobra.Command{
		Use:     "decode [FILE|-]...",
		Short:   "Decode USP Records or Msgs from files or stdin (offline)",
		Long:    decodeLong,
		Example: "  uspctl decode capture.bin\n  uspctl decode -o json captures/*.bin\n  echo 0a03312e33... | uspctl decode -o json",
		Args:    cobra.ArbitraryArgs,
		// decode needs no connection settings.
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"-"}
			}
			if len(args)-len(slices.DeleteFunc(slices.Clone(args), func(s string) bool { return s == "-" })) > 1 {
				return usageErrorf("decode: stdin can be read once: give \"-\" once")
			}
			if len(args) == 1 {
				out, text, code := a.decodeInput(args[0], "decode", forceHex, bareMsg)
				return codeErr(worst(code, a.printDecoded(out, text)))
			}
			code := exitOK
			outs := []decodeOutput{}
			for _, name := range args {
				out, text, c := a.decodeInput(name, "decode: "+name, forceHex, bareMsg)
				code = worst(code, c)
				if c == exitUsage {
					continue
				}
				out.File = name
				outs = append(outs, out)
				if !a.jsonOutput() {
					a.writeText("==> " + name + " <==\n" + text)
				}
			}
			if a.jsonOutput() {
				if err := a.writeJSON(outs); err != nil {
					a.errorf("decode: %v", err)
					code = worst(code, exitFailed)
				}
			}
			return codeErr(code)
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

// decodeInput reads and decodes one named input (a file, or "-" for
// stdin); warnings on stderr start with label. Code exitUsage means it
// could not be read.
func (a *app) decodeInput(name, label string, forceHex, bareMsg bool) (decodeOutput, string, int) {
	b, err := a.readInput(name)
	if err != nil {
		a.errorf("%s: %v", label, err)
		return decodeOutput{}, "", exitUsage
	}
	if forceHex || looksHex(b) {
		b, err = decodeHex(b)
		if err != nil {
			a.errorf("%s: %v", label, err)
			return decodeOutput{}, "", exitFailed
		}
	}
	return a.decodeBytes(b, label, bareMsg)
}

// printDecoded writes one decoded input on stdout.
func (a *app) printDecoded(out decodeOutput, text string) int {
	if a.jsonOutput() {
		if err := a.writeJSON(out); err != nil {
			a.errorf("decode: %v", err)
			return exitFailed
		}
		return exitOK
	}
	a.writeText(text)
	return exitOK
}

// decodeOutput is the JSON shape of decode.
type decodeOutput struct {
	File        string          `json:"file,omitempty"`
	Record      json.RawMessage `json:"record,omitempty"`
	PayloadSize *int            `json:"payload_size,omitempty"`
	Msg         json.RawMessage `json:"msg,omitempty"`
}

// decodeBytes decodes a record (or with bareMsg a Msg) into its JSON
// shape and its text form, reporting problems on stderr after label. What
// could be decoded is kept; the code is exitFailed when something could not.
func (a *app) decodeBytes(b []byte, label string, bareMsg bool) (decodeOutput, string, int) {
	code := exitOK
	warn := func(format string, args ...any) {
		a.errorf(label+": "+format, args...)
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
			a.errorf("%s: not a USP Record: %v", label, err)
			return decodeOutput{}, "", exitFailed
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

	var out decodeOutput
	if a.jsonOutput() {
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
		return out, "", code
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
	return out, w.String(), code
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
