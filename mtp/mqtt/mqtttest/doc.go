// Package mqtttest runs an MQTT 5 broker inside the process, for tests and
// demos that should need nothing installed: start one, point mqtt.New at
// its URL, and controller and agent talk through it.
//
// # Starting a broker
//
// In a test, [NewBroker] starts one on a free loopback port and closes it
// when the test ends:
//
//	b := mqtttest.NewBroker(t)
//	tr, err := mqtt.New(b.URL(), "proto::controller", mqtt.WithTopic("usp/controller"))
//
// Elsewhere (an example program, a demo), [Start] returns a broker that the
// caller closes.
//
// # What it is and is not
//
// The broker is gousp's own small MQTT broker: it lets every client in and
// allows every topic, keeps nothing on disk (no session outlives its
// connection) and speaks MQTT 3.1.1 and 5 over plain TCP, at QoS 0 and 1,
// with wildcards, shared subscriptions, Will messages, retained messages
// and MQTT 5 properties. It is meant for loopback tests and demos, not
// production: it has no authentication and no QoS 2. Tests that need TLS, a broker
// restart or a different broker product use their own setup.
package mqtttest
