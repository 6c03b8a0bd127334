package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

const agentTopicPattern = "/usp/agent/{id}"

// mqttEnv is an embedded MQTT broker with usptest agents on it.
type mqttEnv struct {
	t      *testing.T
	broker string
}

func newMQTTEnv(t *testing.T) *mqttEnv {
	t.Helper()
	return &mqttEnv{t: t, broker: brokertest.StartEmbedded(t)}
}

// agent starts a usptest agent listening on /usp/agent/<id>.
func (e *mqttEnv) agent(id string, opts ...usptest.Option) *usptest.Agent {
	e.t.Helper()
	tr, err := mqtt.New(e.broker, id, mqtt.WithTopic(expand(agentTopicPattern, id)))
	if err != nil {
		e.t.Fatal(err)
	}
	ag, err := usptest.NewAgent(id, append([]usptest.Option{usptest.WithTransport(tr)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ag.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := ag.Close(context.Background()); err != nil {
			e.t.Errorf("closing agent %s: %v", id, err)
		}
	})
	return ag
}

// conn returns the connection flags for the broker.
func (e *mqttEnv) conn(extra ...string) []string {
	return append([]string{"--broker", e.broker, "--agent-topic", agentTopicPattern, "--timeout", "10s"}, extra...)
}

// run runs uspctl against one agent: cmd, the connection flags, then args.
func (e *mqttEnv) run(agent, cmd string, args ...string) cliRun {
	e.t.Helper()
	all := append([]string{cmd, "--agent", agent}, e.conn()...)
	return runCLI(e.t, nil, "", append(all, args...)...)
}

// envelopeOf decodes single-agent JSON output.
func envelopeOf[T any](t *testing.T, r cliRun) (env struct {
	Agent    string     `json:"agent"`
	ExitCode int        `json:"exit_code"`
	Error    *jsonError `json:"error"`
	Result   T          `json:"result"`
}) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), &env); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, r.stdout)
	}
	return env
}

func TestMQTTGet(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-get"
	ag := e.agent(id)
	m := ag.Model()

	t.Run("text", func(t *testing.T) {
		r := e.run(id, "get", "Device.DeviceInfo.ModelName", "Device.DeviceInfo.Manufacturer")
		r.wantCode(t, exitOK)
		model, _ := m.Get("Device.DeviceInfo.ModelName")
		manu, _ := m.Get("Device.DeviceInfo.Manufacturer")
		want := fmt.Sprintf("Device.DeviceInfo.Manufacturer  %s\nDevice.DeviceInfo.ModelName     %s\n", manu, model)
		if r.stdout != want {
			t.Errorf("stdout:\n%q\nwant:\n%q", r.stdout, want)
		}
	})
	t.Run("json object", func(t *testing.T) {
		r := e.run(id, "get", "-o", "json", "Device.DeviceInfo.")
		r.wantCode(t, exitOK)
		env := envelopeOf[getResult](t, r)
		want, err := m.Values("Device.DeviceInfo.")
		if err != nil {
			t.Fatal(err)
		}
		// UpTime moves; compare the rest.
		delete(want, "Device.DeviceInfo.UpTime")
		delete(env.Result.Values, "Device.DeviceInfo.UpTime")
		if env.Agent != id || env.ExitCode != 0 || env.Error != nil || len(env.Result.Errors) != 0 {
			t.Errorf("envelope %+v", env)
		}
		for k, v := range want {
			if got, ok := env.Result.Values[k]; !ok || got != v {
				t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
			}
		}
		if len(env.Result.Values) != len(want) {
			t.Errorf("%d values, want %d", len(env.Result.Values), len(want))
		}
	})
	t.Run("max depth", func(t *testing.T) {
		r := e.run(id, "get", "-o", "json", "--max-depth", "1", "Device.LocalAgent.")
		r.wantCode(t, exitOK)
		env := envelopeOf[getResult](t, r)
		for k := range env.Result.Values {
			if strings.Count(strings.TrimPrefix(k, "Device.LocalAgent."), ".") != 0 {
				t.Errorf("%s is deeper than max depth 1", k)
			}
		}
		if _, ok := env.Result.Values["Device.LocalAgent.EndpointID"]; !ok {
			t.Errorf("EndpointID missing: %v", env.Result.Values)
		}
	})
	t.Run("invalid path exits 1", func(t *testing.T) {
		r := e.run(id, "get", "Device.DeviceInfo.ModelName", "Device.NoSuch.Param")
		r.wantCode(t, exitFailed)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "Device.DeviceInfo.ModelName") ||
			!strings.HasPrefix(lines[1], "ERROR 7026 Device.NoSuch.Param: ") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		j := e.run(id, "get", "-o", "json", "Device.NoSuch.Param")
		j.wantCode(t, exitFailed)
		env := envelopeOf[getResult](t, j)
		if env.ExitCode != exitFailed || len(env.Result.Errors) != 1 || env.Result.Errors[0].Code != 7026 ||
			env.Result.Errors[0].Path != "Device.NoSuch.Param" {
			t.Errorf("envelope %+v", env)
		}
	})
	t.Run("agent error exits 1", func(t *testing.T) {
		ag.Faults().FailNext(uspmsg.Header_GET, msg.CodeResourcesExceeded)
		r := e.run(id, "get", "Device.DeviceInfo.")
		r.wantCode(t, exitFailed)
		if r.stdout != "" || !strings.Contains(r.stderr, id+": 7005") {
			t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
		}
	})
}

func TestMQTTSetAddDelete(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-sad"
	ag := e.agent(id)
	m := ag.Model()

	r := e.run(id, "set", "Device.DeviceInfo.", "ProvisioningCode=prov 1")
	r.wantCode(t, exitOK)
	if r.stdout != "Device.DeviceInfo.ProvisioningCode  prov 1\n" {
		t.Errorf("set stdout %q", r.stdout)
	}
	if v, _ := m.Get("Device.DeviceInfo.ProvisioningCode"); v != "prov 1" {
		t.Errorf("model has %q", v)
	}

	// Read-only parameter: the agent refuses the whole Set.
	r = e.run(id, "set", "Device.DeviceInfo.", "SerialNumber=x")
	r.wantCode(t, exitFailed)
	if !strings.Contains(r.stderr, "SerialNumber") {
		t.Errorf("stderr %q does not name the parameter", r.stderr)
	}

	// Add two instances in one request, one with a bad value, partially.
	r = e.run(id, "add", "-o", "json", "--allow-partial",
		"Device.LocalAgent.Controller.", "Alias=cli-1", "EndpointID=proto::cli-1",
		"Device.LocalAgent.Controller.", "Alias=cli-2", "PeriodicNotifInterval=soon")
	r.wantCode(t, exitFailed)
	add := envelopeOf[addResult](t, r)
	if len(add.Result.Created) != 1 || len(add.Result.Errors) != 1 || add.Result.Created[0].UniqueKeys["Alias"] != "cli-1" {
		t.Fatalf("add result %+v", add.Result)
	}
	created := add.Result.Created[0].Path
	if v, err := m.Get(created + "EndpointID"); err != nil || v != "proto::cli-1" {
		t.Errorf("model: %q %v", v, err)
	}

	// Add in text.
	r = e.run(id, "add", "Device.LocalAgent.Controller.", "Alias=cli-3", "EndpointID=proto::cli-3")
	r.wantCode(t, exitOK)
	fields := strings.Fields(r.stdout)
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "Device.LocalAgent.Controller.") || !slices.Contains(fields, "Alias=cli-3") {
		t.Fatalf("add stdout %q", r.stdout)
	}
	second := fields[0]

	// Set with a search expression and an optional bad parameter.
	r = e.run(id, "set", "-o", "json", "--optional", "NoSuchParam",
		`Device.LocalAgent.Controller.[Alias=="cli-3"].`, "ProvisioningCode=p3", "NoSuchParam=x")
	r.wantCode(t, exitFailed) // the optional parameter failed
	set := envelopeOf[setResult](t, r)
	if len(set.Result.Updated) != 1 || set.Result.Updated[0].Path != second || set.Result.Updated[0].Params["ProvisioningCode"] != "p3" ||
		len(set.Result.Updated[0].ParamErrors) != 1 {
		t.Errorf("set result %+v", set.Result)
	}

	r = e.run(id, "delete", created, second)
	r.wantCode(t, exitOK)
	if got := strings.Fields(r.stdout); !slices.Equal(got, []string{created, second}) {
		t.Errorf("delete stdout %q", r.stdout)
	}
	insts, _ := m.Instances("Device.LocalAgent.Controller.")
	if slices.Contains(insts, created) || slices.Contains(insts, second) {
		t.Errorf("instances left: %v", insts)
	}

	// As OB-USP-A does, deleting a missing instance succeeds and deletes
	// nothing.
	r = e.run(id, "delete", "-o", "json", "Device.LocalAgent.Controller.999.")
	r.wantCode(t, exitOK)
	del := envelopeOf[deleteResult](t, r)
	if len(del.Result.Deleted) != 0 || del.Result.Deleted == nil {
		t.Errorf("delete result %+v", del.Result)
	}
	// Deleting from a table that does not exist fails.
	r = e.run(id, "delete", "--allow-partial", "Device.NoSuch.1.")
	r.wantCode(t, exitFailed)
	if !strings.HasPrefix(r.stdout, "ERROR 7026 Device.NoSuch.1.: ") {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestMQTTOperate(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-op"
	ag := e.agent(id)
	m := ag.Model()
	if err := m.Define(`
Device.Test.
  Echo()   sync   in=Text  out=Text,Key
  Slow()   async  in=Text  out=Result
  Broken() sync
  Hang()   async
`); err != nil {
		t.Fatal(err)
	}
	must(t, m.HandleCommand("Device.Test.Echo()", func(ctx context.Context, _ string, args map[string]string) (map[string]string, error) {
		return map[string]string{"Text": args["Text"], "Key": usptest.CommandKey(ctx)}, nil
	}))
	release := make(chan struct{})
	must(t, m.HandleCommand("Device.Test.Slow()", func(ctx context.Context, _ string, args map[string]string) (map[string]string, error) {
		select {
		case <-release:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
		return map[string]string{"Result": "slow " + args["Text"]}, nil
	}))
	must(t, m.HandleCommand("Device.Test.Hang()", func(ctx context.Context, _ string, _ map[string]string) (map[string]string, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	}))
	must(t, m.HandleCommand("Device.Test.Broken()", func(context.Context, string, map[string]string) (map[string]string, error) {
		return nil, msg.Errorf(msg.CodeCommandFailure, "it broke")
	}))
	subsBefore, _ := m.Instances("Device.LocalAgent.Subscription.")

	t.Run("sync", func(t *testing.T) {
		r := e.run(id, "operate", "--command-key", "k-1", "Device.Test.Echo()", "Text=hello world")
		r.wantCode(t, exitOK)
		want := "Device.Test.Echo()  completed\n  Key   k-1\n  Text  hello world\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%q\nwant\n%q", r.stdout, want)
		}
	})
	t.Run("async waits", func(t *testing.T) {
		r := e.run(id, "operate", "-o", "json", "Device.Test.Slow()", "Text=x")
		r.wantCode(t, exitOK)
		env := envelopeOf[operateResult](t, r)
		if len(env.Result.Results) != 1 {
			t.Fatalf("%+v", env.Result)
		}
		it := env.Result.Results[0]
		if it.Status != statusCompleted || it.Output["Result"] != "slow x" || !strings.HasPrefix(it.RequestPath, "Device.LocalAgent.Request.") {
			t.Errorf("%+v", it)
		}
	})
	t.Run("async no wait", func(t *testing.T) {
		r := e.run(id, "operate", "-o", "json", "--no-wait", "Device.Test.Slow()", "Text=y")
		r.wantCode(t, exitOK)
		env := envelopeOf[operateResult](t, r)
		if len(env.Result.Results) != 1 || env.Result.Results[0].Status != statusStarted || env.Result.Results[0].RequestPath == "" {
			t.Errorf("%+v", env.Result)
		}
	})
	t.Run("failure", func(t *testing.T) {
		r := e.run(id, "operate", "Device.Test.Broken()")
		r.wantCode(t, exitFailed)
		if !strings.Contains(r.stdout, "Device.Test.Broken()  failed  7022 it broke") {
			t.Errorf("stdout %q", r.stdout)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		r := runCLI(t, nil, "", append([]string{"operate", "--agent", id, "Device.Test.Hang()"}, e.conn("--timeout", "500ms")...)...)
		r.wantCode(t, exitTimeout)
		close(release)
	})
	// Every OperationComplete subscription uspctl made is gone again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs, _ := m.Instances("Device.LocalAgent.Subscription.")
		if slices.Equal(subs, subsBefore) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions %v, before %v", subs, subsBefore)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMQTTSupportedDMInstancesProto(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-dm"
	ag := e.agent(id)
	m := ag.Model()

	r := e.run(id, "gsdm", "--all", "--first-level-only", "Device.LocalAgent.")
	r.wantCode(t, exitOK)
	for _, want := range []string{"Device.LocalAgent.Controller.{i}.", "multi-instance", "ADD_DELETE", "EndpointID", "TransferComplete!"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("gsdm text lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.run(id, "gsdm", "-o", "json", "--params", "--commands", "Device.LocalAgent.Controller.")
	r.wantCode(t, exitOK)
	env := envelopeOf[gsdmResult](t, r)
	var ctrl *gsdmObject
	for i, o := range env.Result.Objects {
		if o.Path == "Device.LocalAgent.Controller.{i}." {
			ctrl = &env.Result.Objects[i]
		}
	}
	if ctrl == nil || !ctrl.MultiInstance || ctrl.Access != "ADD_DELETE" || len(ctrl.Events) != 0 {
		t.Fatalf("controller object %+v", ctrl)
	}
	if !slices.ContainsFunc(ctrl.Params, func(p gsdmParam) bool { return p.Name == "Enable" && p.Type == "boolean" && p.Access == "READ_WRITE" }) {
		t.Errorf("params %+v", ctrl.Params)
	}
	if !slices.ContainsFunc(ctrl.Commands, func(c gsdmCommand) bool { return c.Name == "SendOnBoardRequest()" && c.Type == "SYNC" }) {
		t.Errorf("commands %+v", ctrl.Commands)
	}

	r = e.run(id, "gsdm", "Device.NoSuch.")
	r.wantCode(t, exitFailed)

	_, err := m.AddInstance("Device.LocalAgent.Controller.", map[string]string{"Alias": "inst-x", "EndpointID": "proto::x"})
	must(t, err)
	want, _ := m.Instances("Device.LocalAgent.Controller.")
	r = e.run(id, "instances", "-o", "json", "--first-level-only", "Device.LocalAgent.Controller.")
	r.wantCode(t, exitOK)
	inst := envelopeOf[instancesResult](t, r)
	var got []string
	for _, in := range inst.Result.Instances {
		got = append(got, in.Path)
	}
	if !slices.Equal(got, want) {
		t.Errorf("instances %v, want %v", got, want)
	}
	r = e.run(id, "instances", "Device.LocalAgent.Controller.")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "Alias=inst-x EndpointID=proto::x") {
		t.Errorf("instances text %q", r.stdout)
	}

	r = e.run(id, "proto")
	r.wantCode(t, exitOK)
	if r.stdout != usptest.DefaultVersions+"\n" {
		t.Errorf("proto %q", r.stdout)
	}
	r = e.run(id, "proto", "-o", "json")
	p := envelopeOf[protoResult](t, r)
	if strings.Join(p.Result.Versions, ",") != usptest.DefaultVersions {
		t.Errorf("versions %v", p.Result.Versions)
	}
}

func TestMQTTListen(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-listen"
	const ctlTopic = "/usp/controller/listen-test"
	ag := e.agent(id, usptest.WithController(defaultController, mtp.Address{MTP: mtp.MQTT, To: ctlTopic}),
		usptest.WithNotifyRetry(50*time.Millisecond, 200*time.Millisecond))

	t.Run("subscribe and value change", func(t *testing.T) {
		// An agent and a topic of its own, without the Boot! subscription:
		// under load a late Boot! could otherwise be the one notification
		// listen counts.
		const id, ctlTopic = "proto::agent-listen-vc", "/usp/controller/listen-vc-test"
		ag := e.agent(id, usptest.WithController(defaultController, mtp.Address{MTP: mtp.MQTT, To: ctlTopic}),
			usptest.WithNotifyRetry(50*time.Millisecond, 200*time.Millisecond), usptest.WithoutBootSubscription())
		m := ag.Model()
		subsBefore, _ := m.Instances("Device.LocalAgent.Subscription.")
		ready := func(a *app) {
			a.onReady = func() {
				go func() {
					if err := m.Set("Device.DeviceInfo.ProvisioningCode", "vc-1"); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		// Notifications go where the agent has the controller configured.
		args := append([]string{"listen", "--agent", id, "--topic", ctlTopic, "--count", "1", "--for", "10s", "--notif-retry",
			"--subscribe", "ValueChange=Device.DeviceInfo.ProvisioningCode"}, e.conn()...)
		r := runCLICtx(context.Background(), t, nil, "", ready, args...)
		r.wantCode(t, exitOK)
		f := strings.Fields(r.stdout)
		if len(f) < 6 || f[1] != id || f[2] != "ValueChange" || strings.Join(f[4:], " ") != "Device.DeviceInfo.ProvisioningCode = vc-1" {
			t.Errorf("stdout %q", r.stdout)
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Errorf("time: %v", err)
		}
		// NotifyResp was sent and the subscription removed.
		waitFor(t, func() bool {
			subs, _ := m.Instances("Device.LocalAgent.Subscription.")
			return len(ag.PendingNotifications()) == 0 && slices.Equal(subs, subsBefore)
		})
	})

	t.Run("event on the configured topic as JSON", func(t *testing.T) {
		ready := func(a *app) {
			a.onReady = func() {
				go func() {
					if err := ag.Emit(context.Background(), "Device.Boot!", map[string]string{"Cause": "RemoteReboot", "CommandKey": "ck"}); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		args := append([]string{"listen", "--topic", ctlTopic, "--count", "1", "--for", "10s", "-o", "json"}, e.conn()...)
		r := runCLICtx(context.Background(), t, nil, "", ready, args...)
		r.wantCode(t, exitOK)
		var n notificationJSON
		if err := json.Unmarshal([]byte(r.stdout), &n); err != nil {
			t.Fatalf("%v: %q", err, r.stdout)
		}
		if n.Agent != id || n.Type != "Event" || n.Path != "Device.Boot!" || n.Params["Cause"] != "RemoteReboot" || n.SubscriptionID == "" {
			t.Errorf("%+v", n)
		}
	})

	t.Run("nothing arrives", func(t *testing.T) {
		args := append([]string{"listen", "--topic", ctlTopic + "-quiet", "--count", "1", "--for", "300ms"}, e.conn()...)
		r := runCLI(t, nil, "", args...)
		r.wantCode(t, exitTimeout)
		if r.stdout != "" || !strings.Contains(r.stderr, "0 of 1 notifications") {
			t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
		}
	})

	t.Run("agents", func(t *testing.T) {
		ready := func(a *app) {
			a.onReady = func() {
				go func() {
					if err := ag.SendConnect(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		args := append([]string{"agents", "--topic", ctlTopic, "--for", "1s", "-o", "json"}, e.conn()...)
		r := runCLICtx(context.Background(), t, nil, "", ready, args...)
		r.wantCode(t, exitOK)
		var infos []agentJSON
		if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil {
			t.Fatal(err)
		}
		if len(infos) != 1 || infos[0].EndpointID != id || !infos[0].Connected || infos[0].MTP != "mqtt" ||
			infos[0].Address != expand(agentTopicPattern, id) {
			t.Errorf("%+v", infos)
		}
	})
}

func TestMQTTManyAgents(t *testing.T) {
	e := newMQTTEnv(t)
	ids := []string{"proto::agent-m1", "proto::agent-m2"}
	var models []*usptest.Model
	for _, id := range ids {
		models = append(models, e.agent(id).Model())
	}
	must(t, models[1].Set("Device.DeviceInfo.SerialNumber", "serial-2"))
	file := filepath.Join(t.TempDir(), "agents")
	// The second agent's topic is given in the file; the first follows --agent-topic.
	content := "# test agents\n" + ids[0] + "\n\n" + ids[1] + " " + expand(agentTopicPattern, ids[1]) + "\n"
	must(t, os.WriteFile(file, []byte(content), 0o600))

	r := runCLI(t, nil, "", append([]string{"get", "--agents", file, "Device.DeviceInfo.SerialNumber"}, e.conn()...)...)
	r.wantCode(t, exitOK)
	s1, _ := models[0].Get("Device.DeviceInfo.SerialNumber")
	want := fmt.Sprintf("%s  Device.DeviceInfo.SerialNumber  %s\n%s  Device.DeviceInfo.SerialNumber  serial-2\n", ids[0], s1, ids[1])
	if r.stdout != want {
		t.Errorf("stdout\n%q\nwant\n%q", r.stdout, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q (no progress bar outside terminals)", r.stderr)
	}
	// On a terminal, a progress bar is drawn on stderr and cleared.
	onTerminal := func(a *app) { a.terminal = func(io.Writer) bool { return true } }
	getArgs := append([]string{"get", "--agents", file, "Device.DeviceInfo.SerialNumber"}, e.conn()...)
	r = runCLICtx(context.Background(), t, nil, "", onTerminal, getArgs...)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stderr, "] 2/2 agents") || !strings.HasSuffix(r.stderr, "\r\x1b[K") || r.stdout != want {
		t.Errorf("stderr %q stdout %q", r.stderr, r.stdout)
	}
	r = runCLICtx(context.Background(), t, nil, "", onTerminal, append(getArgs, "--no-progress")...)
	if r.stderr != "" {
		t.Errorf("--no-progress: stderr %q", r.stderr)
	}

	r = runCLI(t, nil, "", append([]string{"get", "--agents", file, "-o", "json", "--parallel", "1", "Device.DeviceInfo.SerialNumber"}, e.conn()...)...)
	r.wantCode(t, exitOK)
	var raw []struct {
		Agent    string    `json:"agent"`
		ExitCode int       `json:"exit_code"`
		Result   getResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || raw[0].Agent != ids[0] || raw[1].Agent != ids[1] || raw[1].Result.Values["Device.DeviceInfo.SerialNumber"] != "serial-2" {
		t.Errorf("%+v", raw)
	}

	// One agent silent: its outcome is a timeout, the other's still printed.
	third := "proto::agent-silent"
	must(t, os.WriteFile(file, []byte(content+third+"\n"), 0o600))
	e.agent(third).Faults().Mute(true)
	r = runCLI(t, nil, "", append([]string{"get", "--agents", file, "Device.DeviceInfo.SerialNumber"}, e.conn("--timeout", "500ms")...)...)
	r.wantCode(t, exitTimeout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], third+"  ERROR ") || !strings.Contains(lines[2], "deadline exceeded") ||
		!strings.Contains(lines[1], "serial-2") {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestMQTTExitCodes(t *testing.T) {
	e := newMQTTEnv(t)
	const id = "proto::agent-exit"
	ag := e.agent(id)

	t.Run("unreachable broker", func(t *testing.T) {
		port := brokertest.FreePort(t)
		r := runCLI(t, nil, "", "get", "--agent", id, "--agent-topic", "/a", "--broker", fmt.Sprintf("mqtt://127.0.0.1:%d", port), "--timeout", "1s", "Device.")
		r.wantCode(t, exitConnection)
		if !strings.Contains(r.stderr, "cannot connect") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("silent agent", func(t *testing.T) {
		ag.Faults().Mute(true)
		defer ag.Faults().Mute(false)
		r := runCLI(t, nil, "", append([]string{"get", "--agent", id, "Device.DeviceInfo."}, e.conn("--timeout", "300ms")...)...)
		r.wantCode(t, exitTimeout)
		j := runCLI(t, nil, "", append([]string{"get", "-o", "json", "--agent", id, "Device.DeviceInfo."}, e.conn("--timeout", "300ms")...)...)
		j.wantCode(t, exitTimeout)
		env := envelopeOf[getResult](t, j)
		if env.Error == nil || env.Error.Kind != "timeout" || env.ExitCode != exitTimeout {
			t.Errorf("%+v", env)
		}
	})
	t.Run("agent never announces itself", func(t *testing.T) {
		// No --agent-topic: uspctl waits for the agent to announce itself.
		r := runCLI(t, nil, "", "get", "--agent", "proto::nobody", "--broker", e.broker, "--timeout", "300ms", "Device.")
		r.wantCode(t, exitConnection)
		if !strings.Contains(r.stderr, "--agent-topic") {
			t.Errorf("stderr %q gives no hint", r.stderr)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		ag.Faults().Mute(true)
		defer ag.Faults().Mute(false)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		r := runCLICtx(ctx, t, nil, "", nil, append([]string{"get", "--agent", id, "Device.DeviceInfo."}, e.conn()...)...)
		r.wantCode(t, exitInterrupted)
	})
	t.Run("verbose", func(t *testing.T) {
		r := runCLI(t, nil, "", append([]string{"proto", "-vv", "--agent", id}, e.conn()...)...)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stderr, "level=INFO msg=connecting mtp=mqtt") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("settings from file", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "uspctl"), 0o700))
		cfg := fmt.Sprintf(`{"broker": %q, "agent": [%q], "agent-topic": %q, "timeout": "5s"}`, e.broker, id, agentTopicPattern)
		must(t, os.WriteFile(filepath.Join(dir, "uspctl", "config.json"), []byte(cfg), 0o600))
		r := runCLI(t, map[string]string{"XDG_CONFIG_HOME": dir}, "", "get", "Device.DeviceInfo.SerialNumber")
		r.wantCode(t, exitOK)
		if !strings.HasPrefix(r.stdout, "Device.DeviceInfo.SerialNumber  ") {
			t.Errorf("stdout %q", r.stdout)
		}
	})
	t.Run("settings from environment", func(t *testing.T) {
		env := map[string]string{"USPCTL_BROKER": e.broker, "USPCTL_AGENT": id, "USPCTL_AGENT_TOPIC": agentTopicPattern, "USPCTL_OUTPUT": "json"}
		r := runCLI(t, env, "", "proto")
		r.wantCode(t, exitOK)
		p := envelopeOf[protoResult](t, r)
		if p.Agent != id || len(p.Result.Versions) == 0 {
			t.Errorf("%+v", p)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMQTTConnectsReliably connects uspctl's MQTT transport many times:
// before mtp/mqtt locked its connection around each packet, about one
// connection in 300 was dropped by the broker for a malformed SUBSCRIBE
// (paho's first PINGREQ cut into it).
func TestMQTTConnectsReliably(t *testing.T) {
	if testing.Short() {
		t.Skip("many connections")
	}
	broker := brokertest.StartEmbedded(t)
	a := newApp(strings.NewReader(""), io.Discard, io.Discard, func(string) string { return "" })
	a.s = settings{broker: broker, controllerID: defaultController, qos: 1, timeout: 3 * time.Second}
	for i := range 300 {
		b, err := newMQTTBinding(a)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = b.t.Start(ctx, mtp.HandlerFuncs{})
		cancel()
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		must(t, b.t.Close(context.Background()))
	}
}
