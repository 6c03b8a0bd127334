package record

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/proto/usprecord"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// captureDir holds the OB-USP-A wire captures: the repository's copy of the
// team's shared captures (in msg/testdata), or GOUSP_CAPTURES.
func captureDir(t testing.TB) string {
	dir := os.Getenv("GOUSP_CAPTURES")
	if dir == "" {
		dir = filepath.Join("..", "msg", "testdata", "obuspa")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		t.Fatalf("OB-USP-A captures not found: %v", err)
	}
	return dir
}

// manifestRow is what MANIFEST.md's tables say about one capture.
type manifestRow struct {
	size       int
	recordType string
	msgType    string // "—" for records without a message
	msgID      string
}

var rowName = regexp.MustCompile("^`([^`]+)` \\((\\d+) B\\)$")

func readManifest(t *testing.T, dir string) map[string]manifestRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]manifestRow{}
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
		if len(cols) != 7 {
			t.Fatalf("MANIFEST row with %d columns: %s", len(cols), line)
		}
		m := rowName.FindStringSubmatch(strings.TrimSpace(cols[0]))
		if m == nil {
			t.Fatalf("MANIFEST row name not understood: %q", cols[0])
		}
		size, _ := strconv.Atoi(m[2])
		rows[m[1]] = manifestRow{
			size:       size,
			recordType: strings.TrimSpace(cols[2]),
			msgType:    strings.TrimSpace(cols[3]),
			msgID:      strings.TrimSpace(cols[4]),
		}
	}
	return rows
}

// captureText splits a .txt file into the prototext of the Record, the
// announced payload size (-1 if none) and the prototext of the Msg.
func captureText(t *testing.T, path string) (rec string, payloadLen int, msg string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	payloadLen = -1
	section := ""
	var recB, msgB strings.Builder
	sizeRE := regexp.MustCompile(`no_session_context\.payload = (\d+) bytes`)
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "# ---- usp_record.Record") {
			section = "record"
			if m := sizeRE.FindStringSubmatch(line); m != nil {
				payloadLen, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if strings.HasPrefix(line, "# ---- usp.Msg") {
			section = "msg"
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		switch section {
		case "record":
			recB.WriteString(line)
		case "msg":
			msgB.WriteString(line)
		}
	}
	return recB.String(), payloadLen, msgB.String()
}

func TestCaptures(t *testing.T) {
	dir := captureDir(t)
	manifest := readManifest(t, dir)
	bins, err := filepath.Glob(filepath.Join(dir, "*.record.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) != 100 || len(manifest) != 100 {
		t.Fatalf("%d captures and %d MANIFEST rows, want 100 each", len(bins), len(manifest))
	}
	kinds := map[RecordType]int{}
	for _, path := range bins {
		name := strings.TrimSuffix(filepath.Base(path), ".record.bin")
		t.Run(name, func(t *testing.T) {
			row, ok := manifest[name]
			if !ok {
				t.Fatalf("%s is not in MANIFEST.md", name)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != row.size {
				t.Fatalf("capture is %d bytes, MANIFEST says %d", len(b), row.size)
			}
			r, err := Decode(b, WithStrictEndpointIDs())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			kinds[Kind(r)]++

			// What MANIFEST.md says about every record the agent sends.
			if r.Version != DefaultVersion {
				t.Errorf("version %q, want %q", r.Version, DefaultVersion)
			}
			if r.ToId != controllerID || r.FromId != agentID {
				t.Errorf("to_id %q from_id %q", r.ToId, r.FromId)
			}
			if got := Kind(r).String(); got != row.recordType {
				t.Errorf("record type %s, MANIFEST says %s", got, row.recordType)
			}
			if r.PayloadSecurity != usprecord.Record_PLAINTEXT || len(r.MacSignature) != 0 || len(r.SenderCert) != 0 {
				t.Errorf("unexpected security fields: %v", r)
			}
			if len(r.ProtoReflect().GetUnknown()) != 0 {
				t.Errorf("unknown fields in a 1.3 record: %x", r.ProtoReflect().GetUnknown())
			}

			// Our encoder reproduces the agent's bytes exactly.
			out, err := Encode(r)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(out, b) {
				t.Errorf("re-encoded record differs from the capture")
			}

			// The record matches the .txt file's protobuf text.
			recText, payloadLen, msgText := captureText(t, strings.TrimSuffix(path, ".bin")+".txt")
			want := &usprecord.Record{}
			if err := prototext.Unmarshal([]byte(recText), want); err != nil {
				t.Fatalf("parsing the .txt record: %v", err)
			}
			got := proto.Clone(r).(*usprecord.Record)
			if nsc := got.GetNoSessionContext(); nsc != nil {
				if len(nsc.Payload) != payloadLen {
					t.Errorf("payload is %d bytes, .txt says %d", len(nsc.Payload), payloadLen)
				}
				nsc.Payload = nil // elided in the .txt
			} else if payloadLen != -1 {
				t.Errorf(".txt announces a payload but the record has none")
			}
			if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
				t.Errorf("record differs from .txt (-txt +decoded):\n%s", d)
			}

			if Kind(r) != TypeNoSessionContext {
				if row.msgType != "—" || msgText != "" {
					t.Errorf("record without payload but MANIFEST/.txt show a message")
				}
				return
			}
			payload, err := Payload(r)
			if err != nil {
				t.Fatal(err)
			}
			var m, wantMsg uspmsg.Msg
			if err := proto.Unmarshal(payload, &m); err != nil {
				t.Fatalf("payload is not a usp.Msg: %v", err)
			}
			if err := prototext.Unmarshal([]byte(msgText), &wantMsg); err != nil {
				t.Fatalf("parsing the .txt msg: %v", err)
			}
			if d := cmp.Diff(&wantMsg, &m, protocmp.Transform()); d != "" {
				t.Errorf("payload differs from .txt (-txt +payload):\n%s", d)
			}
			if got := m.GetHeader().GetMsgType().String(); got != row.msgType {
				t.Errorf("msg_type %s, MANIFEST says %s", got, row.msgType)
			}
			if got := m.GetHeader().GetMsgId(); got != row.msgID {
				t.Errorf("msg_id %q, MANIFEST says %q", got, row.msgID)
			}
		})
	}
	for _, k := range []RecordType{TypeNoSessionContext, TypeWebSocketConnect, TypeMQTTConnect, TypeSTOMPConnect, TypeDisconnect} {
		if kinds[k] == 0 {
			t.Errorf("no capture of type %s", k)
		}
	}
}

// The specific values the issue calls out.
func TestCaptureDetails(t *testing.T) {
	dir := captureDir(t)
	load := func(t *testing.T, name string) *usprecord.Record {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name+".record.bin"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, name := range []string{"01-mqtt-connect", "81-disconnect-encrypted-payload-reconnect", "83-disconnect-session-context-reconnect", "85-disconnect-reply-to-disconnect-reconnect", "88-mqtt-connect-after-publishqos-1"} {
		m := load(t, name).GetMqttConnect()
		if m == nil || m.Version != usprecord.MQTTConnectRecord_V5 || m.SubscribedTopic != "/usp/agent/obuspa" {
			t.Errorf("%s: mqtt_connect = %v", name, m)
		}
	}
	s := load(t, "stomp-01-connect").GetStompConnect()
	if s == nil || s.Version != usprecord.STOMPConnectRecord_V1_2 || s.SubscribedDestination != "/queue/usp-agent-obuspa" {
		t.Errorf("stomp_connect = %v", s)
	}
	for _, name := range []string{"ws-01-connect", "ws-05-connect-agent-server"} {
		if k := Kind(load(t, name)); k != TypeWebSocketConnect {
			t.Errorf("%s: %v", name, k)
		}
	}
	disconnects := []struct {
		name   string
		code   uint32
		sent   error
		reason string
	}{
		{"80-disconnect-encrypted-payload", CodeInvalidRecordValue, ErrInvalidRecordValue, "encrypted payload without Session Context"},
		{"82-disconnect-session-context", CodeSessionContextNotAllowed, ErrSessionContextNotAllowed, "Session Context record type not supported"},
		{"84-disconnect-reply-to-disconnect", CodeSessionContextTerminated, ErrSessionContextTerminated, "USP Disconnect record received"},
	}
	for _, d := range disconnects {
		dr := load(t, d.name).GetDisconnect()
		if dr == nil || dr.ReasonCode != d.code || !strings.Contains(dr.Reason, d.reason) {
			t.Errorf("%s: disconnect = %v", d.name, dr)
			continue
		}
		// The reason code maps onto our sentinels.
		if !errors.Is(&Error{Code: dr.ReasonCode}, d.sent) {
			t.Errorf("%s: code %d does not match its sentinel", d.name, dr.ReasonCode)
		}
	}
	// The agent answers a 1.4 record with 1.3 and advertises 1.0-1.3; we
	// negotiate 1.3 with it.
	if r := load(t, "17-get-reqrecord-v1.4"); r.Version != "1.3" {
		t.Errorf("17: version %q", r.Version)
	}
	p, _ := Payload(load(t, "75-get-supported-protocol"))
	var m uspmsg.Msg
	if err := proto.Unmarshal(p, &m); err != nil {
		t.Fatal(err)
	}
	agentVersions := m.GetBody().GetResponse().GetGetSupportedProtocolResp().GetAgentSupportedProtocolVersions()
	if agentVersions != "1.0,1.1,1.2,1.3" {
		t.Fatalf("agent versions %q", agentVersions)
	}
	if v := NegotiateVersion(agentVersions); v != DefaultVersion {
		t.Errorf("NegotiateVersion(%q) = %q, want %q", agentVersions, v, DefaultVersion)
	}
}
