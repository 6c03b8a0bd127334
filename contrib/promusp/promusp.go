package promusp

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// Metrics is a set of Prometheus collectors fed by the controller's hooks.
// Give it to [usp.WithHooks], register it with a [prometheus.Registerer],
// and call [Metrics.Watch] once the controller exists for the figures read
// at scrape time (agents by state, intake backlog).
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	pending       prometheus.Gauge
	notifications *prometheus.CounterVec
	agentChanges  *prometheus.CounterVec
	records       *prometheus.CounterVec
	recordBytes   *prometheus.CounterVec
	transportUp   *prometheus.GaugeVec
	refused       *prometheus.CounterVec
	intakeWait    *prometheus.HistogramVec

	agents        *prometheus.Desc
	intakeBytes   *prometheus.Desc
	intakeRecords *prometheus.Desc

	ctrl atomic.Pointer[usp.Controller]
}

// Option configures [New].
type Option func(*config) error

type config struct {
	namespace   string
	buckets     []float64
	constLabels prometheus.Labels
}

// WithNamespace sets the prefix of the metric names (default "usp"; the
// empty string is refused, since unprefixed names would clash).
func WithNamespace(ns string) Option {
	return func(c *config) error {
		if ns == "" {
			return fmt.Errorf("promusp: empty namespace")
		}
		c.namespace = ns
		return nil
	}
}

// WithBuckets sets the buckets, in seconds, of the request latency
// histogram (default: 1 ms to 30 s).
func WithBuckets(b []float64) Option {
	return func(c *config) error {
		if len(b) == 0 {
			return fmt.Errorf("promusp: no buckets")
		}
		c.buckets = b
		return nil
	}
}

// WithConstLabels adds labels to every metric (a controller name, when
// one process runs several).
func WithConstLabels(l prometheus.Labels) Option {
	return func(c *config) error {
		c.constLabels = l
		return nil
	}
}

// DefaultBuckets are the request latency buckets, in seconds: USP
// requests range from a millisecond on a local agent to tens of seconds
// for a device busy writing flash.
var DefaultBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New makes the collectors. Names are documented in the package doc.
func New(opts ...Option) (*Metrics, error) {
	cfg := config{namespace: "usp", buckets: DefaultBuckets}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ns, cl := cfg.namespace, cfg.constLabels
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total", ConstLabels: cl,
			Help: "Requests to agents that ended, by message type and outcome."}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds", ConstLabels: cl,
			Help: "Time from sending a request to its end, by message type.", Buckets: cfg.buckets}, []string{"type"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "requests_pending", ConstLabels: cl,
			Help: "Requests sent and not yet ended."}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "notifications_total", ConstLabels: cl,
			Help: "Notifications from agents, by stage (received, duplicate, accepted, refused, answered, dropped) and type."}, []string{"stage", "type"}),
		agentChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "agent_changes_total", ConstLabels: cl,
			Help: "Agent changes: connected, disconnected, moved, learned, evicted."}, []string{"change"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_total", ConstLabels: cl,
			Help: "USP records received (in) and sent (out), by MTP."}, []string{"direction", "mtp"}),
		recordBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "record_bytes_total", ConstLabels: cl,
			Help: "Bytes of USP records received (in) and sent (out), by MTP."}, []string{"direction", "mtp"}),
		transportUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "transport_up", ConstLabels: cl,
			Help: "1 while the controller's transport of an MTP is connected, 0 after it went down."}, []string{"mtp"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "intake_refused_total", ConstLabels: cl,
			Help: "Records refused because their agent was past its share of the intake."}, []string{"mtp"}),
		intakeWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "intake_wait_seconds", ConstLabels: cl,
			Help: "How long a transport's delivery waited for room in the intake.", Buckets: DefaultBuckets}, []string{"mtp"}),
		agents: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "agents"),
			"Agents in the controller's inventory, by state (unknown, online, offline).", []string{"state"}, cl),
		intakeBytes: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "intake_bytes"),
			"Bytes of records received and not yet handled.", nil, cl),
		intakeRecords: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "intake_records"),
			"Records received and not yet handled.", nil, cl),
	}
	return m, nil
}

// Watch makes the scrape-time figures (agents by state, intake backlog)
// read c. Without it they are not reported.
func (m *Metrics) Watch(c *usp.Controller) { m.ctrl.Store(c) }

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.pending, m.notifications, m.agentChanges,
		m.records, m.recordBytes, m.transportUp, m.refused, m.intakeWait}
}

// Describe implements [prometheus.Collector].
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.agents
	ch <- m.intakeBytes
	ch <- m.intakeRecords
}

// Collect implements [prometheus.Collector].
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	c := m.ctrl.Load()
	if c == nil {
		return
	}
	counts := c.Inventory().Count()
	for _, s := range []usp.AgentState{usp.StateUnknown, usp.StateOnline, usp.StateOffline} {
		ch <- prometheus.MustNewConstMetric(m.agents, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
	st := c.IntakeStats()
	ch <- prometheus.MustNewConstMetric(m.intakeBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(m.intakeRecords, prometheus.GaugeValue, float64(st.Records))
}

// OnRequestStart implements [usp.RequestStartHook].
func (m *Metrics) OnRequestStart(ctx context.Context, _ usp.RequestStart) context.Context {
	m.pending.Inc()
	return ctx
}

// OnRequestEnd implements [usp.RequestEndHook].
func (m *Metrics) OnRequestEnd(_ context.Context, r usp.RequestEnd) {
	m.pending.Dec()
	t := r.Type.String()
	m.requests.WithLabelValues(t, r.Outcome.String()).Inc()
	m.duration.WithLabelValues(t).Observe(r.Duration.Seconds())
}

// OnNotify implements [usp.NotifyHook].
func (m *Metrics) OnNotify(ev usp.NotifyEvent) {
	m.notifications.WithLabelValues(ev.Stage.String(), ev.Type).Inc()
}

// OnAgentChange implements [usp.AgentHook].
func (m *Metrics) OnAgentChange(ev usp.AgentChange) {
	m.agentChanges.WithLabelValues(ev.Kind.String()).Inc()
}

// OnRecord implements [usp.RecordHook]. Records are not labelled by agent:
// a fleet's endpoint IDs would make one series per device.
func (m *Metrics) OnRecord(ev usp.RecordEvent) {
	d, k := ev.Direction.String(), kindLabel(ev.MTP)
	m.records.WithLabelValues(d, k).Inc()
	m.recordBytes.WithLabelValues(d, k).Add(float64(ev.Size))
}

// OnTransport implements [usp.TransportHook].
func (m *Metrics) OnTransport(ev usp.TransportEvent) {
	v := 0.0
	if ev.Up {
		v = 1
	}
	m.transportUp.WithLabelValues(kindLabel(ev.MTP)).Set(v)
}

// RecordRefused implements [usp.IntakeHooks].
func (m *Metrics) RecordRefused(_ string, kind mtp.Kind, _ int) {
	m.refused.WithLabelValues(kindLabel(kind)).Inc()
}

// IntakeWaited implements [usp.IntakeHooks].
func (m *Metrics) IntakeWaited(kind mtp.Kind, waited time.Duration) {
	m.intakeWait.WithLabelValues(kindLabel(kind)).Observe(waited.Seconds())
}

func kindLabel(k mtp.Kind) string { return string(k) }
