// Package usp is a USP controller (Broadband Forum TR-369): it manages
// agents over any mix of message transfer protocols, correlates requests and
// responses, answers notifications, and tracks subscriptions and
// asynchronous operations.
//
// # Getting started
//
// Make a [Controller] with its endpoint ID and at least one transport from
// the mtp subpackages, start it, and talk to agents through [Agent]
// handles:
//
//	c, err := usp.NewController("proto::my-controller",
//		usp.WithTransport(mqttTransport),
//		usp.WithAgent("proto::agent-1", mtp.Address{MTP: mtp.MQTT, To: "/usp/agent/1"}))
//	...
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Close(context.Background())
//	vals, err := c.Agent("proto::agent-1").GetValues(ctx, "Device.DeviceInfo.")
//
// # Requests and responses
//
// Every [Agent] method sends one request and waits for the response whose
// msg_id matches, until its context ends. Responses are typed values from
// package msg. An Error message from the agent comes back as a *msg.Error,
// so errors.Is(err, msg.ErrInvalidPath) works; per-path failures inside a
// response (a Get path that does not exist, a Set that failed on one object)
// stay in the result, which has Err and Failed methods to find them.
// A response that matches no pending request, or comes from another agent
// than the one asked, is logged and dropped.
//
// # Agents
//
// The controller learns where each agent is from its connect records
// (MQTTConnect, STOMPConnect, WebSocketConnect, UDSConnect), from the reply
// address of everything it sends, and from [WithAgent]. Disconnect records
// and lost WebSocket or UDS sessions mark it gone; [Controller.Agents]
// lists the agents and [Controller.OnAgentEvent] observes the changes.
// Records to an agent carry a USP version it accepts: "1.3" by default, the
// highest common version once the agent has listed its versions.
//
// # Notifications
//
// Every Notify reaches the handlers added with [WithNotifyHandler] or
// [Controller.OnNotify], or the iterator of [Controller.Notifications], and
// the [Subscription] it belongs to. When the agent asked for a response,
// NotifyResp is sent only after all of them accepted it; a handler error
// leaves it unanswered and the agent sends it again. Retransmissions are
// marked [Notification.Duplicate], and those already answered are answered
// again without being delivered twice.
//
// # Subscriptions and operations
//
// [Agent.Subscribe] creates a Device.LocalAgent.Subscription.{i}. object
// and delivers its notifications through the returned [Subscription];
// Unsubscribe deletes the object. [Agent.Start] runs a command and returns
// an [Operation] that completes with the output arguments, waiting for the
// OperationComplete notification of asynchronous commands; [Agent.Call]
// does both in one call.
//
// # USP Broker
//
// With [WithBrokerHandler], Register and Deregister requests from USP
// Services reach a [BrokerHandler]; without one they are refused with
// error 7001.
package usp
