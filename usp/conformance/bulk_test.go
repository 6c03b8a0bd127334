package conformance

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/usp/usptest"
)

// bulkSecond is usptest's bulk data second in these tests: the plan's
// 60 s ReportingInterval lasts 1.2 s. 10.7 tells a retry from the next
// report by the report's CollectionTime, in whole seconds, so the
// interval must stay above one real second.
const bulkSecond = 20 * time.Millisecond

// bulkKit starts the kit's HTTP and HTTPS receivers for one test.
func bulkKit(t *testing.T) (plain, secure *BulkReceiver) {
	t.Helper()
	plain, err := StartBulkReceiver("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	secure, err = StartBulkReceiver("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = secure.Close() })
	return plain, secure
}

// bulkBench is a usptest agent on a short bulk data second that trusts
// the kit's HTTPS receiver, with the equipment knowing both receivers.
func bulkBench(t *testing.T, binding string, plain, secure *BulkReceiver, opts ...usptest.Option) (*Equipment, *usptest.Agent) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: secure.CertPool(), MinVersion: tls.VersionTLS12}}}
	t.Cleanup(hc.CloseIdleConnections)
	return benchFaulty(t, binding, wireFaults{eq: []Option{WithBulkDataReceivers(plain, secure)}},
		append([]usptest.Option{usptest.WithBulkDataSecond(bulkSecond), usptest.WithBulkDataHTTPClient(hc)}, opts...)...)
}

// slowReports gives 10.7's agent a MinReportingInterval of 120 s, so that
// the kit's ReportingInterval leaves room for all three retries before the
// next report, and a report never passes for a retry even on the kit's
// slack.
func slowReports(t *testing.T, agent *usptest.Agent) {
	t.Helper()
	if err := agent.Model().Set("Device.BulkData.MinReportingInterval", "120"); err != nil {
		t.Fatal(err)
	}
}

func bulkConfig() Config {
	cfg := quickConfig
	cfg.BulkDataSecond = Duration(bulkSecond)
	return cfg
}

// TestBulkData runs section 10 against usptest over memory and the kit's
// MQTT broker (which 10.13 needs), each case on its own agent and all at
// once: they mostly wait for reports. Each passes, and leaves the agent
// as it found it.
func TestBulkData(t *testing.T) {
	t.Parallel()
	cs, err := Select(All(), "10")
	if err != nil {
		t.Fatal(err)
	}
	plain, secure := bulkKit(t)
	for _, binding := range []string{"memory", "mqtt-kit"} {
		t.Run(binding, func(t *testing.T) {
			t.Parallel()
			results := make([]*Result, len(cs))
			before := make([]map[string]string, len(cs))
			eqs := make([]*Equipment, len(cs))
			var wg sync.WaitGroup
			for i, c := range cs {
				var agent *usptest.Agent
				eqs[i], agent = bulkBench(t, binding, plain, secure)
				if c.ID == "10.7" {
					slowReports(t, agent)
				}
				before[i] = snapshot(t, eqs[i])
				r := &Runner{Equipment: eqs[i], Config: bulkConfig()}
				env := r.Env(t.Context())
				wg.Go(func() { results[i] = r.RunCase(t.Context(), env, c) })
			}
			wg.Wait()
			for i, c := range cs {
				t.Run(c.ID, func(t *testing.T) {
					res := results[i]
					want := Pass
					if c.ID == "10.13" && binding == "memory" {
						want = NeedsOperator // no MQTT client to publish with
					}
					if res.Verdict != want {
						t.Errorf("%s: %s, want %s\n%s", res.Verdict, res.Reason, want, TextEvidence(res))
					}
					if len(res.Cleanup) > 0 {
						t.Errorf("cleanup failed: %v", res.Cleanup)
					}
					sameModel(t, before[i], snapshot(t, eqs[i]))
				})
			}
		})
	}
}

// TestBrokenBulkDataFails breaks usptest's reports one way at a time and
// checks that the matching case fails on the right metric, with the HTTP
// requests in its evidence.
func TestBrokenBulkDataFails(t *testing.T) {
	t.Parallel()
	plain, secure := bulkKit(t)
	for _, c := range []struct {
		name, id string
		fault    usptest.BulkDataFault
		metric   int
		detail   string
	}{
		{"wrong Content-Type", "10.1", usptest.BulkDataFault{ContentType: "text/plain"}, 2, `Content-Type "text/plain"`},
		{"no BBF-Report-Format", "10.2", usptest.BulkDataFault{NoReportFormat: true}, 2, "no BBF-Report-Format header"},
		{"wrong CSV separator", "10.3", usptest.BulkDataFault{FieldSeparator: ";"}, 2, `the header begins "ReportTimestamp;UpTime"`},
		{"no device identity", "10.5", usptest.BulkDataFault{NoIdentity: true}, 3, "no oui (nor eid) in the URI query"},
		{"no retry", "10.7", usptest.BulkDataFault{NoRetry: true}, 2, "no retry 1 within"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			eq, agent := bulkBench(t, "memory", plain, secure, usptest.WithBulkDataFault(c.fault))
			if c.id == "10.7" {
				slowReports(t, agent)
			}
			cs, _ := Select(All(), c.id)
			r := &Runner{Equipment: eq, Config: bulkConfig()}
			res := r.RunCase(t.Context(), r.Env(t.Context()), cs[0])
			expectFail(t, res, c.metric, c.detail, "received HTTP POST")
			if len(res.Cleanup) > 0 {
				t.Errorf("cleanup failed: %v", res.Cleanup)
			}
		})
	}
	for _, c := range []struct {
		name, id string
		fault    usptest.BulkDataFault
		metric   int
		detail   string
	}{
		{"Push! without Data", "10.10", usptest.BulkDataFault{PushArg: "Report"}, 2, "no Data argument"},
		{"wildcard names lost", "10.11", usptest.BulkDataFault{FullNames: true}, 3, "0 parameters named Enabled.<i>.<j>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			eq, _ := bulkBench(t, "memory", plain, secure, usptest.WithBulkDataFault(c.fault))
			res := runOne(t, eq, c.id, nil)
			expectFail(t, res, c.metric, c.detail, "received NOTIFY")
		})
	}
}

// TestBulkReceiver: the receiver records method, query, headers and the
// (gunzipped) body, fails a path on demand, and serves a given
// certificate over TLS.
func TestBulkReceiver(t *testing.T) {
	t.Parallel()
	cert, _, err := bulkCertificate(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartBulkReceiverTLS("127.0.0.1:0", cert)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := StartBulkReceiverTLS("127.0.0.1:0", tls.Certificate{}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("empty certificate: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.CertPool(), MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	path := r.NewPath("x")
	post := func(body []byte, gz bool) int {
		var b bytes.Buffer
		if gz {
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
		} else {
			b.Write(body)
		}
		req, _ := http.NewRequest(http.MethodPut, r.URL(path)+"?oui=00D09E&UpTime=5", &b)
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if s := post([]byte(`{"Report":[]}`), true); s != 200 {
		t.Errorf("status %d", s)
	}
	r.Fail(path, 503)
	if s := post([]byte("x"), false); s != 503 {
		t.Errorf("failing: status %d", s)
	}
	got, ok := r.Await(t.Context(), path, 2)
	if !ok || len(got) != 2 {
		t.Fatalf("%v %+v", ok, got)
	}
	g := got[0]
	if g.Method != http.MethodPut || !g.TLS || string(g.Body) != `{"Report":[]}` || g.Query.Get("UpTime") != "5" ||
		g.Header.Get("Content-Type") != "application/json; charset=UTF-8" || g.Status != 200 || got[1].Status != 503 {
		t.Errorf("%+v", got)
	}
	if n := len(r.Transfers(r.NewPath("x"))); n != 0 {
		t.Errorf("a new path has %d transfers", n)
	}
}
