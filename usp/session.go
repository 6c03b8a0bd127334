package usp

import (
	"context"
	"fmt"

	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

// session is an end-to-end session context with one agent.
type session struct{}

func (s *session) send(ctx context.Context, payload []byte) error {
	return fmt.Errorf("%w: not implemented", ErrSessionFailed)
}

// handleSessionRecord handles a SessionContext record from an agent.
func (c *Controller) handleSessionRecord(a *agentState, r *route, rec *usprecord.Record) {
	c.mu.Lock()
	sess := a.session
	addr, version := a.addr, a.version
	c.mu.Unlock()
	if sess == nil {
		// As the reference agent does: a session context that is not
		// enabled is refused with a Disconnect record.
		if addr.IsZero() {
			return
		}
		d := record.NewDisconnect(version, a.id, c.id, "session context is not enabled for this agent", record.CodeSessionNotAllowed)
		if err := c.sendRecord(context.Background(), r, addr, d); err != nil {
			c.log.Warn("could not refuse a session context", "agent", a.id, "err", err)
		}
		return
	}
}
