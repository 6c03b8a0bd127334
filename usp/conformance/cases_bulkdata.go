package conformance

import (
	"context"
	"fmt"
	"html"
	"mime"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/msg"
)

// Section 10: Bulk Data Collection. The HTTP cases (10.1-10.9) have the
// agent post its reports to the kit's receivers ([BulkReceiver], given
// with [WithBulkDataReceivers]); the Push! cases (10.10-10.12) read the
// reports from the profile's Push! event; 10.13 watches the kit's MQTT
// broker for the reports the agent publishes. Every case creates its own
// profile (and posts to a receiver path of its own), deletes it
// afterwards and puts Device.BulkData.Enable back. The plan's intervals
// are counted in the agent's bulk data seconds (Config.BulkDataSecond).
func init() {
	const slow, retrySlow = 130 * time.Second, 200 * time.Second
	httpJSON := []string{"HTTP", "JSON"}
	httpCSV := []string{"HTTP", "CSV"}
	http := []string{"HTTP"}
	push := []string{"USPEventNotif"}
	register(
		&Case{ID: "10.1", Title: "Use BulkData collection using HTTP and JSON", Slow: slow, Run: bulkHTTP(false, httpJSON, checkOne("UpTime"))},
		&Case{ID: "10.2", Title: "Use BulkData collection using HTTPS and JSON", Slow: slow, Run: bulkHTTP(true, httpJSON, checkOne("UpTime"))},
		&Case{ID: "10.3", Title: "Use BulkData collection using HTTP and CSV", Slow: slow, Run: bulkHTTP(false, httpCSV, checkOne("UpTime"))},
		&Case{ID: "10.4", Title: "Use BulkData collection using HTTPS and CSV", Slow: slow, Run: bulkHTTP(true, httpCSV, checkOne("UpTime"))},
		&Case{ID: "10.5", Title: "Use BulkData collection using HTTP with URI Parameters", Slow: slow, Run: bulkURIParams(false)},
		&Case{ID: "10.6", Title: "Use BulkData collection using HTTPS with URI Parameters", Slow: slow, Run: bulkURIParams(true)},
		&Case{ID: "10.7", Title: "BulkData collection retry mechanism over HTTP", Slow: retrySlow, Run: run10_7},
		&Case{ID: "10.8", Title: "Use BulkData collection using HTTP with wildcard parameter", Slow: slow, Run: bulkWildcard(http)},
		&Case{ID: "10.9", Title: "Use BulkData collection using HTTP with Object Path", Slow: slow, Run: bulkObjectPath},
		&Case{ID: "10.10", Title: "Use BulkData collection Push event", Slow: slow, Run: bulkPush(push, func(t *T) (bulkRef, reportCheck) {
			return bulkRef{"UpTime", "Device.DeviceInfo.UpTime"}, checkOne("UpTime")
		})},
		&Case{ID: "10.11", Title: "Use BulkData collection Push event with Wildcard path", Slow: slow, Run: bulkPush(push, func(t *T) (bulkRef, reportCheck) {
			bootParameters(t)
			return bulkRef{"Enabled", "Device.LocalAgent.Controller.*.BootParameter.*.Enable"}, checkWildcard
		})},
		&Case{ID: "10.12", Title: "Use BulkData collection Push event with Object path", Slow: slow, Run: bulkPush(push, func(t *T) (bulkRef, reportCheck) {
			ctrl := t.Controller()
			want := "Controller." + strings.TrimPrefix(ctrl, "Device.LocalAgent.Controller.") + "EndpointID"
			return bulkRef{"Controller", "Device.LocalAgent.Controller."}, func(c *Metric, rep BulkReport) {
				names := rep.Names()
				c.Expect(len(names) > 0, "the report has no parameters")
				for _, n := range names {
					c.Expect(strings.HasPrefix(n, "Controller."), "parameter %q lacks the prefix \"Controller.\"", n)
				}
				c.Expect(slices.Contains(names, want), "no %s (the test controller's EndpointID) among %v", want, names)
			}
		})},
		&Case{ID: "10.13", Title: "Use BulkData collection over MQTT", Slow: slow, Run: run10_13},
	)
}

// bulkSlack is how late the kit lets a report or retry be, beyond the
// plan's bound: each HTTP transfer opens its own connection, and the
// agent's timers and the kit's clock both run on loaded machines. 1 s is
// under 1 % of the plan's 130 s windows; the lower bounds of 10.7's retry
// intervals keep the tighter retrySlack.
const bulkSlack = time.Second

// bulkRef is a Parameter (or RequestURIParameter) entry: a name and a
// reference.
type bulkRef struct{ name, ref string }

// reportCheck checks the parameters of one report for metric 3.
type reportCheck func(c *Metric, rep BulkReport)

// checkOne wants exactly one parameter, named name.
func checkOne(name string) reportCheck {
	return func(c *Metric, rep BulkReport) {
		names := rep.Names()
		c.Expect(len(names) == 1 && names[0] == name, "parameters %v, want the one parameter %q", names, name)
	}
}

// enabledName is the name 10.8 and 10.11 want for each BootParameter.
var enabledName = regexp.MustCompile(`^Enabled\.[1-9][0-9]*\.[1-9][0-9]*$`)

func checkWildcard(c *Metric, rep BulkReport) {
	var n int
	for _, name := range rep.Names() {
		if enabledName.MatchString(name) {
			n++
		}
	}
	c.Expect(n >= 2, "%d parameters named Enabled.<i>.<j> among %v, want at least 2", n, rep.Names())
}

// bulkEnv is what a case learned of the agent's bulk data support.
type bulkEnv struct {
	interval int // ReportingInterval: max(60, MinReportingInterval)
	unit     time.Duration
	encoding string // the encoding the case uses
	identity map[string]string
}

// needBulk skips the case unless the agent has Device.BulkData. with the
// protocol and, when given, the encoding (the plan's functionality tags);
// want lists the protocol and then, optionally, the encoding.
func needBulk(t *T, want []string) *bulkEnv {
	if t.env.Objects != nil {
		if _, ok := t.env.Object("Device.BulkData."); !ok {
			t.Skipf("the agent does not support BulkDataColl:1: its data model has no Device.BulkData.")
		}
	}
	r := setup[*msg.GetResp](t, "Get Device.BulkData.", msg.Get{Paths: []string{"Device.BulkData.Protocols",
		"Device.BulkData.EncodingTypes", "Device.BulkData.MinReportingInterval"}})
	if r.Err() != nil {
		t.Skipf("the agent does not support BulkDataColl:1: %v", r.Err())
	}
	v := r.Values()
	protocols, encodings := splitList(v["Device.BulkData.Protocols"]), splitList(v["Device.BulkData.EncodingTypes"])
	if !slices.Contains(protocols, want[0]) {
		t.Skipf("%q is not in Device.BulkData.Protocols (%q)", want[0], v["Device.BulkData.Protocols"])
	}
	e := &bulkEnv{interval: 60, unit: t.cfg.bulkSecond()}
	if n, err := strconv.Atoi(v["Device.BulkData.MinReportingInterval"]); err == nil && n > e.interval {
		e.interval = n
	}
	switch {
	case len(want) > 1:
		if !slices.Contains(encodings, want[1]) {
			t.Skipf("%q is not in Device.BulkData.EncodingTypes (%q)", want[1], v["Device.BulkData.EncodingTypes"])
		}
		e.encoding = want[1]
	case slices.Contains(encodings, "JSON"):
		e.encoding = "JSON"
	case slices.Contains(encodings, "CSV"):
		e.encoding = "CSV"
	default:
		t.Skipf("Device.BulkData.EncodingTypes (%q) has neither JSON nor CSV", v["Device.BulkData.EncodingTypes"])
	}
	if len(want) == 1 {
		t.Notef("the plan leaves the encoding to the test equipment: %s", e.encoding)
	}
	// What R-BULK.1's oui, pc and sn must say, where the agent has it.
	e.identity = map[string]string{}
	paths := map[string]string{"oui": "Device.DeviceInfo.ManufacturerOUI", "pc": "Device.DeviceInfo.ProductClass",
		"sn": "Device.DeviceInfo.SerialNumber", "eid": "Device.LocalAgent.EndpointID"}
	for k, p := range paths {
		ex := t.Send(msg.Get{Paths: []string{p}})
		if ex.Err != nil {
			continue
		}
		if r, err := msg.ParseGetResp(ex.Response); err == nil && r.Err() == nil {
			if val, ok := r.Values()[p]; ok {
				e.identity[k] = val
			}
		}
	}
	return e
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// secs is n of the agent's bulk data seconds.
func (e *bulkEnv) secs(n float64) time.Duration { return time.Duration(n * float64(e.unit)) }

// window is the plan's wait for two reports, (ReportingInterval × 2) + 10
// seconds.
func (e *bulkEnv) window() time.Duration { return e.secs(float64(e.interval*2 + 10)) }

// createProfile adds the profile with params (and Parameter entries), and
// returns its path and the CSV layout it will use.
func createProfile(t *T, e *bulkEnv, params map[string]string, refs ...bulkRef) (string, CSVFormat) {
	params["ReportingInterval"] = strconv.Itoa(e.interval)
	params["EncodingType"] = e.encoding
	prof, _ := t.Create("Device.BulkData.Profile.", params)
	for _, r := range refs {
		t.Create(prof+"Parameter.", map[string]string{"Name": r.name, "Reference": r.ref})
	}
	f := DefaultCSVFormat
	if e.encoding == "CSV" {
		v := t.GetValues(prof + "CSVEncoding.")
		f = CSVFormat{Field: html.UnescapeString(v[prof+"CSVEncoding.FieldSeparator"]),
			Row: html.UnescapeString(v[prof+"CSVEncoding.RowSeparator"]), Escape: html.UnescapeString(v[prof+"CSVEncoding.EscapeCharacter"]),
			ReportFormat: v[prof+"CSVEncoding.ReportFormat"], RowTimestamp: v[prof+"CSVEncoding.RowTimestamp"]}
		t.Notef("the profile's CSV layout: field %q, row %q, escape %q, %s, RowTimestamp %s", f.Field, f.Row, f.Escape, f.ReportFormat, f.RowTimestamp)
	}
	return prof, f
}

// enableProfile sets Device.BulkData.Enable and the profile's Enable to
// true in one Set, as the plan does, and returns when the agent answered.
func enableProfile(t *T, prof string) time.Time {
	const global = "Device.BulkData.Enable"
	t.SetLater(map[string]string{global: t.GetValues(global)[global]})
	r := setup[*msg.SetResp](t, "Set the Enable parameters", msg.Set{Objects: []msg.SetObject{
		{Path: "Device.BulkData.", Params: []msg.Param{{Name: "Enable", Value: "true", Required: true}}},
		{Path: prof, Params: []msg.Param{{Name: "Enable", Value: "true", Required: true}}},
	}})
	if err := r.Err(); err != nil {
		t.Abortf("setup: enabling the profile: %v", err)
	}
	return time.Now()
}

// receiver returns the kit's HTTP or HTTPS receiver, or ends the case as
// needing one.
func receiver(t *T, secure bool) *BulkReceiver {
	r := t.eq.bulkHTTP
	if secure {
		r = t.eq.bulkHTTPS
	}
	if r == nil {
		kind := "HTTP"
		if secure {
			kind = "HTTPS"
		}
		t.NeedsOperatorf("needs the kit's %s bulk data receiver, reachable by the agent (WithBulkDataReceivers; uspctl conform --serve-bulkdata)", kind)
	}
	return r
}

// traceTransfers puts the HTTP requests in the case's evidence.
func traceTransfers(t *T, trs []BulkTransfer) {
	for _, tr := range trs {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s?%s\n", tr.Method, tr.Path, tr.Query.Encode())
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range tr.Header {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(tr.Header[k], ", "))
		}
		body := string(tr.Body)
		if len(body) > 2000 {
			body = body[:2000] + "…"
		}
		b.WriteString("\n" + body)
		t.trace(TraceEntry{Time: tr.Time, Dir: Received, Peer: "bulk data receiver", Size: len(tr.Body),
			MsgType: "HTTP " + tr.Method, Body: b.String(), Note: fmt.Sprintf("answered %d", tr.Status)})
	}
}

// awaitTransfers waits up to d for n requests on path.
func awaitTransfers(t *T, r *BulkReceiver, path string, n int, d time.Duration) ([]BulkTransfer, bool) {
	ctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	return r.Await(ctx, path, n)
}

// decodeTransfer checks an HTTP report's headers (R-BULK.7, R-BULK.8,
// R-BULK.11) and decodes its body.
func decodeTransfer(c *Metric, tr BulkTransfer, encoding string, f CSVFormat) []BulkReport {
	ct := tr.Header.Get("Content-Type")
	media, params, err := mime.ParseMediaType(ct)
	want := map[string]string{"JSON": "application/json", "CSV": "text/csv"}[encoding]
	c.Expect(err == nil && media == want, "transfer %d: Content-Type %q, want %s", tr.Seq, ct, want)
	c.Expect(params["charset"] != "", "transfer %d: Content-Type %q has no charset (R-BULK.7)", tr.Seq, ct)
	if encoding == "CSV" {
		c.Expect(params["header"] == "present", "transfer %d: Content-Type %q does not say header=present (R-BULK.11)", tr.Seq, ct)
	}
	c.Expect(tr.Header.Get("BBF-Report-Format") != "", "transfer %d: no BBF-Report-Format header (R-BULK.8)", tr.Seq)
	if tr.Err != "" {
		c.Expect(false, "transfer %d: body: %s", tr.Seq, tr.Err)
		return nil
	}
	reps, err := decodeReport(tr.Body, encoding, f)
	c.Expect(err == nil, "transfer %d: %v", tr.Seq, err)
	return reps
}

func decodeReport(b []byte, encoding string, f CSVFormat) ([]BulkReport, error) {
	var reps []BulkReport
	var err error
	if encoding == "CSV" {
		reps, err = ParseCSVReport(b, f)
	} else {
		reps, err = ParseJSONReport(b)
	}
	if err == nil && len(reps) == 0 {
		err = fmt.Errorf("%w: no report in the transfer", ErrBadReport)
	}
	return reps, err
}

// checkIdentity checks R-BULK.1's URI query parameters: oui, pc and sn, or
// eid, with the agent's values.
func checkIdentity(c *Metric, e *bulkEnv, trs []BulkTransfer) {
	for _, tr := range trs {
		q := tr.Query
		if q.Get("eid") != "" {
			if want, ok := e.identity["eid"]; ok {
				c.Expect(q.Get("eid") == want, "transfer %d: eid=%q, the agent's EndpointID is %q", tr.Seq, q.Get("eid"), want)
			}
			continue
		}
		for _, k := range []string{"oui", "pc", "sn"} {
			if !c.Expect(q.Get(k) != "", "transfer %d: no %s (nor eid) in the URI query %q", tr.Seq, k, tr.Query.Encode()) {
				continue
			}
			if want, ok := e.identity[k]; ok {
				c.Expect(q.Get(k) == want, "transfer %d: %s=%q, the agent says %q", tr.Seq, k, q.Get(k), want)
			}
		}
	}
}

// lastReport is the report of the transfer's own interval (retained
// failed ones come first).
func lastReport(reps []BulkReport) BulkReport {
	if len(reps) == 0 {
		return BulkReport{}
	}
	return reps[len(reps)-1]
}

// httpRun is the common part of the HTTP cases: the profile is created,
// enabled, and the first two transfers awaited and checked for metric 1;
// it returns them, and the CSV layout, for the case's own metrics.
func httpRun(t *T, secure bool, want []string, refs []bulkRef, uris []bulkRef) (*bulkEnv, []BulkTransfer, CSVFormat) {
	e := needBulk(t, want)
	recv := receiver(t, secure)
	path := recv.NewPath(t.c.ID)
	prof, f := createProfile(t, e, map[string]string{"Protocol": "HTTP", "HTTP.URL": recv.URL(path)}, refs...)
	for _, u := range uris {
		t.Create(prof+"HTTP.RequestURIParameter.", map[string]string{"Name": u.name, "Reference": u.ref})
	}
	start := enableProfile(t, prof)
	trs, ok := awaitTransfers(t, recv, path, 2, e.window()+bulkSlack)
	traceTransfers(t, trs)
	kind := "HTTP"
	if secure {
		kind = "HTTPS"
	}
	m1 := t.Metric(1, fmt.Sprintf("After enabling the BulkData profile the EUT sent 2 BulkData transfers to the %s endpoint within %d ((ReportingInterval * 2) + 10) seconds", kind, e.interval*2+10))
	if m1.Expect(ok, "%d transfers in %v", len(trs), e.window()) {
		trs = trs[:2]
		m1.Expect(trs[1].Time.Sub(start) <= e.window()+bulkSlack, "the second after %v", trs[1].Time.Sub(start).Round(time.Millisecond))
		for _, tr := range trs {
			m1.Expect(tr.TLS == secure, "transfer %d: TLS %t", tr.Seq, tr.TLS)
			m1.Expect(tr.Status == 200, "transfer %d answered %d", tr.Seq, tr.Status)
		}
	}
	m1.Must()
	return e, trs, f
}

// decodeAll decodes the transfers' reports, each problem a problem of c.
func decodeAll(c *Metric, trs []BulkTransfer, encoding string, f CSVFormat) [][]BulkReport {
	var out [][]BulkReport
	for _, tr := range trs {
		if r := decodeTransfer(c, tr, encoding, f); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// bulkHTTP is 10.1-10.4: one parameter, checked by check.
func bulkHTTP(secure bool, want []string, check reportCheck) func(*T) {
	return func(t *T) {
		e, trs, f := httpRun(t, secure, want, []bulkRef{{"UpTime", "Device.DeviceInfo.UpTime"}}, nil)
		m2 := t.Metric(2, fmt.Sprintf("The encoding of the BulkData transfer is %s and is well formed (parsable)", e.encoding))
		reps := decodeAll(m2, trs, e.encoding, f)
		m2.Must()
		m3 := t.Metric(3, "The BulkData transfer contains the one parameter configured in step 4 and the name of the parameter matches the expected name 'UpTime'")
		for _, r := range reps {
			check(m3, lastReport(r))
		}
		m3.End()
		m4 := t.Metric(4, "The Manufacturer OUI, Product Class and Serial Number or the USP Endpoint ID are encoded as URI parameters in the request")
		checkIdentity(m4, e, trs)
		m4.End()
	}
}

// bulkURIParams is 10.5 and 10.6.
func bulkURIParams(secure bool) func(*T) {
	return func(t *T) {
		e, trs, _ := httpRun(t, secure, []string{"HTTP"}, []bulkRef{{"UpTime", "Device.DeviceInfo.UpTime"}},
			[]bulkRef{{"UpTime", "Device.LocalAgent.UpTime"}})
		m2 := t.Metric(2, "The EUT includes the EUT UpTime encoded into the URI using the name 'UpTime'")
		for _, tr := range trs {
			v, ok := tr.Query["UpTime"]
			if m2.Expect(ok && len(v) == 1, "transfer %d: URI query %q has %d UpTime parameters", tr.Seq, tr.Query.Encode(), len(v)) {
				_, err := strconv.ParseUint(v[0], 10, 32)
				m2.Expect(err == nil, "transfer %d: UpTime=%q is not an unsignedInt", tr.Seq, v[0])
			}
		}
		m2.End()
		m3 := t.Metric(3, "The Manufacturer OUI, Product Class and Serial Number or the USP Endpoint ID are also encoded as URI parameters in the request")
		checkIdentity(m3, e, trs)
		m3.End()
	}
}

// bootParameters makes sure the test controller has at least two
// BootParameter entries (the setup of 10.8 and 10.11).
func bootParameters(t *T) {
	ctrl := t.Controller()
	t.NeedParam("Device.LocalAgent.Controller.{i}.BootParameter.{i}.Enable")
	table := ctrl + "BootParameter."
	have := t.Instances(table)
	used := map[string]bool{}
	if len(have) > 0 {
		for p, v := range t.GetValues(table) {
			if strings.HasSuffix(p, ".ParameterName") {
				used[v] = true
			}
		}
	}
	for _, p := range []string{"Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.HardwareVersion",
		"Device.DeviceInfo.ModelName", "Device.LocalAgent.SoftwareVersion"} {
		if len(have) >= 2 {
			return
		}
		if used[p] {
			continue
		}
		path, _ := t.Create(table, map[string]string{"Enable": "true", "ParameterName": p})
		have = append(have, path)
	}
}

// bulkWildcard is 10.8.
func bulkWildcard(want []string) func(*T) {
	return func(t *T) {
		bootParameters(t)
		e, trs, f := httpRun(t, false, want, []bulkRef{{"Enabled", "Device.LocalAgent.Controller.*.BootParameter.*.Enable"}}, nil)
		m2 := t.Metric(2, "At least two \"Enable\" are in the BulkData transfer with the parameter names matching Enabled\\.[1-9][0-9]*\\.[1-9][0-9]*")
		reps := decodeAll(m2, trs, e.encoding, f)
		for _, r := range reps {
			checkWildcard(m2, lastReport(r))
		}
		m2.End()
		m3 := t.Metric(3, "The Manufacturer OUI, Product Class and Serial Number or the USP Endpoint ID are also encoded as URI parameters in the request")
		checkIdentity(m3, e, trs)
		m3.End()
	}
}

// bulkObjectPath is 10.9.
func bulkObjectPath(t *T) {
	ctrl := t.Controller()
	var want []string
	for p := range t.GetValues(ctrl) {
		want = append(want, "TestController."+strings.TrimPrefix(p, ctrl))
	}
	slices.Sort(want)
	e, trs, f := httpRun(t, false, []string{"HTTP"}, []bulkRef{{"TestController", ctrl}}, nil)
	m2 := t.Metric(2, "All the parameters included in the BulkData transfer match TestController.<parameter> and all expected parameters are present")
	reps := decodeAll(m2, trs, e.encoding, f)
	for _, r := range reps {
		names := lastReport(r).Names()
		for _, n := range names {
			m2.Expect(strings.HasPrefix(n, "TestController."), "parameter %q lacks the prefix \"TestController.\"", n)
		}
		var missing []string
		for _, w := range want {
			if !slices.Contains(names, w) {
				missing = append(missing, w)
			}
		}
		m2.Expect(len(missing) == 0, "missing %v", missing)
	}
	m2.End()
	m3 := t.Metric(3, "The Manufacturer OUI, Product Class and Serial Number or the USP Endpoint ID are also encoded as URI parameters in the request")
	checkIdentity(m3, e, trs)
	m3.End()
}

// run10_7 disables the collector (it answers 503), lets the agent fail
// and retry twice, enables it before the third retry and checks each
// interval against R-BULK.2's ranges with m = 5 and k = 2000: 5-10, 10-20
// and 20-40 seconds, the plan's waits (13, 23, 43 s) as upper bounds.
func run10_7(t *T) {
	e := needBulk(t, []string{"HTTP"})
	recv := receiver(t, false)
	path := recv.NewPath(t.c.ID)
	prof, _ := createProfile(t, e, map[string]string{"Protocol": "HTTP", "HTTP.URL": recv.URL(path),
		"HTTP.RetryEnable": "true", "HTTP.RetryMinimumWaitInterval": "5", "HTTP.RetryIntervalMultiplier": "2000"},
		bulkRef{"UpTime", "Device.DeviceInfo.UpTime"})
	recv.Fail(path, 503)
	t.Cleanup("accept "+path+" again", func(context.Context) error { recv.Fail(path, 0); return nil })
	start := enableProfile(t, prof)
	var trs []BulkTransfer
	defer func() { traceTransfers(t, trs) }()
	next := func(n int, d time.Duration) bool {
		got, ok := awaitTransfers(t, recv, path, n, d)
		trs = got
		return ok
	}
	m1 := t.Metric(1, fmt.Sprintf("After enabling the BulkData profile the EUT sent 2 BulkData transfers to the HTTP endpoint within %d ((ReportingInterval * 2) + 10) seconds", e.interval*2+10))
	if !next(1, e.secs(float64(e.interval+10))+bulkSlack) {
		m1.Expect(false, "no transfer in %v after enabling the profile", e.secs(float64(e.interval+10)))
		m1.Must()
	}
	m2 := t.Metric(2, "The EUT retries sending the BulkData transfer 3 times with each time occurring within the expected retry interval")
	// The plan's profile: HTTP.RetryMinimumWaitInterval 5,
	// HTTP.RetryIntervalMultiplier 2000.
	rule := retryRule{min: e.secs(5), mult: 2000, names: bulkRetryNames}
	for i := range 3 {
		lo, hi := rule.window(i + 1)
		if i == 2 {
			recv.Fail(path, 0) // the plan enables the endpoint before the third retry
		}
		if !next(i+2, hi+e.secs(3)+bulkSlack) {
			m2.Expect(false, "no retry %d within %v of the failed transfer at %s", i+1, hi+e.secs(3), trs[i].Time.Format("15:04:05.000"))
			m2.Must()
		}
		if i < 2 {
			// A retry redelivers the same report; the third may be
			// overtaken by the next interval's (R-BULK.3).
			m2.Expect(string(trs[i+1].Body) == string(trs[i].Body), "transfer %d is not the report of transfer %d again", trs[i+1].Seq, trs[i].Seq)
		}
		ok, ev := checkRetry(i+1, trs[i+1].Time.Sub(trs[i].Time), "the failed transfer", lo, hi, e.secs(3)+bulkSlack-retrySlack, rule)
		m2.Expect(ok, "%s", ev)
	}
	m2.End()
	// After the successful retry, the next transfer is the next interval's
	// report: the one after that in the schedule the first attempt began.
	ok := next(5, e.secs(float64(e.interval+10))+bulkSlack)
	accepted := 0
	for _, tr := range trs {
		if tr.Status == 200 {
			accepted++
		}
	}
	m1.Expect(ok && accepted >= 2, "%d transfers accepted after the endpoint was enabled (of %d transfers, the last %v after enabling the profile)",
		accepted, len(trs), trs[len(trs)-1].Time.Sub(start).Round(time.Millisecond))
	m1.End()
	// A retry carries the same report again; the next interval's report
	// is a new collection. Neither comes before the first attempt's
	// schedule allows a report.
	m4 := t.Metric(4, "The EUT does not attempt to retry the BulkData transfer after receiving a positive response")
	if m4.Expect(ok, "no transfer after the successful retry to tell") {
		m4.Expect(string(trs[4].Body) != string(trs[3].Body), "transfer %d, %v after the accepted transfer %d, sends the same report again",
			trs[4].Seq, trs[4].Time.Sub(trs[3].Time).Round(time.Millisecond), trs[3].Seq)
		gap := trs[4].Time.Sub(trs[0].Time)
		m4.Expect(gap >= e.secs(float64(e.interval))-retrySlack, "transfer %d came %v after the first attempt, before the next reporting interval",
			trs[4].Seq, gap.Round(time.Millisecond))
	}
	m4.End()
	m3 := t.Metric(3, "The Manufacturer OUI, Product Class and Serial Number or the USP Endpoint ID are encoded as URI parameters in each request")
	checkIdentity(m3, e, trs)
	m3.End()
}

// bulkPush is 10.10-10.12: the profile reports by Push! events to a
// subscription of the test controller.
func bulkPush(want []string, what func(t *T) (bulkRef, reportCheck)) func(*T) {
	return func(t *T) {
		e := needBulk(t, want)
		ref, check := what(t)
		prof, f := createProfile(t, e, map[string]string{"Protocol": "USPEventNotif"}, ref)
		id := "tp469-" + t.c.ID + "-push"
		notifySub(t, 0, id, "Event", prof+"Push!")
		mark := t.Mark()
		start := enableProfile(t, prof)
		isPush := func(n *msg.Notify) bool {
			ev, ok := n.Notification.(*msg.Event)
			return ok && n.SubscriptionID == id && ev.EventName == "Push!" && ev.ObjPath == prof
		}
		seen := map[int]bool{}
		ctx, cancel := context.WithDeadline(t.ctx, start.Add(e.window()+bulkSlack))
		t.eq.Await(ctx, mark, func(ib Inbound) bool {
			if n := ib.Notify(); n != nil && isPush(n) {
				seen[ib.Seq] = true
			}
			return len(seen) >= 2
		})
		cancel()
		got := t.Notifies(mark, isPush)
		m1 := t.Metric(1, fmt.Sprintf("After enabling the BulkData profile the EUT sent 2 BulkData transfer Push! events to the controller within %d ((ReportingInterval * 2) + 10) seconds", e.interval*2+10))
		if m1.Expect(len(got) >= 2, "%d Push! events of %s in %v", len(got), prof, e.window()) {
			got = got[:2]
			m1.Expect(got[1].Time.Sub(start) <= e.window()+bulkSlack, "the second after %v", got[1].Time.Sub(start).Round(time.Millisecond))
		}
		m1.Must()
		m2 := t.Metric(2, "The encoding of the Data parameter in the Push! notification is well formed (parsable)")
		var reps [][]BulkReport
		for _, ib := range got {
			data, ok := ib.Notify().Notification.(*msg.Event).Params["Data"]
			if !m2.Expect(ok, "the Push! event has no Data argument") {
				continue
			}
			r, err := decodeReport([]byte(data), e.encoding, f)
			if m2.Expect(err == nil, "Data: %v", err) {
				reps = append(reps, r)
			}
		}
		m2.Must()
		m3 := t.Metric(3, "The BulkData transfer contains the parameters configured in step 4 under the expected names")
		for _, r := range reps {
			check(m3, lastReport(r))
		}
		m3.End()
	}
}

// run10_13 has the agent publish its reports on the kit's MQTT broker,
// through the Device.MQTT.Client entry connected to it.
func run10_13(t *T) {
	e := needBulk(t, []string{"MQTT"})
	b := t.eq.broker
	if b == nil {
		t.NeedsOperatorf("needs the agent connected to the kit's MQTT broker, to watch the topic it publishes reports on (WithMQTTBroker; uspctl conform --serve-mqtt)")
	}
	client := ""
	if u, err := url.Parse(b.URL()); err == nil {
		ex := t.Send(msg.Get{Paths: []string{"Device.MQTT.Client.*.BrokerPort"}})
		if r, err := msg.ParseGetResp(ex.Response); ex.Err == nil && err == nil {
			for p, v := range r.Values() {
				if v == u.Port() {
					client = strings.TrimSuffix(p, "BrokerPort")
				}
			}
		}
	}
	if client == "" {
		t.NeedsOperatorf("the agent has no Device.MQTT.Client entry for the kit's broker at %s", b.URL())
	}
	const topic = "mqtt-bulkdata"
	prof, f := createProfile(t, e, map[string]string{"Protocol": "MQTT", "MQTT.Reference": strings.TrimSuffix(client, "."),
		"MQTT.PublishTopic": topic}, bulkRef{"UpTime", "Device.DeviceInfo.UpTime"})
	mark := b.Mark()
	start := enableProfile(t, prof)
	isReport := func(p MQTTPacket) bool { return p.Type == "PUBLISH" && p.Topic == topic && !b.isEquipment(p.ClientID) }
	deadline := start.Add(e.window() + bulkSlack)
	var got []MQTTPacket
	for {
		got = got[:0]
		for _, p := range b.Packets(mark) {
			if isReport(p) {
				got = append(got, p)
			}
		}
		if len(got) >= 2 || time.Now().After(deadline) {
			break
		}
		t.Sleep(min(50*time.Millisecond, e.secs(1)))
	}
	for _, p := range got {
		t.trace(TraceEntry{Time: p.Time, Dir: Received, Peer: "kit MQTT broker", Size: len(p.Payload), MsgType: "MQTT PUBLISH",
			Body: fmt.Sprintf("topic %s, content type %q\n\n%s", p.Topic, p.ContentType, p.Payload)})
	}
	m1 := t.Metric(1, fmt.Sprintf("After enabling the BulkData profile the EUT published 2 BulkData transfers to the MQTT server using the configured topic within %d ((ReportingInterval * 2) + 10) seconds", e.interval*2+10))
	if m1.Expect(len(got) >= 2, "%d PUBLISH packets on %s in %v", len(got), topic, e.window()) {
		got = got[:2]
		m1.Expect(got[1].Time.Sub(start) <= e.window()+bulkSlack, "the second after %v", got[1].Time.Sub(start).Round(time.Millisecond))
	}
	m1.Must()
	m2 := t.Metric(2, "The encoding of the Data parameter in the MQTT frame notification is well formed (parsable)")
	var reps [][]BulkReport
	for _, p := range got {
		r, err := decodeReport(p.Payload, e.encoding, f)
		if m2.Expect(err == nil, "PUBLISH %d: %v", p.Seq, err) {
			reps = append(reps, r)
		}
	}
	m2.Must()
	m3 := t.Metric(3, "The BulkData transfer contains the one parameter configured in step 4 and the name of the parameter matches the expected name 'UpTime'")
	for _, r := range reps {
		checkOne("UpTime")(m3, lastReport(r))
	}
	m3.End()
}
