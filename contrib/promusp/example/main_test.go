package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape reads the metrics over HTTP.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the value of the sample of family name whose labels include
// want (0 when there is none); a histogram's value is its sample count.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

func TestMetricsMove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		http.DefaultClient.CloseIdleConnections()
		if err := d.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	getOK := map[string]string{"type": "GET", "outcome": "ok"}
	setOK := map[string]string{"type": "SET", "outcome": "ok"}
	answered := map[string]string{"stage": "answered", "type": "ValueChange"}

	before := scrape(t, d.URL)
	if got := value(before, "usp_agents", map[string]string{"state": "online"}); got != 1 {
		t.Errorf("usp_agents{state=online} = %v, want 1", got)
	}
	if got := value(before, "usp_transport_up", map[string]string{"mtp": "memory"}); got != 1 {
		t.Errorf("usp_transport_up{mtp=memory} = %v, want 1", got)
	}
	for range 2 {
		if err := d.Exercise(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The notifications are answered after the Set returns: wait for them.
	var after map[string]*dto.MetricFamily
	for {
		after = scrape(t, d.URL)
		if value(after, "usp_notifications_total", answered) >= value(before, "usp_notifications_total", answered)+2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("notifications answered: %v before, %v after; want 2 more",
				value(before, "usp_notifications_total", answered), value(after, "usp_notifications_total", answered))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if b, a := value(before, "usp_requests_total", getOK), value(after, "usp_requests_total", getOK); a != b+2 {
		t.Errorf("GET ok requests %v -> %v, want 2 more", b, a)
	}
	if b, a := value(before, "usp_requests_total", setOK), value(after, "usp_requests_total", setOK); a != b+2 {
		t.Errorf("SET ok requests %v -> %v, want 2 more", b, a)
	}
	if b, a := value(before, "usp_request_duration_seconds", map[string]string{"type": "GET"}), value(after, "usp_request_duration_seconds", map[string]string{"type": "GET"}); a != b+2 {
		t.Errorf("GET latency samples %v -> %v, want 2 more", b, a)
	}
	if got := value(after, "usp_requests_pending", nil); got != 0 {
		t.Errorf("usp_requests_pending = %v after every call ended", got)
	}
	in := map[string]string{"direction": "in", "mtp": "memory"}
	if b, a := value(before, "usp_record_bytes_total", in), value(after, "usp_record_bytes_total", in); a <= b {
		t.Errorf("bytes in %v -> %v, want more", b, a)
	}
	if got := value(after, "usp_agent_changes_total", map[string]string{"change": "connected"}); got < 1 {
		t.Errorf("agent connected changes %v", got)
	}
}
