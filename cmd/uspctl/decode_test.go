package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/record"
)

// The repository's copy of the team's OB-USP-A captures.
const capturesDir = "../../msg/testdata/obuspa"

func captures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(capturesDir, "*.record.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no captures in %s", capturesDir)
	}
	return files
}

// capturedMsgType reads the msg_type the capture's .txt file gives, or ""
// for records without a message.
func capturedMsgType(t *testing.T, bin string) string {
	t.Helper()
	f, err := os.Open(strings.TrimSuffix(bin, ".bin") + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^\s*msg_type:\s*(\w+)`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	return ""
}

func TestDecodeEveryCapture(t *testing.T) {
	for _, bin := range captures(t) {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			b, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			rec, recErr := record.Decode(b)
			want := capturedMsgType(t, bin)

			r := runCLI(t, nil, "", "decode", bin)
			if recErr != nil {
				// The record package rejects it: decode must say so.
				r.wantCode(t, exitFailed)
				return
			}
			r.wantCode(t, exitOK)
			if !strings.Contains(r.stdout, "from_id: "+`"`+rec.GetFromId()+`"`) {
				t.Errorf("text output lacks the from_id %q", rec.GetFromId())
			}
			if want != "" && !strings.Contains(r.stdout, "msg_type: "+want) {
				t.Errorf("text output lacks msg_type %s", want)
			}

			j := runCLI(t, nil, "", "decode", "-o", "json", bin)
			j.wantCode(t, exitOK)
			var out struct {
				Record map[string]any `json:"record"`
				Msg    json.RawMessage
			}
			if err := json.Unmarshal([]byte(j.stdout), &out); err != nil {
				t.Fatalf("JSON output: %v\n%s", err, j.stdout)
			}
			if out.Record["from_id"] != rec.GetFromId() {
				t.Errorf("record.from_id = %v, want %s", out.Record["from_id"], rec.GetFromId())
			}
			if want != "" {
				m, err := msg.FromJSON(out.Msg)
				if err != nil {
					t.Fatalf("msg does not read back: %v", err)
				}
				if got := m.GetHeader().GetMsgType().String(); got != want {
					t.Errorf("msg_type %s, want %s", got, want)
				}
			}
		})
	}
}

func TestDecodeGetDeviceInfo(t *testing.T) {
	bin := filepath.Join(capturesDir, "03-get-deviceinfo.record.bin")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Skip(err)
	}
	check := func(t *testing.T, r cliRun) {
		t.Helper()
		r.wantCode(t, exitOK)
		var out struct {
			PayloadSize int             `json:"payload_size"`
			Msg         json.RawMessage `json:"msg"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		m, err := msg.FromJSON(out.Msg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := msg.ParseGetResp(m)
		if err != nil {
			t.Fatal(err)
		}
		vals := resp.Values()
		if len(vals) != 8 {
			t.Fatalf("%d values, want the 8 DeviceInfo parameters: %v", len(vals), vals)
		}
		if vals["Device.DeviceInfo.ModelName"] != "USP Agent" || vals["Device.DeviceInfo.UpTime"] != "1600" {
			t.Errorf("values %v", vals)
		}
		if m.GetHeader().GetMsgId() != "get-deviceinfo" || out.PayloadSize != 267 {
			t.Errorf("msg_id %q payload_size %d", m.GetHeader().GetMsgId(), out.PayloadSize)
		}
	}
	t.Run("file", func(t *testing.T) { check(t, runCLI(t, nil, "", "decode", "-o", "json", bin)) })
	t.Run("binary stdin", func(t *testing.T) { check(t, runCLI(t, nil, string(b), "decode", "-o", "json")) })
	t.Run("hex stdin", func(t *testing.T) {
		check(t, runCLI(t, nil, hex.EncodeToString(b)+"\n", "decode", "-o", "json", "-"))
	})
	t.Run("spaced hex with --hex", func(t *testing.T) {
		h := hex.EncodeToString(b)
		var spaced strings.Builder
		spaced.WriteString("0x")
		for i := 0; i < len(h); i += 32 {
			spaced.WriteString(h[i:min(i+32, len(h))] + "\n")
		}
		check(t, runCLI(t, nil, spaced.String(), "decode", "--hex", "-o", "json"))
	})
	t.Run("text", func(t *testing.T) {
		r := runCLI(t, nil, "", "decode", bin)
		r.wantCode(t, exitOK)
		for _, want := range []string{
			`to_id: "proto::test-controller"`,
			"no_session_context: {}",
			"# payload: 267 bytes",
			"msg_type: GET_RESP",
			`requested_path: "Device.DeviceInfo."`,
			`ModelName: "USP Agent"`,
			`UpTime: "1600"`,
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("text output lacks %q:\n%s", want, r.stdout)
			}
		}
		// Eight parameters, one line each, indented under result_params.
		if n := strings.Count(r.stdout, "\n            "); n != 8 {
			t.Errorf("%d parameter lines, want 8", n)
		}
	})
}

func TestDecodeBareMsg(t *testing.T) {
	m := msg.Get{Paths: []string{"Device.DeviceInfo."}, MaxDepth: 2}.Build("m-1")
	b, err := msg.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, string(b), "decode", "--msg")
	r.wantCode(t, exitOK)
	for _, want := range []string{"msg_id: \"m-1\"", "msg_type: GET", `param_paths[0]: "Device.DeviceInfo."`, "max_depth: 2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Record") {
		t.Errorf("a bare message shows no record:\n%s", r.stdout)
	}
}

func TestDecodeBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, []byte{0xff, 0xff, 0x01, 0x02}, 0o600); err != nil {
		t.Fatal(err)
	}
	// A record whose payload is not a USP Msg.
	badPayload, err := record.Encode(record.NewNoSessionContext("1.3", "proto::a", "proto::b", []byte{0x0a, 0x02, 0x0a}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{"not a record", []string{"decode", garbage}, "", exitFailed, "not a USP Record"},
		{"bad hex", []string{"decode", "--hex"}, "0a0", exitFailed, "bad hex"},
		{"missing file", []string{"decode", filepath.Join(dir, "nope")}, "", exitUsage, "no such file"},
		{"two missing files", []string{"decode", "a", "b"}, "", exitUsage, "decode: b: open b"},
		{"stdin twice", []string{"decode", "-", "x", "-"}, "", exitUsage, "stdin can be read once"},
		{"payload not a msg", []string{"decode"}, string(badPayload), exitFailed, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.stdin, tt.args...)
			r.wantCode(t, tt.code)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.stderr)
			}
		})
	}
}

func TestLooksHex(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0a03312e33", true},
		{" 0A03 312e33\n", true},
		{"0x0a03", true},
		{"", false},
		{"\n\x03", false},
		{"0a03zz", false},
	}
	for _, tt := range tests {
		if got := looksHex([]byte(tt.in)); got != tt.want {
			t.Errorf("looksHex(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
