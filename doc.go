// Package gousp is a Go SDK for USP controllers: programs that manage CPEs
// and IoT devices over the Broadband Forum's User Services Platform
// (TR-369), the successor of TR-069.
//
// This package holds only this tour; the code is in its subpackages.
//
// # Packages, bottom up
//
//   - proto/uspmsg, proto/usprecord: Go code generated from the USP 1.4
//     protobuf schemas in proto/.
//   - [github.com/gousp/gousp/usperr]: the one type of USP error codes
//     that every package's errors carry and match by.
//   - [github.com/gousp/gousp/datamodel]: path names, search expressions,
//     TR-106 value types and a schema built from GetSupportedDM.
//   - [github.com/gousp/gousp/msg]: typed builders and results for every USP
//     message, USP error codes, msg_id generation, validation, JSON.
//   - [github.com/gousp/gousp/record]: USP Records of every type, endpoint
//     IDs, versions, segmentation.
//   - [github.com/gousp/gousp/mtp]: the Transport interface, with one
//     subpackage per binding: mtp/mqtt, mtp/stomp, mtp/websocket, mtp/uds
//     and mtp/memory; mtp/mqtt/mqtttest runs an MQTT broker in the process.
//   - [github.com/gousp/gousp/usp]: the controller.
//   - [github.com/gousp/gousp/usp/usptest]: an in-process agent with a real
//     data model, for tests; usptest.NewPair(t) starts a controller and an
//     agent in one call.
//   - cmd/uspctl: a command-line controller; examples/: runnable programs.
//
// # Start here
//
// Run the quickstart (embedded MQTT broker, fake agent and controller in one
// process):
//
//	go run ./examples/quickstart
package gousp
