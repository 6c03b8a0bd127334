package otelusp

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/gousp/gousp/contrib/otelusp"

// Attribute keys; see the package documentation.
const (
	AttrMsgType      = attribute.Key("usp.msg.type")
	AttrMsgID        = attribute.Key("usp.msg.id")
	AttrAgentID      = attribute.Key("usp.agent.id")
	AttrResponseType = attribute.Key("usp.response.type")
	AttrOutcome      = attribute.Key("usp.outcome")
	AttrErrorCode    = attribute.Key("usp.error.code")
	AttrNotifyStage  = attribute.Key("usp.notify.stage")
	AttrNotifyType   = attribute.Key("usp.notify.type")
	AttrAgentChange  = attribute.Key("usp.agent.change")
	AttrAgentState   = attribute.Key("usp.agent.state")
	AttrDirection    = attribute.Key("usp.record.direction")
	AttrMTP          = attribute.Key("usp.mtp")
	AttrTransportUp  = attribute.Key("usp.transport.up")
)

// Hooks traces a controller's requests and measures its activity. Give it
// to [usp.WithHooks]; [Hooks.Observe] adds the figures read on collection
// (agents by state, intake backlog).
type Hooks struct {
	tracer trace.Tracer
	meter  metric.Meter

	duration      metric.Float64Histogram
	pending       metric.Int64UpDownCounter
	notifications metric.Int64Counter
	agentChanges  metric.Int64Counter
	records       metric.Int64Counter
	recordSize    metric.Int64Histogram
	transport     metric.Int64Counter
	refused       metric.Int64Counter
	intakeWait    metric.Float64Histogram
}

// Option configures [New].
type Option func(*config)

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider sets where spans go (default: the global provider
// of otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets where measurements go (default: the global
// provider of otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// New makes the hooks and their instruments.
func New(opts ...Option) (*Hooks, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	h := &Hooks{tracer: cfg.tp.Tracer(ScopeName), meter: cfg.mp.Meter(ScopeName)}
	m := h.meter
	var err, e error
	keep := func(x error) {
		if err == nil {
			err = x
		}
	}
	h.duration, e = m.Float64Histogram("usp.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of requests to agents, from sending to their end."),
		metric.WithExplicitBucketBoundaries(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
	keep(e)
	h.pending, e = m.Int64UpDownCounter("usp.requests.pending", metric.WithUnit("{request}"),
		metric.WithDescription("Requests sent and not yet ended."))
	keep(e)
	h.notifications, e = m.Int64Counter("usp.notifications", metric.WithUnit("{notification}"),
		metric.WithDescription("Notifications from agents, by stage."))
	keep(e)
	h.agentChanges, e = m.Int64Counter("usp.agent.changes", metric.WithUnit("{change}"),
		metric.WithDescription("Agents connected, disconnected, moved, learned and evicted."))
	keep(e)
	h.records, e = m.Int64Counter("usp.records", metric.WithUnit("{record}"),
		metric.WithDescription("USP records received and sent."))
	keep(e)
	h.recordSize, e = m.Int64Histogram("usp.record.size", metric.WithUnit("By"),
		metric.WithDescription("Size of USP records received and sent."))
	keep(e)
	h.transport, e = m.Int64Counter("usp.transport.changes", metric.WithUnit("{change}"),
		metric.WithDescription("Transports coming up and going down."))
	keep(e)
	h.refused, e = m.Int64Counter("usp.intake.refused", metric.WithUnit("{record}"),
		metric.WithDescription("Records refused because their agent was past its share of the intake."))
	keep(e)
	h.intakeWait, e = m.Float64Histogram("usp.intake.wait", metric.WithUnit("s"),
		metric.WithDescription("How long a transport's delivery waited for room in the intake."))
	keep(e)
	if err != nil {
		return nil, fmt.Errorf("otelusp: making instruments: %w", err)
	}
	return h, nil
}

// Observe registers the figures read on each collection from c: the
// usp.agents gauge by usp.agent.state, and usp.intake.bytes and
// usp.intake.records. The returned function unregisters them.
func (h *Hooks) Observe(c *usp.Controller) (unregister func() error, err error) {
	agents, err := h.meter.Int64ObservableGauge("usp.agents", metric.WithUnit("{agent}"),
		metric.WithDescription("Agents in the controller's inventory, by state."))
	if err != nil {
		return nil, err
	}
	bytes, err := h.meter.Int64ObservableGauge("usp.intake.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of records received and not yet handled."))
	if err != nil {
		return nil, err
	}
	recs, err := h.meter.Int64ObservableGauge("usp.intake.records", metric.WithUnit("{record}"),
		metric.WithDescription("Records received and not yet handled."))
	if err != nil {
		return nil, err
	}
	reg, err := h.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := c.Inventory().Count()
		for _, s := range []usp.AgentState{usp.StateUnknown, usp.StateOnline, usp.StateOffline} {
			o.ObserveInt64(agents, int64(counts[s]), metric.WithAttributes(AttrAgentState.String(s.String())))
		}
		st := c.IntakeStats()
		o.ObserveInt64(bytes, st.Bytes)
		o.ObserveInt64(recs, int64(st.Records))
		return nil
	}, agents, bytes, recs)
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}

// OnRequestStart implements [usp.RequestStartHook]: it starts the
// request's span, named "usp " and the message type ("usp GET").
func (h *Hooks) OnRequestStart(ctx context.Context, r usp.RequestStart) context.Context {
	h.pending.Add(ctx, 1)
	ctx, _ = h.tracer.Start(ctx, "usp "+r.Type.String(),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(r.Start),
		trace.WithAttributes(AttrMsgType.String(r.Type.String()), AttrMsgID.String(r.MsgID), AttrAgentID.String(r.AgentID)))
	return ctx
}

// OnRequestEnd implements [usp.RequestEndHook]: it ends the span with the
// outcome, and records the duration.
func (h *Hooks) OnRequestEnd(ctx context.Context, r usp.RequestEnd) {
	h.pending.Add(ctx, -1)
	attrs := []attribute.KeyValue{AttrMsgType.String(r.Type.String()), AttrOutcome.String(r.Outcome.String())}
	if r.Code != 0 {
		attrs = append(attrs, AttrErrorCode.Int(int(r.Code)))
	}
	h.duration.Record(ctx, r.Duration.Seconds(), metric.WithAttributes(attrs...))
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrOutcome.String(r.Outcome.String()))
	if r.Answered {
		span.SetAttributes(AttrResponseType.String(r.Response.String()))
	}
	if r.Code != 0 {
		span.SetAttributes(AttrErrorCode.Int(int(r.Code)))
	}
	if r.Err != nil {
		span.RecordError(r.Err)
		span.SetStatus(codes.Error, r.Err.Error())
	}
	span.End(trace.WithTimestamp(r.Start.Add(r.Duration)))
}

// OnNotify implements [usp.NotifyHook].
func (h *Hooks) OnNotify(ev usp.NotifyEvent) {
	h.notifications.Add(context.Background(), 1, metric.WithAttributes(
		AttrNotifyStage.String(ev.Stage.String()), AttrNotifyType.String(ev.Type)))
}

// OnAgentChange implements [usp.AgentHook].
func (h *Hooks) OnAgentChange(ev usp.AgentChange) {
	h.agentChanges.Add(context.Background(), 1, metric.WithAttributes(AttrAgentChange.String(ev.Kind.String())))
}

// OnRecord implements [usp.RecordHook]. The agent is not an attribute: a
// fleet's endpoint IDs would make one series per device.
func (h *Hooks) OnRecord(ev usp.RecordEvent) {
	attrs := metric.WithAttributes(AttrDirection.String(ev.Direction.String()), AttrMTP.String(string(ev.MTP)))
	h.records.Add(context.Background(), 1, attrs)
	h.recordSize.Record(context.Background(), int64(ev.Size), attrs)
}

// OnTransport implements [usp.TransportHook].
func (h *Hooks) OnTransport(ev usp.TransportEvent) {
	h.transport.Add(context.Background(), 1, metric.WithAttributes(AttrMTP.String(string(ev.MTP)), AttrTransportUp.Bool(ev.Up)))
}

// RecordRefused implements [usp.IntakeHooks].
func (h *Hooks) RecordRefused(_ string, kind mtp.Kind, _ int) {
	h.refused.Add(context.Background(), 1, metric.WithAttributes(AttrMTP.String(string(kind))))
}

// IntakeWaited implements [usp.IntakeHooks].
func (h *Hooks) IntakeWaited(kind mtp.Kind, waited time.Duration) {
	h.intakeWait.Record(context.Background(), waited.Seconds(), metric.WithAttributes(AttrMTP.String(string(kind))))
}
