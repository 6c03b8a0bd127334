package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config holds what TP-469 leaves to the test equipment and the operator:
// the elements a case may use instead of the ones the plan names, the
// features the agent declares, and how long to wait. The zero Config is
// usable: everything is then read from the agent's supported data model.
// It is read from JSON by LoadConfig; unknown keys are an error, so that a
// misspelt setting is not silently ignored.
type Config struct {
	// ResponseTimeout bounds the wait for each response (default 10s).
	ResponseTimeout Duration `json:"response_timeout,omitempty"`
	// NotifyTimeout bounds the wait for a notification the plan expects
	// "at once" (default 20s: OB-USP-A finds value changes by polling
	// every 15 s, so a shorter wait fails it at random, as 1.84 did).
	NotifyTimeout Duration `json:"notify_timeout,omitempty"`
	// QuietPeriod is how long the kit watches for something the plan
	// says must not happen, where the plan gives no figure (default 3s).
	QuietPeriod Duration `json:"quiet_period,omitempty"`
	// Features overrides what the data model says about TP-469 feature IDs:
	// {"24": true} declares session context support, {"10": false} keeps
	// the reboot cases out.
	Features map[string]bool `json:"features,omitempty"`
	// AsyncCommand is the asynchronous command for 1.64, 1.65 and 1.92
	// (default: the first asynchronous command of the data model whose
	// input arguments are all given in AsyncCommandArgs, or that has none).
	AsyncCommand string `json:"async_command,omitempty"`
	// AsyncCommandArgs are its input arguments.
	AsyncCommandArgs map[string]string `json:"async_command_args,omitempty"`
	// AllowDestructive lets cases run that change state the kit cannot
	// fully put back (a reboot; deleting every Subscription).
	AllowDestructive bool `json:"allow_destructive,omitempty"`
	// MaxSlow leaves out cases that wait longer than this by design
	// (zero: run them all).
	MaxSlow Duration `json:"max_slow,omitempty"`
	// FirmwareURL is the firmware image the Firmware:1 cases (9.3) install,
	// FirmwareVersion the SoftwareVersion the agent reports after it, and
	// FirmwareSize its size in bytes (optional).
	FirmwareURL     string `json:"firmware_url,omitempty"`
	FirmwareVersion string `json:"firmware_version,omitempty"`
	FirmwareSize    string `json:"firmware_size,omitempty"`
	// RebootTimeout bounds the wait for a rebooted agent to come back
	// (default 5m).
	RebootTimeout Duration `json:"reboot_timeout,omitempty"`
	// Skip lists case numbers not to run, with the reason as value.
	Skip map[string]string `json:"skip,omitempty"`
	// BulkDataSecond is how long one second of the agent's bulk data
	// clock lasts (section 10): the plan's ReportingInterval and retry
	// intervals are counted in it. 1 s (the default) for any real agent;
	// the kit's own tests run usptest with a shorter one
	// (usptest.WithBulkDataSecond) and say so here.
	BulkDataSecond Duration `json:"bulk_data_second,omitempty"`
	// AgentWebSocketURL is where the agent accepts WebSocket sessions
	// (7.2); default: the enabled Device.LocalAgent.MTP.{i} with Protocol
	// WebSocket, on the address the agent connects from.
	AgentWebSocketURL string `json:"agent_websocket_url,omitempty"`
	// SecuredParameter is a parameter instance with TR-181's secured
	// attribute and a value, for 2.27 ("Device.Users.User.1.Password"):
	// GetSupportedDM does not say which parameters are secured.
	SecuredParameter string `json:"secured_parameter,omitempty"`
	// PeriodicNotifInterval is the Controller.{i}.PeriodicNotifInterval,
	// in seconds, that 3.5 gives the agent so that a Periodic! Notify makes
	// it open a session context (default 60, the plan's figure). A shorter
	// one shortens the wait; the result notes the change.
	PeriodicNotifInterval int `json:"periodic_notif_interval,omitempty"`
}

// Duration is a time.Duration written as "10s" in JSON.
type Duration time.Duration

// UnmarshalJSON reads "10s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("conformance: duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("conformance: duration must be a string such as \"10s\" or seconds")
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// LoadConfig reads a JSON configuration file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(b)
}

// ParseConfig reads a JSON configuration.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("conformance: configuration: %w", err)
	}
	for k := range c.Features {
		if _, err := strconv.Atoi(k); err != nil {
			return Config{}, fmt.Errorf("conformance: configuration: feature %q is not a TP-469 feature number", k)
		}
	}
	return c, nil
}

func (c Config) responseTimeout() time.Duration { return orDefault(c.ResponseTimeout, 10*time.Second) }
func (c Config) notifyTimeout() time.Duration   { return orDefault(c.NotifyTimeout, 20*time.Second) }
func (c Config) rebootTimeout() time.Duration   { return orDefault(c.RebootTimeout, 5*time.Minute) }
func (c Config) quietPeriod() time.Duration     { return orDefault(c.QuietPeriod, 3*time.Second) }
func (c Config) bulkSecond() time.Duration      { return orDefault(c.BulkDataSecond, time.Second) }

// periodicInterval is 3.5's PeriodicNotifInterval in seconds.
func (c Config) periodicInterval() int {
	if c.PeriodicNotifInterval <= 0 {
		return 60
	}
	return c.PeriodicNotifInterval
}

func orDefault(d Duration, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return time.Duration(d)
}
