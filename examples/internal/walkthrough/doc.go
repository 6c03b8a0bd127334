// Package walkthrough is the controller code of the MQTT and STOMP
// controller examples. It is the same for both, and would be for any other
// MTP: with gousp a controller is written once, and only the transport it is
// given differs.
//
// # The walkthrough
//
// [Run] builds a [usp.Controller] on the transport, waits for the agent to
// announce itself with its connect record (unless its address is known
// already), reads Device.DeviceInfo. from it, subscribes as asked, prints the
// notifications it receives for a while, and removes its subscriptions
// again.
//
// # Flags and printing
//
// [Config.RegisterFlags] defines the flags that fill a [Config] (the
// agent, --subscribe parsed by [AppendSpec], how long to listen).
//
// [Describe] renders a notification on one line and [Table] prints
// parameter values in sorted columns; other examples use them too.
package walkthrough
