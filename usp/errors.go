package usp

import (
	"context"
	"errors"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
)

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
	// ErrNoTransport: an agent was configured ([WithAgent]) with an MTP
	// for which no transport was given. NewController returns it together
	// with [ErrInvalidOption].
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
	// ErrAlreadyStarted: Start was called a second time.
	ErrAlreadyStarted = errors.New("usp: controller already started")
	// ErrInvalidRequest: the caller's request cannot be sent as given (a
	// command path without "()", a subscription without a type); nothing
	// was sent.
	ErrInvalidRequest = errors.New("usp: invalid request")
	// ErrExists: a subscription ID or an operation's command key is
	// already in use on that agent.
	ErrExists = errors.New("usp: already exists")
	// ErrNotOneValue: [Agent.GetValue]'s path named no parameter or more
	// than one (a wildcard or search path).
	ErrNotOneValue = errors.New("usp: path did not give exactly one value")
	// ErrAbandoned: [Operation.Abandon] was called; Wait returns it.
	ErrAbandoned = errors.New("usp: operation abandoned")
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

// Retryable reports whether err is a failure after which sending the same
// request again may succeed without changing it. The rule:
//
//   - The request was not sent: the transport was down when it was made
//     ([mtp.ErrNotConnected]).
//   - The answer was lost: the call's deadline passed
//     ([context.DeadlineExceeded]), the transport was lost while waiting
//     ([ErrTransportLost]) or the agent disconnected ([ErrAgentGone]).
//   - The agent failed for a passing reason: the first USP code in err
//     ([msg.CodeOf]) is 7003 (internal error) or 7005 (resources
//     exceeded).
//
// Everything else is false: nil, a cancelled context (the caller gave up),
// a closed controller or transport, an agent that refused the session
// context ([ErrSessionRefused]), an unstarted controller, an unknown agent,
// invalid options or requests, and every other agent error (the request
// itself is wrong, and will be again).
//
// When the answer was lost the agent may have carried the request out.
// Get, GetInstances, GetSupportedDM and a Set of absolute values do the
// same thing twice; an Add may create a second instance and an Operate run
// the command again, so check the agent's state (by unique key, by command
// key) before repeating those.
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed), errors.Is(err, mtp.ErrClosed),
		errors.Is(err, ErrSessionRefused):
		return false
	case errors.Is(err, mtp.ErrNotConnected),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrTransportLost),
		errors.Is(err, ErrAgentGone):
		return true
	}
	switch msg.CodeOf(err) {
	case msg.CodeInternal, msg.CodeResourcesExceeded:
		return true
	}
	return false
}
