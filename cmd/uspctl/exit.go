package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// Exit codes; scripts test them, so they never change meaning.
const (
	exitOK          = 0   // everything succeeded
	exitFailed      = 1   // the agent answered with an error, some paths failed, or input could not be decoded
	exitUsage       = 2   // bad flags, arguments or configuration; nothing was sent
	exitConnection  = 3   // the transport could not connect, or lost the agent
	exitTimeout     = 4   // no answer before --timeout
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

const exitCodesHelp = `Exit codes:
  0    success
  1    the agent answered with an error or some paths failed (decode: invalid input)
  2    usage error: bad flags, arguments or configuration; nothing was sent
  3    connection or transport error (broker unreachable, agent disconnected or never connected)
  4    timeout: no answer before --timeout
  130  interrupted
With several agents, the exit code is the highest of theirs. When uspctl cannot
connect at all it writes nothing on stdout, only the reason on stderr.`

// exitError carries an exit code up to run. quiet means the message was
// printed already.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error in what the user typed: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// connError marks err as a connection failure whatever its cause, for
// failures to start a transport (which may end in a context deadline).
func connError(err error) error {
	return &exitError{code: exitConnection, err: err}
}

// exitCode maps an error from a request (or from the connection) to the exit
// code scripts see.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case isConnectionError(err):
		return exitConnection
	}
	// A *msg.Error from the agent, an unexpected response, a failed path.
	return exitFailed
}

func isConnectionError(err error) bool {
	for _, target := range []error{
		mtp.ErrNotConnected, mtp.ErrClosed, mtp.ErrNotStarted, mtp.ErrUnknownPeer, mtp.ErrBadAddress,
		usp.ErrTransportLost, usp.ErrAgentGone, usp.ErrUnknownAgent, usp.ErrNoTransport, usp.ErrClosed,
		usp.ErrNotStarted, syscall.ECONNREFUSED, syscall.ENOENT,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}

// worst returns the exit code to report for several agents: the highest.
func worst(codes ...int) int {
	w := exitOK
	for _, c := range codes {
		w = max(w, c)
	}
	return w
}
