package otelusp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/gousp/gousp/contrib/otelusp"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type setup struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	pair   *usptest.Pair
}

func start(t *testing.T, ctx context.Context) *setup {
	t.Helper()
	s := &setup{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	h, err := otelusp.New(otelusp.WithTracerProvider(tp), otelusp.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	p, err := usptest.StartPair(ctx, usptest.WithControllerOptions(usp.WithHooks(h)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	unreg, err := h.Observe(p.Controller)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unreg() })
	s.pair = p
	return s
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		out[kv.Key] = kv.Value
	}
	return out
}

func TestRequestSpans(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := start(t, ctx)

	// A parent span in the caller's context: the request's span is its
	// child, so the start hook saw the caller's context.
	parentTP := sdktrace.NewTracerProvider()
	defer func() { _ = parentTP.Shutdown(context.Background()) }()
	pctx, parent := parentTP.Tracer("test").Start(ctx, "caller")
	if _, err := s.pair.Agent.GetValue(pctx, "Device.DeviceInfo.Manufacturer"); err != nil {
		t.Fatal(err)
	}
	parent.End()
	// An Add of an object that is not a table: the agent answers Error.
	_, err := s.pair.Agent.Add(ctx, msg.Add{Objects: []msg.AddObject{{Path: "Device.DeviceInfo."}}})
	var me *msg.Error
	if !errors.As(err, &me) {
		t.Fatalf("Add of a non-table: %v, want an Error message", err)
	}

	ended := s.spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want 2", len(ended))
	}
	get, add := ended[0], ended[1]
	if get.Name() != "usp GET" || get.SpanKind() != trace.SpanKindClient {
		t.Errorf("span %q kind %v", get.Name(), get.SpanKind())
	}
	if get.Parent().TraceID() != parent.SpanContext().TraceID() || get.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("GET span's parent %v, want the caller's span", get.Parent())
	}
	a := attrs(get.Attributes())
	if a[otelusp.AttrMsgType].AsString() != "GET" || a[otelusp.AttrAgentID].AsString() != usptest.PairAgentID ||
		a[otelusp.AttrMsgID].AsString() == "" || a[otelusp.AttrOutcome].AsString() != "ok" ||
		a[otelusp.AttrResponseType].AsString() != "GET_RESP" {
		t.Errorf("GET span attributes %v", a)
	}
	if get.Status().Code != codes.Unset {
		t.Errorf("GET span status %v", get.Status())
	}
	a = attrs(add.Attributes())
	if add.Name() != "usp ADD" || a[otelusp.AttrOutcome].AsString() != "agent_error" ||
		a[otelusp.AttrErrorCode].AsInt64() != int64(me.Code) || a[otelusp.AttrResponseType].AsString() != "ERROR" {
		t.Errorf("ADD span %q attributes %v", add.Name(), a)
	}
	if add.Status().Code != codes.Error || len(add.Events()) == 0 || add.Events()[0].Name != "exception" {
		t.Errorf("ADD span status %v events %v; want an error and the recorded error", add.Status(), add.Events())
	}

	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelusp.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			found[m.Name] = true
			switch m.Name {
			case "usp.request.duration":
				h := m.Data.(metricdata.Histogram[float64])
				var ok, failed uint64
				for _, dp := range h.DataPoints {
					o, _ := dp.Attributes.Value(otelusp.AttrOutcome)
					switch o.AsString() {
					case "ok":
						ok += dp.Count
					case "agent_error":
						failed += dp.Count
						if c, _ := dp.Attributes.Value(otelusp.AttrErrorCode); c.AsInt64() != int64(me.Code) {
							t.Errorf("agent_error point without its code: %v", dp.Attributes)
						}
					}
				}
				// The pair's start made requests too (GetSupportedProtocol):
				// at least the Get, exactly the one Add.
				if ok < 1 || failed != 1 {
					t.Errorf("durations: %d ok, %d agent_error", ok, failed)
				}
			case "usp.agents":
				g := m.Data.(metricdata.Gauge[int64])
				for _, dp := range g.DataPoints {
					if st, _ := dp.Attributes.Value(otelusp.AttrAgentState); st.AsString() == "online" && dp.Value != 1 {
						t.Errorf("agents online %d, want 1", dp.Value)
					}
				}
			case "usp.requests.pending":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if dp.Value != 0 {
						t.Errorf("pending %d after every call ended", dp.Value)
					}
				}
			}
		}
	}
	for _, name := range []string{"usp.request.duration", "usp.requests.pending", "usp.records", "usp.record.size",
		"usp.agent.changes", "usp.transport.changes", "usp.agents", "usp.intake.bytes", "usp.intake.records"} {
		if !found[name] {
			t.Errorf("no %s collected", name)
		}
	}
}
