// Package brokertest starts message brokers for tests of the broker-based
// MTP bindings: embedded ones that need nothing installed, and real
// mosquitto and RabbitMQ processes on free loopback ports.
//
// # Brokers
//
//   - [StartEmbedded] / [NewEmbedded]: the project's own embedded MQTT
//     3.1.1/5 broker (internal/embedbroker), with optional TLS, an ACL and
//     an interceptor that sees every packet and can shape the broker's
//     answers (add CONNACK properties, swallow a PUBLISH, withhold a
//     PUBACK).
//   - [StartMosquitto] / [StartMosquittoTLS] / [NewMosquitto]: a mosquitto
//     process with a generated configuration in the test's temp dir.
//   - [StartRabbitMQ] / [SharedRabbitMQ]: one RabbitMQ node (rabbitmq_stomp
//     plugin) shared by the whole test binary, because it takes seconds to
//     boot; [NewRabbitMQ] gives a private node (TLS, restarts).
//   - [NewRabbitMQCluster]: several RabbitMQ nodes joined in one cluster
//     (one epmd, a shared Erlang cookie, rabbitmqctl join_cluster), for the
//     scale-out tests; [StartRabbitMQCluster] and the rabbitcluster command
//     start one outside a test.
//   - [StartStompServer] / [NewStompServer]: go-stomp's embedded server.
//
// Every handle has Stop, Start and Restart (same port) for fault tests,
// and everything is stopped when the test (or, for the shared node, the
// test binary) ends.
//
// # Missing brokers
//
// When mosquitto or rabbitmq-server is not installed the test is skipped
// with a message naming the Debian package, unless the environment
// variable [RequireEnv] (GOUSP_REQUIRE_BROKERS=1, set by .ci/run) asks for
// a failure instead.
//
// # Processes
//
// Broker processes run under a watchdog shell that stops them once this
// test process's end of a pipe closes, so a crashed or killed test binary
// leaves no broker behind. RabbitMQ gets its own epmd on a free port for
// the same reason. Packages that use the shared node call [Main] from
// TestMain (or [Shutdown] after m.Run).
//
// # Peers
//
// [DialPaho] is a bare paho.golang client ([PahoPeer]) for benchmarks
// against gousp's transports and for scripted peers; [DialMQTT311] is a
// minimal MQTT 3.1.1 client, to play agents that only speak 3.1.1;
// [SubscribeMQTT311] and [PublishMQTT311] drive Debian's mosquitto-clients
// with -V mqttv311, a 3.1.1 client that gousp did not write.
package brokertest
