// Package promusp exports a gousp controller's activity as Prometheus
// metrics, through the controller's hooks (see the "Hooks" section of the
// usp package).
//
//	m, err := promusp.New()
//	...
//	c, err := usp.NewController(id, usp.WithTransport(t), usp.WithHooks(m))
//	...
//	m.Watch(c)
//	prometheus.MustRegister(m)
//	http.Handle("/metrics", promhttp.Handler())
//
// It is a module of its own (github.com/gousp/gousp/contrib/promusp), so
// that programs that do not use it do not depend on client_golang. The
// example directory holds a runnable program serving /metrics.
//
// # Metrics
//
// Names start with the namespace, "usp" unless [WithNamespace] says
// otherwise:
//
//   - usp_requests_total{type,outcome}: requests to agents that ended;
//     type is the USP message type (GET, SET, ...), outcome one of ok,
//     agent_error, send_failed, timeout, canceled, failed.
//   - usp_request_duration_seconds{type}: histogram of their durations.
//   - usp_requests_pending: requests sent and not yet ended.
//   - usp_notifications_total{stage,type}: notifications by stage
//     (received, duplicate, accepted, refused, answered, dropped) and
//     type (ValueChange, Event, ...).
//   - usp_agent_changes_total{change}: connected, disconnected, moved,
//     learned, evicted.
//   - usp_agents{state}: agents in the inventory by state (unknown,
//     online, offline), read at scrape time; needs [Metrics.Watch].
//   - usp_records_total{direction,mtp} and usp_record_bytes_total: records
//     in and out. They are not labelled by agent: a fleet's endpoint IDs
//     would make a series per device.
//   - usp_transport_up{mtp}: 1 while the transport is connected.
//   - usp_intake_bytes, usp_intake_records: the intake's backlog, read at
//     scrape time; usp_intake_refused_total{mtp} and
//     usp_intake_wait_seconds{mtp}: its refusals and waits.
package promusp
