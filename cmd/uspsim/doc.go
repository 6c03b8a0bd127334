// Command uspsim simulates a fleet of USP agents against a controller, any
// controller, and reports what the controller did. Vendors load-test their
// controller with it; we measure gousp's.
//
//	uspsim -broker mqtt://broker:1883 -controller-topic usp/controller -agents 5000 -duration 1m
//
// # Agents
//
// Each simulated agent is a [usptest.Agent] serving the default TR-181
// model ([usptest.DefaultModel]) over a connection of its own: MQTT
// (-mtp mqtt, the default), STOMP (-mtp stomp, -broker host:port) or
// WebSocket (-mtp websocket, -broker ws://controller/usp, the agents dial the
// controller). Agent i is proto::<-id-prefix>-<i>, receives on
// <-agent-topic-prefix><endpoint ID>, and knows the controller from
// -controller-id and -controller-topic: it sends it its connect record
// and a Boot! event at start, answers its requests as OB-USP-A would, and,
// unless -subscribe=false, already holds two subscriptions for it (as if
// it had made them on an earlier visit, with NotifRetry on): to the
// Device.LocalAgent.Periodic! event and to value changes of
// Device.WiFi.SSID.1.Stats.BytesSent. An MQTT agent announces a Receive
// Maximum of 32 and connects with mqtt.WithMinimalClient (the transport's
// own MQTT client: one goroutine per connection, the least memory);
// -mqtt-client own gives it the transport's default connection (the same
// client with a delivery goroutine), lean paho.golang's client
// (mqtt.WithLeanConnection) and autopaho paho.golang's connection manager
// (mqtt.WithPahoClient).
//
// # Script
//
// The run is seeded (-seed) and goes in three phases:
//
//   - boot: every agent connects and boots, -boot-parallel at a time per
//     process, at most -boot-rate a second across the fleet: the boot
//     storm after a regional power cut;
//   - script, for -duration: Periodic! events (-event-rate a second,
//     fleet-wide), value changes (-change-rate), and network failures
//     (-drop-rate: a random agent's connection is closed under it, and it
//     reconnects with its backoff, -backoff-min to -backoff-max, and sends
//     its connect record again), each on a random agent, arrivals at random
//     (Poisson);
//   - drain: at most -drain for outstanding NotifyResps.
//
// A share of the fleet (-faulty, chosen by the seed, the same however the
// fleet is split) misbehaves through usptest's fault injection: slow
// (answers after 2 s), drop-requests, fail-requests (error 7003),
// ignore-notify-resp (resends answered notifications), garbage (sends bytes
// that are not a record) or mute.
//
// # Report
//
// Each agent's transport is observed, not its handling: what it sends
// (connect records, notifications, responses) and what the controller
// sends it (NotifyResps matched to the notification by msg_id, requests by
// message type, errors). Every -progress interval a line goes to standard
// error; at the end the JSON summary goes to -json (standard output by
// default): the configuration; totals (agents up, notifications sent,
// answered, unanswered, retransmitted, requests by type, errors,
// connections lost and regained); latencies in milliseconds (notification
// to NotifyResp, Boot! to the controller's first request, connection lost
// to regained, agent start) as count, mean, p50, p90, p99 and max; and the
// memory per agent (live heap, goroutine stacks and resident set, read
// with every agent up). The exit status is 1 when no agent came up.
//
// # Large fleets
//
// An agent holds one open file (its connection). A fleet larger than a
// process may hold (-per-process, at most the open-files limit less a
// reserve, and 15,000) runs in worker processes of this program, each
// with its share of the agents and of the rates, which report to this one
// as JSON lines; the figures are merged. Agents are spread over the
// -broker URLs, so that brokers with open-files limits of their own can
// share a fleet (each takes an equal part), and so that no pair of
// addresses runs out of ephemeral ports (about 28,000 on Linux).
//
// # Brokers and controllers for a run on one machine
//
// uspsim broker -listen 127.0.0.1:1883 -controller-id proto::controller
// runs an embedded MQTT broker (gousp's own, internal/embedbroker) with a
// gousp controller on it that answers every notification; while the
// controller's queue is full the broker holds the agents' publishes back
// (-client-writes-pending sizes that queue). For larger fleets start mosquitto (one process per
// 15,000 agents, max_queued_messages 0) and uspsim controller -broker
// url,... for the gousp controllers. BENCHMARKS.md has the largest fleet
// this machine held.
package main
