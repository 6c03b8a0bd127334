package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestUsageErrors checks that mistakes are caught before connecting: each
// case names a broker nobody listens on, so reaching the network would
// give exit code 3, not 2.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	agentsFile := filepath.Join(dir, "agents")
	if err := os.WriteFile(agentsFile, []byte("proto::a\nproto::a /t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badConfig, []byte(`{"brokr": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--broker", "mqtt://127.0.0.1:1", "--agent-topic", "/a", "--timeout", "200ms"}
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil, ""},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"get", "--frob", "Device."}, "unknown flag"},
		{"no path", []string{"get", "--agent", "proto::a"}, "requires at least 1 arg"},
		{"no agent", append([]string{"get", "Device."}, conn...), "no agent"},
		{"bad agent id", append([]string{"get", "--agent", "nocolon", "Device."}, conn...), "endpoint ID"},
		{"bad path syntax", append([]string{"get", "--agent", "proto::a", "Device.X.[Enable==true.Y"}, conn...), "get:"},
		{"command path to get", append([]string{"get", "--agent", "proto::a", "Device.Reboot()"}, conn...), "is a command path"},
		{"set without value", append([]string{"set", "--agent", "proto::a", "Device.X.", "Enable"}, conn...), "not NAME=VALUE"},
		{"set without params", append([]string{"set", "--agent", "proto::a", "Device.X.", "Device.Y."}, conn...), "no PARAM=VALUE"},
		{"set on parameter", append([]string{"set", "--agent", "proto::a", "Device.X.Y", "A=1"}, conn...), "is a parameter path"},
		{"set dup param", append([]string{"set", "--agent", "proto::a", "Device.X.", "A=1", "A=2"}, conn...), "given twice"},
		{"set optional unknown", append([]string{"set", "--agent", "proto::a", "--optional", "B", "Device.X.", "A=1"}, conn...), "names no parameter"},
		{"operate non-command", append([]string{"operate", "--agent", "proto::a", "Device.X."}, conn...), "expected command"},
		{"operate bad arg", append([]string{"operate", "--agent", "proto::a", "Device.X()", "novalue"}, conn...), "not NAME=VALUE"},
		{"delete parameter", append([]string{"delete", "--agent", "proto::a", "Device.X.Y"}, conn...), "is a parameter path"},
		{"bad output", append([]string{"proto", "--agent", "proto::a", "-o", "yaml"}, conn...), "-o must be"},
		{"bad mtp", []string{"proto", "--agent", "proto::a", "--mtp", "carrier-pigeon"}, "--mtp must be"},
		{"bad qos", append([]string{"proto", "--agent", "proto::a", "--qos", "2"}, conn...), "--qos"},
		{"bad timeout", []string{"proto", "--agent", "proto::a", "--timeout", "-1s"}, "--timeout"},
		{"duplicate agent", append([]string{"proto", "--agents", agentsFile}, conn...), "listed twice"},
		{"missing agents file", append([]string{"proto", "--agents", filepath.Join(dir, "none")}, conn...), "--agents"},
		{"missing config", []string{"proto", "--agent", "proto::a", "--config", filepath.Join(dir, "none.json")}, "configuration file"},
		{"unknown config key", []string{"proto", "--agent", "proto::a", "--config", badConfig}, "unknown keys brokr"},
		{"websocket without role", []string{"proto", "--agent", "proto::a", "--mtp", "websocket"}, "--listen"},
		{"uds without socket", []string{"proto", "--agent", "proto::a", "--mtp", "uds"}, "--socket"},
		{"tls key without cert", append([]string{"proto", "--agent", "proto::a", "--tls-key", "k.pem"}, conn...), "go together"},
		{"subscribe bad type", append([]string{"listen", "--agent", "proto::a", "--subscribe", "Foo=Device.X."}, conn...), "unknown notification type"},
		{"subscribe without agent", append([]string{"listen", "--subscribe", "Event=Device.Boot!"}, conn...), "needs --agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "", tt.args...)
			r.wantCode(t, exitUsage)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	r := runCLI(t, nil, "", "--help")
	r.wantCode(t, exitOK)
	for _, want := range []string{"Exit codes:", "USPCTL_", "get", "decode", "listen"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	r = runCLI(t, nil, "", "get", "--help")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, `{"values"`) || !strings.Contains(r.stdout, "--max-depth") {
		t.Errorf("get help lacks its JSON shape or flags:\n%s", r.stdout)
	}
}

// TestSettingsPrecedence checks flags > environment > file > defaults.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "uspctl", "config.json")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := `{"broker": "tcp://file:1883", "timeout": "7s", "agent-topic": "/file/{id}", "qos": 0,
		"agent": ["proto::f1", "proto::f2"], "tls-insecure": true, "verbose": 2, "controller-id": "proto::from-file"}`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, s *settings, used string)
	}{
		{"defaults", nil, map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "none")}, func(t *testing.T, s *settings, used string) {
			if s.broker != "" || s.timeout != defaultTimeout || s.qos != 1 || s.controllerID != defaultController || used != "" || len(s.agents) != 0 {
				t.Errorf("%+v used=%q", s, used)
			}
		}},
		{"file", nil, map[string]string{"XDG_CONFIG_HOME": dir}, func(t *testing.T, s *settings, used string) {
			if s.broker != "tcp://file:1883" || s.timeout != 7*time.Second || s.qos != 0 || !s.tlsInsecure ||
				s.verbose != 2 || s.agentTopic != "/file/{id}" || strings.Join(s.agents, " ") != "proto::f1 proto::f2" ||
				s.controllerID != "proto::from-file" || used != file {
				t.Errorf("%+v used=%q", s, used)
			}
		}},
		{"home fallback", nil, map[string]string{"HOME": filepath.Dir(dir), "XDG_CONFIG_HOME": ""}, func(t *testing.T, s *settings, used string) {
			// $HOME/.config/uspctl/config.json does not exist there.
			if used != "" {
				t.Errorf("used %q", used)
			}
		}},
		{"env over file", nil, map[string]string{"XDG_CONFIG_HOME": dir, "USPCTL_BROKER": "tcp://env:1883", "USPCTL_AGENT": "proto::e1, proto::e2", "USPCTL_TIMEOUT": "3s"}, func(t *testing.T, s *settings, used string) {
			if s.broker != "tcp://env:1883" || s.timeout != 3*time.Second || strings.Join(s.agents, " ") != "proto::e1 proto::e2" || s.qos != 0 {
				t.Errorf("%+v", s)
			}
		}},
		{"flags over env", []string{"--broker", "tcp://flag:1883", "--agent", "proto::x", "--qos", "1", "-v"}, map[string]string{"XDG_CONFIG_HOME": dir, "USPCTL_BROKER": "tcp://env:1883", "USPCTL_AGENT": "proto::e1"}, func(t *testing.T, s *settings, used string) {
			if s.broker != "tcp://flag:1883" || strings.Join(s.agents, " ") != "proto::x" || s.qos != 1 || s.verbose != 1 || s.timeout != 7*time.Second {
				t.Errorf("%+v", s)
			}
		}},
		{"explicit config in env", nil, map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "none"), "USPCTL_CONFIG": file}, func(t *testing.T, s *settings, used string) {
			if s.broker != "tcp://file:1883" || used != file {
				t.Errorf("%+v used=%q", s, used)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			fs := pflag.NewFlagSet("uspctl", pflag.ContinueOnError)
			s.addFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			used, err := applyDefaults(fs, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, &s, used)
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad env value", map[string]string{"USPCTL_TIMEOUT": "soon"}, "USPCTL_TIMEOUT"},
		{"bad file value", map[string]string{"USPCTL_CONFIG": write("v.json", `{"qos": "high"}`)}, `"qos"`},
		{"not json", map[string]string{"USPCTL_CONFIG": write("n.json", `broker=x`)}, "n.json"},
		{"nested value", map[string]string{"USPCTL_CONFIG": write("o.json", `{"broker": {"a": 1}}`)}, "unsupported value"},
		{"list for scalar", map[string]string{"USPCTL_CONFIG": write("l.json", `{"broker": ["a", "b"]}`)}, "one value expected"},
		{"config key", map[string]string{"USPCTL_CONFIG": write("c.json", `{"config": "x"}`)}, "unknown keys config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			fs := pflag.NewFlagSet("uspctl", pflag.ContinueOnError)
			s.addFlags(fs)
			tt.env["XDG_CONFIG_HOME"] = filepath.Join(dir, "none")
			_, err := applyDefaults(fs, func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
