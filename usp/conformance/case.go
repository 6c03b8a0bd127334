package conformance

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Feature is a feature ID of TP-469's table "Test Cases Required by Profile
// and Option Support": conditional mandatory cases apply only to agents
// that support the feature.
type Feature int

// The features the implemented cases depend on, numbered as in TP-469.
const (
	FeatCommand              Feature = 1
	FeatCommandWithArgs      Feature = 2
	FeatAsyncCommand         Feature = 3
	FeatNotifExpiration      Feature = 4
	FeatControllerProfile    Feature = 5
	FeatTimeToLive           Feature = 6
	FeatControllerWritable   Feature = 7
	FeatSendOnBoardRequest   Feature = 8
	FeatScheduleTimer        Feature = 9
	FeatReboot               Feature = 10
	FeatControllerTrust      Feature = 12
	FeatControllerTrustWrite Feature = 13
	FeatTLS                  Feature = 15
	FeatSTOMP                Feature = 17
	FeatWebSocket            Feature = 19
	FeatSecureMessage        Feature = 23
	FeatSessionContext       Feature = 24
	FeatAddCertificate       Feature = 25
	FeatFirmware             Feature = 26
	FeatFirmwareActivate     Feature = 27
	FeatFirmwareCancel       Feature = 28
	FeatBootFirmwareImage    Feature = 30
	FeatNestedMultiInstance  Feature = 31
	FeatMQTT311              Feature = 35
	FeatMQTT5                Feature = 36
	FeatTriggerAction        Feature = 37
	FeatCommandInputArgs     Feature = 38
	FeatEventWithArgs        Feature = 39
	FeatOnBoarding           Feature = 42
)

var featureNames = map[Feature]string{
	FeatCommand:              "at least one command",
	FeatCommandWithArgs:      "at least one command with input arguments",
	FeatAsyncCommand:         "at least one asynchronous command",
	FeatNotifExpiration:      "Subscription.{i}.NotifExpiration",
	FeatControllerProfile:    "Controller:1 profile",
	FeatTimeToLive:           "Subscription.{i}.TimeToLive",
	FeatControllerWritable:   "Controller:1 profile (writable)",
	FeatSendOnBoardRequest:   "Controller.{i}.SendOnBoardRequest()",
	FeatScheduleTimer:        "Device.ScheduleTimer()",
	FeatReboot:               "Reboot:1 profile",
	FeatControllerTrust:      "ControllerTrust:1 profile",
	FeatControllerTrustWrite: "ControllerTrust:1 profile (writable)",
	FeatTLS:                  "TLS at the MTP layer",
	FeatSTOMP:                "STOMP MTP",
	FeatWebSocket:            "WebSocket MTP",
	FeatSecureMessage:        "secure message exchange",
	FeatSessionContext:       "USP session context",
	FeatAddCertificate:       "LocalAgent.AddCertificate()",
	FeatFirmware:             "Firmware:1 profile",
	FeatFirmwareActivate:     "Firmware:1 profile (Activate)",
	FeatFirmwareCancel:       "Firmware:1 profile with Request.{i}.Cancel()",
	FeatBootFirmwareImage:    "DeviceInfo.BootFirmwareImage",
	FeatNestedMultiInstance:  "a nested multi-instance object",
	FeatMQTT311:              "MQTT 3.1.1 MTP",
	FeatMQTT5:                "MQTT 5.0 MTP",
	FeatTriggerAction:        "Subscription TriggerAction",
	FeatCommandInputArgs:     "a command with input arguments",
	FeatEventWithArgs:        "an event with arguments",
	FeatOnBoarding:           "OnBoardingComplete and OnBoardingRestartTime",
}

func (f Feature) String() string {
	if n, ok := featureNames[f]; ok {
		return fmt.Sprintf("feature %d (%s)", int(f), n)
	}
	return fmt.Sprintf("feature %d", int(f))
}

// Case is one TP-469 test case: its number and title as the plan gives them,
// the features it is conditional on (none: mandatory), and its procedure,
// which plays the test equipment's role through a [T] and checks the plan's
// test metrics with [T.Check] and [T.Require].
type Case struct {
	// ID is the TP-469 number, "1.24".
	ID string
	// Title is the TP-469 title.
	Title string
	// Features lists the TP-469 feature IDs the case is conditional on; the
	// case applies when the agent supports all of them. Empty: mandatory.
	Features []Feature
	// Slow says how long the procedure waits by design (the plan's own
	// waits), so that quick runs can leave such cases out.
	Slow time.Duration
	// Destructive marks cases whose procedure changes state the kit did
	// not create and cannot fully put back (a reboot, deleting every
	// subscription); they run only when the configuration allows it.
	Destructive string
	// Run is the procedure. It must check at least one criterion.
	Run func(t *T)
}

// Section returns the TP-469 section number of the case ("1" of "1.24").
func (c *Case) Section() int {
	s, _, _ := strings.Cut(c.ID, ".")
	n, _ := strconv.Atoi(s)
	return n
}

// Tag is the case's functionality tag in the plan's words.
func (c *Case) Tag() string {
	if len(c.Features) == 0 {
		return "Mandatory"
	}
	parts := make([]string, len(c.Features))
	for i, f := range c.Features {
		parts[i] = f.String()
	}
	return "Conditional Mandatory: " + strings.Join(parts, ", ")
}

// order compares TP-469 numbers numerically ("1.9" before "1.10").
func order(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

// SectionTitle returns TP-469's title of a section.
func SectionTitle(n int) string {
	switch n {
	case 1:
		return "Messages and Path Names"
	case 2:
		return "Authentication and Access Control"
	case 3:
		return "USP Records"
	case 4:
		return "General MTP"
	case 6:
		return "STOMP"
	case 7:
		return "WebSocket"
	case 8:
		return "Discovery"
	case 9:
		return "Functionality"
	case 10:
		return "Bulk Data Collection"
	case 11:
		return "MQTT"
	}
	return ""
}

// Verdict is the outcome of one case.
type Verdict string

// Verdicts. Only Pass and Skip and NeedsOperator leave a run successful;
// Fail means a criterion of the plan was not met, Error that the kit could not
// carry out the procedure (a setup step the agent refused, a lost
// connection), so that nothing can be concluded.
const (
	Pass          Verdict = "pass"
	Fail          Verdict = "fail"
	Skip          Verdict = "skip"
	NeedsOperator Verdict = "needs-operator"
	Error         Verdict = "error"
)

// Criterion is one test metric as it was checked.
type Criterion struct {
	// Metric is the number of the test metric in the plan (0 for a check
	// the kit adds, such as a response arriving at all).
	Metric int    `json:"metric"`
	Text   string `json:"text"`
	OK     bool   `json:"ok"`
	// Detail says what was seen when the criterion failed.
	Detail string `json:"detail,omitempty"`
}

// Result is what running one case found.
type Result struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Section  int           `json:"section"`
	Tag      string        `json:"tag"`
	Verdict  Verdict       `json:"verdict"`
	Reason   string        `json:"reason,omitempty"`
	Criteria []Criterion   `json:"criteria,omitempty"`
	Notes    []string      `json:"notes,omitempty"`
	Cleanup  []string      `json:"cleanup_failures,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Trace    []TraceEntry  `json:"trace,omitempty"`
}

// Failed returns the criteria that were not met.
func (r *Result) Failed() []Criterion {
	var out []Criterion
	for _, c := range r.Criteria {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}
