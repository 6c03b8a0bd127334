package usptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
)

// bulkDataSchema is TR-181's Device.BulkData. (the BulkDataColl:1 profile
// with its HTTP, MQTT and USPEventNotif variants), in the format of
// Model.Define. The agent acts on it: see syncBulk.
const bulkDataSchema = `
Device.BulkData.
  Enable                         boolean rw = false
  Status                         string r enum=Enabled,Disabled,Error = Disabled
  MinReportingInterval           unsignedInt r = 1
  Protocols                      string r = HTTP,MQTT,USPEventNotif
  EncodingTypes                  string r = JSON,CSV
  ParameterWildCardSupported     boolean r = true
  MaxNumberOfProfiles            int r = -1
  MaxNumberOfParameterReferences int r = -1
  ProfileNumberOfEntries         unsignedInt r = 0

Device.BulkData.Profile.{i}.  add-delete  keys=Alias
  Enable                         boolean rw = false
  Alias                          string rw
  Name                           string rw
  NumberOfRetainedFailedReports  int rw = 0
  Protocol                       string rw enum=HTTP,MQTT,USPEventNotif = HTTP
  EncodingType                   string rw enum=JSON,CSV = JSON
  ReportingInterval              unsignedInt rw = 86400
  TimeReference                  dateTime rw = 0001-01-01T00:00:00Z
  ParameterNumberOfEntries       unsignedInt r = 0
  Push!                          args=Data
  ForceCollection()              sync

Device.BulkData.Profile.{i}.Parameter.{i}.  add-delete
  Name                           string rw
  Reference                      string rw

Device.BulkData.Profile.{i}.CSVEncoding.
  FieldSeparator                 string rw = ,
  RowSeparator                   string rw = &#13;&#10;
  EscapeCharacter                string rw = &quot;
  ReportFormat                   string rw enum=ParameterPerRow,ParameterPerColumn = ParameterPerColumn
  RowTimestamp                   string rw enum=Unix-Epoch,ISO-8601,None = Unix-Epoch

Device.BulkData.Profile.{i}.JSONEncoding.
  ReportFormat                   string rw enum=ObjectHierarchy,NameValuePair = ObjectHierarchy
  ReportTimestamp                string rw enum=Unix-Epoch,ISO-8601,None = Unix-Epoch

Device.BulkData.Profile.{i}.HTTP.
  URL                            string rw
  Username                       string rw
  Password                       string rw
  CompressionsSupported          string r = GZIP,None
  Compression                    string rw enum=GZIP,None = None
  MethodsSupported               string r = POST,PUT
  Method                         string rw enum=POST,PUT = POST
  UseDateHeader                  boolean rw = true
  RetryEnable                    boolean rw = false
  RetryMinimumWaitInterval       unsignedInt rw = 5
  RetryIntervalMultiplier        unsignedInt rw = 2000
  RequestURIParameterNumberOfEntries unsignedInt r = 0
  PersistAcrossReboot            boolean rw = false

Device.BulkData.Profile.{i}.HTTP.RequestURIParameter.{i}.  add-delete
  Name                           string rw
  Reference                      string rw

Device.BulkData.Profile.{i}.MQTT.
  Reference                      string rw
  PublishTopic                   string rw
  PublishQoS                     unsignedInt rw = 0
  PublishRetain                  boolean rw = false
`

const bulkPrefix = "Device.BulkData."

// BulkDataFault breaks usptest's bulk data collection on purpose, for
// tests of a collector or of the conformance kit: each field set makes
// every report wrong in one way.
type BulkDataFault struct {
	// ContentType, if set, replaces the Content-Type of HTTP reports and
	// the Content Type property of MQTT ones.
	ContentType string
	// NoReportFormat leaves out the BBF-Report-Format header.
	NoReportFormat bool
	// NoRetry makes the agent give up after a failed HTTP transfer even
	// with HTTP.RetryEnable true.
	NoRetry bool
	// FieldSeparator, if set, separates CSV fields instead of the
	// profile's CSVEncoding.FieldSeparator.
	FieldSeparator string
	// NoIdentity leaves out the oui, pc and sn URI query parameters.
	NoIdentity bool
	// FullNames reports every parameter under its full path, as if no
	// Parameter entry had a Name.
	FullNames bool
	// PushArg, if set, names the Push! event's argument instead of Data.
	PushArg string
}

// bulkOptions is what the agent's options say about bulk data.
type bulkOptions struct {
	second time.Duration // one second of the profiles' intervals
	client *http.Client
	fault  BulkDataFault
}

// WithBulkDataSecond sets how long one second of a bulk data profile's
// ReportingInterval and HTTP retry intervals lasts, 1 s by default: tests
// shorten it so that a profile set to report every 60 s reports every
// 60 × d. It must be positive.
func WithBulkDataSecond(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return optErr("bulk data second %v is not positive", d)
		}
		c.bulk.second = d
		return nil
	}
}

// WithBulkDataHTTPClient sets the client that sends HTTP and HTTPS bulk
// data reports, e.g. one that trusts a test collector's certificate.
func WithBulkDataHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return optErr("nil bulk data HTTP client")
		}
		c.bulk.client = hc
		return nil
	}
}

// WithBulkDataFault breaks the agent's bulk data reports as f says.
func WithBulkDataFault(f BulkDataFault) Option {
	return func(c *config) error {
		c.bulk.fault = f
		return nil
	}
}

// bulkRef is one Parameter or RequestURIParameter entry: a report name
// and the path it references.
type bulkRef struct{ name, ref string }

// bulkProfile is what the agent read from one enabled profile. Its
// fmt rendering is the key syncBulk compares to see a change.
type bulkProfile struct {
	path, protocol, encoding string
	interval                 uint32
	timeRef                  time.Time
	retained                 int
	refs                     []bulkRef

	csvField, csvRow, csvEscape, csvFormat, csvStamp string
	jsonFormat, jsonStamp                            string

	url, user, password, method, compression string
	useDate, retry                           bool
	retryMin, retryMult                      uint32
	uriParams                                []bulkRef

	mqttRef, mqttTopic string
	mqttQoS            byte
	mqttRetain         bool
}

// bulkRun is a profile's running collector.
type bulkRun struct {
	key    string
	cancel context.CancelFunc
	force  chan struct{}
}

// bulkChanged reports whether a change touches Device.BulkData.
func bulkChanged(chs []change) bool {
	for _, c := range chs {
		if strings.HasPrefix(c.path, bulkPrefix) && c.kind != chEvent {
			return true
		}
	}
	return false
}

// syncBulk starts a collector for each enabled profile, and stops or
// restarts those whose profile was disabled, deleted or changed. It runs
// on the agent's worker, which Close waits for before it waits for the
// collectors, so no collector starts after Close.
func (a *Agent) syncBulk() {
	if a.runCtx.Err() != nil {
		return
	}
	m := a.model
	vals, err := m.Values(bulkPrefix)
	if err != nil {
		return
	}
	enabled, _ := datamodel.ParseBool(vals[bulkPrefix+"Enable"])
	status := "Disabled"
	if enabled {
		status = "Enabled"
	}
	if vals[bulkPrefix+"Status"] != status {
		_ = m.Set(bulkPrefix+"Status", status)
	}
	want := map[string]*bulkProfile{}
	if enabled {
		for _, p := range readBulkProfiles(vals) {
			want[p.path] = p
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.bulkRuns == nil {
		a.bulkRuns = map[string]*bulkRun{}
	}
	for path, r := range a.bulkRuns {
		if p, ok := want[path]; !ok || fmt.Sprintf("%+v", *p) != r.key {
			r.cancel()
			delete(a.bulkRuns, path)
		}
	}
	for path, p := range want {
		if _, ok := a.bulkRuns[path]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(a.runCtx)
		r := &bulkRun{key: fmt.Sprintf("%+v", *p), cancel: cancel, force: make(chan struct{}, 1)}
		a.bulkRuns[path] = r
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.collect(ctx, p, r.force)
		}()
	}
}

// forceCollection runs Device.BulkData.Profile.{i}.ForceCollection(): the
// profile's collector reports at once, out of its schedule.
func (a *Agent) forceCollection(profile string) {
	a.mu.Lock()
	r := a.bulkRuns[profile]
	a.mu.Unlock()
	if r != nil {
		select {
		case r.force <- struct{}{}:
		default:
		}
	}
}

// readBulkProfiles reads the enabled profiles out of Device.BulkData.'s
// values.
func readBulkProfiles(vals map[string]string) []*bulkProfile {
	byPath := map[string]*bulkProfile{}
	refs := map[string]map[string]*bulkRef{} // by profile, then by entry path
	uris := map[string]map[string]*bulkRef{}
	entry := func(set map[string]map[string]*bulkRef, prof, inst string) *bulkRef {
		if set[prof] == nil {
			set[prof] = map[string]*bulkRef{}
		}
		if set[prof][inst] == nil {
			set[prof][inst] = &bulkRef{}
		}
		return set[prof][inst]
	}
	for path, v := range vals {
		rest, ok := strings.CutPrefix(path, bulkPrefix+"Profile.")
		if !ok {
			continue
		}
		n, rest, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		prof := bulkPrefix + "Profile." + n + "."
		p := byPath[prof]
		if p == nil {
			p = &bulkProfile{path: prof}
			byPath[prof] = p
		}
		u := func() uint32 { x, _ := datamodel.ParseUnsignedInt(v); return x }
		b := func() bool { x, _ := datamodel.ParseBool(v); return x }
		switch {
		case strings.HasPrefix(rest, "Parameter."):
			inst, leaf, _ := strings.Cut(strings.TrimPrefix(rest, "Parameter."), ".")
			setRef(entry(refs, prof, inst), leaf, v)
		case strings.HasPrefix(rest, "HTTP.RequestURIParameter."):
			inst, leaf, _ := strings.Cut(strings.TrimPrefix(rest, "HTTP.RequestURIParameter."), ".")
			setRef(entry(uris, prof, inst), leaf, v)
		}
		switch rest {
		case "Enable":
			if !b() {
				p.path = "" // disabled: dropped below
			}
		case "Protocol":
			p.protocol = v
		case "EncodingType":
			p.encoding = v
		case "ReportingInterval":
			p.interval = u()
		case "TimeReference":
			p.timeRef, _ = datamodel.ParseDateTime(v)
		case "NumberOfRetainedFailedReports":
			n, _ := datamodel.ParseInt(v)
			p.retained = int(n)
		case "CSVEncoding.FieldSeparator":
			p.csvField = html.UnescapeString(v)
		case "CSVEncoding.RowSeparator":
			p.csvRow = html.UnescapeString(v)
		case "CSVEncoding.EscapeCharacter":
			p.csvEscape = html.UnescapeString(v)
		case "CSVEncoding.ReportFormat":
			p.csvFormat = v
		case "CSVEncoding.RowTimestamp":
			p.csvStamp = v
		case "JSONEncoding.ReportFormat":
			p.jsonFormat = v
		case "JSONEncoding.ReportTimestamp":
			p.jsonStamp = v
		case "HTTP.URL":
			p.url = v
		case "HTTP.Username":
			p.user = v
		case "HTTP.Password":
			p.password = v
		case "HTTP.Method":
			p.method = v
		case "HTTP.Compression":
			p.compression = v
		case "HTTP.UseDateHeader":
			p.useDate = b()
		case "HTTP.RetryEnable":
			p.retry = b()
		case "HTTP.RetryMinimumWaitInterval":
			p.retryMin = u()
		case "HTTP.RetryIntervalMultiplier":
			p.retryMult = u()
		case "MQTT.Reference":
			p.mqttRef = v
		case "MQTT.PublishTopic":
			p.mqttTopic = v
		case "MQTT.PublishQoS":
			p.mqttQoS = byte(min(u(), 2))
		case "MQTT.PublishRetain":
			p.mqttRetain = b()
		}
	}
	var out []*bulkProfile
	for key, p := range byPath {
		if p.path == "" || p.interval == 0 {
			continue
		}
		for _, inst := range slices.SortedFunc(maps.Keys(refs[key]), byNumber) {
			p.refs = append(p.refs, *refs[key][inst])
		}
		for _, inst := range slices.SortedFunc(maps.Keys(uris[key]), byNumber) {
			p.uriParams = append(p.uriParams, *uris[key][inst])
		}
		out = append(out, p)
	}
	return out
}

func setRef(r *bulkRef, leaf, v string) {
	switch leaf {
	case "Name":
		r.name = v
	case "Reference":
		r.ref = v
	}
}

func byNumber(a, b string) int {
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	return x - y
}

// bulkItem is one parameter of a report: its report name, value and
// TR-106 base type.
type bulkItem struct {
	name, value string
	typ         datamodel.ValueType
}

// bulkReport is the parameters collected at one time.
type bulkReport struct {
	at    time.Time
	items []bulkItem
}

// collect runs one profile until ctx ends: it collects a report every
// ReportingInterval (counted from TimeReference when one is set, else
// from when the profile was enabled) and delivers it.
func (a *Agent) collect(ctx context.Context, p *bulkProfile, force <-chan struct{}) {
	unit := a.cfg.bulk.second
	if unit <= 0 {
		unit = time.Second
	}
	interval := time.Duration(p.interval) * unit
	start := time.Now()
	first := interval
	if !p.timeRef.IsZero() && p.timeRef.Year() > 1 {
		// Reports fall on TimeReference + n × ReportingInterval.
		since := a.cfg.clock().Sub(p.timeRef)
		first = interval - time.Duration(math.Mod(float64(since), float64(interval)))
		if first <= 0 {
			first += interval
		}
	}
	var failed []bulkReport
	next := start.Add(first)
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-force:
			t.Stop()
		case <-t.C:
			next = next.Add(interval)
		}
		rep := a.collectReport(p)
		failed = a.deliver(ctx, p, rep, failed, next)
	}
}

// collectReport reads the profile's parameters from the model: wildcards
// and object paths expand to every parameter they cover, named as TR-369's
// bulk data annex says (R-BULK.9, R-BULK.10).
func (a *Agent) collectReport(p *bulkProfile) bulkReport {
	m := a.model
	rep := bulkReport{at: a.cfg.clock()}
	for _, r := range p.refs {
		vals, err := m.Values(r.ref)
		if err != nil {
			continue // not in the instantiated model now: filtered out
		}
		for _, path := range slices.SortedFunc(maps.Keys(vals), pathCompare) {
			name := reportName(r, path)
			if a.cfg.bulk.fault.FullNames {
				name = path
			}
			rep.items = append(rep.items, bulkItem{name: name, value: vals[path], typ: m.typeOf(path)})
		}
	}
	return rep
}

// reportName is the name a parameter gets in a report: the full path when
// the entry has no Name; else the Name, followed by the instance numbers
// that stand for the reference's wildcards and by the rest of the path
// below an object reference.
func reportName(r bulkRef, path string) string {
	if r.name == "" {
		return path
	}
	ref := strings.Split(strings.TrimSuffix(r.ref, "."), ".")
	got := strings.Split(path, ".")
	parts := []string{r.name}
	for i, seg := range ref {
		if seg == "*" && i < len(got) {
			parts = append(parts, got[i])
		}
	}
	if strings.HasSuffix(r.ref, ".") && len(got) > len(ref) {
		parts = append(parts, got[len(ref):]...)
	}
	return strings.Join(parts, ".")
}

// typeOf returns the TR-106 type of a concrete parameter, string when it
// is not known.
func (m *Model) typeOf(path string) datamodel.ValueType {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, pd, err := m.concreteParam(path)
	if err != nil {
		return datamodel.TypeString
	}
	return pd.Type
}

// deliver sends a report (with the failed reports retained before it) by
// the profile's protocol and returns the failed reports to retain for the
// next interval.
func (a *Agent) deliver(ctx context.Context, p *bulkProfile, rep bulkReport, failed []bulkReport, deadline time.Time) []bulkReport {
	switch p.protocol {
	case "USPEventNotif":
		// Each report is a Notify of its own; the notification retry
		// carries failures (NumberOfRetainedFailedReports does not apply).
		body, _, _ := a.encodeBulk(p, []bulkReport{rep})
		arg := orStr(a.cfg.bulk.fault.PushArg, "Data")
		a.enqueue(func() {
			a.notifyChanges([]change{{kind: chEvent, path: p.path + "Push!", keys: map[string]string{arg: string(body)}}})
		})
		return nil
	case "MQTT":
		body, ctype, _ := a.encodeBulk(p, append(failed, rep))
		if a.publishBulk(ctx, p, body, ctype) == nil {
			return nil
		}
		return retain(p, failed, rep)
	}
	all := append(slices.Clone(failed), rep)
	fault := a.cfg.bulk.fault
	for n := 1; ; n++ {
		if a.postBulk(ctx, p, all) == nil {
			return nil
		}
		if !p.retry || fault.NoRetry {
			break
		}
		// R-BULK.2: the Notify retry algorithm, m·(k/1000)^(n-1) to
		// m·(k/1000)^n seconds, the range fixed from the tenth retry.
		lo, hi := retryRange(p.retryMin, p.retryMult, min(n, 10), a.cfg.bulk.second)
		wait := lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
		if time.Now().Add(wait).After(deadline) {
			break // the next reporting interval takes over (R-BULK.3)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return retain(p, failed, rep)
}

// retryRange is the wait before retry n (from 1).
func retryRange(m, k uint32, n int, unit time.Duration) (lo, hi time.Duration) {
	if unit <= 0 {
		unit = time.Second
	}
	f := float64(k) / 1000
	lo = time.Duration(float64(m) * math.Pow(f, float64(n-1)) * float64(unit))
	hi = time.Duration(float64(m) * math.Pow(f, float64(n)) * float64(unit))
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// retain keeps a failed report for the next interval, as many as
// NumberOfRetainedFailedReports allows (-1: all), the oldest dropped first.
func retain(p *bulkProfile, failed []bulkReport, rep bulkReport) []bulkReport {
	switch {
	case p.retained == 0:
		return nil
	case p.retained < 0:
		return append(failed, rep)
	}
	all := append(failed, rep)
	if len(all) > p.retained {
		all = all[len(all)-p.retained:]
	}
	return all
}

var errBulkRefused = errors.New("usptest: bulk data collector refused the report")

// postBulk sends reports in one HTTP request.
func (a *Agent) postBulk(ctx context.Context, p *bulkProfile, reps []bulkReport) error {
	body, ctype, format := a.encodeBulk(p, reps)
	u, err := url.Parse(p.url)
	if err != nil || u.Host == "" {
		return fmt.Errorf("usptest: bulk data URL %q: %v", p.url, err)
	}
	q := u.Query()
	m := a.model
	if !a.cfg.bulk.fault.NoIdentity {
		// R-BULK.1: the device's identity as URI query parameters.
		for name, path := range map[string]string{"oui": "Device.DeviceInfo.ManufacturerOUI",
			"pc": "Device.DeviceInfo.ProductClass", "sn": "Device.DeviceInfo.SerialNumber"} {
			if v, err := m.Get(path); err == nil {
				q.Set(name, v)
			}
		}
	}
	for _, r := range p.uriParams {
		if v, err := m.Get(r.ref); err == nil {
			q.Add(r.name, v)
		}
	}
	u.RawQuery = q.Encode()
	if p.compression == "GZIP" {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
	}
	method := p.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	if a.cfg.bulk.fault.ContentType != "" {
		req.Header.Set("Content-Type", a.cfg.bulk.fault.ContentType)
	}
	if !a.cfg.bulk.fault.NoReportFormat {
		req.Header.Set("BBF-Report-Format", `"`+format+`"`)
	}
	if p.compression == "GZIP" {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if p.useDate {
		req.Header.Set("Date", a.cfg.clock().UTC().Format(http.TimeFormat))
	}
	if p.user != "" {
		req.SetBasicAuth(p.user, p.password)
	}
	hc := a.cfg.bulk.client
	if hc == nil {
		hc = bulkClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s", errBulkRefused, resp.Status)
	}
	return nil
}

// bulkClient sends reports when no client was given: a collector that
// does not answer must not hold a profile forever, and no idle connection
// outlives the agent (tests check for leaked goroutines).
var bulkClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// bulkPublisher is the part of an MQTT transport that publishes what is
// not a USP record; mtp/mqtt's Transport has it.
type bulkPublisher interface {
	Publish(ctx context.Context, topic string, payload []byte, p mqtt.Publication) error
}

// publishBulk publishes a report on the profile's MQTT.PublishTopic through
// the MQTT client its MQTT.Reference names, at its PublishQoS and
// PublishRetain, with the report's media type as the PUBLISH's Content
// Type (TR-369 annex "Bulk Data Collection", R-BULK.8a), not usp.msg.
func (a *Agent) publishBulk(ctx context.Context, p *bulkProfile, body []byte, ctype string) error {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p.mqttRef, "Device.MQTT.Client."), "."))
	if err != nil || n < 1 || n > len(a.mqttClients) || p.mqttTopic == "" {
		return fmt.Errorf("usptest: bulk data MQTT.Reference %q or PublishTopic %q unusable", p.mqttRef, p.mqttTopic)
	}
	b := a.mqttClients[n-1]
	if a.cfg.bulk.fault.ContentType != "" {
		ctype = a.cfg.bulk.fault.ContentType
	}
	if pub, ok := b.t.(bulkPublisher); ok {
		return pub.Publish(ctx, p.mqttTopic, body, mqtt.Publication{ContentType: ctype, QoS: p.mqttQoS, Retain: p.mqttRetain})
	}
	return b.t.Send(ctx, mtp.Address{MTP: mtp.MQTT, To: p.mqttTopic}, body)
}

// encodeBulk renders reports in the profile's encoding and returns the
// body, its media type and its report format.
func (a *Agent) encodeBulk(p *bulkProfile, reps []bulkReport) (body []byte, ctype, format string) {
	if p.encoding == "CSV" {
		return a.encodeCSV(p, reps), "text/csv; charset=UTF-8; header=present", orStr(p.csvFormat, "ParameterPerColumn")
	}
	return encodeJSON(p, reps), "application/json; charset=UTF-8", orStr(p.jsonFormat, "ObjectHierarchy")
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// stamp renders a collection time in a timestamp format; ok is false for
// "None".
func stamp(at time.Time, format string) (string, bool) {
	switch format {
	case "None":
		return "", false
	case "ISO-8601":
		return at.UTC().Format(time.RFC3339), true
	}
	return strconv.FormatInt(at.Unix(), 10), true
}

// encodeJSON renders reports as TR-369's {"Report": [...]}, one object per
// report, flat (NameValuePair) or nested by the dots of each name
// (ObjectHierarchy), values typed as the annex's table says.
func encodeJSON(p *bulkProfile, reps []bulkReport) []byte {
	var out []map[string]any
	for _, rep := range reps {
		obj := map[string]any{}
		if s, ok := stamp(rep.at, p.jsonStamp); ok {
			if p.jsonStamp == "ISO-8601" {
				obj["CollectionTime"] = s
			} else {
				obj["CollectionTime"] = json.Number(s)
			}
		}
		for _, it := range rep.items {
			v := jsonValue(it)
			if p.jsonFormat == "NameValuePair" {
				obj[it.name] = v
				continue
			}
			segs := strings.Split(it.name, ".")
			at := obj
			for _, s := range segs[:len(segs)-1] {
				child, ok := at[s].(map[string]any)
				if !ok {
					child = map[string]any{}
					at[s] = child
				}
				at = child
			}
			at[segs[len(segs)-1]] = v
		}
		out = append(out, obj)
	}
	b, _ := json.Marshal(map[string]any{"Report": out})
	return b
}

func jsonValue(it bulkItem) any {
	switch it.typ {
	case datamodel.TypeBoolean:
		if b, err := datamodel.ParseBool(it.value); err == nil {
			return b
		}
	case datamodel.TypeInt, datamodel.TypeLong, datamodel.TypeUnsignedInt, datamodel.TypeUnsignedLong:
		if it.value != "" {
			return json.Number(it.value)
		}
	}
	return it.value
}

// encodeCSV renders reports as CSV with the profile's separators, one
// header line for all of them (TR-369 appends retained reports' rows
// without a header).
func (a *Agent) encodeCSV(p *bulkProfile, reps []bulkReport) []byte {
	field, row, esc := orStr(p.csvField, ","), orStr(p.csvRow, "\r\n"), orStr(p.csvEscape, `"`)
	if f := a.cfg.bulk.fault.FieldSeparator; f != "" {
		field = f
	}
	quote := func(s string) string {
		if !strings.Contains(s, field) && !strings.Contains(s, esc) && !strings.ContainsAny(s, row+"\r\n") {
			return s
		}
		return esc + strings.ReplaceAll(s, esc, esc+esc) + esc
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteString(field)
			}
			b.WriteString(quote(c))
		}
		b.WriteString(row)
	}
	_, stamped := stamp(time.Time{}, p.csvStamp)
	var head []string
	if stamped {
		head = append(head, "ReportTimestamp")
	}
	if p.csvFormat == "ParameterPerRow" {
		line(append(head, "ParameterName", "ParameterValue", "ParameterType"))
		for _, rep := range reps {
			ts, _ := stamp(rep.at, p.csvStamp)
			for _, it := range rep.items {
				cells := []string{it.name, it.value, it.typ.String()}
				if stamped {
					cells = append([]string{ts}, cells...)
				}
				line(cells)
			}
		}
		return []byte(b.String())
	}
	if len(reps) > 0 {
		for _, it := range reps[len(reps)-1].items {
			head = append(head, it.name)
		}
	}
	line(head)
	for _, rep := range reps {
		var cells []string
		if ts, ok := stamp(rep.at, p.csvStamp); ok {
			cells = append(cells, ts)
		}
		for _, it := range rep.items {
			cells = append(cells, it.value)
		}
		line(cells)
	}
	return []byte(b.String())
}
