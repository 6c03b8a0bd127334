package usp

import "errors"

// Errors about the controller's own state. Agent errors come back as
// *msg.Error instead; transport errors wrap the mtp sentinels.
var (
	// ErrClosed: the controller was closed; pending calls fail with it.
	ErrClosed = errors.New("usp: controller closed")
	// ErrNotStarted: a request was made before Start.
	ErrNotStarted = errors.New("usp: controller not started")
	// ErrUnknownAgent: no address is known for the agent, so nothing can
	// be sent to it. Configure one with [WithAgent] or wait until the agent
	// connects.
	ErrUnknownAgent = errors.New("usp: no address known for agent")
	// ErrNoTransport: no transport of the kind the agent's address needs.
	ErrNoTransport = errors.New("usp: no transport for the agent's MTP")
	// ErrTransportLost: the transport carrying a request lost its
	// connection before the response came. (A request made while the
	// transport is down fails with mtp.ErrNotConnected instead: code that
	// retries after a reconnection checks both.)
	ErrTransportLost = errors.New("usp: transport lost while waiting for the response")
	// ErrAgentGone: the agent disconnected (Disconnect record, closed
	// WebSocket or UDS session) before it answered.
	ErrAgentGone = errors.New("usp: agent disconnected")
	// ErrUnexpectedResponse: the agent answered with a message of the wrong
	// kind for the request (e.g. a SetResp to a Get).
	ErrUnexpectedResponse = errors.New("usp: unexpected response")
	// ErrInvalidOption: an option given to NewController is unusable.
	ErrInvalidOption = errors.New("usp: invalid option")
	// ErrSubscriptionClosed: the subscription was unsubscribed or its
	// controller closed.
	ErrSubscriptionClosed = errors.New("usp: subscription closed")
	// ErrSessionFailed: the end-to-end session with the agent failed.
	ErrSessionFailed = errors.New("usp: session context failed")
	// ErrSessionRefused: the agent refused the end-to-end session context
	// (Disconnect record 7106, or 7105 to a session it never joined, as
	// OB-USP-A in SessionMode Forbid answers). Errors that carry it match
	// [ErrSessionFailed] too. See [SessionConfig] for what the controller
	// does next.
	ErrSessionRefused = errors.New("usp: agent refused the session context")
)
