package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// settings are the connection and output settings shared by every
// command, bound to the root command's persistent flags.
type settings struct {
	configFile   string
	mtp          string
	controllerID string
	agents       []string
	agentsFile   string
	parallel     int
	noProgress   bool

	broker      string
	topic       string
	agentTopic  string
	qos         int
	username    string
	password    string
	tlsCA       string
	tlsCert     string
	tlsKey      string
	tlsInsecure bool
	tlsAgentID  bool

	destination      string
	agentDestination string

	listen string
	wsURL  string
	socket string

	sessionContext bool
	maxSegment     int
	fallback       bool

	timeout time.Duration
	output  string
	verbose int
}

const (
	envPrefix           = "USPCTL_"
	defaultController   = "proto::uspctl"
	defaultMQTTBroker   = "tcp://127.0.0.1:1883"
	defaultSTOMPBroker  = "127.0.0.1:61613"
	defaultTimeout      = 30 * time.Second
	defaultParallel     = 8
	configDirName       = "uspctl"
	configFileName      = "config.json"
	flagConfig          = "config"
	flagOutput          = "output"
	outputText          = "text"
	outputJSON          = "json"
	placeholderEndpoint = "{id}"
)

// addFlags binds s to the persistent flags of the root command.
func (s *settings) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.configFile, flagConfig, "", "configuration file (JSON; default $XDG_CONFIG_HOME/uspctl/config.json if it exists)")
	f.StringVar(&s.mtp, "mtp", "mqtt", "message transfer protocol: mqtt, stomp, websocket or uds")
	f.StringVarP(&s.controllerID, "controller-id", "c", defaultController, "this controller's endpoint ID: one the agent knows (an EndpointID in its Device.LocalAgent.Controller. table), or it drops the requests unanswered")
	f.StringArrayVarP(&s.agents, "agent", "a", nil, "agent endpoint ID (repeatable; with an optional address: ID=ADDRESS)")
	f.StringVar(&s.agentsFile, "agents", "", "file listing agents, one per line: ENDPOINT-ID [ADDRESS]")
	f.IntVar(&s.parallel, "parallel", defaultParallel, "with several agents, how many to talk to at once")
	f.BoolVar(&s.noProgress, "no-progress", false, "never show the progress bar")

	f.StringVarP(&s.broker, "broker", "b", "", "MQTT broker URL (default "+defaultMQTTBroker+") or STOMP broker host:port (default "+defaultSTOMPBroker+")")
	f.StringVarP(&s.topic, "topic", "t", "", "MQTT topic this controller receives on: the agent's configured controller topic (default /usp/controller/<controller instance>-<random>, which only MQTT 5 agents answer on)")
	f.StringVarP(&s.agentTopic, "agent-topic", "T", "", "MQTT topic the agent subscribes to; "+placeholderEndpoint+" stands for the agent's endpoint ID")
	f.IntVarP(&s.qos, "qos", "q", 1, "MQTT QoS of published records (0 or 1)")
	f.StringVarP(&s.username, "username", "u", "", "MQTT or STOMP user name")
	f.StringVarP(&s.password, "password", "P", "", "MQTT or STOMP password (prefer USPCTL_PASSWORD or the config file)")
	f.StringVar(&s.tlsCA, "tls-ca", "", "PEM file of the CA that signs the broker's (or agent's) certificate")
	f.StringVar(&s.tlsCert, "tls-cert", "", "PEM client certificate")
	f.StringVar(&s.tlsKey, "tls-key", "", "PEM key of the client certificate")
	f.BoolVar(&s.tlsInsecure, "tls-insecure", false, "do not verify the server's certificate")
	f.BoolVar(&s.tlsAgentID, "tls-agent-id", false, "WebSocket: verify the agent's certificate against --tls-ca and require its urn:bbf:usp:id: URI to name the agent, instead of the host name (--ws-url), or to name the endpoint it dials in as (--listen)")

	f.StringVar(&s.destination, "destination", "", "STOMP destination this controller receives on (default /queue/usp-controller-<controller instance>-<random>)")
	f.StringVar(&s.agentDestination, "agent-destination", "", "STOMP destination the agent subscribes to; "+placeholderEndpoint+" stands for the agent's endpoint ID")

	f.StringVar(&s.listen, "listen", "", "WebSocket server role: address to listen on for agents to dial in (e.g. 127.0.0.1:8080)")
	f.StringVar(&s.wsURL, "ws-url", "", "WebSocket client role: URL of the agent's WebSocket server (ws://host:port/path)")
	f.StringVar(&s.socket, "socket", "", "Unix domain socket path to dial")

	f.BoolVar(&s.sessionContext, "session-context", false, "exchange messages inside an end-to-end session context (most agents do not enable it)")
	f.IntVar(&s.maxSegment, "max-segment", 0, "with --session-context, split messages longer than this many bytes over several records (0: never)")
	f.BoolVar(&s.fallback, "session-fallback", false, "with --session-context, go without it when the agent refuses it (Disconnect 7106); for agents whose SessionMode is Allow")

	f.DurationVarP(&s.timeout, "timeout", "W", defaultTimeout, "how long to wait for each answer (and for connecting)")
	f.StringVarP(&s.output, flagOutput, "o", outputText, "output format: text or json")
	f.CountVarP(&s.verbose, "verbose", "v", "log to stderr (-v: info, -vv: debug)")
}

// envName returns the environment variable that sets a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyDefaults fills flags not given on the command line from the
// environment, then from the configuration file: flags > environment >
// file > built-in defaults. It returns the configuration file used, if any.
func applyDefaults(f *pflag.FlagSet, getenv func(string) string) (string, error) {
	file, explicit := f.Lookup(flagConfig).Value.String(), f.Changed(flagConfig)
	if !explicit {
		if v := getenv(envName(flagConfig)); v != "" {
			file, explicit = v, true
		} else {
			file = defaultConfigFile(getenv)
		}
	}
	fromFile, err := loadConfigFile(file, explicit)
	if err != nil {
		return "", err
	}
	if fromFile == nil {
		file = ""
	} else if err := checkConfigKeys(f, slices.Collect(maps.Keys(fromFile))); err != nil {
		return "", fmt.Errorf("configuration file %s: %w", file, err)
	}
	var errs []error
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == flagConfig {
			return
		}
		if v, ok := lookupEnv(getenv, envName(fl.Name)); ok {
			if err := setFlag(f, fl, splitEnv(fl, v)); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", envName(fl.Name), err))
			}
			return
		}
		if vals, ok := fromFile[fl.Name]; ok {
			if err := setFlag(f, fl, vals); err != nil {
				errs = append(errs, fmt.Errorf("configuration file %s: %q: %w", file, fl.Name, err))
			}
		}
	})
	return file, errors.Join(errs...)
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// splitEnv splits the value of a repeatable flag on commas.
func splitEnv(fl *pflag.Flag, v string) []string {
	if fl.Value.Type() != "stringArray" {
		return []string{v}
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func setFlag(f *pflag.FlagSet, fl *pflag.Flag, vals []string) error {
	if len(vals) > 1 && fl.Value.Type() != "stringArray" {
		return fmt.Errorf("one value expected, got %d", len(vals))
	}
	for _, v := range vals {
		if fl.Value.Type() == "count" {
			// A count flag's Set adds one; the configured number is
			// what the user means.
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("invalid count %q", v)
			}
			for range n {
				if err := f.Set(fl.Name, "+1"); err != nil {
					return err
				}
			}
			continue
		}
		if err := f.Set(fl.Name, v); err != nil {
			return err
		}
	}
	return nil
}

func defaultConfigFile(getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, configDirName, configFileName)
}

// loadConfigFile reads a JSON object whose keys are long flag names and
// whose values are strings, numbers, booleans or (for repeatable flags)
// arrays. A missing default file is not an error; a missing explicit one
// is.
func loadConfigFile(path string, explicit bool) (map[string][]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	out := make(map[string][]string, len(raw))
	for k, v := range raw {
		vals, err := configValues(v)
		if err != nil {
			return nil, fmt.Errorf("configuration file %s: %q: %w", path, k, err)
		}
		out[k] = vals
	}
	return out, nil
}

func configValues(raw json.RawMessage) ([]string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	scalar := func(v any) (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return "", fmt.Errorf("unsupported value %s", raw)
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// checkConfigKeys reports keys of the configuration file that name no
// flag, so that a typo does not pass silently.
func checkConfigKeys(f *pflag.FlagSet, keys []string) error {
	var unknown []string
	for _, k := range keys {
		if f.Lookup(k) == nil || k == flagConfig {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("unknown keys %s", strings.Join(unknown, ", "))
}
