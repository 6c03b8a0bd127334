// Package otelusp traces a gousp controller's requests and measures its
// activity with OpenTelemetry, through the controller's hooks (see the
// "Hooks" section of the usp package).
//
//	h, err := otelusp.New(otelusp.WithTracerProvider(tp), otelusp.WithMeterProvider(mp))
//	...
//	c, err := usp.NewController(id, usp.WithTransport(t), usp.WithHooks(h))
//	...
//	unregister, err := h.Observe(c)
//
// It is a module of its own (github.com/gousp/gousp/contrib/otelusp), so
// that programs that do not use it do not depend on OpenTelemetry.
//
// # Traces
//
// Each request to an agent is a client span named "usp " and its message
// type ("usp GET", "usp SET", ...), a child of the span in the caller's
// context. Attributes: usp.msg.type, usp.msg.id and usp.agent.id from the
// start; usp.outcome (ok, agent_error, send_failed, timeout, canceled,
// failed), usp.response.type when an answer arrived (ERROR for an Error
// message) and usp.error.code when the call failed with a USP error code.
// A failed call records its error and has the status Error.
//
// # Metrics
//
// All in the scope [ScopeName]:
//
//   - usp.request.duration (histogram, s; usp.msg.type, usp.outcome,
//     usp.error.code when set)
//   - usp.requests.pending (up-down counter, {request})
//   - usp.notifications (counter; usp.notify.stage: received, duplicate,
//     accepted, refused, answered, dropped; usp.notify.type)
//   - usp.agent.changes (counter; usp.agent.change: connected,
//     disconnected, moved, learned, evicted)
//   - usp.records and usp.record.size (counter and histogram, By;
//     usp.record.direction: in or out; usp.mtp). Not by agent: a fleet's
//     endpoint IDs would make one series per device.
//   - usp.transport.changes (counter; usp.mtp, usp.transport.up)
//   - usp.intake.refused (counter) and usp.intake.wait (histogram, s);
//     usp.mtp
//   - with [Hooks.Observe]: usp.agents (gauge; usp.agent.state: unknown,
//     online, offline), usp.intake.bytes and usp.intake.records (gauges)
package otelusp
