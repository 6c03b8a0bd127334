package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp/usptest"
)

// TestShortFlags runs a Get with only the short forms of the connection
// flags.
func TestShortFlags(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-short"
	ag := e.agent(id)
	want, _ := ag.Model().Get("Device.DeviceInfo.ModelName")
	r := runCLI(t, nil, "", "get", "-b", e.broker, "-a", id, "-T", agentTopicPattern, "-c", "proto::short",
		"-t", "/usp/controller/short", "-q", "0", "-W", "10s", "Device.DeviceInfo.ModelName")
	r.wantCode(t, exitOK)
	if r.stdout != "Device.DeviceInfo.ModelName  "+want+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

// TestUnknownController plays the reference agent, which drops records from
// controllers it does not know: the default controller ID gets no answer
// and a diagnostic naming the values used; the known one with its topic
// gets the answer.
func TestUnknownController(t *testing.T) {
	e := newMQTTEnv(t)
	const id, ctl, ctlTopic = "proto::agent-known", "proto::known-ctl", "/usp/controller/known"
	e.agent(id, usptest.WithKnownControllersOnly(), usptest.WithController(ctl, mtp.Address{MTP: mtp.MQTT, To: ctlTopic}))

	r := runCLI(t, nil, "", "get", "-b", e.broker, "-a", id, "-T", agentTopicPattern, "-W", "1s", "Device.DeviceInfo.ModelName")
	r.wantCode(t, exitTimeout)
	for _, s := range []string{"no answer within 1s", `controller ID "proto::uspctl"`, `not to "/usp/controller/uspctl-`, "-t/--topic",
		`not subscribed to "/usp/agent/proto::agent-known"`, "-c/--controller-id"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, r.stderr)
		}
	}

	r = runCLI(t, nil, "", "get", "-b", e.broker, "-a", id, "-T", agentTopicPattern, "-W", "10s", "-c", ctl, "-t", ctlTopic, "Device.DeviceInfo.ModelName")
	r.wantCode(t, exitOK)
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_uspctl", "zsh": "#compdef uspctl", "fish": "complete -c uspctl"} {
		r := runCLI(t, nil, "", "completion", shell)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%s script lacks %q", shell, want)
		}
	}
	// What the scripts ask: the values of --mtp, and the commands.
	r := runCLI(t, nil, "", "__complete", "get", "--mtp", "")
	r.wantCode(t, exitOK)
	if got := strings.Fields(r.stdout); !slices.Equal(got[:4], []string{"mqtt", "stomp", "websocket", "uds"}) {
		t.Errorf("--mtp completions %q", r.stdout)
	}
	r = runCLI(t, nil, "", "__complete", "en")
	if !strings.Contains(r.stdout, "encode") {
		t.Errorf("command completions %q", r.stdout)
	}
}

func TestSubscribeForms(t *testing.T) {
	for _, arg := range []string{"ValueChange=Device.A.B,Device.C.", "ValueChange:Device.A.B,Device.C.", `ValueChange=Device.X.[Alias=="a:b"].Name`} {
		specs, err := parseSubscriptions([]string{arg}, false)
		if err != nil {
			t.Errorf("%s: %v", arg, err)
			continue
		}
		if len(specs) != 1 || specs[0].NotifType != "ValueChange" {
			t.Errorf("%s: %+v", arg, specs)
		}
	}
	specs, _ := parseSubscriptions([]string{"ValueChange:Device.A.B,Device.C."}, false)
	if !slices.Equal(specs[0].ReferenceList, []string{"Device.A.B", "Device.C."}) {
		t.Errorf("refs %v", specs[0].ReferenceList)
	}
	for _, bad := range []string{"ValueChange", "ValueChange=", "Nope=Device.A.", "Device.A.B"} {
		if _, err := parseSubscriptions([]string{bad}, false); exitCode(err) != exitUsage {
			t.Errorf("%s: err %v", bad, err)
		}
	}
}

// decodeRecordHex decodes hex output of encode into the record and its Msg.
func decodeRecordHex(t *testing.T, s string) (*uspmsg.Msg, string, string) {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if err != nil {
		t.Fatal(err)
	}
	return m, rec.GetToId(), rec.GetFromId()
}

func TestEncode(t *testing.T) {
	r := runCLI(t, nil, "", "encode", "-c", "proto::ctl", "-a", "proto::ag", "--msg-id", "m-1", "--hex",
		"set", "Device.DeviceInfo.", "ProvisioningCode=x", "Device.LocalAgent.", "Alias=y")
	r.wantCode(t, exitOK)
	m, to, from := decodeRecordHex(t, r.stdout)
	set := m.GetBody().GetRequest().GetSet()
	if to != "proto::ag" || from != "proto::ctl" || m.GetHeader().GetMsgId() != "m-1" || len(set.GetUpdateObjs()) != 2 ||
		set.GetUpdateObjs()[0].GetParamSettings()[0].GetValue() != "x" {
		t.Errorf("to %s from %s msg %v", to, from, m)
	}

	// Request flags.
	r = runCLI(t, nil, "", "encode", "-a", "proto::ag", "--hex", "--allow-partial", "delete", "Device.LocalAgent.Controller.2.")
	r.wantCode(t, exitOK)
	if m, _, _ := decodeRecordHex(t, r.stdout); !m.GetBody().GetRequest().GetDelete().GetAllowPartial() {
		t.Errorf("allow_partial not set: %v", m)
	}
	r = runCLI(t, nil, "", "encode", "-a", "proto::ag", "--hex", "--command-key", "k1", "operate", "Device.Reboot()")
	r.wantCode(t, exitOK)
	if m, _, _ := decodeRecordHex(t, r.stdout); m.GetBody().GetRequest().GetOperate().GetCommandKey() != "k1" {
		t.Errorf("command_key not set: %v", m)
	}

	// Binary to a file, then decode -o json, then encode --json again.
	dir := t.TempDir()
	bin := filepath.Join(dir, "get.bin")
	r = runCLI(t, nil, "", "encode", "-a", "proto::ag", "--out", bin, "get", "Device.DeviceInfo.", "Device.LocalAgent.EndpointID")
	r.wantCode(t, exitOK)
	dec := runCLI(t, nil, "", "decode", "-o", "json", bin)
	dec.wantCode(t, exitOK)
	again := runCLI(t, nil, dec.stdout, "encode", "--json", "-", "--to", "proto::ag", "--hex")
	again.wantCode(t, exitOK)
	m2, _, from2 := decodeRecordHex(t, again.stdout)
	orig, _ := os.ReadFile(bin)
	rec, _ := record.Decode(orig)
	m1, _ := msg.Decode(rec.GetNoSessionContext().GetPayload())
	if !proto.Equal(m1, m2) || from2 != defaultController {
		t.Errorf("round trip changed the message:\n%v\n%v", m1, m2)
	}

	// Bare Msg with --msg; an invalid message is written with a warning.
	r = runCLI(t, nil, `{"header": {"msg_id": "", "msg_type": "GET"}, "body": {"request": {"get": {}}}}`, "encode", "--json", "-", "--msg", "--hex")
	r.wantCode(t, exitFailed)
	if !strings.Contains(r.stderr, "not valid") || strings.TrimSpace(r.stdout) == "" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}

	for name, args := range map[string][]string{
		"no recipient": {"encode", "get", "Device."},
		"bad path":     {"encode", "-a", "proto::a", "get", "Device..X"},
		"unknown":      {"encode", "-a", "proto::a", "frob"},
		"both":         {"encode", "-a", "proto::a", "--json", "x.json", "get", "Device."},
		"bad json":     {"encode", "-a", "proto::a", "--json", "-"},
		"to terminal":  {"encode", "-a", "proto::a", "get", "Device."},
	} {
		r := runCLICtx(t.Context(), t, nil, "{", func(a *app) {
			if name == "to terminal" {
				a.terminal = func(io.Writer) bool { return true }
			}
		}, args...)
		if r.code != exitUsage || r.stdout != "" {
			t.Errorf("%s: code %d stdout %q stderr %q", name, r.code, r.stdout, r.stderr)
		}
	}
}

func TestDecodeMany(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.hex")
	r := runCLI(t, nil, "", "encode", "-a", "proto::ag", "--msg-id", "g-1", "--hex", "--out", good, "proto")
	r.wantCode(t, exitOK)
	bad := filepath.Join(dir, "bad.bin")
	if err := os.WriteFile(bad, []byte{0xff, 0x01}, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, nil, "", "decode", good, bad, good)
	r.wantCode(t, exitFailed)
	if strings.Count(r.stdout, "==> "+good+" <==\n# USP Record") != 2 || !strings.Contains(r.stdout, "==> "+bad+" <==\n") ||
		!strings.Contains(r.stderr, "decode: "+bad+": not a USP Record") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", "decode", "-o", "json", good, good)
	r.wantCode(t, exitOK)
	var outs []struct {
		File string          `json:"file"`
		Msg  json.RawMessage `json:"msg"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &outs); err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[1].File != good || !strings.Contains(string(outs[1].Msg), `"g-1"`) {
		t.Errorf("json %s", r.stdout)
	}
	r = runCLI(t, nil, "", "decode", good, filepath.Join(dir, "missing"))
	r.wantCode(t, exitUsage)
}

func TestSend(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-send"
	ag := e.agent(id)
	want, _ := ag.Model().Get("Device.DeviceInfo.ModelName")
	dir := t.TempDir()
	file := filepath.Join(dir, "get.bin")
	r := runCLI(t, nil, "", "encode", "-a", id, "-c", "proto::sender", "--msg-id", "send-1", "--out", file, "get", "Device.DeviceInfo.ModelName")
	r.wantCode(t, exitOK)

	r = runCLI(t, nil, "", "send", "-b", e.broker, "-a", id, "-T", agentTopicPattern, "-W", "10s", "-o", "json", file)
	r.wantCode(t, exitOK)
	var out struct {
		Record struct {
			ToID string `json:"to_id"`
		} `json:"record"`
		Msg struct {
			Header struct {
				MsgID   string `json:"msg_id"`
				MsgType string `json:"msg_type"`
			} `json:"header"`
		} `json:"msg"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err, r.stdout)
	}
	if out.Record.ToID != "proto::sender" || out.Msg.Header.MsgID != "send-1" || out.Msg.Header.MsgType != "GET_RESP" || !strings.Contains(r.stdout, want) {
		t.Errorf("answer %s", r.stdout)
	}

	// An error answer exits 1; the record comes on stdin, in hex.
	hexRec := runCLI(t, nil, "", "encode", "-a", id, "--hex", "set", "Device.DeviceInfo.", "SerialNumber=x")
	r = runCLI(t, nil, hexRec.stdout, "send", "-b", e.broker, "-a", id, "-T", agentTopicPattern, "-W", "10s", "-")
	r.wantCode(t, exitFailed)
	if !strings.Contains(r.stdout, "  error:\n") || !strings.Contains(r.stdout, "SerialNumber") {
		t.Errorf("stdout %s", r.stdout)
	}

	// To a topic nobody is subscribed to: the embedded broker says nothing, so the
	// diagnostic names the topic among the usual causes.
	r = runCLI(t, nil, "", "send", "-b", e.broker, "-a", id, "-T", "/nobody/{id}", "-W", "1s", file)
	r.wantCode(t, exitTimeout)
	if !strings.Contains(r.stderr, `not subscribed to "/nobody/proto::agent-send"`) || !strings.Contains(r.stderr, `controller ID "proto::sender"`) {
		t.Errorf("stderr %s", r.stderr)
	}
	// mosquitto answers "no matching subscribers": a connection error at once.
	r = runCLI(t, nil, "", "send", "-b", brokertest.StartMosquitto(t), "-a", id, "-T", "/nobody/{id}", "-W", "10s", file)
	r.wantCode(t, exitConnection)
	if !strings.Contains(r.stderr, "no subscriber") {
		t.Errorf("stderr %s", r.stderr)
	}
}

func TestSendSilentAgent(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-silent"
	e.agent(id, usptest.WithKnownControllersOnly())
	file := filepath.Join(t.TempDir(), "get.bin")
	runCLI(t, nil, "", "encode", "-a", id, "-c", "proto::stranger", "--out", file, "get", "Device.").wantCode(t, exitOK)
	r := runCLI(t, nil, "", "send", "-b", e.broker, "-a", id, "-T", agentTopicPattern, "-W", "1s", file)
	r.wantCode(t, exitTimeout)
	if !strings.Contains(r.stderr, `controller ID "proto::stranger"`) {
		t.Errorf("stderr %s", r.stderr)
	}
}

// TestSendWebSocketListen: with --listen, send waits for the agent to dial
// in before sending.
func TestSendWebSocketListen(t *testing.T) {
	const id = "proto::agent-ws-send"
	addr := fmt.Sprintf("127.0.0.1:%d", brokertest.FreePort(t))
	tr, err := websocket.NewClient("ws://"+addr+"/usp", id, websocket.WithBackoff(20*time.Millisecond, 100*time.Millisecond))
	must(t, err)
	ag := startAgent(t, id, tr, true, usptest.WithController(defaultController, mtp.Address{}))
	want, _ := ag.Model().Get("Device.DeviceInfo.SerialNumber")
	enc := runCLI(t, nil, "", "encode", "-a", id, "--hex", "get", "Device.DeviceInfo.SerialNumber")
	enc.wantCode(t, exitOK)
	r := runCLI(t, nil, enc.stdout, "send", "--mtp", "websocket", "--listen", addr, "-a", id, "-W", "10s")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, `"`+want+`"`) || !strings.Contains(r.stdout, "GET_RESP") {
		t.Errorf("stdout %s", r.stdout)
	}
}

// TestSendUsage: mistakes are found before connecting (the broker named
// does not exist, so connecting would exit 3).
func TestSendUsage(t *testing.T) {
	enc := runCLI(t, nil, "", "encode", "-a", "proto::a", "--hex", "proto")
	enc.wantCode(t, exitOK)
	conn := []string{"-b", "tcp://127.0.0.1:1", "-T", "/a", "-W", "200ms"}
	for name, tc := range map[string]struct {
		stdin  string
		args   []string
		stderr string
	}{
		"no agent":     {enc.stdout, []string{"send"}, "exactly one --agent"},
		"two agents":   {enc.stdout, []string{"send", "-a", "proto::a", "-a", "proto::b"}, "exactly one --agent"},
		"not a record": {"zz", []string{"send", "-a", "proto::a", "--hex"}, "bad hex"},
		"garbage":      {"\xff\x01", []string{"send", "-a", "proto::a"}, "not a USP Record"},
		"missing file": {"", []string{"send", "-a", "proto::a", "/no/such/file"}, "no such file"},
	} {
		r := runCLI(t, nil, tc.stdin, append(tc.args, conn...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: code %d, stderr %q", name, r.code, r.stderr)
		}
	}
}
